package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

func getChallenge(t *testing.T, s store.Store, id string) store.Challenge {
	t.Helper()
	c, err := s.GetChallenge(t.Context(), id)
	mustOK(t, "GetChallenge "+id, err)
	return c
}

func testChallengeRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newChallenge("ch1", "tx1")
	msg := newMessage("m1", "ch1", want.Phone)
	mustOK(t, "CreateChallenge", s.CreateChallenge(ctx, want, &msg))
	checkEqual(t, "GetChallenge", getChallenge(t, s, "ch1"), want)
	gotMsg, err := s.GetMessage(ctx, "m1")
	mustOK(t, "GetMessage", err)
	checkEqual(t, "queued message", gotMsg, msg)

	// Without a message; every optional field set.
	full := newChallenge("ch2", "tx2")
	full.Method = "voice"
	full.ConsumedAt = at(30 * time.Second)
	full.Invalidated = true
	mustOK(t, "CreateChallenge without message", s.CreateChallenge(ctx, full, nil))
	checkEqual(t, "GetChallenge", getChallenge(t, s, "ch2"), full)

	// A message with no status is queued as pending; zero fields stay zero.
	bare := store.Message{ID: "m3", ChallengeID: "ch3", To: "+15555550133", Channel: "voice", Body: "b", Code: "c"}
	mustOK(t, "CreateChallenge", s.CreateChallenge(ctx, newChallenge("ch3", "tx3"), &bare))
	gotMsg, err = s.GetMessage(ctx, "m3")
	mustOK(t, "GetMessage", err)
	bare.Status = store.MessagePending
	checkEqual(t, "message queued without status", gotMsg, bare)

	err = s.CreateChallenge(ctx, newChallenge("ch1", "tx9"), nil)
	checkErrIs(t, "CreateChallenge with a taken id", err, store.ErrAlreadyExists)
	checkEqual(t, "challenge after a duplicate", getChallenge(t, s, "ch1"), want)

	_, err = s.GetChallenge(ctx, "ch-missing")
	checkErrIs(t, "GetChallenge of a missing id", err, store.ErrNotFound)
	_, err = s.GetMessage(ctx, "m-missing")
	checkErrIs(t, "GetMessage of a missing id", err, store.ErrNotFound)
}

func testCreateChallengeInvalidatesOthers(t *testing.T, s store.Store) {
	ctx := t.Context()
	open1 := newChallenge("ch-open1", "tx1")
	consumed := newChallenge("ch-consumed", "tx1")
	consumed.ConsumedAt = at(-30 * time.Second)
	otherTx := newChallenge("ch-other", "tx2")
	for _, c := range []store.Challenge{open1, consumed, otherTx} {
		mustOK(t, "CreateChallenge", s.CreateChallenge(ctx, c, nil))
	}
	// The consumed one was never open, so the second open one invalidates only open1.
	open2 := newChallenge("ch-open2", "tx1")
	mustOK(t, "CreateChallenge", s.CreateChallenge(ctx, open2, nil))

	open1.Invalidated = true
	checkEqual(t, "earlier open challenge", getChallenge(t, s, "ch-open1"), open1)
	checkEqual(t, "consumed challenge", getChallenge(t, s, "ch-consumed"), consumed)
	checkEqual(t, "other transaction's challenge", getChallenge(t, s, "ch-other"), otherTx)
	checkEqual(t, "new challenge", getChallenge(t, s, "ch-open2"), open2)

	open3 := newChallenge("ch-open3", "tx1")
	msg := newMessage("m3", "ch-open3", open3.Phone)
	mustOK(t, "CreateChallenge", s.CreateChallenge(ctx, open3, &msg))
	open2.Invalidated = true
	checkEqual(t, "second challenge after the third", getChallenge(t, s, "ch-open2"), open2)
	checkEqual(t, "third challenge", getChallenge(t, s, "ch-open3"), open3)
}

