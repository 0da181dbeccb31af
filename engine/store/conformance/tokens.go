package conformance

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

func testInteractionCodes(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newInteractionCode("ic1")
	mustOK(t, "CreateInteractionCode", s.CreateInteractionCode(ctx, want))
	got, err := s.GetInteractionCode(ctx, "ic1")
	mustOK(t, "GetInteractionCode", err)
	checkEqual(t, "GetInteractionCode", got, want)

	dup := newInteractionCode("ic1")
	dup.UserID = "00u-other"
	checkErrIs(t, "CreateInteractionCode with a taken hash", s.CreateInteractionCode(ctx, dup), store.ErrAlreadyExists)
	_, err = s.GetInteractionCode(ctx, "ic-missing")
	checkErrIs(t, "GetInteractionCode of a missing hash", err, store.ErrNotFound)

	// Redeem it: every field may change but the hash.
	next := newInteractionCode("ic1")
	next.TransactionID, next.ClientID, next.RedirectURI, next.CodeChallenge = "tx9", "client9", "https://x/cb", "cc9"
	next.UserID, next.Scopes, next.Nonce, next.AMR = "00u9", []string{"openid"}, "n9", nil
	next.SessionID, next.GrantType = "102sess9", ""
	next.AuthTime, next.CreatedAt, next.ExpiresAt, next.UsedAt = at(time.Second), at(2*time.Second), at(3*time.Second), at(4*time.Second)
	got, err = s.UpdateInteractionCode(ctx, "ic1", func(c store.InteractionCode) (store.InteractionCode, error) {
		checkEqual(t, "code seen by UpdateInteractionCode", c, want)
		return next, nil
	})
	mustOK(t, "UpdateInteractionCode", err)
	checkEqual(t, "UpdateInteractionCode result", got, next)
	got, err = s.GetInteractionCode(ctx, "ic1")
	mustOK(t, "GetInteractionCode", err)
	checkEqual(t, "code after UpdateInteractionCode", got, next)

	_, err = s.UpdateInteractionCode(ctx, "ic1", func(c store.InteractionCode) (store.InteractionCode, error) {
		checkEqual(t, "code seen by the second UpdateInteractionCode", c, next)
		c.UsedAt = time.Time{}
		return c, errFn
	})
	checkFnErr(t, "UpdateInteractionCode with failing fn", err)
	_, err = s.UpdateInteractionCode(ctx, "ic1", func(c store.InteractionCode) (store.InteractionCode, error) {
		c.CodeHash = "ic9"
		return c, nil
	})
	checkRefused(t, "UpdateInteractionCode changing CodeHash", err)
	_, err = s.GetInteractionCode(ctx, "ic9")
	checkErrIs(t, "GetInteractionCode of the refused hash", err, store.ErrNotFound)
	got, err = s.GetInteractionCode(ctx, "ic1")
	mustOK(t, "GetInteractionCode", err)
	checkEqual(t, "code after refused updates", got, next)

	_, err = s.UpdateInteractionCode(ctx, "ic-missing", notCalled[store.InteractionCode](t))
	checkErrIs(t, "UpdateInteractionCode of a missing code", err, store.ErrNotFound)
}

func testRefreshTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newRefreshToken("rt1", "fam1")
	mustOK(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, want))
	got, err := s.GetRefreshToken(ctx, "rt1")
	mustOK(t, "GetRefreshToken", err)
	checkEqual(t, "GetRefreshToken", got, want)

	checkErrIs(t, "CreateRefreshToken with a taken hash", s.CreateRefreshToken(ctx, newRefreshToken("rt1", "fam2")), store.ErrAlreadyExists)
	_, err = s.GetRefreshToken(ctx, "rt-missing")
	checkErrIs(t, "GetRefreshToken of a missing hash", err, store.ErrNotFound)

	noSession := newRefreshToken("rt-nosession", "fam3")
	noSession.SessionID = ""
	mustOK(t, "CreateRefreshToken without a session", s.CreateRefreshToken(ctx, noSession))
	got, err = s.GetRefreshToken(ctx, "rt-nosession")
	mustOK(t, "GetRefreshToken", err)
	checkEqual(t, "GetRefreshToken of a token without a session", got, noSession)

	next := newRefreshToken("rt1", "fam9")
	next.ClientID, next.UserID, next.SessionID, next.Scopes, next.AMR = "client9", "00u9", "sess9", nil, []string{"pwd", "sms", "mfa"}
	next.AuthTime, next.CreatedAt, next.ExpiresAt = at(time.Second), at(2*time.Second), at(3*time.Second)
	next.UsedAt, next.RevokedAt = at(4*time.Second), at(5*time.Second)
	got, err = s.UpdateRefreshToken(ctx, "rt1", func(rt store.RefreshToken) (store.RefreshToken, error) {
		checkEqual(t, "token seen by UpdateRefreshToken", rt, want)
		return next, nil
	})
	mustOK(t, "UpdateRefreshToken", err)
	checkEqual(t, "UpdateRefreshToken result", got, next)
	got, err = s.GetRefreshToken(ctx, "rt1")
	mustOK(t, "GetRefreshToken", err)
	checkEqual(t, "token after UpdateRefreshToken", got, next)

	_, err = s.UpdateRefreshToken(ctx, "rt1", func(rt store.RefreshToken) (store.RefreshToken, error) {
		checkEqual(t, "token seen by the second UpdateRefreshToken", rt, next)
		rt.RevokedAt = time.Time{}
		return rt, errFn
	})
	checkFnErr(t, "UpdateRefreshToken with failing fn", err)
	_, err = s.UpdateRefreshToken(ctx, "rt1", func(rt store.RefreshToken) (store.RefreshToken, error) {
		rt.TokenHash = "rt9"
		return rt, nil
	})
	checkRefused(t, "UpdateRefreshToken changing TokenHash", err)
	_, err = s.GetRefreshToken(ctx, "rt9")
	checkErrIs(t, "GetRefreshToken of the refused hash", err, store.ErrNotFound)
	got, err = s.GetRefreshToken(ctx, "rt1")
	mustOK(t, "GetRefreshToken", err)
	checkEqual(t, "token after refused updates", got, next)

	_, err = s.UpdateRefreshToken(ctx, "rt-missing", notCalled[store.RefreshToken](t))
	checkErrIs(t, "UpdateRefreshToken of a missing token", err, store.ErrNotFound)
}

func testRevokeRefreshTokenFamily(t *testing.T, s store.Store) {
	ctx := t.Context()
	used := newRefreshToken("rt-a1", "fam-a")
	used.UsedAt = at(-time.Second)
	current := newRefreshToken("rt-a2", "fam-a")
	revokedEarlier := newRefreshToken("rt-a0", "fam-a")
	revokedEarlier.RevokedAt = at(-time.Hour)
	otherFamily := newRefreshToken("rt-b1", "fam-b")
	for _, rt := range []store.RefreshToken{used, current, revokedEarlier, otherFamily} {
		mustOK(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, rt))
	}

	now := at(time.Minute)
	mustOK(t, "RevokeRefreshTokenFamily", s.RevokeRefreshTokenFamily(ctx, "fam-a", now))
	used.RevokedAt, current.RevokedAt = now, now
	for _, want := range []store.RefreshToken{used, current, revokedEarlier, otherFamily} {
		got, err := s.GetRefreshToken(ctx, want.TokenHash)
		mustOK(t, "GetRefreshToken", err)
		checkEqual(t, "token "+want.TokenHash+" after revoking fam-a", got, want)
	}

	// Revoking again changes nothing: every token already has its RevokedAt.
	mustOK(t, "RevokeRefreshTokenFamily again", s.RevokeRefreshTokenFamily(ctx, "fam-a", at(time.Hour)))
	got, err := s.GetRefreshToken(ctx, "rt-a2")
	mustOK(t, "GetRefreshToken", err)
	checkEqual(t, "token after revoking twice", got, current)
	mustOK(t, "RevokeRefreshTokenFamily of an unknown family", s.RevokeRefreshTokenFamily(ctx, "fam-none", now))
}

