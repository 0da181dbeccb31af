// Package hosted is Gatehouse's own sign-in pages: where /v1/authorize sends a
// browser that has no session. They run the engine's IDX state machine — the
// same one /idp/idx/* serves to API clients — by driving those endpoints
// through the public Go SDK (package idx), in process: every SDK request is
// served by the engine's handler directly, carrying the browser's address and
// engine cookies, so rate limits and client-IP rules see the browser. There is
// no second implementation of the sign-in flow here, only pages.
//
// The browser's state is one cookie (gh_signin, Path=/signin, HttpOnly,
// SameSite=Lax) sealed with AES-256-GCM: the interaction handle, the client
// id, the login hint and a little UI state. Any node of the engine can serve
// any page. Every form carries a CSRF token bound to that cookie and every
// POST is also checked by net/http's CrossOriginProtection; every response
// carries a strict Content-Security-Policy; no handle, code or token ever
// appears in a URL. The pages need no JavaScript.
//
// The relying party is handed back by Options.Complete (with the interaction
// code) or Options.Abort, always from a plain GET of /signin/done: a browser
// enforces form-action 'self' on the redirects that follow a form post, so
// the page answering a post that ends the sign-in continues to /signin/done
// with a meta refresh (and a link) instead of redirecting.
package hosted

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/idx"
)

// Options configure the pages.
type Options struct {
	// Product is the product name shown on the pages, e.g. "Gatehouse".
	Product string
	// Issuer is the engine's issuer URL.
	Issuer string
	// Engine is the engine's own handler: every IDX call goes through it in
	// process (no network).
	Engine http.Handler
	// CookieKey (at least 32 bytes) seals the pages' cookie and signs CSRF
	// tokens. Every node serving the pages needs the same key.
	CookieKey []byte
	// Secure marks the cookie Secure (the issuer is https).
	Secure bool
	// Complete is called once the IDX transaction reaches SUCCESS, with the
	// interaction code from successWithInteractionCode, not exchanged for
	// tokens. It answers the request (a redirect to the relying party).
	Complete func(w http.ResponseWriter, r *http.Request, interactionCode string)
	// Abort is called when the user cancels or the transaction is gone for
	// good, with an OAuth error code (access_denied) and a description. It
	// answers the request.
	Abort func(w http.ResponseWriter, r *http.Request, interactionHandle, errorCode, description string)
	// Forward names engine cookies (e.g. "gh_device") that the in-process
	// IDX calls receive from the browser's request and whose Set-Cookie in
	// IDX responses is relayed to the browser.
	Forward []string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives errors; nil means slog.Default().
	Log *slog.Logger
}

// Start is the sign-in /v1/authorize hands over: the IDX transaction it
// created for the relying party (ClientID), and the login_hint, if any.
type Start struct{ InteractionHandle, ClientID, LoginHint string }

// Pages serves the hosted sign-in pages.
type Pages struct {
	product  string
	issuer   string
	jar      *cookieJar
	forward  []string
	http     *http.Client
	cop      *http.CrossOriginProtection
	pages    map[string]*template.Template
	complete func(http.ResponseWriter, *http.Request, string)
	abort    func(http.ResponseWriter, *http.Request, string, string, string)
	now      func() time.Time
	log      *slog.Logger
}

// contentSecurityPolicy allows the pages' own stylesheet and images and
// nothing else: no script at all, no framing, forms only to this origin.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// contentSecurityPolicyQR is the policy of the one page that shows the
// authenticator app's QR code, which the engine sends as a data: URI (the
// pages check it is a PNG): the same, with data: images allowed.
const contentSecurityPolicyQR = "default-src 'none'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// maxFormBytes bounds a posted form; the largest holds a new account's
// profile.
const maxFormBytes = 8 << 10

// engineCallTimeout bounds every in-process IDX call (password hashing can
// queue).
const engineCallTimeout = 30 * time.Second

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// New checks o and returns the pages.
func New(o Options) (*Pages, error) {
	product := strings.TrimSpace(o.Product)
	if product == "" {
		return nil, errors.New("hosted: a product name is required")
	}
	u, err := url.Parse(o.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("hosted: the issuer %q must be an absolute http(s) URL", o.Issuer)
	}
	if o.Engine == nil || o.Complete == nil || o.Abort == nil {
		return nil, errors.New("hosted: Engine, Complete and Abort are required")
	}
	jar, err := newCookieJar(o.CookieKey, o.Secure)
	if err != nil {
		return nil, err
	}
	forward := map[string]bool{}
	for _, name := range o.Forward {
		if name == "" || name == cookieName || strings.ContainsAny(name, "=; \t\r\n") {
			return nil, fmt.Errorf("hosted: %q cannot be forwarded", name)
		}
		forward[name] = true
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	p := &Pages{
		product: product,
		issuer:  strings.TrimRight(o.Issuer, "/"),
		jar:     jar,
		forward: append([]string(nil), o.Forward...),
		http: &http.Client{
			Transport: &engineTransport{engine: o.Engine, forward: forward},
			Timeout:   engineCallTimeout,
			// IDX calls are never redirected; a redirect is the engine's answer.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		cop:      http.NewCrossOriginProtection(),
		pages:    pages,
		complete: o.Complete,
		abort:    o.Abort,
		now:      o.Now,
		log:      o.Log,
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.message(w, http.StatusForbidden, "This request was refused",
			"It came from another site, so nothing was done. Go back to the application and sign in from there.", "")
	}))
	return p, nil
}