func testCreateChallengeAtomic(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := newChallenge("ch1", "tx1")
	firstMsg := newMessage("m1", "ch1", first.Phone)
	mustOK(t, "CreateChallenge", s.CreateChallenge(ctx, first, &firstMsg))

	// The message cannot be queued (its id is taken): the challenge is not stored and
	// the open one is not invalidated.
	dupMsg := newMessage("m1", "ch2", first.Phone)
	dupMsg.Body = "should not be stored"
	err := s.CreateChallenge(ctx, newChallenge("ch2", "tx1"), &dupMsg)
	checkErrIs(t, "CreateChallenge with a taken message id", err, store.ErrAlreadyExists)
	_, err = s.GetChallenge(ctx, "ch2")
	checkErrIs(t, "GetChallenge of the challenge whose message failed", err, store.ErrNotFound)
	checkEqual(t, "open challenge after the failed CreateChallenge", getChallenge(t, s, "ch1"), first)
	got, err := s.GetMessage(ctx, "m1")
	mustOK(t, "GetMessage", err)
	checkEqual(t, "first message after the failed CreateChallenge", got, firstMsg)

	// The challenge cannot be stored (its id is taken): its message is not queued.
	msg := newMessage("m2", "ch1", first.Phone)
	err = s.CreateChallenge(ctx, newChallenge("ch1", "tx1"), &msg)
	checkErrIs(t, "CreateChallenge with a taken challenge id", err, store.ErrAlreadyExists)
	_, err = s.GetMessage(ctx, "m2")
	checkErrIs(t, "GetMessage of the message whose challenge failed", err, store.ErrNotFound)
	list, err := s.ListMessages(ctx, store.MessageFilter{})
	mustOK(t, "ListMessages", err)
	if len(list) != 1 {
		t.Errorf("ListMessages: got %d messages, want only the first", len(list))
	}
}

func testUpdateChallenge(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := newChallenge("ch1", "tx1")
	mustOK(t, "CreateChallenge", s.CreateChallenge(ctx, c, nil))

	next := c
	next.TransactionID, next.UserID, next.Phone, next.Method = "tx2", "00u2", "+15555550999", "voice"
	next.CodeMAC = []byte("another mac")
	next.CreatedAt, next.ExpiresAt, next.ConsumedAt = at(time.Second), at(time.Hour), at(2*time.Second)
	next.Invalidated = true
	got, err := s.UpdateChallenge(ctx, "ch1", func(cur store.Challenge) (store.Challenge, error) {
		checkEqual(t, "challenge seen by UpdateChallenge", cur, c)
		return next, nil
	})
	mustOK(t, "UpdateChallenge", err)
	checkEqual(t, "UpdateChallenge result", got, next)
	checkEqual(t, "challenge after UpdateChallenge", getChallenge(t, s, "ch1"), next)

	_, err = s.UpdateChallenge(ctx, "ch1", func(cur store.Challenge) (store.Challenge, error) {
		checkEqual(t, "challenge seen by the second UpdateChallenge", cur, next)
		cur.Invalidated = false
		return cur, errFn
	})
	checkFnErr(t, "UpdateChallenge with failing fn", err)
	_, err = s.UpdateChallenge(ctx, "ch1", func(cur store.Challenge) (store.Challenge, error) {
		cur.ID = "ch9"
		return cur, nil
	})
	checkRefused(t, "UpdateChallenge changing ID", err)
	_, err = s.GetChallenge(ctx, "ch9")
	checkErrIs(t, "GetChallenge of the refused ID", err, store.ErrNotFound)
	checkEqual(t, "challenge after refused updates", getChallenge(t, s, "ch1"), next)

	_, err = s.UpdateChallenge(ctx, "ch-missing", notCalled[store.Challenge](t))
	checkErrIs(t, "UpdateChallenge of a missing challenge", err, store.ErrNotFound)
}

func testInvalidateChallenges(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newChallenge("ch-a", "tx1")
	mustOK(t, "CreateChallenge", s.CreateChallenge(ctx, a, nil))
	// Consume a, then open b (which would have invalidated a had it been open).
	a.ConsumedAt = at(time.Second)
	_, err := s.UpdateChallenge(ctx, "ch-a", func(store.Challenge) (store.Challenge, error) { return a, nil })
	mustOK(t, "UpdateChallenge", err)
	b := newChallenge("ch-b", "tx1")
	mustOK(t, "CreateChallenge", s.CreateChallenge(ctx, b, nil))
	other := newChallenge("ch-other", "tx2")
	mustOK(t, "CreateChallenge", s.CreateChallenge(ctx, other, nil))

	mustOK(t, "InvalidateChallenges", s.InvalidateChallenges(ctx, "tx1"))
	b.Invalidated = true
	checkEqual(t, "open challenge after InvalidateChallenges", getChallenge(t, s, "ch-b"), b)
	checkEqual(t, "consumed challenge after InvalidateChallenges", getChallenge(t, s, "ch-a"), a)
	checkEqual(t, "other transaction's challenge", getChallenge(t, s, "ch-other"), other)

	mustOK(t, "InvalidateChallenges again", s.InvalidateChallenges(ctx, "tx1"))
	mustOK(t, "InvalidateChallenges of a transaction without challenges", s.InvalidateChallenges(ctx, "tx-none"))
	checkEqual(t, "other transaction's challenge", getChallenge(t, s, "ch-other"), other)
}

