package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchChildEnv makes the test binary act as the gatehouse binary: `gatehouse bench`
// starts its engine by running its own executable with `bench-engine`, which in a
// test is this binary.
const benchChildEnv = "GATEHOUSE_CLI_TEST_AS_GATEHOUSE"

func TestMain(m *testing.M) {
	if os.Getenv(benchChildEnv) == "1" {
		os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestBenchRunsAFewFlows runs the real benchmark briefly — its own engine in a child
// process, cheap hashing, a few dozen users — so that the command cannot rot.
func TestBenchRunsAFewFlows(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an engine and clients for a few seconds")
	}
	t.Setenv(benchChildEnv, "1")
	chart := filepath.Join(t.TempDir(), "latency.png")
	// An earlier run to compare with: with --json, the comparison goes to stderr.
	previous := filepath.Join(t.TempDir(), "previous.json")
	if err := os.WriteFile(previous, []byte(`{"flows_per_second": 12.5, "flows": 40,
		"run": {"flow": "idx", "store": "sqlite", "started_at": "2025-01-02T03:04:05Z"}, "steps": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", "bench", "--duration", "3s", "--warmup", "1s", "--concurrency", "2", "--users", "50",
		"--hash", "cheap", "--log-level", "warn", "--json", "--chart", chart, "--compare", previous)
	if r.code != 0 {
		t.Fatalf("bench: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	for _, k := range []string{"flows_per_second", "ceiling_flows_per_second", "ratio", "cpu_ms_per_flow", "errors", "steps"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("no %q in the JSON", k)
		}
	}
	if flows, _ := doc["flows"].(float64); flows <= 0 {
		t.Errorf("no sign-in completed: %s", r.stdout)
	}
	if n, _ := doc["error_count"].(float64); n != 0 {
		t.Errorf("errors: %v", doc["errors"])
	}
	if cpu, ok := doc["cpu_ms_per_flow"].(float64); !ok || cpu <= 0 {
		t.Errorf("cpu_ms_per_flow = %v, want the engine's CPU time", doc["cpu_ms_per_flow"])
	}
	steps, _ := doc["steps"].(map[string]any)
	for _, name := range []string{"interact", "introspect", "identify", "select_phone", "choose_sms", "answer", "token", "userinfo"} {
		s, _ := steps[name].(map[string]any)
		for _, k := range []string{"p50_ms", "p95_ms", "p99_ms"} {
			if v, _ := s[k].(float64); v <= 0 {
				t.Errorf("steps.%s.%s = %v", name, k, s[k])
			}
		}
	}
	for _, k := range []string{"cpu_ms_per_flow_without_hash", "hash_cpu_ratio", "client_cpu_ms_per_flow"} {
		if v, _ := doc[k].(float64); v <= 0 {
			t.Errorf("%s = %v", k, doc[k])
		}
	}
	// The store operations: every step of the sign-in touches the store.
	ops, _ := doc["store_ops_per_signin"].(map[string]any)
	if reads, _ := ops["reads"].(float64); reads <= 0 {
		t.Errorf("store_ops_per_signin = %v", doc["store_ops_per_signin"])
	}
	opSteps, _ := ops["steps"].(map[string]any)
	for _, name := range []string{"interact", "introspect", "identify", "select_phone", "choose_sms", "answer", "token", "userinfo"} {
		s, _ := opSteps[name].(map[string]any)
		reads, _ := s["reads"].(float64)
		writes, _ := s["writes"].(float64)
		if reads+writes <= 0 {
			t.Errorf("store_ops_per_signin.steps.%s = %v", name, s)
		}
	}
	if !strings.Contains(r.stderr, "Compared with "+previous) || !strings.Contains(r.stderr, "sign-ins per second") {
		t.Errorf("no comparison on stderr:\n%s", r.stderr)
	}
	if run, _ := doc["run"].(map[string]any); run["flow"] != "idx" {
		t.Errorf("run.flow = %v, want idx (the default)", run["flow"])
	}
	if info, err := os.Stat(chart); err != nil || info.Size() == 0 {
		t.Errorf("--chart: %v", err)
	}
}

// TestBenchRunsTheCodeFlow runs the benchmark of the authorization code flow
// briefly: browsers walking the hosted pages of the bench's own engine.
func TestBenchRunsTheCodeFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an engine and clients for a few seconds")
	}
	t.Setenv(benchChildEnv, "1")
	r := run(t, "", "bench", "--flow", "code", "--duration", "3s", "--warmup", "1s", "--concurrency", "2", "--users", "50",
		"--hash", "cheap", "--log-level", "warn", "--json")
	if r.code != 0 {
		t.Fatalf("bench --flow code: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	var doc struct {
		Flows      int                           `json:"flows"`
		ErrorCount int                           `json:"error_count"`
		Errors     map[string]int                `json:"errors"`
		CPU        float64                       `json:"cpu_ms_per_flow"`
		Steps      map[string]map[string]float64 `json:"steps"`
		Run        struct{ Flow string }         `json:"run"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	if doc.Run.Flow != "code" {
		t.Errorf("run.flow = %q, want code", doc.Run.Flow)
	}
	if doc.Flows <= 0 || doc.ErrorCount != 0 {
		t.Errorf("%d sign-ins, %d errors %v", doc.Flows, doc.ErrorCount, doc.Errors)
	}
	if doc.CPU <= 0 {
		t.Errorf("cpu_ms_per_flow = %v, want the engine's CPU time", doc.CPU)
	}
	steps := []string{"authorize", "signin_page", "identify", "authenticator", "method", "code", "done", "token"}
	if len(doc.Steps) != len(steps) {
		t.Errorf("steps %v, want exactly %v", doc.Steps, steps)
	}
	for _, name := range steps {
		for _, k := range []string{"p50_ms", "p95_ms", "p99_ms"} {
			if v := doc.Steps[name][k]; v <= 0 {
				t.Errorf("steps.%s.%s = %v", name, k, v)
			}
		}
	}
}

func TestCheapHashingOnlyInBench(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if r := run(t, "", "serve", "--config", cfg, "--hash", "cheap"); r.code != 2 || !strings.Contains(r.stderr, "-hash") {
		t.Errorf("serve --hash cheap: %+v", r)
	}
	if r := run(t, "", "bench", "--url", "http://127.0.0.1:1/oauth2/default", "--database", "sqlite:"+filepath.Join(t.TempDir(), "g.db"), "--hash", "cheap"); r.code != 1 || !strings.Contains(r.stderr, "--hash cheap needs the bench's own engine") {
		t.Errorf("bench --url --hash cheap: %+v", r)
	}
	if r := run(t, "", "bench", "--hash", "fast"); r.code != 1 || !strings.Contains(r.stderr, `--hash "fast"`) {
		t.Errorf("bench --hash fast: %+v", r)
	}
	if r := run(t, "", benchEngineCommand); r.code != 2 {
		t.Errorf("bench-engine without --config: %+v", r)
	}
}
