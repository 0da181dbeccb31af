package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHashAndVerify(t *testing.T) {
	h, err := NewHasher(DefaultParams, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("encoding %q", enc)
	}
	if r, err := h.Verify(ctx, enc, "correct horse"); err != nil || !r.OK || r.NeedsRehash {
		t.Errorf("right password: %+v %v", r, err)
	}
	if r, err := h.Verify(ctx, enc, "correct horsE"); err != nil || r.OK {
		t.Errorf("wrong password: %+v %v", r, err)
	}
	other, _ := h.Hash(ctx, "correct horse")
	if other == enc {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestUnknownUserCostsAsMuchAsAWrongPassword(t *testing.T) {
	h, err := NewHasher(DefaultParams, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	enc, _ := h.Hash(ctx, "pw")
	timeIt := func(encoded string) time.Duration {
		start := time.Now()
		for range 5 {
			r, err := h.Verify(ctx, encoded, "guess")
			if err != nil || r.OK {
				t.Fatalf("Verify: %+v %v", r, err)
			}
		}
		return time.Since(start)
	}
	known, unknown := timeIt(enc), timeIt("")
	// Both run one argon2id each; allow generous noise but not a skipped hash.
	if unknown < known/2 {
		t.Errorf("unknown user took %v, known user %v: the dummy hash is skipped", unknown, known)
	}
}

func TestNeedsRehashWhenParametersChange(t *testing.T) {
	ctx := context.Background()
	old, _ := HashWith(Params{MemoryKiB: 12288, Iterations: 3, Parallelism: 1}, "pw")
	h, _ := NewHasher(DefaultParams, 1, 0)
	r, err := h.Verify(ctx, old, "pw")
	if err != nil || !r.OK || !r.NeedsRehash {
		t.Errorf("old parameters: %+v %v", r, err)
	}
}

func TestMalformedAndHostileHashes(t *testing.T) {
	h, _ := NewHasher(CheapParams, 1, 0)
	for _, enc := range []string{
		"plain", "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", // 93 TiB
		"$argon2id$v=19$m=8,t=100000,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=8,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if _, err := h.Verify(context.Background(), enc, "pw"); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("Verify(%q) error = %v", enc, err)
		}
	}
	if _, err := h.Verify(context.Background(), "", strings.Repeat("x", MaxPasswordBytes+1)); !errors.Is(err, ErrTooLong) {
		t.Errorf("long password: %v", err)
	}
}

func TestValidateRefusesWeakParameters(t *testing.T) {
	for _, p := range []Params{CheapParams, {MemoryKiB: 19456, Iterations: 1, Parallelism: 1}, {MemoryKiB: 4096, Iterations: 10, Parallelism: 1}} {
		if p.Validate() == nil {
			t.Errorf("%v accepted", p)
		}
	}
	for _, p := range []Params{DefaultParams, {MemoryKiB: 47104, Iterations: 1, Parallelism: 1}, {MemoryKiB: 7168, Iterations: 5, Parallelism: 1}} {
		if err := p.Validate(); err != nil {
			t.Errorf("%v refused: %v", p, err)
		}
	}
}

func TestPoolBoundsConcurrencyAndQueue(t *testing.T) {
	h, _ := NewHasher(DefaultParams, 1, 2)
	ctx := context.Background()
	enc, _ := h.Hash(ctx, "pw")
	var wg sync.WaitGroup
	var mu sync.Mutex
	busy := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.Verify(ctx, enc, "pw"); errors.Is(err, ErrBusy) {
				mu.Lock()
				busy++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// One runs, at most two wait; the rest are turned away at once.
	if busy < 5 {
		t.Errorf("%d of 8 concurrent verifications were refused, want at least 5", busy)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := h.acquire(ctx, ""); err != nil { // occupy the only slot
		t.Fatal(err)
	}
	if _, err := h.Verify(cctx, enc, "pw"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
	h.release()
	if h.InFlight() != 0 || h.QueueLength() != 0 {
		t.Errorf("after the cancelled wait: %d in flight, %d waiting", h.InFlight(), h.QueueLength())
	}
}
