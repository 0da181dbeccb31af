package sso_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"sync"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

const (
	alice      = "alice@example.com"
	alicePhone = "+12015550123"
	webID      = "web"
	webSecret  = "web-secret-web-secret-web-secret"
	webRedir   = "http://127.0.0.1:3000/oidc/callback"
	spaID      = "spa"
)

// start runs an engine with two code-flow clients beside the IDX test client: a
// confidential web app and a public single-page app.
func start(t testing.TB, configure func(*config.Config)) *enginetest.Harness {
	t.Helper()
	return startOn(t, "", configure)
}

// startOn is start on the database dsn ("" for SQLite in a temporary folder).
func startOn(t testing.TB, dsn string, configure func(*config.Config)) *enginetest.Harness {
	t.Helper()
	return enginetest.Start(t, enginetest.Options{Database: dsn, Configure: func(c *config.Config) {
		c.Clients = append(c.Clients,
			config.ClientDefaults(config.Client{ID: webID, Secret: webSecret, RedirectURIs: []string{webRedir},
				PostLogoutRedirectURIs: []string{"http://127.0.0.1:3000/bye"},
				Grants:                 []string{config.GrantAuthorizationCode, config.GrantRefreshToken}}),
			config.ClientDefaults(config.Client{ID: spaID, RedirectURIs: []string{"http://127.0.0.1:3001/cb"},
				Grants: []string{config.GrantAuthorizationCode}}),
		)
		if configure != nil {
			configure(c)
		}
	}})
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t, &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

func (b *browser) post(u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(u, form)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// signInWithIDX signs alice in through the IDX API keeping the engine's cookies in
// the browser's jar, as a browser app on the engine's site does, and returns the
// IDX client's tokens.
func signInWithIDX(t *testing.T, h *enginetest.Harness, b *browser) map[string]any {
	t.Helper()
	f := h.InteractAs(t, "", b.c.Jar)
	enginetest.Expect(t, "identify", http.StatusOK)(f.Identify(alice, enginetest.Password))
	enginetest.Expect(t, "select phone", http.StatusOK)(f.ChoosePhone())
	enginetest.Expect(t, "choose sms", http.StatusOK)(f.ChooseMethod("sms"))
	enginetest.Expect(t, "answer", http.StatusOK)(f.Answer(h.LatestCode(t, alicePhone)))
	status, tokens := f.Redeem()
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
	return tokens
}

func authorizeURL(h *enginetest.Harness, q url.Values) string {
	return h.Issuer + "/v1/authorize?" + q.Encode()
}

func webRequest(pkce enginetest.PKCE) url.Values {
	return url.Values{"client_id": {webID}, "redirect_uri": {webRedir}, "response_type": {"code"},
		"scope": {"openid profile email offline_access"}, "state": {"st-web"}, "nonce": {"n-web"},
		"code_challenge": {pkce.Challenge}, "code_challenge_method": {"S256"}}
}

// redirectParams checks that resp redirects to the client's redirect URI and
// returns the parameters it carries.
func redirectParams(t *testing.T, resp *http.Response, redirectURI string) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d, want a 303 redirect to the client", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		t.Fatalf("redirected to %s, want %s", got, redirectURI)
	}
	return loc.Query()
}

