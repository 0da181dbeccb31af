package app

import (
	"container/list"
	"context"
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

	// Redirect is a sign-in on the identity server's hosted pages between the
	// redirect and the callback (the authorization code flow), nil otherwise.
	Redirect *idx.Redirect `json:"redirect,omitempty"`

	// Tokens are set once the user is signed in. They stay on the server.
	Tokens *idx.Tokens `json:"tokens,omitempty"`
	// SignedInAt is when the sign-in succeeded.
	SignedInAt time.Time `json:"signedInAt,omitzero"`

	// Notice is a one-time message for the next page shown (e.g. "That code
	// has expired"), set before a redirect.
	Notice *notice `json:"notice,omitempty"`

	// ClientIP is the address the session was created from — an IPv4
	// address, or the /64 network of an IPv6 address — by which the
	// sign-ins in progress are capped (Config.MaxSignInsPerIP).
	ClientIP string `json:"clientIP,omitempty"`
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
// The app creates a session only when a sign-in starts (a valid sign-in form
// post), never for an anonymous visitor, so that traffic without credentials
// cannot fill the store.
//
// MemorySessionStore serves a single app process — the demo uses it. Several
// app instances behind a load balancer need a store they all reach (a
// database, Redis): implement this interface over it. The sign-in state alone
// could instead travel in a cookie sealed with idx.State.Seal, but the tokens
// kept after sign-in are too large and too valuable for that, so this app
// keeps the whole session server-side. Such a store should also implement
// SessionCounter, or the per-address cap on sign-ins in progress is off, and
// when full should make room by dropping sessions without tokens, as
// MemorySessionStore does.
type SessionStore interface {
	// Load returns the session stored under key, or ErrSessionNotFound.
	Load(ctx context.Context, key string) (*Session, error)
	// Save stores s under key until ttl passes without another Save.
	Save(ctx context.Context, key string, s *Session, ttl time.Duration) error
	// Delete removes the session stored under key, if any.
	Delete(ctx context.Context, key string) error
}

// SessionCounter is an optional interface of a SessionStore: it lets the app
// cap the sign-ins in progress from one client (Config.MaxSignInsPerIP).
// MemorySessionStore implements it. With a store that does not, there is no
// per-client cap.
type SessionCounter interface {
	// SignInsInProgress returns how many live sessions saved with
	// Session.ClientIP equal to client are not signed in (hold no tokens),
	// and how long until the first of them expires unless used again (zero
	// if there are none).
	SignInsInProgress(ctx context.Context, client string) (n int, firstExpiry time.Duration, err error)
}

// MemorySessionStore is a SessionStore in process memory. Sessions expire
// after their idle ttl. The store holds at most a fixed number of them; when
// it is full, a new session takes the place of an expired one, else of the
// session not signed in that has gone unused longest — a sign-in in progress
// or abandoned. Signed-in sessions are never evicted: only when the store
// holds nothing else does Save refuse with ErrSessionStoreFull. It also
// counts the sessions not signed in per client (SessionCounter).
type MemorySessionStore struct {
	mu      sync.Mutex
	max     int
	now     func() time.Time
	entries map[string]*memoryEntry
	// signingIn lists the keys of the sessions not signed in, least recently
	// saved first: the eviction order.
	signingIn *list.List
	// clients holds the same keys by Session.ClientIP.
	clients   map[string]map[string]struct{}
	lastSweep time.Time
}

type memoryEntry struct {
	data      []byte // the JSON encoding: callers never share a *Session
	expires   time.Time
	client    string        // Session.ClientIP
	signingIn *list.Element // in MemorySessionStore.signingIn; nil once signed in
}

// ErrSessionStoreFull is returned by MemorySessionStore.Save when it holds
// its maximum number of live sessions and all of them are signed in.
var ErrSessionStoreFull = errors.New("app: too many sessions")

// NewMemorySessionStore returns an empty store holding at most max sessions
// (100,000 if max <= 0).
func NewMemorySessionStore(max int) *MemorySessionStore {
	if max <= 0 {
		max = 100_000
	}
	return &MemorySessionStore{
		max: max, now: time.Now, entries: map[string]*memoryEntry{},
		signingIn: list.New(), clients: map[string]map[string]struct{}{},
	}
}

// Load implements SessionStore.
func (m *MemorySessionStore) Load(_ context.Context, key string) (*Session, error) {
	m.mu.Lock()
	e, ok := m.entries[key]
	if ok && !m.now().Before(e.expires) {
		m.remove(key, e)
		ok = false
	}
	var data []byte
	if ok {
		data = e.data
	}
	m.mu.Unlock()
	if !ok {
		return nil, ErrSessionNotFound
	}
	var s Session
	if err := json.Unmarshal(data, &s); err != nil {
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
	e, exists := m.entries[key]
	if exists && !now.Before(e.expires) {
		m.remove(key, e)
		exists = false
	}
	if !exists {
		if len(m.entries) >= m.max {
			m.makeRoom(now)
		}
		if len(m.entries) >= m.max {
			return ErrSessionStoreFull
		}
		e = &memoryEntry{}
		m.entries[key] = e
	}
	e.data, e.expires = data, now.Add(ttl)
	m.index(key, e, s.ClientIP, s.signedIn())
	return nil
}

// index files the entry under its client and in the eviction order, or out
// of both once it is signed in.
func (m *MemorySessionStore) index(key string, e *memoryEntry, client string, signedIn bool) {
	if e.signingIn != nil && (signedIn || e.client != client) {
		m.unindex(key, e)
	}
	e.client = client
	if signedIn {
		return
	}
	if e.signingIn == nil {
		e.signingIn = m.signingIn.PushBack(key)
		if m.clients[client] == nil {
			m.clients[client] = map[string]struct{}{}
		}
		m.clients[client][key] = struct{}{}
	} else {
		m.signingIn.MoveToBack(e.signingIn)
	}
}

func (m *MemorySessionStore) unindex(key string, e *memoryEntry) {
	if e.signingIn == nil {
		return
	}
	m.signingIn.Remove(e.signingIn)
	e.signingIn = nil
	if keys := m.clients[e.client]; keys != nil {
		delete(keys, key)
		if len(keys) == 0 {
			delete(m.clients, e.client)
		}
	}
}

func (m *MemorySessionStore) remove(key string, e *memoryEntry) {
	m.unindex(key, e)
	delete(m.entries, key)
}

// makeRoom frees one place if it can: expired sessions go first (a full
// sweep, at most once a second so a flood of new sessions stays cheap), then
// the session not signed in that has gone unused longest.
func (m *MemorySessionStore) makeRoom(now time.Time) {
	if now.Sub(m.lastSweep) >= time.Second || now.Before(m.lastSweep) {
		m.lastSweep = now
		for k, e := range m.entries {
			if !now.Before(e.expires) {
				m.remove(k, e)
			}
		}
	}
	if len(m.entries) < m.max {
		return
	}
	if oldest := m.signingIn.Front(); oldest != nil {
		key := oldest.Value.(string)
		m.remove(key, m.entries[key])
	}
}

// Delete implements SessionStore.
func (m *MemorySessionStore) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	if e, ok := m.entries[key]; ok {
		m.remove(key, e)
	}
	m.mu.Unlock()
	return nil
}

// SignInsInProgress implements SessionCounter.
func (m *MemorySessionStore) SignInsInProgress(_ context.Context, client string) (int, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	n := 0
	var first time.Time
	for key := range m.clients[client] {
		e := m.entries[key]
		if !now.Before(e.expires) {
			m.remove(key, e)
			continue
		}
		n++
		if first.IsZero() || e.expires.Before(first) {
			first = e.expires
		}
	}
	if n == 0 {
		return 0, 0, nil
	}
	return n, first.Sub(now), nil
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
	// The __Host- prefix (cookieName) needs https, hence the plain name on
	// the http demo.
	return sessionCookies{name: cookieName("gatehouse_session", secure), secure: secure}
}

// newSessionID returns 256 random bits, base64url-encoded.
func newSessionID() string { return randomValue() }

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
