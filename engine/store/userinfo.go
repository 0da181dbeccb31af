package store

import "context"

// ---- a bearer token's reads in one ----

// TokenAccountStore reads what answering for a token needs — whether it is revoked
// and its user's account — in one statement, where AccessTokenRevoked and
// GetAccount take two.
type TokenAccountStore interface {
	// GetTokenAccount reads the account of ref's user (ref.UserID), as GetAccount
	// does, and whether ref is revoked, as AccessTokenRevoked says. ErrNotFound if
	// there is no such user (then whether ref is revoked is not told).
	GetTokenAccount(ctx context.Context, ref AccessTokenRef) (acct Account, revoked bool, err error)
}