func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func redeem(t *testing.T, h *enginetest.Harness, code, verifier string) (int, map[string]any) {
	t.Helper()
	return h.PostForm(t, h.Issuer+"/v1/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {webRedir}, "code_verifier": {verifier}, "client_id": {webID}, "client_secret": {webSecret}})
}

func TestSessionSignsASecondClientInWithoutAPage(t *testing.T) {
	h := start(t, nil)
	h.CreateUser(t, alice, alicePhone)
	b := newBrowser(t)
	idxTokens := signInWithIDX(t, h, b)
	idClaims := claims(t, idxTokens["id_token"].(string))

	pkce := enginetest.NewPKCE()
	resp, _ := b.get(authorizeURL(h, webRequest(pkce)))
	q := redirectParams(t, resp, webRedir)
	if q.Get("state") != "st-web" || q.Get("iss") != h.Issuer || q.Get("code") == "" || q.Get("error") != "" {
		t.Fatalf("authorization response %v, want code, state st-web and iss %s", q, h.Issuer)
	}
	status, tokens := redeem(t, h, q.Get("code"), pkce.Verifier)
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
	c := claims(t, tokens["id_token"].(string))
	if c["aud"] != webID || c["nonce"] != "n-web" || c["sub"] != idClaims["sub"] || c["auth_time"] != idClaims["auth_time"] {
		t.Errorf("ID token claims %v: want aud web, nonce n-web, and alice's sub and auth_time %v", c, idClaims["auth_time"])
	}
	if tokens["refresh_token"] == nil {
		t.Errorf("no refresh token for offline_access: %v", tokens)
	}
	// The code is single-use.
	if status, body := redeem(t, h, q.Get("code"), pkce.Verifier); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("second redemption: %d %v, want 400 invalid_grant", status, body)
	}
}

func TestAuthorizationCodeChecks(t *testing.T) {
	h := start(t, nil)
	h.CreateUser(t, alice, alicePhone)
	b := newBrowser(t)
	signInWithIDX(t, h, b)
	code := func() (string, enginetest.PKCE) {
		pkce := enginetest.NewPKCE()
		resp, _ := b.get(authorizeURL(h, webRequest(pkce)))
		return redirectParams(t, resp, webRedir).Get("code"), pkce
	}
	c, pkce := code()
	other := enginetest.NewPKCE()
	cases := []struct {
		name string
		form url.Values
		want int
		err  string
	}{
		{"wrong verifier", url.Values{"code_verifier": {other.Verifier}}, 400, "invalid_grant"},
		{"no verifier", url.Values{"code_verifier": {""}}, 400, "invalid_request"},
		{"other redirect_uri", url.Values{"redirect_uri": {"http://127.0.0.1:3000/other"}}, 400, "invalid_grant"},
		{"no redirect_uri", url.Values{"redirect_uri": {""}}, 400, "invalid_request"},
		{"wrong secret", url.Values{"client_secret": {"nope-nope-nope-nope"}}, 401, "invalid_client"},
		{"as an interaction code", url.Values{"grant_type": {"interaction_code"}, "interaction_code": {c}, "client_id": {enginetest.ClientID}, "client_secret": {""}}, 400, "invalid_grant"},
	}
	for _, tc := range cases {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {webRedir},
			"code_verifier": {pkce.Verifier}, "client_id": {webID}, "client_secret": {webSecret}}
		for k, v := range tc.form {
			if v[0] == "" {
				form.Del(k)
			} else {
				form[k] = v
			}
		}
		status, body := h.PostForm(t, h.Issuer+"/v1/token", form)
		if status != tc.want || body["error"] != tc.err {
			t.Errorf("%s: %d %v, want %d %s", tc.name, status, body, tc.want, tc.err)
		}
	}
	// None of those consumed the code.
	if status, body := redeem(t, h, c, pkce.Verifier); status != http.StatusOK {
		t.Errorf("the right redemption after refused ones: %d %v", status, body)
	}
	// An expired code is refused.
	c, pkce = code()
	h.Clock.Advance(h.Config.SignOn.InteractionCodeTTL + time.Second)
	if status, body := redeem(t, h, c, pkce.Verifier); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("expired code: %d %v, want 400 invalid_grant", status, body)
	}
}

