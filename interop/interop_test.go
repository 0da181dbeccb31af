//go:build unix

// Package interop runs client libraries other teams ship, unchanged, against a real
// gatehouse process. TestOktaAuthJS drives the Node.js suite in okta-auth-js/, which
// signs users in, recovers passwords, registers users and enrolls the authenticator
// app with the official @okta/okta-auth-js client.
package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// suiteDir is the npm project, relative to this package.
const suiteDir = "okta-auth-js"

// suiteTimeout bounds the whole Node run when go test has no deadline; the suite
// itself takes well under a minute (two 30 s resend cool-downs run in parallel).
const suiteTimeout = 6 * time.Minute

func TestOktaAuthJS(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the okta-auth-js interop suite in -short mode (it starts gatehouse and waits out a 30 s resend cool-down)")
	}
	// An interrupted go test still takes the suite's processes down with it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if deadline, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-15*time.Second))
		defer cancel()
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, suiteTimeout)
		defer cancel()
	}

	dir, npm := prepareNodeSuite(t, ctx)
	bin := buildGatehouse(t, ctx)
	summary, err := runSuite(ctx, t, dir, npm, bin)
	if summary.found {
		t.Logf("node test summary: %s", summary)
	}
	switch {
	case err != nil:
		t.Fatalf("npm test: %v", err)
	case !summary.found:
		t.Fatal("npm test printed no test summary")
	case summary.counts["fail"] > 0 || summary.counts["cancelled"] > 0:
		t.Fatalf("the okta-auth-js suite failed: %s", summary)
	case summary.counts["pass"] == 0:
		t.Fatalf("the okta-auth-js suite ran no tests: %s", summary)
	}
	if n := summary.counts["todo"]; n > 0 {
		// Node counts a todo test apart whether it fails or passes: each names a known
		// engine bug, and its "# …" line above says whether it still shows.
		t.Logf("%d test(s) marked todo for known engine bugs: see the lines ending in \"# engine: …\" above", n)
	}
}

// prepareNodeSuite finds node and npm and makes sure node_modules holds what
// package-lock.json pins (running npm ci if not), returning the suite's folder and
// npm. Without Node or the npm registry the test is skipped (failed under
// GATEHOUSE_REQUIRE_SERVICES).
func prepareNodeSuite(t *testing.T, ctx context.Context) (dir, npm string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Unavailable(t, "Node.js", "node is not on PATH")
	}
	npm, err = exec.LookPath("npm")
	if err != nil {
		testenv.Unavailable(t, "Node.js", "npm is not on PATH")
	}
	dir, err = filepath.Abs(suiteDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("using %s (%s) and %s", node, nodeVersion(node), npm)
	if current, why := nodeModulesCurrent(dir); !current {
		t.Logf("running npm ci: %s", why)
		out, err := runQuiet(ctx, dir, npm, "ci", "--no-audit", "--no-fund")
		if err != nil {
			if line := networkFailure.FindString(out); line != "" {
				testenv.Unavailable(t, "Node.js", "npm ci could not reach the npm registry: "+strings.TrimSpace(line))
			}
			t.Fatalf("npm ci failed: %v\n%s", err, out)
		}
	}
	return dir, npm
}

// buildGatehouse builds ./cmd/gatehouse into the test's temporary folder.
func buildGatehouse(t *testing.T, ctx context.Context) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gatehouse")
	root, err := filepath.Abs(filepath.Join(suiteDir, "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runQuiet(ctx, root, goTool(), "build", "-o", bin, "./cmd/gatehouse"); err != nil {
		t.Fatalf("go build ./cmd/gatehouse: %v\n%s", err, out)
	}
	return bin
}

// runSuite runs `npm test` in its own process group, logging every line, and kills
// the whole group (npm, node, the gatehouse servers it started) when done.
func runSuite(ctx context.Context, t *testing.T, dir, npm, bin string) (testSummary, error) {
	cmd := exec.CommandContext(ctx, npm, "test")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GATEHOUSE_BIN="+bin,
		"TMPDIR="+t.TempDir(), // the suite's data folders land here and go with the test
		"NO_COLOR=1",
		"npm_config_update_notifier=false",
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw

	summary := testSummary{counts: map[string]int{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			t.Log(line)
			summary.add(line)
		}
		_, _ = io.Copy(io.Discard, pr)
	}()

	if err := cmd.Start(); err != nil {
		pw.Close()
		<-done
		return summary, err
	}
	pgid := cmd.Process.Pid
	err := cmd.Wait()
	// Whatever is left of the group (a server whose test process died) goes too.
	if kerr := syscall.Kill(-pgid, syscall.SIGKILL); kerr != nil && !errors.Is(kerr, syscall.ESRCH) {
		t.Logf("killing process group %d: %v", pgid, kerr)
	}
	pw.Close()
	<-done
	if ctx.Err() != nil {
		return summary, fmt.Errorf("stopped early (interrupted, or the test deadline is near): %w (%v)", ctx.Err(), err)
	}
	return summary, err
}

// testSummary collects the closing lines of Node's spec reporter ("ℹ pass 25").
type testSummary struct {
	found  bool
	counts map[string]int
	millis float64
}

var summaryLine = regexp.MustCompile(`^\S*\s*(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ([0-9.]+)\s*$`)

func (s *testSummary) add(line string) {
	m := summaryLine.FindStringSubmatch(strings.TrimSpace(line))
	if m == nil || !strings.HasPrefix(strings.TrimSpace(line), "ℹ") {
		return
	}
	s.found = true
	if m[1] == "duration_ms" {
		s.millis, _ = strconv.ParseFloat(m[2], 64)
		return
	}
	s.counts[m[1]], _ = strconv.Atoi(m[2])
}

func (s testSummary) String() string {
	var b strings.Builder
	for _, k := range []string{"tests", "suites", "pass", "fail", "cancelled", "skipped", "todo"} {
		fmt.Fprintf(&b, "%s %d, ", k, s.counts[k])
	}
	fmt.Fprintf(&b, "duration %.1fs", s.millis/1000)
	return b.String()
}

// nodeModulesCurrent reports whether node_modules holds exactly what
// package-lock.json pins, comparing it with the lockfile npm keeps in
// node_modules/.package-lock.json after every install.
func nodeModulesCurrent(dir string) (bool, string) {
	want, err := lockedPackages(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false, err.Error()
	}
	have, err := lockedPackages(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil {
		return false, "node_modules is missing or was not installed by npm"
	}
	delete(want, "") // the project itself
	for path, w := range want {
		h, ok := have[path]
		if !ok {
			return false, path + " is not installed"
		}
		if h != w {
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

type lockedPackage struct {
	Version   string `json:"version"`
	Integrity string `json:"integrity"`
}

func lockedPackages(file string) (map[string]lockedPackage, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var lock struct {
		Packages map[string]lockedPackage `json:"packages"`
	}
	if err := json.Unmarshal(data, &lock); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if lock.Packages == nil {
		return nil, fmt.Errorf("%s lists no packages", file)
	}
	return lock.Packages, nil
}

// networkFailure matches the line of npm's output that says the registry could not
// be reached.
var networkFailure = regexp.MustCompile(`(?m)^.*(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network request .* failed|request to .* failed).*$`)

func runQuiet(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func nodeVersion(node string) string {
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return "version unknown"
	}
	return strings.TrimSpace(string(out))
}

// goTool is the go command that runs this test, or the one in GOROOT.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(build.Default.GOROOT, "bin", "go")
}
