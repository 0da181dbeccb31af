//go:build unix

package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/idx"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// TestTwoNodesOnePostgres runs two `gatehouse serve` processes on one PostgreSQL
// schema behind a proxy that sends every request to the other node than the one
// before, and walks the official okta-auth-js sign-in through it: handles, codes,
// keys and counters must work across nodes. Half-way, one node is killed with
// SIGKILL; the other finishes the sign-in alone.
func TestTwoNodesOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the two-node interop test in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dsn := enginetest.PostgresSchema(t)
	dir, _ := prepareNodeSuite(t, ctx)
	bin := buildGatehouse(t, ctx)

	// The proxy's address is the issuer both nodes announce.
	proxy := newAlternatingProxy()
	front := httptest.NewServer(proxy)
	defer front.Close()
	issuer := front.URL + "/oauth2/default"

	const phone = "+12015550123"
	run := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdin = strings.NewReader("multi-node-Passw0rd\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// On PostgreSQL the operator migrates once; nodes and the CLI do not.
	run("migrate", "--database", dsn)
	run("users", "--database", dsn, "create", "alice@example.com", "--given-name", "Alice", "--phone", phone, "--password-stdin")
	run("users", "--database", dsn, "create", "carol@example.com", "--given-name", "Carol", "--phone", "+12015550177", "--password-stdin")

	// Both nodes start at once on a schema that has no signing key yet: they must
	// agree on one.
	nodes := make([]*node, 2)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i] = startNode(t, ctx, bin, fmt.Sprintf("node-%c", 'a'+i), issuer, dsn)
		}()
	}
	wg.Wait()
	for _, n := range nodes {
		if n == nil {
			t.FailNow()
		}
	}
	proxy.setBackends(nodes[0].base, nodes[1].base)
	if a, b := nodes[0].get(t, "/oauth2/default/v1/keys"), nodes[1].get(t, "/oauth2/default/v1/keys"); a != b {
		t.Fatalf("the nodes publish different keys:\n%s\n%s", a, b)
	}

	checkSharedCounters(t, ctx, front.URL, issuer, proxy)

	script := exec.CommandContext(ctx, "node", filepath.Join(dir, "scripts", "multinode-flow.js"))
	script.Dir = dir
	script.Env = append(os.Environ(), "ISSUER="+issuer, "CLIENT_ID=multi-node-app", "REDIRECT_URI=http://127.0.0.1:3000/login/callback",
		"USERNAME=alice@example.com", "PASSWORD=multi-node-Passw0rd", "PHONE="+phone, "OUTBOX_BASE="+front.URL)
	stdin, _ := script.StdinPipe()
	stdout, _ := script.StdoutPipe()
	var stderr bytes.Buffer
	script.Stderr = &stderr
	if err := script.Start(); err != nil {
		t.Fatal(err)
	}
	var result map[string]any
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		line := lines.Text()
		t.Log("okta-auth-js: " + line)
		switch {
		case line == "PAUSED":
			before := proxy.log()
			checkAlternation(t, before)
			t.Logf("killing %s (SIGKILL) after %d requests", nodes[0].name, len(before))
			proxy.markKilled()
			nodes[0].kill(t)
			if _, err := io.WriteString(stdin, "go\n"); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(line, `{"result"`):
			_ = json.Unmarshal([]byte(line), &result)
		}
	}
	if err := script.Wait(); err != nil {
		t.Fatalf("the okta-auth-js flow failed: %v\n%s", err, stderr.String())
	}
	if result["result"] != "SUCCESS" || result["sub"] == "" || result["sub"] != result["userinfoSub"] {
		t.Fatalf("result = %v", result)
	}
	// After the kill only the survivor answered, and it served the rest of the flow:
	// the code step, the answer, the token, userinfo and the refresh.
	all := proxy.log()
	var after []served
	for _, s := range all {
		if s.afterKill {
			after = append(after, s)
		}
	}
	paths := map[string]bool{}
	for _, s := range after {
		if s.node != nodes[1].base {
			t.Errorf("%s was served by the killed node", s.path)
		}
		paths[s.path] = true
	}
	for _, p := range []string{"/idp/idx/challenge", "/idp/idx/challenge/answer", "/oauth2/default/v1/token", "/oauth2/default/v1/userinfo"} {
		if !paths[p] {
			t.Errorf("no %s after the kill (served: %v)", p, after)
		}
	}
}

