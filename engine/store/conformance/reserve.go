package conformance

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// reserveGoroutines is how many callers the reservation tests race against one
// budget: far more than the budget, as in a burst of parallel password guesses.
const reserveGoroutines = 200

func testReserveThrottles(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := func(key string, max int) store.ThrottleReservation {
		return store.ThrottleReservation{Key: key, Max: max, Window: time.Minute}
	}
	// A new key starts a window at now with the units asked for.
	res, err := s.ReserveThrottles(ctx, base, []store.ThrottleReservation{r("a", 2), r("b", 5)})
	mustOK(t, "ReserveThrottles", err)
	checkEqual(t, "first reservation", res, []store.ThrottleResult{
		{Key: "a", Count: 1, WindowStart: base, Admitted: true},
		{Key: "b", Count: 1, WindowStart: base, Admitted: true},
	})
	th, err := s.GetThrottle(ctx, "a")
	mustOK(t, "GetThrottle", err)
	checkEqual(t, "throttle after a reservation", th, store.Throttle{Key: "a", Count: 1, WindowStart: base, LastAt: base, ExpiresAt: at(time.Minute)})

	_, err = s.ReserveThrottles(ctx, at(time.Second), []store.ThrottleReservation{r("a", 2)})
	mustOK(t, "ReserveThrottles", err)
	// a is full: asking for a and b refuses both and keeps neither count.
	res, err = s.ReserveThrottles(ctx, at(2*time.Second), []store.ThrottleReservation{r("b", 5), r("a", 2)})
	mustOK(t, "ReserveThrottles over the budget", err)
	checkEqual(t, "refused reservation", res, []store.ThrottleResult{
		{Key: "b", Count: 1, WindowStart: base, Admitted: true},
		{Key: "a", Count: 3, WindowStart: base, Admitted: false},
	})
	for key, want := range map[string]int{"a": 2, "b": 1} {
		th, err := s.GetThrottle(ctx, key)
		mustOK(t, "GetThrottle", err)
		if th.Count != want {
			t.Errorf("after a refused reservation %s has count %d, want %d (nothing kept)", key, th.Count, want)
		}
	}
	// Units: several at once, refused when they do not all fit.
	res, err = s.ReserveThrottles(ctx, at(3*time.Second), []store.ThrottleReservation{{Key: "b", Units: 4, Max: 5, Window: time.Minute}})
	mustOK(t, "ReserveThrottles of 4 units", err)
	checkEqual(t, "4 units", res[0], store.ThrottleResult{Key: "b", Count: 5, WindowStart: base, Admitted: true})
	res, err = s.ReserveThrottles(ctx, at(4*time.Second), []store.ThrottleReservation{{Key: "b", Units: 1, Max: 5, Window: time.Minute}})
	mustOK(t, "ReserveThrottles past the budget", err)
	if res[0].Admitted {
		t.Errorf("a unit past the budget was admitted: %+v", res[0])
	}
	// The window ends one Window after it started: then a new one begins at now.
	res, err = s.ReserveThrottles(ctx, at(time.Minute), []store.ThrottleReservation{r("a", 2)})
	mustOK(t, "ReserveThrottles in a new window", err)
	checkEqual(t, "new window", res[0], store.ThrottleResult{Key: "a", Count: 1, WindowStart: at(time.Minute), Admitted: true})
	th, err = s.GetThrottle(ctx, "a")
	mustOK(t, "GetThrottle", err)
	if !th.ExpiresAt.Equal(at(2 * time.Minute)) {
		t.Errorf("ExpiresAt after a new window = %v, want %v", th.ExpiresAt, at(2*time.Minute))
	}
	// A throttle that UpdateThrottle made (no window yet) starts one.
	_, err = s.UpdateThrottle(ctx, "c", func(th store.Throttle) (store.Throttle, error) {
		th.Count = 7
		return th, nil
	})
	mustOK(t, "UpdateThrottle", err)
	res, err = s.ReserveThrottles(ctx, base, []store.ThrottleReservation{r("c", 3)})
	mustOK(t, "ReserveThrottles", err)
	checkEqual(t, "reservation of a windowless throttle", res[0], store.ThrottleResult{Key: "c", Count: 1, WindowStart: base, Admitted: true})
}

