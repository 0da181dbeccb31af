//go:build unix

package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/enginetest"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// TestRollingUpgradeUnderLoad upgrades a two-node PostgreSQL cluster one node at a
// time while `gatehouse bench --url` signs people in through a load balancer, then
// rolls it back the same way, and requires that no sign-in failed.
//
// The two releases are real binaries of this code: "old" is the normal build, "new"
// is built with -tags gatehouse_upgradetest, which adds one additive migration
// (engine/store/sqlstore/upgradetest). The procedure is docs/upgrading.md's: the new
// binary's `gatehouse migrate` runs once while the old nodes serve (they must stay
// ready on the newer schema), then each node in turn is taken out of the balancer,
// stopped with SIGTERM, started on the new binary and put back once /readyz says so.
// The rollback puts the old binary back on each node, on the newer schema.
// upgradeBenchDuration is how long the bench signs people in: long enough for the
// migration and four node replacements with room to spare on a loaded machine.
const upgradeBenchDuration = "75s"

func TestRollingUpgradeUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the rolling-upgrade test in -short mode (it builds two binaries and runs a 75 s benchmark)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dsn := enginetest.PostgresSchema(t) // skips without PostgreSQL
	oldBin, newBin := buildGatehouseWith(t, ctx, "old"), buildGatehouseWith(t, ctx, "new", "-tags", "gatehouse_upgradetest")

	lb := &balancer{}
	front := httptest.NewServer(lb)
	defer front.Close()
	issuer := front.URL + "/oauth2/default"
	kek := enginetest.TestKEKFile(t)

	mustRun(t, ctx, oldBin, "migrate", "--database", dsn)
	nodes := [2]*upgradeNode{
		startUpgradeNode(t, ctx, oldBin, "a-old", issuer, dsn, kek),
		startUpgradeNode(t, ctx, oldBin, "b-old", issuer, dsn, kek),
	}
	lb.set(nodes[0].base, nodes[1].base)

	// The bench (the old release's: it must not need the new schema) signs in
	// through the balancer: identify with the password, an SMS code read from
	// /dev/outbox, tokens, userinfo.
	resultFile := filepath.Join(t.TempDir(), "bench.json")
	bench := exec.CommandContext(ctx, oldBin, "bench", "--url", issuer, "--database", dsn,
		"--client-id", "bench-app", "--redirect-uri", "http://127.0.0.1:3000/login/callback",
		"--users", "400", "--concurrency", "4", "--rate", "6", "--warmup", "1s", "--duration", upgradeBenchDuration,
		"--json-file", resultFile)
	var benchOut bytes.Buffer
	bench.Stdout, bench.Stderr = &benchOut, &benchOut
	if err := bench.Start(); err != nil {
		t.Fatal(err)
	}
	benchDone := make(chan error, 1)
	go func() { benchDone <- bench.Wait() }()
	defer func() {
		if bench.ProcessState == nil {
			_ = bench.Process.Kill()
		}
	}()

	// Past the bench's warm-up, with sign-ins completing.
	waitUntil(t, ctx, benchDone, &benchOut, "sign-ins through the balancer", func() bool { return lb.tokensSince(time.Time{}) >= 3 })
	time.Sleep(1500 * time.Millisecond) // the bench's 1 s warm-up, so that what follows is measured

	// The new release's migrate, once, while the old nodes serve.
	out := mustRun(t, ctx, newBin, "migrate", "--database", dsn)
	if !strings.Contains(out, "applied 9000_upgrade_test.sql") {
		t.Fatalf("the new release's migrate: %s", out)
	}
	for _, n := range nodes {
		if code := n.ready(); code != http.StatusOK {
			t.Errorf("%s answers /readyz %d on the schema the next release migrated: old nodes must stay ready", n.name, code)
		}
	}

	replace := func(i int, bin, name string) {
		t.Helper()
		other := nodes[1-i]
		lb.set(other.base) // out of the balancer first, as a load balancer drains it
		nodes[i].stop(t)
		nodes[i] = startUpgradeNode(t, ctx, bin, name, issuer, dsn, kek)
		lb.set(nodes[0].base, nodes[1].base)
	}
	replace(1, newBin, "b-new")
	replace(0, newBin, "a-new")
	for _, n := range nodes {
		if !strings.Contains(n.logs.String(), "database schema up to date") {
			t.Errorf("%s did not log the schema it found:\n%s", n.name, n.logs)
		}
	}
	// Rollback: the old release again, on the newer schema.
	replace(1, oldBin, "b-rolled-back")
	replace(0, oldBin, "a-rolled-back")
	for _, n := range nodes {
		if !strings.Contains(n.logs.String(), "database schema is newer than this binary") {
			t.Errorf("%s did not log that it serves a newer schema:\n%s", n.name, n.logs)
		}
	}
	rolledBack := time.Now()

	// Sign-ins go on through the rolled-back cluster until the bench ends. The four
	// node replacements must all happen while the bench runs; on a slow machine (CI
	// under -race) they have taken over 20 s, hence the long bench.
	waitUntil(t, ctx, benchDone, &benchOut, "sign-ins on the rolled-back cluster (if the bench ended first, the replacements took longer than "+upgradeBenchDuration+")", func() bool { return lb.tokensSince(rolledBack) >= 3 })
	select {
	case err := <-benchDone:
		if err != nil {
			t.Fatalf("bench: %v\n%s", err, benchOut.String())
		}
	case <-ctx.Done():
		t.Fatalf("the bench did not finish:\n%s", benchOut.String())
	}

	data, err := os.ReadFile(resultFile)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Flows      int            `json:"flows"`
		ErrorCount int            `json:"error_count"`
		Errors     map[string]int `json:"errors"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("bench JSON: %v\n%s", err, data)
	}
	t.Logf("bench: %d sign-ins, %d failed; balancer: %d token responses, %d after the rollback", res.Flows, res.ErrorCount, lb.tokensSince(time.Time{}), lb.tokensSince(rolledBack))
	if res.ErrorCount != 0 || len(res.Errors) != 0 || res.Flows < 20 {
		t.Errorf("sign-ins during the upgrade: %d completed, %d failed: %v\n%s", res.Flows, res.ErrorCount, res.Errors, benchOut.String())
	}
	if bad := lb.failures(); len(bad) > 0 {
		t.Errorf("the balancer saw failed answers: %v", bad)
	}
}

// buildGatehouseWith builds ./cmd/gatehouse with extra go build flags.
func buildGatehouseWith(t *testing.T, ctx context.Context, name string, flags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gatehouse-"+name)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{"build"}, flags...), "-o", bin, "./cmd/gatehouse")
	if out, err := runQuiet(ctx, root, goTool(), args...); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

func mustRun(t *testing.T, ctx context.Context, bin string, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// waitUntil polls cond until it holds, failing if the bench ends first.
func waitUntil(t *testing.T, ctx context.Context, benchDone <-chan error, benchOut *bytes.Buffer, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case err := <-benchDone:
			t.Fatalf("the bench ended (%v) before %s:\n%s", err, what, benchOut.String())
		case <-ctx.Done():
			t.Fatalf("no %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type upgradeNode struct {
	name, base string
	cmd        *exec.Cmd
	logs       *testenv.SyncBuffer
}

func (n *upgradeNode) ready() int {
	resp, err := http.Get(n.base + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// stop sends SIGTERM and waits for the process: serve finishes in-flight requests.
func (n *upgradeNode) stop(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Wait(); err != nil {
		t.Errorf("%s exited with %v:\n%s", n.name, err, n.logs)
	}
}

// startUpgradeNode runs `gatehouse serve` from bin until the test ends and waits
// until it is ready. The limits are raised for the bench, which signs hundreds of
// people in from one address.
func startUpgradeNode(t *testing.T, ctx context.Context, bin, name, issuer, dsn, kek string) *upgradeNode {
	t.Helper()
	addr := testenv.FreeAddr(t)
	cfg := fmt.Sprintf(`issuer: %s
