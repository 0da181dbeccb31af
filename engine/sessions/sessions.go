// Package sessions keeps the engine's SSO sessions: a completed sign-in (through the
// IDX API or the hosted pages) starts one — a store record and an HttpOnly cookie —
// and /v1/authorize signs the same browser in to further clients with it until it
// ends: by logout, by an operator, or by its lifetime or idle timeout.
//
// The browser's cookie holds a 256-bit secret; the store keeps only its hash. Tokens
// name the session by a separate public id (the "sid" claim), so a token never
// carries anything that opens the session.
package sessions

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// CookieName is the session cookie's name.
const CookieName = "gh_sid"

// Options configure a Manager.
type Options struct {
	Store       store.SessionStore
	Lifetime    time.Duration // sign_on.session_lifetime
	IdleTimeout time.Duration // sign_on.session_idle_timeout
	// Secure marks the cookie Secure: the issuer is https.
	Secure bool
	Now    func() time.Time
}

// Manager starts, finds and ends sessions.
type Manager struct {
	o Options
}

// New returns a Manager.
func New(o Options) *Manager {
	return &Manager{o: o}
}

// Start records a session for a completed sign-in and sets its cookie on w. seed is
// a secret of the sign-in (its state handle): the cookie value and the session id are
// derived from it, so a completion retried after a lost response finds the same
// session instead of starting a second one.
func (m *Manager) Start(ctx context.Context, w http.ResponseWriter, seed, userID string, authTime time.Time, amr []string, clientID string) (store.Session, error) {
	now := m.o.Now()
	raw := opaque.Derive(seed, "sso_session|"+userID)
	x := store.Session{
		ID: "102" + opaque.Derive(raw, "sid")[:22], TokenHash: opaque.Hash(raw), UserID: userID,
		AuthTime: authTime, AMR: amr, CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(m.o.IdleTimeout), ExpiresAt: now.Add(m.o.Lifetime),
	}
	if clientID != "" {
		x.ClientIDs = []string{clientID}
	}
	err := m.o.Store.CreateSession(ctx, x)
	if errors.Is(err, store.ErrAlreadyExists) {
		x, err = m.o.Store.GetSession(ctx, x.ID)
	}
	if err != nil {
		return store.Session{}, err
	}
	m.setCookie(w, raw)
	return x, nil
}

// Current returns the live session the request's cookie names. ok is false when
// there is none (no cookie, an unknown value, an ended or expired session); err only
// when the store failed.
func (m *Manager) Current(r *http.Request) (x store.Session, ok bool, err error) {
	c, cerr := r.Cookie(CookieName)
	if cerr != nil || len(c.Value) != 43 {
		return store.Session{}, false, nil
	}
	x, err = m.o.Store.GetSessionByToken(r.Context(), opaque.Hash(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, false, nil
	}
	if err != nil {
		return store.Session{}, false, err
	}
	return x, x.Live(m.o.Now()), nil
}

// Use records that clientID received a code in the session now, which also keeps
// it from going idle. It fails with store.ErrNotFound when the session ended or
// expired meanwhile.
func (m *Manager) Use(ctx context.Context, id, clientID string) (store.Session, error) {
	now := m.o.Now()
	return m.o.Store.UpdateSession(ctx, id, func(x store.Session) (store.Session, error) {
		if !x.Live(now) {
			return x, store.ErrNotFound
		}
		x.LastSeenAt = now
		x.IdleExpiresAt = minTime(now.Add(m.o.IdleTimeout), x.ExpiresAt)
		if clientID != "" && !slices.Contains(x.ClientIDs, clientID) {
			x.ClientIDs = append(x.ClientIDs, clientID)
		}
		return x, nil
	})
}

// End ends the session with id. Ending an ended or missing session is not an error;
// the session is returned as it is afterwards (zero if missing).
func (m *Manager) End(ctx context.Context, id string) (store.Session, error) {
	now := m.o.Now()
	x, err := m.o.Store.UpdateSession(ctx, id, func(x store.Session) (store.Session, error) {
		if x.EndedAt.IsZero() {
			x.EndedAt = now
		}
		return x, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, nil
	}
	return x, err
}

// ClearCookie tells the browser to drop its session cookie.
func (m *Manager) ClearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: m.o.Secure, SameSite: http.SameSiteLaxMode})
}

// setCookie sets the session cookie. It is a browser-session cookie (no Max-Age):
// closing the browser ends it on that side, and the server-side record bounds it
// anyway.
func (m *Manager) setCookie(w http.ResponseWriter, raw string) {
	if w == nil {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: raw, Path: "/",
		HttpOnly: true, Secure: m.o.Secure, SameSite: http.SameSiteLaxMode})
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
