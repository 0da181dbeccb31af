package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// ReadResult reads a result that --json or --json-file wrote.
func ReadResult(path string) (*Result, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("%s: not a gatehouse bench result: %w", path, err)
	}
	if r.Run.StartedAt.IsZero() && r.Flows == 0 && len(r.Steps) == 0 {
		return nil, fmt.Errorf("%s: not a gatehouse bench result (no run, no sign-ins, no steps)", path)
	}
	return &r, nil
}

// figure is one line of a comparison: a value of each run, if known.
type figure struct {
	name     string
	old, new float64
	hasOld   bool
	hasNew   bool
}

// known is v and whether it is known: a zero figure of these kinds (a rate, a
// time, a count of operations) means the run did not measure it — an older result
// without the field, or --url without --pid.
func known(v float64) (float64, bool) { return v, v != 0 }

func knownPtr(v *float64) (float64, bool) {
	if v == nil {
		return 0, false
	}
	return *v, true
}

// figures lists what WriteComparison compares, picking each from a result.
func comparisonFigures(old, cur *Result) []figure {
	var out []figure
	add := func(name string, pick func(*Result) (float64, bool)) {
		f := figure{name: name}
		f.old, f.hasOld = pick(old)
		f.new, f.hasNew = pick(cur)
		if f.hasOld || f.hasNew {
			out = append(out, f)
		}
	}
	add("sign-ins per second", func(r *Result) (float64, bool) { return known(r.FlowsPerSecond) })
	add("ceiling (sign-ins per second)", func(r *Result) (float64, bool) { return known(r.CeilingFlowsPerSecond) })
	add("throughput ÷ ceiling", func(r *Result) (float64, bool) { return known(r.Ratio) })
	add("… of the cores left", func(r *Result) (float64, bool) { return known(r.RatioToCoresLeft) })
	add("engine CPU ms / sign-in", func(r *Result) (float64, bool) { return knownPtr(r.CPUMsPerFlow) })
	add("… without the hash", func(r *Result) (float64, bool) { return knownPtr(r.CPUMsPerFlowWithoutHash) })
	add("hash CPU ÷ engine CPU", func(r *Result) (float64, bool) { return knownPtr(r.HashCPURatio) })
	add("bench CPU ms / sign-in", func(r *Result) (float64, bool) { return known(r.ClientCPUMsPerFlow) })
	add("other CPU ms / sign-in", func(r *Result) (float64, bool) { return r.OtherCPUMsPerFlow, r.Flows > 0 })
	add("engine peak RSS MiB", func(r *Result) (float64, bool) { return knownPtr(r.PeakRSSMiB) })
	add("hash ms (one core)", func(r *Result) (float64, bool) { return known(r.Hash.Millis) })
	add("hash CPU ms", func(r *Result) (float64, bool) { return known(r.Hash.CPUMillis) })
	add("errors", func(r *Result) (float64, bool) { return float64(r.ErrorCount), true })
	ops := func(pick func(*StoreOps) float64) func(*Result) (float64, bool) {
		return func(r *Result) (float64, bool) {
			if r.StoreOps == nil {
				return 0, false
			}
			return pick(r.StoreOps), true
		}
	}
	add("store reads / sign-in", ops(func(o *StoreOps) float64 { return o.Reads }))
	add("store writes / sign-in", ops(func(o *StoreOps) float64 { return o.Writes }))
	add("store statements / sign-in", ops(func(o *StoreOps) float64 { return o.Statements }))
	pg := func(pick func(*PostgresCost) (float64, bool)) func(*Result) (float64, bool) {
		return func(r *Result) (float64, bool) {
			if r.Postgres == nil || r.Postgres.PostgresCost == nil {
				return 0, false
			}
			return pick(r.Postgres.PostgresCost)
		}
	}
	add("PostgreSQL statements / sign-in", pg(func(c *PostgresCost) (float64, bool) { return c.StatementsPerSignin, true }))
	add("PostgreSQL exec ms / sign-in", pg(func(c *PostgresCost) (float64, bool) { return c.DBExecMsPerSignin, true }))
	add("PostgreSQL CPU ms / sign-in", pg(func(c *PostgresCost) (float64, bool) { return knownPtr(c.ServerCPUMsPerSignin) }))
	add("WAL bytes / sign-in", pg(func(c *PostgresCost) (float64, bool) { return c.WALBytesPerSignin, true }))
	add("WAL records / sign-in", pg(func(c *PostgresCost) (float64, bool) { return c.WALRecordsPerSignin, true }))
	add("server WAL bytes / sign-in", pg(func(c *PostgresCost) (float64, bool) { return knownPtr(c.ServerWALBytesPerSignin) }))
	add("WAL flushes / sign-in", pg(func(c *PostgresCost) (float64, bool) { return knownPtr(c.WALSyncsPerSignin) }))
	add("shared blocks hit / sign-in", pg(func(c *PostgresCost) (float64, bool) { return c.BlocksHitPerSignin, true }))
	add("whole sign-in p50 ms", func(r *Result) (float64, bool) { return known(r.Flow.P50) })
	add("whole sign-in p99 ms", func(r *Result) (float64, bool) { return known(r.Flow.P99) })

	// Every step of either run, the new run's order first.
	var names []string
	seen := map[string]bool{}
	for _, steps := range []StepLatencies{cur.Steps, old.Steps} {
		for _, s := range steps {
			if !seen[s.Step] {
				seen[s.Step] = true
				names = append(names, s.Step)
			}
		}
	}
	for _, name := range names {
		lat := func(pick func(Latency) float64) func(*Result) (float64, bool) {
			return func(r *Result) (float64, bool) {
				for _, s := range r.Steps {
					if s.Step == name {
						return known(pick(s.Latency))
					}
				}
				return 0, false
			}
		}
		stepOps := func(pick func(OpsPerFlow) float64) func(*Result) (float64, bool) {
			return func(r *Result) (float64, bool) {
				if r.StoreOps == nil {
					return 0, false
				}
				o, ok := r.StoreOps.Steps.step(name)
				return pick(o), ok
			}
		}
		add(name+" p50 ms", lat(func(l Latency) float64 { return l.P50 }))
		add(name+" p99 ms", lat(func(l Latency) float64 { return l.P99 }))
		add(name+" store reads", stepOps(func(o OpsPerFlow) float64 { return o.Reads }))
		add(name+" store writes", stepOps(func(o OpsPerFlow) float64 { return o.Writes }))
	}
	add("background store reads", ops(func(o *StoreOps) float64 { return o.Background.Reads }))
	add("background store writes", ops(func(o *StoreOps) float64 { return o.Background.Writes }))
	return out
}

