package app

import (
	"context"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/idx"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// testApp is a real engine plus the app in front of it, over real HTTP.
type testApp struct {
	h     *enginetest.Harness
	url   string
	store *MemorySessionStore
}

// startApp starts an engine and the app; the app shares the engine's clock,
// so moving it past the 30-second resend rule moves the countdown too.
func startApp(t testing.TB, configure func(*config.Config)) *testApp {
	t.Helper()
	return newTestApp(t, appOptions{engine: configure})
}

// appOptions adjust newTestApp.
type appOptions struct {
	engine func(*config.Config) // changes the engine's configuration
	app    func(*Config)        // changes the app's configuration
	// maxSessions bounds the app's MemorySessionStore (0: its default).
	maxSessions int
	// front puts an engineFront between the app and the engine.
	front *engineFront
}

// newTestApp starts an engine (behind o.front if given) and the app.
func newTestApp(t testing.TB, o appOptions) *testApp {
	t.Helper()
	configure := o.engine
	if o.front != nil {
		configure = o.front.listen(t, o.engine)
	}
	h := enginetest.Start(t, enginetest.Options{Configure: configure})
	if o.front != nil {
		o.front.start(t, h)
	}
	store := NewMemorySessionStore(o.maxSessions)
	cfg := Config{
		Issuer: h.Issuer, ClientID: enginetest.ClientID, RedirectURI: enginetest.RedirectURI,
		Sessions: store, Now: h.Clock.Now, Logger: slog.New(slog.DiscardHandler),
	}
	if o.app != nil {
		o.app(&cfg)
	}
	handler, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return &testApp{h: h, url: srv.URL, store: store}
}

// agent is one browser: a cookie jar, no automatic redirects.
type agent struct {
	t    testing.TB
	base string
	c    *http.Client
	// header is added to every request, e.g. the X-Forwarded-For of a
	// proxy in front of the app.
	header http.Header
	// token is the sign-in form's CSRF token, read from the sign-in page
	// the first time the agent posts it.
	token string
}

func (ta *testApp) agent(t testing.TB) *agent {
	jar, _ := cookiejar.New(nil)
	return &agent{t: t, base: ta.url, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// reply is a response, read.
type reply struct {
	status   int
	location string
	header   http.Header
	body     string
}

func (a *agent) do(req *http.Request) reply {
	a.t.Helper()
	for k, vs := range a.header {
		req.Header[k] = vs
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, location: resp.Header.Get("Location"), header: resp.Header, body: string(b)}
}

func (a *agent) get(path string) reply {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.base+path, nil)
	return a.do(req)
}

// post posts a form as a browser does from the app's page: a sign-in form
// carries the page's CSRF token unless form has a "csrf" value of its own.
func (a *agent) post(path string, form url.Values) reply {
	a.t.Helper()
	if path == pathSignIn && !form.Has(formField) {
		form = cloneValues(form)
		form.Set(formField, a.formToken())
	}
	req, _ := http.NewRequest(http.MethodPost, a.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// What a browser sends with a form on the app's own page.
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", a.base)
	return a.do(req)
}

// formToken reads the sign-in form's token from the sign-in page once; it
// stays valid as long as the browser keeps its form cookie.
func (a *agent) formToken() string {
	a.t.Helper()
	if a.token == "" {
		r := a.get(pathSignIn)
		a.token = hiddenToken(a.t, r)
	}
	return a.token
}

// hiddenToken reads the CSRF token of the sign-in form on a page.
func hiddenToken(t testing.TB, r reply) string {
	t.Helper()
	_, rest, ok := strings.Cut(r.body, `name="csrf" value="`)
	if !ok {
		t.Fatalf("no CSRF token on the page (%d):\n%s", r.status, r.body)
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// expectRedirect checks r is a 303 to path and follows it.
func (a *agent) expectRedirect(r reply, path string) reply {
	a.t.Helper()
	if r.status != http.StatusSeeOther || r.location != path {
		a.t.Fatalf("want 303 to %s, got %d to %q:\n%s", path, r.status, r.location, r.body)
	}
	return a.get(path)
}

func expectPage(t testing.TB, r reply, status int, wants ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d:\n%s", r.status, status, r.body)
	}
	for _, w := range wants {
		if !strings.Contains(r.body, w) {
			t.Errorf("page lacks %q:\n%s", w, r.body)
		}
	}
}

func refuteText(t testing.TB, r reply, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(r.body, u) {
			t.Errorf("page shows %q but must not:\n%s", u, r.body)
		}
	}
}

// toCodePage signs login in up to the code page with method.
func (a *agent) toCodePage(login, method string) reply {
	a.t.Helper()
	r := a.expectRedirect(a.post("/login", url.Values{"username": {login}, "password": {enginetest.Password}}), pathSelect)
	r = a.expectRedirect(a.post(pathSelect, url.Values{"authenticator": {optionValue(a.t, r)}}), pathPhone)
	return a.expectRedirect(a.post(pathPhone, url.Values{"method": {method}}), pathCode)
}

// optionValue reads the value of the first authenticator button.
func optionValue(t testing.TB, r reply) string {
	t.Helper()
	_, rest, ok := strings.Cut(r.body, `name="authenticator" value="`)
	if !ok {
		t.Fatalf("no authenticator option on the page:\n%s", r.body)
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

func TestSignInPage(t *testing.T) {
	ta := startApp(t, nil)
	a := ta.agent(t)
	if r := a.get("/"); r.status != http.StatusSeeOther || r.location != pathSignIn {
		t.Fatalf("GET / when signed out: %d %q", r.status, r.location)
	}
	r := a.get(pathSignIn)
	expectPage(t, r, http.StatusOK,
		`<h1 id="title">Sign in</h1>`,
		`<label for="username">Username</label>`, `id="username" name="username"`, `autocomplete="username"`, "autofocus",
		`<label for="password">Password</label>`, `type="password" autocomplete="current-password"`,
		`<form method="post" action="/login"`, `<link rel="stylesheet" href="/static/app.css">`)
	refuteText(t, r, "<script", "style=")
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	ta := startApp(t, nil)
	a := ta.agent(t)
	for _, r := range []reply{a.get(pathSignIn), a.get("/"), a.get("/static/app.css"), a.get("/nowhere"), a.post("/login", url.Values{})} {
		if got := r.header.Get("Content-Security-Policy"); got != contentSecurityPolicy {
			t.Errorf("CSP = %q", got)
		}
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
			if !strings.Contains(r.header.Get("Content-Security-Policy"), want) {
				t.Errorf("CSP lacks %s", want)
			}
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") != "no-referrer" || r.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("headers: %v", r.header)
		}
	}
	if r := a.get(pathSignIn); r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("sign-in page Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	if r := a.get("/static/countdown.js"); r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") {
		t.Errorf("countdown.js: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if r := a.get("/nowhere"); r.status != http.StatusNotFound || !strings.Contains(r.body, "Page not found") {
		t.Errorf("unknown path: %d", r.status)
	}
}

func TestCrossSitePostsAreRefused(t *testing.T) {
	ta := startApp(t, nil)
	a := ta.agent(t)
	for name, set := range map[string]func(*http.Request){
		"Sec-Fetch-Site": func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") },
		"Origin":         func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
	} {
		for _, path := range []string{"/login", pathCode, "/login/resend", "/login/cancel", "/logout"} {
			req, _ := http.NewRequest(http.MethodPost, a.base+path, strings.NewReader("username=alice&password=x"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			set(req)
			r := a.do(req)
			if r.status != http.StatusForbidden || !strings.Contains(r.body, "sent from another site") {
				t.Errorf("%s cross-site POST %s: %d", name, path, r.status)
			}
		}
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	const httpsRedirect = "https://app.example.com/login/callback"
	ta := startApp(t, func(c *config.Config) {
		c.Clients[0].RedirectURIs = append(c.Clients[0].RedirectURIs, httpsRedirect)
	})
	ta.h.CreateUser(t, "cookie@example.com", "+12015550140")
	a := ta.agent(t)
	r := a.post("/login", url.Values{"username": {"cookie@example.com"}, "password": {enginetest.Password}})
	c := r.header.Get("Set-Cookie")
	if !strings.HasPrefix(c, "gatehouse_session=") || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") ||
		!strings.Contains(c, "Path=/") || strings.Contains(c, "Secure") {
		t.Errorf("http app cookie: %s", c)
	}

	// Served over https (by its redirect URI), the cookies are Secure and
	// host-only (__Host- prefix): the sign-in form's cookie, then the
	// session's once a sign-in starts.
	handler, err := New(Config{Issuer: ta.h.Issuer, ClientID: enginetest.ClientID, RedirectURI: httpsRedirect,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://app.example.com/login", nil))
	form := rec.Result().Cookies()
	if c := rec.Header().Get("Set-Cookie"); len(form) != 1 || !strings.HasPrefix(c, "__Host-gatehouse_form=") || !strings.Contains(c, "Secure") ||
		!strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") || !strings.Contains(c, "Path=/") {
		t.Fatalf("https form cookie: %s", c)
	}
	token := hiddenToken(t, reply{body: rec.Body.String()})
	req := httptest.NewRequest(http.MethodPost, "https://app.example.com/login", strings.NewReader(url.Values{
		"username": {"cookie@example.com"}, "password": {enginetest.Password}, "csrf": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(form[0])
	rec = httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	if c := rec.Header().Get("Set-Cookie"); rec.Code != http.StatusSeeOther || !strings.HasPrefix(c, "__Host-gatehouse_session=") ||
		!strings.Contains(c, "Secure") || !strings.Contains(c, "HttpOnly") {
		t.Errorf("https sign-in: %d, cookie %s", rec.Code, c)
	}
}

func TestBlankFieldsAreAskedFor(t *testing.T) {
	ta := startApp(t, nil)
	a := ta.agent(t)
	r := a.post("/login", url.Values{"username": {"  "}, "password": {""}})
	expectPage(t, r, http.StatusUnprocessableEntity, "Enter your username.", "Enter your password.",
		`aria-invalid="true" aria-describedby="username-error"`, `id="username-error" role="alert"`,
		`aria-describedby="password-error"`)
}

func TestWrongPasswordKeepsTheUsernameButNotThePassword(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "wrongpw@example.com", "+12015550141")
	a := ta.agent(t)
	r := a.post("/login", url.Values{"username": {"wrongpw@example.com"}, "password": {"not-the-password-123"}})
	expectPage(t, r, http.StatusUnprocessableEntity,
		`role="alert" id="form-error"`, "That username and password don&#39;t match.",
		`value="wrongpw@example.com"`, `aria-describedby="form-error"`)
	refuteText(t, r, "not-the-password-123", "Authentication failed")
	// The transaction of the failed attempt is reused by the next one.
	a.expectRedirect(a.post("/login", url.Values{"username": {"wrongpw@example.com"}, "password": {enginetest.Password}}), pathSelect)
}

func TestTooManyWrongPasswords(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "guessed@example.com", "+12015550142")
	a := ta.agent(t)
	var r reply
	for i := 0; i < 12; i++ {
		r = a.post("/login", url.Values{"username": {"guessed@example.com"}, "password": {"wrong-password"}})
		if r.status == http.StatusTooManyRequests {
			break
		}
	}
	expectPage(t, r, http.StatusTooManyRequests, "Too many sign-in attempts.", `value="guessed@example.com"`)
}

func TestSMSPathToTheProfile(t *testing.T) {
	ta := startApp(t, nil)
	u := ta.h.CreateUser(t, "sms@example.com", "+12015550143")
	a := ta.agent(t)

	r := a.expectRedirect(a.post("/login", url.Values{"username": {"sms@example.com"}, "password": {enginetest.Password}}), pathSelect)
	expectPage(t, r, http.StatusOK, "Step 2 of 4", "Verify it&#39;s you", "Signing in as", "sms@example.com",
		`class="option-title">Phone</span>`, "&#43;1 XXX-XXX-0143", "autofocus")

	r = a.expectRedirect(a.post(pathSelect, url.Values{"authenticator": {optionValue(t, r)}}), pathPhone)
	expectPage(t, r, http.StatusOK, "Step 3 of 4", "Verify with your phone", "&#43;1 XXX-XXX-0143",
		"<legend>How should we send it?</legend>", `value="sms" checked autofocus`, `value="voice"`, "Voice call", ">Next<")

	r = a.expectRedirect(a.post(pathPhone, url.Values{"method": {"sms"}}), pathCode)
	expectPage(t, r, http.StatusOK, "Step 4 of 4", "Enter code", "We sent a text message with a code to", "&#43;1 XXX-XXX-0143",
		`<label for="code">Verification code</label>`, `inputmode="numeric"`, `autocomplete="one-time-code"`, ">Verify<",
		`data-wait-seconds="30"`, `disabled data-wait aria-describedby="resend-wait"`, "You can ask for a new code in", "Send again", "Call me instead", "Back to sign in", `<script src="/static/countdown.js" defer>`)

	code := ta.h.LatestCode(t, "+12015550143")
	r = a.post(pathCode, url.Values{"code": {code[:3] + " " + code[3:]}}) // pasted with a space
	if r.status != http.StatusSeeOther || r.location != "/" {
		t.Fatalf("right code: %d %q\n%s", r.status, r.location, r.body)
	}
	r = a.get("/")
	expectPage(t, r, http.StatusOK, "Welcome, Test User", "sms@example.com", u.ID, "Access token expires", "UTC", "in 60 minutes",
		"Password and text message", `action="/logout"`)
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("profile Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	// Signed in, the sign-in page sends to the profile.
	if r := a.get(pathSignIn); r.location != "/" {
		t.Errorf("GET /login when signed in: %d %q", r.status, r.location)
	}
}

func TestVoicePathToTheProfile(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "voice@example.com", "+12015550144")
	a := ta.agent(t)
	r := a.toCodePage("voice@example.com", "voice")
	expectPage(t, r, http.StatusOK, "We're calling", "&#43;1 XXX-XXX-0144", "Call again", "Text me instead", `data-wait-seconds="30"`)
	if got := ta.h.Outbox(t, "+12015550144")[0].Channel; got != "voice" {
		t.Errorf("channel %q, want voice", got)
	}
	a.expectRedirect(a.post(pathCode, url.Values{"code": {ta.h.LatestCode(t, "+12015550144")}}), "/")
	expectPage(t, a.get("/"), http.StatusOK, "voice@example.com", "Password and voice call")
}

func TestWrongCodeThenTheRightOne(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "typo@example.com", "+12015550145")
	a := ta.agent(t)
	a.toCodePage("typo@example.com", "sms")
	code := ta.h.LatestCode(t, "+12015550145")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	r := a.post(pathCode, url.Values{"code": {wrong}})
	expectPage(t, r, http.StatusUnprocessableEntity, "That code isn&#39;t right.", `id="code-error" role="alert"`,
		`aria-invalid="true" aria-describedby="code-error"`, `value="`+wrong+`"`)
	refuteText(t, r, "Invalid code. Try again.")
	a.expectRedirect(a.post(pathCode, url.Values{"code": {code}}), "/")
}

func TestBlankCode(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "blank@example.com", "+12015550146")
	a := ta.agent(t)
	a.toCodePage("blank@example.com", "sms")
	expectPage(t, a.post(pathCode, url.Values{"code": {" "}}), http.StatusUnprocessableEntity, "Enter the code we sent you.")
}

func TestFiveWrongCodesLockThePhone(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "locked@example.com", "+12015550147")
	a := ta.agent(t)
	a.toCodePage("locked@example.com", "sms")
	code := ta.h.LatestCode(t, "+12015550147")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	var r reply
	for i := 0; i < 5; i++ {
		r = a.post(pathCode, url.Values{"code": {wrong}})
	}
	expectPage(t, r, http.StatusTooManyRequests, "Too many incorrect codes. Phone verification is locked for 5 minutes.")
	// Locked: even the right code is refused, on the same page.
	expectPage(t, a.post(pathCode, url.Values{"code": {code}}), http.StatusTooManyRequests, "Too many incorrect codes.")
}

func TestExpiredCode(t *testing.T) {
	ta := startApp(t, func(c *config.Config) { c.Phone.CodeTTL = 30 * time.Second })
	ta.h.CreateUser(t, "late@example.com", "+12015550148")
	a := ta.agent(t)
	a.toCodePage("late@example.com", "sms")
	code := ta.h.LatestCode(t, "+12015550148")
	ta.h.Clock.Advance(31 * time.Second)
	expectPage(t, a.post(pathCode, url.Values{"code": {code}}), http.StatusUnprocessableEntity,
		"That code has expired or was replaced by a newer one. Ask for a new code.", "Send again</button>")
}

func TestResend(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "resend@example.com", "+12015550149")
	a := ta.agent(t)
	r := a.toCodePage("resend@example.com", "sms")
	expectPage(t, r, http.StatusOK, `Send again</button>`, `disabled data-wait`, `data-wait-seconds="30"`)

	// Too early: the engine refuses, the page says so.
	r = a.post("/login/resend", nil)
	expectPage(t, r, http.StatusTooManyRequests, "Too many text messages were sent to this phone.", "Enter code")
	if n := len(ta.h.Outbox(t, "+12015550149")); n != 1 {
		t.Fatalf("%d messages after an early resend, want 1", n)
	}

	ta.h.Clock.Advance(31 * time.Second)
	r = a.get(pathCode)
	expectPage(t, r, http.StatusOK, `<button type="submit" class="btn btn-secondary">Send again</button>`)
	refuteText(t, r, "data-wait-seconds", "countdown.js")

	old := ta.h.LatestCode(t, "+12015550149")
	r = a.expectRedirect(a.post("/login/resend", nil), pathCode)
	expectPage(t, r, http.StatusOK, `role="status">We sent you a new code.`, `data-wait-seconds="30"`)
	if n := len(ta.h.Outbox(t, "+12015550149")); n != 2 {
		t.Fatalf("%d messages after resend, want 2", n)
	}
	if fresh := ta.h.LatestCode(t, "+12015550149"); fresh != old {
		// A resend replaces the previous code.
		expectPage(t, a.post(pathCode, url.Values{"code": {old}}), http.StatusUnprocessableEntity, "That code isn&#39;t right.")
	}
	a.expectRedirect(a.post(pathCode, url.Values{"code": {ta.h.LatestCode(t, "+12015550149")}}), "/")
}

func TestCallMeInstead(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "switch@example.com", "+12015550150")
	a := ta.agent(t)
	a.toCodePage("switch@example.com", "sms")

	// Within 30 seconds of the text, the engine refuses a call too.
	r := a.post("/login/switch", url.Values{"method": {"voice"}})
	expectPage(t, r, http.StatusTooManyRequests, "Too many calls were made to this phone.")

	ta.h.Clock.Advance(31 * time.Second)
	r = a.expectRedirect(a.post("/login/switch", url.Values{"method": {"voice"}}), pathCode)
	expectPage(t, r, http.StatusOK, "We&#39;re calling you now with a new code.", "We're calling", "Text me instead", "Call again", `data-wait-seconds="30"`)
	msgs := ta.h.Outbox(t, "+12015550150")
	if len(msgs) != 2 || msgs[0].Channel != "voice" {
		t.Fatalf("outbox after switching: %+v", msgs)
	}
	a.expectRedirect(a.post(pathCode, url.Values{"code": {msgs[0].Code}}), "/")
	expectPage(t, a.get("/"), http.StatusOK, "Password and voice call")
}

// TestTwoPhones: the select page lists each phone with its masked number; the
// second one chosen gets the code, and "call me instead" calls that phone.
func TestTwoPhones(t *testing.T) {
	ta := startApp(t, nil)
	u := ta.h.CreateUser(t, "two@example.com", "+12015550161")
	if err := ta.h.Store.CreatePhoneEnrollment(context.Background(), store.PhoneEnrollment{
		ID: "smsTWOsecond", UserID: u.ID, Number: "+12015550162", SMS: true, Voice: true, CreatedAt: time.Now().Add(time.Second),
	}); err != nil {
		t.Fatal(err)
	}
	a := ta.agent(t)
	r := a.expectRedirect(a.post("/login", url.Values{"username": {"two@example.com"}, "password": {enginetest.Password}}), pathSelect)
	expectPage(t, r, http.StatusOK, "&#43;1 XXX-XXX-0161", `name="authenticator" value="smsTWOsecond"`, "&#43;1 XXX-XXX-0162")
	if strings.Count(r.body, `class="option-title">Phone</span>`) != 2 {
		t.Fatalf("want two phones on the page:\n%s", r.body)
	}

	r = a.expectRedirect(a.post(pathSelect, url.Values{"authenticator": {"smsTWOsecond"}}), pathPhone)
	expectPage(t, r, http.StatusOK, "&#43;1 XXX-XXX-0162")
	r = a.expectRedirect(a.post(pathPhone, url.Values{"method": {"sms"}}), pathCode)
	expectPage(t, r, http.StatusOK, "&#43;1 XXX-XXX-0162", "Call me instead")
	if n1, n2 := len(ta.h.Outbox(t, "+12015550161")), len(ta.h.Outbox(t, "+12015550162")); n1 != 0 || n2 != 1 {
		t.Fatalf("texts: %d to the first phone, %d to the second; want 0 and 1", n1, n2)
	}

	ta.h.Clock.Advance(31 * time.Second)
	r = a.expectRedirect(a.post("/login/switch", url.Values{"method": {"voice"}}), pathCode)
	expectPage(t, r, http.StatusOK, "We're calling", "&#43;1 XXX-XXX-0162", "Text me instead")
	msgs := ta.h.Outbox(t, "+12015550162")
	if len(msgs) != 2 || msgs[0].Channel != "voice" || len(ta.h.Outbox(t, "+12015550161")) != 0 {
		t.Fatalf("after calling: outbox of the second phone %+v", msgs)
	}
	a.expectRedirect(a.post(pathCode, url.Values{"code": {msgs[0].Code}}), "/")
}

// TestTextMeInstead switches a voice call to a text message.
func TestTextMeInstead(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "totext@example.com", "+12015550163")
	a := ta.agent(t)
	a.toCodePage("totext@example.com", "voice")
	ta.h.Clock.Advance(31 * time.Second)
	r := a.expectRedirect(a.post("/login/switch", url.Values{"method": {"sms"}}), pathCode)
	expectPage(t, r, http.StatusOK, "We sent a new code by text message.", "We sent a text message", "Call me instead", "Send again")
	msgs := ta.h.Outbox(t, "+12015550163")
	if len(msgs) != 2 || msgs[0].Channel != "sms" {
		t.Fatalf("outbox after switching: %+v", msgs)
	}
	a.expectRedirect(a.post(pathCode, url.Values{"code": {msgs[0].Code}}), "/")
	expectPage(t, a.get("/"), http.StatusOK, "Password and text message")
}

// TestSwitchMethodRefused: a method that is not sms or voice, or a switch
// posted away from the code step, changes nothing.
func TestSwitchMethodRefused(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "pigeon@example.com", "+12015550164")
	a := ta.agent(t)
	a.toCodePage("pigeon@example.com", "sms")
	ta.h.Clock.Advance(31 * time.Second)
	expectPage(t, a.post("/login/switch", url.Values{"method": {"pigeon"}}), http.StatusUnprocessableEntity,
		"That way of getting a code isn&#39;t available here.", "Enter code")
	if n := len(ta.h.Outbox(t, "+12015550164")); n != 1 {
		t.Fatalf("%d messages after a refused switch, want 1", n)
	}
}

func TestBackToSignIn(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "cancel@example.com", "+12015550151")
	a := ta.agent(t)
	a.toCodePage("cancel@example.com", "sms")
	r := a.expectRedirect(a.post("/login/cancel", nil), pathSignIn)
	expectPage(t, r, http.StatusOK, `<h1 id="title">Sign in</h1>`, `value="cancel@example.com"`)
	if r := a.get(pathCode); r.status != http.StatusSeeOther || r.location != pathSignIn {
		t.Errorf("code page after cancel: %d %q", r.status, r.location)
	}
	// Back on the select page works the same.
	ta.h.Clock.Advance(31 * time.Second)
	r = a.expectRedirect(a.post("/login", url.Values{"username": {"cancel@example.com"}, "password": {enginetest.Password}}), pathSelect)
	a.expectRedirect(a.post("/login/cancel", nil), pathSignIn)
}

func TestExpiredTransactionGoesBackToSignIn(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "slow@example.com", "+12015550152")
	a := ta.agent(t)
	a.toCodePage("slow@example.com", "sms")
	code := ta.h.LatestCode(t, "+12015550152")
	ta.h.Clock.Advance(31 * time.Minute)

	r := a.expectRedirect(a.post(pathCode, url.Values{"code": {code}}), pathSignIn)
	expectPage(t, r, http.StatusOK, `class="alert alert-error" role="alert">Your sign-in expired before it was finished. Please sign in again.`,
		`value="slow@example.com"`)
	// The notice is shown once.
	refuteText(t, a.get(pathSignIn), "expired")
	// Step pages without a transaction send to the sign-in page.
	for _, p := range []string{pathSelect, pathPhone, pathCode, pathEnroll} {
		if r := a.get(p); r.status != http.StatusSeeOther || r.location != pathSignIn {
			t.Errorf("GET %s: %d %q", p, r.status, r.location)
		}
	}
}

func TestExpiredTransactionOnAStepPage(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "idle@example.com", "+12015550153")
	a := ta.agent(t)
	a.expectRedirect(a.post("/login", url.Values{"username": {"idle@example.com"}, "password": {enginetest.Password}}), pathSelect)
	ta.h.Clock.Advance(31 * time.Minute)
	r := a.expectRedirect(a.get(pathSelect), pathSignIn)
	expectPage(t, r, http.StatusOK, "Your sign-in expired before it was finished.")
}

