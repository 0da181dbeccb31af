package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// These tests start `concurrency` goroutines at once against one store; run them with
// -race. Each asserts exact outcomes, so a backend whose Update* does not lock, or whose
// claim is not atomic, fails them (given enough overlap, which the start barrier gives).

var errAlreadyUsed = errors.New("conformance: already used")

// raceWindow is how long the concurrency tests' Update* functions linger between the
// store's read and its write. Without it the first goroutine can finish before the
// others have even connected, and a store that does not lock would still pass.
const raceWindow = 2 * time.Millisecond

// checkExactlyOneWinner checks the results of n concurrent single-use consumptions:
// one nil, the others errAlreadyUsed, and returns the winner's index.
func checkExactlyOneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner, winners := -1, 0
	for i, err := range errs {
		switch {
		case err == nil:
			winner = i
			winners++
		case err != errAlreadyUsed:
			t.Errorf("%s: consumer %d got %v, want nil or the function's %v", what, i, err, errAlreadyUsed)
		}
	}
	if winners != 1 {
		t.Fatalf("%s: %d of %d concurrent consumers won, want exactly 1", what, winners, len(errs))
	}
	return winner
}

func testConcurrentCreateUser(t *testing.T, s store.Store) {
	errs := make([]error, concurrency)
	runConcurrently(concurrency, func(i int) {
		errs[i] = s.CreateUser(t.Context(), newUser(fmt.Sprintf("00u%02d", i), "same-login"))
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("CreateUser with one login succeeded for both %d and %d", winner, i)
			}
			winner = i
		case !errors.Is(err, store.ErrAlreadyExists):
			t.Errorf("CreateUser %d: got %v, want nil or ErrAlreadyExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no concurrent CreateUser succeeded")
	}
	u, err := s.GetUserByLogin(t.Context(), "same-login")
	mustOK(t, "GetUserByLogin", err)
	if want := fmt.Sprintf("00u%02d", winner); u.ID != want {
		t.Errorf("stored user: %s, want the winner %s", u.ID, want)
	}
}

func testConcurrentInteractionCodeRedeem(t *testing.T, s store.Store) {
	mustOK(t, "CreateInteractionCode", s.CreateInteractionCode(t.Context(), newInteractionCode("ic1")))
	errs := make([]error, concurrency)
	runConcurrently(concurrency, func(i int) {
		_, errs[i] = s.UpdateInteractionCode(t.Context(), "ic1", func(c store.InteractionCode) (store.InteractionCode, error) {
			time.Sleep(raceWindow)
			if !c.UsedAt.IsZero() {
				return c, errAlreadyUsed
			}
			c.UsedAt = at(time.Duration(i+1) * time.Millisecond) // tells the winner
			return c, nil
		})
	})
	winner := checkExactlyOneWinner(t, "redeeming an interaction code", errs)
	c, err := s.GetInteractionCode(t.Context(), "ic1")
	mustOK(t, "GetInteractionCode", err)
	if want := at(time.Duration(winner+1) * time.Millisecond); !c.UsedAt.Equal(want) {
		t.Errorf("UsedAt = %v, want the winner's %v", c.UsedAt, want)
	}
}

func testConcurrentRefreshTokenRotate(t *testing.T, s store.Store) {
	mustOK(t, "CreateRefreshToken", s.CreateRefreshToken(t.Context(), newRefreshToken("rt1", "fam")))
	errs := make([]error, concurrency)
	runConcurrently(concurrency, func(i int) {
		_, errs[i] = s.UpdateRefreshToken(t.Context(), "rt1", func(rt store.RefreshToken) (store.RefreshToken, error) {
			time.Sleep(raceWindow)
			if !rt.UsedAt.IsZero() {
				return rt, errAlreadyUsed
			}
			rt.UsedAt = at(time.Duration(i+1) * time.Millisecond)
			return rt, nil
		})
	})
	winner := checkExactlyOneWinner(t, "rotating a refresh token", errs)
	rt, err := s.GetRefreshToken(t.Context(), "rt1")
	mustOK(t, "GetRefreshToken", err)
	if want := at(time.Duration(winner+1) * time.Millisecond); !rt.UsedAt.Equal(want) {
		t.Errorf("UsedAt = %v, want the winner's %v", rt.UsedAt, want)
	}
}

