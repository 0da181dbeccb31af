package conformance

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

func newEnrollment(id, userID, authenticator string, createdAt time.Time) store.Enrollment {
	return store.Enrollment{ID: id, UserID: userID, Authenticator: authenticator,
		Secret: []byte("GHS\x01sealed-" + id + "\x00\xff"), LastUsed: 65_000_000 + int64(len(id)), CreatedAt: createdAt}
}

func testEnrollments(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("00u1", "alice")))
	mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("00u2", "bob")))

	// Created out of order: the list is by CreatedAt, then ID.
	newest := newEnrollment("enr-c", "00u1", "google_otp", at(time.Hour))
	oldest := newEnrollment("enr-z", "00u1", "custom_otp", at(-time.Hour))
	tieB := newEnrollment("enr-b", "00u1", "okta_verify", base)
	tieA := newEnrollment("enr-a", "00u1", "webauthn", base)
	// The zero values come back as zero values.
	tieA.Secret, tieA.LastUsed = nil, 0
	for _, e := range []store.Enrollment{newest, oldest, tieB, tieA} {
		mustOK(t, "CreateEnrollment", s.CreateEnrollment(ctx, e))
	}
	bobs := newEnrollment("enr-bob", "00u2", "google_otp", base)
	mustOK(t, "CreateEnrollment of another user", s.CreateEnrollment(ctx, bobs))

	for _, want := range []store.Enrollment{newest, tieA} {
		got, err := s.GetEnrollment(ctx, want.ID)
		mustOK(t, "GetEnrollment", err)
		checkEqual(t, "enrollment "+want.ID, got, want)
	}
	list, err := s.ListEnrollments(ctx, "00u1")
	mustOK(t, "ListEnrollments", err)
	checkEqual(t, "ListEnrollments", list, []store.Enrollment{oldest, tieA, tieB, newest})
	list, err = s.ListEnrollments(ctx, "00u2")
	mustOK(t, "ListEnrollments of the other user", err)
	checkEqual(t, "ListEnrollments of the other user", list, []store.Enrollment{bobs})
	list, err = s.ListEnrollments(ctx, "00u-missing")
	mustOK(t, "ListEnrollments of a missing user", err)
	if len(list) != 0 {
		t.Errorf("ListEnrollments of a missing user: %+v", list)
	}

	// One enrollment per user and authenticator; ids are unique; the user must exist.
	checkErrIs(t, "CreateEnrollment of a second google_otp", s.CreateEnrollment(ctx, newEnrollment("enr-d", "00u1", "google_otp", base)), store.ErrAlreadyExists)
	checkErrIs(t, "CreateEnrollment with a taken id", s.CreateEnrollment(ctx, newEnrollment("enr-c", "00u2", "custom_otp", base)), store.ErrAlreadyExists)
	checkErrIs(t, "CreateEnrollment for a missing user", s.CreateEnrollment(ctx, newEnrollment("enr-e", "00u-missing", "google_otp", base)), store.ErrNotFound)
	for _, id := range []string{"enr-d", "enr-e"} {
		_, err = s.GetEnrollment(ctx, id)
		checkErrIs(t, "GetEnrollment of a refused enrollment", err, store.ErrNotFound)
	}
	got, err := s.GetEnrollment(ctx, "enr-c")
	mustOK(t, "GetEnrollment", err)
	checkEqual(t, "enrollment after refused duplicates", got, newest)
	_, err = s.GetEnrollment(ctx, "enr-missing")
	checkErrIs(t, "GetEnrollment of a missing id", err, store.ErrNotFound)

	// Deleting frees the authenticator for a new enrollment.
	mustOK(t, "DeleteEnrollment", s.DeleteEnrollment(ctx, "enr-c"))
	_, err = s.GetEnrollment(ctx, "enr-c")
	checkErrIs(t, "GetEnrollment after delete", err, store.ErrNotFound)
	checkErrIs(t, "DeleteEnrollment again", s.DeleteEnrollment(ctx, "enr-c"), store.ErrNotFound)
	again := newEnrollment("enr-f", "00u1", "google_otp", at(2*time.Hour))
	mustOK(t, "CreateEnrollment after delete", s.CreateEnrollment(ctx, again))
	list, err = s.ListEnrollments(ctx, "00u1")
	mustOK(t, "ListEnrollments", err)
	checkEqual(t, "ListEnrollments after delete and re-enrollment", list, []store.Enrollment{oldest, tieA, tieB, again})
	list, err = s.ListEnrollments(ctx, "00u2")
	mustOK(t, "ListEnrollments of the other user", err)
	checkEqual(t, "the other user's enrollments after delete", list, []store.Enrollment{bobs})
}

