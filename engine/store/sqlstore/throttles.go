package sqlstore

import (
	"context"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

const throttleColumns = `throttle_key, count, window_start, last_at, blocked_until, expires_at`

func scanThrottle(row rowScanner) (store.Throttle, error) {
	var t store.Throttle
	err := row.Scan(&t.Key, &t.Count, asTime(&t.WindowStart), asTime(&t.LastAt), asTime(&t.BlockedUntil), asTime(&t.ExpiresAt))
	return t, err
}

// UpdateThrottle first makes sure a row exists — inserting a zero one if not — and
// then locks it like any other update. Locking a row that does not exist yet is not
// possible, and "read, then insert if missing" would let two nodes both insert, one
// failing or overwriting the other's count. With INSERT … ON CONFLICT DO NOTHING the
// second inserter waits for the first to commit and then finds the row. If fn fails
// the transaction rolls back, and the zero row with it.
func (s *Store) UpdateThrottle(ctx context.Context, key string, fn func(store.Throttle) (store.Throttle, error)) (store.Throttle, error) {
	return readModifyWrite(ctx, s,
		func(tx *wtx) (store.Throttle, error) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO throttles (throttle_key, count) VALUES ($1, 0)
				ON CONFLICT (throttle_key) DO NOTHING`, key); err != nil {
				return store.Throttle{}, err
			}
			return scanThrottle(tx.QueryRowContext(ctx, `SELECT `+throttleColumns+` FROM throttles WHERE throttle_key = $1`+s.d.LockRow, key))
		},
		fn,
		func(tx *wtx, current, next store.Throttle) (store.Throttle, error) {
			if next.Key != current.Key {
				return next, keyChanged("throttle", "Key")
			}
			return next, execOne(tx.ExecContext(ctx, `UPDATE throttles SET count = $2, window_start = $3, last_at = $4,
				blocked_until = $5, expires_at = $6 WHERE throttle_key = $1`,
				next.Key, next.Count, millis(next.WindowStart), millis(next.LastAt), millis(next.BlockedUntil), millis(next.ExpiresAt)))
		})
}

func (s *Store) GetThrottle(ctx context.Context, key string) (store.Throttle, error) {
	t, err := scanThrottle(s.reads.queryRow(ctx, `SELECT `+throttleColumns+` FROM throttles WHERE throttle_key = $1`, key))
	return t, s.dbError(err)
}
