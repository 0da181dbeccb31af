package account_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/account"
	"github.com/gatehouse-id/gatehouse/engine/authn"
	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// checkState checks the stored user's state, and that Disabled says the same for
// older releases.
func checkState(t *testing.T, x fixture, what, userID string, want store.UserStatus) store.User {
	t.Helper()
	u, err := x.st.GetUser(t.Context(), userID)
	if err != nil {
		t.Fatal(err)
	}
	if u.State() != want || u.Status != want || u.Disabled != want.RefusesSignIn() {
		t.Errorf("%s: state %s (status %q, disabled %t), want %s", what, u.State(), u.Status, u.Disabled, want)
	}
	return u
}

func checkTransition(t *testing.T, what string, err error, op string, from store.UserStatus) {
	t.Helper()
	var te *account.TransitionError
	if !errors.As(err, &te) || te.Op != op || te.From != from {
		t.Errorf("%s: %v, want a TransitionError (%s from %s)", what, err, op, from)
	}
}

func TestLifecycle(t *testing.T) {
	backends(t, func(t *testing.T, x fixture) {
		ctx := t.Context()
		created := x.clock.Now()
		u := mustCreate(t, x, account.NewUser{Login: "staged@example.com", Password: "s3cret-password", Status: store.UserStaged})
		s := checkState(t, x, "created staged", u.ID, store.UserStaged)
		if !s.ActivatedAt.IsZero() || !s.StatusChangedAt.Equal(created) {
			t.Errorf("a staged user: activated %v, status changed %v", s.ActivatedAt, s.StatusChangedAt)
		}
		for name, op := range map[string]func() error{
			"suspend":   func() error { _, _, err := x.svc.Suspend(ctx, u.ID); return err },
			"unsuspend": func() error { _, err := x.svc.Unsuspend(ctx, u.ID); return err },
			"expire the password of": func() error {
				_, err := x.svc.ExpirePassword(ctx, u.ID)
				return err
			},
		} {
			checkTransition(t, name+" a staged user", op(), name, store.UserStaged)
		}
		checkState(t, x, "after refused operations", u.ID, store.UserStaged)

		x.clock.Advance(time.Minute)
		activated := x.clock.Now()
		if _, err := x.svc.Activate(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		s = checkState(t, x, "activated", u.ID, store.UserActive)
		if !s.ActivatedAt.Equal(activated) || !s.StatusChangedAt.Equal(activated) || !s.UpdatedAt.Equal(activated) {
			t.Errorf("activated: %+v", s)
		}
		_, err := x.svc.Activate(ctx, u.ID)
		checkTransition(t, "activate an active user", err, "activate", store.UserActive)

		// Suspending signs out; unsuspending does not sign back in.
		sid, rt := signedIn(t, x, u.ID)
		if _, _, err := x.svc.Suspend(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		checkState(t, x, "suspended", u.ID, store.UserSuspended)
		checkSignedOut(t, x, "suspended", sid, rt, true)
		_, err = x.svc.Activate(ctx, u.ID)
		checkTransition(t, "activate a suspended user", err, "activate", store.UserSuspended)
		if _, err := x.svc.Unsuspend(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		s = checkState(t, x, "unsuspended", u.ID, store.UserActive)
		if s.ActivatedAt.Equal(activated) {
			t.Error("unsuspending did not record the activation")
		}

		// An expired password stays until a new one is set; the user stays signed in
		// until then.
		sid, rt = signedIn(t, x, u.ID)
		if _, err := x.svc.ExpirePassword(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		checkState(t, x, "password expired", u.ID, store.UserPasswordExpired)
		checkSignedOut(t, x, "password expired", sid, rt, false)
		if _, err := x.svc.ExpirePassword(ctx, u.ID); err != nil {
			t.Errorf("expiring an expired password: %v", err)
		}
		_, _, err = x.svc.Suspend(ctx, u.ID)
		checkTransition(t, "suspend a user whose password expired", err, "suspend", store.UserPasswordExpired)
		if _, err := x.svc.SetPassword(ctx, u.ID, "a new password"); err != nil {
			t.Fatal(err)
		}
		checkState(t, x, "new password", u.ID, store.UserActive)
		checkSignedOut(t, x, "new password", sid, rt, true)

		// Deactivating signs out, once.
		sid, rt = signedIn(t, x, u.ID)
		if _, _, err := x.svc.Deactivate(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		checkState(t, x, "deactivated", u.ID, store.UserDeprovisioned)
		checkSignedOut(t, x, "deactivated", sid, rt, true)
		_, _, err = x.svc.Deactivate(ctx, u.ID)
		checkTransition(t, "deactivate twice", err, "deactivate", store.UserDeprovisioned)
		if _, err := x.svc.Activate(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		checkState(t, x, "reactivated", u.ID, store.UserActive)

		// The command line's disable and enable go through the same states.
		if _, err := x.svc.Disable(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		checkState(t, x, "disabled", u.ID, store.UserDeprovisioned)
		if _, err := x.svc.Disable(ctx, u.ID); err != nil {
			t.Errorf("disabling twice: %v", err)
		}
		if _, _, err := x.svc.Suspend(ctx, u.ID); err == nil {
			t.Fatal("suspended a deprovisioned user")
		}
		if err := x.svc.Enable(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		checkState(t, x, "enabled", u.ID, store.UserActive)
		if err := x.svc.Enable(ctx, u.ID); err != nil {
			t.Errorf("enabling an active user: %v", err)
		}

		// Without a password there is nothing to expire.
		nopw := mustCreate(t, x, account.NewUser{Login: "nopw@example.com"})
		if _, err := x.svc.ExpirePassword(ctx, nopw.ID); !errors.Is(err, account.ErrNoPassword) {
			t.Errorf("expire a missing password: %v", err)
		}
		if _, err := x.svc.Create(ctx, account.NewUser{Login: "x@example.com", Status: store.UserPasswordExpired}); !errors.Is(err, account.ErrNoPassword) {
			t.Errorf("create with an expired missing password: %v", err)
		}
		if _, err := x.svc.Create(ctx, account.NewUser{Login: "y@example.com", Status: store.UserSuspended}); err == nil {
			t.Error("created a suspended user")
		}
		exp := mustCreate(t, x, account.NewUser{Login: "exp@example.com", Password: "s3cret-password", Status: store.UserPasswordExpired})
		checkState(t, x, "created with an expired password", exp.ID, store.UserPasswordExpired)

		// Unknown users.
		for name, op := range map[string]func() error{
			"Activate":       func() error { _, err := x.svc.Activate(ctx, "00unknown"); return err },
			"Deactivate":     func() error { _, _, err := x.svc.Deactivate(ctx, "00unknown"); return err },
			"Suspend":        func() error { _, _, err := x.svc.Suspend(ctx, "00unknown"); return err },
			"Unsuspend":      func() error { _, err := x.svc.Unsuspend(ctx, "00unknown"); return err },
			"ExpirePassword": func() error { _, err := x.svc.ExpirePassword(ctx, "00unknown"); return err },
			"Unlock":         func() error { _, err := x.svc.Unlock(ctx, "00unknown"); return err },
		} {
			if err := op(); !errors.Is(err, account.ErrUserNotFound) {
				t.Errorf("%s of an unknown user: %v", name, err)
			}
		}
	})
}

func TestUnlock(t *testing.T) {
	backends(t, func(t *testing.T, x fixture) {
		ctx := t.Context()
		u := mustCreate(t, x, account.NewUser{Login: "locked@example.com", Password: "s3cret-password"})
		other := mustCreate(t, x, account.NewUser{Login: "other@example.com", Password: "s3cret-password"})
		now := x.clock.Now()
		lock := func(id string) {
			if _, err := x.st.UpdateThrottle(ctx, throttle.PhoneAttempts(id).String(), func(t store.Throttle) (store.Throttle, error) {
				t.Count, t.BlockedUntil, t.ExpiresAt = 5, now.Add(time.Hour), now.Add(2*time.Hour)
				return t, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		lock(u.ID)
		lock(other.ID)
		l := throttle.New(x.st, x.clock.Now)
		if _, err := l.Reserve(ctx, throttle.Request{Key: throttle.PasswordFromUnknownSources(u.Login), Limit: throttle.Limit{Max: 10, Window: time.Hour}}); err != nil {
			t.Fatal(err)
		}
		if until, err := x.svc.LockedUntil(ctx, u.ID); err != nil || !until.Equal(now.Add(time.Hour)) {
			t.Fatalf("LockedUntil: %v %v", until, err)
		}
		r, err := x.svc.Unlock(ctx, u.ID)
		if err != nil || r.PasswordCounters != 1 || r.PhoneLockouts != 1 {
			t.Fatalf("Unlock: %+v %v", r, err)
		}
		if until, err := x.svc.LockedUntil(ctx, u.ID); err != nil || !until.IsZero() {
			t.Errorf("LockedUntil after Unlock: %v %v", until, err)
		}
		if n, _, _ := l.Count(ctx, throttle.PasswordFromUnknownSources(u.Login), throttle.Limit{Max: 10, Window: time.Hour}); n != 0 {
			t.Errorf("password checks after Unlock: %d", n)
		}
		if until, _ := x.svc.LockedUntil(ctx, other.ID); until.IsZero() {
			t.Error("Unlock unlocked another user")
		}
		// A lockout that ended is no lockout.
		x.clock.Advance(2 * time.Hour)
		if until, _ := x.svc.LockedUntil(ctx, other.ID); !until.IsZero() {
			t.Errorf("a lockout that ended: %v", until)
		}
	})
}

// codes is a stand-in for the phone authenticator's send and check: it records
// what was sent and checks codes against the last one sent per factor.
type codes struct {
	sent  []string // factorID/number/method/verified
	last  map[string]string
	fail  error
	count int
}

func (c *codes) send(ctx context.Context, factorID, number, method string, verified bool) (string, error) {
	if c.fail != nil {
		return "", c.fail
	}
	c.count++
	ch := "ch" + strings.Repeat("x", c.count)
	if c.last == nil {
		c.last = map[string]string{}
	}
	c.last[factorID] = ch
	v := "unverified"
	if verified {
		v = "verified"
	}
	c.sent = append(c.sent, factorID+"/"+number+"/"+method+"/"+v)
	return ch, nil
}

func (c *codes) check(ctx context.Context, factorID, challengeID, code string) error {
	if c.last[factorID] != challengeID || code != "123456" {
		return authn.ErrWrongCode
	}
	return nil
}

func TestPhoneFactors(t *testing.T) {
	backends(t, func(t *testing.T, x fixture) {
		ctx := t.Context()
		u := mustCreate(t, x, account.NewUser{Login: "f@example.com", Password: "s3cret-password"})
		ids := func() []string {
			t.Helper()
			list, err := x.svc.PhoneFactors(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, f := range list {
				out = append(out, f.Method+":"+f.Phone.Number)
			}
			return out
		}

		// Enrolled at once (an operator's activate=true): one method at a time.
		p, err := x.svc.AddPhoneMethod(ctx, u.ID, "+1 201 555 0150", phone.SMS)
		if err != nil || !p.SMS || p.Voice {
			t.Fatalf("AddPhoneMethod sms: %+v %v", p, err)
		}
		if _, err := x.svc.AddPhoneMethod(ctx, u.ID, "+12015550150", phone.SMS); !errors.Is(err, account.ErrPhoneTaken) {
			t.Errorf("the same number and method again: %v", err)
		}
		q, err := x.svc.AddPhoneMethod(ctx, u.ID, "+12015550150", phone.Voice)
		if err != nil || q.ID != p.ID || !q.SMS || !q.Voice {
			t.Fatalf("AddPhoneMethod voice on the same number: %+v %v", q, err)
		}
		var pe *account.PhoneNumberError
		if _, err := x.svc.AddPhoneMethod(ctx, u.ID, "+1 900 555 0100", phone.SMS); !errors.As(err, &pe) {
			t.Errorf("a premium-rate number: %v", err)
		}
		if got := ids(); !slices.Equal(got, []string{"sms:+12015550150", "voice:+12015550150"}) {
			t.Fatalf("factors: %q", got)
		}
		smsID, voiceID := account.PhoneFactorID(q, phone.SMS), account.PhoneFactorID(q, phone.Voice)
		if smsID != q.ID || !strings.HasPrefix(voiceID, "clf") || voiceID[3:] != q.ID[3:] {
			t.Errorf("factor ids %s, %s of phone %s", smsID, voiceID, q.ID)
		}

		// Removing one method keeps the phone for the other, and signs out.
		sid, rt := signedIn(t, x, u.ID)
		f, _, err := x.svc.RemovePhoneFactor(ctx, u.ID, smsID)
		if err != nil || f.Method != phone.SMS {
			t.Fatalf("RemovePhoneFactor sms: %+v %v", f, err)
		}
		checkSignedOut(t, x, "a factor removed", sid, rt, true)
		if got := ids(); !slices.Equal(got, []string{"voice:+12015550150"}) {
			t.Errorf("after removing sms: %q", got)
		}
		if _, _, err := x.svc.RemovePhoneFactor(ctx, u.ID, smsID); !errors.Is(err, account.ErrNoSuchFactor) {
			t.Errorf("removing it again: %v", err)
		}
		other := mustCreate(t, x, account.NewUser{Login: "other@example.com"})
		if _, _, err := x.svc.RemovePhoneFactor(ctx, other.ID, voiceID); !errors.Is(err, account.ErrNoSuchFactor) {
			t.Errorf("another user's factor: %v", err)
		}
		if _, _, err := x.svc.RemovePhoneFactor(ctx, u.ID, voiceID); err != nil {
			t.Fatal(err)
		}
		if phones, _ := x.st.ListPhoneEnrollments(ctx, u.ID); len(phones) != 0 {
			t.Errorf("the phone stayed without methods: %+v", phones)
		}

		// Enrolled with a code: pending until the code comes back, under the id it keeps.
		c := &codes{}
		pending, err := x.svc.BeginPhoneEnrollment(ctx, u.ID, "(201) 555-0151", phone.Voice, c.send)
		if err != nil || pending.Number != "+12015550151" || !strings.HasPrefix(pending.ID, "clf") || pending.ChallengeID != "chx" {
			t.Fatalf("BeginPhoneEnrollment: %+v %v", pending, err)
		}
		if got := ids(); len(got) != 0 {
			t.Errorf("a pending phone is a factor already: %q", got)
		}
		// Enrolling the method again replaces the number and the code, and keeps the id.
		again, err := x.svc.BeginPhoneEnrollment(ctx, u.ID, "+12015550152", phone.Voice, c.send)
		if err != nil || again.ID != pending.ID || again.Number != "+12015550152" || again.ChallengeID != "chxx" {
			t.Fatalf("BeginPhoneEnrollment again: %+v %v", again, err)
		}
		if list, _ := x.svc.PendingPhones(ctx, u.ID); len(list) != 1 {
			t.Errorf("pending phones: %+v", list)
		}
		// A refused send stores nothing.
		c.fail = errors.New("budget spent")
		if _, err := x.svc.BeginPhoneEnrollment(ctx, u.ID, "+12015550153", phone.SMS, c.send); err != c.fail {
			t.Errorf("a refused send: %v", err)
		}
		c.fail = nil
		if list, _ := x.svc.PendingPhones(ctx, u.ID); len(list) != 1 {
			t.Errorf("pending phones after a refused send: %+v", list)
		}
		if _, err := x.svc.ActivatePendingPhone(ctx, u.ID, pending.ID, "000000", c.check); !errors.Is(err, authn.ErrWrongCode) {
			t.Errorf("a wrong code: %v", err)
		}
		if _, err := x.svc.ActivatePendingPhone(ctx, other.ID, pending.ID, "123456", c.check); !errors.Is(err, account.ErrNoSuchFactor) {
			t.Errorf("another user's pending phone: %v", err)
		}
		e, err := x.svc.ActivatePendingPhone(ctx, u.ID, pending.ID, "123456", c.check)
		if err != nil || e.Number != "+12015550152" || e.SMS || !e.Voice || account.PhoneFactorID(e, phone.Voice) != pending.ID {
			t.Fatalf("ActivatePendingPhone: %+v %v", e, err)
		}
		if list, _ := x.svc.PendingPhones(ctx, u.ID); len(list) != 0 {
			t.Errorf("pending phones after activation: %+v", list)
		}
		// SMS for the same number: a verified number, the factor id of its phone.
		smsPending, err := x.svc.BeginPhoneEnrollment(ctx, u.ID, "+12015550152", phone.SMS, c.send)
		if err != nil || smsPending.ID != e.ID {
			t.Fatalf("BeginPhoneEnrollment sms on the voice phone: %+v %v", smsPending, err)
		}
		if _, err := x.svc.BeginPhoneEnrollment(ctx, u.ID, "+12015550152", phone.Voice, c.send); !errors.Is(err, account.ErrPhoneTaken) {
			t.Errorf("voice again on that phone: %v", err)
		}
		want := []string{pending.ID + "/+12015550151/voice/unverified", pending.ID + "/+12015550152/voice/unverified", e.ID + "/+12015550152/sms/verified"}
		if !slices.Equal(c.sent, want) {
			t.Errorf("sent %q, want %q", c.sent, want)
		}
		if _, err := x.svc.ActivatePendingPhone(ctx, u.ID, smsPending.ID, "123456", c.check); err != nil {
			t.Fatal(err)
		}
		if got := ids(); !slices.Equal(got, []string{"sms:+12015550152", "voice:+12015550152"}) {
			t.Errorf("factors: %q", got)
		}

		// Removing a pending phone; resetting factors removes pending ones too.
		p3, err := x.svc.BeginPhoneEnrollment(ctx, u.ID, "+12015550154", phone.Voice, c.send)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.svc.RemovePendingPhone(ctx, u.ID, p3.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := x.svc.RemovePendingPhone(ctx, u.ID, p3.ID); !errors.Is(err, account.ErrNoSuchFactor) {
			t.Errorf("removing it again: %v", err)
		}
		if _, err := x.svc.BeginPhoneEnrollment(ctx, u.ID, "+12015550155", phone.Voice, c.send); err != nil {
			t.Fatal(err)
		}
		r, err := x.svc.ResetFactors(ctx, u.ID)
		if err != nil || len(r.Phones) != 1 || len(r.Pending) != 1 {
			t.Fatalf("ResetFactors: %+v %v", r, err)
		}
		if list, _ := x.svc.PendingPhones(ctx, u.ID); len(list) != 0 || len(ids()) != 0 {
			t.Errorf("after ResetFactors: %+v %q", list, ids())
		}
	})
}
