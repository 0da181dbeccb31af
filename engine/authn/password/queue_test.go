package password

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"
)

// hangGuard only turns a broken queue (a caller that never returns) into a failure
// instead of a hung test; no assertion depends on it.
const hangGuard = 10 * time.Second

// gone is a context that has already ended. A call made with it that should be
// refused at once gets ErrBusy; one that is wrongly queued instead returns
// context.Canceled at once rather than hanging the test.
func gone() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// queueRecorder records, through the Hasher's test hooks, the keys of callers as
// they join the queue and as they are handed a slot.
type queueRecorder struct {
	queued chan string
	mu     sync.Mutex
	grants []string
}

func record(h *Hasher) *queueRecorder {
	r := &queueRecorder{queued: make(chan string, 1024)}
	h.onQueued = func(key string) { r.queued <- key }
	h.onGranted = func(key string) {
		r.mu.Lock()
		r.grants = append(r.grants, key)
		r.mu.Unlock()
	}
	return r
}

// waitQueued waits until a caller with key has joined the queue.
func (r *queueRecorder) waitQueued(t *testing.T, key string) {
	t.Helper()
	select {
	case k := <-r.queued:
		if k != key {
			t.Fatalf("%q joined the queue, want %q", k, key)
		}
	case <-time.After(hangGuard):
		t.Fatalf("no caller with key %q joined the queue", key)
	}
}

func (r *queueRecorder) grantOrder() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.grants...)
}

func recv(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(hangGuard):
		t.Fatal("a caller did not return")
		return nil
	}
}

// occupy takes all of h's slots, which must be free, so that every caller after it
// queues.
func occupy(t *testing.T, h *Hasher) {
	t.Helper()
	for range h.workers {
		if err := h.acquire(gone(), ""); err != nil {
			t.Fatalf("taking a free slot: %v", err)
		}
	}
}

func keyCount(h *Hasher, key string) (int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.perKey[key], len(h.perKey)
}

func assertIdle(t *testing.T, h *Hasher) {
	t.Helper()
	if in, q := h.InFlight(), h.QueueLength(); in != 0 || q != 0 {
		t.Errorf("idle pool: %d in flight, %d waiting", in, q)
	}
	if _, keys := keyCount(h, ""); keys != 0 {
		h.mu.Lock()
		t.Errorf("idle pool still counts keys: %v", h.perKey)
		h.mu.Unlock()
	}
}

func cheapHasher(t *testing.T, workers, maxQueue int) (*Hasher, string) {
	t.Helper()
	h, err := NewHasher(CheapParams, workers, maxQueue)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	return h, enc
}

func TestOneKeyFloodingGetsOnlyItsShare(t *testing.T) {
	h, enc := cheapHasher(t, 1, 16)
	h.SetQueueShare(0.25)
	rec := record(h)
	ctx := context.Background()
	const flood, other = "ip:203.0.113.7", "ip:198.51.100.9"
	occupy(t, h)

	floodResults := make(chan error, 20)
	for range 20 {
		go func() {
			r, err := h.VerifyAs(ctx, flood, enc, "pw")
			if err == nil && !r.OK {
				err = errors.New("right password refused")
			}
			floodResults <- err
		}()
	}
	// Four of the twenty queue; the other sixteen are turned away at once. The
	// four cannot return before the slot is released, so the first sixteen
	// results are the refusals.
	for range 4 {
		rec.waitQueued(t, flood)
	}
	for i := range 16 {
		if err := recv(t, floodResults); !errors.Is(err, ErrBusy) {
			t.Fatalf("flooding caller %d: %v, want ErrBusy", i, err)
		}
	}
	if n, _ := keyCount(h, flood); n != 4 || h.QueueLength() != 4 {
		t.Fatalf("flooding key has %d waiting, queue %d; want 4 and 4", n, h.QueueLength())
	}
	// More from the flooding key are still refused…
	if _, err := h.VerifyAs(gone(), flood, enc, "pw"); !errors.Is(err, ErrBusy) {
		t.Fatalf("flooding key over its share: %v, want ErrBusy", err)
	}
	// …while another client and a caller without a key still get a place.
	otherResult := make(chan error, 1)
	go func() {
		r, err := h.VerifyAs(ctx, other, enc, "pw")
		if err == nil && !r.OK {
			err = errors.New("right password refused")
		}
		otherResult <- err
	}()
	rec.waitQueued(t, other)
	noKeyResult := make(chan error, 1)
	go func() {
		r, err := h.Verify(ctx, enc, "wrong")
		if err == nil && r.OK {
			err = errors.New("wrong password accepted")
		}
		noKeyResult <- err
	}()
	rec.waitQueued(t, "")
	if h.QueueLength() != 6 {
		t.Fatalf("queue length %d, want 6", h.QueueLength())
	}

	h.release()
	if err := recv(t, otherResult); err != nil {
		t.Errorf("other client's VerifyAs: %v", err)
	}
	if err := recv(t, noKeyResult); err != nil {
		t.Errorf("Verify without a key: %v", err)
	}
	for range 4 {
		if err := recv(t, floodResults); err != nil {
			t.Errorf("queued flooding caller: %v", err)
		}
	}
	// Served in arrival order: the other client waits for the four queued before
	// it, not for the flood.
	want := []string{flood, flood, flood, flood, other, ""}
	if got := rec.grantOrder(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("slots were handed out in the order %q, want %q", got, want)
	}
	assertIdle(t, h)
}