func testConcurrentChallengeConsume(t *testing.T, s store.Store) {
	mustOK(t, "CreateChallenge", s.CreateChallenge(t.Context(), newChallenge("ch1", "tx1"), nil))
	errs := make([]error, concurrency)
	runConcurrently(concurrency, func(i int) {
		_, errs[i] = s.UpdateChallenge(t.Context(), "ch1", func(c store.Challenge) (store.Challenge, error) {
			time.Sleep(raceWindow)
			if !c.ConsumedAt.IsZero() || c.Invalidated {
				return c, errAlreadyUsed
			}
			c.ConsumedAt = at(time.Duration(i+1) * time.Millisecond)
			return c, nil
		})
	})
	winner := checkExactlyOneWinner(t, "consuming a challenge", errs)
	c, err := s.GetChallenge(t.Context(), "ch1")
	mustOK(t, "GetChallenge", err)
	if want := at(time.Duration(winner+1) * time.Millisecond); !c.ConsumedAt.Equal(want) {
		t.Errorf("ConsumedAt = %v, want the winner's %v", c.ConsumedAt, want)
	}
}

func testConcurrentThrottleIncrement(t *testing.T, s store.Store) {
	counts := make([]int, concurrency)
	errs := make([]error, concurrency)
	runConcurrently(concurrency, func(i int) {
		var th store.Throttle
		th, errs[i] = s.UpdateThrottle(t.Context(), "ip:192.0.2.1", func(th store.Throttle) (store.Throttle, error) {
			time.Sleep(raceWindow)
			if th.Count == 0 {
				th.WindowStart = base
			}
			th.Count++
			th.ExpiresAt = at(time.Hour)
			return th, nil
		})
		counts[i] = th.Count
	})
	for i, err := range errs {
		mustOK(t, fmt.Sprintf("UpdateThrottle %d", i), err)
	}
	// Serialised increments return 1, 2, …, n, each once.
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("counts returned by concurrent increments: %v, want 1…%d each once", counts, concurrency)
		}
	}
	th, err := s.GetThrottle(t.Context(), "ip:192.0.2.1")
	mustOK(t, "GetThrottle", err)
	if th.Count != concurrency || !th.WindowStart.Equal(base) {
		t.Errorf("throttle after %d increments: Count %d, WindowStart %v; want %d, %v", concurrency, th.Count, th.WindowStart, concurrency, base)
	}
}

func testConcurrentClaimMessages(t *testing.T, s store.Store) {
	const dueCount = 100
	var msgs []store.Message
	for i := range dueCount {
		m := newMessage(fmt.Sprintf("m%03d", i), fmt.Sprintf("ch%03d", i), "+15555550100")
		m.CreatedAt = at(time.Duration(-i) * time.Millisecond)
		msgs = append(msgs, m)
	}
	future := newMessage("m-future", "ch-future", "+15555550100")
	future.NextAttemptAt = at(time.Minute)
	queue(t, s, append(msgs, future)...)

	var mu sync.Mutex
	claimedBy := map[string]int{}
	var failures []string
	runConcurrently(concurrency, func(i int) {
		for {
			got, err := s.ClaimMessages(t.Context(), base, time.Minute, 3)
			mu.Lock()
			if err != nil {
				failures = append(failures, fmt.Sprintf("claimer %d: %v", i, err))
			}
			for _, m := range got {
				if prev, ok := claimedBy[m.ID]; ok {
					failures = append(failures, fmt.Sprintf("%s claimed by both %d and %d", m.ID, prev, i))
				}
				claimedBy[m.ID] = i
				if m.Status != store.MessageSending || m.Attempts != 1 || !m.LeaseUntil.Equal(at(time.Minute)) {
					failures = append(failures, fmt.Sprintf("claimed %s: status %s, attempts %d, lease %v", m.ID, m.Status, m.Attempts, m.LeaseUntil))
				}
			}
			mu.Unlock()
			if err != nil || len(got) == 0 {
				return
			}
		}
	})
	for _, f := range failures {
		t.Error(f)
	}
	if len(claimedBy) != dueCount {
		t.Errorf("concurrent claimers took %d messages, want all %d due ones", len(claimedBy), dueCount)
	}
	for _, m := range msgs {
		if _, ok := claimedBy[m.ID]; !ok {
			t.Errorf("due message %s was not claimed", m.ID)
		}
	}
	if _, ok := claimedBy["m-future"]; ok {
		t.Error("a message not yet due was claimed")
	}
}

