package sqlstore

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// ---- a sign-in's reads in one statement ----
//
// A step of a sign-in needs the transaction, its user, the user's password hash,
// phones and other enrollments, and the status of the code's message: six reads
// through the role stores. The queries here bring them in one, the lists
// aggregated into JSON arrays (Dialect.JSONArrayAgg) beside the user's row.

// prefixed is a column list with each column qualified by alias.
func prefixed(alias, columns string) string {
	return alias + "." + strings.ReplaceAll(columns, ", ", ", "+alias+".")
}

// factorLists are the subqueries aggregating the phones and enrollments of the
// user whose id is userID (a column).
func (s *Store) factorLists(userID string) string {
	agg := func(row, from string) string {
		return "(SELECT " + fmt.Sprintf(s.d.JSONArrayAgg, s.d.JSONArray+"("+row+")") + " FROM " + from + " WHERE x.user_id = " + userID + ")"
	}
	return agg("x.id, x.phone_number, x.sms, x.voice, x.created_at", "phone_enrollments x") + ", " +
		agg("x.id, x.authenticator, x.last_used, x.created_at", "enrollments x")
}

// accountQueries are the one-statement reads, written once for the store's
// dialect (New).
type accountQueries struct {
	byID, byLogin, byToken, signIn string
}

func (s *Store) accountQueries() accountQueries {
	account := func(extra, where string) string {
		return `SELECT ` + prefixed("u", userColumns) + `, pw.hash, ` + s.factorLists("u.id") + extra +
			` FROM users u LEFT JOIN passwords pw ON pw.user_id = u.id WHERE ` + where
	}
	challenge := fmt.Sprintf(s.d.JSONField, "t.data", "challenge_id")
	return accountQueries{
		byID:    account("", `u.id = $1`),
		byLogin: account("", `u.login = $1`),
		// The token's revocation test beside its user's row ($2 is the user).
		byToken: account(`, `+tokenRevoked, `u.id = $2`),
		signIn: `SELECT ` + prefixed("t", transactionColumns) + `, ` + prefixed("u", userColumns) + `, NULL, ` +
			s.factorLists("u.id") + `, (SELECT m.status FROM outbox_messages m WHERE m.challenge_id = ` + challenge +
			` ORDER BY m.created_at DESC, m.id DESC LIMIT 1)
			FROM transactions t LEFT JOIN users u ON u.id = t.user_id WHERE t.state_handle_hash = $1`,
	}
}

func (s *Store) GetAccount(ctx context.Context, userID string) (store.Account, error) {
	return s.getAccount(ctx, s.q.byID, userID)
}

func (s *Store) GetAccountByLogin(ctx context.Context, login string) (store.Account, error) {
	return s.getAccount(ctx, s.q.byLogin, login)
}

func (s *Store) getAccount(ctx context.Context, query, arg string) (store.Account, error) {
	var a accountColumns
	if err := s.reads.queryRow(ctx, query, arg).Scan(a.dest()...); err != nil {
		return store.Account{}, s.dbError(err)
	}
	acct, err := a.account()
	if err != nil || acct == nil {
		return store.Account{}, cmp.Or(err, store.ErrNotFound)
	}
	return *acct, nil
}

func (s *Store) GetSignIn(ctx context.Context, stateHandleHash string) (store.SignIn, error) {
	if stateHandleHash == "" { // empty handle hashes are stored as NULL and match nothing
		return store.SignIn{}, store.ErrNotFound
	}
	var (
		in     store.SignIn
		data   string
		a      accountColumns
		status sql.NullString
	)
	dest := append(append(transactionDest(&in.Transaction, &data), a.dest()...), &status)
	if err := s.reads.queryRow(ctx, s.q.signIn, stateHandleHash).Scan(dest...); err != nil {
		return store.SignIn{}, s.dbError(err)
	}
	if err := decodeTransactionData(&in.Transaction, data); err != nil {
		return store.SignIn{}, err
	}
	acct, err := a.account()
	if err != nil {
		return store.SignIn{}, err
	}
	in.Account, in.MessageStatus = acct, store.MessageStatus(status.String)
	return in, nil
}

// accountColumns scans the user's columns (NULL when a transaction has no user),
// the password hash and the two factor lists.
type accountColumns struct {
	id, login, email, givenName, familyName, locale, status sql.NullString
	disabled                                                sql.NullBool
	createdAt, updatedAt, statusChangedAt, activatedAt      sql.NullInt64
	passwordHash                                            sql.NullString
	phones, enrollments                                     sql.NullString
}

func (a *accountColumns) dest() []any {
	return []any{&a.id, &a.login, &a.email, &a.givenName, &a.familyName, &a.locale, &a.disabled,
		&a.createdAt, &a.updatedAt, &a.status, &a.statusChangedAt, &a.activatedAt,
		&a.passwordHash, &a.phones, &a.enrollments}
}

