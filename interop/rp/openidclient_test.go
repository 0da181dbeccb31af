//go:build unix

package rp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// TestOpenIDClient runs interop/openid-client/rp.mjs, a web app whose OpenID
// Connect is the openid-client npm package (pinned in package.json), as a
// confidential client (client_secret_basic) of a real engine: discovery, an
// authorization URL with PKCE (S256), nonce and state, the callback with its
// RFC 9207 iss check, the code exchange and ID token validation, userinfo and a
// refresh. Chromium does the browser part through the hosted sign-in. Then a
// callback whose iss names another issuer must be refused by the library.
func TestOpenIDClient(t *testing.T) {
	skipShort(t, true)
	gatehouseBin(t)
	ctx := testContext(t)
	dir := prepareNode(t, ctx, filepath.Join("..", "openid-client"))
	b := newBrowser(t)

	addr := testenv.FreeAddr(t)
	app := "http://" + addr
	const clientID, secret = "openid-client-app", "openid-client-secret-0123456789"
	e := startEngine(t, ctx, rpClient{id: clientID, secret: secret, redirectURI: app + "/callback"})
	rp := startNodeRP(t, ctx, dir, map[string]string{
		"ISSUER": e.issuer, "CLIENT_ID": clientID, "CLIENT_SECRET": secret, "PORT": strings.TrimPrefix(addr, "127.0.0.1:"),
	})

	b.run("the app's home page",
		chromedp.Navigate(app+"/"),
		chromedp.Click(chromedp.CSS(`#login`)),
	)
	b.signIn(ctx, e)
	b.run("the app shows who signed in", chromedp.WaitVisible(chromedp.CSS(`#email, #error`)))
	line := rp.next(t, ctx)
	if !strings.HasPrefix(line, "RESULT ") {
		t.Fatalf("openid-client refused the sign-in: %s", line)
	}
	if got := b.text(`#email`); got != userLogin {
		t.Errorf("the app shows %q, want %s", got, userLogin)
	}
	var result struct {
		Claims struct {
			Iss, Sub, Aud, Nonce string
			AMR                  []string
		}
		Userinfo struct {
			Sub, Email, Phone_number string
		}
		Scope                                                 string
		HasRefreshToken, RefreshRotated, RefreshedAccessToken bool
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "RESULT ")), &result); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	c := result.Claims
	if c.Iss != e.issuer || c.Sub != e.userID || c.Aud != clientID || c.Nonce == "" {
		t.Errorf("ID token claims %+v; want iss %s, sub %s, aud %s and a nonce", c, e.issuer, e.userID, clientID)
	}
	if u := result.Userinfo; u.Sub != e.userID || u.Email != userLogin || u.Phone_number != userPhone {
		t.Errorf("userinfo %+v; want sub %s, email %s, phone %s", u, e.userID, userLogin, userPhone)
	}
	if !result.HasRefreshToken || !result.RefreshRotated || !result.RefreshedAccessToken {
		t.Errorf("refresh: got a refresh token %v, rotated %v, new access token %v", result.HasRefreshToken, result.RefreshRotated, result.RefreshedAccessToken)
	}

	// A callback claiming another issuer (a mix-up attack, RFC 9207) is refused
	// before any code is redeemed.
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(app + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	authz, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(authz.String(), e.issuer+"/v1/authorize?") {
		t.Fatalf("/login redirected to %q", resp.Header.Get("Location"))
	}
	q := authz.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("client_id") != clientID {
		t.Errorf("openid-client's authorization URL: %s", authz)
	}
	resp, err = hc.Get(app + "/callback?" + url.Values{"code": {"not-a-code"}, "state": {q.Get("state")}, "iss": {"http://issuer.invalid"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if line := rp.next(t, ctx); resp.StatusCode != http.StatusInternalServerError || !strings.HasPrefix(line, "ERROR ") || !strings.Contains(line, "iss") {
		t.Errorf("a callback with a foreign iss: %s, the app said %q; want a refusal naming iss", resp.Status, line)
	}
}

// nodeRP is a relying party script running under node.
type nodeRP struct {
	lines chan string
}

// startNodeRP runs rp.mjs with env until the test ends and waits for READY.
func startNodeRP(t *testing.T, ctx context.Context, dir string, env map[string]string) *nodeRP {
	t.Helper()
	cmd := exec.Command("node", "rp.mjs")
	cmd.Dir = dir
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testenv.SyncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rp := &nodeRP{lines: make(chan string, 16)}
	go func() {
		defer close(rp.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			rp.lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("rp.mjs stderr:\n%s", stderr.String())
		}
	})
	if line := rp.next(t, ctx); line != "READY" {
		t.Fatalf("rp.mjs did not start: %q\n%s", line, stderr.String())
	}
	return rp
}

// next returns the script's next line of output.
func (rp *nodeRP) next(t *testing.T, ctx context.Context) string {
	t.Helper()
	select {
	case line, ok := <-rp.lines:
		if !ok {
			t.Fatal("rp.mjs exited")
		}
		t.Logf("rp.mjs: %s", line)
		return line
	case <-ctx.Done():
		t.Fatal("rp.mjs said nothing more")
	case <-time.After(30 * time.Second):
		t.Fatal("rp.mjs said nothing for 30 s")
	}
	return ""
}

// prepareNode finds node and npm and makes sure dir/node_modules holds what
// dir/package-lock.json pins, running npm ci if not (as .ci/run does). Without
// Node.js or the npm registry the test is skipped (failed under
// GATEHOUSE_REQUIRE_SERVICES).
func prepareNode(t *testing.T, ctx context.Context, dir string) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Unavailable(t, "Node.js", "node is not on PATH")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		testenv.Unavailable(t, "Node.js", "npm is not on PATH")
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if why := nodeModulesStale(dir); why != "" {
		t.Logf("running npm ci in %s: %s", dir, why)
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
		out, err := cmd.CombinedOutput()
		if err != nil {
			if line := npmNetworkFailure.Find(out); line != nil {
				testenv.Unavailable(t, "Node.js", "npm ci could not reach the npm registry: "+strings.TrimSpace(string(line)))
			}
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	return dir
}

var npmNetworkFailure = regexp.MustCompile(`(?m)^.*(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network request .* failed|request to .* failed).*$`)

// nodeModulesStale says why node_modules does not hold exactly what
// package-lock.json pins (comparing it with the lockfile npm writes into
// node_modules), or "" when it does.
func nodeModulesStale(dir string) string {
	read := func(file string) (map[string]string, error) {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var lock struct {
			Packages map[string]struct{ Version string } `json:"packages"`
		}
		if err := json.Unmarshal(data, &lock); err != nil {
			return nil, err
		}
		out := map[string]string{}
		for path, p := range lock.Packages {
			if path != "" {
				out[path] = p.Version
			}
		}
		return out, nil
	}
	want, err := read(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return err.Error()
	}
	have, err := read(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil {
		return "node_modules is missing or was not installed by npm"
	}
	for path, v := range want {
		if have[path] != v {
			return fmt.Sprintf("%s is %q, package-lock.json wants %s", path, have[path], v)
		}
	}
	if len(have) != len(want) {
		return "node_modules holds packages package-lock.json does not list"
	}
	return ""
}
