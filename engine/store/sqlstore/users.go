package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

const userColumns = `id, login, email, given_name, family_name, locale, disabled, created_at, updated_at, status, status_changed_at, activated_at`

func userArgs(u store.User) []any {
	return []any{u.ID, u.Login, u.Email, u.GivenName, u.FamilyName, u.Locale, u.Disabled, millis(u.CreatedAt), millis(u.UpdatedAt),
		string(u.Status), millis(u.StatusChangedAt), millis(u.ActivatedAt)}
}

func scanUser(row rowScanner) (store.User, error) {
	var u store.User
	err := row.Scan(&u.ID, &u.Login, &u.Email, &u.GivenName, &u.FamilyName, &u.Locale, &u.Disabled,
		asTime(&u.CreatedAt), asTime(&u.UpdatedAt), (*string)(&u.Status), asTime(&u.StatusChangedAt), asTime(&u.ActivatedAt))
	return u, err
}

func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	_, err := s.writes.exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, userArgs(u)...)
	return s.dbError(err)
}

func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.reads.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	return u, s.dbError(err)
}

func (s *Store) GetUserByLogin(ctx context.Context, login string) (store.User, error) {
	u, err := scanUser(s.reads.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE login = $1`, login))
	return u, s.dbError(err)
}

// ListUsers pages by login in byte order (the login column is COLLATE "C" in
// PostgreSQL; SQLite compares bytes), so that pages neither skip nor repeat users
// whatever the database's locale. Filters walk the same login order and stop at the
// limit: a prefix that few users have reads many rows to fill a page.
func (s *Store) ListUsers(ctx context.Context, opts store.ListUsersOptions) ([]store.User, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = 100
	}
	query := `SELECT ` + userColumns + ` FROM users WHERE login > $1`
	args := []any{opts.AfterLogin, limit}
	if opts.Prefix != "" {
		like := cmp.Or(s.d.ASCIIFoldLike, " LIKE")
		args = append(args, likePrefix(opts.Prefix))
		p := fmt.Sprintf("$%d ESCAPE '\\'", len(args))
		query += ` AND (login` + like + ` ` + p + ` OR email` + like + ` ` + p +
			` OR given_name` + like + ` ` + p + ` OR family_name` + like + ` ` + p + `)`
	}
	if opts.Disabled != nil {
		args = append(args, *opts.Disabled)
		query += fmt.Sprintf(` AND disabled = $%d`, len(args))
	}
	if opts.Status != "" {
		// store.User.State in SQL: disabled decides whether the state refuses
		// sign-in, status which one.
		refusing := string(store.UserStaged) + "', '" + string(store.UserSuspended)
		var cond string
		switch opts.Status {
		case store.UserActive:
			cond = `disabled = $%d AND status <> '` + string(store.UserPasswordExpired) + `'`
		case store.UserPasswordExpired:
			cond = `disabled = $%d AND status = '` + string(store.UserPasswordExpired) + `'`
		case store.UserStaged, store.UserSuspended:
			cond = `disabled = $%d AND status = '` + string(opts.Status) + `'`
		case store.UserDeprovisioned:
			cond = `disabled = $%d AND status NOT IN ('` + refusing + `')`
		default:
			return nil, fmt.Errorf("sqlstore: ListUsers: unknown status %q", opts.Status)
		}
		args = append(args, opts.Status.RefusesSignIn())
		query += ` AND ` + fmt.Sprintf(cond, len(args))
	}
	return queryList(ctx, s, s.reads, scanUser, query+` ORDER BY login LIMIT $2`, args...)
}

// likePrefix is a LIKE pattern (with ESCAPE '\') matching every text that starts
// with prefix.
func likePrefix(prefix string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix) + "%"
}

func (s *Store) UpdateUser(ctx context.Context, id string, fn func(store.User) (store.User, error)) (store.User, error) {
	return readModifyWrite(ctx, s,
		func(tx *wtx) (store.User, error) {
			return scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`+s.d.LockRow, id))
		},
		fn,
		func(tx *wtx, current, next store.User) (store.User, error) {
			if next.ID != current.ID {
				return next, keyChanged("user", "ID")
			}
			return next, execOne(tx.ExecContext(ctx, `UPDATE users SET login = $2, email = $3, given_name = $4,
				family_name = $5, locale = $6, disabled = $7, created_at = $8, updated_at = $9, status = $10,
				status_changed_at = $11, activated_at = $12 WHERE id = $1`,
				userArgs(next)...))
		})
}