listen: %s
database: %q
keys:
  encryption_key_file: %q
log_level: info
dev_outbox: true
clients:
  - id: bench-app
    redirect_uris: [http://127.0.0.1:3000/login/callback]
    grants: [interaction_code, refresh_token]
    scopes: [openid, profile, email, phone, offline_access]
rate_limits:
  requests_per_ip_per_minute: 1000000
  transactions_per_ip: 1000000
  transactions_total: 1000000
phone:
  max_sends_per_ip_per_hour: 1000000
  max_unverified_sends_per_ip_per_hour: 1000000
  max_sends_per_hour: 1000000
`, issuer, addr, dsn, kek)
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	cmd := exec.Command(bin, "serve", "--config", path)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n := &upgradeNode{name: name, base: "http://" + addr, cmd: cmd, logs: logs}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, logs)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for n.ready() != http.StatusOK {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("%s did not become ready:\n%s", name, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return n
}

// balancer is the load balancer in front of the nodes: round robin over the nodes
// in rotation. It opens a connection per request, so that a node leaving rotation
// holds no idle connection the balancer might pick after the node closed it.
type balancer struct {
	mu       sync.Mutex
	backends []*url.URL
	next     int
	tokens   []time.Time // successful /v1/token answers
	bad      []string    // 5xx answers and proxy errors
	proxy    *httputil.ReverseProxy
	once     sync.Once
}

func (b *balancer) set(bases ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends = nil
	for _, s := range bases {
		u, _ := url.Parse(s)
		b.backends = append(b.backends, u)
	}
}

func (b *balancer) tokensSince(since time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, at := range b.tokens {
		if at.After(since) {
			n++
		}
	}
	return n
}

func (b *balancer) failures() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.bad...)
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.once.Do(func() {
		b.proxy = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				b.mu.Lock()
				target := b.backends[b.next%len(b.backends)]
				b.next++
				b.mu.Unlock()
				pr.SetURL(target)
				pr.Out.Host = pr.In.Host // the nodes announce the balancer's address
			},
			Transport: &http.Transport{DisableKeepAlives: true},
			ModifyResponse: func(resp *http.Response) error {
				b.mu.Lock()
				defer b.mu.Unlock()
				switch {
				case resp.StatusCode >= 500:
					b.bad = append(b.bad, fmt.Sprintf("%s %s: %d from %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, resp.Request.URL.Host))
				case resp.StatusCode == 200 && strings.HasSuffix(resp.Request.URL.Path, "/v1/token"):
					b.tokens = append(b.tokens, time.Now())
				}
				return nil
			},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				b.mu.Lock()
				b.bad = append(b.bad, fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
				b.mu.Unlock()
				http.Error(w, "bad gateway", http.StatusBadGateway)
			},
		}
	})
	b.proxy.ServeHTTP(w, r)
}
