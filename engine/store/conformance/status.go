package conformance

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// testUserStatus: Status and Disabled are kept as written, and ListUsers filters by
// the state they make together (store.User.State), including the combinations only
// a release from before Status writes.
func testUserStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	type row struct {
		login    string
		status   store.UserStatus
		disabled bool
		want     store.UserStatus
	}
	rows := []row{
		// Written by this release (SetStatus keeps them consistent).
		{"active", store.UserActive, false, store.UserActive},
		{"deprovisioned", store.UserDeprovisioned, true, store.UserDeprovisioned},
		{"expired", store.UserPasswordExpired, false, store.UserPasswordExpired},
		{"staged", store.UserStaged, true, store.UserStaged},
		{"suspended", store.UserSuspended, true, store.UserSuspended},
		// Written only by an older release.
		{"z-legacy-active", "", false, store.UserActive},
		{"z-legacy-disabled", "", true, store.UserDeprovisioned},
		// Changed by an older release afterwards: disabled wins.
		{"z-old-disabled-active", store.UserActive, true, store.UserDeprovisioned},
		{"z-old-disabled-expired", store.UserPasswordExpired, true, store.UserDeprovisioned},
		{"z-old-enabled-staged", store.UserStaged, false, store.UserActive},
		{"z-old-enabled-suspended", store.UserSuspended, false, store.UserActive},
		{"z-old-enabled-deprovisioned", store.UserDeprovisioned, false, store.UserActive},
	}
	want := map[store.UserStatus][]string{}
	for i, r := range rows {
		u := newUser(fmt.Sprintf("00u%02d", i), r.login)
		u.Status, u.Disabled = r.status, r.disabled
		mustOK(t, "CreateUser", s.CreateUser(ctx, u))
		got, err := s.GetUser(ctx, u.ID)
		mustOK(t, "GetUser", err)
		checkEqual(t, "user "+r.login, got, u)
		if st := got.State(); st != r.want {
			t.Errorf("%s: State() = %s, want %s", r.login, st, r.want)
		}
		want[r.want] = append(want[r.want], r.login)
	}
	for _, st := range store.UserStatuses {
		slices.Sort(want[st])
		users, err := s.ListUsers(ctx, store.ListUsersOptions{Status: st})
		mustOK(t, "ListUsers by status", err)
		if got := userLogins(users); !slices.Equal(got, want[st]) {
			t.Errorf("ListUsers(Status %s): got %q, want %q", st, got, want[st])
		}
	}
	// With paging and the other filters.
	users, err := s.ListUsers(ctx, store.ListUsersOptions{Status: store.UserActive, AfterLogin: "active", Limit: 2, Prefix: "z-"})
	mustOK(t, "ListUsers", err)
	if got := userLogins(users); !slices.Equal(got, []string{"z-legacy-active", "z-old-enabled-deprovisioned"}) {
		t.Errorf("ListUsers(active, after active, limit 2, prefix z-): got %q", got)
	}
	if _, err := s.ListUsers(ctx, store.ListUsersOptions{Status: "LOCKED_OUT"}); err == nil {
		t.Error("ListUsers with an unknown status: no error")
	}

	// SetStatus keeps Disabled and the times in step, through UpdateUser.
	moved, err := s.UpdateUser(ctx, "00u04", func(u store.User) (store.User, error) {
		u.SetStatus(store.UserActive, at(time.Hour))
		return u, nil
	})
	mustOK(t, "UpdateUser", err)
	if moved.Disabled || moved.State() != store.UserActive || !moved.StatusChangedAt.Equal(at(time.Hour)) || !moved.ActivatedAt.Equal(at(time.Hour)) {
		t.Errorf("suspended user set active: %+v", moved)
	}
	stored, err := s.GetUser(ctx, "00u04")
	mustOK(t, "GetUser", err)
	checkEqual(t, "user after SetStatus", stored, moved)
}