// queue stores messages, each with a challenge of its own.
func queue(t *testing.T, s store.Store, msgs ...store.Message) {
	t.Helper()
	for _, m := range msgs {
		mustOK(t, "CreateChallenge", s.CreateChallenge(t.Context(), newChallenge("ch-"+m.ID, "tx-"+m.ID), &m))
	}
}

func testClaimMessages(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := base
	msg := func(id string, status store.MessageStatus, nextAttempt, leaseUntil time.Time, created time.Duration) store.Message {
		m := newMessage(id, "ch-"+id, "+15555550100")
		m.Status, m.NextAttemptAt, m.LeaseUntil, m.CreatedAt = status, nextAttempt, leaseUntil, at(created)
		m.Attempts = 2
		return m
	}
	due := []store.Message{
		msg("pending-past", store.MessagePending, at(-time.Minute), time.Time{}, -5*time.Minute),
		msg("pending-now", store.MessagePending, now, time.Time{}, -4*time.Minute),
		msg("pending-zero", store.MessagePending, time.Time{}, time.Time{}, -3*time.Minute),
		msg("sending-expired", store.MessageSending, at(-time.Hour), at(-time.Millisecond), -2*time.Minute),
	}
	notDue := []store.Message{
		msg("pending-future", store.MessagePending, at(time.Millisecond), time.Time{}, -10*time.Minute),
		msg("sending-lease-now", store.MessageSending, at(-time.Hour), now, -10*time.Minute),
		msg("sending-leased", store.MessageSending, at(-time.Hour), at(time.Minute), -10*time.Minute),
		msg("sent", store.MessageSent, at(-time.Hour), at(-time.Hour), -10*time.Minute),
		msg("failed", store.MessageFailed, at(-time.Hour), at(-time.Hour), -10*time.Minute),
	}
	queue(t, s, append(notDue, due...)...)

	got, err := s.ClaimMessages(ctx, now, 0, 0)
	mustOK(t, "ClaimMessages with limit 0", err)
	if len(got) != 0 {
		t.Errorf("ClaimMessages with limit 0 claimed %d", len(got))
	}

	const lease = 30 * time.Second
	// Limit 1 takes one due message, oldest first.
	got, err = s.ClaimMessages(ctx, now, lease, 1)
	mustOK(t, "ClaimMessages", err)
	claimed := func(m store.Message) store.Message {
		m.Status, m.LeaseUntil, m.Attempts = store.MessageSending, now.Add(lease), m.Attempts+1
		return m
	}
	checkEqual(t, "ClaimMessages with limit 1", got, []store.Message{claimed(due[0])})

	got, err = s.ClaimMessages(ctx, now, lease, 10)
	mustOK(t, "ClaimMessages", err)
	want := []store.Message{claimed(due[1]), claimed(due[2]), claimed(due[3])}
	checkEqual(t, "ClaimMessages of the rest", got, want)

	// As returned, so stored.
	for _, m := range append(want, claimed(due[0])) {
		stored, err := s.GetMessage(ctx, m.ID)
		mustOK(t, "GetMessage", err)
		checkEqual(t, "claimed message "+m.ID, stored, m)
	}
	for _, m := range notDue {
		stored, err := s.GetMessage(ctx, m.ID)
		mustOK(t, "GetMessage", err)
		checkEqual(t, "unclaimed message "+m.ID, stored, m)
	}

	got, err = s.ClaimMessages(ctx, now, lease, 10)
	mustOK(t, "ClaimMessages", err)
	if len(got) != 0 {
		t.Errorf("ClaimMessages again at the same time claimed %d: %+v", len(got), got)
	}
	// Once the leases run out, the claimed messages (and the one leased until
	// now+1m) can be claimed again; the attempt count goes on.
	later := now.Add(lease + time.Millisecond)
	got, err = s.ClaimMessages(ctx, later, lease, 10)
	mustOK(t, "ClaimMessages after the leases", err)
	if len(got) != 6 {
		t.Fatalf("ClaimMessages after the leases: got %d messages, want 6: %+v", len(got), got)
	}
	for _, m := range got {
		wantAttempts := 4
		if m.ID == "pending-future" || m.ID == "sending-lease-now" {
			wantAttempts = 3
		}
		if m.Status != store.MessageSending || !m.LeaseUntil.Equal(later.Add(lease)) || m.Attempts != wantAttempts {
			t.Errorf("reclaimed %s: status %s, lease %v, attempts %d; want sending, %v, %d",
				m.ID, m.Status, m.LeaseUntil, m.Attempts, later.Add(lease), wantAttempts)
		}
	}
}

