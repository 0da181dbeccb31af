package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// newEvent is an event with every field set, published at base+d.
func newEvent(uuid, eventType string, d time.Duration) store.LogEvent {
	return store.LogEvent{
		UUID: uuid, Published: at(d), EventType: eventType, Version: "0", Severity: "INFO",
		DisplayMessage: "Display message of " + uuid,
		Actor:          store.LogActor{ID: "00u-" + uuid, Type: "User", AlternateID: "alice." + uuid + "@example.com", DisplayName: "Alice Zoë"},
		Client:         store.LogClient{IPAddress: "203.0.113.7", UserAgent: store.LogUserAgent{RawUserAgent: "Mozilla/5.0 (X11)"}},
		Outcome:        store.LogOutcome{Result: store.OutcomeSuccess, Reason: "reason of " + uuid},
		Target: []store.LogTarget{
			{ID: "tgt-" + uuid, Type: "AuthenticatorEnrollment", AlternateID: "+1 XXX-XXX-0123", DisplayName: "Phone",
				DetailEntry: map[string]string{"methodType": "sms"}},
			{ID: "app-" + uuid, Type: "PublicClientApp", DisplayName: "Test app"},
		},
		Transaction:           store.LogTransaction{Type: "WEB", ID: "req-" + uuid},
		AuthenticationContext: store.LogAuthenticationContext{ExternalSessionID: "ftx-" + uuid},
		DebugContext:          store.LogDebugContext{DebugData: map[string]string{"requestUri": "/idp/idx/identify", "quote": `"<&>`}},
	}
}

func uuids(events []store.LogEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.UUID)
	}
	return out
}

func listEvents(t *testing.T, s store.Store, q store.EventQuery) []string {
	t.Helper()
	got, err := s.ListEvents(t.Context(), q)
	mustOK(t, "ListEvents", err)
	return uuids(got)
}

func checkUUIDs(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: got events %v, want %v", what, got, want)
	}
}

// testEventRoundTrip: an event comes back as appended, with its seq set and its
// published time in UTC; a duplicate uuid fails the whole append.
func testEventRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	e := newEvent("ev-1", "user.session.start", 0)
	mustOK(t, "AppendEvents", s.AppendEvents(ctx, []store.LogEvent{e}, nil))
	got, err := s.ListEvents(ctx, store.EventQuery{})
	mustOK(t, "ListEvents", err)
	if len(got) != 1 {
		t.Fatalf("ListEvents: %d events, want 1", len(got))
	}
	if got[0].Seq == 0 {
		t.Error("ListEvents: Seq not set")
	}
	want := e
	want.Seq = got[0].Seq
	checkEqual(t, "event", got[0], want)

	bare := store.LogEvent{UUID: "ev-bare", Published: at(time.Second), EventType: "x.y"}
	mustOK(t, "AppendEvents of a bare event", s.AppendEvents(ctx, []store.LogEvent{bare}, nil))
	got, _ = s.ListEvents(ctx, store.EventQuery{Since: at(time.Second)})
	if len(got) != 1 || got[0].Target == nil {
		t.Errorf("a bare event's targets: %#v, want an empty list", got)
	}

	err = s.AppendEvents(ctx, []store.LogEvent{newEvent("ev-2", "x.y", 2*time.Second), newEvent("ev-1", "x.y", 3*time.Second)}, nil)
	checkErrIs(t, "AppendEvents with a taken uuid", err, store.ErrAlreadyExists)
	checkUUIDs(t, "after a failed append", listEvents(t, s, store.EventQuery{}), "ev-1", "ev-bare")
}