func testDeleteThrottles(t *testing.T, s store.Store) {
	ctx := t.Context()
	keys := []string{"pw/alice/1", "pw/alice/2", "pw/alice%", "pw/alicex/1", "otp/alice", "pw/al_ce/1"}
	for _, k := range keys {
		_, err := s.ReserveThrottles(ctx, base, []store.ThrottleReservation{{Key: k, Max: 1, Window: time.Hour}})
		mustOK(t, "ReserveThrottles "+k, err)
	}
	n, err := s.DeleteThrottles(ctx, "pw/alice/")
	mustOK(t, "DeleteThrottles", err)
	if n != 2 {
		t.Errorf("DeleteThrottles(pw/alice/) removed %d, want 2", n)
	}
	for _, k := range keys {
		_, err := s.GetThrottle(ctx, k)
		gone := k == "pw/alice/1" || k == "pw/alice/2"
		if gone {
			checkErrIs(t, "GetThrottle of a deleted key", err, store.ErrNotFound)
		} else {
			mustOK(t, "GetThrottle of a kept key "+k, err)
		}
	}
	mustOK(t, "DeleteThrottle", s.DeleteThrottle(ctx, "pw/alicex/1"))
	_, err = s.GetThrottle(ctx, "pw/alicex/1")
	checkErrIs(t, "GetThrottle after DeleteThrottle", err, store.ErrNotFound)
	mustOK(t, "DeleteThrottle of a missing key", s.DeleteThrottle(ctx, "pw/alicex/1"))
	if _, err := s.DeleteThrottles(ctx, ""); err == nil {
		t.Error("DeleteThrottles with an empty prefix succeeded; want an error")
	}
}

// testConcurrentReserve races reserveGoroutines callers for one budget: exactly
// the budget is admitted.
func testConcurrentReserve(t *testing.T, s store.Store) {
	checkConcurrentReserve(t, s, s)
}

// checkConcurrentReserve runs half the callers on a and half on b (two nodes on one
// database, or one store twice) and checks that exactly the budget was admitted, with
// a second key in every reservation that always fits.
func checkConcurrentReserve(t *testing.T, a, b store.Store) {
	const budget = 10
	var admitted, refused atomic.Int64
	errs := make([]error, reserveGoroutines)
	runConcurrently(reserveGoroutines, func(i int) {
		s := a
		if i%2 == 1 {
			s = b
		}
		res, err := s.ReserveThrottles(t.Context(), at(time.Duration(i)*time.Millisecond), []store.ThrottleReservation{
			{Key: "pw/victim", Max: budget, Window: time.Hour},
			{Key: fmt.Sprintf("ip/198.51.100.%d", i%50), Max: 1000, Window: time.Hour},
		})
		errs[i] = err
		if err == nil && res[0].Admitted && res[1].Admitted {
			admitted.Add(1)
		} else if err == nil {
			refused.Add(1)
		}
	})
	for i, err := range errs {
		mustOK(t, fmt.Sprintf("ReserveThrottles %d", i), err)
	}
	if admitted.Load() != budget || refused.Load() != reserveGoroutines-budget {
		t.Errorf("%d concurrent reservations of a budget of %d: %d admitted, %d refused; want exactly %d admitted",
			reserveGoroutines, budget, admitted.Load(), refused.Load(), budget)
	}
	th, err := b.GetThrottle(t.Context(), "pw/victim")
	mustOK(t, "GetThrottle", err)
	if th.Count != budget {
		t.Errorf("count after the race = %d, want %d", th.Count, budget)
	}
	var total int
	for i := range 50 {
		th, err := a.GetThrottle(t.Context(), fmt.Sprintf("ip/198.51.100.%d", i))
		if err == nil {
			total += th.Count
		}
	}
	if total != budget {
		t.Errorf("the second keys hold %d units in all, want %d (only admitted reservations are kept)", total, budget)
	}
}

// RunTwoNodeTests checks what must hold when two stores (two engine nodes) share one
// database. open returns two stores on the same fresh, empty database.
func RunTwoNodeTests(t *testing.T, open func(t *testing.T) (store.Store, store.Store)) {
	t.Run("ConcurrentReserve", func(t *testing.T) {
		a, b := open(t)
		checkConcurrentReserve(t, a, b)
	})
	t.Run("ConcurrentEnrollmentStep", func(t *testing.T) {
		a, b := open(t)
		checkConcurrentEnrollmentStep(t, a, b)
	})
}
