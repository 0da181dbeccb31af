//go:build unix

package rp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestGoOIDCWebApp signs alice in to a web app built the way go-oidc's
// documentation shows — github.com/coreos/go-oidc/v3 for discovery and ID token
// verification, golang.org/x/oauth2 for the code flow — as a confidential client
// with PKCE (oauth2.GenerateVerifier, S256) and a nonce. Chromium clicks through
// the app, the engine's hosted sign-in (password, then a code by SMS) and back;
// the app shows alice's email. Then: a prompt=none sign-in rides the SSO session
// without a page; the app's TokenSource refreshes; userinfo answers through
// provider.UserInfo; the app signs out at the end_session_endpoint with
// id_token_hint, post_logout_redirect_uri and state; after that prompt=none gets
// login_required and the refresh token no longer works.
func TestGoOIDCWebApp(t *testing.T) {
	skipShort(t, true)
	gatehouseBin(t)
	ctx := testContext(t)
	b := newBrowser(t)

	app := newOIDCApp(t)
	e := startEngine(t, ctx, rpClient{
		id: "go-oidc-app", secret: "go-oidc-app-secret-0123456789",
		redirectURI:            app.url + "/callback",
		postLogoutRedirectURIs: []string{app.url + "/signed-out"},
	})
	app.connect(t, ctx, e.issuer, "go-oidc-app", "go-oidc-app-secret-0123456789")

	// 1. The app's page, its sign-in link, the hosted pages, and back.
	b.run("the app's home page",
		chromedp.Navigate(app.url+"/"),
		chromedp.Click(chromedp.CSS(`#login`)),
	)
	b.signIn(ctx, e)
	b.run("the app shows who signed in", chromedp.WaitVisible(chromedp.CSS(`#email, #error`)))
	app.checkNoErrors(t, b)
	if got := b.text(`#email`); got != userLogin {
		t.Fatalf("the app shows %q, want alice's email %s", got, userLogin)
	}
	first := app.current(t)
	if first.idToken.Subject != e.userID {
		t.Errorf("ID token sub = %s, want alice's id %s", first.idToken.Subject, e.userID)
	}
	var idClaims struct {
		AMR []string `json:"amr"`
		SID string   `json:"sid"`
	}
	if err := first.idToken.Claims(&idClaims); err != nil {
		t.Fatal(err)
	}
	if strings.Join(idClaims.AMR, " ") != "pwd sms mfa" {
		t.Errorf("ID token amr = %v, want [pwd sms mfa]", idClaims.AMR)
	}

	// 2. prompt=none while the SSO session lives: a new code, no page.
	b.run("silent sign-in",
		chromedp.Navigate(app.url+"/login?prompt=none"),
		chromedp.WaitVisible(chromedp.CSS(`#email, #error`)),
	)
	app.checkNoErrors(t, b)
	second := app.current(t)
	if second.token.AccessToken == first.token.AccessToken || second.idToken.Subject != e.userID {
		t.Errorf("prompt=none with a live session did not sign alice in again")
	}

	// 3. The TokenSource refreshes an expired token: a new access token and a
	// rotated refresh token.
	stale := *second.token
	stale.Expiry = time.Now().Add(-time.Minute)
	fresh, err := app.cfg.TokenSource(ctx, &stale).Token()
	if err != nil {
		t.Fatalf("refresh through the TokenSource: %v", err)
	}
	if fresh.AccessToken == second.token.AccessToken || fresh.RefreshToken == "" || fresh.RefreshToken == second.token.RefreshToken {
		t.Errorf("the refresh did not issue a new access token and a new refresh token")
	}
	if raw, ok := fresh.Extra("id_token").(string); ok && raw != "" {
		idt, err := app.verifier.Verify(ctx, raw)
		if err != nil {
			t.Errorf("the refreshed ID token does not verify: %v", err)
		} else if idt.Subject != e.userID {
			t.Errorf("the refreshed ID token's sub = %s", idt.Subject)
		}
	}

	// 4. userinfo with the refreshed access token.
	info, err := app.provider.UserInfo(ctx, oauth2.StaticTokenSource(fresh))
	if err != nil {
		t.Fatalf("provider.UserInfo: %v", err)
	}
	var profile struct {
		GivenName string `json:"given_name"`
		Phone     string `json:"phone_number"`
	}
	if err := info.Claims(&profile); err != nil {
		t.Fatal(err)
	}
	if info.Subject != e.userID || info.Email != userLogin || profile.GivenName != userGiven || profile.Phone != userPhone {
		t.Errorf("userinfo: sub %s, email %s, %+v; want %s, %s, %s, %s", info.Subject, info.Email, profile, e.userID, userLogin, userGiven, userPhone)
	}

	// 5. RP-initiated logout: back at the app's post-logout page with its state.
	b.run("sign out",
		chromedp.Click(chromedp.CSS(`#logout`)),
		chromedp.WaitVisible(chromedp.CSS(`#signed-out, #error`)),
	)
	app.checkNoErrors(t, b)
	if !strings.HasPrefix(b.location(), app.url+"/signed-out?") {
		t.Errorf("after logout the browser is at %s", b.location())
	}

	// 6. prompt=none now: login_required, sent back to the app.
	b.run("silent sign-in after logout",
		chromedp.Navigate(app.url+"/login?prompt=none"),
		chromedp.WaitVisible(chromedp.CSS(`#email, #error`)),
	)
	if got := b.text(`#error`); !strings.HasPrefix(got, "login_required") {
		t.Errorf("prompt=none after logout: the app shows %q, want login_required", got)
	}

	// 7. The session's refresh tokens were revoked with it.
	stale = *fresh
	stale.Expiry = time.Now().Add(-time.Minute)
	_, err = app.cfg.TokenSource(ctx, &stale).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("refresh after logout: %v, want invalid_grant", err)
	}
}

