package phone

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/authn"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// busyWorker is an outbox worker that offers hand-overs and then cannot take
// them (its queue is full).
type busyWorker struct{ woken, offered int }

func (w *busyWorker) Wake() { w.woken++ }
func (w *busyWorker) HandoffLease(now time.Time) (time.Time, bool) {
	return now.Add(30 * time.Second), true
}
func (w *busyWorker) Deliver(store.Message) bool { w.offered++; return false }

// TestAHandOverRefusedLeavesTheMessagePending: a code queued claimed for the
// node's worker, which then cannot take it, is made pending again and the worker
// woken, so that any worker claims it at once instead of after its lease.
func TestAHandOverRefusedLeavesTheMessagePending(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().Truncate(time.Millisecond)
	clock := func() time.Time { return now }
	u := store.User{ID: "00u-h", Login: "h@example.com", Status: store.UserActive, CreatedAt: now}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	w := &busyWorker{}
	a := NewAuthenticator(Options{Store: st, Limiter: throttle.New(st, clock), SMS: true, Voice: true,
		OTPKey: []byte("0123456789abcdef0123456789abcdef"), CodeTTL: 5 * time.Minute, TransactionTTL: 30 * time.Minute,
		Limits: Limits{SendsPerTransaction: 10, NumbersPerTransaction: 10, SendsPerUserPerDay: 10, UnverifiedSendsPerUserPerDay: 10,
			SendsPerIPPerHour: 10, UnverifiedSendsPerIPPerHour: 10, SendsPerHour: 10, MaxSends: 10, SendWindow: time.Hour, SendInterval: time.Second},
		Outbox: w, Now: clock})
	e := authn.Enrollment{ID: "sms-h", Methods: []string{SMS}, Target: "+12015550123"}
	ch, err := a.Challenge(ctx, authn.Request{TransactionID: "tx-h", UserID: u.ID, IP: "192.0.2.1",
		KnownSource: func() (bool, error) { return true, nil }}, e, SMS)
	if err != nil {
		t.Fatal(err)
	}
	if w.offered != 1 || w.woken != 1 {
		t.Errorf("the worker was offered the message %d times and woken %d times, want 1 and 1", w.offered, w.woken)
	}
	m, err := st.GetMessage(ctx, ch.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Status != store.MessagePending || m.Attempts != 0 || !m.LeaseUntil.IsZero() {
		t.Errorf("the refused hand-over's message: status %s, attempts %d, lease %v; want pending, 0, none", m.Status, m.Attempts, m.LeaseUntil)
	}
	if claimed, err := st.ClaimMessages(ctx, now, time.Minute, 10); err != nil || len(claimed) != 1 {
		t.Errorf("a worker claiming at once got %d messages (%v), want the refused one", len(claimed), err)
	}
}
