package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what one run measured. Its JSON form is what --json prints.
type Result struct {
	FlowsPerSecond float64 `json:"flows_per_second"`
	// CeilingFlowsPerSecond is cores ÷ the time of one hash: no engine can sign
	// people in faster than it can verify their passwords.
	CeilingFlowsPerSecond float64 `json:"ceiling_flows_per_second"`
	Ratio                 float64 `json:"ratio"` // FlowsPerSecond ÷ CeilingFlowsPerSecond
	// RatioToCoresLeft compares with the ceiling of the cores the engine had to
	// itself: all of them less what the bench and other processes kept busy over the
	// run. The load generator shares the machine, so this says how close the engine
	// itself came.
	RatioToCoresLeft float64 `json:"ratio_to_cores_left"`

	// CPUMsPerFlow is the engine process's CPU time (user + system) per sign-in; nil
	// when the engine's process is unknown (--url without --pid).
	CPUMsPerFlow *float64 `json:"cpu_ms_per_flow"`
	// CPUMsPerFlowWithoutHash is the engine's own cost: CPUMsPerFlow less the CPU
	// time of the sign-in's password hash (Hash.HashesPerFlow × Hash.CPUMillis,
	// the hash timed in the bench process before and after the run). With --hash
	// cheap that hash is a few microseconds and this is nearly CPUMsPerFlow.
	CPUMsPerFlowWithoutHash *float64 `json:"cpu_ms_per_flow_without_hash"`
	// HashCPURatio is the hash's CPU time ÷ CPUMsPerFlow: the share of the engine's
	// CPU time that goes to hashing passwords (1 would be an engine costing nothing
	// but the hash). Ratio is the other way to look at it: throughput ÷ ceiling.
	HashCPURatio *float64 `json:"hash_cpu_ratio"`
	// ClientCPUMsPerFlow is the bench's own CPU time per sign-in: the load generator
	// shares the machine with the engine.
	ClientCPUMsPerFlow float64 `json:"client_cpu_ms_per_flow"`
	// OtherCPUMsPerFlow is the CPU time of every other process on the machine per
	// sign-in: with --store postgres and a local server, mostly PostgreSQL's.
	OtherCPUMsPerFlow float64  `json:"other_cpu_ms_per_flow"`
	PeakRSSMiB        *float64 `json:"peak_rss_mib"`
	// Engine splits the engine's CPU time; nil when CPUMsPerFlow is.
	Engine *EngineUse `json:"engine,omitempty"`
	// StoreOps are the store operations of a sign-in, per step; nil when the
	// engine is not the bench's own (--url).
	StoreOps *StoreOps `json:"store_ops_per_signin"`
	// Postgres is what the sign-ins cost the PostgreSQL server (pg_stat_statements,
	// pg_stat_wal, its processes' CPU time); absent when the engine's database is
	// not PostgreSQL, only a note when the server's statistics cannot be read.
	Postgres *Postgres `json:"postgres,omitempty"`

	Flows      int            `json:"flows"` // sign-ins completed in the measurement window
	ErrorCount int            `json:"error_count"`
	Errors     map[string]int `json:"errors"` // failed sign-ins by "step: what went wrong"

	Steps StepLatencies `json:"steps"` // per step, successful sign-ins only
	Flow  Latency       `json:"flow"`  // the whole sign-in: the sum of its steps
	// CodeLookup is the bench reading each code from the outbox, between choose_sms
	// and answer; it is not part of any step or of the flow.
	CodeLookup Latency `json:"code_lookup"`

	Hash    HashCost `json:"hash"`
	Machine Machine  `json:"machine"`
	Run     RunInfo  `json:"run"`

	// stepRequests is, per step, the HTTP requests a successful sign-in made
	// (summarise), to turn the engine's per-request store counts into per sign-in.
	stepRequests []float64
}

