package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// A transaction row has columns only for what the store searches by or maintains
// (id, the handle hashes, user_id for DeleteUser, expires_at for GarbageCollect,
// revision); every other field is in the JSON column data. The sign-in flow is
// where new fields appear most often, and this way they need no schema migration.
// Transactions live for minutes, so rows written by an older binary never need
// converting: a field they lack reads as its zero value.

// transactionData is the JSON of the data column. Times are unix milliseconds,
// absent when zero, as in the time columns.
type transactionData struct {
	ClientID            string     `json:"client_id,omitempty"`
	RedirectURI         string     `json:"redirect_uri,omitempty"`
	Scopes              []string   `json:"scopes,omitempty"`
	CodeChallenge       string     `json:"code_challenge,omitempty"`
	State               string     `json:"state,omitempty"`
	Nonce               string     `json:"nonce,omitempty"`
	GrantType           string     `json:"grant_type,omitempty"`
	ResponseMode        string     `json:"response_mode,omitempty"`
	Step                store.Step `json:"step,omitempty"`
	AuthTime            *int64     `json:"auth_time,omitempty"`
	AMR                 []string   `json:"amr,omitempty"`
	EnrollmentID        string     `json:"enrollment_id,omitempty"`
	Method              string     `json:"method,omitempty"`
	PendingPhone        string     `json:"pending_phone,omitempty"`
	ChallengeID         string     `json:"challenge_id,omitempty"`
	LastSentAt          *int64     `json:"last_sent_at,omitempty"`
	InteractionCodeHash string     `json:"interaction_code_hash,omitempty"`
	Flow                string     `json:"flow,omitempty"`
	Authenticator       string     `json:"authenticator,omitempty"`
	// Pending is a JSON object of strings; an empty map is left out, and read
	// back as nil.
	Pending   map[string]string `json:"pending,omitempty"`
	CreatedAt *int64            `json:"created_at,omitempty"`
	UpdatedAt *int64            `json:"updated_at,omitempty"`
}

func jsonMillis(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	ms := t.UnixMilli()
	return &ms
}

func fromJSONMillis(ms *int64) time.Time {
	if ms == nil {
		return time.Time{}
	}
	return fromMillis(sql.NullInt64{Int64: *ms, Valid: true})
}

const transactionColumns = `id, interaction_handle_hash, state_handle_hash, user_id, expires_at, revision, data`

func transactionArgs(t store.Transaction) ([]any, error) {
	data, err := json.Marshal(transactionData{
		ClientID: t.ClientID, RedirectURI: t.RedirectURI, Scopes: t.Scopes, CodeChallenge: t.CodeChallenge,
		State: t.State, Nonce: t.Nonce, GrantType: t.GrantType, ResponseMode: t.ResponseMode, Step: t.Step, AuthTime: jsonMillis(t.AuthTime), AMR: t.AMR,
		EnrollmentID: t.EnrollmentID, Method: t.Method, PendingPhone: t.PendingPhone, ChallengeID: t.ChallengeID,
		LastSentAt: jsonMillis(t.LastSentAt), InteractionCodeHash: t.InteractionCodeHash,
		Flow: t.Flow, Authenticator: t.Authenticator, Pending: t.Pending,
		CreatedAt: jsonMillis(t.CreatedAt), UpdatedAt: jsonMillis(t.UpdatedAt),
	})
	if err != nil {
		return nil, err
	}
	return []any{t.ID, nullIfEmpty(t.InteractionHandleHash), nullIfEmpty(t.StateHandleHash), nullIfEmpty(t.UserID),
		millis(t.ExpiresAt), t.Revision, string(data)}, nil
}

func scanTransaction(row rowScanner) (store.Transaction, error) {
	var t store.Transaction
	var data string
	if err := row.Scan(transactionDest(&t, &data)...); err != nil {
		return t, err
	}
	return t, decodeTransactionData(&t, data)
}

// transactionDest are the scan destinations of transactionColumns: t's columns,
// and data for decodeTransactionData.
func transactionDest(t *store.Transaction, data *string) []any {
	return []any{&t.ID, asString(&t.InteractionHandleHash), asString(&t.StateHandleHash), asString(&t.UserID),
		asTime(&t.ExpiresAt), &t.Revision, data}
}

