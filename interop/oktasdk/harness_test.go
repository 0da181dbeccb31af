//go:build unix

// Package oktasdk drives Gatehouse's management API with Okta's own Go management
// SDK (github.com/okta/okta-sdk-golang/v5), against a real `gatehouse serve`
// process with users made by `gatehouse users` and API tokens by `gatehouse
// tokens`. It is a module of its own so that the root module's `go test ./...`
// does not carry the SDK's dependencies.
package oktasdk

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

	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// binDir holds the gatehouse binary the tests build once per run.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-oktasdk-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binPath   string
	buildOut  string
	buildErr  error
)

// gatehouseBin builds ./cmd/gatehouse of the repository this module sits in, or
// returns the binary GATEHOUSE_BIN names (to test a build made elsewhere).
func gatehouseBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("GATEHOUSE_BIN"); p != "" {
			binPath = p
			return
		}
		root, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(binDir, "gatehouse")
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", binPath, "./cmd/gatehouse")
		cmd.Dir = root
		b, err := cmd.CombinedOutput()
		buildOut, buildErr = string(b), err
	})
	if buildErr != nil {
		t.Fatalf("go build ./cmd/gatehouse: %v\n%s", buildErr, buildOut)
	}
	return binPath
}

// engine is a running `gatehouse serve` process with the management API on.
type engine struct {
	t       *testing.T
	bin     string
	addr    string // host:port
	base    string // http://host:port
	dsn     string
	logs    *testenv.SyncBuffer
	userIDs map[string]string // login → id
}

// person is a user the tests seed.
type person struct {
	login, given, family string
	disabled             bool
}

// startEngine writes a configuration (SQLite, the management API on with a budget
// of perMinute requests per token), creates people with `gatehouse users`, and runs
// `gatehouse serve` on a free port until the test ends.
func startEngine(t *testing.T, perMinute int, people []person) *engine {
	t.Helper()
	bin := gatehouseBin(t)
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	e := &engine{t: t, bin: bin, addr: addr, base: "http://" + addr, logs: &testenv.SyncBuffer{}, userIDs: map[string]string{}}
	e.dsn = "sqlite:" + filepath.Join(dir, "gatehouse.db")
	// The dev outbox lets the tests read the codes sent to phones being enrolled.
	cfg := fmt.Sprintf("issuer: %s/oauth2/default\nlisten: %s\ndatabase: %q\nlog_level: info\ndev_outbox: true\n"+
		"management_api:\n  enabled: true\n  rate_limit_per_minute: %d\n", e.base, addr, e.dsn, perMinute)
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	idPattern := regexp.MustCompile(`\(id (\S+)\)`)
	for _, p := range people {
		out := e.run("correct horse battery staple\n", "users", "--database", e.dsn, "create", p.login,
			"--given-name", p.given, "--family-name", p.family, "--password-stdin")
		m := idPattern.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("gatehouse users create printed no id: %s", out)
		}
		e.userIDs[p.login] = m[1]
		if p.disabled {
			e.run("", "users", "--database", e.dsn, "disable", p.login)
		}
	}

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
	e.waitReady()
	return e
}

// run runs a gatehouse command to completion and returns its standard output.
func (e *engine) run(stdin string, args ...string) string {
	e.t.Helper()
	cmd := exec.Command(e.bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		e.t.Fatalf("gatehouse %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// token makes an API token with `gatehouse tokens create` and returns it (the last
// line of its output) and its id.
func (e *engine) token(name string, readOnly bool) (token, id string) {
	e.t.Helper()
	args := []string{"tokens", "--database", e.dsn, "create", "--name", name}
	if readOnly {
		args = append(args, "--read-only")
	}
	out := e.run("", args...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	m := regexp.MustCompile(`created API token (\S+) `).FindStringSubmatch(lines[0])
	if m == nil || len(lines) != 2 {
		e.t.Fatalf("gatehouse tokens create: %q", out)
	}
	return lines[len(lines)-1], m[1]
}

// latestCode is the code of the newest message to number, read from the dev
// outbox over HTTP; "" when none was sent.
func (e *engine) latestCode(number string) string {
	e.t.Helper()
	resp, err := http.Get(e.base + "/dev/outbox?phone=" + url.QueryEscape(number))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var msgs []struct {
		Code string `json:"code"`
	}
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /dev/outbox: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&msgs); err != nil {
		e.t.Fatal(err)
	}
	if len(msgs) == 0 {
		return ""
	}
	return msgs[0].Code
}

// waitReady polls /readyz until it answers 200.
func (e *engine) waitReady() {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(e.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("%s", resp.Status)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("gatehouse did not become ready: %v\n%s", err, e.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
