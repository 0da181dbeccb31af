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
