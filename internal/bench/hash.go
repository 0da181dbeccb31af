package bench

import (
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/authn/password"
)

// HashCost is what one password verification costs with the parameters in use.
type HashCost struct {
	Params string `json:"params"`
	Mode   string `json:"mode"` // "real" (the configured parameters) or "cheap"
	// Millis is the median time of one hash on an otherwise idle core, over rounds
	// timed before and after the run (MillisBefore, MillisAfter): a virtual machine's
	// speed drifts, and the ceiling should not depend on one moment.
	Millis       float64 `json:"ms"`
	MillisBefore float64 `json:"ms_before"`
	MillisAfter  float64 `json:"ms_after"`
	// AllCoresMillis is the median time of one hash while every core hashes at once:
	// argon2id is memory-bound, so cores that share caches and memory bandwidth slow
	// each other down. It explains part of a ratio below 1; the ceiling uses Millis,
	// as the issue defines it.
	AllCoresMillis float64 `json:"ms_all_cores"`
	// CPUMillis is the median CPU time (user + system, the bench process's own, as
	// getrusage counts it) of one hash in the same rounds as Millis: the CPU a
	// password check costs whatever else the machine runs. Engine CPU per sign-in
	// without the hash is the engine's CPU per sign-in less HashesPerFlow × this.
	CPUMillis float64 `json:"cpu_ms"`
	// HashesPerFlow is how many password hashes a sign-in makes: one, at identify.
	HashesPerFlow int `json:"hashes_per_flow"`
}

// hashesPerFlow is how many hashes a sign-in of either flow computes: the
// password is checked once.
const hashesPerFlow = 1

// hashRounds is how many hashes each measurement takes the median of.
const hashRounds = 15

// hashOnce times password.HashWith — the same argon2id call Verify makes, with the
// same 19 MiB allocation — once.
func hashOnce(params password.Params) (time.Duration, error) {
	start := time.Now()
	_, err := password.HashWith(params, benchPassword)
	return time.Since(start), err
}

// hashTimes are the wall-clock and CPU times of hashes timed one after the other.
type hashTimes struct {
	wall, cpu []time.Duration
}

// timeHashes times rounds hashes one after the other, after one to warm up (the
// first allocates the memory): the time each took, and the CPU time the process
// used meanwhile — the hash's, since nothing else of the bench runs then.
func timeHashes(params password.Params, rounds int) (hashTimes, error) {
	if _, err := hashOnce(params); err != nil {
		return hashTimes{}, err
	}
	t := hashTimes{wall: make([]time.Duration, 0, rounds), cpu: make([]time.Duration, 0, rounds)}
	for range rounds {
		cpu := selfCPU()
		d, err := hashOnce(params)
		if err != nil {
			return hashTimes{}, err
		}
		t.wall = append(t.wall, d)
		t.cpu = append(t.cpu, selfCPU()-cpu)
	}
	return t, nil
}

// timeHashesOnAllCores times rounds hashes on each of cores goroutines at once.
func timeHashesOnAllCores(params password.Params, cores, rounds int) []time.Duration {
	var mu sync.Mutex
	var out []time.Duration
	var wg sync.WaitGroup
	for range cores {
		wg.Go(func() {
			for range rounds {
				d, err := hashOnce(params)
				if err != nil {
					return
				}
				mu.Lock()
				out = append(out, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
