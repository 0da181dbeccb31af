package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// codeSource reads the one-time code the engine queued for a phone: the newest
// message to number whose id is not previous (the code of the sign-in before).
type codeSource interface {
	latest(ctx context.Context, number, previous string) (messageID, code string, err error)
}

// codeWait bounds how long a code may take to appear. The engine writes the message
// in the same database transaction as the challenge, before it answers, so the first
// look normally finds it; the wait covers a store that shows writes late.
const codeWait = 2 * time.Second

// poll calls look until it finds a message, codeWait passes or ctx ends.
func poll(ctx context.Context, look func() (string, string, bool, error)) (string, string, error) {
	deadline := time.Now().Add(codeWait)
	for {
		id, code, ok, err := look()
		if err != nil || ok {
			return id, code, err
		}
		if time.Now().After(deadline) {
			return "", "", errors.New("no new code message")
		}
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// storeCodes reads the outbox table through the bench's own handle on the engine's
// database: SQLite in WAL mode lets it read beside the engine, PostgreSQL anyway.
type storeCodes struct{ st store.OutboxStore }

func (s storeCodes) latest(ctx context.Context, number, previous string) (string, string, error) {
	return poll(ctx, func() (string, string, bool, error) {
		msgs, err := s.st.ListMessages(ctx, store.MessageFilter{To: number, Limit: 1})
		if err != nil {
			return "", "", false, err
		}
		if len(msgs) == 0 || msgs[0].ID == previous || msgs[0].Code == "" {
			return "", "", false, nil
		}
		return msgs[0].ID, msgs[0].Code, true, nil
	})
}

// outboxCodes reads GET /dev/outbox of a running engine (dev_outbox: true), for
// --url runs without access to the engine's database. Entries carry no id, so the
// time the message was queued tells a new one from the last.
type outboxCodes struct {
	http   *http.Client
	origin string
}

func (o outboxCodes) latest(ctx context.Context, number, previous string) (string, string, error) {
	return poll(ctx, func() (string, string, bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.origin+"/dev/outbox?phone="+url.QueryEscape(number), nil)
		if err != nil {
			return "", "", false, err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := o.http.Do(req)
		if err != nil {
			return "", "", false, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return "", "", false, fmt.Errorf("GET /dev/outbox: HTTP %d (is dev_outbox on?)", resp.StatusCode)
		}
		var entries []struct {
			Code   string    `json:"code"`
			SentAt time.Time `json:"sentAt"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil {
			return "", "", false, fmt.Errorf("GET /dev/outbox: %w", err)
		}
		if len(entries) == 0 || entries[0].Code == "" {
			return "", "", false, nil
		}
		id := entries[0].SentAt.Format(time.RFC3339Nano) + " " + entries[0].Code
		if id == previous {
			return "", "", false, nil
		}
		return id, entries[0].Code, true, nil
	})
}