// checkSharedCounters signs carol in through the alternating proxy with the Go SDK
// (every SDK call is an introspect and a post, so consecutive requests land on
// different nodes) and checks that the per-number send limit and the wrong-code
// lockout hold across nodes: they live in the database, not in a node's memory.
func checkSharedCounters(t *testing.T, ctx context.Context, base, issuer string, proxy *alternatingProxy) {
	t.Helper()
	client, err := idx.NewClient(idx.Config{Issuer: issuer, ClientID: "multi-node-app", RedirectURI: "http://127.0.0.1:3000/login/callback"})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := client.Authenticate(ctx, nil, idx.Options{Username: "carol@example.com", Password: "multi-node-Passw0rd", Authenticator: "phone_number", MethodType: "sms"})
	if err != nil || tx.NextStep == nil || tx.NextStep.Name != "challenge-authenticator" {
		t.Fatalf("carol to the code step: %+v %v", tx, err)
	}
	tx, err = client.Resend(ctx, tx.State)
	if err != nil || len(tx.Messages) != 1 || tx.Messages[0].Key != "errors.E0000150" {
		t.Fatalf("a resend within 30 s, on the other node: %+v %v", tx, err)
	}
	wrong := "000000"
	if resp, err := http.Get(base + "/dev/outbox?phone=%2B12015550177"); err == nil {
		var msgs []struct{ Code string }
		_ = json.NewDecoder(resp.Body).Decode(&msgs)
		resp.Body.Close()
		if len(msgs) > 0 && msgs[0].Code == wrong {
			wrong = "111111"
		}
	}
	for i := 1; i <= 5; i++ {
		// An SDK call is two requests; one more in between moves the next answer to
		// the other node.
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
		}
		tx, err = client.Authenticate(ctx, tx.State, idx.Options{VerificationCode: wrong})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(tx.Messages) != 1 || tx.Messages[0].Key != "oie.tooManyRequests" {
		t.Fatalf("5 wrong codes spread over both nodes did not lock the phone: %+v", tx.Messages)
	}
	nodes := map[string]bool{}
	for _, s := range proxy.log() {
		if s.path == "/idp/idx/challenge/answer" {
			nodes[s.node] = true
		}
	}
	if len(nodes) != 2 {
		t.Errorf("the wrong codes went to %d node(s), want both", len(nodes))
	}
}

// checkAlternation asserts that consecutive requests went to different nodes, and
// that both nodes served IDX steps.
func checkAlternation(t *testing.T, log []served) {
	t.Helper()
	idxBy := map[string]int{}
	for i, s := range log {
		if i > 0 && log[i-1].node == s.node {
			t.Errorf("requests %d and %d both went to %s", i-1, i, s.node)
		}
		if strings.HasPrefix(s.path, "/idp/idx/") {
			idxBy[s.node]++
		}
	}
	if len(idxBy) != 2 {
		t.Errorf("IDX steps were served by %d node(s), want 2: %v", len(idxBy), log)
	}
}

type served struct {
	path, node string
	status     int
	afterKill  bool
}

// alternatingProxy sends each request to the next live backend in turn, skipping
// (and forgetting) a backend it cannot connect to, and logs who served what.
type alternatingProxy struct {
	mu       sync.Mutex
	backends []string
	next     int
	dead     map[string]bool
	killed   bool
	served   []served
	client   *http.Client
}

func newAlternatingProxy() *alternatingProxy {
	return &alternatingProxy{dead: map[string]bool{}, client: &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true}, // a killed node must not linger in a pool
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (p *alternatingProxy) setBackends(b ...string) {
	p.mu.Lock()
	p.backends = b
	p.mu.Unlock()
}

func (p *alternatingProxy) markKilled() {
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
}

func (p *alternatingProxy) log() []served {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]served(nil), p.served...)
}

func (p *alternatingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	for range 2 * len(p.backends) {
		p.mu.Lock()
		if len(p.backends) == 0 {
			p.mu.Unlock()
			http.Error(w, "no backends yet", http.StatusServiceUnavailable)
			return
		}
		target := p.backends[p.next%len(p.backends)]
		p.next++
		skip := p.dead[target]
		p.mu.Unlock()
		if skip {
			continue
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := p.client.Do(req)
		if err != nil {
			var opErr *net.OpError
			if errors.As(err, &opErr) {
				p.mu.Lock()
				p.dead[target] = true
				p.mu.Unlock()
				continue
			}
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		p.mu.Lock()
		p.served = append(p.served, served{path: r.URL.Path, node: target, status: resp.StatusCode, afterKill: p.killed})
		p.mu.Unlock()
		return
	}
	http.Error(w, "every backend is down", http.StatusBadGateway)
}

type node struct {
	name, base string
	cmd        *exec.Cmd
	logs       *bytes.Buffer
}

func (n *node) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(n.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func (n *node) kill(t *testing.T) {
	t.Helper()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = n.cmd.Wait()
}

// startNode writes a configuration for one node and runs `gatehouse serve` with it
// until the test ends.
func startNode(t *testing.T, ctx context.Context, bin, name, issuer, dsn string) *node {
	t.Helper()
	addr := testenv.FreeAddr(t)
	cfg := fmt.Sprintf(`issuer: %s
listen: %s
database: %q
keys:
  encryption_key_file: %q
log_level: warn
dev_outbox: true
clients:
  - id: multi-node-app
    redirect_uris: [http://127.0.0.1:3000/login/callback]
    grants: [interaction_code, refresh_token]
    scopes: [openid, profile, email, phone, offline_access]
`, issuer, addr, dsn, enginetest.TestKEKFile(t)) // every node's file holds the same test KEK
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Error(err)
		return nil
	}
	logs := &bytes.Buffer{}
	cmd := exec.Command(bin, "serve", "--config", path)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Error(err)
		return nil
	}
	n := &node{name: name, base: "http://" + addr, cmd: cmd, logs: logs}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(n.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return n
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Errorf("%s did not become ready: %v\n%s", name, err, logs.String())
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}