// account is the scanned account, or nil when the row had no user.
func (a *accountColumns) account() (*store.Account, error) {
	if !a.id.Valid {
		return nil, nil
	}
	acct := &store.Account{User: store.User{
		ID: a.id.String, Login: a.login.String, Email: a.email.String, GivenName: a.givenName.String,
		FamilyName: a.familyName.String, Locale: a.locale.String, Disabled: a.disabled.Bool,
		Status: store.UserStatus(a.status.String), CreatedAt: fromMillis(a.createdAt), UpdatedAt: fromMillis(a.updatedAt),
		StatusChangedAt: fromMillis(a.statusChangedAt), ActivatedAt: fromMillis(a.activatedAt),
	}, PasswordHash: a.passwordHash.String}
	var phones []phoneRow
	if err := decodeRows(a.phones.String, &phones, (*phoneRow).fields); err != nil {
		return nil, fmt.Errorf("sqlstore: the phones of user %s: %w", acct.User.ID, err)
	}
	for _, p := range phones {
		acct.Phones = append(acct.Phones, store.PhoneEnrollment{ID: p.ID, UserID: acct.User.ID, Number: p.Number,
			SMS: bool(p.SMS), Voice: bool(p.Voice), CreatedAt: fromMillis(p.CreatedAt)})
	}
	var enrollments []enrollmentRow
	if err := decodeRows(a.enrollments.String, &enrollments, (*enrollmentRow).fields); err != nil {
		return nil, fmt.Errorf("sqlstore: the enrollments of user %s: %w", acct.User.ID, err)
	}
	for _, e := range enrollments {
		acct.Enrollments = append(acct.Enrollments, store.Enrollment{ID: e.ID, UserID: acct.User.ID,
			Authenticator: e.Authenticator, LastUsed: e.LastUsed, CreatedAt: fromMillis(e.CreatedAt)})
	}
	// The order of ListPhoneEnrollments and ListEnrollments: oldest first, ties by id.
	slices.SortFunc(acct.Phones, func(x, y store.PhoneEnrollment) int {
		return cmp.Or(x.CreatedAt.Compare(y.CreatedAt), strings.Compare(x.ID, y.ID))
	})
	slices.SortFunc(acct.Enrollments, func(x, y store.Enrollment) int {
		return cmp.Or(x.CreatedAt.Compare(y.CreatedAt), strings.Compare(x.ID, y.ID))
	})
	return acct, nil
}

// phoneRow and enrollmentRow are the members of factorLists' JSON arrays, in order.
type phoneRow struct {
	ID, Number string
	SMS, Voice jsonBool
	CreatedAt  sql.NullInt64
}

func (p *phoneRow) fields() []any { return []any{&p.ID, &p.Number, &p.SMS, &p.Voice, &p.CreatedAt} }

type enrollmentRow struct {
	ID, Authenticator string
	LastUsed          int64
	CreatedAt         sql.NullInt64
}

func (e *enrollmentRow) fields() []any {
	return []any{&e.ID, &e.Authenticator, &e.LastUsed, &e.CreatedAt}
}

// decodeRows decodes a JSON array of arrays (JSONArrayAgg of JSONArray) into
// *out, each inner array's members into the fields fields gives.
func decodeRows[T any](text string, out *[]T, fields func(*T) []any) error {
	if text == "" {
		return nil
	}
	var rows []json.RawMessage
	if err := json.Unmarshal([]byte(text), &rows); err != nil {
		return err
	}
	for _, raw := range rows {
		var members []json.RawMessage
		if err := json.Unmarshal(raw, &members); err != nil {
			return err
		}
		var v T
		dst := fields(&v)
		if len(members) != len(dst) {
			return fmt.Errorf("a row of %d values, want %d", len(members), len(dst))
		}
		for i, m := range members {
			if err := decodeMember(m, dst[i]); err != nil {
				return err
			}
		}
		*out = append(*out, v)
	}
	return nil
}

func decodeMember(m json.RawMessage, dst any) error {
	if n, ok := dst.(*sql.NullInt64); ok {
		if bytes.Equal(m, []byte("null")) {
			*n = sql.NullInt64{}
			return nil
		}
		n.Valid = true
		return json.Unmarshal(m, &n.Int64)
	}
	return json.Unmarshal(m, dst)
}

// jsonBool is a boolean column in JSON: true/false from PostgreSQL, 1/0 from
// SQLite, which has no boolean type.
type jsonBool bool

func (b *jsonBool) UnmarshalJSON(data []byte) error {
	switch string(data) {
	case "true", "1":
		*b = true
	case "false", "0":
		*b = false
	default:
		return fmt.Errorf("not a boolean: %s", data)
	}
	return nil
}
