package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/opcount"
)

// Store operations per sign-in. The store counts what it sends its database
// (sqlstore: reads, write transactions, statements; engine/store/opcount), and
// counts an operation also in the opcount.Tally its context carries. The bench's
// own engine wraps its handler with CountStoreOps, which gives every request of a
// step of the bench's sign-ins — named by the StepHeader the bench sends — that
// step's tally, and answers storeOpsPath with every tally and the store's total.
// The bench reads that at both edges of the measurement window. What no step's
// request did (the outbox worker claiming and marking each code message, garbage
// collection, health checks) is the total less the steps': the background.

// StepHeader names the step of a sign-in a request of the bench belongs to. Only
// the bench's own engine reads it (CountStoreOps).
const StepHeader = "X-Gatehouse-Bench-Step"

// storeOpsPath is where the bench's own engine answers with its counts.
const storeOpsPath = "/bench/store-ops"

// opsCounter is a store that counts its operations (sqlstore.Store).
type opsCounter interface {
	StoreOps() opcount.Counts
}

// storeOpsSnapshot is what storeOpsPath answers: the store's total since it
// opened and, per step, the requests and what they did.
type storeOpsSnapshot struct {
	Total opcount.Counts          `json:"total"`
	Steps map[string]stepOpsCount `json:"steps"`
}

type stepOpsCount struct {
	Requests int64 `json:"requests"`
	opcount.Counts
}

// background is what no step did.
func (s storeOpsSnapshot) background() opcount.Counts {
	b := s.Total
	for _, st := range s.Steps {
		b = b.Sub(st.Counts)
	}
	return b
}

type stepTally struct {
	requests atomic.Int64
	tally    opcount.Tally
}

type opsHandler struct {
	next  http.Handler
	store opsCounter
	steps map[string]*stepTally // every step of both flows; fixed, so read without a lock
}

// CountStoreOps wraps the bench engine's handler h to count the store operations
// of each step of the bench's sign-ins, if st counts its operations; ok is false
// (and h returned as it is) if it does not.
func CountStoreOps(h http.Handler, st store.Store) (handler http.Handler, ok bool) {
	c, ok := st.(opsCounter)
	if !ok {
		return h, false
	}
	o := &opsHandler{next: h, store: c, steps: map[string]*stepTally{}}
	for _, names := range [][]string{stepNames[:], pageStepNames[:]} {
		for _, n := range names {
			o.steps[n] = &stepTally{}
		}
	}
	return o, true
}

func (o *opsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == storeOpsPath {
		o.serveCounts(w, r)
		return
	}
	// A request the engine makes to itself (the hosted pages call the IDX API in
	// process) carries its caller's context, and so its caller's tally.
	if opcount.From(r.Context()) == nil {
		if st := o.steps[r.Header.Get(StepHeader)]; st != nil {
			st.requests.Add(1)
			r = r.WithContext(opcount.With(r.Context(), &st.tally))
		}
	}
	o.next.ServeHTTP(w, r)
}

func (o *opsHandler) serveCounts(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	snap := storeOpsSnapshot{Steps: make(map[string]stepOpsCount, len(o.steps))}
	// The steps before the total: the total only grows, so the background (the
	// total less the steps) is never negative.
	for name, st := range o.steps {
		snap.Steps[name] = stepOpsCount{Requests: st.requests.Load(), Counts: st.tally.Counts()}
	}
	snap.Total = o.store.StoreOps()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(snap)
}

// fetchStoreOps reads the counts of the bench's own engine at origin.
func fetchStoreOps(ctx context.Context, origin string) (storeOpsSnapshot, error) {
	var snap storeOpsSnapshot
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, origin+storeOpsPath, nil)
	if err != nil {
		return snap, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return snap, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return snap, fmt.Errorf("%s: HTTP %d", storeOpsPath, resp.StatusCode)
	}
	err = json.NewDecoder(resp.Body).Decode(&snap)
	return snap, err
}

