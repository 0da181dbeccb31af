package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

var errSection = errors.New("conformance: section refused")

// testAtomicCommitsTogether: the calls of an Atomically section are one change —
// kept together when fn returns nil, reads inside see the section's own writes,
// and AfterCommit runs after the commit only.
func testAtomicCommitsTogether(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser("00u-atomic", "atomic")
	var hooks atomic.Int32
	err := s.Atomically(ctx, func(ctx context.Context) error {
		if err := s.CreateUser(ctx, u); err != nil {
			return err
		}
		// Inside, the section reads what it wrote.
		got, err := s.GetUserByLogin(ctx, u.Login)
		if err != nil {
			return fmt.Errorf("GetUserByLogin inside the section: %w", err)
		}
		if got.ID != u.ID {
			return fmt.Errorf("GetUserByLogin inside the section: %q, want %q", got.ID, u.ID)
		}
		if err := s.CreatePhoneEnrollment(ctx, newPhone("sms-atomic", u.ID, "+14155550100", at(0))); err != nil {
			return err
		}
		if _, err := s.UpdateThrottle(ctx, "atomic:t", func(th store.Throttle) (store.Throttle, error) {
			th.Count = 3
			th.ExpiresAt = at(time.Hour)
			return th, nil
		}); err != nil {
			return err
		}
		store.AfterCommit(ctx, func() { hooks.Add(1) })
		if hooks.Load() != 0 {
			return errors.New("AfterCommit ran before the section ended")
		}
		return nil
	})
	mustOK(t, "Atomically", err)
	if hooks.Load() != 1 {
		t.Errorf("AfterCommit ran %d times after the commit, want 1", hooks.Load())
	}
	if _, err := s.GetUser(ctx, u.ID); err != nil {
		t.Errorf("the section's user after commit: %v", err)
	}
	phones, err := s.ListPhoneEnrollments(ctx, u.ID)
	if err != nil || len(phones) != 1 {
		t.Errorf("the section's phone after commit: %v, %v", phones, err)
	}
	th, err := s.GetThrottle(ctx, "atomic:t")
	if err != nil || th.Count != 3 {
		t.Errorf("the section's throttle after commit: %+v, %v", th, err)
	}
	// Outside a section AfterCommit runs at once.
	store.AfterCommit(ctx, func() { hooks.Add(1) })
	if hooks.Load() != 2 {
		t.Errorf("AfterCommit outside a section did not run at once")
	}
}

// testAtomicRollsBack: when fn fails, nothing the section wrote is kept — records
// and AfterCommit included — and Atomically returns fn's error unchanged.
func testAtomicRollsBack(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser("00u-rollback", "rollback")
	mustOK(t, "CreateUser", s.CreateUser(ctx, u))
	var hooks atomic.Int32
	err := s.Atomically(ctx, func(ctx context.Context) error {
		withEvent := store.WithRecords(ctx, store.Records{Events: []store.LogEvent{newEvent("ev-rolled-back", "x.y", 0)},
			OnCommit: func() { hooks.Add(1) }})
		if _, err := s.UpdateUser(withEvent, u.ID, func(u store.User) (store.User, error) {
			u.GivenName = "Changed"
			return u, nil
		}); err != nil {
			return err
		}
		if err := s.CreateTransaction(ctx, newTransaction("tx-rolled-back")); err != nil {
			return err
		}
		if _, err := s.ReserveThrottles(ctx, at(0), []store.ThrottleReservation{{Key: "rb:k", Max: 5, Window: time.Hour}}); err != nil {
			return err
		}
		store.AfterCommit(ctx, func() { hooks.Add(1) })
		return fmt.Errorf("wrapped: %w", errSection)
	})
	if !errors.Is(err, errSection) {
		t.Fatalf("Atomically whose fn failed: %v, want its error", err)
	}
	if hooks.Load() != 0 {
		t.Errorf("AfterCommit or OnCommit ran %d times after a rollback", hooks.Load())
	}
	got, err := s.GetUser(ctx, u.ID)
	mustOK(t, "GetUser", err)
	if got.GivenName != u.GivenName {
		t.Errorf("the user after a rolled-back section: GivenName %q, want %q", got.GivenName, u.GivenName)
	}
	checkErrIs(t, "the rolled-back transaction", errOf(s.GetTransaction(ctx, "tx-rolled-back")), store.ErrNotFound)
	checkErrIs(t, "the rolled-back throttle", errOf(s.GetThrottle(ctx, "rb:k")), store.ErrNotFound)
	checkUUIDs(t, "events after a rolled-back section", listEvents(t, s, store.EventQuery{}))
}