// EngineUse is how the engine process spent its CPU time, per sign-in.
type EngineUse struct {
	UserMsPerFlow   float64 `json:"user_ms_per_flow"`
	SystemMsPerFlow float64 `json:"system_ms_per_flow"` // the kernel: network, file I/O, page faults
	// PageFaultsPerFlow counts minor page faults: memory the process touched for the
	// first time since the kernel gave it (or took it back).
	PageFaultsPerFlow float64 `json:"page_faults_per_flow"`
}

// StepLatency is one step's latency.
type StepLatency struct {
	Step string
	Latency
}

// StepLatencies are the steps in the order of a sign-in. As JSON they are an object
// keyed by step name, in that order.
type StepLatencies []StepLatency

// MarshalJSON writes the steps as an object in sign-in order.
func (s StepLatencies) MarshalJSON() ([]byte, error) {
	return marshalOrdered(s, func(st StepLatency) (string, any) { return st.Step, st.Latency })
}

// UnmarshalJSON reads what MarshalJSON writes, keeping the order.
func (s *StepLatencies) UnmarshalJSON(data []byte) error {
	*s = nil
	return unmarshalOrdered(data, func(name string, lat Latency) { *s = append(*s, StepLatency{Step: name, Latency: lat}) })
}

// marshalOrdered writes list as one JSON object whose members keep the list's
// order (a Go map would sort them): entry gives each element's name and value.
func marshalOrdered[E any](list []E, entry func(E) (string, any)) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range list {
		if i > 0 {
			b.WriteByte(',')
		}
		k, v := entry(e)
		name, _ := json.Marshal(k)
		val, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		b.Write(name)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// unmarshalOrdered reads what marshalOrdered writes, calling add for each member
// in the order it appears.
func unmarshalOrdered[V any](data []byte, add func(name string, v V)) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		var v V
		if err := dec.Decode(&v); err != nil {
			return err
		}
		add(name, v)
	}
	_, err := dec.Token() // }
	return err
}