// DeleteUser deletes the user and, in the same transaction, what only makes sense
// with them. Passwords, phones and other enrollments would also go by ON DELETE
// CASCADE; deleting them here too keeps the whole list in one place.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.inTx(ctx, func(tx *wtx) error {
		for _, table := range []string{"passwords", "phone_enrollments", "pending_phones", "enrollments", "refresh_tokens", "transactions"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE user_id = $1`, id); err != nil {
				return err
			}
		}
		return execOne(tx.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id))
	})
}

// importBatchRows is how many rows one INSERT of ImportUsers carries. Bigger batches
// mean fewer statements; 100 rows of users' 12 columns stay far below both databases'
// limits on parameters per statement (SQLite 32766, PostgreSQL 65535).
const importBatchRows = 100

// ImportUsers inserts all records in one database transaction, so a failure leaves
// nothing behind, with multi-row INSERTs from prepared statements (see batchInserter).
// Users go in before the passwords and phones that point at them.
//
// Callers seeding many users should pass large slices (100,000 or more): with ids and
// logins in no particular order every commit rewrites pages all over the tables, so
// a million users take about three times longer in calls of 10,000 than in calls of
// 100,000 (measured on SQLite; see BenchmarkImportUsers).
func (s *Store) ImportUsers(ctx context.Context, records []store.UserRecord) error {
	for i, r := range records {
		if r.Password != nil && r.Password.UserID != "" && r.Password.UserID != r.User.ID {
			return fmt.Errorf("sqlstore: ImportUsers: record %d: password belongs to %q, not %q", i, r.Password.UserID, r.User.ID)
		}
		for _, p := range r.Phones {
			if p.UserID != "" && p.UserID != r.User.ID {
				return fmt.Errorf("sqlstore: ImportUsers: record %d: phone %q belongs to %q, not %q", i, p.ID, p.UserID, r.User.ID)
			}
		}
	}
	if len(records) == 0 {
		return nil
	}
	// In user id order, users and passwords (keyed by user id) and SQLite's phones
	// (keyed by user id first) are appended to their b-trees rather than scattered
	// over them: far fewer pages to find, change and write. The order is kept apart
	// so that the caller's slice stays as it was.
	order := make([]int, len(records))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(records[a].User.ID, records[b].User.ID) })
	return s.inTx(ctx, func(tx *wtx) error {
		users := newBatchInserter(tx.Tx, s.d, "users", userColumns, importBatchRows)
		passwords := newBatchInserter(tx.Tx, s.d, "passwords", passwordColumns, importBatchRows)
		phones := newBatchInserter(tx.Tx, s.d, "phone_enrollments", phoneColumns, importBatchRows)
		defer users.close()
		defer passwords.close()
		defer phones.close()

		// Chunks of whole batches: every user of a chunk is written before any of
		// its passwords and phones, which the foreign keys require.
		const chunk = 10 * importBatchRows
		for start := 0; start < len(order); start += chunk {
			part := make([]*store.UserRecord, 0, chunk)
			for _, i := range order[start:min(start+chunk, len(order))] {
				part = append(part, &records[i])
			}
			for _, r := range part {
				if err := users.add(ctx, userArgs(r.User)...); err != nil {
					return err
				}
			}
			if err := users.flush(ctx); err != nil {
				return err
			}
			for _, r := range part {
				if r.Password == nil {
					continue
				}
				p := *r.Password
				p.UserID = r.User.ID
				if err := passwords.add(ctx, passwordArgs(p)...); err != nil {
					return err
				}
			}
			for _, r := range part {
				for _, p := range r.Phones {
					p.UserID = r.User.ID
					if err := phones.add(ctx, phoneArgs(p)...); err != nil {
						return err
					}
				}
			}
			if err := passwords.flush(ctx); err != nil {
				return err
			}
			if err := phones.flush(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}

// ---- passwords ----

const passwordColumns = `user_id, hash, updated_at`

func passwordArgs(c store.PasswordCredential) []any {
	return []any{c.UserID, c.Hash, millis(c.UpdatedAt)}
}

func (s *Store) SetPassword(ctx context.Context, c store.PasswordCredential) error {
	_, err := s.writes.exec(ctx, `INSERT INTO passwords (`+passwordColumns+`) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at`,
		passwordArgs(c)...)
	return s.dbError(err)
}

func (s *Store) GetPassword(ctx context.Context, userID string) (store.PasswordCredential, error) {
	var c store.PasswordCredential
	err := s.reads.queryRow(ctx, `SELECT `+passwordColumns+` FROM passwords WHERE user_id = $1`, userID).
		Scan(&c.UserID, &c.Hash, asTime(&c.UpdatedAt))
	return c, s.dbError(err)
}

// ---- phones ----

const phoneColumns = `id, user_id, phone_number, sms, voice, created_at`

func phoneArgs(e store.PhoneEnrollment) []any {
	return []any{e.ID, e.UserID, e.Number, e.SMS, e.Voice, millis(e.CreatedAt)}
}

func scanPhone(row rowScanner) (store.PhoneEnrollment, error) {
	var e store.PhoneEnrollment
	err := row.Scan(&e.ID, &e.UserID, &e.Number, &e.SMS, &e.Voice, asTime(&e.CreatedAt))
	return e, err
}

func (s *Store) CreatePhoneEnrollment(ctx context.Context, e store.PhoneEnrollment) error {
	_, err := s.writes.exec(ctx, `INSERT INTO phone_enrollments (`+phoneColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`, phoneArgs(e)...)
	return s.dbError(err)
}