// StoreOps are the store operations of one sign-in: what the engine's store sent
// its database, per step and in the background, averaged over the measurement
// window (opcount.Counts says what each figure counts).
type StoreOps struct {
	// Reads, Writes and Statements are the whole sign-in's: its steps' and the
	// background's.
	Reads      float64 `json:"reads"`
	Writes     float64 `json:"writes"`
	Statements float64 `json:"statements"`
	// Steps are each step's, in sign-in order; a step's figure is its requests'
	// average times the requests the step makes per sign-in (Requests).
	Steps StepOpsList `json:"steps"`
	// Background is what no request of a sign-in did, per sign-in: the outbox
	// worker claiming and marking the code messages, garbage collection, anything
	// else the engine does on its own.
	Background OpsPerFlow `json:"background"`
}

// OpsPerFlow are store operations per sign-in.
type OpsPerFlow struct {
	Reads      float64 `json:"reads"`
	Writes     float64 `json:"writes"`
	Statements float64 `json:"statements"`
	// Requests is the HTTP requests the step makes per sign-in (a hosted-page step
	// is a form post and the page after it); absent for the background.
	Requests float64 `json:"requests,omitempty"`
}

// StepOps are one step's store operations per sign-in.
type StepOps struct {
	Step string
	OpsPerFlow
}

// StepOpsList is the steps in sign-in order; as JSON an object keyed by step.
type StepOpsList []StepOps

// MarshalJSON writes the steps as an object in sign-in order.
func (s StepOpsList) MarshalJSON() ([]byte, error) {
	return marshalOrdered(s, func(st StepOps) (string, any) { return st.Step, st.OpsPerFlow })
}

// UnmarshalJSON reads what MarshalJSON writes, keeping the order.
func (s *StepOpsList) UnmarshalJSON(data []byte) error {
	*s = nil
	return unmarshalOrdered(data, func(name string, ops OpsPerFlow) { *s = append(*s, StepOps{Step: name, OpsPerFlow: ops}) })
}

// step returns the step called name, if there is one.
func (s StepOpsList) step(name string) (OpsPerFlow, bool) {
	for _, st := range s {
		if st.Step == name {
			return st.OpsPerFlow, true
		}
	}
	return OpsPerFlow{}, false
}

// storeOpsPerFlow turns the counts at the window's edges into per sign-in figures:
// for each step, its requests' average operations times requestsPerFlow (the
// requests the step made per successful sign-in, as the bench counted them); for
// the background, its operations over the window divided by the sign-ins counted.
func storeOpsPerFlow(before, after storeOpsSnapshot, names []string, requestsPerFlow []float64, flows int) *StoreOps {
	if flows <= 0 {
		return nil
	}
	ops := &StoreOps{Steps: make(StepOpsList, 0, len(names))}
	for i, name := range names {
		a, b := after.Steps[name], before.Steps[name]
		d, n := a.Counts.Sub(b.Counts), a.Requests-b.Requests
		st := StepOps{Step: name}
		if i < len(requestsPerFlow) && n > 0 {
			per := requestsPerFlow[i] / float64(n)
			st.OpsPerFlow = OpsPerFlow{Reads: round(float64(d.Reads) * per), Writes: round(float64(d.Writes) * per),
				Statements: round(float64(d.Statements) * per), Requests: round(requestsPerFlow[i])}
		}
		ops.Steps = append(ops.Steps, st)
		ops.Reads += st.Reads
		ops.Writes += st.Writes
		ops.Statements += st.Statements
	}
	bg := after.background().Sub(before.background())
	f := float64(flows)
	ops.Background = OpsPerFlow{Reads: round(max(float64(bg.Reads), 0) / f), Writes: round(max(float64(bg.Writes), 0) / f),
		Statements: round(max(float64(bg.Statements), 0) / f)}
	ops.Reads = round(ops.Reads + ops.Background.Reads)
	ops.Writes = round(ops.Writes + ops.Background.Writes)
	ops.Statements = round(ops.Statements + ops.Background.Statements)
	return ops
}