func testUpdatePhoneEnrollment(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("00u1", "alice")))
	p := newPhone("sms-a", "00u1", "+15555550101", base)
	mustOK(t, "CreatePhoneEnrollment", s.CreatePhoneEnrollment(ctx, p))

	changed := p
	changed.SMS = false
	got, err := s.UpdatePhoneEnrollment(ctx, "sms-a", func(e store.PhoneEnrollment) (store.PhoneEnrollment, error) {
		checkEqual(t, "phone seen by UpdatePhoneEnrollment", e, p)
		e.SMS = false
		return e, nil
	})
	mustOK(t, "UpdatePhoneEnrollment", err)
	checkEqual(t, "UpdatePhoneEnrollment result", got, changed)
	stored, err := s.GetPhoneEnrollment(ctx, "sms-a")
	mustOK(t, "GetPhoneEnrollment", err)
	checkEqual(t, "phone after update", stored, changed)

	_, err = s.UpdatePhoneEnrollment(ctx, "sms-a", func(e store.PhoneEnrollment) (store.PhoneEnrollment, error) {
		e.Voice = false
		return e, errFn
	})
	checkFnErr(t, "UpdatePhoneEnrollment with failing fn", err)
	for field, change := range map[string]func(*store.PhoneEnrollment){
		"ID":     func(e *store.PhoneEnrollment) { e.ID = "sms-b" },
		"UserID": func(e *store.PhoneEnrollment) { e.UserID = "00u2" },
		"Number": func(e *store.PhoneEnrollment) { e.Number = "+15555550199" },
	} {
		_, err = s.UpdatePhoneEnrollment(ctx, "sms-a", func(e store.PhoneEnrollment) (store.PhoneEnrollment, error) {
			change(&e)
			e.Voice = false
			return e, nil
		})
		if err == nil {
			t.Errorf("UpdatePhoneEnrollment changing %s: no error", field)
		}
	}
	stored, err = s.GetPhoneEnrollment(ctx, "sms-a")
	mustOK(t, "GetPhoneEnrollment", err)
	checkEqual(t, "phone after refused updates", stored, changed)

	called := false
	_, err = s.UpdatePhoneEnrollment(ctx, "sms-missing", func(e store.PhoneEnrollment) (store.PhoneEnrollment, error) {
		called = true
		return e, nil
	})
	checkErrIs(t, "UpdatePhoneEnrollment of a missing phone", err, store.ErrNotFound)
	if called {
		t.Error("UpdatePhoneEnrollment called fn for a missing phone")
	}
}

