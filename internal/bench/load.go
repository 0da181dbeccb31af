package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// load runs the clients: concurrency goroutines, each signing in one user after
// another — every user is only ever signed in by one goroutine, so no two sign-ins of
// one user overlap — for warmup plus duration. Only sign-ins that end inside the
// measurement window (after the warm-up) count: completions per second in a window is
// the steady-state rate whatever was in flight at its edges.
type load struct {
	client      *client
	users       int
	concurrency int
	warmup      time.Duration
	duration    time.Duration
	// rate, if positive, paces the start of sign-ins to that many per second over all
	// goroutines (at most concurrency in flight), to measure latency below peak.
	rate float64

	// onWindow is called when the measurement window opens and when it closes, to
	// sample CPU counters at those instants.
	onWindow func(opening bool)

	// progress counters, read by the progress display while the load runs.
	started             time.Time
	completed, failures atomic.Int64
}

// window is what the load measured.
type window struct {
	start, end time.Time
	results    []flowResult // sign-ins that ended inside the window
}

func (l *load) run(ctx context.Context) window {
	order := newUserOrder(l.users)
	l.started = time.Now()
	w := window{start: l.started.Add(l.warmup)}
	w.end = w.start.Add(l.duration)

	stop := make(chan struct{})
	var pace <-chan struct{}
	if l.rate > 0 {
		pace = pacer(l.rate, l.concurrency, stop)
	}
	go func() {
		select {
		case <-time.After(time.Until(w.start)):
			if l.onWindow != nil {
				l.onWindow(true)
			}
		case <-ctx.Done():
		}
		select {
		case <-time.After(time.Until(w.end)):
			if l.onWindow != nil {
				l.onWindow(false)
			}
		case <-ctx.Done():
		}
		close(stop)
	}()

	perWorker := make([][]flowResult, l.concurrency)
	var wg sync.WaitGroup
	for g := range l.concurrency {
		wg.Go(func() {
			walker := newWalker(l.client)
			// Goroutine g takes slots g, g+C, g+2C, …: disjoint sets of users.
			for slot := uint64(g); ; slot += uint64(l.concurrency) {
				if pace != nil {
					select {
					case <-pace:
					case <-stop:
						return
					}
				}
				select {
				case <-stop:
					return
				default:
				}
				res := walker.signIn(ctx, order.user(slot))
				if res.failed {
					l.failures.Add(1)
				} else {
					l.completed.Add(1)
				}
				if !res.end.Before(w.start) && res.end.Before(w.end) {
					perWorker[g] = append(perWorker[g], res)
				}
				if res.failed && ctx.Err() == nil {
					// A failing engine answers fast; do not spin on it.
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	for _, rs := range perWorker {
		w.results = append(w.results, rs...)
	}
	if end := time.Now(); end.Before(w.end) { // cancelled early
		w.end = end
	}
	return w
}

// pacer emits up to rate tokens per second until stop closes. At most burst tokens
// wait at a time: when every client is busy, the rate is simply not reached.
func pacer(rate float64, burst int, stop <-chan struct{}) <-chan struct{} {
	tokens := make(chan struct{}, burst)
	interval := time.Duration(float64(time.Second) / rate)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				select {
				case tokens <- struct{}{}:
				default:
				}
			}
		}
	}()
	return tokens
}
