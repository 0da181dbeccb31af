package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// messageRetention is how long finished outbox messages stay for inspection.
const messageRetention = 24 * time.Hour

// GarbageCollect deletes, in one transaction, every record that expired before now,
// and outbox messages finished (see messageFinishedAt) more than messageRetention
// before now. Records with no expiry (a zero ExpiresAt, stored as NULL) are kept.
func (s *Store) GarbageCollect(ctx context.Context, now time.Time) (store.GCResult, error) {
	var r store.GCResult
	nowMs := now.UnixMilli()
	deletes := []struct {
		count *int64
		query string
		arg   int64
	}{
		{&r.Transactions, `DELETE FROM transactions WHERE expires_at < $1`, nowMs},
		{&r.Challenges, `DELETE FROM challenges WHERE expires_at < $1`, nowMs},
		{&r.InteractionCodes, `DELETE FROM interaction_codes WHERE expires_at < $1`, nowMs},
		{&r.RefreshTokens, `DELETE FROM refresh_tokens WHERE expires_at < $1`, nowMs},
		{&r.RevokedTokens, `DELETE FROM revoked_access_tokens WHERE expires_at < $1`, nowMs},
		{&r.Revocations, `DELETE FROM token_revocations WHERE expires_at < $1`, nowMs},
		{&r.Throttles, `DELETE FROM throttles WHERE expires_at < $1`, nowMs},
		{&r.Sessions, `DELETE FROM sessions WHERE expires_at < $1 OR idle_expires_at < $1`, nowMs},
		// finished_at is NULL until a message is sent or failed.
		{&r.Messages, `DELETE FROM outbox_messages WHERE finished_at < $1`, now.Add(-messageRetention).UnixMilli()},
	}
	err := s.inTx(ctx, func(tx *wtx) error {
		for _, d := range deletes {
			res, err := tx.ExecContext(ctx, d.query, d.arg)
			if err != nil {
				return err
			}
			if *d.count, err = res.RowsAffected(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.GCResult{}, err
	}
	return r, nil
}
