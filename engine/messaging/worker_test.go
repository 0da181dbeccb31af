package messaging_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/messaging"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/opcount"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// countingSender records what it was asked to send and can fail on demand.
type countingSender struct {
	mu    sync.Mutex
	sent  map[string]int
	fail  error
	scrub bool
}

func (s *countingSender) Send(_ context.Context, m messaging.Outbound) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return "", s.fail
	}
	if s.sent == nil {
		s.sent = map[string]int{}
	}
	s.sent[m.ID]++
	return "prov-" + m.ID, nil
}

func (s *countingSender) ScrubAfterSend() bool { return s.scrub }

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func queue(t *testing.T, st store.Store, now time.Time, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("msg%03d", i)
		ch := store.Challenge{ID: "ch" + id, TransactionID: "tx" + id, UserID: "u", Phone: "+12015550123", Method: "sms",
			CodeMAC: []byte{1}, CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
		m := &store.Message{ID: id, ChallengeID: ch.ID, To: ch.Phone, Channel: "sms", Body: "code 123456", Code: "123456",
			Status: store.MessagePending, NextAttemptAt: now, CreatedAt: now}
		if err := st.CreateChallenge(context.Background(), ch, m); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func TestTwoWorkersDeliverEveryMessageOnce(t *testing.T) {
	st := openStore(t)
	clk := &clock{t: time.Now().Truncate(time.Millisecond)}
	ids := queue(t, st, clk.Now(), 50)
	sender := &countingSender{scrub: true}
	var wg sync.WaitGroup
	for range 2 {
		w := &messaging.Worker{Store: st, Sender: sender, Now: clk.Now, Batch: 4}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := w.RunOnce(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if sender.sent[id] != 1 {
			t.Errorf("%s sent %d times", id, sender.sent[id])
		}
		m, err := st.GetMessage(context.Background(), id)
		if err != nil || m.Status != store.MessageSent || m.ProviderID != "prov-"+id || m.Code != "" || m.Body != "" {
			t.Errorf("%s after delivery: %+v %v", id, m, err)
		}
	}
}

func TestAMessageClaimedByADeadWorkerIsDeliveredAfterItsLease(t *testing.T) {
	st := openStore(t)
	clk := &clock{t: time.Now().Truncate(time.Millisecond)}
	ids := queue(t, st, clk.Now(), 1)
	// A worker claims the message and dies before sending it.
	if claimed, err := st.ClaimMessages(context.Background(), clk.Now(), 30*time.Second, 10); err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	sender := &countingSender{}
	w := &messaging.Worker{Store: st, Sender: sender, Now: clk.Now}
	if n, _ := w.RunOnce(context.Background()); n != 0 {
		t.Fatal("a leased message was claimed again before its lease ran out")
	}
	clk.Advance(31 * time.Second)
	if n, err := w.RunOnce(context.Background()); n != 1 || err != nil {
		t.Fatalf("after the lease: %d %v", n, err)
	}
	if sender.sent[ids[0]] != 1 {
		t.Errorf("sent %d times", sender.sent[ids[0]])
	}
	// The dev outbox keeps codes after sending; it is the page's purpose.
	if m, _ := st.GetMessage(context.Background(), ids[0]); m.Code != "123456" || m.Attempts != 2 {
		t.Errorf("after delivery: %+v", m)
	}
}

func TestRetriesThenGivesUp(t *testing.T) {
	st := openStore(t)
	clk := &clock{t: time.Now().Truncate(time.Millisecond)}
	ids := queue(t, st, clk.Now(), 1)
	var outcomes []string
	sender := &countingSender{fail: errors.New("provider down")}
	w := &messaging.Worker{Store: st, Sender: sender, Now: clk.Now, MaxDeliveryTime: 20 * time.Second,
		OnResult: func(_, outcome string) { outcomes = append(outcomes, outcome) }}
	for range 10 {
		w.RunOnce(context.Background())
		clk.Advance(5 * time.Second)
	}
	m, _ := st.GetMessage(context.Background(), ids[0])
	if m.Status != store.MessageFailed || m.Code != "" || !strings.Contains(m.LastError, "provider down") {
		t.Errorf("after giving up: %+v", m)
	}
	if len(outcomes) < 2 || outcomes[len(outcomes)-1] != "failed" || outcomes[0] != "retry" {
		t.Errorf("outcomes = %v", outcomes)
	}
	n := len(outcomes)
	clk.Advance(time.Hour)
	w.RunOnce(context.Background())
	if len(outcomes) != n {
		t.Error("a failed message was tried again")
	}
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	st := openStore(t)
	clk := &clock{t: time.Now().Truncate(time.Millisecond)}
	ids := queue(t, st, clk.Now(), 1)
	w := &messaging.Worker{Store: st, Sender: &countingSender{fail: messaging.Permanent(errors.New("bad number"))}, Now: clk.Now}
	w.RunOnce(context.Background())
	if m, _ := st.GetMessage(context.Background(), ids[0]); m.Status != store.MessageFailed || m.Attempts != 1 {
		t.Errorf("after a permanent error: %+v", m)
	}
}

func TestDevOutboxPrintsTheCode(t *testing.T) {
	var out bytes.Buffer
	d := &messaging.DevOutbox{Out: &out}
	id, err := d.Send(context.Background(), messaging.Outbound{ID: "m1", To: "+12015550123", Channel: "voice", Body: "read out", Code: "424242"})
	if err != nil || id != "dev-m1" || !strings.Contains(out.String(), "CALL to +12015550123 — code 424242") {
		t.Errorf("dev outbox: %q %v %q", id, err, out.String())
	}
}

// TestAMessageTooOldIsNeverSent: a message first claimed after max_delivery_time —
// the engine was down, or the database was restored from a backup — fails without
// reaching the provider.
func TestAMessageTooOldIsNeverSent(t *testing.T) {
	st := openStore(t)
	clk := &clock{t: time.Now().Truncate(time.Millisecond)}
	ids := queue(t, st, clk.Now(), 1)
	sender := &countingSender{}
	w := &messaging.Worker{Store: st, Sender: sender, Now: clk.Now, MaxDeliveryTime: 2 * time.Minute}
	clk.Advance(3 * time.Minute)
	if n, err := w.RunOnce(context.Background()); n != 1 || err != nil {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if len(sender.sent) != 0 {
		t.Errorf("the provider was asked to send %v", sender.sent)
	}
	m, _ := st.GetMessage(context.Background(), ids[0])
	if m.Status != store.MessageFailed || m.Code != "" || !strings.Contains(m.LastError, "past messaging.max_delivery_time") {
		t.Errorf("a stale message: %+v", m)
	}
}

// TestAHandedOverMessageNeedsNoClaim: a message queued already claimed for the
// running worker (HandoffLease) and handed over (Deliver) is sent and marked in
// one write — the worker claims nothing for it — and a worker that is not
// running takes no hand-over.
func TestAHandedOverMessageNeedsNoClaim(t *testing.T) {
	st := openStore(t)
	clk := &clock{t: time.Now().Truncate(time.Millisecond)}
	sender := &countingSender{scrub: true}
	w := &messaging.Worker{Store: st, Sender: sender, Now: clk.Now, PollInterval: time.Hour}
	if _, ok := w.HandoffLease(clk.Now()); ok {
		t.Fatal("a worker that is not running offers hand-overs")
	}
	if w.Deliver(store.Message{ID: "none"}) {
		t.Fatal("a worker that is not running took a hand-over")
	}
	var tally opcount.Tally
	ctx, cancel := context.WithCancel(opcount.With(context.Background(), &tally))
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	var until time.Time
	for ok := false; !ok; {
		until, ok = w.HandoffLease(clk.Now())
		select {
		case <-done:
			t.Fatal("the worker stopped")
		default:
		}
	}
	now := clk.Now()
	ch := store.Challenge{ID: "ch-h", TransactionID: "tx-h", UserID: "u", Phone: "+12015550123", Method: "sms",
		CodeMAC: []byte{1}, CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	m := store.Message{ID: "msg-h", ChallengeID: ch.ID, To: ch.Phone, Channel: "sms", Body: "code 123456", Code: "123456",
		Status: store.MessageSending, Attempts: 1, LeaseUntil: until.Truncate(time.Millisecond), NextAttemptAt: now, CreatedAt: now}
	if err := st.CreateChallenge(context.Background(), ch, &m); err != nil {
		t.Fatal(err)
	}
	// Queued claimed, the message is no other worker's to take.
	if claimed, err := st.ClaimMessages(context.Background(), now, time.Minute, 10); err != nil || len(claimed) != 0 {
		t.Fatalf("a claim took the handed-over message: %v %v", claimed, err)
	}
	if !w.Deliver(m) {
		t.Fatal("the running worker refused a hand-over")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := st.GetMessage(context.Background(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == store.MessageSent {
			if got.Attempts != 1 || got.ProviderID != "prov-"+m.ID {
				t.Errorf("the handed-over message after delivery: %+v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the handed-over message was not delivered: %+v", got)
		}
		runtime.Gosched()
	}
	cancel()
	<-done
	if sender.sent[m.ID] != 1 {
		t.Errorf("sent %d times", sender.sent[m.ID])
	}
	// The worker's writes: the claim of an empty outbox when it started, and the
	// message marked sent. None claimed the handed-over message.
	if got := tally.Counts().Writes; got != 2 {
		t.Errorf("the worker wrote %d times, want 2 (its first poll and the mark)", got)
	}
}