// Register adds the pages to mux: /signin and everything under /signin/.
func (p *Pages) Register(mux *http.ServeMux) {
	mux.Handle("GET /signin", p.page(p.showStep))
	mux.Handle("GET /signin/done", p.page(p.done))
	mux.Handle("GET /signin/static/{file}", secured(http.HandlerFunc(serveStatic)))
	mux.Handle("POST /signin/identify", p.form(p.identify))
	mux.Handle("POST /signin/authenticator", p.form(p.chooseAuthenticator))
	mux.Handle("POST /signin/method", p.form(p.chooseMethod))
	mux.Handle("POST /signin/enroll", p.form(p.enrollPhone))
	mux.Handle("POST /signin/code", p.form(p.verifyCode))
	mux.Handle("POST /signin/app", p.form(p.verifyAppCode))
	mux.Handle("POST /signin/resend", p.form(p.resend))
	mux.Handle("POST /signin/switch", p.form(p.switchMethod))
	mux.Handle("POST /signin/another", p.form(p.another))
	mux.Handle("POST /signin/forgot", p.form(p.forgot))
	mux.Handle("POST /signin/recover", p.form(p.recoverUsername))
	mux.Handle("POST /signin/password", p.form(p.newPassword))
	mux.Handle("POST /signin/register", p.form(p.register))
	mux.Handle("POST /signin/profile", p.form(p.profile))
	mux.Handle("POST /signin/back", p.form(p.backToSignIn))
	mux.Handle("POST /signin/cancel", p.form(p.cancel))
	mux.Handle("/signin/", secured(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.message(w, http.StatusNotFound, "Page not found",
			"There is no sign-in page at this address. Go back to the application and sign in from there.", "")
	})))
}

// Start begins the hosted sign-in for a transaction /v1/authorize created:
// it sets the sealed cookie and sends the browser to /signin with 303.
func (p *Pages) Start(w http.ResponseWriter, r *http.Request, s Start) {
	setSecurityHeaders(w)
	if s.InteractionHandle == "" || s.ClientID == "" {
		p.log.ErrorContext(r.Context(), "hosted: Start without an interaction handle or client id")
		p.message(w, http.StatusInternalServerError, "We can't sign you in right now",
			"Something went wrong on our side. Go back to the application and try again.", "")
		return
	}
	hint := s.LoginHint
	if len(hint) > 256 {
		hint = "" // a hint is a username; a longer one is no help and bloats the cookie
	}
	st := &signIn{ID: newID(), Handle: s.InteractionHandle, ClientID: s.ClientID, LoginHint: hint}
	if err := p.jar.write(w, st); err != nil {
		p.log.ErrorContext(r.Context(), "hosted: sealing the sign-in cookie", "err", err)
		p.message(w, http.StatusInternalServerError, "We can't sign you in right now",
			"Something went wrong on our side. Go back to the application and try again.", "")
		return
	}
	http.Redirect(w, r, pathPage, http.StatusSeeOther)
}

// Paths of the pages.
const (
	pathPage = "/signin"
	pathDone = "/signin/done"
)

// setSecurityHeaders is on every response of the pages.
func setSecurityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func secured(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w)
		h.ServeHTTP(w, r)
	})
}

// page wraps a GET handler: security headers and the sign-in cookie. A
// missing or unreadable cookie gets a page saying to start again.
func (p *Pages) page(h func(http.ResponseWriter, *http.Request, *signIn)) http.Handler {
	return secured(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := p.load(w, r)
		if !ok {
			return
		}
		h(w, r, s)
	}))
}

// form wraps a POST handler: security headers, the cross-origin check, a
// bounded form, the sign-in cookie and its CSRF token.
func (p *Pages) form(h func(http.ResponseWriter, *http.Request, *signIn)) http.Handler {
	return secured(p.cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			p.message(w, http.StatusBadRequest, "That didn't work",
				"The form couldn't be read, so nothing was sent. Go back and try again.", pathPage)
			return
		}
		s, ok := p.load(w, r)
		if !ok {
			return
		}
		if !p.jar.validCSRF(s, r.PostForm.Get("csrf")) {
			p.message(w, http.StatusForbidden, "This page had expired",
				"Nothing was sent. Continue to see where your sign-in stands, and try again there.", pathPage)
			return
		}
		h(w, r, s)
	})))
}

// load reads the sign-in cookie; without a usable one it answers the request.
func (p *Pages) load(w http.ResponseWriter, r *http.Request) (*signIn, bool) {
	s, err := p.jar.read(r)
	if err == nil {
		return s, true
	}
	if _, errCookie := r.Cookie(cookieName); errCookie == nil {
		// Altered, sealed under another key, or from an older format.
		p.jar.clear(w)
	}
	p.message(w, http.StatusBadRequest, "This sign-in isn't available",
		"There is no sign-in in progress in this browser, or it has ended. Go back to the application and sign in again.", "")
	return nil, false
}

// save writes the cookie; on failure it answers the request.
func (p *Pages) save(w http.ResponseWriter, r *http.Request, s *signIn) bool {
	if err := p.jar.write(w, s); err != nil {
		p.log.ErrorContext(r.Context(), "hosted: sealing the sign-in cookie", "err", err)
		p.message(w, http.StatusInternalServerError, "We can't sign you in right now",
			"Something went wrong on our side. Wait a moment and try again.", pathPage)
		return false
	}
	return true
}

// client is the SDK client for the relying party of sign-in s. It only
// continues transactions and returns the interaction code unredeemed.
func (p *Pages) client(s *signIn) (*idx.Client, error) {
	return idx.NewClient(idx.Config{Issuer: p.issuer, ClientID: s.ClientID, HTTPClient: p.http, ReturnInteractionCode: true})
}

// serveStatic serves the embedded stylesheet and icon.
func serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	types := map[string]string{"hosted.css": "text/css; charset=utf-8", "mark.svg": "image/svg+xml"}
	ct, ok := types[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	data, err := staticFiles.ReadFile("static/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(data)
}
