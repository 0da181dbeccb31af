package hosted_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/hosted"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// The tests sign in through the hosted pages in front of a real engine, over
// loopback HTTP, as a browser does: a cookie jar, forms posted with the
// token the page carries, redirects followed.

const (
	alice      = "alice@example.com"
	alicePhone = "+12015550123"
	bob        = "bob@example.com"
	bobPhone   = "+12015550188"
	product    = "Acme ID"
)

// lockedBuffer collects the engine's logs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// onBothDatabases runs test on SQLite and on PostgreSQL (a schema of its
// own; skipped without a server, or failed under GATEHOUSE_REQUIRE_SERVICES).
func onBothDatabases(t *testing.T, test func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, "") })
	t.Run("postgres", func(t *testing.T) { test(t, enginetest.PostgresSchema(t)) })
}

// aborted is one call of Options.Abort.
type aborted struct{ handle, code, description string }

// rig is an engine with the pages in front of it: one server whose mux has
// the pages, a test-only start route (what /v1/authorize will do) and the
// engine's handler for everything else.
type rig struct {
	t     *testing.T
	h     *enginetest.Harness
	url   string
	pages *hosted.Pages
	logs  *lockedBuffer

	mu        sync.Mutex
	pkce      map[string]enginetest.PKCE // by interaction handle
	started   []string                   // interaction handles, in order
	completed []string                   // interaction codes given to Complete
	aborts    []aborted
}

func newRig(t *testing.T) *rig { return newRigWith(t, "", nil) }

func newRigTo(t *testing.T, rp string) *rig { return newRigWith(t, rp, nil) }

// newRigWith is newRig whose Complete and Abort redirect to the relying
// party's page rp (another origin), as the authorization endpoint will,
// instead of answering themselves ("" keeps plain answers), with the
// engine's configuration changed by configure.
func newRigWith(t *testing.T, rp string, configure func(*config.Config)) *rig {
	t.Helper()
	return newRigOn(t, rp, "", configure)
}