func testConcurrentGetOrCreateSecret(t *testing.T, s store.Store) {
	values := make([][]byte, concurrency)
	errs := make([]error, concurrency)
	runConcurrently(concurrency, func(i int) {
		values[i], errs[i] = s.GetOrCreateSecret(t.Context(), "jwt-hmac", fmt.Appendf(nil, "candidate-%02d", i))
	})
	for i, err := range errs {
		mustOK(t, fmt.Sprintf("GetOrCreateSecret %d", i), err)
	}
	agreed := values[0]
	if !bytes.HasPrefix(agreed, []byte("candidate-")) {
		t.Fatalf("GetOrCreateSecret returned %q, not one of the candidates", agreed)
	}
	for i, v := range values {
		if !bytes.Equal(v, agreed) {
			t.Errorf("GetOrCreateSecret %d returned %q, another returned %q", i, v, agreed)
		}
	}
	again, err := s.GetOrCreateSecret(t.Context(), "jwt-hmac", []byte("late"))
	mustOK(t, "GetOrCreateSecret", err)
	if !bytes.Equal(again, agreed) {
		t.Errorf("GetOrCreateSecret afterwards: %q, want %q", again, agreed)
	}
}

func testConcurrentUpdateTransaction(t *testing.T, s store.Store) {
	mustOK(t, "CreateTransaction", s.CreateTransaction(t.Context(), newTransaction("tx1")))
	revisions := make([]int64, concurrency)
	errs := make([]error, concurrency)
	runConcurrently(concurrency, func(i int) {
		var tx store.Transaction
		tx, errs[i] = s.UpdateTransaction(t.Context(), "tx1", func(tx store.Transaction) (store.Transaction, error) {
			time.Sleep(raceWindow)
			tx.AMR = append(tx.AMR, fmt.Sprintf("m%02d", i)) // lost if another update overwrites this one
			return tx, nil
		})
		revisions[i] = tx.Revision
	})
	for i, err := range errs {
		mustOK(t, fmt.Sprintf("UpdateTransaction %d", i), err)
	}
	slices.Sort(revisions)
	for i, r := range revisions {
		if r != int64(i+1) {
			t.Fatalf("revisions returned by concurrent updates: %v, want 1…%d each once", revisions, concurrency)
		}
	}
	tx, err := s.GetTransaction(t.Context(), "tx1")
	mustOK(t, "GetTransaction", err)
	if tx.Revision != concurrency {
		t.Errorf("Revision after %d updates: %d", concurrency, tx.Revision)
	}
	// The fixture starts with pwd, sms; then every append, once.
	if len(tx.AMR) != 2+concurrency {
		t.Fatalf("AMR after %d concurrent appends: %q", concurrency, tx.AMR)
	}
	added := slices.Sorted(slices.Values(tx.AMR[2:]))
	for i, m := range added {
		if m != fmt.Sprintf("m%02d", i) {
			t.Fatalf("AMR after %d concurrent appends: %q, want every append once", concurrency, tx.AMR)
		}
	}
}