// checkTokens compares each token as stored with want.
func checkTokens(t *testing.T, s store.Store, what string, want ...store.RefreshToken) {
	t.Helper()
	for _, w := range want {
		got, err := s.GetRefreshToken(t.Context(), w.TokenHash)
		mustOK(t, "GetRefreshToken", err)
		checkEqual(t, "token "+w.TokenHash+" "+what, got, w)
	}
}

func testRevokeTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := at(time.Minute)
	revoke := func(kind store.RevocationKind, id string, at time.Time, want int64) {
		t.Helper()
		n, err := s.RevokeTokens(ctx, kind, id, at, at.Add(store.MaxAccessTokenTTL))
		mustOK(t, "RevokeTokens("+string(kind)+", "+id+")", err)
		if n != want {
			t.Errorf("RevokeTokens(%s, %s) = %d revoked, want %d", kind, id, n, want)
		}
	}

	// By family: the live token counts; the rotated-away one is marked too.
	famUsed := newRefreshToken("rt-f1", "fam-f")
	famUsed.UsedAt = at(-time.Second)
	famLive := newRefreshToken("rt-f2", "fam-f")
	famEarlier := newRefreshToken("rt-f0", "fam-f")
	famEarlier.RevokedAt = at(-time.Hour)
	otherFam := newRefreshToken("rt-g1", "fam-g")
	otherFam.UserID, otherFam.SessionID = famLive.UserID, famLive.SessionID

	// By user: two live tokens of two families, an expired one, another user's.
	userA := newRefreshToken("rt-u1", "fam-u1")
	userB := newRefreshToken("rt-u2", "fam-u2")
	userExpired := newRefreshToken("rt-u3", "fam-u3")
	userExpired.ExpiresAt = at(-time.Second)
	for _, rt := range []*store.RefreshToken{&userA, &userB, &userExpired} {
		rt.UserID, rt.SessionID = "00u-user", "sess-user-"+rt.TokenHash
	}
	otherUser := newRefreshToken("rt-v1", "fam-v1")

	// By session: two families of one session, and a token of the same user
	// without a session.
	sessA := newRefreshToken("rt-s1", "fam-s1")
	sessB := newRefreshToken("rt-s2", "fam-s2")
	noSession := newRefreshToken("rt-s3", "fam-s3")
	for _, rt := range []*store.RefreshToken{&sessA, &sessB, &noSession} {
		rt.UserID, rt.SessionID = "00u-sess", "sess-s"
	}
	noSession.SessionID = ""

	all := []store.RefreshToken{famUsed, famLive, famEarlier, otherFam, userA, userB, userExpired, otherUser, sessA, sessB, noSession}
	for _, rt := range all {
		mustOK(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, rt))
	}

	revoke(store.RevokeFamily, "fam-f", now, 1)
	famUsed.RevokedAt, famLive.RevokedAt = now, now
	checkTokens(t, s, "after revoking family fam-f", famUsed, famLive, famEarlier, otherFam, userA, sessA, noSession)

	revoke(store.RevokeUser, "00u-user", now, 2)
	userA.RevokedAt, userB.RevokedAt, userExpired.RevokedAt = now, now, now
	checkTokens(t, s, "after revoking user 00u-user", userA, userB, userExpired, otherUser, otherFam)

	revoke(store.RevokeSession, "sess-s", now, 2)
	sessA.RevokedAt, sessB.RevokedAt = now, now
	checkTokens(t, s, "after revoking session sess-s", sessA, sessB, noSession, otherUser)

	// Again, later: nothing is left to revoke, and RevokedAt stays as it was.
	revoke(store.RevokeFamily, "fam-f", now.Add(time.Hour), 0)
	revoke(store.RevokeUser, "00u-user", now.Add(time.Hour), 0)
	revoke(store.RevokeSession, "sess-s", now.Add(time.Hour), 0)
	revoke(store.RevokeUser, "00u-nobody", now, 0)
	checkTokens(t, s, "after revoking twice", famUsed, famLive, famEarlier, otherFam, userA, userB, userExpired, otherUser, sessA, sessB, noSession)

	// The older shorthand is a family revocation, with its access tokens.
	mustOK(t, "RevokeRefreshTokenFamily", s.RevokeRefreshTokenFamily(ctx, "fam-v1", now))
	otherUser.RevokedAt = now
	checkTokens(t, s, "after RevokeRefreshTokenFamily", otherUser)
	revoked, err := s.AccessTokenRevoked(ctx, store.AccessTokenRef{FamilyID: "fam-v1", IssuedAt: now})
	mustOK(t, "AccessTokenRevoked", err)
	if !revoked {
		t.Error("RevokeRefreshTokenFamily did not revoke the access tokens of its family")
	}
}