func TestSignOutRevokesTheTokens(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "bye@example.com", "+12015550154")
	a := ta.agent(t)
	a.toCodePage("bye@example.com", "sms")
	a.expectRedirect(a.post(pathCode, url.Values{"code": {ta.h.LatestCode(t, "+12015550154")}}), "/")
	sess := a.session(ta)
	if sess.Tokens == nil || sess.Tokens.RefreshToken == "" {
		t.Fatalf("no tokens in the session: %+v", sess)
	}

	r := a.expectRedirect(a.post("/logout", nil), pathSignIn)
	expectPage(t, r, http.StatusOK, `role="status">You have signed out.`)
	refuteText(t, r, "bye@example.com")
	if r := a.get("/"); r.status != http.StatusSeeOther || r.location != pathSignIn {
		t.Errorf("GET / after sign-out: %d %q", r.status, r.location)
	}
	client, _ := idx.NewClient(idx.Config{Issuer: ta.h.Issuer, ClientID: enginetest.ClientID, RedirectURI: enginetest.RedirectURI})
	if _, err := client.UserInfo(context.Background(), sess.Tokens.AccessToken); err == nil {
		t.Error("the access token still works after sign-out")
	}
	if _, err := client.Refresh(context.Background(), sess.Tokens.RefreshToken); err == nil {
		t.Error("the refresh token still works after sign-out")
	}
}

