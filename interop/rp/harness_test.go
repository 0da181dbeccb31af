//go:build unix

// Package rp runs relying parties that nobody here wrote — a go-oidc web app, the
// openid-client npm package, oauth2-proxy — against a real `gatehouse serve`
// process, through the authorization code flow, with headless Chromium signing in
// on the engine's hosted pages. It is a module of its own so that the root
// module's `go test ./...` does not carry these test-only dependencies.
package rp

import (
	"context"
	"encoding/json"
	"fmt"
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

	"github.com/gatehouse-id/gatehouse/internal/browsertest"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// The user every test signs in.
const (
	userLogin    = "alice@example.com"
	userPassword = "rp-interop-Passw0rd"
	userPhone    = "+12015550123"
	userGiven    = "Alice"
)

// binDir holds the binaries the tests build once per run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-rp-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// built builds a binary once per test run; a failure is reported to every test
// that asks for it.
type built struct {
	once sync.Once
	path string
	out  string
	err  error
}

var gatehouseBuild, proxyBuild built

// gatehouseBin builds ./cmd/gatehouse of the repository this module sits in, or
// returns the binary GATEHOUSE_BIN names (to test a build made elsewhere).
func gatehouseBin(t *testing.T) string {
	t.Helper()
	gatehouseBuild.once.Do(func() {
		if p := os.Getenv("GATEHOUSE_BIN"); p != "" {
			gatehouseBuild.path = p
			return
		}
		root, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			gatehouseBuild.err = err
			return
		}
		gatehouseBuild.path = filepath.Join(binDir, "gatehouse")
		gatehouseBuild.out, gatehouseBuild.err = goBuild(root, gatehouseBuild.path, "./cmd/gatehouse")
	})
	if gatehouseBuild.err != nil {
		t.Fatalf("go build ./cmd/gatehouse: %v\n%s", gatehouseBuild.err, gatehouseBuild.out)
	}
	return gatehouseBuild.path
}

// oauth2ProxyBin builds oauth2-proxy at the version this module's go.mod pins (a
// `tool` there). Without the module in the cache and no way to download it, the
// test is skipped (failed under GATEHOUSE_REQUIRE_SERVICES).
func oauth2ProxyBin(t *testing.T) string {
	t.Helper()
	proxyBuild.once.Do(func() {
		proxyBuild.path = filepath.Join(binDir, "oauth2-proxy")
		proxyBuild.out, proxyBuild.err = goBuild(".", proxyBuild.path, "github.com/oauth2-proxy/oauth2-proxy/v7")
	})
	if proxyBuild.err != nil {
		if goNetworkFailure.MatchString(proxyBuild.out) {
			testenv.Unavailable(t, "oauth2-proxy", "it could not be built: the Go module proxy is unreachable and the module cache lacks it:\n"+proxyBuild.out)
		}
		t.Fatalf("go build oauth2-proxy: %v\n%s", proxyBuild.err, proxyBuild.out)
	}
	return proxyBuild.path
}

var goNetworkFailure = regexp.MustCompile(`dial tcp|no such host|connection refused|i/o timeout|GOPROXY|GOFLAGS=-mod=mod`)

func goBuild(dir, out, pkg string) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("the go command is not on PATH: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", out, pkg)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// rpClient is a client registered in the engine's configuration.
type rpClient struct {
	id, secret             string
	redirectURI            string
	postLogoutRedirectURIs []string
	grants                 []string
}

// engine is a running `gatehouse serve` process.
type engine struct {
	base, issuer, userID string
	logs                 *testenv.SyncBuffer
}

// startEngine writes a configuration (SQLite, the dev outbox, one client per
// relying party), creates alice with her phone, and runs `gatehouse serve` on a
// free port until the test ends.
func startEngine(t *testing.T, ctx context.Context, clients ...rpClient) *engine {
	t.Helper()
	bin := gatehouseBin(t)
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	e := &engine{base: "http://" + addr, logs: &testenv.SyncBuffer{}}
	e.issuer = e.base + "/oauth2/default"
	dsn := "sqlite:" + filepath.Join(dir, "gatehouse.db")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "issuer: %s\nlisten: %s\ndatabase: %q\nlog_level: info\ndev_outbox: true\nclients:\n", e.issuer, addr, dsn)
	for _, c := range clients {
		grants := c.grants
		if grants == nil {
			grants = []string{"authorization_code", "refresh_token"}
		}
		fmt.Fprintf(&cfg, "  - id: %s\n    redirect_uris: [%q]\n    grants: [%s]\n    scopes: [openid, profile, email, phone, offline_access]\n",
			c.id, c.redirectURI, strings.Join(grants, ", "))
		if c.secret != "" {
			fmt.Fprintf(&cfg, "    secret: %q\n", c.secret)
		}
		if len(c.postLogoutRedirectURIs) > 0 {
			q := make([]string, len(c.postLogoutRedirectURIs))
			for i, u := range c.postLogoutRedirectURIs {
				q[i] = fmt.Sprintf("%q", u)
			}
			fmt.Fprintf(&cfg, "    post_logout_redirect_uris: [%s]\n", strings.Join(q, ", "))
		}
	}
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	create := exec.CommandContext(ctx, bin, "users", "--database", dsn, "create", userLogin,
		"--given-name", userGiven, "--phone", userPhone, "--password-stdin")
	create.Stdin = strings.NewReader(userPassword + "\n")
	out, err := create.CombinedOutput()
	if err != nil {
		t.Fatalf("gatehouse users create: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`\(id (\S+)\)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("gatehouse users create printed no id: %s", out)
	}
	e.userID = string(m[1])

	cmd := exec.Command(bin, "serve", "--config", path)
	cmd.Stdout, cmd.Stderr = e.logs, e.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("gatehouse logs:\n%s", e.logs.String())
		}
	})
	waitReady(t, ctx, e.base+"/readyz", "gatehouse", e.logs)
	return e
}

// waitReady polls url until it answers 200.
func waitReady(t *testing.T, ctx context.Context, url, what string, logs *testenv.SyncBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s did not become ready at %s: %v\n%s", what, url, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type outboxMessage struct {
	Channel string `json:"channel"`
	Code    string `json:"code"`
}

// outbox lists the messages to alice's phone, newest first.
func (e *engine) outbox(t *testing.T) []outboxMessage {
	t.Helper()
	resp, err := http.Get(e.base + "/dev/outbox?phone=" + url.QueryEscape(userPhone))
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
func (e *engine) waitCode(t *testing.T, ctx context.Context, before int) string {
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

// skipShort skips a test in -short mode: every test here builds and starts
// gatehouse. withBrowser also checks for Chromium first, to skip before building.
func skipShort(t *testing.T, withBrowser bool) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping a relying-party interop test in -short mode (it builds and starts gatehouse)")
	}
	if withBrowser {
		browsertest.Chromium(t)
	}
}

// testContext bounds a test once its binaries are built: well under the two
// minutes each test is allowed.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	t.Cleanup(cancel)
	return ctx
}