func testRevokeTokensRefusesBadInput(t *testing.T, s store.Store) {
	ctx := t.Context()
	noSession := newRefreshToken("rt-1", "fam-1")
	noSession.SessionID = ""
	mustOK(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, noSession))
	now, keep := at(0), at(store.MaxAccessTokenTTL)
	for _, c := range []struct {
		what     string
		kind     store.RevocationKind
		id       string
		at, keep time.Time
	}{
		{"an empty session id", store.RevokeSession, "", now, keep},
		{"an empty user id", store.RevokeUser, "", now, keep},
		{"an empty family id", store.RevokeFamily, "", now, keep},
		{"an unknown kind", "client", "client-fam-1", now, keep},
		{"a zero instant", store.RevokeUser, noSession.UserID, time.Time{}, keep},
		{"a zero keepUntil", store.RevokeUser, noSession.UserID, now, time.Time{}},
	} {
		if n, err := s.RevokeTokens(ctx, c.kind, c.id, c.at, c.keep); err == nil || n != 0 {
			t.Errorf("RevokeTokens with %s = %d, %v; want an error", c.what, n, err)
		}
	}
	checkTokens(t, s, "after refused revocations", noSession)
	revoked, err := s.AccessTokenRevoked(ctx, store.AccessTokenRef{UserID: noSession.UserID, FamilyID: noSession.FamilyID, IssuedAt: at(-time.Hour)})
	mustOK(t, "AccessTokenRevoked", err)
	if revoked {
		t.Error("a refused revocation revoked access tokens")
	}
}