func TestSessionIDChangesAtSignIn(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "fixate@example.com", "+12015550155")
	a := ta.agent(t)
	a.toCodePage("fixate@example.com", "sms")
	before := a.cookie()
	a.expectRedirect(a.post(pathCode, url.Values{"code": {ta.h.LatestCode(t, "+12015550155")}}), "/")
	if after := a.cookie(); after == before || after == "" {
		t.Errorf("session id kept across sign-in")
	}
	if _, err := ta.store.Load(context.Background(), storeKey(before)); err == nil {
		t.Error("the pre-sign-in session still exists")
	}
}

func TestExpiredAccessTokenIsRefreshed(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "refresh@example.com", "+12015550156")
	a := ta.agent(t)
	a.toCodePage("refresh@example.com", "sms")
	a.expectRedirect(a.post(pathCode, url.Values{"code": {ta.h.LatestCode(t, "+12015550156")}}), "/")
	before := a.session(ta).Tokens.AccessToken
	// A revoked access token is refused by userinfo exactly as an expired
	// one (invalid_token); moving the engine clock an hour ahead instead
	// would make the refreshed ID token's iat fail the SDK's real-time check.
	client, _ := idx.NewClient(idx.Config{Issuer: ta.h.Issuer, ClientID: enginetest.ClientID, RedirectURI: enginetest.RedirectURI})
	if err := client.Revoke(context.Background(), before, "access_token"); err != nil {
		t.Fatal(err)
	}
	expectPage(t, a.get("/"), http.StatusOK, "refresh@example.com")
	if a.session(ta).Tokens.AccessToken == before {
		t.Error("the access token was not refreshed")
	}
}

