//go:build unix

package interop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gatehouse-id/gatehouse/internal/browsertest"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// TestSignInWidget serves the unchanged Okta Sign-In Widget (npm
// @okta/okta-signin-widget, pinned in signin-widget/package.json) on a page of its
// own origin, configured for the interaction code flow against a real `gatehouse
// serve` process, and signs alice in with headless Chromium the way a person does:
// username and password, the phone, "Receive a code via SMS", a wrong code (the
// widget shows the engine's error on the field), "Send again" once the widget
// offers it (30 s), then the new code from the dev outbox. The widget exchanges the
// interaction code itself and hands the page its tokens; the test checks the ID
// token's claims and uses the access token at userinfo, and checks every call the
// widget made to the engine (order, status, CORS). It takes about 35 s, most of it
// the widget's resend timer.
//
// With UPDATE_SCREENSHOTS=1 the screenshots of every step are also written to
// docs/screenshots/widget-*.png.
func TestSignInWidget(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the Sign-In Widget browser test in -short mode")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	browsertest.Chromium(t) // before npm and the build: skip early without it
	dist := prepareWidget(t, ctx)
	bin := buildGatehouse(t, ctx)

	pageAddr := testenv.FreeAddr(t)
	pageOrigin := "http://" + pageAddr
	eng := startWidgetEngine(t, ctx, bin, pageOrigin)
	page := serveWidgetPage(t, pageAddr, dist, eng)
	defer page.Close()

	b := newWidgetBrowser(t, pageOrigin, eng.base)
	defer b.report()

	// 1. The identify form.
	b.run("open the page",
		chromedp.Navigate(pageOrigin+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="identifier"]`)),
	)
	b.waitForm("identify")
	b.screenshot("widget-identify")

	// 2. Username and password on one form; the widget posts identify.
	b.run("username and password",
		chromedp.SendKeys(chromedp.CSS(`input[name="identifier"]`), widgetLogin),
		chromedp.SendKeys(chromedp.CSS(`input[name="credentials.passcode"]`), widgetPassword),
		chromedp.Click(chromedp.CSS(`input[type="submit"]`)),
	)
	b.waitForm("select-authenticator-authenticate")
	b.containsText(".authenticator-row", "Phone", "+1 XXX-XXX-0123")
	b.screenshot("widget-select-authenticator")

	// 3. The phone; the widget posts challenge with the option's id and enrollmentId.
	b.run("choose the phone",
		chromedp.Click(chromedp.CSS(`.authenticator-button[data-se="phone_number"] .select-factor`)),
	)
	b.waitForm("authenticator-verification-data")
	b.containsText(".okta-form-subtitle", "+1 XXX-XXX-0123")
	b.screenshot("widget-verify-with-phone")

	// 4. "Receive a code via SMS": challenge with methodType sms; a code is sent.
	sent := len(eng.outbox(t))
	b.run("receive a code via SMS",
		chromedp.Click(chromedp.CSS(`input[type="submit"][value="Receive a code via SMS"]`)),
	)
	b.waitForm("challenge-authenticator")
	code := eng.waitCode(t, ctx, sent)
	b.containsText(".okta-form-subtitle", "+1 XXX-XXX-0123")
	b.screenshot("widget-enter-code")

	// 5. A wrong code: the engine answers 401 with a message on
	// credentials.passcode, which the widget shows on the field.
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	b.enterCode(wrong)
	b.run("the error",
		chromedp.WaitVisible(chromedp.CSS(`.o-form-input-error`)),
	)
	b.containsText(".o-form-input-error", "Invalid code. Try again.")
	b.screenshot("widget-enter-code-error")

	// 6. "Send again": the widget shows the link 30 s after the code view
	// rendered and again 30 s after an error (SHOW_RESEND_TIMEOUT in
	// src/v2/view-builder/utils/Constants.js; ResendView in
	// src/v2/view-builder/views/phone/ChallengeAuthenticatorPhoneView.js), and
	// invokes the action currentAuthenticatorEnrollment-resend: a POST to
	// /idp/idx/challenge/resend. The engine's 30 s cool-down has passed by then.
	sent = len(eng.outbox(t))
	b.runFor("the resend link", 45*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`.phone-authenticator-challenge__resend-warning a.resend-link`)),
	)
	b.screenshot("widget-enter-code-resend")
	b.run("send again",
		chromedp.Click(chromedp.CSS(`a.resend-link`)),
	)
	newCode := eng.waitCode(t, ctx, sent)

	// 7. The new code: 200 with successWithInteractionCode, then /v1/token.
	b.enterCode(newCode)
	b.run("the tokens",
		chromedp.WaitVisible(chromedp.CSS(`#signed-in:not([hidden]), #failure:not([hidden])`)),
	)
	if failure, _ := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(`#failure`))); failure != "" {
		t.Fatal(failure)
	}
	b.screenshot("widget-signed-in")

	raw, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(`#result`)))
	if err != nil {
		t.Fatal(err)
	}
	var result struct {
		IDToken       string         `json:"idToken"`
		IDTokenClaims map[string]any `json:"idTokenClaims"`
		AccessToken   string         `json:"accessToken"`
		Scopes        []string       `json:"scopes"`
	}
	if err := json.Unmarshal([]byte(raw), &result); err != nil {
		t.Fatalf("the page's result %q: %v", raw, err)
	}
	claims := result.IDTokenClaims
	if claims["sub"] != eng.userID {
		t.Errorf("ID token sub = %v, want alice's id %s", claims["sub"], eng.userID)
	}
	if claims["iss"] != eng.issuer || claims["aud"] != widgetClientID {
		t.Errorf("ID token iss %v, aud %v; want %s, %s", claims["iss"], claims["aud"], eng.issuer, widgetClientID)
	}
	if amr := fmt.Sprint(claims["amr"]); amr != "[pwd sms mfa]" {
		t.Errorf("ID token amr = %s, want [pwd sms mfa]", amr)
	}
	if claims["nonce"] == nil || claims["nonce"] == "" {
		t.Error("the ID token carries no nonce, though the widget sends one")
	}
	if sub := jwtSubject(t, result.IDToken); sub != eng.userID {
		t.Errorf("the raw ID token's sub = %q, want %s", sub, eng.userID)
	}
	if sub := eng.userinfoSubject(t, result.AccessToken); sub != eng.userID {
		t.Errorf("userinfo with the widget's access token: sub %q, want %s", sub, eng.userID)
	}

	// The widget itself made every call to the engine, cross-origin, with credentials.
	b.checkIDXCalls([]string{
		"POST /oauth2/default/v1/interact",
		"POST /idp/idx/introspect",
		"POST /idp/idx/identify",
		"POST /idp/idx/challenge",
		"POST /idp/idx/challenge",
		"POST /idp/idx/challenge/answer 401",
		"POST /idp/idx/challenge/resend",
		"POST /idp/idx/challenge/answer",
		"POST /oauth2/default/v1/token",
	})
	t.Logf("the widget went through %s", strings.Join(b.forms(), " → "))
	t.Logf("Sign-In Widget test took %s", time.Since(start).Round(100*time.Millisecond))
}