// testAtomicCallFailsAlone: a call that fails inside a section — a duplicate key,
// an Update* function that refused, a reservation that did not fit — undoes only
// itself; the section goes on and commits the rest.
func testAtomicCallFailsAlone(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser("00u-alone", "alone")
	mustOK(t, "CreateUser", s.CreateUser(ctx, u))
	full := []store.ThrottleReservation{{Key: "alone:a", Max: 5, Window: time.Hour}, {Key: "alone:b", Max: 0, Window: time.Hour}}
	err := s.Atomically(ctx, func(ctx context.Context) error {
		if err := s.CreateUser(ctx, u); !errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("CreateUser of a taken login inside a section: %v, want ErrAlreadyExists", err)
		}
		if _, err := s.UpdateUser(ctx, u.ID, func(store.User) (store.User, error) { return u, errFn }); !errors.Is(err, errFn) {
			return fmt.Errorf("UpdateUser refused inside a section: %v, want the function's error", err)
		}
		res, err := s.ReserveThrottles(ctx, at(0), full)
		if err != nil {
			return err
		}
		if res[0].Admitted && res[1].Admitted {
			return errors.New("a reservation over its Max was admitted")
		}
		// After the failures the section still works and commits.
		if _, err := s.UpdateUser(ctx, u.ID, func(u store.User) (store.User, error) {
			u.GivenName = "After"
			return u, nil
		}); err != nil {
			return err
		}
		return s.CreateTransaction(ctx, newTransaction("tx-after-failures"))
	})
	mustOK(t, "Atomically with failed calls", err)
	got, err := s.GetUser(ctx, u.ID)
	mustOK(t, "GetUser", err)
	if got.GivenName != "After" {
		t.Errorf("the change made after the failed calls was not kept: GivenName %q", got.GivenName)
	}
	mustOK(t, "the transaction created after the failed calls", errOf(s.GetTransaction(ctx, "tx-after-failures")))
	// The refused reservation kept nothing, not even on the key that fitted.
	checkErrIs(t, "the refused reservation's key", errOf(s.GetThrottle(ctx, "alone:a")), store.ErrNotFound)
}

// testAtomicNested: Atomically inside a section joins it.
func testAtomicNested(t *testing.T, s store.Store) {
	ctx := t.Context()
	err := s.Atomically(ctx, func(ctx context.Context) error {
		if err := s.CreateTransaction(ctx, newTransaction("tx-outer")); err != nil {
			return err
		}
		return s.Atomically(ctx, func(ctx context.Context) error {
			if err := s.CreateTransaction(ctx, newTransaction("tx-inner")); err != nil {
				return err
			}
			return errSection
		})
	})
	if !errors.Is(err, errSection) {
		t.Fatalf("nested Atomically: %v, want the inner error", err)
	}
	checkErrIs(t, "the outer write of a failed nested section", errOf(s.GetTransaction(ctx, "tx-outer")), store.ErrNotFound)
	checkErrIs(t, "the inner write of a failed nested section", errOf(s.GetTransaction(ctx, "tx-inner")), store.ErrNotFound)
}

// testConcurrentAtomic: sections that touch the same rows from many goroutines
// neither deadlock nor lose an update: each adds one to a throttle and creates a
// record of its own, and every one of them is kept.
func testConcurrentAtomic(t *testing.T, s store.Store) {
	errs := make([]error, concurrency)
	runConcurrently(concurrency, func(i int) {
		errs[i] = s.Atomically(t.Context(), func(ctx context.Context) error {
			if _, err := s.UpdateThrottle(ctx, "atomic:shared", func(th store.Throttle) (store.Throttle, error) {
				time.Sleep(raceWindow)
				th.Count++
				th.ExpiresAt = at(time.Hour)
				return th, nil
			}); err != nil {
				return err
			}
			return s.CreateTransaction(ctx, newTransaction(fmt.Sprintf("tx-concurrent-%d", i)))
		})
	})
	for i, err := range errs {
		mustOK(t, fmt.Sprintf("Atomically %d", i), err)
	}
	th, err := s.GetThrottle(t.Context(), "atomic:shared")
	mustOK(t, "GetThrottle", err)
	if th.Count != concurrency {
		t.Errorf("throttle after %d concurrent sections: %d", concurrency, th.Count)
	}
	for i := range concurrency {
		mustOK(t, fmt.Sprintf("transaction of section %d", i), errOf(s.GetTransaction(t.Context(), fmt.Sprintf("tx-concurrent-%d", i))))
	}
}

// errOf keeps the error of a two-valued call.
func errOf[T any](_ T, err error) error { return err }

// testAtomicFailedUpdate: an update that fails in the database inside a section
// (a login taken by another user) may not be undone on its own — the section then
// fails as a whole, even if fn went on, and keeps nothing.
func testAtomicFailedUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newUser("00u-fa", "fa"), newUser("00u-fb", "fb")
	mustOK(t, "CreateUser", s.CreateUser(ctx, a))
	mustOK(t, "CreateUser", s.CreateUser(ctx, b))
	var updateErr error
	err := s.Atomically(ctx, func(ctx context.Context) error {
		if err := s.CreateTransaction(ctx, newTransaction("tx-before-failed-update")); err != nil {
			return err
		}
		_, updateErr = s.UpdateUser(ctx, b.ID, func(u store.User) (store.User, error) {
			u.Login = a.Login
			return u, nil
		})
		return nil // fn carries on as if the failure did not matter
	})
	if !errors.Is(updateErr, store.ErrAlreadyExists) {
		t.Errorf("UpdateUser to a taken login inside a section: %v, want ErrAlreadyExists", updateErr)
	}
	if err == nil {
		// Allowed only where the failed statement undid itself and nothing else.
		got, gerr := s.GetUser(ctx, b.ID)
		if gerr != nil || got.Login != b.Login {
			t.Errorf("the section committed, and the user is %+v, %v", got, gerr)
		}
		return
	}
	checkErrIs(t, "the section's earlier write", errOf(s.GetTransaction(ctx, "tx-before-failed-update")), store.ErrNotFound)
}