func testUpdateMessage(t *testing.T, s store.Store) {
	ctx := t.Context()
	m := newMessage("m1", "ch1", "+15555550100")
	queue(t, s, m)

	next := m
	next.Status, next.Attempts, next.ProviderID, next.LastError = store.MessageSent, 3, "SM123", "earlier timeout"
	next.NextAttemptAt, next.LeaseUntil, next.SentAt = at(time.Minute), at(2*time.Minute), at(3*time.Minute)
	next.ChallengeID, next.To, next.Channel, next.Body, next.Code = "ch9", "+15555550999", "voice", "new body", "654321"
	next.CreatedAt = at(time.Second)
	got, err := s.UpdateMessage(ctx, "m1", func(cur store.Message) (store.Message, error) {
		checkEqual(t, "message seen by UpdateMessage", cur, m)
		return next, nil
	})
	mustOK(t, "UpdateMessage", err)
	checkEqual(t, "UpdateMessage result", got, next)
	stored, err := s.GetMessage(ctx, "m1")
	mustOK(t, "GetMessage", err)
	checkEqual(t, "message after UpdateMessage", stored, next)

	_, err = s.UpdateMessage(ctx, "m1", func(cur store.Message) (store.Message, error) {
		checkEqual(t, "message seen by the second UpdateMessage", cur, next)
		cur.Status = store.MessageFailed
		return cur, errFn
	})
	checkFnErr(t, "UpdateMessage with failing fn", err)
	_, err = s.UpdateMessage(ctx, "m1", func(cur store.Message) (store.Message, error) {
		cur.ID = "m9"
		return cur, nil
	})
	checkRefused(t, "UpdateMessage changing ID", err)
	_, err = s.GetMessage(ctx, "m9")
	checkErrIs(t, "GetMessage of the refused ID", err, store.ErrNotFound)
	stored, err = s.GetMessage(ctx, "m1")
	mustOK(t, "GetMessage", err)
	checkEqual(t, "message after refused updates", stored, next)

	_, err = s.UpdateMessage(ctx, "m-missing", notCalled[store.Message](t))
	checkErrIs(t, "UpdateMessage of a missing message", err, store.ErrNotFound)
}

func testListMessages(t *testing.T, s store.Store) {
	ctx := t.Context()
	list, err := s.ListMessages(ctx, store.MessageFilter{})
	mustOK(t, "ListMessages of none", err)
	if len(list) != 0 {
		t.Fatalf("ListMessages of an empty outbox: %d messages", len(list))
	}

	// 55 messages to two numbers, created in an order unlike their CreatedAt.
	var all []store.Message
	for i := range 55 {
		to := "+15555550001"
		if i%3 == 0 {
			to = "+15555550002"
		}
		m := newMessage(fmt.Sprintf("m%02d", i), fmt.Sprintf("ch%02d", i), to)
		m.CreatedAt = at(time.Duration((i*37)%55) * time.Second) // a permutation of 0…54 s
		all = append(all, m)
	}
	queue(t, s, all...)
	newestFirst := func(filter func(store.Message) bool) []string {
		var ids []string
		for sec := 54; sec >= 0; sec-- {
			for _, m := range all {
				if m.CreatedAt.Equal(at(time.Duration(sec)*time.Second)) && filter(m) {
					ids = append(ids, m.ID)
				}
			}
		}
		return ids
	}
	ids := func(ms []store.Message) []string {
		var ids []string
		for _, m := range ms {
			ids = append(ids, m.ID)
		}
		return ids
	}
	everyMessage := func(store.Message) bool { return true }

	list, err = s.ListMessages(ctx, store.MessageFilter{})
	mustOK(t, "ListMessages", err)
	checkEqual(t, "ListMessages with the default limit", ids(list), newestFirst(everyMessage)[:50])

	list, err = s.ListMessages(ctx, store.MessageFilter{Limit: 5})
	mustOK(t, "ListMessages", err)
	checkEqual(t, "ListMessages with limit 5", ids(list), newestFirst(everyMessage)[:5])
	for _, m := range all {
		if m.ID == list[0].ID {
			checkEqual(t, "listed message", list[0], m)
		}
	}

	list, err = s.ListMessages(ctx, store.MessageFilter{To: "+15555550002", Limit: 100})
	mustOK(t, "ListMessages", err)
	checkEqual(t, "ListMessages to one number", ids(list),
		newestFirst(func(m store.Message) bool { return m.To == "+15555550002" }))
	if len(list) != 19 {
		t.Errorf("ListMessages to one number: got %d, want 19", len(list))
	}

	list, err = s.ListMessages(ctx, store.MessageFilter{To: "+15555550003"})
	mustOK(t, "ListMessages", err)
	if len(list) != 0 {
		t.Errorf("ListMessages to a number without messages: got %d", len(list))
	}

	list, err = s.ListMessages(ctx, store.MessageFilter{ChallengeID: "ch03"})
	mustOK(t, "ListMessages", err)
	checkEqual(t, "ListMessages of one challenge", ids(list), []string{"m03"})
	list, err = s.ListMessages(ctx, store.MessageFilter{ChallengeID: "ch03", To: "+15555550001"})
	mustOK(t, "ListMessages", err)
	if len(list) != 0 {
		t.Errorf("ListMessages of one challenge to another number: got %d", len(list))
	}
}

