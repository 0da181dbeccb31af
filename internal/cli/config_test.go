package cli

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// TestExampleConfigPassesServeChecks: docs/gatehouse.example.yaml, its secrets
// provided, starts serve without a refusal and without a single warning.
func TestExampleConfigPassesServeChecks(t *testing.T) {
	cfg := enginetest.LoadExampleConfig(t)
	var logs strings.Builder
	if err := checkExposure(cfg, slog.New(slog.NewTextHandler(&logs, nil))); err != nil || logs.Len() > 0 {
		t.Errorf("the example: %v; logged %s", err, logs.String())
	}
}

// TestAdminCommandsNeedOnlyWhatTheyUse: with a configuration whose messaging,
// client and one-time-code secrets live in variables this shell does not have,
// and whose DSN is in a file, users and keys run; clients stops at the client
// secret alone; serve reports all three, one a line.
func TestAdminCommandsNeedOnlyWhatTheyUse(t *testing.T) {
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "dsn")
	writeFile(t, dsnFile, "sqlite:"+filepath.Join(dir, "g.db")+"\n")
	path := filepath.Join(dir, "gatehouse.yaml")
	writeFile(t, path, "issuer: https://id.example.com\ndatabase_file: "+dsnFile+"\n"+
		"clients:\n  - id: web\n    redirect_uris: [https://app.example.com/cb]\n    secret_env: GATEHOUSE_TEST_UNSET_CLIENT_SECRET\n"+
		"messaging:\n  provider: webhook\n  webhook:\n    url: https://gw.example.com/sms\n    secret_env: GATEHOUSE_TEST_UNSET_HOOK_SECRET\n"+
		"secrets:\n  otp_key_env: GATEHOUSE_TEST_UNSET_OTP_KEY\n")

	if r := run(t, "a-long-password\n", "users", "--config", path, "create", "alice@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("users create: %+v", r)
	}
	if r := run(t, "", "users", "--config", path, "list"); r.code != 0 || !strings.Contains(r.stdout, "alice@example.com") {
		t.Errorf("users list: %+v", r)
	}
	if r := run(t, "", "keys", "--config", path, "list"); r.code != 0 {
		t.Errorf("keys list: %+v", r)
	}
	r := run(t, "", "clients", "--config", path, "list")
	if r.code != 1 || r.stderr != "gatehouse: config "+path+": clients[0].secret_env: environment variable GATEHOUSE_TEST_UNSET_CLIENT_SECRET is not set\n" {
		t.Errorf("clients list: %+v", r)
	}
	r = run(t, "", "serve", "--config", path)
	want := []string{
		"gatehouse: config " + path + ": clients[0].secret_env: environment variable GATEHOUSE_TEST_UNSET_CLIENT_SECRET is not set",
		"gatehouse: config " + path + ": messaging.webhook.secret_env: environment variable GATEHOUSE_TEST_UNSET_HOOK_SECRET is not set",
		"gatehouse: config " + path + ": secrets.otp_key_env: environment variable GATEHOUSE_TEST_UNSET_OTP_KEY is not set",
		"gatehouse: config " + path + ": messaging.webhook: secret, secret_env or secret_file is required (at least 16 characters)",
	}
	if got := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n"); r.code != 1 || !slices.Equal(got, want) {
		t.Errorf("serve: exit %d\n%s\nwant\n%s", r.code, r.stderr, strings.Join(want, "\n"))
	}
	// A password-hashing setting the users command would use is still checked.
	writeFile(t, path, "database_file: "+dsnFile+"\npassword_hashing:\n  memory_kib: 1024\n")
	if r := run(t, "", "users", "--config", path, "list"); r.code != 1 || !strings.Contains(r.stderr, "password_hashing: memory_kib 1024") {
		t.Errorf("users list with weak hashing: %+v", r)
	}
}

