package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

const apiTokenColumns = `id, name, token_hash, read_only, created_at, last_used_at, revoked_at`

func scanAPIToken(row rowScanner) (store.APIToken, error) {
	var t store.APIToken
	err := row.Scan(&t.ID, &t.Name, &t.TokenHash, &t.ReadOnly, asTime(&t.CreatedAt), asTime(&t.LastUsedAt), asTime(&t.RevokedAt))
	return t, err
}

func (s *Store) CreateAPIToken(ctx context.Context, t store.APIToken) error {
	_, err := s.writes.exec(ctx, `INSERT INTO api_tokens (`+apiTokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		t.ID, t.Name, t.TokenHash, t.ReadOnly, millis(t.CreatedAt), millis(t.LastUsedAt), millis(t.RevokedAt))
	return s.dbError(err)
}

func (s *Store) GetAPIToken(ctx context.Context, id string) (store.APIToken, error) {
	t, err := scanAPIToken(s.reads.queryRow(ctx, `SELECT `+apiTokenColumns+` FROM api_tokens WHERE id = $1`, id))
	return t, s.dbError(err)
}

func (s *Store) GetAPITokenByHash(ctx context.Context, tokenHash string) (store.APIToken, error) {
	t, err := scanAPIToken(s.reads.queryRow(ctx, `SELECT `+apiTokenColumns+` FROM api_tokens WHERE token_hash = $1`, tokenHash))
	return t, s.dbError(err)
}

// ListAPITokens returns every token: deployments have a handful, so there are no
// pages.
func (s *Store) ListAPITokens(ctx context.Context) ([]store.APIToken, error) {
	return queryList(ctx, s, s.reads, scanAPIToken, `SELECT `+apiTokenColumns+` FROM api_tokens ORDER BY created_at, id`)
}

// RevokeAPIToken sets revoked_at only where it is not set yet, in one statement, so
// that of two concurrent revocations the first one's time is kept.
func (s *Store) RevokeAPIToken(ctx context.Context, id string, at time.Time) (store.APIToken, error) {
	if at.IsZero() {
		return store.APIToken{}, errors.New("sqlstore: RevokeAPIToken needs a time")
	}
	if _, err := s.writes.exec(ctx, `UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, id, millis(at)); err != nil {
		return store.APIToken{}, s.dbError(err)
	}
	// Read from the writer: the reader pool may not see the update yet.
	t, err := scanAPIToken(s.writes.queryRow(ctx, `SELECT `+apiTokenColumns+` FROM api_tokens WHERE id = $1`, id))
	return t, s.dbError(err)
}

// RecordAPITokenUse only ever moves last_used_at forward, so that nodes recording
// uses out of order keep the latest.
func (s *Store) RecordAPITokenUse(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return errors.New("sqlstore: RecordAPITokenUse needs a time")
	}
	res, err := s.writes.exec(ctx, `UPDATE api_tokens SET last_used_at = $2
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`, id, millis(at))
	if err != nil {
		return s.dbError(err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return s.dbError(err)
	}
	var count int
	if err := s.writes.queryRow(ctx, `SELECT COUNT(*) FROM api_tokens WHERE id = $1`, id).Scan(&count); err != nil {
		return s.dbError(err)
	}
	if count == 0 {
		return store.ErrNotFound
	}
	return nil
}