const (
	widgetDir      = "signin-widget"
	widgetClientID = "widget-spa"
	widgetLogin    = "alice@example.com"
	widgetPassword = "widget-Passw0rd"
	widgetPhone    = "+12015550123"
)

// prepareWidget makes sure signin-widget/node_modules holds what its
// package-lock.json pins (running npm ci if not) and returns the widget's dist
// folder. Without npm or the npm registry the test is skipped (failed under
// GATEHOUSE_REQUIRE_SERVICES).
func prepareWidget(t *testing.T, ctx context.Context) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Unavailable(t, "Node.js", "node is not on PATH")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		testenv.Unavailable(t, "Node.js", "npm is not on PATH")
	}
	dir, err := filepath.Abs(widgetDir)
	if err != nil {
		t.Fatal(err)
	}
	if current, why := widgetModulesCurrent(dir); !current {
		t.Logf("running npm ci in %s: %s", widgetDir, why)
		out, err := runQuiet(ctx, dir, npm, "ci", "--no-audit", "--no-fund")
		if err != nil {
			if line := networkFailure.FindString(out); line != "" {
				testenv.Unavailable(t, "Node.js", "npm ci could not reach the npm registry: "+strings.TrimSpace(line))
			}
			t.Fatalf("npm ci failed: %v\n%s", err, out)
		}
	}
	dist := filepath.Join(dir, "node_modules", "@okta", "okta-signin-widget", "dist")
	var pkg struct{ Version string }
	if data, err := os.ReadFile(filepath.Join(dist, "..", "package.json")); err == nil {
		_ = json.Unmarshal(data, &pkg)
	}
	t.Logf("serving @okta/okta-signin-widget %s", pkg.Version)
	return dist
}