func (s *Store) GetPhoneEnrollment(ctx context.Context, id string) (store.PhoneEnrollment, error) {
	e, err := scanPhone(s.reads.queryRow(ctx, `SELECT `+phoneColumns+` FROM phone_enrollments WHERE id = $1`, id))
	return e, s.dbError(err)
}

func (s *Store) ListPhoneEnrollments(ctx context.Context, userID string) ([]store.PhoneEnrollment, error) {
	return queryList(ctx, s, s.reads, scanPhone,
		`SELECT `+phoneColumns+` FROM phone_enrollments WHERE user_id = $1 ORDER BY created_at, id`, userID)
}

func (s *Store) UpdatePhoneEnrollment(ctx context.Context, id string, fn func(store.PhoneEnrollment) (store.PhoneEnrollment, error)) (store.PhoneEnrollment, error) {
	return readModifyWrite(ctx, s,
		func(tx *wtx) (store.PhoneEnrollment, error) {
			return scanPhone(tx.QueryRowContext(ctx, `SELECT `+phoneColumns+` FROM phone_enrollments WHERE id = $1`+s.d.LockRow, id))
		},
		fn,
		func(tx *wtx, current, next store.PhoneEnrollment) (store.PhoneEnrollment, error) {
			switch {
			case next.ID != current.ID:
				return next, keyChanged("phone enrollment", "ID")
			case next.UserID != current.UserID:
				return next, keyChanged("phone enrollment", "UserID")
			case next.Number != current.Number:
				return next, keyChanged("phone enrollment", "Number")
			}
			return next, execOne(tx.ExecContext(ctx, `UPDATE phone_enrollments SET sms = $2, voice = $3, created_at = $4 WHERE id = $1`,
				next.ID, next.SMS, next.Voice, millis(next.CreatedAt)))
		})
}

func (s *Store) DeletePhoneEnrollment(ctx context.Context, id string) error {
	return s.dbError(execOne(s.writes.exec(ctx, `DELETE FROM phone_enrollments WHERE id = $1`, id)))
}

// ---- pending phones ----

const pendingPhoneColumns = `id, user_id, phone_number, method, challenge_id, created_at, updated_at`

func pendingPhoneArgs(p store.PendingPhone) []any {
	return []any{p.ID, p.UserID, p.Number, p.Method, p.ChallengeID, millis(p.CreatedAt), millis(p.UpdatedAt)}
}

func scanPendingPhone(row rowScanner) (store.PendingPhone, error) {
	var p store.PendingPhone
	err := row.Scan(&p.ID, &p.UserID, &p.Number, &p.Method, &p.ChallengeID, asTime(&p.CreatedAt), asTime(&p.UpdatedAt))
	return p, err
}

func (s *Store) CreatePendingPhone(ctx context.Context, p store.PendingPhone) error {
	_, err := s.writes.exec(ctx, `INSERT INTO pending_phones (`+pendingPhoneColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`, pendingPhoneArgs(p)...)
	return s.dbError(err)
}

func (s *Store) GetPendingPhone(ctx context.Context, id string) (store.PendingPhone, error) {
	p, err := scanPendingPhone(s.reads.queryRow(ctx, `SELECT `+pendingPhoneColumns+` FROM pending_phones WHERE id = $1`, id))
	return p, s.dbError(err)
}

func (s *Store) ListPendingPhones(ctx context.Context, userID string) ([]store.PendingPhone, error) {
	return queryList(ctx, s, s.reads, scanPendingPhone,
		`SELECT `+pendingPhoneColumns+` FROM pending_phones WHERE user_id = $1 ORDER BY created_at, id`, userID)
}

func (s *Store) UpdatePendingPhone(ctx context.Context, id string, fn func(store.PendingPhone) (store.PendingPhone, error)) (store.PendingPhone, error) {
	return readModifyWrite(ctx, s,
		func(tx *wtx) (store.PendingPhone, error) {
			return scanPendingPhone(tx.QueryRowContext(ctx, `SELECT `+pendingPhoneColumns+` FROM pending_phones WHERE id = $1`+s.d.LockRow, id))
		},
		fn,
		func(tx *wtx, current, next store.PendingPhone) (store.PendingPhone, error) {
			switch {
			case next.ID != current.ID:
				return next, keyChanged("pending phone", "ID")
			case next.UserID != current.UserID:
				return next, keyChanged("pending phone", "UserID")
			case next.Method != current.Method:
				return next, keyChanged("pending phone", "Method")
			}
			return next, execOne(tx.ExecContext(ctx, `UPDATE pending_phones SET phone_number = $2, challenge_id = $3,
				created_at = $4, updated_at = $5 WHERE id = $1`,
				next.ID, next.Number, next.ChallengeID, millis(next.CreatedAt), millis(next.UpdatedAt)))
		})
}

func (s *Store) DeletePendingPhone(ctx context.Context, id string) error {
	return s.dbError(execOne(s.writes.exec(ctx, `DELETE FROM pending_phones WHERE id = $1`, id)))
}
