package throttle_test

import (
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// twoNodes opens two stores on one SQLite file, with a limiter each: two engine
// processes sharing a database.
func twoNodes(t *testing.T, now func() time.Time) (*throttle.Limiter, *throttle.Limiter) {
	path := filepath.Join(t.TempDir(), "g.db")
	var ls [2]*throttle.Limiter
	for i := range ls {
		st, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		ls[i] = throttle.New(st, now)
	}
	return ls[0], ls[1]
}

func TestReserveDecisionAndHeaders(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	l, _ := twoNodes(t, func() time.Time { return now })
	tight := throttle.Limit{Max: 2, Window: time.Minute}
	loose := throttle.Limit{Max: 100, Window: time.Hour}
	reqs := []throttle.Request{{Key: throttle.SendsForUser("u1"), Limit: loose}, {Key: throttle.SendsOnTransaction("tx1"), Limit: tight}}
	d, err := l.Reserve(t.Context(), reqs...)
	if err != nil || !d.Allowed || d.Limit != 2 || d.Remaining != 1 || !d.Reset.Equal(now.Add(time.Minute)) {
		t.Fatalf("first reservation: %+v %v; want allowed, the tight budget's 1 of 2 left until +1m", d, err)
	}
	now = now.Add(10 * time.Second)
	if d, _ = l.Reserve(t.Context(), reqs...); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("second reservation: %+v", d)
	}
	now = now.Add(10 * time.Second)
	d, err = l.Reserve(t.Context(), reqs...)
	if err != nil || d.Allowed || d.Refused.Kind() != throttle.KindSendsOnTx {
		t.Fatalf("third reservation: %+v %v; want refused by the transaction's budget", d, err)
	}
	rec := httptest.NewRecorder()
	d.WriteHeaders(rec.Header(), now)
	h := rec.Header()
	if h.Get("Retry-After") != "40" || h.Get("X-Rate-Limit-Limit") != "2" || h.Get("X-Rate-Limit-Remaining") != "0" ||
		h.Get("X-Rate-Limit-Reset") != strconv.FormatInt(now.Add(40*time.Second).Unix(), 10) {
		t.Errorf("headers of a refusal 20s into a 1m window: %v", h)
	}
	// Nothing of the refused reservation was kept: the loose budget counted 2.
	if n, _, _ := l.Count(t.Context(), throttle.SendsForUser("u1"), loose); n != 2 {
		t.Errorf("the loose budget counted %d after a refused reservation; want 2", n)
	}
	// A new window admits again.
	now = now.Add(time.Minute)
	if d, _ = l.Reserve(t.Context(), reqs...); !d.Allowed {
		t.Errorf("a reservation in the next window was refused: %+v", d)
	}
}

// TestTakeHoldsTheBudgetAcrossNodes: leases make Take cheap without letting two
// nodes together hand out more than the budget.
func TestTakeHoldsTheBudgetAcrossNodes(t *testing.T) {
	a, b := twoNodes(t, time.Now)
	limit := throttle.Limit{Max: 100, Window: time.Hour}
	key := throttle.Requests("identify", "192.0.2.1")
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 400 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() {
			d, err := l.Take(t.Context(), key, limit)
			if err != nil {
				t.Error(err)
				return
			}
			if d.Allowed {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n > 100 || n < 100-2*5 {
		t.Errorf("two nodes took %d units of a budget of 100 between them; want at most 100, and no more lost to leases than two chunks", n)
	}
}

func TestKnownSources(t *testing.T) {
	now := time.Now()
	l, other := twoNodes(t, func() time.Time { return now })
	dev := throttle.DeviceSource("token-1")
	if known, _ := l.Known(t.Context(), "u1", dev); known {
		t.Fatal("a source never remembered is known")
	}
	if err := l.Remember(t.Context(), "u1", dev, time.Hour); err != nil {
		t.Fatal(err)
	}
	if known, _ := other.Known(t.Context(), "u1", throttle.IPSource("192.0.2.1"), dev); !known {
		t.Error("a remembered source is not known on the other node")
	}
	if known, _ := l.Known(t.Context(), "u2", dev); known {
		t.Error("a source known for one user is known for another")
	}
	now = now.Add(time.Hour)
	if known, _ := l.Known(t.Context(), "u1", dev); known {
		t.Error("a source is still known after its lifetime")
	}
}

func TestUseOnceAcrossNodes(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a, b := twoNodes(t, clock)
	key := throttle.AssertionID("svc", "jti-1")
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() {
			err := l.UseOnce(t.Context(), key, now.Add(time.Minute))
			switch {
			case err == nil:
				ok.Add(1)
			case err != throttle.ErrUsed:
				t.Errorf("UseOnce: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d concurrent uses of one key succeeded, want 1", ok.Load())
	}
	if err := a.UseOnce(t.Context(), throttle.AssertionID("svc", "jti-2"), now.Add(time.Minute)); err != nil {
		t.Errorf("another jti: %v", err)
	}
	if err := a.UseOnce(t.Context(), throttle.AssertionID("other", "jti-1"), now.Add(time.Minute)); err != nil {
		t.Errorf("the same jti of another client: %v", err)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if err := b.UseOnce(t.Context(), key, now.Add(time.Minute)); err != nil {
		t.Errorf("after the first use expired: %v", err)
	}
}
