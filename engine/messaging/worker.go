package messaging

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// Worker delivers queued messages. Every engine node runs one; the store's
// ClaimMessages makes sure two workers never hold the same message.
type Worker struct {
	Store  store.OutboxStore
	Sender Sender
	// Backchannel delivers back-channel logout notices (ChannelBackchannelLogout);
	// nil means a BackchannelSender with its defaults.
	Backchannel Sender
	// Hooks delivers system log events to event hooks (eventlog.ChannelEventHook);
	// nil gives such messages up.
	Hooks Sender
	Now   func() time.Time
	Log   *slog.Logger
	// MaxDeliveryTime is how long after queueing a message is still retried.
	MaxDeliveryTime time.Duration
	// Lease is how long a claimed message is reserved for this worker; a message whose
	// lease ran out (its worker died) is claimed again by any worker.
	Lease time.Duration
	// PollInterval is how often the worker looks for due messages when not woken:
	// retries, and messages queued on other nodes whose worker is gone.
	PollInterval time.Duration
	// Batch is how many messages one claim takes and sends concurrently.
	Batch int
	// OnResult, if set, is told each delivery attempt's outcome ("sent", "retry",
	// "failed") for metrics.
	OnResult func(channel, outcome string)

	wakeOnce sync.Once
	wake     chan struct{}
	// handoff holds messages queued already claimed for this worker (Deliver);
	// running is set while Run runs, the only time they are taken.
	handoff chan store.Message
	running atomic.Bool
}

func (w *Worker) init() {
	w.wakeOnce.Do(func() {
		w.wake = make(chan struct{}, 1)
		w.handoff = make(chan store.Message, handoffQueue)
		if w.Lease <= 0 {
			w.Lease = 30 * time.Second
		}
		if w.PollInterval <= 0 {
			w.PollInterval = time.Second
		}
		if w.Batch <= 0 {
			w.Batch = 16
		}
		if w.MaxDeliveryTime <= 0 {
			w.MaxDeliveryTime = 2 * time.Minute
		}
		if w.Log == nil {
			w.Log = slog.New(slog.DiscardHandler)
		}
		if w.Backchannel == nil {
			w.Backchannel = &BackchannelSender{}
		}
	})
}

// Wake makes the worker look for messages now; the engine calls it right after
// queueing one, so a code goes out within milliseconds instead of at the next poll.
func (w *Worker) Wake() {
	w.init()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// handoffQueue bounds the messages handed over and not yet being sent.
const handoffQueue = 256

// HandoffLease says whether the worker takes messages handed over with Deliver
// (it does while Run runs) and until when a message queued at now and handed
// over is claimed for it: the lease ClaimMessages would give it. A message
// queued so — sending, Attempts 1, LeaseUntil that instant — costs no claim: the
// write that queues it claims it.
func (w *Worker) HandoffLease(now time.Time) (time.Time, bool) {
	w.init()
	return now.Add(w.Lease), w.running.Load()
}

// Deliver hands over a message queued as HandoffLease says, once its queueing
// has committed. It returns false when the worker cannot take it now (its queue
// is full, or it is not running): the caller should then make the message
// pending again, or it waits for its lease to end before any worker sends it.
func (w *Worker) Deliver(m store.Message) bool {
	w.init()
	if !w.running.Load() {
		return false
	}
	select {
	case w.handoff <- m:
		return true
	default:
		return false
	}
}

// Run delivers messages until ctx is cancelled.
func (w *Worker) Run(ctx context.Context) {
	w.init()
	w.running.Store(true)
	defer w.running.Store(false)
	t := time.NewTicker(w.PollInterval)
	defer t.Stop()
	poll := true
	for {
		// Claim what is due when woken or on the tick; a hand-over needs no claim.
		for poll {
			n, err := w.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				w.Log.Error("outbox: claiming messages failed", "err", err)
			}
			if n < w.Batch || err != nil {
				break // drained; a full batch means more may be waiting
			}
		}
		poll = true
		select {
		case <-ctx.Done():
			return
		case m := <-w.handoff:
			w.deliverHandedOver(ctx, m)
			poll = false
		case <-w.wake:
		case <-t.C:
		}
	}
}

