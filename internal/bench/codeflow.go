package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net/http"
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
	jar := &pageJar{}
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
	if status == http.StatusSeeOther && loc != nil && sameEndpoint(loc, w.c.redirectURI) {
		// Sent straight back to the app: an error (a limit, a bad request), or a
		// session the fresh browser cannot have.
		if e := loc.Query().Get("error"); e != "" {
			return &stepError{PageAuthorize, "the app got error " + bounded(e)}
		}
		return &stepError{PageAuthorize, "the app got an answer without the pages"}
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
func (w *walker) submit(ctx context.Context, jar *pageJar, step PageStep, res *flowResult, path string, form url.Values, want, what string) error {
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
func (w *walker) browse(ctx context.Context, jar *pageJar, step PageStep, res *flowResult, method, u string, form url.Values) (status int, loc *url.URL, err error) {
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
	if cookies := jar.header(req.URL.Path); cookies != "" {
		req.Header.Set("Cookie", cookies)
	}
	req.Header.Set(StepHeader, step.String())
	start := time.Now()
	status, header, err := w.conn.do(req, &w.buf)
	res.steps[step] += time.Since(start)
	res.requests[step]++
	if err != nil {
		return 0, nil, &stepError{step, transportFailure(err)}
	}
	for _, line := range header["Set-Cookie"] {
		if c, err := http.ParseSetCookie(line); err == nil {
			jar.set(c, start)
		}
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

// pageJar is one browser's cookies for the engine's one host: what a browser's jar
// does for it — a cookie replaced by name and path, removed when it expires or is
// cleared, sent to the paths under its own — without net/http/cookiejar's domain
// and public-suffix work, which is most of its cost and has nothing to decide here.
type pageJar struct{ cookies []jarCookie }

type jarCookie struct {
	name, value, path string
	expires           time.Time // zero: until the browser closes
}

// set keeps c, received at now.
func (j *pageJar) set(c *http.Cookie, now time.Time) {
	path := c.Path
	if path == "" || path[0] != '/' {
		path = "/" // the engine always names a path; a default-path cookie is not worth the rules
	}
	kept := jarCookie{name: c.Name, value: c.Value, path: path}
	if c.Quoted {
		kept.value = `"` + c.Value + `"`
	}
	switch {
	case c.MaxAge < 0:
		kept.expires = now // cleared
	case c.MaxAge > 0:
		kept.expires = now.Add(time.Duration(c.MaxAge) * time.Second)
	case !c.Expires.IsZero():
		kept.expires = c.Expires
	}
	gone := !kept.expires.IsZero() && !kept.expires.After(now)
	for i, old := range j.cookies {
		if old.name == kept.name && old.path == kept.path {
			if gone {
				j.cookies = append(j.cookies[:i], j.cookies[i+1:]...)
			} else {
				j.cookies[i] = kept
			}
			return
		}
	}
	if !gone {
		j.cookies = append(j.cookies, kept)
	}
}

// header is the Cookie header for a request to path: the cookies whose path is
// path or one of its parents (RFC 6265 5.1.4), unexpired.
func (j *pageJar) header(path string) string {
	var b strings.Builder
	now := time.Time{}
	for _, c := range j.cookies {
		if !pathMatch(path, c.path) {
			continue
		}
		if !c.expires.IsZero() {
			if now.IsZero() {
				now = time.Now()
			}
			if !c.expires.After(now) {
				continue
			}
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.name)
		b.WriteByte('=')
		b.WriteString(c.value)
	}
	return b.String()
}

func pathMatch(requestPath, cookiePath string) bool {
	if !strings.HasPrefix(requestPath, cookiePath) {
		return false
	}
	return len(requestPath) == len(cookiePath) || strings.HasSuffix(cookiePath, "/") || requestPath[len(cookiePath)] == '/'
}
