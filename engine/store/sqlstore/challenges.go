package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// ---- challenges ----

const challengeColumns = `id, transaction_id, user_id, phone_number, method, code_mac, created_at, expires_at, consumed_at, invalidated`

func challengeArgs(c store.Challenge) []any {
	return []any{c.ID, c.TransactionID, c.UserID, c.Phone, c.Method, c.CodeMAC,
		millis(c.CreatedAt), millis(c.ExpiresAt), millis(c.ConsumedAt), c.Invalidated}
}

func scanChallenge(row rowScanner) (store.Challenge, error) {
	var c store.Challenge
	err := row.Scan(&c.ID, &c.TransactionID, &c.UserID, &c.Phone, &c.Method, asBytes(&c.CodeMAC),
		asTime(&c.CreatedAt), asTime(&c.ExpiresAt), asTime(&c.ConsumedAt), &c.Invalidated)
	return c, err
}

// invalidateOpenChallenges marks the transaction's open challenges — neither
// consumed nor already invalidated — invalidated, except the one with id except.
const invalidateOpenChallenges = `UPDATE challenges SET invalidated = $3
	WHERE transaction_id = $1 AND id <> $2 AND consumed_at IS NULL AND invalidated = $4`

// CreateChallenge inserts the challenge first, so that a duplicate id fails before
// anything else changes; the whole transaction rolls back on any failure anyway.
// A message queued without a Status is pending.
func (s *Store) CreateChallenge(ctx context.Context, c store.Challenge, msg *store.Message) error {
	return s.inTx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO challenges (`+challengeColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, challengeArgs(c)...); err != nil {
			return err
		}
		// A challenge outside any transaction has no siblings; "" must not match
		// every other such challenge.
		if c.TransactionID != "" {
			if _, err := tx.ExecContext(ctx, invalidateOpenChallenges, c.TransactionID, c.ID, true, false); err != nil {
				return err
			}
		}
		if msg == nil {
			return nil
		}
		m := *msg
		if m.Status == "" {
			m.Status = store.MessagePending
		}
		_, err := tx.ExecContext(ctx, insertMessage, messageArgs(m)...)
		return err
	})
}

func (s *Store) GetChallenge(ctx context.Context, id string) (store.Challenge, error) {
	c, err := scanChallenge(s.reads.queryRow(ctx, `SELECT `+challengeColumns+` FROM challenges WHERE id = $1`, id))
	return c, s.dbError(err)
}

func (s *Store) UpdateChallenge(ctx context.Context, id string, fn func(store.Challenge) (store.Challenge, error)) (store.Challenge, error) {
	return readModifyWrite(ctx, s,
		func(tx *wtx) (store.Challenge, error) {
			return scanChallenge(tx.QueryRowContext(ctx, `SELECT `+challengeColumns+` FROM challenges WHERE id = $1`+s.d.LockRow, id))
		},
		fn,
		func(tx *wtx, current, next store.Challenge) (store.Challenge, error) {
			if next.ID != current.ID {
				return next, keyChanged("challenge", "ID")
			}
			return next, execOne(tx.ExecContext(ctx, `UPDATE challenges SET transaction_id = $2, user_id = $3,
				phone_number = $4, method = $5, code_mac = $6, created_at = $7, expires_at = $8, consumed_at = $9,
				invalidated = $10 WHERE id = $1`, challengeArgs(next)...))
		})
}

func (s *Store) InvalidateChallenges(ctx context.Context, transactionID string) error {
	if transactionID == "" {
		return nil
	}
	// No challenge has the empty id, so "except" excepts nothing.
	_, err := s.writes.exec(ctx, invalidateOpenChallenges, transactionID, "", true, false)
	return s.dbError(err)
}

// ---- outbox ----

// finished_at is not part of store.Message: the store derives it (see
// messageFinishedAt) so that GarbageCollect can find messages finished long enough ago
// with one indexed comparison.
const messageColumns = `id, challenge_id, recipient, channel, body, code, status, attempts, next_attempt_at,
	lease_until, provider_id, last_error, created_at, sent_at, finished_at, transaction_id, user_id`

// insertMessage queues one message (messageArgs).
const insertMessage = `INSERT INTO outbox_messages (` + messageColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`

// messageFinishedAt is when a sent or failed message was finished, as far as the
// store can tell: SentAt if set, otherwise the latest instant the message records (a
// worker gives up after its last attempt's lease or schedule). Nil while the message
// is still to be delivered.
func messageFinishedAt(m store.Message) any {
	if m.Status != store.MessageSent && m.Status != store.MessageFailed {
		return nil
	}
	if !m.SentAt.IsZero() {
		return millis(m.SentAt)
	}
	latest := m.CreatedAt
	for _, t := range []time.Time{m.NextAttemptAt, m.LeaseUntil} {
		if t.After(latest) {
			latest = t
		}
	}
	if latest.IsZero() {
		// Nothing to go by: treat it as finished long ago rather than keep it forever.
		return int64(0)
	}
	return millis(latest)
}

func messageArgs(m store.Message) []any {
	return []any{m.ID, m.ChallengeID, m.To, m.Channel, m.Body, m.Code, string(m.Status), m.Attempts,
		millis(m.NextAttemptAt), millis(m.LeaseUntil), m.ProviderID, m.LastError, millis(m.CreatedAt), millis(m.SentAt),
		messageFinishedAt(m), m.TransactionID, m.UserID}
}

func scanMessage(row rowScanner) (store.Message, error) {
	var m store.Message
	var finishedAt time.Time // derived, see messageFinishedAt
	err := row.Scan(&m.ID, &m.ChallengeID, &m.To, &m.Channel, &m.Body, &m.Code, &m.Status, &m.Attempts,
		asTime(&m.NextAttemptAt), asTime(&m.LeaseUntil), &m.ProviderID, &m.LastError, asTime(&m.CreatedAt), asTime(&m.SentAt),
		asTime(&finishedAt), &m.TransactionID, &m.UserID)
	return m, err
}

// ClaimMessages claims in one UPDATE … RETURNING, oldest messages first. A message
// whose NextAttemptAt is zero is due at once. On PostgreSQL the subquery's FOR UPDATE
// SKIP LOCKED makes concurrent claimers take different rows without waiting on each
// other; on SQLite the single writer connection serialises them.
func (s *Store) ClaimMessages(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Message, error) {
	if limit <= 0 {
		return nil, nil
	}
	nowMs := now.UnixMilli()
	claimed, err := queryList(ctx, s, s.writes, scanMessage, `UPDATE outbox_messages
		SET status = $1, lease_until = $2, attempts = attempts + 1
		WHERE id IN (
			SELECT id FROM outbox_messages
			WHERE (status = $3 AND (next_attempt_at IS NULL OR next_attempt_at <= $4))
			   OR (status = $1 AND (lease_until IS NULL OR lease_until < $4))
			ORDER BY created_at, id
			LIMIT $5`+s.d.LockRowsSkipLocked+`
		)
		RETURNING `+messageColumns,
		string(store.MessageSending), now.Add(lease).UnixMilli(), string(store.MessagePending), nowMs, limit)
	if err != nil {
		return nil, err
	}
	// RETURNING comes in no particular order.
	slices.SortFunc(claimed, func(a, b store.Message) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return claimed, nil
}

func (s *Store) GetMessage(ctx context.Context, id string) (store.Message, error) {
	m, err := scanMessage(s.reads.queryRow(ctx, `SELECT `+messageColumns+` FROM outbox_messages WHERE id = $1`, id))
	return m, s.dbError(err)
}

func (s *Store) UpdateMessage(ctx context.Context, id string, fn func(store.Message) (store.Message, error)) (store.Message, error) {
	return readModifyWrite(ctx, s,
		func(tx *wtx) (store.Message, error) {
			return scanMessage(tx.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM outbox_messages WHERE id = $1`+s.d.LockRow, id))
		},
		fn,
		func(tx *wtx, current, next store.Message) (store.Message, error) {
			if next.ID != current.ID {
				return next, keyChanged("message", "ID")
			}
			return next, execOne(tx.ExecContext(ctx, `UPDATE outbox_messages SET challenge_id = $2, recipient = $3,
				channel = $4, body = $5, code = $6, status = $7, attempts = $8, next_attempt_at = $9, lease_until = $10,
				provider_id = $11, last_error = $12, created_at = $13, sent_at = $14, finished_at = $15,
				transaction_id = $16, user_id = $17 WHERE id = $1`,
				messageArgs(next)...))
		})
}

func (s *Store) ListMessages(ctx context.Context, f store.MessageFilter) ([]store.Message, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	var where []string
	var args []any
	if f.To != "" {
		args = append(args, f.To)
		where = append(where, fmt.Sprintf("recipient = $%d", len(args)))
	}
	if f.ChallengeID != "" {
		args = append(args, f.ChallengeID)
		where = append(where, fmt.Sprintf("challenge_id = $%d", len(args)))
	}
	q := `SELECT ` + messageColumns + ` FROM outbox_messages`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	q += fmt.Sprintf(` ORDER BY created_at DESC, id DESC LIMIT $%d`, len(args))
	return queryList(ctx, s, s.reads, scanMessage, q, args...)
}

func (s *Store) QueueMessage(ctx context.Context, m store.Message) error {
	if m.Status == "" {
		m.Status = store.MessagePending
	}
	_, err := s.writes.exec(ctx, insertMessage, messageArgs(m)...)
	return s.dbError(err)
}

// OutboxBacklog reads the outbox_messages_status index (status, created_at) only.
func (s *Store) OutboxBacklog(ctx context.Context) (store.OutboxBacklog, error) {
	var b store.OutboxBacklog
	err := s.reads.queryRow(ctx, `SELECT COUNT(*), MIN(created_at) FROM outbox_messages WHERE status IN ($1, $2)`,
		string(store.MessagePending), string(store.MessageSending)).Scan(&b.Pending, asTime(&b.Oldest))
	return b, s.dbError(err)
}