// Machine describes where the run happened and what else ran there.
type Machine struct {
	Cores      int     `json:"cores"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	CPUModel   string  `json:"cpu_model"`
	MemoryGiB  float64 `json:"memory_gib"`
	GoVersion  string  `json:"go_version"`
	OS         string  `json:"os"`
	// LoadAverageBefore and After are the 1-minute load averages around the run.
	LoadAverageBefore float64 `json:"load_average_before"`
	LoadAverageAfter  float64 `json:"load_average_after"`
	// OtherProcessesCores is how many cores, on average over the measurement window,
	// processes other than the engine and the bench kept busy.
	OtherProcessesCores float64 `json:"other_processes_cores"`
	// StealCores is how many cores, on average, the hypervisor of a virtual machine
	// gave to other guests while this one wanted them.
	StealCores float64 `json:"steal_cores"`
}

// RunInfo is how the run was set up.
type RunInfo struct {
	// Flow is the sign-in measured: "idx" (the IDX API) or "code" (the
	// authorization code flow through the hosted pages).
	Flow             string    `json:"flow"`
	Target           string    `json:"target"`
	Store            string    `json:"store"`
	Users            int       `json:"users"`
	Concurrency      int       `json:"concurrency"`
	Rate             float64   `json:"rate,omitempty"`
	DurationSeconds  float64   `json:"duration_s"`
	WarmupSeconds    float64   `json:"warmup_s"`
	MeasuredSeconds  float64   `json:"measured_s"`
	LogLevel         string    `json:"log_level,omitempty"`
	EngineEnv        []string  `json:"engine_env,omitempty"`
	SeedSeconds      float64   `json:"seed_s"`
	EngineCPUSeconds float64   `json:"engine_cpu_s"`
	StartedAt        time.Time `json:"started_at"`
	Command          string    `json:"command,omitempty"`
}

// summarise fills the counts and latencies from the sign-ins of the window.
func (r *Result) summarise(w window, names []string) {
	steps := make([]samples, len(names))
	requests := make([]float64, len(names))
	var flow, lookup samples
	for _, res := range w.results {
		if res.failed {
			r.ErrorCount++
			r.Errors[res.failure]++
			continue
		}
		r.Flows++
		var total time.Duration
		for s := range steps {
			d := res.steps[s]
			steps[s] = append(steps[s], d)
			total += d
			requests[s] += float64(res.requests[s])
		}
		flow = append(flow, total)
		lookup = append(lookup, res.codeLookup)
	}
	r.Steps = make(StepLatencies, 0, len(names))
	for s, name := range names {
		r.Steps = append(r.Steps, StepLatency{Step: name, Latency: steps[s].summarise()})
	}
	r.Flow = flow.summarise()
	r.CodeLookup = lookup.summarise()
	if r.Flows > 0 {
		for s := range requests {
			requests[s] /= float64(r.Flows)
		}
	}
	r.stepRequests = requests
}

// WriteJSON writes r as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// Title is a one-line description of the run.
func (r *Result) Title() string {
	store := map[string]string{"sqlite": "SQLite", "postgres": "PostgreSQL"}[r.Run.Store]
	if store == "" {
		store = r.Run.Store
	}
	title := fmt.Sprintf("%s, %s, %s users, concurrency %d", flowTitle(r.Run.Flow), store, thousands(r.Run.Users), r.Run.Concurrency)
	if r.Run.Rate > 0 {
		title += fmt.Sprintf(", paced at %.0f/s", r.Run.Rate)
	}
	return title + ", " + r.Hash.Params
}

// flowTitle names a flow for people.
func flowTitle(flow string) string {
	switch flow {
	case FlowCode:
		return "authorization code flow (hosted pages)"
	case FlowIDX, "":
		return "IDX flow"
	default:
		return flow
	}
}

// WriteTable writes r as a table for people.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Gatehouse sign-in benchmark: %s\n", r.Title())
	fmt.Fprintf(&b, "%d cores (%s), %s, %.0f s measured after %.0f s warm-up, target: %s\n\n",
		r.Machine.Cores, r.Machine.CPUModel, r.Machine.GoVersion, r.Run.MeasuredSeconds, r.Run.WarmupSeconds, r.Run.Target)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	if r.Hash.Mode == "cheap" {
		fmt.Fprintf(tw, "sign-ins per second\t%.1f\t(cheap hashing: the engine's own cost bounds it, not the ceiling)\n", r.FlowsPerSecond)
	} else {
		fmt.Fprintf(tw, "sign-ins per second\t%.1f\t(%.3f × ceiling; %.3f × the ceiling of the cores the bench and other processes left)\n",
			r.FlowsPerSecond, r.Ratio, r.RatioToCoresLeft)
	}
	fmt.Fprintf(tw, "ceiling\t%.1f\t(%d cores ÷ %.2f ms per hash [%.2f before, %.2f after the run]; %.2f ms with every core hashing)\n",
		r.CeilingFlowsPerSecond, r.Machine.Cores, r.Hash.Millis, r.Hash.MillisBefore, r.Hash.MillisAfter, r.Hash.AllCoresMillis)
	fmt.Fprintf(tw, "sign-ins\t%d\t\n", r.Flows)
	fmt.Fprintf(tw, "errors\t%d\t%s\n", r.ErrorCount, errorSummary(r.Errors))
	if r.CPUMsPerFlow != nil && r.Engine != nil {
		fmt.Fprintf(tw, "engine CPU per sign-in\t%.2f ms\t(%.2f user, %.2f system; %.0f page faults)\n",
			*r.CPUMsPerFlow, r.Engine.UserMsPerFlow, r.Engine.SystemMsPerFlow, r.Engine.PageFaultsPerFlow)
	} else {
		fmt.Fprintf(tw, "engine CPU per sign-in\tunknown\t(give --pid)\n")
	}
	if r.CPUMsPerFlowWithoutHash != nil && r.HashCPURatio != nil {
		fmt.Fprintf(tw, "  without the hash\t%.2f ms\t(less %d × %.3f ms, one hash's CPU time in the bench process)\n",
			*r.CPUMsPerFlowWithoutHash, r.Hash.HashesPerFlow, r.Hash.CPUMillis)
		fmt.Fprintf(tw, "hash ÷ engine CPU\t%.3f\t(the share of the engine's CPU time the password hash takes)\n", *r.HashCPURatio)
	}
	if o := r.StoreOps; o != nil {
		fmt.Fprintf(tw, "store ops per sign-in\t%.1f reads, %.1f writes\t(%.1f statements; %.2f reads, %.2f writes of them in the background; per step below)\n",
			o.Reads, o.Writes, o.Statements, o.Background.Reads, o.Background.Writes)
	}
	r.Postgres.writeLines(tw)
	fmt.Fprintf(tw, "bench CPU per sign-in\t%.2f ms\t(the load generator, same machine)\n", r.ClientCPUMsPerFlow)
	fmt.Fprintf(tw, "other CPU per sign-in\t%.2f ms\t(every other process: a local PostgreSQL server, anything else running)\n", r.OtherCPUMsPerFlow)
	if r.PeakRSSMiB != nil {
		fmt.Fprintf(tw, "engine peak RSS\t%.0f MiB\t\n", *r.PeakRSSMiB)
	}
	fmt.Fprintf(tw, "other load\t%.2f cores\t(%.2f stolen by the hypervisor; load average %.2f before, %.2f after)\n",
		r.Machine.OtherProcessesCores, r.Machine.StealCores, r.Machine.LoadAverageBefore, r.Machine.LoadAverageAfter)
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\n")
	// The step names left-aligned, the figures right-aligned: padded by hand, since
	// tabwriter aligns every column one way.
	// With the store operations: reads and writes per sign-in in two more columns.
	ops := r.StoreOps
	head := fmt.Sprintf("%-24s %8s %8s %8s %8s", "step", "p50 ms", "p95 ms", "p99 ms", "max ms")
	if ops != nil {
		head += fmt.Sprintf(" %8s %8s", "reads", "writes")
	}
	b.WriteString(strings.TrimRight(head, " ") + "\n")
	row := func(name string, l *Latency, o *OpsPerFlow) {
		line := fmt.Sprintf("%-24s", name)
		if l != nil {
			line += fmt.Sprintf(" %8s %8s %8s %8s", latencyCell(l.P50), latencyCell(l.P95), latencyCell(l.P99), latencyCell(l.Max))
		} else {
			line += strings.Repeat(" ", 4*9)
		}
		if ops != nil && o != nil {
			line += fmt.Sprintf(" %8.2f %8.2f", o.Reads, o.Writes)
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	for _, s := range r.Steps {
		var o *OpsPerFlow
		if ops != nil {
			if so, ok := ops.Steps.step(s.Step); ok {
				o = &so
			}
		}
		row(s.Step, &s.Latency, o)
	}
	var whole *OpsPerFlow
	if ops != nil {
		row("(store: background)", nil, &ops.Background)
		whole = &OpsPerFlow{Reads: ops.Reads, Writes: ops.Writes}
	}
	row("whole sign-in", &r.Flow, whole)
	row("(bench: code lookup)", &r.CodeLookup, nil)
	r.Postgres.writeStatements(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func latencyCell(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func errorSummary(errs map[string]int) string {
	if len(errs) == 0 {
		return ""
	}
	kinds := make([]string, 0, len(errs))
	for k := range errs {
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, func(a, b string) int { return errs[b] - errs[a] })
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d × %s", errs[k], k))
	}
	return strings.Join(parts, "; ")
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// round keeps three decimals: enough for every figure reported.
func round(v float64) float64 { return math.Round(v*1000) / 1000 }
