package messaging

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/opcount"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
)

// TestOutcomesThatCameInTogetherAreOneWrite: record stores the outcomes of several
// attempts in one write transaction, each in its own message — sent with the
// provider's id, pending again with the error, failed with the error — and one
// that cannot be recorded (its message is gone) is logged without undoing the
// others.
func TestOutcomesThatCameInTogetherAreOneWrite(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, id := range []string{"m-sent", "m-retry", "m-failed"} {
		ch := store.Challenge{ID: "ch-" + id, TransactionID: "tx-" + id, UserID: "u", Phone: "+12015550123", Method: SMS,
			CodeMAC: []byte{1}, CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
		m := &store.Message{ID: id, ChallengeID: ch.ID, To: ch.Phone, Channel: SMS, Body: "code 123456", Code: "123456",
			Status: store.MessagePending, NextAttemptAt: now, CreatedAt: now}
		if err := st.CreateChallenge(ctx, ch, m); err != nil {
			t.Fatal(err)
		}
	}
	claimed, err := st.ClaimMessages(ctx, now, time.Minute, 10)
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claimed %d messages: %v", len(claimed), err)
	}
	byID := map[string]store.Message{}
	for _, m := range claimed {
		byID[m.ID] = m
	}
	var logs bytes.Buffer
	w := &Worker{Store: st, Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	w.init()
	done := []attempt{
		{m: byID["m-sent"], providerID: "prov-1", outcome: "sent", scrub: true, at: now},
		{m: byID["m-retry"], err: errors.New("provider busy"), outcome: "retry", wait: 2 * time.Second, at: now},
		{m: store.Message{ID: "m-gone", Channel: SMS, To: "+12015550123"}, providerID: "prov-0", outcome: "sent", at: now},
		{m: byID["m-failed"], err: Permanent(errors.New("bad number")), outcome: "failed", at: now},
	}
	var tally opcount.Tally
	w.record(opcount.With(ctx, &tally), done)
	if got := tally.Counts().Writes; got != 1 {
		t.Errorf("four outcomes recorded in %d writes, want 1", got)
	}

	get := func(id string) store.Message {
		t.Helper()
		m, err := st.GetMessage(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := get("m-sent"); m.Status != store.MessageSent || m.ProviderID != "prov-1" || !m.SentAt.Equal(now) || m.Code != "" || !m.LeaseUntil.IsZero() {
		t.Errorf("the sent message: %+v", m)
	}
	if m := get("m-retry"); m.Status != store.MessagePending || m.LastError != "provider busy" || !m.NextAttemptAt.Equal(now.Add(2*time.Second)) || m.Code == "" {
		t.Errorf("the message to retry: %+v", m)
	}
	if m := get("m-failed"); m.Status != store.MessageFailed || m.LastError != "bad number" || m.Code != "" {
		t.Errorf("the failed message: %+v", m)
	}
	if !strings.Contains(logs.String(), "outbox: recording delivery failed") || !strings.Contains(logs.String(), "m-gone") {
		t.Errorf("the message that is gone was not logged as unrecorded:\n%s", logs.String())
	}
	// The sent and the failed code are in the system log; the retry is not yet.
	events, err := st.ListEvents(ctx, store.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var results []string
	for _, e := range events {
		results = append(results, e.Outcome.Result)
	}
	if strings.Join(results, " ") != "SUCCESS FAILURE" {
		t.Errorf("delivery events: %v, want SUCCESS FAILURE", results)
	}
}
