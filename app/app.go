// Package app is Gatehouse's sample web application: server-rendered sign-in
// pages (username and password, the authenticator, SMS or voice, the code,
// an authenticator app's code), a password reset ("Forgot password?": the
// username, a code to the phone, the new password with the server's rules),
// registration ("Create an account": the server's profile form, a password,
// the second factor it asks for, including an authenticator app's QR code),
// a profile page and sign-out, built only on the public Go SDK (package idx)
// and the standard library. Pointed at another issuer, client id and secret —
// an Okta org's embedded-sign-in app — it works unchanged.
//
// The sign-in page links to the password reset and to registration only
// when the identity server offers them. Finding out takes a transaction, so
// the app asks at most every five minutes, when the sign-in page is shown,
// and otherwise learns it from the sign-ins it runs.
//
// The pages need no JavaScript; one small script only counts down the
// "send again" wait. Sessions are kept on the server (see SessionStore) and
// created only when a sign-in starts; the cookies are HttpOnly and
// SameSite=Lax (and Secure on https), the sign-in form carries a signed CSRF
// token, every POST is checked by net/http's CrossOriginProtection, and every
// response carries a strict Content-Security-Policy. Every call to the
// identity server passes the browser's address on (idx.WithClientIP).
package app

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/idx"
)

// Config configures the app. Issuer, ClientID and RedirectURI are required.
type Config struct {
	// Issuer is the OAuth issuer, e.g. "http://127.0.0.1:8080/oauth2/default"
	// for `gatehouse demo` or "https://example.okta.com/oauth2/default".
	Issuer string
	// ClientID and ClientSecret identify the app's OAuth client; leave the
	// secret empty for a public client.
	ClientID, ClientSecret string
	// RedirectURI is the redirect URI registered for the client, normally
	// this app's own "/login/callback". The embedded sign-in never redirects
	// there, but the server checks it is registered. Its scheme also decides
	// whether the session cookie is Secure: https → Secure.
	RedirectURI string
	// Scopes requested. Defaults to openid, profile, email and
	// offline_access (a refresh token, revoked at sign-out).
	Scopes []string
	// HTTPClient sends the SDK's requests. Defaults to the SDK's client.
	HTTPClient *http.Client
	// Sessions keeps sessions. Defaults to a MemorySessionStore, which is
	// right for one process; see SessionStore for several.
	Sessions SessionStore
	// MaxSignInsPerIP caps the sign-ins in progress — sessions not signed in
	// yet — started from one client address (an IPv4 address, or an IPv6
	// /64), so that one address cannot take the whole session store.
	// Beyond it, a new sign-in from that address is answered 429 with
	// Retry-After until one of them ends or expires. Signed-in sessions do
	// not count: many people behind one NAT can be signed in at once.
	// Defaults to 20; a negative value removes the cap. It needs a
	// Sessions store that implements SessionCounter.
	MaxSignInsPerIP int
	// TrustedProxies are the networks of reverse proxies in front of the
	// app whose X-Forwarded-For is believed: the browser's address is then
	// the last hop in it that is not one of them. Empty (the default): the
	// app is reached directly and the browser's address is the connection's.
	// Never list networks that browsers connect from.
	TrustedProxies []netip.Prefix
	// CookieKey signs the sign-in form's CSRF token and the one-time notice
	// cookie (HMAC-SHA256), at least 32 bytes. Defaults to a random key per
	// process, which is right for one process; several instances serving
	// one site need the same key (a restart only makes an open sign-in page
	// ask for the password again).
	CookieKey []byte
	// SessionIdleTimeout ends a session left unused that long. Defaults to
	// 30 minutes, the engine's sign-in transaction lifetime.
	SessionIdleTimeout time.Duration
	// ResendInterval is how long the server makes the user wait between two
	// codes to one phone. Defaults to 30 seconds (Gatehouse and Okta).
	ResendInterval time.Duration
	// Now is the app's clock for the resend countdown. Defaults to
	// time.Now; tests share the engine's clock through it.
	Now func() time.Time
	// Logger receives the app's errors. Defaults to slog.Default().
	Logger *slog.Logger
}

// contentSecurityPolicy allows only the app's own stylesheet, script, images
// and form targets, and forbids framing (clickjacking). Images may also be
// data: URIs: an authenticator app's QR code comes inlined as one (the app
// checks it is a PNG before showing it); an image cannot run script.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// defaultMaxSignInsPerIP is Config.MaxSignInsPerIP's default.
const defaultMaxSignInsPerIP = 20

// server holds what every handler needs.
type server struct {
	client         *idx.Client
	sessions       SessionStore
	cookies        sessionCookies
	forms          formTokens
	notices        notices
	maxPerIP       int
	trustedProxies []netip.Prefix
	admission      admission
	offers         offers
	idleTimeout    time.Duration
	resendInterval time.Duration
	now            func() time.Time
	log            *slog.Logger
	pages          map[string]*template.Template
}

