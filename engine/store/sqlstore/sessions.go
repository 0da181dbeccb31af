package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

const sessionColumns = `id, token_hash, user_id, auth_time, amr, client_ids, created_at, last_seen_at,
	idle_expires_at, expires_at, ended_at`

func sessionArgs(x store.Session) []any {
	return []any{x.ID, x.TokenHash, x.UserID, millis(x.AuthTime), jsonList(x.AMR), jsonList(x.ClientIDs),
		millis(x.CreatedAt), millis(x.LastSeenAt), millis(x.IdleExpiresAt), millis(x.ExpiresAt), millis(x.EndedAt)}
}

func scanSession(row rowScanner) (store.Session, error) {
	var x store.Session
	err := row.Scan(&x.ID, &x.TokenHash, &x.UserID, asTime(&x.AuthTime), asList(&x.AMR), asList(&x.ClientIDs),
		asTime(&x.CreatedAt), asTime(&x.LastSeenAt), asTime(&x.IdleExpiresAt), asTime(&x.ExpiresAt), asTime(&x.EndedAt))
	return x, err
}

func (s *Store) CreateSession(ctx context.Context, x store.Session) error {
	_, err := s.writes.exec(ctx, `INSERT INTO sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, sessionArgs(x)...)
	return s.dbError(err)
}

func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	x, err := scanSession(s.reads.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
	return x, s.dbError(err)
}

func (s *Store) GetSessionByToken(ctx context.Context, tokenHash string) (store.Session, error) {
	x, err := scanSession(s.reads.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE token_hash = $1`, tokenHash))
	return x, s.dbError(err)
}

func (s *Store) UpdateSession(ctx context.Context, id string, fn func(store.Session) (store.Session, error)) (store.Session, error) {
	return readModifyWrite(ctx, s,
		func(tx *wtx) (store.Session, error) {
			return scanSession(tx.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`+s.d.LockRow, id))
		},
		fn,
		func(tx *wtx, current, next store.Session) (store.Session, error) {
			switch {
			case next.ID != current.ID:
				return next, keyChanged("session", "ID")
			case next.TokenHash != current.TokenHash:
				return next, keyChanged("session", "TokenHash")
			case next.UserID != current.UserID:
				return next, keyChanged("session", "UserID")
			}
			return next, execOne(tx.ExecContext(ctx, `UPDATE sessions SET auth_time = $4, amr = $5, client_ids = $6,
				created_at = $7, last_seen_at = $8, idle_expires_at = $9, expires_at = $10, ended_at = $11
				WHERE id = $1 AND token_hash = $2 AND user_id = $3`, sessionArgs(next)...))
		})
}

func (s *Store) EndUserSessions(ctx context.Context, userID string, now time.Time) ([]store.Session, error) {
	var ended []store.Session
	err := s.inTx(ctx, func(tx *wtx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE sessions SET ended_at = $2 WHERE user_id = $1 AND ended_at IS NULL
			RETURNING `+sessionColumns, userID, now.UnixMilli())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			x, err := scanSession(rows)
			if err != nil {
				return err
			}
			ended = append(ended, x)
		}
		return rows.Err()
	})
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	return ended, s.dbError(err)
}