func testPendingPhones(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"00u1", "00u2"} {
		mustOK(t, "CreateUser", s.CreateUser(ctx, newUser(id, "login-"+id)))
	}
	pending := func(id, userID, number, method string, created time.Time) store.PendingPhone {
		return store.PendingPhone{ID: id, UserID: userID, Number: number, Method: method, ChallengeID: "ch-" + id,
			CreatedAt: created, UpdatedAt: created.Add(time.Minute)}
	}
	voice := pending("clf-b", "00u1", "+15555550102", "voice", base)
	sms := pending("sms-a", "00u1", "+15555550101", "sms", base) // same time: the id breaks the tie
	for _, p := range []store.PendingPhone{voice, sms} {
		mustOK(t, "CreatePendingPhone", s.CreatePendingPhone(ctx, p))
	}
	got, err := s.GetPendingPhone(ctx, "sms-a")
	mustOK(t, "GetPendingPhone", err)
	checkEqual(t, "pending phone", got, sms)
	list, err := s.ListPendingPhones(ctx, "00u1")
	mustOK(t, "ListPendingPhones", err)
	checkEqual(t, "pending phones", list, []store.PendingPhone{voice, sms})

	checkErrIs(t, "CreatePendingPhone with a taken id",
		s.CreatePendingPhone(ctx, pending("sms-a", "00u2", "+15555550101", "sms", base)), store.ErrAlreadyExists)
	checkErrIs(t, "CreatePendingPhone of a method the user has pending",
		s.CreatePendingPhone(ctx, pending("sms-c", "00u1", "+15555550109", "sms", base)), store.ErrAlreadyExists)
	checkErrIs(t, "CreatePendingPhone for a missing user",
		s.CreatePendingPhone(ctx, pending("sms-d", "00u-missing", "+15555550101", "sms", base)), store.ErrNotFound)
	// Another user may have the same number and method pending.
	other := pending("sms-e", "00u2", "+15555550101", "sms", at(time.Hour))
	mustOK(t, "CreatePendingPhone for another user", s.CreatePendingPhone(ctx, other))
	list, err = s.ListPendingPhones(ctx, "00u-missing")
	mustOK(t, "ListPendingPhones of a missing user", err)
	if len(list) != 0 {
		t.Errorf("ListPendingPhones of a missing user: %+v", list)
	}

	// A new number and code for the pending phone.
	changed := sms
	changed.Number, changed.ChallengeID, changed.UpdatedAt = "+15555550103", "ch-new", at(time.Hour)
	updated, err := s.UpdatePendingPhone(ctx, "sms-a", func(p store.PendingPhone) (store.PendingPhone, error) {
		checkEqual(t, "pending phone seen by UpdatePendingPhone", p, sms)
		p.Number, p.ChallengeID, p.UpdatedAt = changed.Number, changed.ChallengeID, changed.UpdatedAt
		return p, nil
	})
	mustOK(t, "UpdatePendingPhone", err)
	checkEqual(t, "UpdatePendingPhone result", updated, changed)
	_, err = s.UpdatePendingPhone(ctx, "sms-a", func(p store.PendingPhone) (store.PendingPhone, error) {
		p.Number = "+15555550999"
		return p, errFn
	})
	checkFnErr(t, "UpdatePendingPhone with failing fn", err)
	for field, change := range map[string]func(*store.PendingPhone){
		"ID":     func(p *store.PendingPhone) { p.ID = "sms-z" },
		"UserID": func(p *store.PendingPhone) { p.UserID = "00u2" },
		"Method": func(p *store.PendingPhone) { p.Method = "voice" },
	} {
		_, err = s.UpdatePendingPhone(ctx, "sms-a", func(p store.PendingPhone) (store.PendingPhone, error) {
			change(&p)
			p.Number = "+15555550999"
			return p, nil
		})
		if err == nil {
			t.Errorf("UpdatePendingPhone changing %s: no error", field)
		}
	}
	got, err = s.GetPendingPhone(ctx, "sms-a")
	mustOK(t, "GetPendingPhone", err)
	checkEqual(t, "pending phone after refused updates", got, changed)
	_, err = s.UpdatePendingPhone(ctx, "sms-missing", func(p store.PendingPhone) (store.PendingPhone, error) { return p, nil })
	checkErrIs(t, "UpdatePendingPhone of a missing one", err, store.ErrNotFound)

	mustOK(t, "DeletePendingPhone", s.DeletePendingPhone(ctx, "clf-b"))
	_, err = s.GetPendingPhone(ctx, "clf-b")
	checkErrIs(t, "GetPendingPhone after delete", err, store.ErrNotFound)
	checkErrIs(t, "DeletePendingPhone again", s.DeletePendingPhone(ctx, "clf-b"), store.ErrNotFound)

	// Deleting the user deletes their pending phones, and only theirs.
	mustOK(t, "DeleteUser", s.DeleteUser(ctx, "00u1"))
	_, err = s.GetPendingPhone(ctx, "sms-a")
	checkErrIs(t, "GetPendingPhone after DeleteUser", err, store.ErrNotFound)
	got, err = s.GetPendingPhone(ctx, "sms-e")
	mustOK(t, "the other user's pending phone", err)
	checkEqual(t, "the other user's pending phone", got, other)
}
