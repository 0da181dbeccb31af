package providertest

import (
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/messaging"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
)

// Fake is what the delivery scenarios need of a fake provider. *Twilio and
// *Gateway are both one.
type Fake interface {
	Requests() []Request
	RequestCount() int
	FailNext(n, status int)
	HangNext(n int)
}

// Delivery runs a provider's sender under a real messaging.Worker over a real
// SQLite outbox, against the provider's fake. The worker's retry rules are the
// same for every provider; what differs, and so what a provider's tests fill in,
// is how to reach its fake and what its sender says when a request fails.
//
// The scenarios are methods, so that each provider's test file keeps its own
// top-level tests (and their names) with one line each.
type Delivery struct {
	// Start starts the provider's fake and a real sender to it that gives up on a
	// request after timeout. The fake must stop when the test ends.
	Start func(t *testing.T, timeout time.Duration) (Fake, messaging.Sender)
	// Message is the message queued: its ID, To, Channel, Code and Body.
	Message messaging.Outbound
	// ProviderID is the id the fake gives the first message it accepts; a retry
	// that made the provider create a second message would show another.
	ProviderID string
	// Err503, Err400 and ErrHang are what the message's last error says after the
	// fake answered 503, answered 400, or did not answer in time.
	Err503, Err400, ErrHang string
	// CheckRequest, if set, checks each request the fake received (a first
	// attempt or a retry) for what is particular to the provider.
	CheckRequest func(t *testing.T, req Request)
}

// RetriesA503AndDeliversOnce checks a 503 is retried after a backoff, the retry
// is delivered, and nothing is sent after that.
func (d Delivery) RetriesA503AndDeliversOnce(t *testing.T) {
	r := d.retryThenDeliver(t, 2*time.Second, func(f Fake) { f.FailNext(1, 503) }, d.Err503)

	r.clock.Set(r.clock.Now().Add(time.Hour))
	r.runOnce(t, 0) // delivered once, never again
	if n := r.fake.RequestCount(); n != 2 {
		t.Errorf("the fake received %d requests in all, want 2", n)
	}
}

// GivesUpOnA400AtOnce checks a refusal fails the message on the first attempt,
// drops its code, and is never retried.
func (d Delivery) GivesUpOnA400AtOnce(t *testing.T) {
	r := d.newRig(t, 2*time.Second)
	r.queue(t)
	r.fake.FailNext(1, 400)

	m := r.runOnce(t, 1)
	if m.Status != store.MessageFailed || m.Attempts != 1 {
		t.Fatalf("status %s after %d attempts, want failed after 1", m.Status, m.Attempts)
	}
	if !strings.Contains(m.LastError, d.Err400) {
		t.Errorf("last error = %q, want the provider's refusal %q", m.LastError, d.Err400)
	}
	if m.Code != "" || m.Body != "" {
		t.Error("the code is still stored after the message failed")
	}
	r.checkOutcomes(t, "failed")

	r.clock.Set(r.clock.Now().Add(time.Minute))
	r.runOnce(t, 0)
	if n := r.fake.RequestCount(); n != 1 {
		t.Errorf("the fake received %d requests, want 1: no retry after a refusal", n)
	}
}

// RetriesAHungRequest checks a request the provider never answers is cut short
// by the sender's timeout and retried like any transient failure.
func (d Delivery) RetriesAHungRequest(t *testing.T) {
	d.retryThenDeliver(t, 200*time.Millisecond, func(f Fake) { f.HangNext(1) }, d.ErrHang)
}

// retryThenDeliver queues the message, fails its first attempt as script says,
// checks the worker waits and then retries, and that the retry is delivered.
func (d Delivery) retryThenDeliver(t *testing.T, timeout time.Duration, script func(Fake), wantErr string) *deliveryRig {
	t.Helper()
	r := d.newRig(t, timeout)
	r.queue(t)
	script(r.fake)

	m := r.runOnce(t, 1)
	r.checkRetryPending(t, m, wantErr)

	r.clock.Set(m.NextAttemptAt)
	m = r.runOnce(t, 1)
	r.checkSent(t, m, 2)
	r.checkOutcomes(t, "retry", "sent")
	return r
}

// clock is the worker's time, moved by the test instead of sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// deliveryRig is one scenario's worker, outbox, fake and clock.
type deliveryRig struct {
	d        Delivery
	fake     Fake
	store    *sqlite.Store
	clock    *clock
	worker   *messaging.Worker
	mu       sync.Mutex
	outcomes []string
}