// WriteComparison writes the previous run old, read from oldName, beside r: every
// figure as old → new, and new ÷ old. A figure one run lacks shows as "—".
func (r *Result) WriteComparison(w io.Writer, old *Result, oldName string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\nCompared with %s (%s, started %s)\n", oldName, old.Title(), old.Run.StartedAt.Format("2006-01-02 15:04 MST"))
	if old.Run.Flow != r.Run.Flow || old.Run.Store != r.Run.Store || old.Hash.Mode != r.Hash.Mode {
		fmt.Fprintf(&b, "note: the runs differ in flow, store or hash (%s, %s, %s hash → %s, %s, %s hash)\n",
			orDash(old.Run.Flow), orDash(old.Run.Store), orDash(old.Hash.Mode), orDash(r.Run.Flow), orDash(r.Run.Store), orDash(r.Hash.Mode))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "%-32s %10s   %-10s %8s\n", "figure", "old", "new", "new/old")
	for _, f := range comparisonFigures(old, r) {
		o, n, ratio := "—", "—", "—"
		if f.hasOld {
			o = number(f.old)
		}
		if f.hasNew {
			n = number(f.new)
		}
		if f.hasOld && f.hasNew && f.old != 0 {
			ratio = fmt.Sprintf("%.3f", f.new/f.old)
		}
		fmt.Fprintf(&b, "%-32s %10s → %-10s %8s\n", f.name, o, n, ratio)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// number formats a figure with three significant digits or more.
func number(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100 || a == math.Trunc(a):
		return fmt.Sprintf("%.1f", v)
	case a >= 10:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