// testListEvents: bounds, filters, keywords, order and paging.
func testListEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newEvent("a", "user.session.start", 0)
	b := newEvent("b", "user.session.start", time.Second)
	b.Outcome.Result = store.OutcomeFailure
	b.Actor.ID = "00u-x"
	c := newEvent("c", "user.authentication.auth_via_mfa", 2*time.Second)
	c.Actor.ID = "00u-x"
	c.DisplayMessage = "Code 50%_OFF checked"
	// d and e share a millisecond: the order they were appended in decides.
	d := newEvent("d", "app.oauth2.token.grant.access_token", 3*time.Second)
	e := newEvent("e", "app.oauth2.token.grant.id_token", 3*time.Second)
	e.Target = append(e.Target, store.LogTarget{ID: "tgt-a", Type: "User"})
	mustOK(t, "AppendEvents", s.AppendEvents(ctx, []store.LogEvent{a, b, c}, nil))
	mustOK(t, "AppendEvents", s.AppendEvents(ctx, []store.LogEvent{d}, nil))
	mustOK(t, "AppendEvents", s.AppendEvents(ctx, []store.LogEvent{e}, nil))

	checkUUIDs(t, "all", listEvents(t, s, store.EventQuery{}), "a", "b", "c", "d", "e")
	checkUUIDs(t, "descending", listEvents(t, s, store.EventQuery{Descending: true}), "e", "d", "c", "b", "a")
	checkUUIDs(t, "since (inclusive)", listEvents(t, s, store.EventQuery{Since: at(time.Second)}), "b", "c", "d", "e")
	checkUUIDs(t, "until (exclusive)", listEvents(t, s, store.EventQuery{Until: at(2 * time.Second)}), "a", "b")
	checkUUIDs(t, "limit", listEvents(t, s, store.EventQuery{Limit: 2}), "a", "b")

	eq := func(f store.EventField, v string) store.EventFilter {
		return store.EventFilter{Op: store.EventEq, Field: f, Value: v}
	}
	filter := func(f store.EventFilter) store.EventQuery { return store.EventQuery{Filter: &f} }
	checkUUIDs(t, "eventType eq", listEvents(t, s, filter(eq(store.EventFieldType, "user.session.start"))), "a", "b")
	checkUUIDs(t, "eventType eq is exact", listEvents(t, s, filter(eq(store.EventFieldType, "USER.session.start"))))
	checkUUIDs(t, "outcome.result eq", listEvents(t, s, filter(eq(store.EventFieldOutcome, "FAILURE"))), "b")
	checkUUIDs(t, "actor.id eq", listEvents(t, s, filter(eq(store.EventFieldActorID, "00u-x"))), "b", "c")
	checkUUIDs(t, "actor.alternateId eq", listEvents(t, s, filter(eq(store.EventFieldActorAlternateID, "alice.d@example.com"))), "d")
	checkUUIDs(t, "target.id eq", listEvents(t, s, filter(eq(store.EventFieldTargetID, "tgt-a"))), "a", "e")
	checkUUIDs(t, "transaction.id eq", listEvents(t, s, filter(eq(store.EventFieldTransactionID, "req-c"))), "c")
	checkUUIDs(t, "externalSessionId eq", listEvents(t, s, filter(eq(store.EventFieldSessionID, "ftx-e"))), "e")
	checkUUIDs(t, "severity eq", listEvents(t, s, filter(eq(store.EventFieldSeverity, "INFO"))), "a", "b", "c", "d", "e")
	checkUUIDs(t, "and", listEvents(t, s, filter(store.EventFilter{Op: store.EventAnd, Terms: []store.EventFilter{
		eq(store.EventFieldActorID, "00u-x"), eq(store.EventFieldType, "user.session.start")}})), "b")
	checkUUIDs(t, "or of and", listEvents(t, s, filter(store.EventFilter{Op: store.EventOr, Terms: []store.EventFilter{
		{Op: store.EventAnd, Terms: []store.EventFilter{eq(store.EventFieldActorID, "00u-x"), eq(store.EventFieldOutcome, "SUCCESS")}},
		eq(store.EventFieldType, "app.oauth2.token.grant.id_token")}})), "c", "e")
	checkUUIDs(t, "a value that is SQL", listEvents(t, s, filter(eq(store.EventFieldType, `x' OR '1'='1`))))

	_, err := s.ListEvents(ctx, filter(eq("published", "x")))
	if err == nil {
		t.Error("a filter on an unknown field was accepted")
	}
	many := store.EventFilter{Op: store.EventOr}
	for i := range store.MaxEventFilterTerms + 1 {
		many.Terms = append(many.Terms, eq(store.EventFieldType, fmt.Sprint(i)))
	}
	if _, err := s.ListEvents(ctx, filter(many)); err == nil {
		t.Error("a filter with too many comparisons was accepted")
	}

	checkUUIDs(t, "keyword, any case", listEvents(t, s, store.EventQuery{Keywords: []string{"MFA"}}), "c")
	checkUUIDs(t, "keywords all match", listEvents(t, s, store.EventQuery{Keywords: []string{"alice", "token", "id_token"}}), "e")
	checkUUIDs(t, "keyword % and _ literal", listEvents(t, s, store.EventQuery{Keywords: []string{"50%_off"}}), "c")
	checkUUIDs(t, "keyword % alone", listEvents(t, s, store.EventQuery{Keywords: []string{"%"}}), "c")
	checkUUIDs(t, "keyword in a target", listEvents(t, s, store.EventQuery{Keywords: []string{"tgt-a"}}), "a", "e")
	checkUUIDs(t, "keyword in the client IP", listEvents(t, s, store.EventQuery{Keywords: []string{"203.0.113.7"}}), "a", "b", "c", "d", "e")

	// Paging: a cursor at each event's position, both ways.
	all, err := s.ListEvents(ctx, store.EventQuery{})
	mustOK(t, "ListEvents", err)
	var pages []string
	var after *store.EventCursor
	for range 10 {
		page, err := s.ListEvents(ctx, store.EventQuery{Limit: 2, After: after})
		mustOK(t, "ListEvents page", err)
		if len(page) == 0 {
			break
		}
		pages = append(pages, uuids(page)...)
		last := page[len(page)-1]
		after = &store.EventCursor{Published: last.Published, Seq: last.Seq}
	}
	checkUUIDs(t, "pages ascending", pages, uuids(all)...)
	d2 := all[3]
	checkUUIDs(t, "descending after d", listEvents(t, s, store.EventQuery{Descending: true,
		After: &store.EventCursor{Published: d2.Published, Seq: d2.Seq}}), "c", "b", "a")
	checkUUIDs(t, "ascending after d", listEvents(t, s, store.EventQuery{
		After: &store.EventCursor{Published: d2.Published, Seq: d2.Seq}}), "e")
}