func TestAuthorizeErrors(t *testing.T) {
	h := start(t, nil)
	b := newBrowser(t)
	pkce := enginetest.NewPKCE()
	with := func(change map[string]string) url.Values {
		q := webRequest(pkce)
		for k, v := range change {
			if v == "" {
				q.Del(k)
			} else {
				q.Set(k, v)
			}
		}
		return q
	}
	// Never redirected: the page is shown by the engine itself.
	for name, q := range map[string]url.Values{
		"unknown client":           with(map[string]string{"client_id": "nobody"}),
		"unregistered redirect":    with(map[string]string{"redirect_uri": "https://evil.example/cb"}),
		"missing redirect":         with(map[string]string{"redirect_uri": ""}),
		"another client's address": with(map[string]string{"client_id": spaID}),
	} {
		resp, body := b.get(authorizeURL(h, q))
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body, "<h1>") {
			t.Errorf("%s: %d Location=%q, want a 400 page and no redirect", name, resp.StatusCode, resp.Header.Get("Location"))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q", name, csp)
		}
	}
	// Redirected with error, error_description, state and iss.
	for _, tc := range []struct {
		name   string
		change map[string]string
		want   string
	}{
		{"implicit flow", map[string]string{"response_type": "token"}, "unsupported_response_type"},
		{"no response_type", map[string]string{"response_type": ""}, "invalid_request"},
		{"no openid", map[string]string{"scope": "profile"}, "invalid_scope"},
		{"unknown scope", map[string]string{"scope": "openid admin"}, "invalid_scope"},
		{"plain PKCE", map[string]string{"code_challenge_method": "plain"}, "invalid_request"},
		{"short challenge", map[string]string{"code_challenge": "abc"}, "invalid_request"},
		{"bad max_age", map[string]string{"max_age": "-1"}, "invalid_request"},
		{"bad prompt", map[string]string{"prompt": "none login"}, "invalid_request"},
		{"bad response_mode", map[string]string{"response_mode": "fragment"}, "invalid_request"},
		{"request object", map[string]string{"request": "eyJ.x.y"}, "request_not_supported"},
		{"no session, prompt=none", map[string]string{"prompt": "none"}, "login_required"},
	} {
		resp, _ := b.get(authorizeURL(h, with(tc.change)))
		q := redirectParams(t, resp, webRedir)
		if q.Get("error") != tc.want || q.Get("error_description") == "" || q.Get("state") != "st-web" || q.Get("iss") != h.Issuer {
			t.Errorf("%s: %v, want error %s with a description, state and iss", tc.name, q, tc.want)
		}
	}
	// A public client must use PKCE.
	q := url.Values{"client_id": {spaID}, "redirect_uri": {"http://127.0.0.1:3001/cb"}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s"}}
	resp, _ := b.get(authorizeURL(h, q))
	if got := redirectParams(t, resp, "http://127.0.0.1:3001/cb"); got.Get("error") != "invalid_request" {
		t.Errorf("public client without PKCE: %v", got)
	}
	// A parameter given twice is refused on a page (it could be the redirect URI).
	resp, _ = b.get(authorizeURL(h, webRequest(pkce)) + "&state=again")
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Errorf("repeated parameter: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestSessionDoesNotReplaceASignInWhenAskedNotTo(t *testing.T) {
	for _, tc := range []struct {
		name      string
		configure func(*config.Config)
		change    url.Values
		advance   time.Duration
	}{
		{"prompt=login", nil, url.Values{"prompt": {"login"}}, 0},
		{"max_age exceeded", nil, url.Values{"max_age": {"60"}}, 2 * time.Minute},
		{"mfa_every_sign_in", func(c *config.Config) { c.SignOn.MFAEverySignIn = true }, nil, 0},
		{"idle timeout", nil, nil, 2*time.Hour + time.Minute},
		{"lifetime", func(c *config.Config) { c.SignOn.SessionLifetime, c.SignOn.SessionIdleTimeout = time.Hour, time.Hour }, nil, time.Hour + time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := start(t, tc.configure)
			h.CreateUser(t, alice, alicePhone)
			b := newBrowser(t)
			signInWithIDX(t, h, b)
			h.Clock.Advance(tc.advance)
			q := webRequest(enginetest.NewPKCE())
			for k, v := range tc.change {
				q[k] = v
			}
			resp, _ := b.get(authorizeURL(h, q))
			if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, webRedir) {
				t.Fatalf("signed in from the session (%d %s), want the sign-in pages", resp.StatusCode, loc)
			}
			// With prompt=none the same request says login_required.
			if tc.change.Get("prompt") == "" {
				q.Set("prompt", "none")
				resp, _ = b.get(authorizeURL(h, q))
				if got := redirectParams(t, resp, webRedir); got.Get("error") != "login_required" {
					t.Errorf("prompt=none: %v, want login_required", got)
				}
			}
		})
	}
}

