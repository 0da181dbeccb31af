package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-id/gatehouse/engine/opaque"
)

// The authorization code flow (FlowCode). Every sign-in is a new browser: a cookie
// jar of its own, so that no session left by an earlier sign-in lets /v1/authorize
// answer without the pages. The app sends it to /v1/authorize (PKCE S256, state,
// nonce); it walks the hosted pages, posting each form with the CSRF token the page
// carries, and follows the engine's 303s to its own pages as a browser does; at
// GET /signin/done the engine redirects it to the app's redirect URI, which the
// bench reads from the Location header and never fetches; the app then redeems the
// code at /v1/token and checks state, iss and the ID token's nonce.
//
// Pages are read with a few byte searches, not an HTML parser: the bench shares the
// engine's cores and its own CPU time is taken from the engine.

// runCode walks one sign-in of user f.user through the hosted pages.
func (w *walker) runCode(ctx context.Context, f *flowState, res *flowResult) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	f.state, f.nonce = opaque.New(16), opaque.New(16)
	sum := sha256.Sum256([]byte(f.verifier))
	q := url.Values{
		"client_id": {w.c.clientID}, "redirect_uri": {w.c.redirectURI}, "response_type": {"code"}, "scope": {scopes},
		"state": {f.state}, "nonce": {f.nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}

	// 1. authorize: no session, so the engine starts a sign-in and sends the
	// browser to its pages.
	status, loc, err := w.browse(ctx, jar, PageAuthorize, res, http.MethodGet, w.c.oauthBase+"/v1/authorize?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if status != http.StatusSeeOther || !w.onEngine(loc) || loc.Path != "/signin" {
		return w.unexpected(PageAuthorize, status, "a redirect to /signin")
	}

	// 2. the sign-in page: username and password.
	if status, _, err = w.browse(ctx, jar, PageSignIn, res, http.MethodGet, loc.String(), nil); err != nil {
		return err
	}
	if status != http.StatusOK || !w.pageHas(`action="/signin/identify"`) {
		return w.unexpected(PageSignIn, status, "the sign-in form")
	}

	// 3. identify: the password is checked; the choice of authenticator.
	if err := w.submit(ctx, jar, PageIdentify, res, "/signin/identify",
		url.Values{"username": {userLogin(f.user)}, "password": {benchPassword}},
		`action="/signin/authenticator"`, "the choice of authenticator"); err != nil {
		return err
	}

	// 4. the phone, the only option: the choice of method.
	choice := w.attribute(`name="authenticator" value="`)
	if choice == "" {
		return &stepError{PageIdentify, "no authenticator to choose"}
	}
	if err := w.submit(ctx, jar, PageAuthenticator, res, "/signin/authenticator", url.Values{"authenticator": {choice}},
		`action="/signin/method"`, "the choice of method"); err != nil {
		return err
	}
	if !w.pageHas(`name="method" value="sms"`) {
		return &stepError{PageAuthenticator, "no SMS to choose"}
	}

	// 5. SMS: a code is sent; the code page.
	if err := w.submit(ctx, jar, PageMethod, res, "/signin/method", url.Values{"method": {"sms"}},
		`action="/signin/code"`, "the code page"); err != nil {
		return err
	}

	// The code, as the user would read it off their phone.
	lookupStart := time.Now()
	msgID, code, err := w.c.codes.latest(ctx, phoneNumber(f.user), w.lastMessage[f.user])
	res.codeLookup = time.Since(lookupStart)
	if err != nil {
		return &stepError{PageCode, "reading the code: " + err.Error()}
	}
	w.lastMessage[f.user] = msgID

	// 6. the code: the sign-in is over; the continue page.
	if err := w.submit(ctx, jar, PageCode, res, "/signin/code", url.Values{"code": {code}},
		`url=/signin/done`, "the continue page"); err != nil {
		return err
	}

	// 7. done, where the continue page's meta refresh goes: the redirect to the app.
	if status, loc, err = w.browse(ctx, jar, PageDone, res, http.MethodGet, w.c.origin+"/signin/done", nil); err != nil {
		return err
	}
	if status != http.StatusSeeOther || loc == nil {
		return w.unexpected(PageDone, status, "a redirect to the app")
	}
	if !sameEndpoint(loc, w.c.redirectURI) {
		return &stepError{PageDone, "redirected somewhere other than the redirect URI"}
	}
	back := loc.Query()
	switch {
	case back.Get("error") != "":
		return &stepError{PageDone, "the app got error " + bounded(back.Get("error"))}
	case back.Get("state") != f.state:
		return &stepError{PageDone, "the app got another state"}
	case back.Get("iss") != w.c.issuer:
		return &stepError{PageDone, "the app got another iss"}
	case back.Get("code") == "":
		return &stepError{PageDone, "the app got no code"}
	}

	// 8. token: the app redeems the code.
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {back.Get("code")}, "redirect_uri": {w.c.redirectURI},
		"code_verifier": {f.verifier},
	}
	authorization := ""
	if w.c.clientSecret != "" {
		// client_secret_basic: id and secret form-encoded, then Basic (RFC 6749 2.3.1).
		authorization = "Basic " + base64.StdEncoding.EncodeToString(
			[]byte(url.QueryEscape(w.c.clientID)+":"+url.QueryEscape(w.c.clientSecret)))
	} else {
		form.Set("client_id", w.c.clientID)
	}
	var tokens struct {
		AccessToken  string `json:"access_token"`
		IDToken      string `json:"id_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := w.call(ctx, PageToken, res, http.MethodPost, w.c.oauthBase+"/v1/token", formBody(form), authorization, &tokens); err != nil {
		return err
	}
	if tokens.AccessToken == "" || tokens.IDToken == "" || tokens.RefreshToken == "" {
		return &stepError{PageToken, "a token is missing"}
	}
	return w.checkIDToken(tokens.IDToken, f)
}

// checkIDToken checks the ID token is for this sign-in: its nonce, audience,
// issuer and user. The signature is the engine's business to get right and the
// app's to check; the bench only reads the claims, to keep its own CPU time low.
func (w *walker) checkIDToken(raw string, f *flowState) error {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256})
	if err != nil {
		return &stepError{PageToken, "the ID token is not a JWT"}
	}
	var c struct {
		Nonce             string `json:"nonce"`
		Issuer            string `json:"iss"`
		Audience          string `json:"aud"`
		PreferredUsername string `json:"preferred_username"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return &stepError{PageToken, "the ID token's claims cannot be read"}
	}
	switch {
	case c.Nonce != f.nonce:
		return &stepError{PageToken, "the ID token has another nonce"}
	case c.Issuer != w.c.issuer || c.Audience != w.c.clientID:
		return &stepError{PageToken, "the ID token is for another issuer or client"}
	case c.PreferredUsername != userLogin(f.user):
		return &stepError{PageToken, "the ID token is another user's"}
	}
	return nil
}