func TestRevokedTokensEndTheSession(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "revoked@example.com", "+12015550159")
	a := ta.agent(t)
	a.toCodePage("revoked@example.com", "sms")
	a.expectRedirect(a.post(pathCode, url.Values{"code": {ta.h.LatestCode(t, "+12015550159")}}), "/")
	tokens := a.session(ta).Tokens
	client, _ := idx.NewClient(idx.Config{Issuer: ta.h.Issuer, ClientID: enginetest.ClientID, RedirectURI: enginetest.RedirectURI})
	for _, tok := range []struct{ value, hint string }{{tokens.RefreshToken, "refresh_token"}, {tokens.AccessToken, "access_token"}} {
		if err := client.Revoke(context.Background(), tok.value, tok.hint); err != nil {
			t.Fatal(err)
		}
	}
	r := a.expectRedirect(a.get("/"), pathSignIn)
	expectPage(t, r, http.StatusOK, "Your session has ended. Please sign in again.")
}

func TestCodeAskedForTooSoonAfterStartingOver(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "again@example.com", "+12015550160")
	a := ta.agent(t)
	a.toCodePage("again@example.com", "sms")
	a.expectRedirect(a.post("/login/cancel", nil), pathSignIn)
	r := a.expectRedirect(a.post("/login", url.Values{"username": {"again@example.com"}, "password": {enginetest.Password}}), pathSelect)
	a.expectRedirect(a.post(pathSelect, url.Values{"authenticator": {optionValue(t, r)}}), pathPhone)
	r = a.post(pathPhone, url.Values{"method": {"sms"}})
	expectPage(t, r, http.StatusTooManyRequests, "Verify with your phone", "Too many text messages were sent to this phone.",
		`role="alert" id="form-error"`, `aria-describedby="form-error"`)
}

