package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/store/opcount"
)

func TestPhoneNumbersAreValid(t *testing.T) {
	// Every exchange the numbering uses, at both ends of its line numbers.
	for i := 0; i < maxUsers; i += 10_000 {
		for _, j := range []int{i, i + 9_999} {
			n := phoneNumber(j)
			got, err := phone.ParseNumber(n, "US")
			if err != nil || got != n {
				t.Fatalf("user %d: phone %s: ParseNumber = %q, %v", j, n, got, err)
			}
		}
	}
	if phoneNumber(0) == phoneNumber(1) || phoneNumber(9_999) == phoneNumber(10_000) {
		t.Error("phone numbers repeat")
	}
}

func TestUserOrderIsABijection(t *testing.T) {
	for _, n := range []int{1, 2, 3, 64, 1000, 99_991} {
		o := newUserOrder(n)
		seen := make([]bool, n)
		for slot := range uint64(n) {
			u := o.user(slot)
			if u < 0 || u >= n || seen[u] {
				t.Fatalf("n=%d: slot %d gives user %d, out of range or taken", n, slot, u)
			}
			seen[u] = true
		}
		// Slots wrap around: the next round visits the users in the same order.
		if o.user(uint64(n)) != o.user(0) {
			t.Errorf("n=%d: slot n is not slot 0", n)
		}
	}
}

func TestPercentiles(t *testing.T) {
	var s samples
	for i := 100; i >= 1; i-- {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	got := s.summarise()
	want := Latency{Count: 100, Mean: 50.5, P50: 50, P95: 95, P99: 99, Max: 100}
	if got != want {
		t.Errorf("summarise = %+v, want %+v", got, want)
	}
	if (samples{}).summarise() != (Latency{}) {
		t.Error("no samples should summarise to zeros")
	}
	one := samples{3 * time.Millisecond}
	if l := one.summarise(); l.P50 != 3 || l.P99 != 3 {
		t.Errorf("one sample: %+v", l)
	}
}

// result is a small result as a run would produce it.
func result() *Result {
	r := &Result{Errors: map[string]int{"choose_sms: HTTP 429 (errors.E0000150)": 2}, Hash: HashCost{Params: "argon2id m=19456,t=2,p=1", Mode: "real", Millis: 22}}
	w := window{}
	for i := range 10 {
		var res flowResult
		for s := range numSteps {
			res.steps[s] = time.Duration(i+1+int(s)) * time.Millisecond
		}
		w.results = append(w.results, res)
	}
	w.results = append(w.results, flowResult{failed: true, failure: "identify: timeout"})
	r.summarise(w, stepNames[:])
	r.Run.Store, r.Run.Users, r.Run.Concurrency = "sqlite", 1000, 4
	return r
}

func TestResultJSON(t *testing.T) {
	r := result()
	if r.Flows != 10 || r.ErrorCount != 1 || r.Errors["identify: timeout"] != 1 {
		t.Fatalf("counts: flows %d errors %d %v", r.Flows, r.ErrorCount, r.Errors)
	}
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"flows_per_second", "ceiling_flows_per_second", "ratio", "cpu_ms_per_flow", "errors", "steps", "flow", "hash", "machine", "run"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("no %q in %s", k, buf.String())
		}
	}
	// Steps are an object keyed by step, in sign-in order.
	raw := buf.String()
	last := -1
	for _, name := range stepNames {
		i := strings.Index(raw, `"`+name+`": {`)
		if i < last {
			t.Errorf("step %s missing or out of order", name)
		}
		last = i
	}
	steps := doc["steps"].(map[string]any)
	identify := steps["identify"].(map[string]any)
	for _, k := range []string{"p50_ms", "p95_ms", "p99_ms"} {
		if _, ok := identify[k].(float64); !ok {
			t.Errorf("steps.identify.%s missing", k)
		}
	}
	var back Result
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Steps, r.Steps) {
		t.Errorf("steps do not survive a round trip:\n%+v\n%+v", back.Steps, r.Steps)
	}
}

