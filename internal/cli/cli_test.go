package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

func TestUsersCommands(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "g.db")
	r := run(t, "s3cret-password\n", "users", "--database", db, "create", "Carol@Example.com", "--given-name", "Carol", "--phone", "(201) 555-0142", "--password-stdin")
	if r.code != 0 || !strings.Contains(r.stdout, "created carol@example.com") {
		t.Fatalf("create: %+v", r)
	}
	if r := run(t, "another-password\n", "users", "--database", db, "create", "carol@example.com", "--password-stdin"); r.code != 1 || !strings.Contains(r.stderr, "exists already") {
		t.Errorf("duplicate create: %+v", r)
	}
	if r := run(t, "short\n", "users", "--database", db, "create", "dave@example.com", "--password-stdin"); r.code != 1 || !strings.Contains(r.stderr, "at least 8 characters") {
		t.Errorf("short password: %+v", r)
	}
	if r := run(t, "", "users", "--database", db, "create", "dave@example.com"); r.code != 1 || !strings.Contains(r.stderr, "--password-stdin") {
		t.Errorf("no terminal and no --password-stdin: %+v", r)
	}
	r = run(t, "", "users", "--database", db, "show", "CAROL@example.com", "--json")
	var shown userJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &shown) != nil {
		t.Fatalf("show: %+v", r)
	}
	if shown.Login != "carol@example.com" || shown.Email != "carol@example.com" || !shown.HasPassword || len(shown.Phones) != 1 ||
		shown.Phones[0].Number != "+12015550142" || shown.Status != "ACTIVE" || shown.Disabled {
		t.Errorf("shown: %+v", shown)
	}
	// expire-password: the status says so until a new password is set.
	if r := run(t, "", "users", "--database", db, "expire-password", "carol@example.com"); r.code != 0 || !strings.Contains(r.stdout, "next sign-in asks for a new one") {
		t.Errorf("expire-password: %+v", r)
	}
	if r := run(t, "", "users", "--database", db, "show", "carol@example.com"); r.code != 0 || !strings.Contains(r.stdout, "PASSWORD_EXPIRED") {
		t.Errorf("show after expire-password: %+v", r)
	}
	if r := run(t, "", "users", "--database", db, "unsuspend", "carol@example.com"); r.code != 1 || !strings.Contains(r.stderr, "cannot unsuspend a user who is password expired") {
		t.Errorf("unsuspend a user who is not suspended: %+v", r)
	}
	// show reports the limit counters; unlock clears a user's password counters
	// and phone lockout.
	l := throttle.New(openTestStore(t, db), time.Now)
	for range 3 {
		if _, err := l.Reserve(t.Context(), throttle.Request{Key: throttle.PasswordFromUnknownSources("carol@example.com"), Limit: throttle.Limit{Max: 100, Window: time.Hour}}); err != nil {
			t.Fatal(err)
		}
	}
	r = run(t, "", "users", "--database", db, "show", "carol@example.com")
	if r.code != 0 || !strings.Contains(r.stdout, "password checks from unknown sources (hour)  3 of 100") {
		t.Errorf("show with counters: %+v", r)
	}
	if r := run(t, "", "users", "--database", db, "unlock", "carol@example.com"); r.code != 0 || !strings.Contains(r.stdout, "cleared 1 password-check counters") {
		t.Errorf("unlock: %+v", r)
	}
	r = run(t, "", "users", "--database", db, "show", "carol@example.com", "--json")
	if json.Unmarshal([]byte(r.stdout), &shown) != nil || shown.Limits == nil || shown.Limits.UnknownSourcePasswordChecks != 0 {
		t.Errorf("show after unlock: %+v", r)
	}
	if r := run(t, "", "users", "--database", db, "add-phone", "carol@example.com", "+1 800 555 0199"); r.code != 1 || !strings.Contains(r.stderr, "toll-free") {
		t.Errorf("toll-free phone: %+v", r)
	}
	if r := run(t, "", "users", "--database", db, "add-phone", "carol@example.com", "+12015550142"); r.code != 1 || !strings.Contains(r.stderr, "already has") {
		t.Errorf("same phone twice: %+v", r)
	}
	if r := run(t, "", "users", "--database", db, "add-phone", "carol@example.com", "+33612345678", "--sms=false"); r.code != 0 {
		t.Errorf("add-phone: %+v", r)
	}
	if r := run(t, "", "users", "--database", db, "remove-phone", "carol@example.com", "(201) 555-0142"); r.code != 0 || !strings.Contains(r.stdout, "removed +12015550142") {
		t.Errorf("remove-phone: %+v", r)
	}
	if r := run(t, "new-password-1\n", "users", "--database", db, "set-password", "carol@example.com", "--password-stdin"); r.code != 0 {
		t.Errorf("set-password: %+v", r)
	}
	r = run(t, "", "users", "--database", db, "show", "carol@example.com", "--json")
	if json.Unmarshal([]byte(r.stdout), &shown) != nil || shown.Status != "ACTIVE" {
		t.Errorf("show after set-password: %+v", r)
	}
	if r := run(t, "", "users", "--database", db, "disable", "carol@example.com"); r.code != 0 {
		t.Errorf("disable: %+v", r)
	}
	r = run(t, "", "users", "--database", db, "list")
	if r.code != 0 || !strings.Contains(r.stdout, "carol@example.com") || !strings.Contains(r.stdout, "+33612345678") || !strings.Contains(r.stdout, "disabled") {
		t.Errorf("list: %+v", r)
	}
	if r := run(t, "", "users", "--database", db, "delete", "carol@example.com"); r.code != 0 {
		t.Errorf("delete: %+v", r)
	}
	if r := run(t, "", "users", "--database", db, "show", "carol@example.com"); r.code != 1 || !strings.Contains(r.stderr, `no user "carol@example.com"`) {
		t.Errorf("show after delete: %+v", r)
	}
	if r := run(t, "", "users", "list"); r.code != 2 {
		t.Errorf("no database: %+v", r)
	}
	if r := run(t, "", "users", "--database", db, "frobnicate"); r.code != 2 {
		t.Errorf("unknown command: %+v", r)
	}
}

func TestServeRefusesABadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	writeFile(t, path, "issuer: https://id.example.com\nlisten: 127.0.0.1:0\ndatabase: x.db\nclients: []\nfrobs: 1\n")
	r := run(t, "", "serve", "--config", path)
	if r.code != 1 || !strings.Contains(r.stderr, `unknown key "frobs"`) {
		t.Errorf("serve with a bad config: %+v", r)
	}
}

// startDemo runs the demo until the test ends and waits until it answers.
func startDemo(t *testing.T, dataDir string, extra ...string) (engineURL, appURL string, out *testenv.SyncBuffer, stop func()) {
	t.Helper()
	addr, appAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	out = &testenv.SyncBuffer{}
	done := make(chan int, 1)
	args := append([]string{"demo", "--engine-addr", addr, "--app-addr", appAddr, "--data-dir", dataDir}, extra...)
	go func() { done <- Run(ctx, args, strings.NewReader(""), out, io.Discard) }()
	engineURL, appURL = "http://"+addr, "http://"+appAddr
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(engineURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case code := <-done:
			t.Fatalf("demo exited with %d: %s", code, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo did not start: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("demo exited with %d", code)
		}
	}
	t.Cleanup(stop)
	return engineURL, appURL, out, stop
}

func TestDemoStartsSeedsAndRestartsOnItsData(t *testing.T) {
	dir := t.TempDir()
	engineURL, appURL, out, stop := startDemo(t, dir)
	banner := out.String()
	lead := "Open " + appURL + " and sign in as " + DemoAlice + " / " + DemoDefaultPassword
	if first := strings.TrimSpace(banner); !strings.HasPrefix(first, lead) {
		t.Errorf("the banner does not start with %q:\n%s", lead, banner)
	}
	for _, want := range []string{engineURL + "/oauth2/default", "gatehouse-demo", DemoAlice, DemoBob, DemoDefaultPassword, "/dev/outbox",
		appURL + "/login/callback"} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner does not show %q:\n%s", want, banner)
		}
	}
	checkDemoApp(t, appURL)
	// The confidential web client's secret is printed and authenticates it: a
	// made-up code is then refused as a grant, not as a client.
	secretOf := func(banner string) string {
		m := regexp.MustCompile(DemoWebClientID + `  secret (\S+)`).FindStringSubmatch(banner)
		if m == nil {
			t.Fatalf("the banner shows no web client secret:\n%s", banner)
		}
		return m[1]
	}
	webSecret := secretOf(banner)
	for secret, want := range map[string]string{webSecret: "invalid_grant", "not-the-secret-not-the-secret": "invalid_client"} {
		resp, err := http.PostForm(engineURL+"/oauth2/default/v1/token", url.Values{"grant_type": {"authorization_code"},
			"code": {"made-up"}, "redirect_uri": {demoWebRedirectURIs[0]}, "client_id": {DemoWebClientID}, "client_secret": {secret}})
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if body["error"] != want {
			t.Errorf("token with the web client and secret %q: %v, want %s", secret, body, want)
		}
	}
	resp, err := http.Get(engineURL + "/oauth2/default/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d["issuer"] != engineURL+"/oauth2/default" {
		t.Errorf("issuer = %v", d["issuer"])
	}
	resp, err = http.Get(engineURL + "/dev/outbox")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("dev outbox: %v %v", resp, err)
	}
	resp.Body.Close()
	stop()

	aliceID := func() (string, int) {
		st, err := sqlite.Open(context.Background(), filepath.Join(dir, "gatehouse.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		u, err := st.GetUserByLogin(context.Background(), DemoAlice)
		if err != nil {
			t.Fatal(err)
		}
		phones, _ := st.ListPhoneEnrollments(context.Background(), u.ID)
		return u.ID, len(phones)
	}
	id1, n1 := aliceID()
	_, _, out, stop = startDemo(t, dir, "--demo-password", "another-demo-password")
	stop()
	if got := secretOf(out.String()); got != webSecret {
		t.Errorf("after a restart the web client's secret is %q, want the first one kept", got)
	}
	id2, n2 := aliceID()
	if id1 != id2 || n1 != 1 || n2 != 1 {
		t.Errorf("restart: alice %s/%s, phones %d/%d", id1, id2, n1, n2)
	}
}

// checkDemoApp fetches the demo's sign-in page and signs alice in as far as
// the authenticator choice: the app is served and talks to the engine.
func checkDemoApp(t *testing.T, appURL string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(appURL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `<h1 id="title">Sign in</h1>`) ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("GET %s/login: %s %s\n%s", appURL, resp.Status, resp.Header, body)
	}
	// The form carries its CSRF token, as a browser would post it back.
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("the sign-in page has no CSRF token:\n%s", body)
	}
	resp, err = c.PostForm(appURL+"/login", url.Values{"username": {DemoAlice}, "password": {DemoDefaultPassword}, "csrf": {html.UnescapeString(string(m[1]))}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/authenticator" {
		t.Fatalf("signing alice in through the demo app: %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// openTestStore opens the database the CLI uses, for a test to look at or change it
// directly; closed when the test ends.
func openTestStore(t *testing.T, db string) store.Store {
	t.Helper()
	st, err := engine.OpenStore(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}