func testUpdateEnrollment(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("00u1", "alice")))
	created := store.Enrollment{ID: "enr1", UserID: "00u1", Authenticator: "google_otp", Secret: []byte("first"), CreatedAt: base}
	mustOK(t, "CreateEnrollment", s.CreateEnrollment(ctx, created))

	// fn sees the stored record; what it returns is stored and returned.
	changed := created
	changed.Secret, changed.LastUsed, changed.CreatedAt = []byte("second"), 65_432_100, at(time.Second)
	got, err := s.UpdateEnrollment(ctx, "enr1", func(e store.Enrollment) (store.Enrollment, error) {
		checkEqual(t, "enrollment seen by UpdateEnrollment", e, created)
		return changed, nil
	})
	mustOK(t, "UpdateEnrollment", err)
	checkEqual(t, "UpdateEnrollment result", got, changed)
	stored, err := s.GetEnrollment(ctx, "enr1")
	mustOK(t, "GetEnrollment", err)
	checkEqual(t, "enrollment after UpdateEnrollment", stored, changed)

	// fn's error comes back unchanged and nothing is written.
	_, err = s.UpdateEnrollment(ctx, "enr1", func(e store.Enrollment) (store.Enrollment, error) {
		e.LastUsed = 99_999_999
		return e, errFn
	})
	checkFnErr(t, "UpdateEnrollment with failing fn", err)

	// ID, UserID and Authenticator may not change.
	mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("00u2", "bob")))
	for field, change := range map[string]func(*store.Enrollment){
		"ID":            func(e *store.Enrollment) { e.ID = "enr2" },
		"UserID":        func(e *store.Enrollment) { e.UserID = "00u2" },
		"Authenticator": func(e *store.Enrollment) { e.Authenticator = "custom_otp" },
	} {
		_, err = s.UpdateEnrollment(ctx, "enr1", func(e store.Enrollment) (store.Enrollment, error) {
			change(&e)
			e.LastUsed = 99_999_999
			return e, nil
		})
		checkRefused(t, "UpdateEnrollment changing "+field, err)
	}
	_, err = s.GetEnrollment(ctx, "enr2")
	checkErrIs(t, "GetEnrollment of the new ID", err, store.ErrNotFound)
	list, err := s.ListEnrollments(ctx, "00u2")
	mustOK(t, "ListEnrollments", err)
	if len(list) != 0 {
		t.Errorf("the other user has enrollments after refused updates: %+v", list)
	}
	stored, err = s.GetEnrollment(ctx, "enr1")
	mustOK(t, "GetEnrollment", err)
	checkEqual(t, "enrollment after refused updates", stored, changed)

	_, err = s.UpdateEnrollment(ctx, "enr-missing", notCalled[store.Enrollment](t))
	checkErrIs(t, "UpdateEnrollment of a missing enrollment", err, store.ErrNotFound)
}

// testConcurrentEnrollmentStep: of concurrent verifications of one time step, each
// accepting it only above LastUsed, exactly one wins; then a later step still
// passes and an earlier one does not.
func testConcurrentEnrollmentStep(t *testing.T, s store.Store) {
	checkConcurrentEnrollmentStep(t, s, s)
}

// checkConcurrentEnrollmentStep runs half the verifications on a and half on b (two
// nodes on one database, or one store twice).
func checkConcurrentEnrollmentStep(t *testing.T, a, b store.Store) {
	ctx := t.Context()
	mustOK(t, "CreateUser", a.CreateUser(ctx, newUser("00u1", "alice")))
	mustOK(t, "CreateEnrollment", a.CreateEnrollment(ctx, store.Enrollment{ID: "enr1", UserID: "00u1", Authenticator: "google_otp",
		Secret: []byte("sealed"), LastUsed: 1000, CreatedAt: base}))
	accept := func(s store.Store, step int64) error {
		_, err := s.UpdateEnrollment(ctx, "enr1", func(e store.Enrollment) (store.Enrollment, error) {
			time.Sleep(raceWindow)
			if step <= e.LastUsed {
				return e, errAlreadyUsed
			}
			e.LastUsed = step
			return e, nil
		})
		return err
	}
	errs := make([]error, concurrency)
	runConcurrently(concurrency, func(i int) {
		s := a
		if i%2 == 1 {
			s = b
		}
		errs[i] = accept(s, 1001)
	})
	checkExactlyOneWinner(t, "concurrent verifications of one step", errs)
	e, err := b.GetEnrollment(ctx, "enr1")
	mustOK(t, "GetEnrollment", err)
	if e.LastUsed != 1001 {
		t.Errorf("LastUsed after the race = %d, want 1001", e.LastUsed)
	}
	if err := accept(a, 1000); err != errAlreadyUsed {
		t.Errorf("an earlier step after the race: %v, want refused", err)
	}
	if err := accept(b, 1002); err != nil {
		t.Errorf("the next step after the race: %v", err)
	}
	e, err = a.GetEnrollment(ctx, "enr1")
	mustOK(t, "GetEnrollment", err)
	if e.LastUsed != 1002 {
		t.Errorf("LastUsed = %d, want 1002", e.LastUsed)
	}
}