// oidcApp is a small web app whose OpenID Connect is go-oidc and x/oauth2 only.
type oidcApp struct {
	url      string
	issuer   string
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	cfg      oauth2.Config
	logout   string // the provider's end_session_endpoint

	mu       sync.Mutex
	pending  map[string]pendingLogin // by state
	sessions map[string]*appSession  // by cookie
	last     *appSession
	logouts  map[string]bool // states of logouts under way
	errs     []string
}

type pendingLogin struct{ nonce, verifier string }

type appSession struct {
	token   *oauth2.Token
	rawID   string
	idToken *oidc.IDToken
	email   string
}

func newOIDCApp(t *testing.T) *oidcApp {
	a := &oidcApp{pending: map[string]pendingLogin{}, sessions: map[string]*appSession{}, logouts: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("GET /logout", a.signOut)
	mux.HandleFunc("GET /signed-out", a.signedOut)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

// connect runs discovery against the engine, as the app does at start-up.
func (a *oidcApp) connect(t *testing.T, ctx context.Context, issuer, clientID, secret string) {
	t.Helper()
	p, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&meta); err != nil || meta.EndSession == "" {
		t.Fatalf("discovery has no end_session_endpoint (%v)", err)
	}
	a.issuer, a.provider, a.logout = issuer, p, meta.EndSession
	a.verifier = p.Verifier(&oidc.Config{ClientID: clientID})
	a.cfg = oauth2.Config{
		ClientID: clientID, ClientSecret: secret,
		Endpoint:    p.Endpoint(),
		RedirectURL: a.url + "/callback",
		Scopes:      []string{oidc.ScopeOpenID, "profile", "email", "phone", oidc.ScopeOfflineAccess},
	}
}

func (a *oidcApp) home(w http.ResponseWriter, r *http.Request) {
	if s := a.session(r); s != nil {
		writePage(w, fmt.Sprintf(`<p>Signed in as <span id="email">%s</span></p><a id="logout" href="/logout">Sign out</a>`, html.EscapeString(s.email)))
		return
	}
	writePage(w, `<a id="login" href="/login">Sign in</a>`)
}

func (a *oidcApp) login(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := random(), random(), oauth2.GenerateVerifier()
	a.mu.Lock()
	a.pending[state] = pendingLogin{nonce, verifier}
	a.mu.Unlock()
	// The state is also bound to this browser, so a code from another can't land here.
	http.SetCookie(w, &http.Cookie{Name: "app_state", Value: state, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}
	if p := r.URL.Query().Get("prompt"); p != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", p))
	}
	http.Redirect(w, r, a.cfg.AuthCodeURL(state, opts...), http.StatusFound)
}

func (a *oidcApp) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c, err := r.Cookie("app_state")
	if err != nil || q.Get("state") == "" || c.Value != q.Get("state") {
		a.fail(w, "state", "the state does not match this browser's")
		return
	}
	a.mu.Lock()
	p, ok := a.pending[q.Get("state")]
	delete(a.pending, q.Get("state"))
	a.mu.Unlock()
	if !ok {
		a.fail(w, "state", "unknown or reused state")
		return
	}
	if q.Get("iss") != a.issuer { // RFC 9207
		a.fail(w, "iss", fmt.Sprintf("iss %q, want %q", q.Get("iss"), a.issuer))
		return
	}
	if e := q.Get("error"); e != "" {
		// An error the provider answered: shown, and not counted as the app's failure.
		writePage(w, fmt.Sprintf(`<p id="error">%s: %s</p>`, html.EscapeString(e), html.EscapeString(q.Get("error_description"))))
		return
	}
	ctx := r.Context()
	tok, err := a.cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		a.fail(w, "exchange", err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		a.fail(w, "id_token", err.Error())
		return
	}
	if idt.Nonce != p.nonce {
		a.fail(w, "nonce", fmt.Sprintf("nonce %q, want %q", idt.Nonce, p.nonce))
		return
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		a.fail(w, "at_hash", err.Error())
		return
	}
	var claims struct {
		Email string `json:"email"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Email == "" {
		a.fail(w, "email", fmt.Sprintf("the ID token carries no email (%v)", err))
		return
	}
	id := random()
	s := &appSession{token: tok, rawID: raw, idToken: idt, email: claims.Email}
	a.mu.Lock()
	a.sessions[id], a.last = s, s
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "app_session", Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusFound)
}

func (a *oidcApp) signOut(w http.ResponseWriter, r *http.Request) {
	s := a.session(r)
	if s == nil {
		a.fail(w, "logout", "not signed in")
		return
	}
	state := random()
	a.mu.Lock()
	a.logouts[state] = true
	c, _ := r.Cookie("app_session")
	delete(a.sessions, c.Value)
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "app_session", Path: "/", MaxAge: -1})
	u, _ := url.Parse(a.logout)
	u.RawQuery = url.Values{
		"id_token_hint":            {s.rawID},
		"post_logout_redirect_uri": {a.url + "/signed-out"},
		"state":                    {state},
	}.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (a *oidcApp) signedOut(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	ok := a.logouts[r.URL.Query().Get("state")]
	delete(a.logouts, r.URL.Query().Get("state"))
	a.mu.Unlock()
	if !ok {
		a.fail(w, "logout state", "the state came back wrong: "+r.URL.RawQuery)
		return
	}
	writePage(w, `<p id="signed-out">You are signed out.</p><a id="login" href="/login">Sign in</a>`)
}

func (a *oidcApp) session(r *http.Request) *appSession {
	c, err := r.Cookie("app_session")
	if err != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sessions[c.Value]
}

// current is the session of the latest sign-in.
func (a *oidcApp) current(t *testing.T) *appSession {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.last == nil {
		t.Fatal("the app has no session")
	}
	return a.last
}

// fail answers a request the app refuses, and remembers why for the test.
func (a *oidcApp) fail(w http.ResponseWriter, what, why string) {
	a.mu.Lock()
	a.errs = append(a.errs, what+": "+why)
	a.mu.Unlock()
	w.WriteHeader(http.StatusBadRequest)
	writePage(w, fmt.Sprintf(`<p id="error">app: %s: %s</p>`, html.EscapeString(what), html.EscapeString(why)))
}

func (a *oidcApp) checkNoErrors(t *testing.T, b *browser) {
	t.Helper()
	a.mu.Lock()
	errs := append([]string(nil), a.errs...)
	a.mu.Unlock()
	if len(errs) > 0 {
		t.Fatalf("the app refused the flow: %s (browser at %s)", strings.Join(errs, "; "), b.location())
	}
}

func writePage(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><html><head><title>RP</title></head><body>%s</body></html>`, body)
}

func random() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