// deliverHandedOver sends m and whatever else was handed over meanwhile, up to a
// batch, as RunOnce sends what it claims.
func (w *Worker) deliverHandedOver(ctx context.Context, m store.Message) {
	msgs := []store.Message{m}
collect:
	for len(msgs) < w.Batch {
		select {
		case m := <-w.handoff:
			msgs = append(msgs, m)
		default:
			break collect
		}
	}
	w.deliver(ctx, msgs)
}

// RunOnce claims one batch of due messages and delivers them, returning how many it
// claimed. The messages are sent concurrently; their outcomes are recorded as
// they come in, those that came in together in one store transaction (record).
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	w.init()
	msgs, err := w.Store.ClaimMessages(ctx, w.Now(), w.Lease, w.Batch)
	if err != nil {
		return 0, err
	}
	w.deliver(ctx, msgs)
	return len(msgs), nil
}

// deliver sends claimed messages concurrently and records their outcomes as
// they come in, those that came in together in one store transaction (record).
func (w *Worker) deliver(ctx context.Context, msgs []store.Message) {
	results := make(chan attempt, len(msgs))
	for _, m := range msgs {
		go func() { results <- w.send(ctx, m) }()
	}
	for left := len(msgs); left > 0; {
		done := []attempt{<-results}
	more:
		for len(done) < left {
			select {
			case a := <-results:
				done = append(done, a)
			default:
				break more
			}
		}
		w.record(ctx, done)
		left -= len(done)
	}
}

// attempt is one delivery attempt of a claimed message, to be recorded.
type attempt struct {
	m          store.Message
	providerID string
	err        error
	outcome    string        // "sent", "retry" or "failed"
	wait       time.Duration // before the next attempt, for a retry
	scrub      bool          // the message's code and body go once it is sent
	at         time.Time
}

// send hands m to its channel's sender.
func (w *Worker) send(ctx context.Context, m store.Message) attempt {
	sender := w.Sender
	switch m.Channel {
	case ChannelBackchannelLogout:
		sender = w.Backchannel
	case eventlog.ChannelEventHook:
		sender = w.Hooks
	}
	a := attempt{m: m}
	if sender == nil {
		a.err = Permanent(errors.New("no event hooks are configured"))
	} else if age := w.Now().Sub(m.CreatedAt); age > w.MaxDeliveryTime {
		// Claimed long after it was queued — every node was down for a while, or the
		// database was restored from a backup: the code has expired and its user has
		// moved on, so sending it now would only confuse them (and cost money).
		a.err = Permanent(fmt.Errorf("not sent: queued %s ago, past messaging.max_delivery_time", age.Round(time.Second)))
	} else {
		sendCtx, cancel := context.WithTimeout(ctx, w.Lease/2)
		a.providerID, a.err = sender.Send(sendCtx, Outbound{ID: m.ID, To: m.To, Channel: m.Channel, Body: m.Body, Code: m.Code})
		cancel()
	}
	a.at = w.Now()
	if s, ok := sender.(ScrubbingSender); ok {
		a.scrub = s.ScrubAfterSend()
	} else {
		a.scrub = true
	}
	a.outcome = "sent"
	a.wait = backoff(m.Attempts) // drawn once: the give-up test and the retry time agree
	if a.err != nil && (IsPermanent(a.err) || a.at.Sub(m.CreatedAt)+a.wait > w.MaxDeliveryTime) {
		a.outcome = "failed"
	} else if a.err != nil {
		a.outcome = "retry"
	}
	return a
}

// record stores the outcome of each attempt in its message: sent (with the
// provider's id), pending again for a retry, or failed (with the error). Several
// go in one store transaction when the store offers them (store.Atomic), each
// message's update on its own within it: one that fails (its message was deleted)
// does not undo the others. A message whose outcome could not be recorded stays
// claimed until its lease ends, and is then delivered again (at least once).
func (w *Worker) record(ctx context.Context, done []attempt) {
	ctx = context.WithoutCancel(ctx)
	errs := make([]error, len(done))
	atomic, _ := w.Store.(store.Atomic)
	if len(done) == 1 || atomic == nil {
		for i, a := range done {
			errs[i] = w.update(ctx, a)
		}
	} else if err := atomic.Atomically(ctx, func(ctx context.Context) error {
		for i, a := range done {
			errs[i] = w.update(ctx, a)
		}
		return nil
	}); err != nil {
		for i := range errs {
			errs[i] = cmp.Or(errs[i], err)
		}
	}
	for i, a := range done {
		w.report(a, errs[i])
	}
}