func TestQueueIsFIFO(t *testing.T) {
	for _, workers := range []int{1, 3} {
		h, enc := cheapHasher(t, workers, 64)
		rec := record(h)
		occupy(t, h)
		done := make(chan error, 40)
		var want []string
		for i := range 40 {
			key := fmt.Sprintf("k%02d", i)
			if i%5 == 0 {
				key = "" // callers without a key queue in the same line
			}
			want = append(want, key)
			go func() {
				_, err := h.VerifyAs(context.Background(), key, enc, "pw")
				done <- err
			}()
			rec.waitQueued(t, key) // the next one arrives only after this one queued
		}
		for range workers {
			h.release()
		}
		for range 40 {
			if err := recv(t, done); err != nil {
				t.Error(err)
			}
		}
		if got := rec.grantOrder(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("workers %d: grant order %q, want arrival order %q", workers, got, want)
		}
		assertIdle(t, h)
	}
}

// A newcomer never takes a slot ahead of a waiting caller, even at the moment a
// slot is freed.
func TestNewcomerDoesNotOvertake(t *testing.T) {
	h, _ := cheapHasher(t, 1, 4)
	rec := record(h)
	occupy(t, h)
	got := make(chan error, 1)
	hold, released := make(chan struct{}), make(chan error, 1)
	go func() {
		err := h.acquire(context.Background(), "first")
		got <- err
		if err == nil {
			<-hold
			h.release()
		}
		released <- nil
	}()
	rec.waitQueued(t, "first")
	h.release() // hands the slot to "first"
	if err := recv(t, got); err != nil {
		t.Fatal(err)
	}
	if h.InFlight() != 1 {
		t.Fatalf("%d in flight, want 1 (the slot passed to the waiter)", h.InFlight())
	}
	// The only slot is the waiter's: a newcomer must queue (and here gives up).
	if err := h.acquire(gone(), "second"); !errors.Is(err, context.Canceled) {
		t.Errorf("newcomer while the slot is held: %v, want context.Canceled", err)
	}
	close(hold)
	recv(t, released)
	assertIdle(t, h)
}

func TestDefaultShareIsTheWholeQueue(t *testing.T) {
	h, enc := cheapHasher(t, 1, 4)
	rec := record(h)
	occupy(t, h)
	results := make(chan error, 6)
	for range 6 {
		go func() {
			_, err := h.VerifyAs(context.Background(), "one", enc, "pw")
			results <- err
		}()
	}
	for range 4 {
		rec.waitQueued(t, "one")
	}
	for range 2 {
		if err := recv(t, results); !errors.Is(err, ErrBusy) {
			t.Fatalf("%v, want ErrBusy", err)
		}
	}
	h.release()
	for range 4 {
		if err := recv(t, results); err != nil {
			t.Error(err)
		}
	}
	assertIdle(t, h)
}

func TestSharesStillObeyTheWholeQueue(t *testing.T) {
	h, _ := cheapHasher(t, 1, 8)
	h.SetQueueShare(0.25) // two per key
	rec := record(h)
	occupy(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan error, 8)
	for _, key := range []string{"a", "a", "b", "b", "c", "c", "d", "d"} {
		go func() { results <- h.acquire(ctx, key) }()
		rec.waitQueued(t, key)
	}
	for _, key := range []string{"e", "", "a"} {
		if err := h.acquire(gone(), key); !errors.Is(err, ErrBusy) {
			t.Errorf("key %q with the queue full: %v, want ErrBusy", key, err)
		}
	}
	cancel()
	for range 8 {
		if err := recv(t, results); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled waiter: %v", err)
		}
	}
	h.release()
	assertIdle(t, h)
}