func TestFormPostResponseMode(t *testing.T) {
	h := start(t, nil)
	h.CreateUser(t, alice, alicePhone)
	b := newBrowser(t)
	signInWithIDX(t, h, b)
	q := webRequest(enginetest.NewPKCE())
	q.Set("response_mode", "form_post")
	resp, body := b.get(authorizeURL(h, q))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<form method="post" action="`+webRedir+`"`) ||
		!strings.Contains(body, `name="code"`) || !strings.Contains(body, `name="state" value="st-web"`) ||
		!strings.Contains(body, `name="iss"`) || !strings.Contains(body, "<noscript>") {
		t.Fatalf("form_post page: %d\n%s", resp.StatusCode, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'nonce-") || !strings.Contains(csp, "form-action http://127.0.0.1:3000") {
		t.Errorf("form_post CSP %q", csp)
	}
}

// onBothBackends runs f on SQLite and on PostgreSQL (skipped without it).
func onBothBackends(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, "") })
	t.Run("postgres", func(t *testing.T) { f(t, enginetest.PostgresSchema(t)) })
}

func TestLogoutEndsTheSession(t *testing.T) {
	onBothBackends(t, testLogoutEndsTheSession)
}

func testLogoutEndsTheSession(t *testing.T, dsn string) {
	h := startOn(t, dsn, nil)
	h.CreateUser(t, alice, alicePhone)
	b := newBrowser(t)
	tokens := signInWithIDX(t, h, b)
	promptNone := func() url.Values {
		q := webRequest(enginetest.NewPKCE())
		q.Set("prompt", "none")
		resp, _ := b.get(authorizeURL(h, q))
		return redirectParams(t, resp, webRedir)
	}
	q := promptNone()
	if q.Get("code") == "" {
		t.Fatalf("before logout, prompt=none: %v, want a code", q)
	}
	pkce := enginetest.NewPKCE()
	qq := webRequest(pkce)
	resp, _ := b.get(authorizeURL(h, qq))
	status, webTokens := redeem(t, h, redirectParams(t, resp, webRedir).Get("code"), pkce.Verifier)
	if status != http.StatusOK {
		t.Fatalf("web client token: %d %v", status, webTokens)
	}
	as := map[string][]string{"IDX client": {enginetest.ClientID}, "web client": nil}
	for name, tok := range map[string]map[string]any{"IDX client": tokens, "web client": webTokens} {
		if !active(t, h, tok["access_token"].(string), as[name]...) || !active(t, h, tok["refresh_token"].(string), as[name]...) {
			t.Fatalf("%s: tokens inactive before logout", name)
		}
	}
	resp, _ = b.get(h.Issuer + "/v1/logout?" + url.Values{"id_token_hint": {tokens["id_token"].(string)},
		"post_logout_redirect_uri": {enginetest.AppOrigin + "/"}, "state": {"bye"}}.Encode())
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != enginetest.AppOrigin+"/?state=bye" {
		t.Fatalf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if q := promptNone(); q.Get("error") != "login_required" {
		t.Errorf("after logout, prompt=none: %v, want login_required", q)
	}
	// Every token issued in the session, to either client, is dead.
	for name, tok := range map[string]map[string]any{"IDX client": tokens, "web client": webTokens} {
		for _, kind := range []string{"access_token", "refresh_token"} {
			if active(t, h, tok[kind].(string), as[name]...) {
				t.Errorf("%s's %s is still active after logout", name, kind)
			}
		}
		if status := userinfo(t, h, tok["access_token"].(string)); status != http.StatusUnauthorized {
			t.Errorf("%s's access token at userinfo after logout: %d, want 401", name, status)
		}
	}
}

// active asks the introspection endpoint, as the client the token is for (a
// refresh token is visible only to its own client).
func active(t *testing.T, h *enginetest.Harness, token string, client ...string) bool {
	t.Helper()
	form := url.Values{"token": {token}, "client_id": {webID}, "client_secret": {webSecret}}
	if len(client) > 0 {
		form = url.Values{"token": {token}, "client_id": {client[0]}}
	}
	status, body := h.PostForm(t, h.Issuer+"/v1/introspect", form)
	if status != http.StatusOK {
		t.Fatalf("introspect: %d %v", status, body)
	}
	return body["active"] == true
}

func userinfo(t *testing.T, h *enginetest.Harness, accessToken string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.Issuer+"/v1/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRevokingAUserEndsTheirSessions(t *testing.T) {
	h := start(t, nil)
	user := h.CreateUser(t, alice, alicePhone)
	b := newBrowser(t)
	signInWithIDX(t, h, b)
	if _, err := oauth.RevokeUserTokens(t.Context(), h.Store, user.ID, h.Clock.Now()); err != nil {
		t.Fatal(err)
	}
	q := webRequest(enginetest.NewPKCE())
	q.Set("prompt", "none")
	resp, _ := b.get(authorizeURL(h, q))
	if got := redirectParams(t, resp, webRedir); got.Get("error") != "login_required" {
		t.Errorf("after the user's tokens were revoked, prompt=none: %v, want login_required", got)
	}
}

func TestLogoutWithoutHintAsksFirst(t *testing.T) {
	h := start(t, nil)
	h.CreateUser(t, alice, alicePhone)
	b := newBrowser(t)
	signInWithIDX(t, h, b)
	hasSession := func() bool {
		q := webRequest(enginetest.NewPKCE())
		q.Set("prompt", "none")
		resp, _ := b.get(authorizeURL(h, q))
		return redirectParams(t, resp, webRedir).Get("code") != ""
	}
	// A plain GET (what a planted link or image does) only shows a question.
	resp, body := b.get(h.Issuer + "/v1/logout")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign out?") || !hasSession() {
		t.Fatalf("GET logout without a hint: %d, session kept %v\n%s", resp.StatusCode, hasSession(), body)
	}
	// A forged POST without the confirmation value changes nothing either.
	if resp, _ := b.post(h.Issuer+"/v1/logout", url.Values{"confirm": {"guess"}}); resp.StatusCode != http.StatusOK || !hasSession() {
		t.Fatalf("forged confirmation: %d, session kept %v", resp.StatusCode, hasSession())
	}
	i := strings.Index(body, `name="confirm" value="`)
	if i < 0 {
		t.Fatalf("no confirmation value in\n%s", body)
	}
	v := body[i+len(`name="confirm" value="`):]
	v = v[:strings.IndexByte(v, '"')]
	resp, body = b.post(h.Issuer+"/v1/logout", url.Values{"confirm": {v}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Signed out") || hasSession() {
		t.Errorf("confirmed logout: %d, session kept %v\n%s", resp.StatusCode, hasSession(), body)
	}
}

func TestDeleteSessionsMe(t *testing.T) {
	h := start(t, nil)
	h.CreateUser(t, alice, alicePhone)
	b := newBrowser(t)
	signInWithIDX(t, h, b)
	req, _ := http.NewRequest(http.MethodDelete, h.URL+"/api/v1/sessions/me", nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /api/v1/sessions/me: %d", resp.StatusCode)
	}
	q := webRequest(enginetest.NewPKCE())
	q.Set("prompt", "none")
	resp, _ = b.get(authorizeURL(h, q))
	if got := redirectParams(t, resp, webRedir); got.Get("error") != "login_required" {
		t.Errorf("after DELETE sessions/me, prompt=none: %v", got)
	}
}

// hostedBrowser follows redirects within the engine's origin, as a browser does,
// and stops at the first one that leaves it (to the client).
func hostedBrowser(t *testing.T, h *enginetest.Harness) *browser {
	jar, _ := cookiejar.New(nil)
	engine, _ := url.Parse(h.URL)
	return &browser{t, &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != engine.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// submit posts a hosted page's form with its CSRF token.
func (b *browser) submit(h *enginetest.Harness, page, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF token on the page before %s:\n%s", path, page)
	}
	form.Set("csrf", html.UnescapeString(m[1]))
	return b.post(h.URL+path, form)
}

// signInOnHostedPages walks the hosted pages from an authorization request to
// the redirect back to the client, and returns that last response.
func signInOnHostedPages(t *testing.T, h *enginetest.Harness, b *browser, q url.Values) *http.Response {
	t.Helper()
	resp, page := b.get(authorizeURL(h, q))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) {
		t.Fatalf("authorize without a session: %d, want the hosted sign-in page\n%s", resp.StatusCode, page)
	}
	if hint := q.Get("login_hint"); hint != "" && !strings.Contains(page, `value="`+hint+`"`) {
		t.Errorf("the username is not prefilled with the login_hint %q", hint)
	}
	_, page = b.submit(h, page, "/signin/identify", url.Values{"username": {alice}, "password": {enginetest.Password}})
	m := regexp.MustCompile(`name="authenticator" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no authenticator choice:\n%s", page)
	}
	_, page = b.submit(h, page, "/signin/authenticator", url.Values{"authenticator": {html.UnescapeString(m[1])}})
	_, page = b.submit(h, page, "/signin/method", url.Values{"method": {"sms"}})
	resp, page = b.submit(h, page, "/signin/code", url.Values{"code": {h.LatestCode(t, alicePhone)}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `url=/signin/done`) {
		t.Fatalf("after the code: %d, want the continue page\n%s", resp.StatusCode, page)
	}
	resp, _ = b.get(h.URL + "/signin/done")
	return resp
}

func TestHostedSignInEndsAtTheClientAndStartsASession(t *testing.T) {
	onBothBackends(t, testHostedSignIn)
}

func testHostedSignIn(t *testing.T, dsn string) {
	h := startOn(t, dsn, nil)
	h.CreateUser(t, alice, alicePhone)
	b := hostedBrowser(t, h)
	pkce := enginetest.NewPKCE()
	q := webRequest(pkce)
	q.Set("login_hint", alice)
	resp := signInOnHostedPages(t, h, b, q)
	got := redirectParams(t, resp, webRedir)
	if got.Get("state") != "st-web" || got.Get("iss") != h.Issuer || got.Get("code") == "" {
		t.Fatalf("authorization response %v", got)
	}
	status, tokens := redeem(t, h, got.Get("code"), pkce.Verifier)
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
	c := claims(t, tokens["id_token"].(string))
	if c["nonce"] != "n-web" || c["sid"] == nil || c["amr"] == nil {
		t.Errorf("ID token claims %v: want nonce n-web, a sid and amr", c)
	}
	// The sign-in started a session: the SPA client gets a code without a page.
	spa := enginetest.NewPKCE()
	resp, _ = b.get(authorizeURL(h, url.Values{"client_id": {spaID}, "redirect_uri": {"http://127.0.0.1:3001/cb"},
		"response_type": {"code"}, "scope": {"openid"}, "state": {"s2"}, "nonce": {"n2"},
		"code_challenge": {spa.Challenge}, "code_challenge_method": {"S256"}}))
	if got := redirectParams(t, resp, "http://127.0.0.1:3001/cb"); got.Get("code") == "" {
		t.Fatalf("second client within the session: %v, want a code", got)
	}
	// An authorization code is not an interaction code, and the other way round.
	if status, body := h.PostForm(t, h.Issuer+"/v1/token", url.Values{"grant_type": {"interaction_code"},
		"interaction_code": {got.Get("code")}, "client_id": {webID}, "client_secret": {webSecret}, "code_verifier": {pkce.Verifier}}); status == http.StatusOK {
		t.Errorf("an authorization code redeemed as an interaction code: %v", body)
	}
}

func TestHostedSignInCancelled(t *testing.T) {
	h := start(t, nil)
	b := hostedBrowser(t, h)
	q := webRequest(enginetest.NewPKCE())
	resp, page := b.get(authorizeURL(h, q))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	_, page = b.submit(h, page, "/signin/cancel", url.Values{})
	if !strings.Contains(page, "url=/signin/done") {
		t.Fatalf("after cancel, want the continue page:\n%s", page)
	}
	resp, _ = b.get(h.URL + "/signin/done")
	got := redirectParams(t, resp, webRedir)
	if got.Get("error") != "access_denied" || got.Get("state") != "st-web" || got.Get("iss") != h.Issuer {
		t.Errorf("cancelled sign-in answered %v, want access_denied with state and iss", got)
	}
}

func TestBackchannelLogoutReachesEveryClientOfTheSession(t *testing.T) {
	type notice struct {
		path  string
		token string
	}
	var mu sync.Mutex
	var got []notice
	refused := 0
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/web/backchannel" && refused == 0 {
			refused++ // the first delivery fails: the outbox must try again
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got = append(got, notice{r.URL.Path, r.PostForm.Get("logout_token")})
		w.WriteHeader(http.StatusOK)
	}))
	defer rp.Close()
	h := start(t, func(c *config.Config) {
		for i := range c.Clients {
			switch c.Clients[i].ID {
			case webID:
				c.Clients[i].BackchannelLogoutURI = rp.URL + "/web/backchannel"
			case enginetest.ClientID:
				c.Clients[i].BackchannelLogoutURI = rp.URL + "/idx/backchannel"
			}
		}
	})
	h.CreateUser(t, alice, alicePhone)
	b := newBrowser(t)
	tokens := signInWithIDX(t, h, b)
	sid := claims(t, tokens["id_token"].(string))["sid"]
	pkce := enginetest.NewPKCE()
	resp, _ := b.get(authorizeURL(h, webRequest(pkce)))
	if status, body := redeem(t, h, redirectParams(t, resp, webRedir).Get("code"), pkce.Verifier); status != http.StatusOK {
		t.Fatalf("web client token: %d %v", status, body)
	}
	resp, _ = b.get(h.Issuer + "/v1/logout?" + url.Values{"id_token_hint": {tokens["id_token"].(string)}}.Encode())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", resp.StatusCode)
	}

	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling for the outbox's delivery
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || refused != 1 {
		t.Fatalf("back-channel notices %v after %d refusals, want one per client, the web client's after a retry", got, refused)
	}
	keys := h.JWKS(t)
	for _, n := range got {
		want := map[string]string{"/web/backchannel": webID, "/idx/backchannel": enginetest.ClientID}[n.path]
		tok, err := jwt.ParseSigned(n.token, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatalf("logout token for %s: %v", n.path, err)
		}
		var c map[string]any
		if err := tok.Claims(keys, &c); err != nil {
			t.Fatalf("logout token for %s does not verify with the JWKS: %v", n.path, err)
		}
		events, _ := c["events"].(map[string]any)
		if c["iss"] != h.Issuer || c["aud"] != want || c["sid"] != sid || c["sub"] == nil || c["jti"] == nil ||
			events["http://schemas.openid.net/event/backchannel-logout"] == nil || c["nonce"] != nil {
			t.Errorf("logout token for %s: %v", n.path, c)
		}
	}
}