// newRigOn is newRigWith on the database dsn ("" for SQLite in a temporary
// folder).
func newRigOn(t *testing.T, rp, dsn string, configure func(*config.Config)) *rig {
	t.Helper()
	logs := &lockedBuffer{}
	h := enginetest.Start(t, enginetest.Options{Logs: logs, Configure: configure, Database: dsn})
	r := &rig{t: t, h: h, logs: logs, pkce: map[string]enginetest.PKCE{}}
	pages, err := hosted.New(hosted.Options{
		Product:   product,
		Issuer:    h.Issuer,
		Engine:    h.Engine.Handler(),
		CookieKey: []byte("0123456789abcdef0123456789abcdef-test-key"),
		Complete: func(w http.ResponseWriter, req *http.Request, code string) {
			r.mu.Lock()
			r.completed = append(r.completed, code)
			r.mu.Unlock()
			if rp != "" {
				http.Redirect(w, req, rp+"?outcome=signed-in", http.StatusSeeOther)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, "back at the relying party: signed in")
		},
		Abort: func(w http.ResponseWriter, req *http.Request, handle, code, description string) {
			r.mu.Lock()
			r.aborts = append(r.aborts, aborted{handle, code, description})
			r.mu.Unlock()
			if rp != "" {
				http.Redirect(w, req, rp+"?error="+url.QueryEscape(code), http.StatusSeeOther)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, "back at the relying party: "+code)
		},
		Forward: []string{"gh_device"},
		Now:     h.Clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.pages = pages
	mux := http.NewServeMux()
	pages.Register(mux)
	mux.HandleFunc("GET /test/start", r.start)
	mux.Handle("/", h.Engine.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// start does what /v1/authorize will: interact for the relying party (in
// process, keeping the PKCE verifier), then hand over to the pages.
func (r *rig) start(w http.ResponseWriter, req *http.Request) {
	pk := enginetest.NewPKCE()
	form := url.Values{
		"client_id": {enginetest.ClientID}, "redirect_uri": {enginetest.RedirectURI}, "scope": {"openid profile email"},
		"code_challenge": {pk.Challenge}, "code_challenge_method": {"S256"}, "state": {"rp-state"}, "nonce": {"rp-nonce"},
	}
	in := httptest.NewRequest(http.MethodPost, r.h.Issuer+"/v1/interact", strings.NewReader(form.Encode()))
	in.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	in.RemoteAddr = req.RemoteAddr
	rec := httptest.NewRecorder()
	r.h.Engine.Handler().ServeHTTP(rec, in)
	var body struct {
		Handle string `json:"interaction_handle"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Handle == "" {
		http.Error(w, "interact failed: "+rec.Body.String(), http.StatusInternalServerError)
		return
	}
	r.mu.Lock()
	r.pkce[body.Handle] = pk
	r.started = append(r.started, body.Handle)
	r.mu.Unlock()
	r.pages.Start(w, req, hosted.Start{InteractionHandle: body.Handle, ClientID: enginetest.ClientID, LoginHint: req.URL.Query().Get("login_hint")})
}

func (r *rig) lastCompleted() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.completed) == 0 {
		return ""
	}
	return r.completed[len(r.completed)-1]
}

func (r *rig) abortCalls() []aborted {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]aborted(nil), r.aborts...)
}

// handles lists the interaction handles started so far.
func (r *rig) handles() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for h := range r.pkce {
		out = append(out, h)
	}
	return out
}

// redeem exchanges an interaction code with the verifier of the handle's
// PKCE pair, as the relying party's token request will.
func (r *rig) redeem(code string) (int, map[string]any) {
	r.t.Helper()
	handles := r.handles()
	if len(handles) != 1 {
		r.t.Fatalf("%d sign-ins were started, want 1", len(handles))
	}
	return r.redeemFor(handles[0], code)
}

// redeemLatest redeems an interaction code of the sign-in started last.
func (r *rig) redeemLatest(code string) (int, map[string]any) {
	r.t.Helper()
	r.mu.Lock()
	handle := r.started[len(r.started)-1]
	r.mu.Unlock()
	return r.redeemFor(handle, code)
}

// redeemFor redeems an interaction code of the sign-in of handle.
func (r *rig) redeemFor(handle, code string) (int, map[string]any) {
	r.t.Helper()
	r.mu.Lock()
	pk := r.pkce[handle]
	r.mu.Unlock()
	return r.h.PostForm(r.t, r.h.Issuer+"/v1/token", url.Values{
		"grant_type": {"interaction_code"}, "client_id": {enginetest.ClientID}, "interaction_code": {code},
		"code_verifier": {pk.Verifier}, "redirect_uri": {enginetest.RedirectURI},
	})
}

// browser is one browser: a cookie jar, the last page, every URL visited.
type browser struct {
	t      *testing.T
	r      *rig
	c      *http.Client
	jar    *cookiejar.Jar
	status int
	header http.Header
	body   string
	urls   []string
	// header values sent with every request (e.g. X-Forwarded-For).
	extra http.Header
}

func (r *rig) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		r.t.Fatal(err)
	}
	b := &browser{t: r.t, r: r, jar: jar, extra: http.Header{}}
	b.c = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		b.urls = append(b.urls, req.URL.String())
		for k, v := range b.extra {
			req.Header[k] = v
		}
		return nil
	}}
	return b
}

func (b *browser) do(req *http.Request) {
	b.t.Helper()
	for k, v := range b.extra {
		req.Header[k] = v
	}
	b.urls = append(b.urls, req.URL.String())
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	b.status, b.header, b.body = resp.StatusCode, resp.Header, string(raw)
	if b.status == http.StatusInternalServerError {
		b.t.Fatalf("%s %s: 500: %s", req.Method, req.URL.Path, raw)
	}
}

func (b *browser) get(path string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.r.url+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	b.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post submits a form of the current page: the page's CSRF token is added
// unless form sets "csrf" itself (an empty value sends none).
func (b *browser) post(path string, form url.Values) {
	b.t.Helper()
	if _, set := form["csrf"]; !set {
		m := csrfField.FindStringSubmatch(b.body)
		if m == nil {
			b.t.Fatalf("POST %s: the page has no CSRF token:\n%s", path, b.body)
		}
		form.Set("csrf", htmlUnescape(m[1]))
	} else if form.Get("csrf") == "" {
		form.Del("csrf")
	}
	req, err := http.NewRequest(http.MethodPost, b.r.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	b.do(req)
}

func htmlUnescape(s string) string { return html.UnescapeString(s) }

// expect checks the last answer's status and that the page shows every want.
func (b *browser) expect(status int, wants ...string) {
	b.t.Helper()
	if b.status != status {
		b.t.Fatalf("status %d, want %d; page:\n%s", b.status, status, b.body)
	}
	text := html.UnescapeString(b.body)
	for _, w := range wants {
		if !strings.Contains(text, w) {
			b.t.Fatalf("the page does not show %q:\n%s", w, b.body)
		}
	}
}

// title is the page's <h1>.
func (b *browser) title() string {
	m := regexp.MustCompile(`<h1[^>]*>([^<]*)</h1>`).FindStringSubmatch(b.body)
	if m == nil {
		return ""
	}
	return m[1]
}

func (b *browser) expectPage(title string) {
	b.t.Helper()
	if got := b.title(); got != title {
		b.t.Fatalf("page %q (status %d), want %q:\n%s", got, b.status, title, b.body)
	}
}

// value is the value attribute of the input named name on the page.
func (b *browser) value(name string) string {
	m := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `"[^>]*value="([^"]*)"`).FindStringSubmatch(b.body)
	if m == nil {
		return ""
	}
	return htmlUnescape(m[1])
}

// cookie is the value of the named cookie the browser would send to path.
func (b *browser) cookie(name, path string) string {
	u, _ := url.Parse(b.r.url + path)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// setCookie replaces the value of a cookie for path.
func (b *browser) setCookie(name, value, path string) {
	u, _ := url.Parse(b.r.url + path)
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: path}})
}

// finish follows the continue page to /signin/done, as its meta refresh does.
func (b *browser) finish() {
	b.t.Helper()
	if !strings.Contains(b.body, `<meta http-equiv="refresh" content="0; url=/signin/done">`) || !strings.Contains(b.body, `href="/signin/done"`) {
		b.t.Fatalf("not the continue page (status %d):\n%s", b.status, b.body)
	}
	b.get("/signin/done")
}

// signInToCode walks from the start to the code page with method.
func (b *browser) signInToCode(login, method string) {
	b.t.Helper()
	b.get("/test/start?login_hint=" + url.QueryEscape(login))
	b.expectPage("Sign in")
	b.post("/signin/identify", url.Values{"username": {login}, "password": {enginetest.Password}})
	b.expect(http.StatusOK)
	b.expectPage("Verify it's you")
	b.post("/signin/authenticator", url.Values{"authenticator": {b.value("authenticator")}})
	b.expectPage("Verify with your phone")
	b.post("/signin/method", url.Values{"method": {method}})
	b.expect(http.StatusOK)
	b.expectPage("Enter code")
}

func TestSignInWithSMS(t *testing.T) {
	r := newRig(t)
	r.h.CreateUser(t, alice, alicePhone)
	b := r.browser()

	b.get("/test/start?login_hint=" + url.QueryEscape(alice))
	b.expect(http.StatusOK, product, "Sign in with your Acme ID account.")
	b.expectPage("Sign in")
	if got := b.value("username"); got != alice {
		t.Fatalf("the username is prefilled with %q, want the login hint %q", got, alice)
	}
	csp := b.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(b.body, "<script") {
		t.Error("the page has a script")
	}
	b.get("/signin/static/hosted.css")
	if b.status != http.StatusOK || !strings.HasPrefix(b.header.Get("Content-Type"), "text/css") || b.header.Get("Content-Security-Policy") == "" {
		t.Fatalf("stylesheet: %d %q", b.status, b.header.Get("Content-Type"))
	}
	b.get("/signin")

	b.post("/signin/identify", url.Values{"username": {alice}, "password": {enginetest.Password}})
	b.expectPage("Verify it's you")
	b.expect(http.StatusOK, "Signing in as", alice, "+1 XXX-XXX-0123")
	device := b.cookie("gh_device", "/signin")
	if device == "" {
		t.Fatal("the engine's device cookie was not relayed to the browser")
	}
	b.post("/signin/authenticator", url.Values{"authenticator": {b.value("authenticator")}})
	b.expectPage("Verify with your phone")
	b.expect(http.StatusOK, "Text message", "Voice call")
	b.post("/signin/method", url.Values{"method": {"sms"}})
	b.expectPage("Enter code")
	b.expect(http.StatusOK, "We sent a text message with a code to", "Send again", "Call me instead")

	b.post("/signin/code", url.Values{"code": {r.h.LatestCode(t, alicePhone)}})
	b.expect(http.StatusOK, "You're signed in")
	if r.lastCompleted() != "" {
		t.Fatal("Complete was called from the form post; it must wait for GET /signin/done")
	}
	b.finish()
	b.expect(http.StatusOK, "back at the relying party: signed in")
	code := r.lastCompleted()
	if code == "" {
		t.Fatal("Complete was not called")
	}
	if got := b.cookie("gh_device", "/signin"); got != device {
		t.Errorf("device cookie changed from %q to %q: the engine did not see the relayed one", device, got)
	}
	if b.cookie("gh_signin", "/signin") != "" {
		t.Error("the sign-in cookie is still set after Complete")
	}

	// The code is real: the relying party redeems it with its verifier.
	status, tokens := r.redeem(code)
	if status != http.StatusOK || tokens["access_token"] == nil || tokens["id_token"] == nil {
		t.Fatalf("token: %d %v", status, tokens)
	}
	// Once.
	if status, body := r.redeem(code); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("second redemption: %d %v", status, body)
	}

	// No secret went through a URL.
	for _, u := range b.urls {
		for _, secret := range append(r.handles(), code) {
			if strings.Contains(u, secret) {
				t.Errorf("URL %s holds a secret", u)
			}
		}
		if strings.Contains(strings.ToLower(u), "statehandle") || strings.Contains(u, "code=") {
			t.Errorf("URL %s looks like it carries a handle or code", u)
		}
	}

	// The page after the end: nothing in progress any more.
	b.get("/signin")
	b.expect(http.StatusBadRequest, "There is no sign-in in progress")
}

func TestSignInWithVoice(t *testing.T) {
	r := newRig(t)
	r.h.CreateUser(t, alice, alicePhone)
	b := r.browser()
	b.signInToCode(alice, "voice")
	b.expect(http.StatusOK, "We're calling", "+1 XXX-XXX-0123", "Call again", "Text me instead")
	msgs := r.h.Outbox(t, alicePhone)
	if len(msgs) != 1 {
		t.Fatalf("%d messages sent, want 1 call", len(msgs))
	}
	b.post("/signin/code", url.Values{"code": {msgs[0].Code}})
	b.finish()
	if code := r.lastCompleted(); code == "" {
		t.Fatal("Complete was not called")
	} else if status, tokens := r.redeem(code); status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
}

func TestWrongPassword(t *testing.T) {
	r := newRig(t)
	r.h.CreateUser(t, alice, alicePhone)
	b := r.browser()
	b.get("/test/start")
	b.expectPage("Sign in")
	if b.value("username") != "" {
		t.Fatalf("username prefilled with %q without a login hint", b.value("username"))
	}
	b.post("/signin/identify", url.Values{"username": {alice}, "password": {"not my password"}})
	b.expect(http.StatusUnprocessableEntity, "That username and password don't match.")
	b.expectPage("Sign in")
	if b.value("username") != alice || strings.Contains(b.body, "not my password") {
		t.Fatalf("after a wrong password: username %q; the page echoes the password: %v", b.value("username"), strings.Contains(b.body, "not my password"))
	}
	b.post("/signin/identify", url.Values{"username": {alice}, "password": {""}})
	b.expect(http.StatusUnprocessableEntity, "Enter your password.")
	// The right password then works on the same transaction.
	b.post("/signin/identify", url.Values{"username": {alice}, "password": {enginetest.Password}})
	b.expectPage("Verify it's you")
	if n := len(r.handles()); n != 1 {
		t.Fatalf("%d transactions, want 1", n)
	}
}

func TestWrongCodeThenLockout(t *testing.T) {
	r := newRig(t)
	r.h.CreateUser(t, alice, alicePhone)
	b := r.browser()
	b.signInToCode(alice, "sms")
	right := r.h.LatestCode(t, alicePhone)
	wrong := "000000"
	if right == wrong {
		wrong = "111111"
	}
	b.post("/signin/code", url.Values{"code": {wrong}})
	b.expect(http.StatusUnprocessableEntity, "That code isn't right.")
	b.expectPage("Enter code")
	if b.value("code") != wrong {
		t.Errorf("the code field holds %q, want the code typed", b.value("code"))
	}
	// The engine's limit of wrong codes: the page says how long it is locked.
	for i := 0; i < 10 && b.status != http.StatusTooManyRequests; i++ {
		b.post("/signin/code", url.Values{"code": {wrong}})
	}
	b.expect(http.StatusTooManyRequests, "Too many incorrect codes. Phone verification is locked for 5 minutes.")
	if r.lastCompleted() != "" {
		t.Fatal("Complete was called")
	}
}

func TestResendRespectsTheEnginesWait(t *testing.T) {
	r := newRig(t)
	r.h.CreateUser(t, alice, alicePhone)
	b := r.browser()
	b.signInToCode(alice, "sms")
	b.post("/signin/resend", url.Values{})
	b.expect(http.StatusTooManyRequests, "You can ask for a new code in")
	wait := b.header.Get("Retry-After")
	if wait == "" || wait == "0" {
		t.Fatalf("Retry-After %q, want the engine's wait", wait)
	}
	if !strings.Contains(b.body, `disabled aria-describedby="resend-wait"`) {
		t.Fatalf("the send-again button is not disabled during the wait:\n%s", b.body)
	}
	if n := len(r.h.Outbox(t, alicePhone)); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
	// Asking again during the wait does not reach the engine.
	b.post("/signin/resend", url.Values{})
	b.expect(http.StatusTooManyRequests, "You can ask for a new code in")

	r.h.Clock.Advance(31 * time.Second)
	b.get("/signin")
	if strings.Contains(b.body, `disabled aria-describedby="resend-wait"`) {
		t.Fatal("the send-again button is still disabled after the wait")
	}
	b.post("/signin/resend", url.Values{})
	b.expect(http.StatusOK, "We sent you a new code.")
	b.expectPage("Enter code")
	msgs := r.h.Outbox(t, alicePhone)
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	// Voice instead, after the next wait.
	r.h.Clock.Advance(31 * time.Second)
	b.get("/signin")
	b.post("/signin/switch", url.Values{"method": {"voice"}})
	b.expect(http.StatusOK, "We're calling you now with a new code.", "Enter the code you hear.")
	b.post("/signin/code", url.Values{"code": {r.h.LatestCode(t, alicePhone)}})
	b.finish()
	if r.lastCompleted() == "" {
		t.Fatal("Complete was not called")
	}
}

func TestPhoneEnrollment(t *testing.T) {
	// With the authenticator app on (the default), a user without a second
	// factor chooses between the two; without it, the phone is the one way.
	t.Run("app on", func(t *testing.T) { testPhoneEnrollment(t, true, "Set up two-step verification") })
	t.Run("app off", func(t *testing.T) { testPhoneEnrollment(t, false, "Set up phone verification") })
}

func testPhoneEnrollment(t *testing.T, app bool, title string) {
	r := newRigWith(t, "", func(c *config.Config) { c.SignOn.TOTP = app })
	r.h.CreateUser(t, bob, "")
	b := r.browser()
	b.get("/test/start?login_hint=" + url.QueryEscape(bob))
	b.post("/signin/identify", url.Values{"username": {bob}, "password": {enginetest.Password}})
	b.expectPage(title)
	if got := strings.Contains(b.body, "Authenticator app"); got != app {
		t.Fatalf("the authenticator app is offered: %v, want %v:\n%s", got, app, b.body)
	}
	if b.value("authenticator") != "phone_number" {
		t.Fatalf("the first option is %q, want the phone", b.value("authenticator"))
	}
	b.post("/signin/authenticator", url.Values{"authenticator": {b.value("authenticator")}})
	b.expectPage("Add your phone")
	b.post("/signin/enroll", url.Values{"phone": {"not a number"}, "method": {"sms"}})
	b.expect(http.StatusUnprocessableEntity, "That doesn't look like a phone number.")
	b.expectPage("Add your phone")
	b.post("/signin/enroll", url.Values{"phone": {bobPhone}, "method": {"sms"}})
	b.expectPage("Enter code")
	b.post("/signin/code", url.Values{"code": {r.h.LatestCode(t, bobPhone)}})
	b.finish()
	code := r.lastCompleted()
	if code == "" {
		t.Fatal("Complete was not called")
	}
	if status, tokens := r.redeem(code); status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
	u, err := r.h.Store.GetUserByLogin(context.Background(), bob)
	if err != nil {
		t.Fatal(err)
	}
	phones, err := r.h.Store.ListPhoneEnrollments(context.Background(), u.ID)
	if err != nil || len(phones) != 1 || phones[0].Number != bobPhone {
		t.Fatalf("bob's phones: %v %v", phones, err)
	}
}

func TestCancel(t *testing.T) {
	r := newRig(t)
	r.h.CreateUser(t, alice, alicePhone)
	b := r.browser()
	b.signInToCode(alice, "sms")
	b.post("/signin/cancel", url.Values{})
	b.expect(http.StatusOK, "Sign-in ended")
	if len(r.abortCalls()) != 0 {
		t.Fatal("Abort was called from the form post; it must wait for GET /signin/done")
	}
	b.finish()
	b.expect(http.StatusOK, "back at the relying party: access_denied")
	calls := r.abortCalls()
	if len(calls) != 1 || calls[0].handle != r.handles()[0] || calls[0].code != "access_denied" || calls[0].description == "" {
		t.Fatalf("Abort calls: %+v", calls)
	}
	if r.lastCompleted() != "" {
		t.Fatal("Complete was called")
	}
	// The old code is dead.
	b.get("/signin")
	b.expect(http.StatusBadRequest)
}

func TestExpiredTransactionAborts(t *testing.T) {
	r := newRig(t)
	r.h.CreateUser(t, alice, alicePhone)
	b := r.browser()
	b.get("/test/start")
	b.expectPage("Sign in")
	r.h.Clock.Advance(31 * time.Minute) // past the transaction's lifetime
	b.post("/signin/identify", url.Values{"username": {alice}, "password": {enginetest.Password}})
	b.expect(http.StatusOK, "Sign-in ended")
	b.finish()
	calls := r.abortCalls()
	if len(calls) != 1 || calls[0].code != "access_denied" || !strings.Contains(calls[0].description, "expired") {
		t.Fatalf("Abort calls: %+v", calls)
	}
}

func TestCSRF(t *testing.T) {
	r := newRig(t)
	r.h.CreateUser(t, alice, alicePhone)
	b := r.browser()
	b.get("/test/start")
	b.expectPage("Sign in")
	page := b.body

	// No token: refused, nothing sent to the engine.
	b.post("/signin/identify", url.Values{"username": {alice}, "password": {enginetest.Password}, "csrf": {""}})
	b.expect(http.StatusForbidden, "This page had expired")
	// A forged one.
	b.post("/signin/identify", url.Values{"username": {alice}, "password": {enginetest.Password}, "csrf": {"forged-token"}})
	b.expect(http.StatusForbidden, "This page had expired")
	// Another browser's real token, with this browser's cookie.
	other := r.browser()
	other.get("/test/start")
	b.body = other.body
	b.post("/signin/identify", url.Values{"username": {alice}, "password": {enginetest.Password}})
	b.expect(http.StatusForbidden, "This page had expired")
	b.get("/signin")
	b.expectPage("Sign in") // still at the first step
	if strings.Contains(r.logs.String(), `"path":"/idp/idx/identify"`) {
		t.Fatal("a refused post reached the engine")
	}

	// A cross-site post with the right token: refused by CrossOriginProtection.
	b.body = page
	b.extra.Set("Sec-Fetch-Site", "cross-site")
	b.post("/signin/identify", url.Values{"username": {alice}, "password": {enginetest.Password}})
	b.expect(http.StatusForbidden, "It came from another site")
	if b.header.Get("Content-Security-Policy") == "" {
		t.Error("the refusal has no Content-Security-Policy")
	}
	b.extra.Del("Sec-Fetch-Site")
	b.body = page
	b.extra.Set("Origin", "http://evil.example")
	b.post("/signin/identify", url.Values{"username": {alice}, "password": {enginetest.Password}})
	b.expect(http.StatusForbidden)
	b.extra.Del("Origin")

	// The same post from the page itself works.
	b.body = page
	b.extra.Set("Sec-Fetch-Site", "same-origin")
	b.post("/signin/identify", url.Values{"username": {alice}, "password": {enginetest.Password}})
	b.expectPage("Verify it's you")
}

func TestTamperedCookie(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	b.get("/test/start")
	b.expectPage("Sign in")
	sealed := b.cookie("gh_signin", "/signin")
	if sealed == "" {
		t.Fatal("no sign-in cookie")
	}
	for _, h := range r.handles() {
		if strings.Contains(sealed, h) {
			t.Fatal("the cookie holds the interaction handle in clear")
		}
	}
	flipped := []byte(sealed)
	i := len(flipped) / 2
	if flipped[i] == 'A' {
		flipped[i] = 'B'
	} else {
		flipped[i] = 'A'
	}
	for _, v := range []string{string(flipped), "v1.", "garbage", "v1." + strings.Repeat("A", 5000)} {
		b.setCookie("gh_signin", v, "/signin")
		b.get("/signin")
		b.expect(http.StatusBadRequest, "This sign-in isn't available")
		if b.cookie("gh_signin", "/signin") != "" {
			t.Errorf("the bad cookie %.20q was not cleared", v)
		}
		b.setCookie("gh_signin", v, "/signin")
		b.post("/signin/identify", url.Values{"username": {alice}, "password": {"x"}, "csrf": {"x"}})
		b.expect(http.StatusBadRequest, "This sign-in isn't available")
	}
	b.get("/signin/done")
	b.expect(http.StatusBadRequest)
	if r.lastCompleted() != "" || len(r.abortCalls()) != 0 {
		t.Fatal("a tampered cookie reached Complete or Abort")
	}
	b.get("/signin/nothing-here")
	b.expect(http.StatusNotFound, "Page not found")
}

// TestBrowserAddressReachesTheEngine: the in-process IDX calls carry the
// browser's address (here from a trusted proxy's X-Forwarded-For), so the
// engine's limits count the browser, not the pages.
func TestBrowserAddressReachesTheEngine(t *testing.T) {
	r := newRig(t)
	r.h.CreateUser(t, alice, alicePhone)
	b := r.browser()
	b.extra.Set("X-Forwarded-For", "203.0.113.9")
	b.get("/test/start")
	b.post("/signin/identify", url.Values{"username": {alice}, "password": {enginetest.Password}})
	b.expectPage("Verify it's you")
	found := false
	for _, line := range strings.Split(r.logs.String(), "\n") {
		if strings.Contains(line, `"path":"/idp/idx/identify"`) {
			found = true
			if !strings.Contains(line, `"client_ip":"203.0.113.9"`) {
				t.Errorf("the engine saw another client: %s", line)
			}
		}
	}
	if !found {
		t.Fatal("no identify request in the engine's log")
	}
}

func TestNewChecksOptions(t *testing.T) {
	ok := hosted.Options{
		Product: "X", Issuer: "https://id.example.com", Engine: http.NotFoundHandler(), CookieKey: make([]byte, 32),
		Complete: func(http.ResponseWriter, *http.Request, string) {},
		Abort:    func(http.ResponseWriter, *http.Request, string, string, string) {},
	}
	if _, err := hosted.New(ok); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*hosted.Options){
		"short key":     func(o *hosted.Options) { o.CookieKey = make([]byte, 31) },
		"no product":    func(o *hosted.Options) { o.Product = " " },
		"bad issuer":    func(o *hosted.Options) { o.Issuer = "id.example.com" },
		"no engine":     func(o *hosted.Options) { o.Engine = nil },
		"no complete":   func(o *hosted.Options) { o.Complete = nil },
		"no abort":      func(o *hosted.Options) { o.Abort = nil },
		"bad forward":   func(o *hosted.Options) { o.Forward = []string{"a;b"} },
		"own cookie":    func(o *hosted.Options) { o.Forward = []string{"gh_signin"} },
		"empty forward": func(o *hosted.Options) { o.Forward = []string{""} },
	} {
		o := ok
		change(&o)
		if _, err := hosted.New(o); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// TestTooManyPasswords: after the engine's limit of wrong passwords, the
// page says how long to wait, with the engine's Retry-After.
func TestTooManyPasswords(t *testing.T) {
	r := newRig(t)
	r.h.CreateUser(t, alice, alicePhone)
	b := r.browser()
	b.get("/test/start")
	for i := 0; i < 30 && b.status != http.StatusTooManyRequests; i++ {
		b.post("/signin/identify", url.Values{"username": {alice}, "password": {"wrong"}})
	}
	b.expect(http.StatusTooManyRequests, "Try again in")
	if ra := b.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q, want the engine's wait", ra)
	}
	b.expectPage("Sign in")
}

// TestEngineRequestLimit: when the engine refuses the browser's requests
// (its per-address limit), the pages say so with the engine's wait, and the
// sign-in goes on afterwards.
func TestEngineRequestLimit(t *testing.T) {
	r := newRigWith(t, "", func(c *config.Config) { c.RateLimits.RequestsPerIPPerMinute = 10 })
	b := r.browser()
	b.get("/test/start")
	b.expectPage("Sign in")
	for i := 0; i < 20 && b.status != http.StatusTooManyRequests; i++ {
		b.get("/signin")
	}
	b.expect(http.StatusTooManyRequests, "Try again in")
	if ra := b.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q, want the engine's wait", ra)
	}
	if len(r.abortCalls()) != 0 {
		t.Fatal("a rate limit ended the sign-in")
	}
	r.h.Clock.Advance(2 * time.Minute)
	b.get("/signin")
	b.expectPage("Sign in")
}