// update records a's outcome in its message.
func (w *Worker) update(ctx context.Context, a attempt) error {
	m, err := a.m, a.err
	if a.outcome != "retry" && (m.Channel == SMS || m.Channel == Voice) {
		// The code's fate is in the system log, in the transaction that records it.
		ctx = eventlog.Attach(eventlog.WithJob(ctx, m.ID), deliveryEvent(m, a.providerID, err))
	}
	_, uerr := w.Store.UpdateMessage(ctx, m.ID, func(cur store.Message) (store.Message, error) {
		cur.LeaseUntil = time.Time{}
		switch {
		case err == nil:
			cur.Status = store.MessageSent
			cur.ProviderID = a.providerID
			cur.SentAt = a.at
			cur.LastError = ""
			if a.scrub {
				// The code has done its job; do not keep it at rest.
				cur.Code, cur.Body = "", ""
			}
		case a.outcome == "failed":
			cur.Status = store.MessageFailed
			cur.LastError = err.Error()
			cur.Code, cur.Body = "", ""
		default:
			cur.Status = store.MessagePending
			cur.LastError = err.Error()
			cur.NextAttemptAt = a.at.Add(a.wait)
		}
		return cur, nil
	})
	return uerr
}

// report logs a's outcome, and uerr if it could not be recorded, and tells
// OnResult.
func (w *Worker) report(a attempt, uerr error) {
	m := a.m
	// Each line names the message (joined with the engine's "code queued" line by
	// message_id), and the sign-in and user it is for.
	attrs := []any{"message_id", m.ID, "channel", m.Channel, "attempt", m.Attempts}
	if m.TransactionID != "" {
		attrs = append(attrs, "transaction", m.TransactionID)
	}
	if m.UserID != "" {
		attrs = append(attrs, "user_id", m.UserID)
	}
	if uerr != nil {
		w.Log.Error("outbox: recording delivery failed", append(attrs, "err", uerr)...)
	}
	switch a.outcome {
	case "sent":
		msg := "code delivered"
		switch m.Channel {
		case ChannelBackchannelLogout:
			msg = "back-channel logout delivered"
		case eventlog.ChannelEventHook:
			msg = "event hook delivered"
		}
		w.Log.Info(msg, append(attrs, "provider_id", a.providerID)...)
	case "retry":
		w.Log.Warn("outbox: delivery failed, will retry", append(attrs, "err", a.err)...)
	case "failed":
		w.Log.Error("outbox: delivery given up", append(attrs, "err", a.err)...)
	}
	if w.OnResult != nil {
		w.OnResult(m.Channel, a.outcome)
	}
}

// backoff is the wait before attempt n+1: 1 s doubling to at most 30 s, with up to
// 20 % jitter so that a provider outage does not end in synchronised retries.
func backoff(attempts int) time.Duration {
	d := time.Second << min(max(attempts-1, 0), 5)
	d = min(d, 30*time.Second)
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}

// deliveryEvent records a code's delivery (err nil) or its giving up: the send
// event of its channel, SUCCESS or FAILURE, with the number masked.
func deliveryEvent(m store.Message, providerID string, err error) eventlog.Event {
	ev := eventlog.Event{Type: eventlog.TypeSMSSent, Result: store.OutcomeSuccess, Reason: "delivered",
		Actor: eventlog.UserRef(m.UserID, ""), SessionID: m.TransactionID,
		Debug: map[string]string{"phoneNumber": phone.Mask(m.To), "messageId": m.ID, "providerId": providerID,
			"attempts": fmt.Sprint(m.Attempts)}}
	if m.Channel == Voice {
		ev.Type = eventlog.TypeVoiceSent
	}
	if m.UserID == "" {
		ev.Actor = eventlog.System("gatehouse", "Gatehouse")
	}
	if err != nil {
		ev.Result, ev.Severity = store.OutcomeFailure, "ERROR"
		// A provider's error may quote the number or the code; the log gets neither.
		reason := err.Error()
		for _, secret := range []string{m.To, strings.TrimPrefix(m.To, "+"), m.Code} {
			if secret != "" {
				reason = strings.ReplaceAll(reason, secret, "[redacted]")
			}
		}
		ev.Reason = longNumber.ReplaceAllString(reason, "[redacted]")
	}
	return ev
}

// longNumber is a run of digits that could be a phone number in another format.
var longNumber = regexp.MustCompile(`\+?[0-9]{7,}`)