// widgetModulesCurrent is nodeModulesCurrent, except that an optional package npm
// left out is not missing: the widget's lockfile lists fsevents, which npm installs
// on macOS only.
func widgetModulesCurrent(dir string) (bool, string) {
	if current, _ := nodeModulesCurrent(dir); current {
		return true, ""
	}
	want, err := lockedPackages(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false, err.Error()
	}
	have, err := lockedPackages(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil {
		return false, "node_modules is missing or was not installed by npm"
	}
	data, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false, err.Error()
	}
	var lock struct {
		Packages map[string]struct {
			Optional bool `json:"optional"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(data, &lock); err != nil {
		return false, err.Error()
	}
	delete(want, "")
	for path, w := range want {
		h, ok := have[path]
		switch {
		case !ok && lock.Packages[path].Optional:
		case !ok:
			return false, path + " is not installed"
		case h != w:
			return false, fmt.Sprintf("%s is %s, package-lock.json wants %s", path, h.Version, w.Version)
		}
	}
	for path := range have {
		if _, ok := want[path]; !ok {
			return false, path + " is installed but not in package-lock.json"
		}
	}
	return true, ""
}

// widgetEngine is a `gatehouse serve` process whose CORS allows the widget page.
type widgetEngine struct {
	base, issuer, userID string
}

// startWidgetEngine writes a configuration with a public client for the page,
// creates alice with her phone, and runs `gatehouse serve` until the test ends.
func startWidgetEngine(t *testing.T, ctx context.Context, bin, pageOrigin string) *widgetEngine {
	t.Helper()
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	e := &widgetEngine{base: "http://" + addr}
	e.issuer = e.base + "/oauth2/default"
	dsn := "sqlite:" + filepath.Join(dir, "gatehouse.db")
	cfg := fmt.Sprintf(`issuer: %s
listen: %s
database: %q
log_level: info
dev_outbox: true
clients:
  - id: %s
    name: Widget interop
    redirect_uris: [%s/login/callback]
    grants: [interaction_code]
    scopes: [openid, profile, email, phone]
cors:
  allowed_origins: [%s]
`, e.issuer, addr, dsn, widgetClientID, pageOrigin, pageOrigin)
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	create := exec.CommandContext(ctx, bin, "users", "--database", dsn, "create", widgetLogin,
		"--given-name", "Alice", "--phone", widgetPhone, "--password-stdin")
	create.Stdin = strings.NewReader(widgetPassword + "\n")
	out, err := create.CombinedOutput()
	if err != nil {
		t.Fatalf("gatehouse users create: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`\(id (\S+)\)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("gatehouse users create printed no id: %s", out)
	}
	e.userID = string(m[1])

	logs := &testenv.SyncBuffer{}
	cmd := exec.Command(bin, "serve", "--config", path)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("gatehouse logs:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(e.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return e
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("gatehouse did not become ready: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type outboxMessage struct {
	Channel string `json:"channel"`
	Code    string `json:"code"`
}

// outbox lists the messages to alice's phone, newest first.
func (e *widgetEngine) outbox(t *testing.T) []outboxMessage {
	t.Helper()
	resp, err := http.Get(e.base + "/dev/outbox?phone=" + url.QueryEscape(widgetPhone))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var msgs []outboxMessage
	if err := json.NewDecoder(resp.Body).Decode(&msgs); err != nil {
		t.Fatalf("dev outbox: %v", err)
	}
	return msgs
}

// waitCode waits for a message beyond the first `before` and returns its code.
func (e *widgetEngine) waitCode(t *testing.T, ctx context.Context, before int) string {
	t.Helper()
	for {
		if msgs := e.outbox(t); len(msgs) > before {
			if msgs[0].Channel != "sms" {
				t.Errorf("the code went by %s, want sms", msgs[0].Channel)
			}
			return msgs[0].Code
		}
		select {
		case <-ctx.Done():
			t.Fatal("no code arrived in the dev outbox")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// userinfoSubject calls userinfo with an access token and returns the sub.
func (e *widgetEngine) userinfoSubject(t *testing.T, accessToken string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.issuer+"/v1/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var claims struct {
		Sub string `json:"sub"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &claims) != nil {
		t.Fatalf("userinfo: %s %s", resp.Status, body)
	}
	return claims.Sub
}

func jwtSubject(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("the ID token is not a JWS: %q", jwt)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Sub string `json:"sub"`
	}
	_ = json.Unmarshal(payload, &c)
	return c.Sub
}

// serveWidgetPage serves, on addr, the page in signin-widget/page, the widget's
// dist folder under /widget/, and the configuration the page reads.
func serveWidgetPage(t *testing.T, addr, dist string, e *widgetEngine) *http.Server {
	t.Helper()
	pageDir, err := filepath.Abs(filepath.Join(widgetDir, "page"))
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://" + addr
	config, _ := json.Marshal(map[string]any{
		"issuer":        e.issuer,
		"clientId":      widgetClientID,
		"redirectUri":   origin + "/login/callback",
		"scopes":        []string{"openid", "profile", "email", "phone"},
		"assetsBaseUrl": origin + "/widget",
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		fmt.Fprintf(w, "window.GATEHOUSE_WIDGET = %s;\n", config)
	})
	mux.Handle("GET /widget/", http.StripPrefix("/widget/", http.FileServer(http.Dir(dist))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(pageDir, "index.html"))
	})
	mux.HandleFunc("GET /page.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(pageDir, "page.js"))
	})
	// The interaction code flow never redirects here; a visit would be a bug.
	mux.HandleFunc("/login/callback", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the browser was sent to the redirect URI: %s", r.URL)
		http.Error(w, "unexpected redirect", http.StatusTeapot)
	})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return srv
}

// widgetBrowser is one headless Chromium tab with the page, recording the console
// and every request the page makes.
type widgetBrowser struct {
	t      *testing.T
	ctx    context.Context
	origin string // the page's
	engine string // the engine's base URL
	shots  string // the folder of the screenshots

	mu       sync.Mutex
	console  []string
	requests map[network.RequestID]*widgetRequest
	order    []network.RequestID
}

type widgetRequest struct {
	method, url string
	body        string
	contentType string
	accept      string
	agent       string // X-Okta-User-Agent-Extended
	status      int64
	failed      string
	acao, acac  string // Access-Control-Allow-Origin and -Credentials
}

func newWidgetBrowser(t *testing.T, pageOrigin, engineBase string) *widgetBrowser {
	t.Helper()
	browserCtx := browsertest.Start(t, 1280, 900)
	b := &widgetBrowser{t: t, origin: pageOrigin, engine: engineBase, shots: t.TempDir(), requests: map[network.RequestID]*widgetRequest{}}
	tabCtx, cancelTab := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext(), chromedp.WithListener(b.onEvent))
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tabCtx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	b.ctx = tabCtx
	return b
}

func (b *widgetBrowser) onEvent(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			var s string
			switch {
			case len(a.Value) > 0 && json.Unmarshal(a.Value, &s) == nil:
				args = append(args, s)
			case len(a.Value) > 0:
				args = append(args, string(a.Value))
			default:
				args = append(args, a.Description)
			}
		}
		b.console = append(b.console, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		b.console = append(b.console, fmt.Sprintf("exception at %s:%d:%d: %s", d.URL, d.LineNumber+1, d.ColumnNumber+1, msg))
	case *network.EventRequestWillBeSent:
		if _, seen := b.requests[ev.RequestID]; !seen {
			b.order = append(b.order, ev.RequestID)
		}
		r := &widgetRequest{method: ev.Request.Method, url: ev.Request.URL,
			agent:       headerValue(ev.Request.Headers, "X-Okta-User-Agent-Extended"),
			contentType: headerValue(ev.Request.Headers, "Content-Type"),
			accept:      headerValue(ev.Request.Headers, "Accept")}
		for _, e := range ev.Request.PostDataEntries {
			r.body += string(e.Bytes)
		}
		b.requests[ev.RequestID] = r
	case *network.EventResponseReceived:
		if r := b.requests[ev.RequestID]; r != nil {
			r.status = ev.Response.Status
			r.acao = headerValue(ev.Response.Headers, "Access-Control-Allow-Origin")
			r.acac = headerValue(ev.Response.Headers, "Access-Control-Allow-Credentials")
		}
	case *network.EventLoadingFailed:
		if r := b.requests[ev.RequestID]; r != nil {
			r.failed = ev.ErrorText
			if ev.CorsErrorStatus != nil {
				r.failed += fmt.Sprintf(" (CORS: %s %s)", ev.CorsErrorStatus.CorsError, ev.CorsErrorStatus.FailedParameter)
			}
		}
	}
}

func headerValue(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// run runs browser actions; on failure it stops the test with the console, the
// network log and the widget's current markup.
func (b *widgetBrowser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.runFor(what, 20*time.Second, actions...)
}

func (b *widgetBrowser) runFor(what string, limit time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

func (b *widgetBrowser) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS(`body`)))
	b.t.Fatalf("%s: %v\nthe page now:\n%s", what, err, html)
}

// waitForm waits until the widget has rendered the view of the named remediation.
func (b *widgetBrowser) waitForm(name string) {
	b.t.Helper()
	b.run("the widget renders "+name,
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`body[data-form-name=%q] .o-form`, name))),
	)
}

// enterCode types a code into the code field, after deleting what it holds with
// the keyboard (the widget's form model follows key events; chromedp.Clear only
// sets the DOM value, and the widget would post the old code with the new one
// appended).
func (b *widgetBrowser) enterCode(code string) {
	b.t.Helper()
	const field = `input[name="credentials.passcode"]`
	old, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(field)))
	if err != nil {
		b.fail("reading the code field", err)
	}
	b.run("enter code "+code,
		chromedp.SendKeys(chromedp.CSS(field), kb.End+strings.Repeat(kb.Backspace, len(old))+code),
		chromedp.Click(chromedp.CSS(`input[type="submit"]`)),
	)
}

func (b *widgetBrowser) containsText(sel string, wants ...string) {
	b.t.Helper()
	got, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fail("reading "+sel, err)
	}
	for _, w := range wants {
		if !strings.Contains(got, w) {
			b.t.Errorf("%s shows %q, want it to contain %q", sel, got, w)
		}
	}
}

// screenshot takes a PNG of the page into the test's folder and, with
// UPDATE_SCREENSHOTS=1, into docs/screenshots/.
func (b *widgetBrowser) screenshot(name string) {
	b.t.Helper()
	// Let the widget's transitions settle.
	time.Sleep(300 * time.Millisecond)
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fail("screenshot "+name, err)
	}
	dirs := []string{b.shots}
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		dirs = append(dirs, filepath.Join("..", "docs", "screenshots"))
	}
	for _, dir := range dirs {
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// forms lists the views the widget rendered, in order.
func (b *widgetBrowser) forms() []string {
	forms, _ := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`window.widgetSteps.map(s => s.formName + (s.methodType ? "(" + s.methodType + ")" : ""))`))
	return forms
}

// checkIDXCalls checks the page's calls to the engine, in order: each want is
// "METHOD /path", with " STATUS" when it is not 200 (discovery, keys and the CORS
// preflights are left out of the list). Every call must be allowed by CORS for the
// page's origin — with credentials for interact and IDX — and carry the widget's
// X-Okta-User-Agent-Extended.
func (b *widgetBrowser) checkIDXCalls(wants []string) {
	b.t.Helper()
	var got []string
	agents := map[string]bool{}
	for _, r := range b.engineRequests() {
		u, _ := url.Parse(r.url)
		s := r.method + " " + u.Path
		if r.status != http.StatusOK {
			s += fmt.Sprintf(" %d", r.status)
		}
		if r.acao != b.origin {
			b.t.Errorf("%s: Access-Control-Allow-Origin %q, want the page's origin %s", s, r.acao, b.origin)
		}
		if r.method == http.MethodOptions {
			if r.status != http.StatusNoContent {
				b.t.Errorf("preflight %s", s)
			}
			continue
		}
		agents[r.agent] = true
		if !strings.Contains(r.agent, "okta-signin-widget-") {
			b.t.Errorf("%s: X-Okta-User-Agent-Extended %q does not name the widget", s, r.agent)
		}
		if (strings.HasPrefix(u.Path, "/idp/idx/") || strings.HasSuffix(u.Path, "/v1/interact")) && r.acac != "true" {
			b.t.Errorf("%s: Access-Control-Allow-Credentials %q", s, r.acac)
		}
		if strings.HasSuffix(u.Path, "/.well-known/openid-configuration") || strings.HasSuffix(u.Path, "/v1/keys") {
			continue
		}
		got = append(got, s)
	}
	if strings.Join(got, "\n") != strings.Join(wants, "\n") {
		b.t.Errorf("the widget's calls to the engine:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(wants, "\n  "))
	}
	for a := range agents {
		b.t.Logf("X-Okta-User-Agent-Extended: %s", a)
	}
}

func (b *widgetBrowser) engineRequests() []widgetRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []widgetRequest
	for _, id := range b.order {
		if r := b.requests[id]; strings.HasPrefix(r.url, b.engine+"/") {
			out = append(out, *r)
		}
	}
	return out
}

// report logs the browser console and the network log when the test failed, or
// with -v.
func (b *widgetBrowser) report() {
	if !b.t.Failed() && !testing.Verbose() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var s strings.Builder
	s.WriteString("browser console:\n")
	for _, line := range b.console {
		s.WriteString("  " + line + "\n")
	}
	s.WriteString("requests:\n")
	for _, id := range b.order {
		r := b.requests[id]
		fmt.Fprintf(&s, "  %s %s → %d %s\n", r.method, r.url, r.status, r.failed)
		if r.contentType != "" || r.accept != "" {
			fmt.Fprintf(&s, "      Content-Type: %s; Accept: %s\n", r.contentType, r.accept)
		}
		if r.body != "" && !strings.Contains(r.url, "/v1/token") {
			fmt.Fprintf(&s, "      %s\n", r.body)
		}
	}
	b.t.Log(s.String())
}