// submit posts a form of the page in w.buf to path, with the page's CSRF token,
// follows the engine's 303 to its next page, and checks that page contains want
// (what describes, for the error).
func (w *walker) submit(ctx context.Context, jar http.CookieJar, step PageStep, res *flowResult, path string, form url.Values, want, what string) error {
	csrf := w.attribute(`name="csrf" value="`)
	if csrf == "" {
		return &stepError{step, "no CSRF token on the page before"}
	}
	form.Set("csrf", csrf)
	status, loc, err := w.browse(ctx, jar, step, res, http.MethodPost, w.c.origin+path, form)
	if err != nil {
		return err
	}
	if status == http.StatusSeeOther && w.onEngine(loc) {
		// Post, redirect, get: the browser loads the next step's page.
		if status, _, err = w.browse(ctx, jar, step, res, http.MethodGet, loc.String(), nil); err != nil {
			return err
		}
	}
	if status != http.StatusOK || !w.pageHas(want) {
		return w.unexpected(step, status, what)
	}
	return nil
}

// browse makes one request as a browser does — the jar's cookies sent, the
// answer's kept — and adds its latency to step's. The body of the answer is in
// w.buf; loc is its Location, resolved, if any.
func (w *walker) browse(ctx context.Context, jar http.CookieJar, step PageStep, res *flowResult, method, u string, form url.Values) (status int, loc *url.URL, err error) {
	var req *http.Request
	if form != nil {
		req, err = http.NewRequestWithContext(ctx, method, u, strings.NewReader(form.Encode()))
	} else {
		req, err = http.NewRequestWithContext(ctx, method, u, nil)
	}
	if err != nil {
		return 0, nil, &stepError{step, "bad URL"}
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", w.c.origin)
	}
	for _, c := range jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	start := time.Now()
	status, header, err := w.conn.do(req, &w.buf)
	res.steps[step] += time.Since(start)
	if err != nil {
		return 0, nil, &stepError{step, transportFailure(err)}
	}
	if lines := header["Set-Cookie"]; len(lines) > 0 {
		cookies := make([]*http.Cookie, 0, len(lines))
		for _, line := range lines {
			if c, err := http.ParseSetCookie(line); err == nil {
				cookies = append(cookies, c)
			}
		}
		jar.SetCookies(req.URL, cookies)
	}
	if l := header.Get("Location"); l != "" {
		if loc, err = req.URL.Parse(l); err != nil {
			return 0, nil, &stepError{step, "unreadable Location"}
		}
	}
	return status, loc, nil
}