// TestServeReportsEveryProblem: an unknown key, a bad duration and a missing
// variable are reported together, each on a line in the documented format.
func TestServeReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.yaml")
	writeFile(t, path, "issuer: https://id.example.com\ndatabase: sqlite:"+filepath.Join(dir, "g.db")+"\n"+
		"colour: blue\n"+
		"phone:\n  code_ttl: 2h\n"+
		"messaging:\n  provider: twilio\n  twilio:\n    account_sid: AC0123\n    from: \"+12015550100\"\n    auth_token_env: GATEHOUSE_TEST_UNSET_TWILIO\n")
	r := run(t, "", "serve", "--config", path)
	want := []string{
		"gatehouse: config " + path + `: line 3: unknown key "colour" in the top level`,
		"gatehouse: config " + path + ": messaging.twilio.auth_token_env: environment variable GATEHOUSE_TEST_UNSET_TWILIO is not set",
		"gatehouse: config " + path + ": phone.code_ttl: 2h0m0s is not between 30s and 30m0s",
		"gatehouse: config " + path + ": messaging.twilio: auth_token, auth_token_env or auth_token_file is required",
	}
	if got := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n"); r.code != 1 || !slices.Equal(got, want) {
		t.Errorf("serve: exit %d\n%s\nwant\n%s", r.code, r.stderr, strings.Join(want, "\n"))
	}
}

// TestServeWarnsAboutDevelopmentSettings: serve on loopback with the outbox
// provider, the dev outbox and an http:// issuer starts, and logs one WARN line
// for each; the environment overrides the file's listen address.
func TestServeWarnsAboutDevelopmentSettings(t *testing.T) {
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	path := filepath.Join(dir, "gatehouse.yaml")
	writeFile(t, path, "issuer: http://"+addr+"\nlisten: 127.0.0.1:1\ndatabase: sqlite:"+filepath.Join(dir, "g.db")+"\n"+
		"dev_outbox: true\nmessaging:\n  provider: outbox\n")
	t.Setenv("GATEHOUSE_LISTEN", addr)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &testenv.SyncBuffer{}
	done := make(chan int, 1)
	go func() { done <- Run(ctx, []string{"serve", "--config", path}, strings.NewReader(""), io.Discard, logs) }()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited with %d: %s", code, logs.String())
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("serve exited with %d: %s", code, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var warned []string
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var rec struct{ Level, Msg, Key string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		if rec.Level == "WARN" && strings.HasPrefix(rec.Msg, "development setting") {
			warned = append(warned, rec.Key)
		}
	}
	if want := []string{"issuer", "dev_outbox", "messaging.provider"}; !slices.Equal(warned, want) {
		t.Errorf("warned about %q, want %q:\n%s", warned, want, logs.String())
	}
}

// TestReadmeServeConfig: the configuration of the README's walk-through against
// serve loads, and serve's checks let it start on loopback, warning about its
// http:// issuer alone.
func TestReadmeServeConfig(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)cat > serve\.yaml <<'EOF'\n(.*?)\nEOF\n`).FindSubmatch(readme)
	if m == nil {
		t.Fatal("the README has no serve.yaml")
	}
	t.Setenv("MY_APP_SECRET", "0123456789abcdef0123456789abcdef")
	t.Setenv("WEBHOOK_SECRET", "fedcba9876543210fedcba9876543210")
	cfg, err := config.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if cl, _ := cfg.Client("my-app"); cl.Secret == "" || cfg.Messaging.Provider != "webhook" {
		t.Errorf("client %+v, provider %s", cl, cfg.Messaging.Provider)
	}
	var logs strings.Builder
	if err := checkExposure(cfg, slog.New(slog.NewTextHandler(&logs, nil))); err != nil ||
		strings.Count(logs.String(), "\n") != 1 || !strings.Contains(logs.String(), "key=issuer") {
		t.Errorf("serve's checks: %v; logged:\n%s", err, logs.String())
	}
}
