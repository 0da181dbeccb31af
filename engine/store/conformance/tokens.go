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

	next := newRefreshToken("rt1", "fam9")
	next.ClientID, next.UserID, next.Scopes, next.AMR = "client9", "00u9", nil, []string{"pwd", "sms", "mfa"}
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

func testRevokedAccessTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	revoked, err := s.IsAccessTokenRevoked(ctx, "jti-1")
	mustOK(t, "IsAccessTokenRevoked", err)
	if revoked {
		t.Errorf("IsAccessTokenRevoked of a never revoked jti: true")
	}
	mustOK(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, "jti-1", at(time.Hour)))
	mustOK(t, "RevokeAccessToken twice", s.RevokeAccessToken(ctx, "jti-1", at(time.Hour)))
	for jti, want := range map[string]bool{"jti-1": true, "jti-2": false, "JTI-1": false} {
		revoked, err := s.IsAccessTokenRevoked(ctx, jti)
		mustOK(t, "IsAccessTokenRevoked", err)
		if revoked != want {
			t.Errorf("IsAccessTokenRevoked(%q) = %v, want %v", jti, revoked, want)
		}
	}
}