func TestTableAndChart(t *testing.T) {
	r := result()
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sign-ins per second", "select_phone", "whole sign-in", "1 × identify: timeout"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	path := filepath.Join(t.TempDir(), "latency.png")
	if err := r.WriteChart(path); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(raw, []byte("\x89PNG")) {
		t.Fatalf("chart is not a PNG (%v)", err)
	}
}

func TestOptionsChecked(t *testing.T) {
	base := Options{Duration: time.Second, Concurrency: 2, Users: 10, Store: "sqlite", Hash: "real", EngineCommand: nil}
	cases := map[string]func(*Options){
		"no engine command":        func(o *Options) {},
		"--users must be at least": func(o *Options) { o.Users = 1 },
		"--hash \"fast\"":          func(o *Options) { o.Hash = "fast" },
		"--store postgres needs":   func(o *Options) { o.Store = "postgres" },
		"--hash cheap needs the bench's": func(o *Options) {
			o.URL, o.Database, o.Hash = "http://127.0.0.1:8080/oauth2/default", "sqlite:x.db", "cheap"
		},
		"--url needs --database":             func(o *Options) { o.URL = "http://127.0.0.1:8080/oauth2/default" },
		"--pid is for --url":                 func(o *Options) { o.PID = 1 },
		"--duration must be positive":        func(o *Options) { o.Duration = 0 },
		"--concurrency must be at least 1":   func(o *Options) { o.Concurrency = 0 },
		`--flow "implicit": use idx or code`: func(o *Options) { o.Flow = "implicit" },
		"--client-secret is for --url":       func(o *Options) { o.ClientSecret = "s" },
		"--client-secret is for --flow code": func(o *Options) {
			o.URL, o.Database, o.ClientSecret = "http://127.0.0.1:8080/oauth2/default", "sqlite:x.db", "s"
		},
	}
	for want, change := range cases {
		o := base
		change(&o)
		if err := o.check(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: check() = %v", want, err)
		}
	}
}