// testDeleteEventsBefore: only events published strictly before the time go, with
// their targets.
func testDeleteEventsBefore(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustOK(t, "AppendEvents", s.AppendEvents(ctx, []store.LogEvent{newEvent("old", "x.y", -time.Hour),
		newEvent("edge", "x.y", 0), newEvent("new", "x.y", time.Hour)}, nil))
	n, err := s.DeleteEventsBefore(ctx, at(0))
	mustOK(t, "DeleteEventsBefore", err)
	if n != 1 {
		t.Errorf("DeleteEventsBefore deleted %d, want 1", n)
	}
	checkUUIDs(t, "after DeleteEventsBefore", listEvents(t, s, store.EventQuery{}), "edge", "new")
	f := store.EventFilter{Op: store.EventEq, Field: store.EventFieldTargetID, Value: "tgt-old"}
	checkUUIDs(t, "the deleted event's target", listEvents(t, s, store.EventQuery{Filter: &f}))
	if n, err := s.DeleteEventsBefore(ctx, at(0)); err != nil || n != 0 {
		t.Errorf("DeleteEventsBefore again: %d, %v", n, err)
	}
}

// testRecordsCommitWithChange: records attached to a write's context are written
// with it, once, and not when it fails or changes nothing.
func testRecordsCommitWithChange(t *testing.T, s store.Store) {
	ctx := t.Context()
	var commits atomic.Int32
	with := func(ctx context.Context, uuid string, msgs ...store.Message) context.Context {
		return store.WithRecords(ctx, store.Records{Events: []store.LogEvent{newEvent(uuid, "x.y", 0)}, Messages: msgs,
			OnCommit: func() { commits.Add(1) }})
	}
	u := newUser("00u-rec", "rec")
	msg := newMessage("msg-hook", "", "siem")
	msg.Channel = "event_hook"
	mustOK(t, "CreateUser", s.CreateUser(with(ctx, "created", msg), u))
	checkUUIDs(t, "after CreateUser", listEvents(t, s, store.EventQuery{}), "created")
	if got, err := s.GetMessage(ctx, msg.ID); err != nil || got.To != "siem" {
		t.Errorf("the hook message queued with the records: %+v, %v", got, err)
	}
	if commits.Load() != 1 {
		t.Errorf("OnCommit ran %d times, want 1", commits.Load())
	}

	// A refused change records nothing, and neither does a taken login.
	_, err := s.UpdateUser(with(ctx, "refused"), u.ID, func(store.User) (store.User, error) { return u, errFn })
	checkFnErr(t, "UpdateUser refused", err)
	checkErrIs(t, "CreateUser twice", s.CreateUser(with(ctx, "duplicate"), u), store.ErrAlreadyExists)
	// A delete of nothing changed nothing.
	checkErrIs(t, "DeletePhoneEnrollment of none", s.DeletePhoneEnrollment(with(ctx, "deleted-nothing"), "sms-none"), store.ErrNotFound)
	checkErrIs(t, "DeleteEnrollment of none", s.DeleteEnrollment(with(ctx, "deleted-nothing-2"), "uft-none"), store.ErrNotFound)
	checkUUIDs(t, "after failed writes", listEvents(t, s, store.EventQuery{}), "created")
	if commits.Load() != 1 {
		t.Errorf("OnCommit ran %d times after failed writes, want 1", commits.Load())
	}

	// Records ride with the first write only, also when it failed.
	rctx := with(ctx, "once")
	_, err = s.UpdateUser(rctx, u.ID, func(u store.User) (store.User, error) { u.GivenName = "Changed"; return u, nil })
	mustOK(t, "UpdateUser", err)
	mustOK(t, "SetPassword", s.SetPassword(rctx, store.PasswordCredential{UserID: u.ID, Hash: "h", UpdatedAt: at(0)}))
	failed := with(ctx, "dropped")
	_, err = s.UpdateUser(failed, u.ID, func(store.User) (store.User, error) { return u, errFn })
	checkFnErr(t, "UpdateUser refused", err)
	_, err = s.UpdateUser(failed, u.ID, func(u store.User) (store.User, error) { return u, nil })
	mustOK(t, "UpdateUser after a refused one", err)
	checkUUIDs(t, "records taken once", listEvents(t, s, store.EventQuery{}), "created", "once")

	// Records of a context and of the contexts it derives from go together, oldest
	// first; a plain statement takes them (CreatePhoneEnrollment).
	nested := with(with(ctx, "outer"), "inner")
	mustOK(t, "CreatePhoneEnrollment", s.CreatePhoneEnrollment(nested, newPhone("sms-rec", u.ID, "+15555550199", at(0))))
	checkUUIDs(t, "nested records", listEvents(t, s, store.EventQuery{}), "created", "once", "outer", "inner")

	// A read does not take them; the next write does.
	readCtx := with(ctx, "after-read")
	if _, err := s.GetUser(readCtx, u.ID); err != nil {
		t.Fatal(err)
	}
	mustOK(t, "DeletePhoneEnrollment", s.DeletePhoneEnrollment(readCtx, "sms-rec"))
	checkUUIDs(t, "after a read and a delete", listEvents(t, s, store.EventQuery{}), "created", "once", "outer", "inner", "after-read")

	// A transaction of a store method (CreateChallenge) carries them too.
	err = s.CreateChallenge(with(ctx, "challenge"), newChallenge("ch-rec", "tx-rec"), nil)
	mustOK(t, "CreateChallenge", err)
	err = s.CreateChallenge(with(ctx, "challenge-dup"), newChallenge("ch-rec", "tx-rec"), nil)
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("CreateChallenge twice: %v", err)
	}
	checkUUIDs(t, "after CreateChallenge", listEvents(t, s, store.EventQuery{Since: at(0)}), "created", "once", "outer", "inner", "after-read", "challenge")
}

