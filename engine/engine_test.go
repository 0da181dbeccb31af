package engine_test

import (
	"database/sql"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsCountTheFlow(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	h.CreateUser(t, "alice@example.com", "+12015550123")
	f := h.Interact(t)
	f.Identify("alice@example.com", "wrong")
	h.SignIn(t, "alice@example.com", "+12015550123", "sms")
	status, body := get(t, h.URL+"/metrics")
	if status != 200 {
		t.Fatalf("/metrics: %d", status)
	}
	for _, want := range []string{
		`gatehouse_signins_total{outcome="started"} 2`,
		`gatehouse_signins_total{outcome="password_failed"} 1`,
		`gatehouse_signins_total{outcome="succeeded"} 1`,
		`gatehouse_codes_queued_total{channel="sms"} 1`,
		`gatehouse_tokens_issued_total{grant="interaction_code"} 1`,
		`gatehouse_http_request_duration_seconds_count{code="2xx",route="POST /idp/idx/identify"} 1`,
		`gatehouse_http_request_duration_seconds_count{code="4xx",route="POST /idp/idx/identify"} 1`,
		`gatehouse_password_hash_queue 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	if status, body := get(t, h.URL+"/healthz"); status != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", status, body)
	}
	if status, body := get(t, h.URL+"/readyz"); status != 200 || body != "ready\n" {
		t.Errorf("/readyz: %d %q", status, body)
	}
	h.Store.Close()
	if status, _ := get(t, h.URL+"/readyz"); status != 503 {
		t.Errorf("/readyz with the store closed: %d", status)
	}
}

// TestReadinessFollowsExpandContract: a schema the next release migrated further
// keeps this node ready; one older than this binary needs does not.
func TestReadinessFollowsExpandContract(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	_, path, err := config.ParseDatabase(h.Config.Database)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(query string) {
		t.Helper()
		if _, err := db.ExecContext(t.Context(), query); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
	}
	exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999999, '999999_next_release.sql', 0)`)
	if status, body := get(t, h.URL+"/readyz"); status != 200 || body != "ready\n" {
		t.Errorf("/readyz on a newer schema: %d %q", status, body)
	}
	exec(`DELETE FROM schema_migrations WHERE version >= (SELECT MAX(version) FROM schema_migrations WHERE version < 999999)`)
	if status, _ := get(t, h.URL+"/readyz"); status != 503 {
		t.Errorf("/readyz on an older schema: %d", status)
	}
}

func TestDevOutboxPage(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	h.CreateUser(t, "alice@example.com", "+12015550123")
	h.SignIn(t, "alice@example.com", "+12015550123", "voice")
	req, _ := http.NewRequest(http.MethodGet, h.URL+"/dev/outbox", nil)
	req.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	code := h.LatestCode(t, "+12015550123")
	if !strings.Contains(string(b), code) || !strings.Contains(string(b), "call") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("outbox page: %s", b)
	}
	// The query's "+" may arrive unescaped, as a space.
	if status, body := get(t, h.URL+"/dev/outbox?phone=+12015550123"); status != 200 || !strings.Contains(body, code) {
		t.Errorf("unescaped plus: %d %s", status, body)
	}
	if status, _ := get(t, h.URL+"/dev/outbox?phone=nonsense"); status != 400 {
		t.Errorf("bad phone: %d", status)
	}
}

func TestDevOutboxIsOffUnlessConfigured(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) { c.DevOutbox = false }})
	if status, _ := get(t, h.URL+"/dev/outbox"); status != 404 {
		t.Errorf("/dev/outbox when off: %d", status)
	}
}