// TestCodeFlowResult checks a result of the authorization code flow names its
// flow and its page steps in the JSON, the table and the chart's title.
func TestCodeFlowResult(t *testing.T) {
	r := &Result{Errors: map[string]int{}, Hash: HashCost{Params: "argon2id m=19456,t=2,p=1", Mode: "real", Millis: 22}}
	var res flowResult
	for s := range numPageSteps {
		res.steps[s] = time.Duration(s+1) * time.Millisecond
	}
	r.summarise(window{results: []flowResult{res}}, stepsOf(FlowCode))
	r.Run.Flow, r.Run.Store, r.Run.Users, r.Run.Concurrency = FlowCode, "sqlite", 1000, 4
	if r.Flow.P50 != 36 { // 1 + 2 + … + 8 ms
		t.Errorf("whole sign-in p50 %v ms, want 36: the sum of the eight steps", r.Flow.P50)
	}
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Run   struct{ Flow string }         `json:"run"`
		Steps map[string]map[string]float64 `json:"steps"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Run.Flow != "code" {
		t.Errorf("run.flow = %q, want code", doc.Run.Flow)
	}
	want := []string{"authorize", "signin_page", "identify", "authenticator", "method", "code", "done", "token"}
	if len(doc.Steps) != len(want) {
		t.Errorf("steps %v, want %v", doc.Steps, want)
	}
	for i, name := range want {
		if got := doc.Steps[name]["p50_ms"]; got != float64(i+1) {
			t.Errorf("steps.%s.p50_ms = %v, want %d", name, got, i+1)
		}
	}
	buf.Reset()
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"authorization code flow", "signin_page", "authenticator", "done"} {
		if !strings.Contains(buf.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, buf.String())
		}
	}
	if strings.Contains(buf.String(), "select_phone") {
		t.Errorf("table shows IDX steps:\n%s", buf.String())
	}
}

// TestCPUWithoutTheHash checks the engine's CPU per sign-in is split into the
// hash and the rest as documented: the rest is the engine's CPU time less one
// hash's CPU time (as timed in the bench process), and the ratio is the hash's
// share.
func TestCPUWithoutTheHash(t *testing.T) {
	r := result()
	r.Hash.CPUMillis, r.Hash.HashesPerFlow = 22, 1
	r.CeilingFlowsPerSecond = 90
	var before, after counters
	before.engineKnown, after.engineKnown = true, true
	before.engine = procStat{user: 10 * time.Second, system: time.Second}
	// 10 sign-ins (result() has ten), 275 ms of engine CPU: 27.5 ms each.
	after.engine = procStat{user: 10*time.Second + 250*time.Millisecond, system: time.Second + 25*time.Millisecond}
	before.self, after.self = time.Second, time.Second+12*time.Millisecond
	r.account(before, after, 1, 22*time.Millisecond)
	if r.CPUMsPerFlow == nil || *r.CPUMsPerFlow != 27.5 {
		t.Fatalf("cpu_ms_per_flow = %v, want 27.5", r.CPUMsPerFlow)
	}
	if r.CPUMsPerFlowWithoutHash == nil || *r.CPUMsPerFlowWithoutHash != 5.5 {
		t.Errorf("cpu_ms_per_flow_without_hash = %v, want 27.5 − 22 = 5.5", r.CPUMsPerFlowWithoutHash)
	}
	if r.HashCPURatio == nil || *r.HashCPURatio != 0.8 {
		t.Errorf("hash_cpu_ratio = %v, want 22 ÷ 27.5 = 0.8", r.HashCPURatio)
	}
	if r.ClientCPUMsPerFlow != 1.2 {
		t.Errorf("client_cpu_ms_per_flow = %v, want 12 ms ÷ 10 = 1.2", r.ClientCPUMsPerFlow)
	}
	if r.FlowsPerSecond != 10 || r.Ratio != round(10.0/90) {
		t.Errorf("flows_per_second %v, ratio %v: want 10 and 10 ÷ 90", r.FlowsPerSecond, r.Ratio)
	}
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"without the hash  5.50 ms", "hash ÷ engine CPU  0.800", "bench CPU per sign-in  1.20 ms"} {
		if !strings.Contains(strings.Join(strings.Fields(buf.String()), "  "), strings.Join(strings.Fields(want), "  ")) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	if line := r.costLine(); !strings.Contains(line, "5.50 without the hash (hash ÷ engine CPU 0.80)") {
		t.Errorf("chart's cost line %q", line)
	}
}

// TestStoreOpsPerFlow checks the counts at the window's edges become per sign-in
// figures: a step's requests' average times its requests per sign-in (two for a
// hosted page's form post and the page after it), and the background over the
// sign-ins counted.
func TestStoreOpsPerFlow(t *testing.T) {
	snap := func(total opcount.Counts, steps map[string]stepOpsCount) storeOpsSnapshot {
		return storeOpsSnapshot{Total: total, Steps: steps}
	}
	before := snap(opcount.Counts{Reads: 100, Writes: 50, Statements: 200}, map[string]stepOpsCount{
		"identify": {Requests: 10, Counts: opcount.Counts{Reads: 60, Writes: 30, Statements: 120}},
	})
	// 40 requests of identify, 20 sign-ins: each makes two (post and page) with
	// 8 reads and 4 writes between them; the background did 10 writes.
	after := snap(opcount.Counts{Reads: 100 + 160, Writes: 50 + 80 + 10, Statements: 200 + 320 + 15}, map[string]stepOpsCount{
		"identify": {Requests: 50, Counts: opcount.Counts{Reads: 60 + 160, Writes: 30 + 80, Statements: 120 + 320}},
		"token":    {},
	})
	got := storeOpsPerFlow(before, after, []string{"identify", "token"}, []float64{2, 1}, 20)
	id, _ := got.Steps.step("identify")
	if id != (OpsPerFlow{Reads: 8, Writes: 4, Statements: 16, Requests: 2}) {
		t.Errorf("identify %+v, want 8 reads, 4 writes, 16 statements in 2 requests", id)
	}
	if tok, ok := got.Steps.step("token"); !ok || tok != (OpsPerFlow{}) {
		t.Errorf("token %+v (%v), want zeros: no request counted", tok, ok)
	}
	if got.Background != (OpsPerFlow{Writes: 0.5, Statements: 0.75}) {
		t.Errorf("background %+v, want 10 writes and 15 statements over 20 sign-ins", got.Background)
	}
	if got.Reads != 8 || got.Writes != 4.5 || got.Statements != 16.75 {
		t.Errorf("whole sign-in %v reads, %v writes, %v statements", got.Reads, got.Writes, got.Statements)
	}
	if storeOpsPerFlow(before, after, nil, nil, 0) != nil {
		t.Error("no sign-ins should give no figures")
	}
}

// withCosts is result() with every figure --compare compares.
func withCosts(flows, cpu, hashCPU float64) *Result {
	r := result()
	r.FlowsPerSecond, r.CeilingFlowsPerSecond, r.Ratio = flows, 90, round(flows/90)
	r.Hash.CPUMillis, r.Hash.HashesPerFlow = hashCPU, 1
	without, share := cpu-hashCPU, round(hashCPU/cpu)
	r.CPUMsPerFlow, r.CPUMsPerFlowWithoutHash, r.HashCPURatio = &cpu, &without, &share
	r.ClientCPUMsPerFlow = 1.25
	r.StoreOps = &StoreOps{Reads: 30, Writes: 27, Statements: 79,
		Steps:      StepOpsList{{Step: "identify", OpsPerFlow: OpsPerFlow{Reads: 6, Writes: 3, Statements: 12, Requests: 1}}},
		Background: OpsPerFlow{Writes: 2, Statements: 3}}
	r.Run.Flow, r.Hash.Mode = FlowIDX, "real"
	r.Run.StartedAt = time.Date(2025, 1, 2, 3, 4, 0, 0, time.UTC)
	return r
}

func TestResultJSONHasTheCosts(t *testing.T) {
	r := withCosts(60, 27.5, 22)
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		CPU       *float64 `json:"cpu_ms_per_flow"`
		Without   *float64 `json:"cpu_ms_per_flow_without_hash"`
		HashShare *float64 `json:"hash_cpu_ratio"`
		Client    *float64 `json:"client_cpu_ms_per_flow"`
		Ratio     *float64 `json:"ratio"`
		Hash      struct {
			CPU      *float64 `json:"cpu_ms"`
			PerFlow  *int     `json:"hashes_per_flow"`
			Millis   *float64 `json:"ms"`
			AllCores *float64 `json:"ms_all_cores"`
		} `json:"hash"`
		Ops struct {
			Reads, Writes, Statements *float64
			Steps                     map[string]map[string]float64 `json:"steps"`
			Background                map[string]float64            `json:"background"`
		} `json:"store_ops_per_signin"`
		Run struct{ Store string } `json:"run"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	check := func(name string, got *float64, want float64) {
		t.Helper()
		if got == nil || *got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("cpu_ms_per_flow", doc.CPU, 27.5)
	check("cpu_ms_per_flow_without_hash", doc.Without, 5.5)
	check("hash_cpu_ratio", doc.HashShare, 0.8)
	check("client_cpu_ms_per_flow", doc.Client, 1.25)
	check("ratio", doc.Ratio, round(60.0/90))
	check("hash.cpu_ms", doc.Hash.CPU, 22)
	check("store_ops_per_signin.reads", doc.Ops.Reads, 30)
	check("store_ops_per_signin.writes", doc.Ops.Writes, 27)
	check("store_ops_per_signin.statements", doc.Ops.Statements, 79)
	if doc.Hash.PerFlow == nil || *doc.Hash.PerFlow != 1 {
		t.Errorf("hash.hashes_per_flow = %v", doc.Hash.PerFlow)
	}
	if id := doc.Ops.Steps["identify"]; id["reads"] != 6 || id["writes"] != 3 || id["requests"] != 1 {
		t.Errorf("store_ops_per_signin.steps.identify = %v", id)
	}
	if doc.Ops.Background["writes"] != 2 {
		t.Errorf("store_ops_per_signin.background = %v", doc.Ops.Background)
	}
	if doc.Run.Store != "sqlite" {
		t.Errorf("run.store = %q", doc.Run.Store)
	}
	// A result without an engine (--url without --pid) says so with nulls.
	bare := result()
	buf.Reset()
	if err := bare.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"cpu_ms_per_flow": null`, `"cpu_ms_per_flow_without_hash": null`, `"hash_cpu_ratio": null`, `"store_ops_per_signin": null`} {
		if !strings.Contains(buf.String(), k) {
			t.Errorf("no %s in %s", k, buf.String())
		}
	}
}

// TestCompare checks --compare's output: each figure old → new and new ÷ old,
// a dash where a run lacks the figure, and a note when the runs differ in kind.
func TestCompare(t *testing.T) {
	oldRun, newRun := withCosts(50, 30, 22), withCosts(75, 27.5, 22)
	oldRun.StoreOps.Writes = 36
	oldRun.ClientCPUMsPerFlow = 0 // an older result without the figure
	// The old run goes through a file, as --compare reads it.
	path := filepath.Join(t.TempDir(), "old.json")
	var buf bytes.Buffer
	if err := oldRun.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	old, err := ReadResult(path)
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := newRun.WriteComparison(&buf, old, path); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	rows := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		if old, rest, ok := strings.Cut(line, " → "); ok {
			f := strings.Fields(old)
			name := strings.Join(f[:len(f)-1], " ")
			rows[name] = append([]string{f[len(f)-1]}, strings.Fields(rest)...)
		}
	}
	want := map[string][]string{
		"sign-ins per second":           {"50.0", "75.0", "1.500"},
		"engine CPU ms / sign-in":       {"30.0", "27.50", "0.917"},
		"… without the hash":            {"8.0", "5.500", "0.688"},
		"hash CPU ÷ engine CPU":         {"0.733", "0.800", "1.091"},
		"store writes / sign-in":        {"36.0", "27.0", "0.750"},
		"store reads / sign-in":         {"30.0", "30.0", "1.000"},
		"bench CPU ms / sign-in":        {"—", "1.250", "—"},
		"identify store writes":         {"3.0", "3.0", "1.000"},
		"errors":                        {"1.0", "1.0", "1.000"},
		"throughput ÷ ceiling":          {"0.556", "0.833", "1.498"}, // the ratio of the rounded ratios
		"ceiling (sign-ins per second)": {"90.0", "90.0", "1.000"},
	}
	for name, w := range want {
		if got := rows[name]; !reflect.DeepEqual(got, w) {
			t.Errorf("%s: %v, want %v", name, got, w)
		}
	}
	if !strings.Contains(out, "Compared with "+path) || strings.Contains(out, "note:") {
		t.Errorf("heading:\n%s", out)
	}
	newRun.Run.Store = "postgres"
	buf.Reset()
	_ = newRun.WriteComparison(&buf, old, path)
	if !strings.Contains(buf.String(), "note: the runs differ") {
		t.Errorf("no note on runs of different stores:\n%s", buf.String())
	}
	if _, err := ReadResult(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing file reads")
	}
	if err := os.WriteFile(path, []byte(`{"something": "else"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadResult(path); err == nil || !strings.Contains(err.Error(), "not a gatehouse bench result") {
		t.Errorf("another JSON file: %v", err)
	}
}