// New returns the app as an http.Handler. It makes no network call: the
// issuer is first contacted when someone signs in.
func New(cfg Config) (http.Handler, error) {
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"openid", "profile", "email", "offline_access"}
	}
	client, err := idx.NewClient(idx.Config{
		Issuer: cfg.Issuer, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		RedirectURI: cfg.RedirectURI, Scopes: cfg.Scopes, HTTPClient: cfg.HTTPClient,
	})
	if err != nil {
		return nil, err
	}
	redirect, err := url.Parse(cfg.RedirectURI)
	if err != nil || (redirect.Scheme != "http" && redirect.Scheme != "https") {
		return nil, fmt.Errorf("app: redirect URI %q must be an absolute http(s) URL", cfg.RedirectURI)
	}
	key := cfg.CookieKey
	switch {
	case len(key) == 0:
		key = []byte(randomValue())
	case len(key) < 32:
		return nil, fmt.Errorf("app: the cookie key must be at least 32 bytes, not %d", len(key))
	}
	secure := redirect.Scheme == "https"
	s := &server{
		client:         client,
		sessions:       cfg.Sessions,
		cookies:        newSessionCookies(secure),
		forms:          newFormTokens(key, secure),
		notices:        newNotices(key, secure),
		maxPerIP:       cfg.MaxSignInsPerIP,
		trustedProxies: append([]netip.Prefix(nil), cfg.TrustedProxies...),
		idleTimeout:    cfg.SessionIdleTimeout,
		resendInterval: cfg.ResendInterval,
		now:            cfg.Now,
		log:            cfg.Logger,
	}
	if s.sessions == nil {
		s.sessions = NewMemorySessionStore(0)
	}
	if s.maxPerIP == 0 {
		s.maxPerIP = defaultMaxSignInsPerIP
	}
	for i, p := range s.trustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("app: invalid trusted proxy network %v", p)
		}
		s.trustedProxies[i] = p.Masked()
	}
	if s.idleTimeout <= 0 {
		s.idleTimeout = 30 * time.Minute
	}
	if s.resendInterval <= 0 {
		s.resendInterval = 30 * time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	return s.routes(), nil
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /login", s.signInPage)
	mux.HandleFunc("POST /login", s.signIn)
	mux.HandleFunc("GET /login/authenticator", s.stepPage(pathSelect))
	mux.HandleFunc("POST /login/authenticator", s.chooseAuthenticator)
	mux.HandleFunc("GET /login/phone", s.stepPage(pathPhone))
	mux.HandleFunc("POST /login/phone", s.chooseMethod)
	mux.HandleFunc("GET /login/enroll", s.stepPage(pathEnroll))
	mux.HandleFunc("POST /login/enroll", s.enrollPhone)
	mux.HandleFunc("GET /login/code", s.stepPage(pathCode))
	mux.HandleFunc("POST /login/code", s.verifyCode)
	mux.HandleFunc("POST /login/resend", s.resend)
	mux.HandleFunc("POST /login/switch", s.switchMethod)
	mux.HandleFunc("GET /login/totp", s.stepPage(pathTOTP))
	mux.HandleFunc("POST /login/totp", s.submitTOTP)
	mux.HandleFunc("POST "+pathRecoverStart, s.startFlow(idx.FlowRecoverPassword))
	mux.HandleFunc("GET /login/recover", s.stepPage(pathRecover))
	mux.HandleFunc("POST /login/recover", s.recoverUsername)
	mux.HandleFunc("POST "+pathRegisterStart, s.startFlow(idx.FlowRegister))
	mux.HandleFunc("GET /login/register", s.stepPage(pathRegister))
	mux.HandleFunc("POST /login/register", s.submitProfile)
	mux.HandleFunc("GET /login/password", s.stepPage(pathPassword))
	mux.HandleFunc("POST /login/password", s.submitPassword)
	mux.HandleFunc("POST /login/cancel", s.cancel)
	mux.HandleFunc("GET /login/unsupported", s.stepPage(pathUnsupported))
	mux.HandleFunc("POST /login/hosted", s.hostedSignIn)
	mux.HandleFunc("GET /login/callback", s.callback)
	mux.HandleFunc("POST /logout", s.signOut)
	static, _ := fs.Sub(staticFiles, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(time.Hour, http.FileServerFS(static))))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.renderMessage(w, http.StatusNotFound, "Page not found", "There is nothing at this address.")
	})

	// CSRF: browsers label every request with Sec-Fetch-Site (or Origin);
	// a POST from another site is refused before any handler runs. The
	// SameSite=Lax cookie is a second barrier.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderMessage(w, http.StatusForbidden, "Request blocked",
			"This form was sent from another site, so it was ignored. Go back to the sign-in page and try again.")
	}))
	return securityHeaders(limitBodies(s.withClientIP(csrf.Handler(mux))))
}

// securityHeaders sets the headers every response carries. Pages show
// per-user data, so nothing but the static files may be cached.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// limitBodies caps request bodies: the app's forms are a few hundred bytes.
func limitBodies(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		next.ServeHTTP(w, r)
	})
}

func cacheFor(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(d.Seconds())))
		next.ServeHTTP(w, r)
	})
}

// isOAuthCode reports whether err is an OAuth error with the given code.
func isOAuthCode(err error, code string) bool {
	var oe *idx.OAuthError
	return errors.As(err, &oe) && oe.Code == code
}
