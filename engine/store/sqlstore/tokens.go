package sqlstore

import (
	"context"
	"errors"
	"fmt"
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
	used_at, revoked_at, session_id`

func refreshTokenArgs(t store.RefreshToken) []any {
	return []any{t.TokenHash, t.FamilyID, t.ClientID, t.UserID, jsonList(t.Scopes), millis(t.AuthTime), jsonList(t.AMR),
		millis(t.CreatedAt), millis(t.ExpiresAt), millis(t.UsedAt), millis(t.RevokedAt), t.SessionID}
}

func scanRefreshToken(row rowScanner) (store.RefreshToken, error) {
	var t store.RefreshToken
	err := row.Scan(&t.TokenHash, &t.FamilyID, &t.ClientID, &t.UserID, asList(&t.Scopes), asTime(&t.AuthTime), asList(&t.AMR),
		asTime(&t.CreatedAt), asTime(&t.ExpiresAt), asTime(&t.UsedAt), asTime(&t.RevokedAt), &t.SessionID)
	return t, err
}

func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	_, err := s.writes.exec(ctx, `INSERT INTO refresh_tokens (`+refreshTokenColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, refreshTokenArgs(t)...)
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
				scopes = $5, auth_time = $6, amr = $7, created_at = $8, expires_at = $9, used_at = $10, revoked_at = $11,
				session_id = $12 WHERE token_hash = $1`, refreshTokenArgs(next)...))
		})
}

func (s *Store) RevokeRefreshTokenFamily(ctx context.Context, familyID string, now time.Time) error {
	_, err := s.RevokeTokens(ctx, store.RevokeFamily, familyID, now, now.Add(store.MaxAccessTokenTTL))
	return err
}

// revocationColumn is the refresh_tokens column each kind of revocation matches.
var revocationColumn = map[store.RevocationKind]string{
	store.RevokeUser:    "user_id",
	store.RevokeSession: "session_id",
	store.RevokeFamily:  "family_id",
}

// RevokeTokens records the revocation first and then marks the refresh tokens, in
// one transaction. The live ones (unused, unexpired) are marked by a statement of
// their own so that the count says how many tokens a client could still have used;
// the rotated-away and expired ones are marked after, for the record.
func (s *Store) RevokeTokens(ctx context.Context, kind store.RevocationKind, id string, at, keepUntil time.Time) (int64, error) {
	column, ok := revocationColumn[kind]
	if !ok {
		return 0, fmt.Errorf("sqlstore: unknown revocation kind %q", kind)
	}
	if id == "" {
		return 0, fmt.Errorf("sqlstore: revoking the tokens of an empty %s id", kind)
	}
	if at.IsZero() || keepUntil.IsZero() {
		return 0, errors.New("sqlstore: a revocation needs its instant and how long to keep it")
	}
	atMs := millis(at)
	var live int64
	err := s.inTx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO token_revocations (kind, subject_id, revoked_at, expires_at)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (kind, subject_id) DO UPDATE SET
				revoked_at = CASE WHEN excluded.revoked_at > token_revocations.revoked_at
					THEN excluded.revoked_at ELSE token_revocations.revoked_at END,
				expires_at = CASE WHEN excluded.expires_at > token_revocations.expires_at
					THEN excluded.expires_at ELSE token_revocations.expires_at END`,
			string(kind), id, atMs, millis(keepUntil)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $2
			WHERE `+column+` = $1 AND revoked_at IS NULL AND used_at IS NULL AND expires_at > $2`, id, atMs)
		if err != nil {
			return err
		}
		if live, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $2 WHERE `+column+` = $1 AND revoked_at IS NULL`, id, atMs)
		return err
	})
	if err != nil {
		return 0, s.dbError(err)
	}
	return live, nil
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

// AccessTokenRevoked looks the jti and the three revocations up by primary key in
// one statement. An empty field never matches: no jti, user, session or family is
// stored empty.
func (s *Store) AccessTokenRevoked(ctx context.Context, ref store.AccessTokenRef) (bool, error) {
	var revoked bool
	err := s.reads.queryRow(ctx, `SELECT `+tokenRevoked,
		ref.JTI, ref.UserID, ref.SessionID, ref.FamilyID, ref.IssuedAt.UnixMilli()).Scan(&revoked)
	if err != nil {
		return false, s.dbError(err)
	}
	return revoked, nil
}