func TestEnrollAPhoneWhileSigningIn(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "nophone@example.com", "")
	a := ta.agent(t)
	r := a.expectRedirect(a.post("/login", url.Values{"username": {"nophone@example.com"}, "password": {enginetest.Password}}), pathSelect)
	// The engine offers the phone and, with sign_on.totp on (its default), the
	// authenticator app.
	expectPage(t, r, http.StatusOK, "Set up two-step verification", "Phone", "Google Authenticator", `value="phone_number"`)
	r = a.expectRedirect(a.post(pathSelect, url.Values{"authenticator": {"phone_number"}}), pathEnroll)
	expectPage(t, r, http.StatusOK, "Add your phone", `<label for="phone">Phone number</label>`, `type="tel"`, `autocomplete="tel"`)

	r = a.post(pathEnroll, url.Values{"phone": {"12"}, "method": {"sms"}})
	expectPage(t, r, http.StatusUnprocessableEntity, "That doesn&#39;t look like a phone number.", `value="12"`)
	r = a.post(pathEnroll, url.Values{"phone": {""}, "method": {""}})
	expectPage(t, r, http.StatusUnprocessableEntity, "Enter your phone number.", "Choose how to get your code.")

	r = a.expectRedirect(a.post(pathEnroll, url.Values{"phone": {"+1 201 555 0157"}, "method": {"sms"}}), pathCode)
	expectPage(t, r, http.StatusOK, "Enter code", "Send again", `data-wait-seconds="30"`)
	refuteText(t, r, "Call me instead")
	a.expectRedirect(a.post(pathCode, url.Values{"code": {ta.h.LatestCode(t, "+12015550157")}}), "/")
}