func testAccessTokenRevokedByUserSessionFamily(t *testing.T, s store.Store) {
	ctx := t.Context()
	check := func(what string, ref store.AccessTokenRef, want bool) {
		t.Helper()
		got, err := s.AccessTokenRevoked(ctx, ref)
		mustOK(t, "AccessTokenRevoked", err)
		if got != want {
			t.Errorf("AccessTokenRevoked(%s) = %v, want %v", what, got, want)
		}
	}
	revoke := func(kind store.RevocationKind, id string, when time.Time) {
		t.Helper()
		_, err := s.RevokeTokens(ctx, kind, id, when, when.Add(store.MaxAccessTokenTTL))
		mustOK(t, "RevokeTokens", err)
	}
	t0 := at(400 * time.Millisecond) // in the middle of a second
	full := store.AccessTokenRef{JTI: "jti-x", UserID: "00u-a", SessionID: "sess-a", FamilyID: "fam-a", IssuedAt: t0}
	check("a token when nothing is revoked", full, false)
	check("an all-empty ref", store.AccessTokenRef{}, false)

	revoke(store.RevokeUser, "00u-a", t0)
	for _, c := range []struct {
		what string
		ref  store.AccessTokenRef
		want bool
	}{
		{"issued at the revocation", store.AccessTokenRef{UserID: "00u-a", IssuedAt: t0}, true},
		{"issued 1 ms before", store.AccessTokenRef{UserID: "00u-a", IssuedAt: t0.Add(-time.Millisecond)}, true},
		{"issued 100 ms before, same second", store.AccessTokenRef{UserID: "00u-a", IssuedAt: t0.Add(-100 * time.Millisecond)}, true},
		{"issued 1 ms after", store.AccessTokenRef{UserID: "00u-a", IssuedAt: t0.Add(time.Millisecond)}, false},
		{"issued 100 ms after, same second", store.AccessTokenRef{UserID: "00u-a", IssuedAt: t0.Add(100 * time.Millisecond)}, false},
		{"another user", store.AccessTokenRef{UserID: "00u-b", IssuedAt: t0.Add(-time.Hour)}, false},
		{"the user's id as a session", store.AccessTokenRef{SessionID: "00u-a", IssuedAt: t0.Add(-time.Hour)}, false},
		{"the user's id as a family", store.AccessTokenRef{FamilyID: "00u-a", IssuedAt: t0.Add(-time.Hour)}, false},
		{"a full ref", full, true},
	} {
		check(c.what, c.ref, c.want)
	}

	t1 := at(time.Minute)
	revoke(store.RevokeSession, "sess-b", t1)
	check("a token of the revoked session", store.AccessTokenRef{UserID: "00u-c", SessionID: "sess-b", IssuedAt: t1}, true)
	check("a token of the revoked session's user, without the session", store.AccessTokenRef{UserID: "00u-c", IssuedAt: t1}, false)
	check("a later token of the revoked session", store.AccessTokenRef{SessionID: "sess-b", IssuedAt: t1.Add(time.Millisecond)}, false)

	revoke(store.RevokeFamily, "fam-b", t1)
	check("a token of the revoked family", store.AccessTokenRef{JTI: "jti-y", UserID: "00u-d", SessionID: "sess-d", FamilyID: "fam-b", IssuedAt: t1}, true)
	check("a later token of the revoked family", store.AccessTokenRef{FamilyID: "fam-b", IssuedAt: t1.Add(time.Millisecond)}, false)
	check("a token of another family", store.AccessTokenRef{FamilyID: "fam-c", IssuedAt: t1}, false)

	// A revocation made earlier than the recorded one does not move it back; a later
	// one moves it forward.
	revoke(store.RevokeUser, "00u-a", t0.Add(-time.Hour))
	check("after an earlier revocation, issued 1 ms after the first", store.AccessTokenRef{UserID: "00u-a", IssuedAt: t0.Add(time.Millisecond)}, false)
	check("after an earlier revocation, issued at the first", store.AccessTokenRef{UserID: "00u-a", IssuedAt: t0}, true)
	revoke(store.RevokeUser, "00u-a", t1)
	check("after a later revocation", store.AccessTokenRef{UserID: "00u-a", IssuedAt: t0.Add(time.Millisecond)}, true)

	// A revoked jti stays revoked whatever else the ref says.
	mustOK(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, "jti-z", at(time.Hour)))
	check("a revoked jti", store.AccessTokenRef{JTI: "jti-z", UserID: "00u-z", IssuedAt: at(time.Hour)}, true)
}

func testRevokedAccessTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	revoked, err := s.AccessTokenRevoked(ctx, store.AccessTokenRef{JTI: "jti-1"})
	mustOK(t, "AccessTokenRevoked", err)
	if revoked {
		t.Errorf("AccessTokenRevoked of a never revoked jti: true")
	}
	mustOK(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, "jti-1", at(time.Hour)))
	mustOK(t, "RevokeAccessToken twice", s.RevokeAccessToken(ctx, "jti-1", at(time.Hour)))
	for jti, want := range map[string]bool{"jti-1": true, "jti-2": false, "JTI-1": false} {
		revoked, err := s.AccessTokenRevoked(ctx, store.AccessTokenRef{JTI: jti, UserID: "00u-1", IssuedAt: base})
		mustOK(t, "AccessTokenRevoked", err)
		if revoked != want {
			t.Errorf("AccessTokenRevoked(%q) = %v, want %v", jti, revoked, want)
		}
	}
}
