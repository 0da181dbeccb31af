package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/idx"
)

// Session is what the app remembers about one browser between requests. It
// lives on the server only: the browser holds nothing but a random session
// id in an HttpOnly cookie. Every field is JSON-encodable so that a shared
// SessionStore (a database, Redis) can keep it.
type Session struct {
	// State is the SDK's sign-in transaction state (PKCE verifier and
	// interaction handle), nil when no sign-in is in progress. It must never
	// reach the browser: whoever holds it can finish the sign-in.
	State *idx.State `json:"state,omitempty"`
	// Step is the name of the step the transaction was last seen at, e.g.
	// "challenge-authenticator".
	Step string `json:"step,omitempty"`
	// Username is what the user typed on the sign-in page, shown again on
	// the following pages and after "back to sign in". Never the password.
	Username string `json:"username,omitempty"`
	// CodeSentAt is when this app last had a code sent; the engine refuses
	// another one to the same number for ResendInterval after it.
	CodeSentAt time.Time `json:"codeSentAt,omitzero"`
	// Method is how the current code was sent: "sms" or "voice".
	Method string `json:"method,omitempty"`
	// PhoneMethods are the methods the phone offered before a code was sent
	// (the code step lists only the one used); two mean "call me instead"
	// (or "text me instead") can be offered.
	PhoneMethods []string `json:"phoneMethods,omitempty"`

	// Tokens are set once the user is signed in. They stay on the server.
	Tokens *idx.Tokens `json:"tokens,omitempty"`
	// SignedInAt is when the sign-in succeeded.
	SignedInAt time.Time `json:"signedInAt,omitzero"`

	// Notice is a one-time message for the next page shown (e.g. "You have
	// signed out"), set before a redirect.
	Notice *notice `json:"notice,omitempty"`
}

// notice is a message shown once at the top of a page.
type notice struct {
	Kind string `json:"kind"` // "error" or "info"
	Text string `json:"text"`
}

// signedIn reports whether the session holds a finished sign-in.
func (s *Session) signedIn() bool { return s != nil && s.Tokens != nil }

// clearTransaction forgets the sign-in in progress, keeping the username for
// redisplay.
func (s *Session) clearTransaction() {
	s.State, s.Step, s.CodeSentAt, s.Method, s.PhoneMethods = nil, "", time.Time{}, "", nil
}

// ErrSessionNotFound is returned by SessionStore.Load for an unknown or
// expired session.
var ErrSessionNotFound = errors.New("app: session not found")

// SessionStore keeps sessions on the server, keyed by an opaque key derived
// from the session cookie (not the cookie value itself, so a leaked store
// does not hand out live cookies).
//
// MemorySessionStore serves a single app process — the demo uses it. Several
// app instances behind a load balancer need a store they all reach (a
// database, Redis): implement this interface over it. The sign-in state alone
// could instead travel in a cookie sealed with idx.State.Seal, but the tokens
// kept after sign-in are too large and too valuable for that, so this app
// keeps the whole session server-side.
type SessionStore interface {
	// Load returns the session stored under key, or ErrSessionNotFound.
	Load(ctx context.Context, key string) (*Session, error)
	// Save stores s under key until ttl passes without another Save.
	Save(ctx context.Context, key string, s *Session, ttl time.Duration) error
	// Delete removes the session stored under key, if any.
	Delete(ctx context.Context, key string) error
}

// MemorySessionStore is a SessionStore in process memory. Sessions expire
// after their idle ttl; the store holds at most a fixed number of them, so
// that a flood of anonymous sign-in attempts cannot exhaust memory.
type MemorySessionStore struct {
	mu      sync.Mutex
	max     int
	now     func() time.Time
	entries map[string]memoryEntry
}

type memoryEntry struct {
	data    []byte // the JSON encoding: callers never share a *Session
	expires time.Time
}

// ErrSessionStoreFull is returned by MemorySessionStore.Save when it holds
// its maximum number of live sessions.
var ErrSessionStoreFull = errors.New("app: too many sessions")

// NewMemorySessionStore returns an empty store holding at most max sessions
// (100,000 if max <= 0).
func NewMemorySessionStore(max int) *MemorySessionStore {
	if max <= 0 {
		max = 100_000
	}
	return &MemorySessionStore{max: max, now: time.Now, entries: map[string]memoryEntry{}}
}

// Load implements SessionStore.
func (m *MemorySessionStore) Load(_ context.Context, key string) (*Session, error) {
	m.mu.Lock()
	e, ok := m.entries[key]
	if ok && !m.now().Before(e.expires) {
		delete(m.entries, key)
		ok = false
	}
	m.mu.Unlock()
	if !ok {
		return nil, ErrSessionNotFound
	}
	var s Session
	if err := json.Unmarshal(e.data, &s); err != nil {
		return nil, fmt.Errorf("app: decoding session: %w", err)
	}
	return &s, nil
}

// Save implements SessionStore.
func (m *MemorySessionStore) Save(_ context.Context, key string, s *Session, ttl time.Duration) error {
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("app: encoding session: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if _, exists := m.entries[key]; !exists && len(m.entries) >= m.max {
		for k, e := range m.entries {
			if !now.Before(e.expires) {
				delete(m.entries, k)
			}
		}
		if len(m.entries) >= m.max {
			return ErrSessionStoreFull
		}
	}
	m.entries[key] = memoryEntry{data: data, expires: now.Add(ttl)}
	return nil
}

// Delete implements SessionStore.
func (m *MemorySessionStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	delete(m.entries, key)
	m.mu.Unlock()
	return nil
}

// Len returns the number of sessions held, expired ones included until
// they are next touched.
func (m *MemorySessionStore) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// sessionCookies issues and reads the session cookie.
type sessionCookies struct {
	name   string
	secure bool
}

func newSessionCookies(secure bool) sessionCookies {
	// The __Host- prefix makes browsers refuse the cookie unless it is
	// Secure, host-only and Path=/, so a sibling subdomain cannot plant one.
	// It needs https, hence the plain name on the http demo.
	if secure {
		return sessionCookies{name: "__Host-gatehouse_session", secure: true}
	}
	return sessionCookies{name: "gatehouse_session"}
}

// newSessionID returns 256 random bits, base64url-encoded.
func newSessionID() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics if the OS source breaks)
	return base64.RawURLEncoding.EncodeToString(b)
}

// storeKey is the key a session id is stored under: its SHA-256, so that
// reading the store does not reveal usable cookie values.
func storeKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (c sessionCookies) read(r *http.Request) string {
	ck, err := r.Cookie(c.name)
	if err != nil || len(ck.Value) != 43 {
		return ""
	}
	return ck.Value
}

func (c sessionCookies) set(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{
		Name: c.name, Value: id, Path: "/",
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (c sessionCookies) clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: c.name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode,
	})
}
