package oauth

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// RevokeUserTokens ends every token of a user, as of now: their refresh tokens
// stop working, and so does every access token issued to them at or before now
// (userinfo answers 401, introspection says inactive); tokens issued after now, by
// a new sign-in, are not affected. It returns how many live refresh tokens it
// revoked.
//
// This is the one call for every change that must sign a user out everywhere: a
// password change, a phone removed, the user disabled or deleted. The users
// command calls it; an account API should call it too, with the engine's clock.
// It also ends the user's SSO sessions, so that no browser signs in again without
// the new password.
func RevokeUserTokens(ctx context.Context, st UserRevoker, userID string, now time.Time) (int64, error) {
	if _, err := st.EndUserSessions(ctx, userID, now); err != nil {
		return 0, err
	}
	return revokeTokens(ctx, st, store.RevokeUser, userID, now)
}

// UserRevoker is the part of the store RevokeUserTokens changes.
type UserRevoker interface {
	store.TokenStore
	store.SessionStore
}

// RevokeSessionTokens ends every token of an SSO session (RefreshToken.SessionID,
// the sid claim), as of now, as RevokeUserTokens does for a user. Logout calls it.
func RevokeSessionTokens(ctx context.Context, st store.TokenStore, sessionID string, now time.Time) (int64, error) {
	return revokeTokens(ctx, st, store.RevokeSession, sessionID, now)
}

// revokeTokens keeps the revocation until the last access token it can cover has
// expired: none lives longer than store.MaxAccessTokenTTL.
func revokeTokens(ctx context.Context, st store.TokenStore, kind store.RevocationKind, id string, now time.Time) (int64, error) {
	return st.RevokeTokens(ctx, kind, id, now, now.Add(store.MaxAccessTokenTTL))
}

// activeAccessToken checks an access token as userinfo and introspection do: it
// must verify (signature, issuer, expiry), be revoked neither by its jti nor by a
// revocation of its user, session or refresh-token family, and belong to a user
// who still exists and is not disabled. errInvalidToken means it is not active; any
// other error is the store's. The store is asked once (GetTokenAccount).
func (s *Server) activeAccessToken(ctx context.Context, raw string, now time.Time) (accessClaims, store.Account, error) {
	claims, err := s.verifyAccessToken(ctx, raw, now)
	if err != nil {
		return claims, store.Account{}, err
	}
	acct, err := s.tokenAccount(ctx, claims.ref())
	return claims, acct, err
}

// tokenAccount reads the account of a token's user in the statement that checks
// the token's revocation; a revoked token, or one whose user is deleted or
// disabled, is errInvalidToken.
func (s *Server) tokenAccount(ctx context.Context, ref store.AccessTokenRef) (store.Account, error) {
	acct, revoked, err := s.store.GetTokenAccount(ctx, ref)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return acct, errInvalidToken
	case err != nil:
		return acct, err
	case revoked, acct.User.Disabled:
		return acct, errInvalidToken
	}
	return acct, nil
}

// refreshTokenRef is what a refresh token is checked for revocation by: a
// revocation of its user, session or family made at or after the token was
// created. RevokeTokens marks the tokens it finds, but one being created by a
// concurrent refresh is not there to be found; this check catches it (for as long
// as the revocation is kept).
func refreshTokenRef(rt store.RefreshToken) store.AccessTokenRef {
	return store.AccessTokenRef{UserID: rt.UserID, SessionID: rt.SessionID, FamilyID: rt.FamilyID, IssuedAt: rt.CreatedAt}
}
