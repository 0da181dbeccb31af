package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

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
	return readModifyWriteSavepoint(ctx, s,
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

// reserveThrottle counts units on one key in a single statement: an upsert whose
// UPDATE arm restarts the window when it has ended and otherwise adds the units.
// The row lock that ON CONFLICT DO UPDATE takes (and SQLite's single writer)
// serialises concurrent reservations of one key, so check and increment are one
// step. $1 key, $2 units, $3 now, $4 end of a window starting now, $5 the start at
// or before which a window has ended.
const reserveThrottle = `INSERT INTO throttles (throttle_key, count, window_start, last_at, expires_at)
	VALUES ($1, $2, $3, $3, $4)
	ON CONFLICT (throttle_key) DO UPDATE SET
		count = CASE WHEN throttles.window_start IS NULL OR throttles.window_start <= $5
			THEN $2 ELSE throttles.count + $2 END,
		window_start = CASE WHEN throttles.window_start IS NULL OR throttles.window_start <= $5
			THEN $3 ELSE throttles.window_start END,
		expires_at = CASE WHEN throttles.window_start IS NULL OR throttles.window_start <= $5
			THEN $4 ELSE throttles.expires_at END,
		last_at = $3
	RETURNING count, window_start`

func (s *Store) ReserveThrottles(ctx context.Context, now time.Time, rs []store.ThrottleReservation) ([]store.ThrottleResult, error) {
	results := make([]store.ThrottleResult, len(rs))
	// Lock keys in one order everywhere, so two callers reserving overlapping sets
	// of keys on PostgreSQL cannot deadlock.
	order := make([]int, len(rs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(rs[a].Key, rs[b].Key) })
	refused := false
	err := s.inTx(ctx, func(tx *wtx) error {
		for _, i := range order {
			r := rs[i]
			units := max(r.Units, 1)
			var start sql.NullInt64
			res := store.ThrottleResult{Key: r.Key}
			err := tx.QueryRowContext(ctx, reserveThrottle, r.Key, units, now.UnixMilli(),
				now.Add(r.Window).UnixMilli(), now.Add(-r.Window).UnixMilli()).Scan(&res.Count, &start)
			if err != nil {
				return err
			}
			res.WindowStart = fromMillis(start)
			res.Admitted = res.Count <= r.Max
			refused = refused || !res.Admitted
			results[i] = res
		}
		if refused {
			return callerError{errRefused}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errRefused) {
		return nil, err
	}
	if refused {
		// Nothing was kept: a key that fitted was only counted in the rolled-back
		// transaction. Its result still says it would have fitted.
		for i := range results {
			if results[i].Admitted {
				results[i].Count -= max(rs[i].Units, 1)
			}
		}
	}
	return results, nil
}

var errRefused = errors.New("throttle refused")

func (s *Store) DeleteThrottle(ctx context.Context, key string) error {
	_, err := s.writes.exec(ctx, `DELETE FROM throttles WHERE throttle_key = $1`, key)
	return s.dbError(err)
}

func (s *Store) DeleteThrottles(ctx context.Context, prefix string) (int64, error) {
	if prefix == "" {
		return 0, errors.New("sqlstore: DeleteThrottles needs a prefix")
	}
	// Compare the key's head, not LIKE, so that '%' and '_' in keys mean themselves,
	// and not a range, whose order would depend on PostgreSQL's collation.
	res, err := s.writes.exec(ctx, `DELETE FROM throttles WHERE substr(throttle_key, 1, $2) = $1`, prefix, utf8.RuneCountInString(prefix))
	if err != nil {
		return 0, s.dbError(err)
	}
	n, err := res.RowsAffected()
	return n, s.dbError(err)
}
