package bench

import (
	"math"
	"slices"
	"time"
)

// Step is one HTTP call of a sign-in, in the order a client makes them.
type Step int

// The steps of one sign-in.
const (
	StepInteract Step = iota
	StepIntrospect
	StepIdentify
	StepSelectPhone
	StepChooseSMS
	StepAnswer
	StepToken
	StepUserinfo
	numSteps
)

var stepNames = [numSteps]string{"interact", "introspect", "identify", "select_phone", "choose_sms", "answer", "token", "userinfo"}

func (s Step) String() string { return stepNames[s] }

// samples collects latencies. At the rates a sign-in engine reaches, keeping every
// sample costs a few megabytes and gives exact percentiles.
type samples []time.Duration

// Latency summarises samples, in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// summarise sorts s and returns its percentiles (nearest rank).
func (s samples) summarise() Latency {
	if len(s) == 0 {
		return Latency{}
	}
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Latency{
		Count: len(s),
		Mean:  ms(sum / time.Duration(len(s))),
		P50:   ms(s.percentile(50)),
		P95:   ms(s.percentile(95)),
		P99:   ms(s.percentile(99)),
		Max:   ms(s[len(s)-1]),
	}
}

// percentile is the nearest-rank percentile of sorted samples: the smallest sample
// that at least p % of all samples do not exceed.
func (s samples) percentile(p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// ms converts a duration to milliseconds with microsecond resolution.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
