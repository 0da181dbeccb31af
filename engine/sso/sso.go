// Package sso is the browser side of the engine's OpenID Connect server: the
// authorization endpoint (authorization code flow with PKCE, OIDC Core 1.0 §3.1),
// the single sign-on session it consults, and RP-Initiated Logout.
//
// A browser that arrives at /v1/authorize without a usable session is handed to the
// hosted sign-in pages (package hosted), which run the IDX sign-in — the same state
// machine as the IDX API — for a transaction started here for the client. When that
// sign-in succeeds, its code is the authorization code: Complete sends the browser
// back to the client with it. A browser with a live session gets a code at once.
package sso

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/idxserver"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/engine/sessions"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// Starter starts an IDX transaction: idxserver.Server.Start.
type Starter func(ctx context.Context, b idxserver.Begin) (handle string, refused *throttle.Decision, err error)

// Pages hands a browser to the hosted sign-in pages for the transaction with the
// interaction handle.
type Pages func(w http.ResponseWriter, r *http.Request, interactionHandle, clientID, loginHint string)

// Revoker ends every token issued in an SSO session: its refresh tokens and, for
// every access token issued before now, the answer of introspection and userinfo.
type Revoker func(ctx context.Context, sessionID string, now time.Time) error

// Options configure a Handler.
type Options struct {
	OAuth    *oauth.Server
	Clients  *clients.Registry
	Store    store.Store
	Sessions *sessions.Manager
	Start    Starter
	Pages    Pages
	Revoke   Revoker
	// Outbox is woken when logout queued back-channel notices.
	Outbox interface{ Wake() }
	// CodeTTL is how long an authorization code can be redeemed.
	CodeTTL time.Duration
	// MFAEverySignIn: a session never replaces the sign-in (sign_on.mfa_every_sign_in).
	MFAEverySignIn bool
	// RequirePhone: a session whose sign-in did not prove a phone does not count
	// (sign_on.require_phone, which may have been turned on since).
	RequirePhone bool
	Product      string
	Now          func() time.Time
	Log          *slog.Logger
}

// Handler serves /v1/authorize, /v1/logout and DELETE /api/v1/sessions/me, and
// finishes the hosted sign-in (Complete, Abort).
type Handler struct {
	o Options
}

// New returns a Handler.
func New(o Options) *Handler {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Handler{o: o}
}

// Register adds the endpoints to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	base := oauth.Path(h.o.OAuth.Base())
	mux.HandleFunc("GET "+base+"/v1/authorize", h.handleAuthorize)
	mux.HandleFunc("POST "+base+"/v1/authorize", h.handleAuthorize)
	mux.HandleFunc("GET "+base+"/v1/logout", h.handleLogout)
	mux.HandleFunc("POST "+base+"/v1/logout", h.handleLogout)
	mux.HandleFunc("DELETE /api/v1/sessions/me", h.handleDeleteSession)
}
