package sqlstore

import (
	"context"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// tokenRevoked is AccessTokenRevoked's test as a column: $1 the jti, $2 the user,
// $3 the session, $4 the family, $5 the instant the token was issued (ms).
const tokenRevoked = `(EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = $1 AND $1 <> '')
		OR EXISTS (SELECT 1 FROM token_revocations WHERE kind = 'user' AND subject_id = $2 AND $2 <> '' AND revoked_at >= $5)
		OR EXISTS (SELECT 1 FROM token_revocations WHERE kind = 'session' AND subject_id = $3 AND $3 <> '' AND revoked_at >= $5)
		OR EXISTS (SELECT 1 FROM token_revocations WHERE kind = 'family' AND subject_id = $4 AND $4 <> '' AND revoked_at >= $5))`

// GetTokenAccount is GetAccount of the token's user with the revocation test
// beside the user's row: userinfo, introspection and the refresh_token grant ask
// both of every token, in one round trip.
func (s *Store) GetTokenAccount(ctx context.Context, ref store.AccessTokenRef) (store.Account, bool, error) {
	if ref.UserID == "" {
		return store.Account{}, false, store.ErrNotFound
	}
	var (
		a       accountColumns
		revoked bool
	)
	err := s.reads.queryRow(ctx, s.q.byToken, ref.JTI, ref.UserID, ref.SessionID, ref.FamilyID, ref.IssuedAt.UnixMilli()).
		Scan(append(a.dest(), &revoked)...)
	if err != nil {
		return store.Account{}, false, s.dbError(err)
	}
	acct, err := a.account()
	if err != nil {
		return store.Account{}, false, err
	}
	if acct == nil {
		return store.Account{}, false, store.ErrNotFound
	}
	return *acct, revoked, nil
}