// onEngine reports whether u is on the engine's server.
func (w *walker) onEngine(u *url.URL) bool {
	return u != nil && u.Scheme == w.c.server.Scheme && u.Host == w.c.server.Host
}

// pageHas reports whether the page in w.buf contains s.
func (w *walker) pageHas(s string) bool { return bytes.Contains(w.buf.Bytes(), []byte(s)) }

// attribute is the HTML-unescaped attribute value that follows prefix (which ends
// with the value's opening quote) on the page in w.buf, or "".
func (w *walker) attribute(prefix string) string {
	page := w.buf.Bytes()
	i := bytes.Index(page, []byte(prefix))
	if i < 0 {
		return ""
	}
	rest := page[i+len(prefix):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return ""
	}
	return html.UnescapeString(string(rest[:end]))
}

// unexpected is the error of a step whose answer was not what wanted: its status
// and the title of the page it showed instead (titles are fixed texts, so the error
// counts stay few).
func (w *walker) unexpected(step PageStep, status int, wanted string) error {
	got := "HTTP " + strconv.Itoa(status)
	title := between(w.buf.Bytes(), `<h1 id="title">`, "</h1>")
	if title == "" {
		title = between(w.buf.Bytes(), "<h1>", "</h1>")
	}
	if title != "" {
		got += ` "` + bounded(title) + `"`
	}
	return &stepError{step, got + " instead of " + wanted}
}

// between is the HTML-unescaped text between the first open and the close after it.
func between(page []byte, open, close string) string {
	i := bytes.Index(page, []byte(open))
	if i < 0 {
		return ""
	}
	rest := page[i+len(open):]
	end := bytes.Index(rest, []byte(close))
	if end < 0 {
		return ""
	}
	return html.UnescapeString(string(rest[:end]))
}

// bounded cuts text from an answer short enough to key the error counts.
func bounded(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// sameEndpoint reports whether u is redirectURI with whatever query.
func sameEndpoint(u *url.URL, redirectURI string) bool {
	r, err := url.Parse(redirectURI)
	return err == nil && u.Scheme == r.Scheme && u.Host == r.Host && u.Path == r.Path
}