func (d Delivery) newRig(t *testing.T, timeout time.Duration) *deliveryRig {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fake, sender := d.Start(t, timeout)
	r := &deliveryRig{d: d, fake: fake, store: st, clock: &clock{now: time.Now().UTC().Truncate(time.Second)}}
	r.worker = &messaging.Worker{
		Store: st, Sender: sender, Now: r.clock.Now, MaxDeliveryTime: 2 * time.Minute,
		OnResult: func(_, outcome string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.outcomes = append(r.outcomes, outcome)
		},
	}
	return r
}

// queue stores a challenge and its message the way the engine does, in one
// transaction.
func (r *deliveryRig) queue(t *testing.T) {
	t.Helper()
	now := r.clock.Now()
	out := r.d.Message
	ch := store.Challenge{
		ID: "ch_1", TransactionID: "tx_1", UserID: "00u_1", Phone: out.To, Method: out.Channel,
		CodeMAC: []byte("mac"), CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute),
	}
	msg := store.Message{
		ID: out.ID, ChallengeID: ch.ID, To: out.To, Channel: out.Channel, Code: out.Code, Body: out.Body,
		Status: store.MessagePending, NextAttemptAt: now, CreatedAt: now,
	}
	if err := r.store.CreateChallenge(t.Context(), ch, &msg); err != nil {
		t.Fatal(err)
	}
}

// runOnce runs one pass of the worker, checks how many messages it claimed, and
// returns the queued message as stored after the pass.
func (r *deliveryRig) runOnce(t *testing.T, wantClaimed int) store.Message {
	t.Helper()
	n, err := r.worker.RunOnce(t.Context())
	if err != nil {
		t.Fatalf("RunOnce: %v", err)
	}
	if n != wantClaimed {
		t.Fatalf("RunOnce claimed %d messages, want %d", n, wantClaimed)
	}
	m, err := r.store.GetMessage(t.Context(), r.d.Message.ID)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (r *deliveryRig) checkOutcomes(t *testing.T, want ...string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !slices.Equal(r.outcomes, want) {
		t.Errorf("outcomes = %v, want %v", r.outcomes, want)
	}
}

// checkRetryPending checks m waits for a retry after a transient failure, still
// holding its code, and that the worker leaves it alone until then.
func (r *deliveryRig) checkRetryPending(t *testing.T, m store.Message, wantErr string) {
	t.Helper()
	if m.Status != store.MessagePending || m.Attempts != 1 {
		t.Fatalf("after a transient failure: status %s, attempts %d; want pending, 1", m.Status, m.Attempts)
	}
	if !strings.Contains(m.LastError, wantErr) || strings.Contains(m.LastError, r.d.Message.Code) {
		t.Errorf("last error = %q, want it to say %q and not hold the code", m.LastError, wantErr)
	}
	if !m.NextAttemptAt.After(r.clock.Now()) {
		t.Errorf("next attempt at %v, not after now %v", m.NextAttemptAt, r.clock.Now())
	}
	if m.Code == "" || m.Body == "" {
		t.Error("the code was dropped before it was delivered")
	}
	r.runOnce(t, 0) // not due yet
}

// checkSent checks m was delivered on attempt wantAttempts, the provider created
// one message only, and every attempt carried the same request body.
func (r *deliveryRig) checkSent(t *testing.T, m store.Message, wantAttempts int) {
	t.Helper()
	if m.Status != store.MessageSent || m.Attempts != wantAttempts {
		t.Fatalf("status %s after %d attempts, want sent after %d (last error %q)", m.Status, m.Attempts, wantAttempts, m.LastError)
	}
	if m.ProviderID != r.d.ProviderID {
		t.Errorf("provider id = %q, want %q, the fake's id for the one message it accepted", m.ProviderID, r.d.ProviderID)
	}
	if m.Code != "" || m.Body != "" {
		t.Error("the code is still stored after delivery")
	}
	if m.LastError != "" {
		t.Errorf("last error %q kept after delivery", m.LastError)
	}
	reqs := r.fake.Requests()
	if len(reqs) != wantAttempts {
		t.Fatalf("the fake received %d requests, want %d", len(reqs), wantAttempts)
	}
	for _, req := range reqs {
		if string(req.Body) != string(reqs[0].Body) {
			t.Errorf("a retry sent %q, the first attempt %q", req.Body, reqs[0].Body)
		}
		if r.d.CheckRequest != nil {
			r.d.CheckRequest(t, req)
		}
	}
}
