package sqlstore

import (
	"context"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// Enrollments of authenticators other than the phone (authenticator apps), one row
// each, at most one per user and authenticator (UNIQUE (user_id, authenticator)).

const enrollmentColumns = `id, user_id, authenticator, secret, last_used, created_at`

func enrollmentArgs(e store.Enrollment) []any {
	return []any{e.ID, e.UserID, e.Authenticator, e.Secret, e.LastUsed, millis(e.CreatedAt)}
}

func scanEnrollment(row rowScanner) (store.Enrollment, error) {
	var e store.Enrollment
	err := row.Scan(&e.ID, &e.UserID, &e.Authenticator, asBytes(&e.Secret), &e.LastUsed, asTime(&e.CreatedAt))
	return e, err
}

func (s *Store) CreateEnrollment(ctx context.Context, e store.Enrollment) error {
	_, err := s.writes.exec(ctx, `INSERT INTO enrollments (`+enrollmentColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`, enrollmentArgs(e)...)
	return s.dbError(err)
}

func (s *Store) GetEnrollment(ctx context.Context, id string) (store.Enrollment, error) {
	e, err := scanEnrollment(s.reads.queryRow(ctx, `SELECT `+enrollmentColumns+` FROM enrollments WHERE id = $1`, id))
	return e, s.dbError(err)
}

func (s *Store) ListEnrollments(ctx context.Context, userID string) ([]store.Enrollment, error) {
	return queryList(ctx, s, s.reads, scanEnrollment,
		`SELECT `+enrollmentColumns+` FROM enrollments WHERE user_id = $1 ORDER BY created_at, id`, userID)
}

// UpdateEnrollment runs fn under the row's write lock (FOR UPDATE in PostgreSQL,
// the single writer in SQLite), so that fn's check of LastUsed and the write of a
// higher one are one atomic step on every node.
func (s *Store) UpdateEnrollment(ctx context.Context, id string, fn func(store.Enrollment) (store.Enrollment, error)) (store.Enrollment, error) {
	return readModifyWrite(ctx, s,
		func(tx *wtx) (store.Enrollment, error) {
			return scanEnrollment(tx.QueryRowContext(ctx, `SELECT `+enrollmentColumns+` FROM enrollments WHERE id = $1`+s.d.LockRow, id))
		},
		fn,
		func(tx *wtx, current, next store.Enrollment) (store.Enrollment, error) {
			switch {
			case next.ID != current.ID:
				return next, keyChanged("enrollment", "ID")
			case next.UserID != current.UserID:
				return next, keyChanged("enrollment", "UserID")
			case next.Authenticator != current.Authenticator:
				return next, keyChanged("enrollment", "Authenticator")
			}
			return next, execOne(tx.ExecContext(ctx, `UPDATE enrollments SET secret = $2, last_used = $3, created_at = $4 WHERE id = $1`,
				next.ID, next.Secret, next.LastUsed, millis(next.CreatedAt)))
		})
}

func (s *Store) DeleteEnrollment(ctx context.Context, id string) error {
	return s.dbError(execOne(s.writes.exec(ctx, `DELETE FROM enrollments WHERE id = $1`, id)))
}
