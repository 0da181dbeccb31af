package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// testGetTokenAccount: the account is GetAccount's, and revoked is what
// AccessTokenRevoked says of the same ref, for every kind of revocation; a token
// of a user who does not exist is ErrNotFound.
func testGetTokenAccount(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser("00u-tok", "tok"), newUser("00u-tok2", "tok2")
	mustOK(t, "CreateUser", s.CreateUser(ctx, u))
	mustOK(t, "CreateUser", s.CreateUser(ctx, other))
	mustOK(t, "SetPassword", s.SetPassword(ctx, store.PasswordCredential{UserID: u.ID, Hash: "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", UpdatedAt: at(0)}))
	mustOK(t, "CreatePhoneEnrollment", s.CreatePhoneEnrollment(ctx, newPhone("sms-tok-b", u.ID, "+14155550182", at(time.Minute))))
	mustOK(t, "CreatePhoneEnrollment", s.CreatePhoneEnrollment(ctx, newPhone("sms-tok-a", u.ID, "+14155550181", at(0))))
	mustOK(t, "CreateEnrollment", s.CreateEnrollment(ctx, newEnrollment("uft-tok", u.ID, "google_otp", at(0))))

	t0 := at(400 * time.Millisecond)
	refs := map[string]store.AccessTokenRef{
		"full":              {JTI: "jti-tok", UserID: u.ID, SessionID: "sess-tok", FamilyID: "fam-tok", IssuedAt: t0},
		"jti only":          {JTI: "jti-tok", UserID: u.ID, IssuedAt: t0.Add(time.Hour)},
		"user at t0":        {UserID: u.ID, IssuedAt: t0},
		"user 1 ms later":   {UserID: u.ID, IssuedAt: t0.Add(time.Millisecond)},
		"session":           {UserID: u.ID, SessionID: "sess-tok", IssuedAt: t0.Add(time.Minute)},
		"family":            {UserID: u.ID, FamilyID: "fam-tok", IssuedAt: t0.Add(time.Minute)},
		"family later":      {UserID: u.ID, FamilyID: "fam-tok", IssuedAt: t0.Add(time.Minute + time.Millisecond)},
		"other user":        {JTI: "jti-other", UserID: other.ID, SessionID: "sess-tok-other", IssuedAt: t0},
		"other user, early": {UserID: other.ID, IssuedAt: t0.Add(-time.Hour)},
	}
	accounts := map[string]store.Account{u.ID: accountByRoles(t, s, u.ID), other.ID: accountByRoles(t, s, other.ID)}
	check := func(stage string, wantAny bool) {
		t.Helper()
		anyRevoked := false
		for name, ref := range refs {
			what := fmt.Sprintf("GetTokenAccount(%s) %s", name, stage)
			acct, revoked, err := s.GetTokenAccount(ctx, ref)
			mustOK(t, what, err)
			checkEqual(t, what, acct, accounts[ref.UserID])
			want, err := s.AccessTokenRevoked(ctx, ref)
			mustOK(t, "AccessTokenRevoked", err)
			if revoked != want {
				t.Errorf("%s: revoked %v, AccessTokenRevoked says %v", what, revoked, want)
			}
			anyRevoked = anyRevoked || revoked
		}
		if anyRevoked != wantAny {
			t.Errorf("%s: some token revoked = %v, want %v", stage, anyRevoked, wantAny)
		}
	}
	check("before any revocation", false)
	mustOK(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, "jti-tok", at(time.Hour)))
	check("after a jti's revocation", true)
	for _, r := range []struct {
		kind store.RevocationKind
		id   string
		when time.Time
	}{
		{store.RevokeUser, u.ID, t0},
		{store.RevokeSession, "sess-tok", t0.Add(time.Minute)},
		{store.RevokeFamily, "fam-tok", t0.Add(time.Minute)},
	} {
		_, err := s.RevokeTokens(ctx, r.kind, r.id, r.when, r.when.Add(store.MaxAccessTokenTTL))
		mustOK(t, "RevokeTokens", err)
		check("after revoking "+string(r.kind)+" "+r.id, true)
	}
	// What must come out of the revocations above, spelled out.
	for name, want := range map[string]bool{"full": true, "jti only": true, "user at t0": true, "user 1 ms later": false,
		"session": true, "family": true, "family later": false, "other user": false, "other user, early": false} {
		if _, revoked, err := s.GetTokenAccount(ctx, refs[name]); err != nil || revoked != want {
			t.Errorf("GetTokenAccount(%s): revoked %v, %v; want %v", name, revoked, err, want)
		}
	}

	checkErrIs(t, "GetTokenAccount of nobody", func() error {
		_, _, err := s.GetTokenAccount(ctx, store.AccessTokenRef{JTI: "jti-tok", UserID: "00u-nobody", IssuedAt: t0})
		return err
	}(), store.ErrNotFound)
	checkErrIs(t, "GetTokenAccount without a user", func() error {
		_, _, err := s.GetTokenAccount(ctx, store.AccessTokenRef{JTI: "jti-tok", IssuedAt: t0})
		return err
	}(), store.ErrNotFound)
	mustOK(t, "DeleteUser", s.DeleteUser(ctx, other.ID))
	checkErrIs(t, "GetTokenAccount of a deleted user", func() error {
		_, _, err := s.GetTokenAccount(ctx, refs["other user"])
		return err
	}(), store.ErrNotFound)
}