// testQueueMessage: a message of no challenge (a back-channel logout notice) is
// stored as given, claimed like any other, and its id is unique.
func testQueueMessage(t *testing.T, s store.Store) {
	ctx := t.Context()
	m := newMessage("bcl-1", "", "https://rp.example.com/backchannel")
	m.Channel, m.Body, m.Code, m.Status, m.TransactionID = "backchannel_logout", "eyJhbGciOi.logout.token", "", "", ""
	mustOK(t, "QueueMessage", s.QueueMessage(ctx, m))
	got, err := s.GetMessage(ctx, "bcl-1")
	mustOK(t, "GetMessage", err)
	want := m
	want.Status = store.MessagePending
	checkEqual(t, "queued message", got, want)
	checkErrIs(t, "QueueMessage with a taken id", s.QueueMessage(ctx, m), store.ErrAlreadyExists)
	claimed, err := s.ClaimMessages(ctx, base, time.Minute, 10)
	mustOK(t, "ClaimMessages", err)
	if len(claimed) != 1 || claimed[0].ID != "bcl-1" || claimed[0].Status != store.MessageSending {
		t.Errorf("ClaimMessages after QueueMessage: %+v", claimed)
	}
}

func testOutboxBacklog(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.OutboxBacklog(ctx)
	mustOK(t, "OutboxBacklog of an empty outbox", err)
	checkEqual(t, "OutboxBacklog of an empty outbox", got, store.OutboxBacklog{})

	msg := func(id string, status store.MessageStatus, created time.Duration) store.Message {
		m := newMessage(id, "ch-"+id, "+15555550100")
		m.Status, m.CreatedAt, m.NextAttemptAt = status, at(created), at(time.Hour)
		if status == store.MessageSent {
			m.SentAt = at(created + time.Second)
		}
		return m
	}
	queue(t, s,
		msg("sent-oldest", store.MessageSent, -time.Hour),
		msg("failed-old", store.MessageFailed, -50*time.Minute),
		msg("pending-later", store.MessagePending, -time.Minute), // not due yet: still counted
		msg("sending", store.MessageSending, -10*time.Minute),
		msg("pending-new", store.MessagePending, 0),
	)
	got, err = s.OutboxBacklog(ctx)
	mustOK(t, "OutboxBacklog", err)
	checkEqual(t, "OutboxBacklog", got, store.OutboxBacklog{Pending: 3, Oldest: at(-10 * time.Minute)})

	// Delivering the oldest moves Oldest forward; delivering all empties it.
	for _, id := range []string{"sending", "pending-later", "pending-new"} {
		_, err := s.UpdateMessage(ctx, id, func(m store.Message) (store.Message, error) {
			m.Status, m.SentAt = store.MessageSent, at(time.Second)
			return m, nil
		})
		mustOK(t, "UpdateMessage "+id, err)
		got, err = s.OutboxBacklog(ctx)
		mustOK(t, "OutboxBacklog", err)
		if id == "sending" {
			checkEqual(t, "OutboxBacklog after the oldest was sent", got, store.OutboxBacklog{Pending: 2, Oldest: at(-time.Minute)})
		}
	}
	checkEqual(t, "OutboxBacklog after every message was sent", got, store.OutboxBacklog{})
}
