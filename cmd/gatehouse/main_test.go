package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

const versionPkg = "github.com/gatehouse-id/gatehouse/internal/version"

// build compiles this command into a temporary folder with extra go build flags.
func build(t *testing.T, flags ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping in -short mode: builds the gatehouse binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "gatehouse")
	args := append([]string{"build", "-o", bin}, flags...)
	cmd := exec.Command(goTool, append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

// run runs the binary and returns its standard output, failing on a non-zero exit.
func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("gatehouse %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

type versionJSON struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

func versionOf(t *testing.T, bin string) versionJSON {
	t.Helper()
	var v versionJSON
	if out := run(t, bin, "version", "--json"); json.Unmarshal([]byte(out), &v) != nil {
		t.Fatalf("version --json printed %q", out)
	}
	return v
}

// A release build names its version, commit and date with -ldflags -X; every way of
// asking shows them.
func TestVersionFromLinkerFlags(t *testing.T) {
	bin := linkedBinary(t)
	want := versionJSON{Version: "v9.8.7-test", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-03-04T05:06:07Z"}
	got := versionOf(t, bin)
	if got.Version != want.Version || got.Commit != want.Commit || got.Date != want.Date || got.Modified {
		t.Errorf("version --json = %+v, want %+v", got, want)
	}
	if !strings.HasPrefix(got.GoVersion, "go1.") || got.Platform == "" {
		t.Errorf("go version %q, platform %q", got.GoVersion, got.Platform)
	}
	long := run(t, bin, "version")
	for _, line := range []string{"version:   v9.8.7-test", "commit:    " + want.Commit, "built:     " + want.Date, "go:        " + got.GoVersion} {
		if !strings.Contains(long, line+"\n") {
			t.Errorf("gatehouse version lacks %q:\n%s", line, long)
		}
	}
	short := run(t, bin, "--version")
	if wantShort := "gatehouse v9.8.7-test (commit 0123456789ab, built 2026-03-04T05:06:07Z, " + got.GoVersion + ", " + got.Platform + ")\n"; short != wantShort {
		t.Errorf("gatehouse --version = %q, want %q", short, wantShort)
	}
}

func linkedBinary(t *testing.T) string {
	return build(t, "-ldflags", "-X "+versionPkg+".Version=v9.8.7-test -X "+versionPkg+".Commit=0123456789abcdef0123456789abcdef01234567 -X "+versionPkg+".Date=2026-03-04T05:06:07Z")
}

// Without -ldflags, a build inside the Git checkout reads its commit and time from
// the build information Go records; one without VCS information says "devel".
func TestVersionFromBuildInfo(t *testing.T) {
	bare := versionOf(t, build(t, "-buildvcs=false"))
	if bare.Version != "devel" || bare.Commit != "unknown" || bare.Date != "unknown" || bare.Modified {
		t.Errorf("a build that knows nothing: %+v, want devel/unknown/unknown", bare)
	}

	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a Git checkout (or no git): %v; the VCS half is not tested", err)
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err != nil || !fi.IsDir() {
		// Go looks for a .git folder; a linked worktree has a .git file instead,
		// and Go records no VCS information there (a build says "devel").
		t.Skip("a Git worktree (.git is a file): go build records no VCS information here; the VCS half runs in a plain checkout")
	}
	v := versionOf(t, build(t, "-buildvcs=true"))
	commit := strings.TrimSpace(string(head))
	if v.Commit != commit {
		t.Errorf("commit %q, want HEAD %q", v.Commit, commit)
	}
	if _, err := time.Parse(time.RFC3339, v.Date); err != nil {
		t.Errorf("date %q is not the commit time: %v", v.Date, err)
	}
	// Go names a build from an untagged commit with a pseudo-version that ends in
	// the commit, "+dirty" when the checkout had changes.
	if !strings.Contains(v.Version, commit[:12]) || strings.HasSuffix(v.Version, "+dirty") != v.Modified {
		t.Errorf("version %q (modified %v) does not name commit %s", v.Version, v.Modified, commit[:12])
	}
}

// serve logs its version on start and publishes gatehouse_build_info; the
// healthcheck command (the container image's HEALTHCHECK) is 0 once the engine is
// ready and 1 while nothing answers.
func TestServeVersionAndHealthcheck(t *testing.T) {
	bin := linkedBinary(t)
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	cfg := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `issuer: http://%s/oauth2/default
listen: %s
database: sqlite:%s
clients:
  - id: version-test
    redirect_uris: [http://127.0.0.1:3000/login/callback]
`, addr, addr, filepath.Join(dir, "data", "gatehouse.db")), 0o600); err != nil {
		t.Fatal(err)
	}
	readyz := "http://" + addr + "/readyz"

	// Before the engine runs: unhealthy, with the reason on stderr.
	var stderr bytes.Buffer
	hc := exec.Command(bin, "healthcheck", "--url", readyz, "--timeout", "2s")
	hc.Stderr = &stderr
	var exit *exec.ExitError
	if err := hc.Run(); !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "connection refused") {
		t.Errorf("healthcheck with no engine: %v, stderr %q", err, stderr.String())
	}

	var logs testenv.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	serve := exec.CommandContext(ctx, bin, "serve", "--config", cfg)
	serve.Stdout, serve.Stderr = &logs, &logs
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		_ = serve.Wait()
		if t.Failed() {
			t.Logf("engine logs:\n%s", logs.String())
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command(bin, "healthcheck", "--url", readyz).Output()
		if err == nil {
			if string(out) != readyz+": ready\n" {
				t.Errorf("healthcheck printed %q", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthcheck never passed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	var started map[string]any
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "gatehouse engine listening" {
			started = rec
		}
	}
	if started["version"] != "v9.8.7-test" || started["commit"] != "0123456789ab" || !strings.HasPrefix(fmt.Sprint(started["go_version"]), "go1.") {
		t.Errorf("start-up line %v lacks the build", started)
	}

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(body, []byte(`gatehouse_build_info{commit="0123456789ab",go_version="go1.`)) ||
		!bytes.Contains(body, []byte(`",version="v9.8.7-test"} 1`+"\n")) {
		t.Errorf("no gatehouse_build_info for this build in /metrics")
	}

	// A URL that answers something else than 200 is unhealthy too.
	stderr.Reset()
	hc = exec.Command(bin, "healthcheck", "--url", "http://"+addr+"/no-such-page")
	hc.Stderr = &stderr
	if err := hc.Run(); !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "404") {
		t.Errorf("healthcheck of a 404: %v, stderr %q", err, stderr.String())
	}
}