// TestEnrollOnlyAPhone: with the authenticator app off, the phone is the one
// factor to set up, and the page says so.
func TestEnrollOnlyAPhone(t *testing.T) {
	ta := startApp(t, func(c *config.Config) { c.SignOn.TOTP = false })
	ta.h.CreateUser(t, "phoneonly@example.com", "")
	a := ta.agent(t)
	r := a.expectRedirect(a.post("/login", url.Values{"username": {"phoneonly@example.com"}, "password": {enginetest.Password}}), pathSelect)
	expectPage(t, r, http.StatusOK, "Set up phone verification", "Phone")
	refuteText(t, r, "Google Authenticator")
	r = a.expectRedirect(a.post(pathSelect, url.Values{"authenticator": {optionValue(t, r)}}), pathEnroll)
	expectPage(t, r, http.StatusOK, "Add your phone")
}

func TestInvalidChoices(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "choices@example.com", "+12015550158")
	a := ta.agent(t)
	a.expectRedirect(a.post("/login", url.Values{"username": {"choices@example.com"}, "password": {enginetest.Password}}), pathSelect)
	expectPage(t, a.post(pathSelect, url.Values{"authenticator": {"okta_verify"}}), http.StatusUnprocessableEntity, "That option isn&#39;t available.")
	expectPage(t, a.post(pathSelect, url.Values{}), http.StatusUnprocessableEntity, "Choose how you want to verify.")
	a.expectRedirect(a.post(pathSelect, url.Values{"authenticator": {"phone_number"}}), pathPhone)
	expectPage(t, a.post(pathPhone, url.Values{"method": {"pigeon"}}), http.StatusUnprocessableEntity, "Choose how to get your code.",
		`aria-describedby="method-error"`)
	// A POST for another step lands on the current one.
	if r := a.post(pathCode, url.Values{"code": {"123456"}}); r.status != http.StatusSeeOther || r.location != pathPhone {
		t.Errorf("code posted at the phone step: %d %q", r.status, r.location)
	}
}