func TestSetQueueShare(t *testing.T) {
	cases := []struct {
		maxQueue int
		share    float64
		want     int
	}{
		{16, 0.25, 4},
		{16, 1, 16},
		{10, 0.3, 3},
		{10, 0.31, 4}, // rounded up
		{16, 0.01, 1}, // never zero
		{16, 0, 16},   // out of range: the whole queue
		{16, -1, 16},
		{16, 1.5, 16},
		{16, math.NaN(), 16},
		{16, math.Inf(1), 16},
	}
	for _, c := range cases {
		h := &Hasher{maxQueue: c.maxQueue, keyLimit: c.maxQueue}
		h.SetQueueShare(c.share)
		if h.keyLimit != c.want {
			t.Errorf("maxQueue %d, share %v: %d per key, want %d", c.maxQueue, c.share, h.keyLimit, c.want)
		}
	}
	if h, _ := cheapHasher(t, 2, 0); h.keyLimit != h.maxQueue || h.maxQueue != 128 {
		t.Errorf("default: %d per key of %d", h.keyLimit, h.maxQueue)
	}
}

func TestCancelledWaiterLeavesNoTrace(t *testing.T) {
	h, enc := cheapHasher(t, 1, 4)
	h.SetQueueShare(0.5)
	rec := record(h)
	occupy(t, h)
	ctx, cancel := context.WithCancel(context.Background())
	results := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := h.VerifyAs(ctx, "x", enc, "pw")
			results <- err
		}()
		rec.waitQueued(t, "x")
	}
	if _, err := h.VerifyAs(gone(), "x", enc, "pw"); !errors.Is(err, ErrBusy) {
		t.Fatalf("third for x: %v, want ErrBusy", err)
	}
	cancel()
	for range 2 {
		if err := recv(t, results); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled waiter: %v", err)
		}
	}
	if n, keys := keyCount(h, "x"); n != 0 || keys != 0 || h.QueueLength() != 0 {
		t.Errorf("after cancelling: x has %d, %d keys, %d waiting", n, keys, h.QueueLength())
	}
	// x's places are free again.
	ok := make(chan error, 1)
	go func() {
		_, err := h.VerifyAs(context.Background(), "x", enc, "pw")
		ok <- err
	}()
	rec.waitQueued(t, "x")
	h.release()
	if err := recv(t, ok); err != nil {
		t.Error(err)
	}
	assertIdle(t, h)
}

// A slot handed to a waiter whose context has just ended is passed on, not lost.
// The test cancels and hands the slot over in one critical section: a waiter
// already parked wakes for the cancellation and then finds the slot granted; one
// not yet parked sees both and picks either. Whichever way, the pool ends idle.
func TestSlotHandedToACancelledWaiterIsNotLost(t *testing.T) {
	h, enc := cheapHasher(t, 1, 4)
	rec := record(h)
	passedOn := 0
	for range 100 {
		ctx, cancel := context.WithCancel(context.Background())
		occupy(t, h)
		result := make(chan error, 1)
		go func() {
			_, err := h.VerifyAs(ctx, "k", enc, "pw")
			result <- err
		}()
		rec.waitQueued(t, "k")
		h.mu.Lock()
		cancel()
		h.releaseLocked()
		h.mu.Unlock()
		switch err := recv(t, result); {
		case errors.Is(err, context.Canceled):
			passedOn++ // granted, then given back by the waiter
		case err != nil:
			t.Fatal(err)
		}
		assertIdle(t, h)
	}
	if passedOn == 0 {
		t.Error("the granted-after-cancellation path never ran")
	}
	t.Logf("%d of 100 waiters gave back a slot granted after their context ended", passedOn)
}

// Many keys, cancellations and refusals at once, under -race: every caller gets an
// answer, and afterwards nothing is held or counted.
func TestQueueUnderLoad(t *testing.T) {
	h, enc := cheapHasher(t, 2, 8)
	h.SetQueueShare(0.5)
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[string]int{}
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if i%7 == 0 {
				cancel()
			} else if i%3 == 0 {
				go cancel()
			}
			_, err := h.VerifyAs(ctx, fmt.Sprintf("key%d", i%5), enc, "pw")
			outcome := "ok"
			switch {
			case errors.Is(err, ErrBusy):
				outcome = "busy"
			case errors.Is(err, context.Canceled):
				outcome = "canceled"
			case err != nil:
				outcome = err.Error()
			}
			mu.Lock()
			counts[outcome]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if counts["ok"]+counts["busy"]+counts["canceled"] != 400 || counts["ok"] == 0 {
		t.Errorf("outcomes %v", counts)
	}
	assertIdle(t, h)
}
