//go:build unix

package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/messaging/providertest"
	"github.com/gatehouse-id/gatehouse/idx"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// freshRequestID is what an id the engine makes up looks like.
var freshRequestID = regexp.MustCompile(`^[A-Za-z0-9_-]{8,64}$`)

// logLine is one JSON line of the engine's log.
type logLine map[string]any

func (l logLine) str(key string) string { s, _ := l[key].(string); return s }

// readLogLines parses the JSON lines of the engine's log file so far.
func readLogLines(t *testing.T, path string) []logLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []logLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			continue // a line still being written
		}
		lines = append(lines, l)
	}
	return lines
}

func findLog(lines []logLine, match func(logLine) bool) (logLine, bool) {
	for _, l := range lines {
		if match(l) {
			return l, true
		}
	}
	return nil, false
}

func msgIs(msg string) func(logLine) bool {
	return func(l logLine) bool { return l.str("msg") == msg }
}

// TestServeLogsAndSignals runs a real `gatehouse serve` and checks what an operator
// sees in its logs and from its signals: UTC timestamps; request_id on every line a
// request logs (a sane X-Request-Id kept, a wrong one replaced); probes only at
// DEBUG; "code queued" and "code delivered" joined by message_id, the delivery line
// naming the sign-in and the user; the outbox backlog gauges; SIGHUP logged and
// survived; and on SIGTERM /readyz failing first while /healthz, new requests and an
// in-flight request still work during the drain, then a clean exit.
func TestServeLogsAndSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short mode (it builds and runs the binary)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, bin, db := buildWithAlice(t, ctx, "signals-test-password")
	const secret = "signals-test-webhook-secret"
	gateway := providertest.NewGateway(t, secret)
	gateway.HangNext(1) // the first delivery hangs until its timeout: a backlog to see
	addr := testenv.FreeAddr(t)
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	const drain = 3 * time.Second
	writeFile(t, cfgPath, fmt.Sprintf(`issuer: http://%s/oauth2/default
listen: %s
database: sqlite:%s
log_level: info
server:
  shutdown_drain: %s
clients:
  - id: signals-app
    redirect_uris: [http://127.0.0.1:3000/login/callback]
messaging:
  provider: webhook
  webhook:
    url: %s
    secret: %s
    timeout: 2s
`, addr, addr, db, drain, gateway.URL, secret))

	logPath := filepath.Join(dir, "engine.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var exitErr error
	go func() { exitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("engine logs:\n%s", b)
		}
	}()
	base := "http://" + addr
	get := func(path, requestID string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if requestID != "" {
			req.Header.Set("X-Request-Id", requestID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	waitFor(t, "the engine to be ready", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})

	// Request ids: a sane one is kept, anything else replaced.
	if resp, _ := get("/oauth2/default/.well-known/openid-configuration", "lb-trace.0042"); resp.Header.Get("X-Request-Id") != "lb-trace.0042" {
		t.Errorf("a sane X-Request-Id came back as %q", resp.Header.Get("X-Request-Id"))
	}
	for _, bad := range []string{strings.Repeat("a", 65), "two words", `"quoted"`} {
		resp, _ := get("/oauth2/default/.well-known/openid-configuration", bad)
		if got := resp.Header.Get("X-Request-Id"); got == bad || !freshRequestID.MatchString(got) {
			t.Errorf("X-Request-Id %q came back as %q, want a fresh id", bad, got)
		}
	}
	// Probes and scrapes, which must not show at INFO.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if resp, _ := get(p, "probe-"+strings.TrimPrefix(p, "/")); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
	}

	// A sign-in to the code step: its code is queued, hangs at the gateway, is retried
	// and delivered.
	client, err := idx.NewClient(idx.Config{Issuer: base + "/oauth2/default", ClientID: "signals-app", RedirectURI: "http://127.0.0.1:3000/login/callback"})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := client.Authenticate(ctx, nil, idx.Options{Username: "alice@example.com", Password: "signals-test-password", Authenticator: "phone_number", MethodType: "sms"})
	if err != nil || tx.Status != idx.StatusPending || tx.NextStep.Name != "challenge-authenticator" {
		t.Fatalf("to the code step: %+v %v", tx, err)
	}
	gauge := func(name string) float64 {
		_, body := get("/metrics", "")
		for line := range strings.SplitSeq(body, "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err == nil {
					return f
				}
			}
		}
		t.Fatalf("/metrics has no %s", name)
		return 0
	}
	waitFor(t, "the backlog gauges to show the hung message", func() bool {
		return gauge("gatehouse_outbox_pending") == 1 && gauge("gatehouse_outbox_oldest_age_seconds") >= 0.5
	})
	waitFor(t, "the code to be delivered", func() bool {
		_, ok := findLog(readLogLines(t, logPath), msgIs("code delivered"))
		return ok
	})
	if p, age := gauge("gatehouse_outbox_pending"), gauge("gatehouse_outbox_oldest_age_seconds"); p != 0 || age != 0 {
		t.Errorf("after delivery: gatehouse_outbox_pending %v, gatehouse_outbox_oldest_age_seconds %v; want 0 and 0", p, age)
	}

	// SIGHUP: logged, and the engine keeps serving.
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the SIGHUP to be logged", func() bool {
		_, ok := findLog(readLogLines(t, logPath), func(l logLine) bool { return strings.HasPrefix(l.str("msg"), "SIGHUP received and ignored") })
		return ok
	})
	if resp, _ := get("/healthz", ""); resp.StatusCode != 200 {
		t.Fatalf("after SIGHUP: /healthz %d", resp.StatusCode)
	}

	// An in-flight request: its headers and half its body are in before SIGTERM, the
	// rest only after the listener has closed.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const form = "grant_type=client_credentials&client_id=nobody"
	fmt.Fprintf(conn, "POST /oauth2/default/v1/token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nConnection: close\r\nX-Request-Id: in-flight-1\r\n\r\n%s",
		addr, len(form), form[:10])

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	drainStarted := time.Now()
	waitFor(t, "/readyz to fail", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusServiceUnavailable
	})
	if time.Since(drainStarted) < drain-time.Second {
		// Still draining: everything but readiness works.
		if resp, _ := get("/healthz", ""); resp.StatusCode != 200 {
			t.Errorf("during the drain: /healthz %d", resp.StatusCode)
		}
		if resp, _ := get("/oauth2/default/.well-known/openid-configuration", ""); resp.StatusCode != 200 {
			t.Errorf("during the drain: discovery %d", resp.StatusCode)
		}
	} else {
		t.Error("/readyz took most of the drain to fail")
	}
	waitFor(t, "the listener to close", func() bool {
		_, ok := findLog(readLogLines(t, logPath), func(l logLine) bool { return strings.HasPrefix(l.str("msg"), "shutdown: listener closed") })
		return ok
	})
	if _, err := io.WriteString(conn, form[10:]); err != nil {
		t.Fatalf("finishing the in-flight request: %v", err)
	}
	answer, err := io.ReadAll(conn)
	if err != nil || !strings.HasPrefix(string(answer), "HTTP/1.1 ") || !strings.Contains(string(answer), `"error"`) {
		t.Errorf("the in-flight request got %q (%v), want a whole OAuth answer", answer, err)
	}
	select {
	case <-exited:
		if exitErr != nil {
			t.Errorf("gatehouse serve after SIGTERM: %v, want exit status 0", exitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("gatehouse serve did not exit after SIGTERM")
	}

	lines := readLogLines(t, logPath)
	checkServeLogs(t, lines)
	// The shutdown's phases, in order.
	var phases []string
	for _, l := range lines {
		if m := l.str("msg"); strings.HasPrefix(m, "shutdown: ") {
			phases = append(phases, strings.SplitN(m, ";", 2)[0])
		}
	}
	want := []string{"shutdown: /readyz now answers 503", "shutdown: listener closed", "shutdown: stopping background work (message delivery, garbage collection)", "shutdown: complete"}
	if strings.Join(phases, "|") != strings.Join(want, "|") {
		t.Errorf("shutdown phases logged: %q, want %q", phases, want)
	}
}

// checkServeLogs checks the engine's log after TestServeLogsAndSignals' requests.
func checkServeLogs(t *testing.T, lines []logLine) {
	t.Helper()
	if len(lines) == 0 {
		t.Fatal("no log lines")
	}
	for _, l := range lines {
		ts, err := time.Parse(time.RFC3339Nano, l.str("time"))
		if err != nil || !strings.HasSuffix(l.str("time"), "Z") || ts.Location() != time.UTC {
			t.Errorf("time %q is not UTC: %v", l.str("time"), l)
		}
	}
	// Probes: not at INFO (log_level is info, so not at all).
	for _, l := range lines {
		if p := l.str("path"); p == "/healthz" || p == "/readyz" || p == "/metrics" {
			t.Errorf("a probe logged at %s: %v", l.str("level"), l)
		}
	}
	// Access lines carry the request id the response had.
	if _, ok := findLog(lines, func(l logLine) bool {
		return l.str("msg") == "http request" && l.str("request_id") == "lb-trace.0042" && l.str("path") == "/oauth2/default/.well-known/openid-configuration"
	}); !ok {
		t.Error("no access-log line with the client's X-Request-Id")
	}
	if _, ok := findLog(lines, func(l logLine) bool {
		return l.str("msg") == "http request" && l.str("request_id") == "in-flight-1" && l.str("path") == "/oauth2/default/v1/token"
	}); !ok {
		t.Error("the in-flight request was not logged")
	}
	// Every line a sign-in request logged carries the request_id of that request's
	// access-log line.
	accessIDs := map[string]string{} // request_id → path
	for _, l := range lines {
		if l.str("msg") == "http request" {
			if l.str("request_id") == "" {
				t.Errorf("access-log line without request_id: %v", l)
			}
			accessIDs[l.str("request_id")] = l.str("path")
		}
	}
	for _, msg := range []string{"sign-in started", "password verified", "code queued"} {
		l, ok := findLog(lines, msgIs(msg))
		if !ok {
			t.Errorf("no %q line", msg)
			continue
		}
		if id := l.str("request_id"); id == "" || accessIDs[id] == "" {
			t.Errorf("%q: request_id %q matches no request: %v", msg, id, l)
		}
	}
	queued, _ := findLog(lines, msgIs("code queued"))
	if p := accessIDs[queued.str("request_id")]; p != "/idp/idx/challenge" {
		t.Errorf("code queued was logged by a request to %q, want /idp/idx/challenge", p)
	}
	// "code queued" and "code delivered" join on message_id; the delivery names the
	// sign-in and the user, and so does the retry before it.
	delivered, _ := findLog(lines, msgIs("code delivered"))
	retry, _ := findLog(lines, msgIs("outbox: delivery failed, will retry"))
	for name, l := range map[string]logLine{"code delivered": delivered, "delivery retry": retry} {
		if l == nil {
			t.Errorf("no %s line", name)
			continue
		}
		if l.str("message_id") == "" || l.str("message_id") != queued.str("message_id") ||
			l.str("transaction") == "" || l.str("transaction") != queued.str("transaction") ||
			l.str("user_id") == "" || l.str("user_id") != queued.str("user_id") {
			t.Errorf("%s %v does not join code queued %v on message_id, transaction and user_id", name, l, queued)
		}
	}
	if l, ok := findLog(lines, msgIs("code sent")); ok {
		t.Errorf("a code only queued was logged as sent: %v", l)
	}
}
