package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// ---- interaction codes ----

const interactionCodeColumns = `code_hash, transaction_id, client_id, redirect_uri, code_challenge, user_id, scopes,
	nonce, auth_time, amr, created_at, expires_at, used_at, session_id, grant_type`

func interactionCodeArgs(c store.InteractionCode) []any {
	return []any{c.CodeHash, c.TransactionID, c.ClientID, c.RedirectURI, c.CodeChallenge, c.UserID, jsonList(c.Scopes),
		c.Nonce, millis(c.AuthTime), jsonList(c.AMR), millis(c.CreatedAt), millis(c.ExpiresAt), millis(c.UsedAt),
		c.SessionID, c.GrantType}
}

func scanInteractionCode(row rowScanner) (store.InteractionCode, error) {
	var c store.InteractionCode
	err := row.Scan(&c.CodeHash, &c.TransactionID, &c.ClientID, &c.RedirectURI, &c.CodeChallenge, &c.UserID, asList(&c.Scopes),
		&c.Nonce, asTime(&c.AuthTime), asList(&c.AMR), asTime(&c.CreatedAt), asTime(&c.ExpiresAt), asTime(&c.UsedAt),
		&c.SessionID, &c.GrantType)
	return c, err
}

func (s *Store) CreateInteractionCode(ctx context.Context, c store.InteractionCode) error {
	_, err := s.writes.exec(ctx, `INSERT INTO interaction_codes (`+interactionCodeColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`, interactionCodeArgs(c)...)
	return s.dbError(err)
}

func (s *Store) GetInteractionCode(ctx context.Context, codeHash string) (store.InteractionCode, error) {
	c, err := scanInteractionCode(s.reads.queryRow(ctx, `SELECT `+interactionCodeColumns+` FROM interaction_codes WHERE code_hash = $1`, codeHash))
	return c, s.dbError(err)
}

func (s *Store) UpdateInteractionCode(ctx context.Context, codeHash string, fn func(store.InteractionCode) (store.InteractionCode, error)) (store.InteractionCode, error) {
	return readModifyWrite(ctx, s,
		func(tx *wtx) (store.InteractionCode, error) {
			return scanInteractionCode(tx.QueryRowContext(ctx, `SELECT `+interactionCodeColumns+` FROM interaction_codes WHERE code_hash = $1`+s.d.LockRow, codeHash))
		},
		fn,
		func(tx *wtx, current, next store.InteractionCode) (store.InteractionCode, error) {
			if next.CodeHash != current.CodeHash {
				return next, keyChanged("interaction code", "CodeHash")
			}
			return next, execOne(tx.ExecContext(ctx, `UPDATE interaction_codes SET transaction_id = $2, client_id = $3,
				redirect_uri = $4, code_challenge = $5, user_id = $6, scopes = $7, nonce = $8, auth_time = $9, amr = $10,
				created_at = $11, expires_at = $12, used_at = $13, session_id = $14, grant_type = $15 WHERE code_hash = $1`, interactionCodeArgs(next)...))
		})
}

// ---- refresh tokens ----

const refreshTokenColumns = `token_hash, family_id, client_id, user_id, scopes, auth_time, amr, created_at, expires_at,
	used_at, revoked_at`

func refreshTokenArgs(t store.RefreshToken) []any {
	return []any{t.TokenHash, t.FamilyID, t.ClientID, t.UserID, jsonList(t.Scopes), millis(t.AuthTime), jsonList(t.AMR),
		millis(t.CreatedAt), millis(t.ExpiresAt), millis(t.UsedAt), millis(t.RevokedAt)}
}

func scanRefreshToken(row rowScanner) (store.RefreshToken, error) {
	var t store.RefreshToken
	err := row.Scan(&t.TokenHash, &t.FamilyID, &t.ClientID, &t.UserID, asList(&t.Scopes), asTime(&t.AuthTime), asList(&t.AMR),
		asTime(&t.CreatedAt), asTime(&t.ExpiresAt), asTime(&t.UsedAt), asTime(&t.RevokedAt))
	return t, err
}

func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	_, err := s.writes.exec(ctx, `INSERT INTO refresh_tokens (`+refreshTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, refreshTokenArgs(t)...)
	return s.dbError(err)
}

func (s *Store) GetRefreshToken(ctx context.Context, tokenHash string) (store.RefreshToken, error) {
	t, err := scanRefreshToken(s.reads.queryRow(ctx, `SELECT `+refreshTokenColumns+` FROM refresh_tokens WHERE token_hash = $1`, tokenHash))
	return t, s.dbError(err)
}

func (s *Store) UpdateRefreshToken(ctx context.Context, tokenHash string, fn func(store.RefreshToken) (store.RefreshToken, error)) (store.RefreshToken, error) {
	return readModifyWrite(ctx, s,
		func(tx *wtx) (store.RefreshToken, error) {
			return scanRefreshToken(tx.QueryRowContext(ctx, `SELECT `+refreshTokenColumns+` FROM refresh_tokens WHERE token_hash = $1`+s.d.LockRow, tokenHash))
		},
		fn,
		func(tx *wtx, current, next store.RefreshToken) (store.RefreshToken, error) {
			if next.TokenHash != current.TokenHash {
				return next, keyChanged("refresh token", "TokenHash")
			}
			return next, execOne(tx.ExecContext(ctx, `UPDATE refresh_tokens SET family_id = $2, client_id = $3, user_id = $4,
				scopes = $5, auth_time = $6, amr = $7, created_at = $8, expires_at = $9, used_at = $10, revoked_at = $11
				WHERE token_hash = $1`, refreshTokenArgs(next)...))
		})
}

func (s *Store) RevokeRefreshTokenFamily(ctx context.Context, familyID string, now time.Time) error {
	_, err := s.writes.exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL`,
		familyID, millis(now))
	return s.dbError(err)
}

// ---- revoked access tokens ----

// RevokeAccessToken keeps the later expiry when a jti is revoked again, so the entry
// lasts as long as any token it could stand for.
func (s *Store) RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	_, err := s.writes.exec(ctx, `INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2)
		ON CONFLICT (jti) DO UPDATE SET expires_at = CASE
			WHEN excluded.expires_at > revoked_access_tokens.expires_at THEN excluded.expires_at
			ELSE revoked_access_tokens.expires_at END`, jti, millis(expiresAt))
	return s.dbError(err)
}

func (s *Store) IsAccessTokenRevoked(ctx context.Context, jti string) (bool, error) {
	var one int
	err := s.reads.queryRow(ctx, `SELECT 1 FROM revoked_access_tokens WHERE jti = $1`, jti).Scan(&one)
	switch err {
	case nil:
		return true, nil
	case sql.ErrNoRows:
		return false, nil
	}
	return false, s.dbError(err)
}