// decodeTransactionData fills t from its data column.
func decodeTransactionData(t *store.Transaction, data string) error {
	var d transactionData
	if err := json.Unmarshal([]byte(data), &d); err != nil {
		return fmt.Errorf("transaction %s: data column: %w", t.ID, err)
	}
	t.ClientID, t.RedirectURI, t.Scopes, t.CodeChallenge = d.ClientID, d.RedirectURI, d.Scopes, d.CodeChallenge
	t.State, t.Nonce, t.Step, t.AuthTime, t.AMR = d.State, d.Nonce, d.Step, fromJSONMillis(d.AuthTime), d.AMR
	t.GrantType, t.ResponseMode = d.GrantType, d.ResponseMode
	t.EnrollmentID, t.Method, t.PendingPhone, t.ChallengeID = d.EnrollmentID, d.Method, d.PendingPhone, d.ChallengeID
	t.LastSentAt, t.InteractionCodeHash = fromJSONMillis(d.LastSentAt), d.InteractionCodeHash
	t.Flow, t.Authenticator = d.Flow, d.Authenticator
	if len(d.Pending) > 0 {
		t.Pending = d.Pending
	}
	t.CreatedAt, t.UpdatedAt = fromJSONMillis(d.CreatedAt), fromJSONMillis(d.UpdatedAt)
	return nil
}

func (s *Store) CreateTransaction(ctx context.Context, t store.Transaction) error {
	args, err := transactionArgs(t)
	if err != nil {
		return err
	}
	_, err = s.writes.exec(ctx, `INSERT INTO transactions (`+transactionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`, args...)
	return s.dbError(err)
}

func (s *Store) getTransaction(ctx context.Context, column, value string) (store.Transaction, error) {
	if value == "" { // empty handle hashes are stored as NULL and match nothing
		return store.Transaction{}, store.ErrNotFound
	}
	t, err := scanTransaction(s.reads.queryRow(ctx, `SELECT `+transactionColumns+` FROM transactions WHERE `+column+` = $1`, value))
	return t, s.dbError(err)
}

func (s *Store) GetTransaction(ctx context.Context, id string) (store.Transaction, error) {
	return s.getTransaction(ctx, "id", id)
}

func (s *Store) GetTransactionByStateHandle(ctx context.Context, stateHandleHash string) (store.Transaction, error) {
	return s.getTransaction(ctx, "state_handle_hash", stateHandleHash)
}

func (s *Store) GetTransactionByInteractionHandle(ctx context.Context, interactionHandleHash string) (store.Transaction, error) {
	return s.getTransaction(ctx, "interaction_handle_hash", interactionHandleHash)
}

// UpdateTransaction stores what fn returns with Revision set to the stored one plus
// one, whatever fn put there.
func (s *Store) UpdateTransaction(ctx context.Context, id string, fn func(store.Transaction) (store.Transaction, error)) (store.Transaction, error) {
	return readModifyWrite(ctx, s,
		func(tx *wtx) (store.Transaction, error) {
			return scanTransaction(tx.QueryRowContext(ctx, `SELECT `+transactionColumns+` FROM transactions WHERE id = $1`+s.d.LockRow, id))
		},
		fn,
		func(tx *wtx, current, next store.Transaction) (store.Transaction, error) {
			switch {
			case next.ID != current.ID:
				return next, keyChanged("transaction", "ID")
			case next.InteractionHandleHash != current.InteractionHandleHash:
				return next, keyChanged("transaction", "InteractionHandleHash")
			case next.StateHandleHash != current.StateHandleHash:
				return next, keyChanged("transaction", "StateHandleHash")
			}
			next.Revision = current.Revision + 1
			args, err := transactionArgs(next)
			if err != nil {
				return next, err
			}
			// The handle hashes (args[1:3]) are unchanged, checked above.
			id, userID, expiresAt, revision, data := args[0], args[3], args[4], args[5], args[6]
			return next, execOne(tx.ExecContext(ctx, `UPDATE transactions SET user_id = $2, expires_at = $3, revision = $4, data = $5
				WHERE id = $1`, id, userID, expiresAt, revision, data))
		})
}

func (s *Store) DeleteTransaction(ctx context.Context, id string) error {
	return s.dbError(execOne(s.writes.exec(ctx, `DELETE FROM transactions WHERE id = $1`, id)))
}