// testFlushEvents: events written with their changes become searchable by
// FlushEvents (or by ListEvents, which flushes first), each exactly once, also
// when several flushers and writers run at once.
func testFlushEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.FlushEvents(ctx); err != nil {
		t.Fatal(err)
	}
	mustOK(t, "AppendEvents", s.AppendEvents(ctx, []store.LogEvent{newEvent("f-1", "x.y", 0), newEvent("f-2", "x.y", time.Millisecond)}, nil))
	n, err := s.FlushEvents(ctx)
	mustOK(t, "FlushEvents", err)
	if n > 2 {
		t.Errorf("FlushEvents moved %d events, want at most the 2 appended", n)
	}
	if n, err := s.FlushEvents(ctx); err != nil || n != 0 {
		t.Errorf("FlushEvents again: %d, %v; want 0", n, err)
	}
	checkUUIDs(t, "after a flush", listEvents(t, s, store.EventQuery{}), "f-1", "f-2")

	// Writers and flushers at once: every event lands in the log once.
	const writers = 8
	errs := make([]error, 2*writers)
	runConcurrently(2*writers, func(i int) {
		if i%2 == 0 {
			ev := newEvent(fmt.Sprintf("c-%02d", i), "x.z", time.Duration(i)*time.Millisecond+time.Second)
			errs[i] = s.AppendEvents(ctx, []store.LogEvent{ev}, nil)
			return
		}
		_, errs[i] = s.FlushEvents(ctx)
	})
	for i, err := range errs {
		mustOK(t, fmt.Sprintf("writer or flusher %d", i), err)
	}
	var want []string
	for i := 0; i < 2*writers; i += 2 {
		want = append(want, fmt.Sprintf("c-%02d", i))
	}
	f := store.EventFilter{Op: store.EventEq, Field: store.EventFieldType, Value: "x.z"}
	checkUUIDs(t, "after concurrent writers and flushers", listEvents(t, s, store.EventQuery{Filter: &f, Limit: 100}), want...)
}