func TestEngineUnreachable(t *testing.T) {
	handler, err := New(Config{Issuer: "http://127.0.0.1:1/oauth2/default", ClientID: "x", RedirectURI: "http://127.0.0.1:3000/login/callback",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	defer srv.Close()
	a := (&testApp{url: srv.URL}).agent(t)
	expectPage(t, a.post("/login", url.Values{"username": {"a@example.com"}, "password": {"pw"}}), http.StatusBadGateway,
		"We can&#39;t sign you in right now")
}

func TestUnsupportedStep(t *testing.T) {
	s := &server{pages: mustPages(t), now: time.Now, resendInterval: 30 * time.Second, log: slog.New(slog.DiscardHandler)}
	rec := httptest.NewRecorder()
	tx := &idx.Transaction{Status: idx.StatusPending, NextStep: &idx.NextStep{Name: "redirect-idp"}}
	s.renderStep(rec, httptest.NewRequest(http.MethodGet, pathUnsupported, nil), &visit{sess: &Session{Username: "u@example.com"}}, tx, newFormErrors(), nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "<code>redirect-idp</code>") || !strings.Contains(rec.Body.String(), "Back to sign in") {
		t.Errorf("unsupported step page: %d\n%s", rec.Code, rec.Body)
	}
	if pageFor(&idx.NextStep{Name: "redirect-idp"}, idx.FlowAuthenticate) != pathUnsupported {
		t.Error("unknown steps must land on the unsupported page")
	}
}

func TestMessagesInHumanWords(t *testing.T) {
	cases := []struct {
		msg  idx.Message
		want string
	}{
		{idx.Message{Key: "errors.E0000004", Text: "Authentication failed"}, "That username and password don't match."},
		{idx.Message{Key: "oie.tooManyRequests", Params: []any{"4"}}, "locked for 4 minutes"},
		{idx.Message{Key: "oie.tooManyRequests"}, "locked for a few minutes"},
		{idx.Message{Key: "gatehouse.phone.refused", Text: "Codes cannot be sent to premium-rate numbers."}, "Codes cannot be sent to premium-rate numbers."},
		{idx.Message{Key: "some.unknown.key", Text: "The server's own words."}, "The server's own words."},
		{idx.Message{}, "Something went wrong."},
	}
	for _, c := range cases {
		if got := humanText(c.msg, 0); !strings.Contains(got, c.want) {
			t.Errorf("humanText(%+v) = %q, want it to contain %q", c.msg, got, c.want)
		}
	}
	// With the server's wait, rate limits say it instead of "a little".
	waits := []struct {
		msg  idx.Message
		wait time.Duration
		want string
	}{
		{idx.Message{Key: "tooManyRequests"}, 42 * time.Second, "Too many sign-in attempts. Try again in 42 seconds."},
		{idx.Message{Key: "errors.E0000150"}, 1500 * time.Millisecond, "You can ask for a new code in 2 seconds."},
		{idx.Message{Key: "errors.E0000151"}, time.Second, "You can ask for a new code in 1 second."},
		{idx.Message{Key: "E0000047"}, 10 * time.Minute, "Try again in 10 minutes."},
		{idx.Message{Key: "errors.E0000004"}, time.Minute, "That username and password don't match."},
	}
	for _, c := range waits {
		if got := humanText(c.msg, c.wait); !strings.Contains(got, c.want) {
			t.Errorf("humanText(%+v, %v) = %q, want it to contain %q", c.msg, c.wait, got, c.want)
		}
	}
}

func TestMemorySessionStore(t *testing.T) {
	ctx := context.Background()
	m := NewMemorySessionStore(2)
	now := time.Now()
	m.now = func() time.Time { return now }
	if err := m.Save(ctx, "a", &Session{Username: "a"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	s, err := m.Load(ctx, "a")
	if err != nil || s.Username != "a" {
		t.Fatalf("Load: %+v %v", s, err)
	}
	s.Username = "changed" // callers get copies
	if s2, _ := m.Load(ctx, "a"); s2.Username != "a" {
		t.Error("the store shares its sessions with callers")
	}
	now = now.Add(2 * time.Minute) // "a" expires
	if _, err := m.Load(ctx, "a"); err != ErrSessionNotFound {
		t.Errorf("expired session: %v", err)
	}
	_ = m.Save(ctx, "b", &Session{}, time.Hour)
	_ = m.Delete(ctx, "b")
	if _, err := m.Load(ctx, "b"); err != ErrSessionNotFound || m.Len() != 0 {
		t.Errorf("after Delete: %v, %d sessions", err, m.Len())
	}
}

// TestMemorySessionStoreEvictsSignInsNotSignedIn: a full store makes room
// for a new session by dropping the sign-in in progress unused longest,
// never a signed-in session; only a store full of those refuses.
func TestMemorySessionStoreEvictsSignInsNotSignedIn(t *testing.T) {
	ctx := context.Background()
	m := NewMemorySessionStore(3)
	now := time.Now()
	m.now = func() time.Time { return now }
	signedIn := &Session{Tokens: &idx.Tokens{AccessToken: "at"}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.Save(ctx, "in", signedIn, time.Hour))
	must(m.Save(ctx, "p1", &Session{Username: "p1"}, time.Hour))
	now = now.Add(time.Second)
	must(m.Save(ctx, "p2", &Session{Username: "p2"}, time.Hour))
	now = now.Add(time.Second)
	must(m.Save(ctx, "p1", &Session{Username: "p1", Step: "identify"}, time.Hour)) // p1 used again: p2 is now the oldest
	must(m.Save(ctx, "new", &Session{}, time.Hour))
	if _, err := m.Load(ctx, "p2"); err != ErrSessionNotFound {
		t.Errorf("the sign-in unused longest was kept: %v", err)
	}
	for _, k := range []string{"in", "p1", "new"} {
		if _, err := m.Load(ctx, k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	// Signing in takes a session out of the eviction order.
	must(m.Save(ctx, "p1", signedIn, time.Hour))
	must(m.Save(ctx, "new", signedIn, time.Hour))
	if err := m.Save(ctx, "one-more", &Session{}, time.Hour); err != ErrSessionStoreFull {
		t.Errorf("a store full of signed-in sessions: %v, want ErrSessionStoreFull", err)
	}
	if m.Len() != 3 {
		t.Errorf("%d sessions, want 3", m.Len())
	}
	// An expired signed-in session makes room.
	must(m.Save(ctx, "in", signedIn, time.Millisecond))
	now = now.Add(2 * time.Second)
	must(m.Save(ctx, "one-more", &Session{}, time.Hour))
	if _, err := m.Load(ctx, "in"); err != ErrSessionNotFound {
		t.Errorf("the expired session is still there: %v", err)
	}
}

// TestMemorySessionStoreCountsSignInsPerClient: SignInsInProgress counts the
// live sessions not signed in per client, and says when the first expires.
func TestMemorySessionStoreCountsSignInsPerClient(t *testing.T) {
	ctx := context.Background()
	m := NewMemorySessionStore(0)
	now := time.Now()
	m.now = func() time.Time { return now }
	count := func(client string) (int, time.Duration) {
		t.Helper()
		n, first, err := m.SignInsInProgress(ctx, client)
		if err != nil {
			t.Fatal(err)
		}
		return n, first
	}
	_ = m.Save(ctx, "a1", &Session{ClientIP: "192.0.2.1"}, 10*time.Minute)
	now = now.Add(time.Minute)
	_ = m.Save(ctx, "a2", &Session{ClientIP: "192.0.2.1"}, 10*time.Minute)
	_ = m.Save(ctx, "b1", &Session{ClientIP: "2001:db8::/64"}, 10*time.Minute)
	_ = m.Save(ctx, "a3", &Session{ClientIP: "192.0.2.1", Tokens: &idx.Tokens{}}, 10*time.Minute)
	if n, first := count("192.0.2.1"); n != 2 || first != 9*time.Minute {
		t.Errorf("192.0.2.1: %d, first expiry in %v; want 2, 9m", n, first)
	}
	if n, _ := count("2001:db8::/64"); n != 1 {
		t.Errorf("2001:db8::/64: %d, want 1", n)
	}
	_ = m.Save(ctx, "a1", &Session{ClientIP: "192.0.2.1", Tokens: &idx.Tokens{}}, 10*time.Minute) // signed in
	_ = m.Delete(ctx, "b1")
	if n, first := count("192.0.2.1"); n != 1 || first != 10*time.Minute {
		t.Errorf("after a sign-in: %d, %v; want 1, 10m", n, first)
	}
	if n, first := count("2001:db8::/64"); n != 0 || first != 0 {
		t.Errorf("after Delete: %d, %v", n, first)
	}
	now = now.Add(11 * time.Minute)
	if n, _ := count("192.0.2.1"); n != 0 {
		t.Errorf("expired sessions counted: %d", n)
	}
}

func mustPages(t *testing.T) map[string]*template.Template {
	t.Helper()
	p, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// cookie returns the session cookie's value.
func (a *agent) cookie() string {
	u, _ := url.Parse(a.base)
	for _, c := range a.c.Jar.Cookies(u) {
		if c.Name == "gatehouse_session" {
			return c.Value
		}
	}
	return ""
}

// session reads the agent's server-side session.
func (a *agent) session(ta *testApp) *Session {
	a.t.Helper()
	s, err := ta.store.Load(context.Background(), storeKey(a.cookie()))
	if err != nil {
		a.t.Fatal(err)
	}
	return s
}
