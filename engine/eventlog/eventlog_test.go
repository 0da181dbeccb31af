package eventlog_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/clientip"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/logctx"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
)

func TestParseFilter(t *testing.T) {
	eq := func(f store.EventField, v string) store.EventFilter {
		return store.EventFilter{Op: store.EventEq, Field: f, Value: v}
	}
	good := map[string]store.EventFilter{
		`eventType eq "user.session.start"`: eq(store.EventFieldType, "user.session.start"),
		`  outcome.result  EQ  "FAILURE"  `: eq(store.EventFieldOutcome, "FAILURE"),
		`actor.id eq "00u1" and eventType eq "x.y"`: {Op: store.EventAnd, Terms: []store.EventFilter{
			eq(store.EventFieldActorID, "00u1"), eq(store.EventFieldType, "x.y")}},
		// and binds tighter than or; same operations are flattened.
		`eventType eq "a" or eventType eq "b" and actor.id eq "u" OR eventType eq "c"`: {Op: store.EventOr, Terms: []store.EventFilter{
			eq(store.EventFieldType, "a"),
			{Op: store.EventAnd, Terms: []store.EventFilter{eq(store.EventFieldType, "b"), eq(store.EventFieldActorID, "u")}},
			eq(store.EventFieldType, "c")}},
		`(eventType eq "a" or eventType eq "b") and target.id eq "t"`: {Op: store.EventAnd, Terms: []store.EventFilter{
			{Op: store.EventOr, Terms: []store.EventFilter{eq(store.EventFieldType, "a"), eq(store.EventFieldType, "b")}},
			eq(store.EventFieldTargetID, "t")}},
		`authenticationContext.externalSessionId eq "ftx1"`: eq(store.EventFieldSessionID, "ftx1"),
		`actor.alternateId eq "a \"quoted\" \\ name"`:       eq(store.EventFieldActorAlternateID, `a "quoted" \ name`),
		`eventType eq "x' OR '1'='1"`:                       eq(store.EventFieldType, `x' OR '1'='1`),
		`eventType eq ""`:                                   eq(store.EventFieldType, ""),
	}
	for expr, want := range good {
		got, err := eventlog.ParseFilter(expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(want)
		if string(a) != string(b) {
			t.Errorf("%s:\n got %s\nwant %s", expr, a, b)
		}
	}
	long := strings.Repeat(`eventType eq "x" or `, 40) + `eventType eq "x"`
	bad := []string{
		``, `   `, `eventType`, `eventType eq`, `eventType eq x`, `eventType sw "user"`, `eventType ne "x"`,
		`published gt "2020-01-01T00:00:00Z"`, `EventType eq "x"`, `eventType eq "x" and`, `eventType eq "x" xor eventType eq "y"`,
		`eventType eq "x"; DROP TABLE system_log`, `eventType eq "x" or 1=1`, `eventType eq "x" -- comment`,
		`(eventType eq "x"`, `eventType eq "x")`, `()`, `eventType eq "unclosed`, `eventType eq "bad \n escape"`,
		`not eventType eq "x"`, `eventType eq 'x'`, `eventType eq "x" eventType eq "y"`, long,
		strings.Repeat("(", 10) + `eventType eq "x"` + strings.Repeat(")", 10),
		`eventType eq "` + strings.Repeat("x", 300) + `"`, strings.Repeat(" ", 2000), "eventType eq \"\xff\"",
	}
	for _, expr := range bad {
		if f, err := eventlog.ParseFilter(expr); err == nil {
			t.Errorf("%q was accepted: %+v", expr, f)
		}
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{`eventType eq "a"`, `(actor.id eq "x" or target.id eq "y") and severity eq "WARN"`, `a"b(`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		got, err := eventlog.ParseFilter(expr)
		if err != nil {
			return
		}
		var walk func(store.EventFilter, int) int
		walk = func(n store.EventFilter, depth int) int {
			if depth > 20 {
				t.Fatalf("%q: nested too deep", expr)
			}
			switch n.Op {
			case store.EventEq:
				known := false
				for _, f := range store.EventFields {
					known = known || f == n.Field
				}
				if !known {
					t.Fatalf("%q: unknown field %q accepted", expr, n.Field)
				}
				return 1
			case store.EventAnd, store.EventOr:
				if len(n.Terms) < 2 {
					t.Fatalf("%q: %s of %d terms", expr, n.Op, len(n.Terms))
				}
				sum := 0
				for _, c := range n.Terms {
					sum += walk(c, depth+1)
				}
				return sum
			}
			t.Fatalf("%q: unknown operation %q", expr, n.Op)
			return 0
		}
		if n := walk(*got, 0); n > store.MaxEventFilterTerms {
			t.Fatalf("%q: %d comparisons accepted", expr, n)
		}
	})
}

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestContextAndHooks: what the context knows fills the event, and each batch
// becomes one hook delivery per hook that wants any of it, queued with it.
func TestContextAndHooks(t *testing.T) {
	st := openStore(t)
	at := time.Date(2031, 5, 17, 9, 30, 15, 123_456_789, time.UTC)
	woken := 0
	rec := &eventlog.Recorder{Now: func() time.Time { return at }, Source: "https://id.example.com", Wake: func() { woken++ },
		Hooks: []eventlog.Hook{{Name: "siem"}, {Name: "locks", EventTypes: []string{eventlog.TypeLock}}}}

	var ctx context.Context
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("User-Agent", strings.Repeat("u", 600))
	eventlog.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { ctx = r.Context() }), rec).ServeHTTP(httptest.NewRecorder(), req)
	ctx = logctx.WithRequestID(clientip.WithIP(ctx, netip.MustParseAddr("203.0.113.9")), "req-1")
	ctx = eventlog.WithSession(eventlog.WithActor(ctx, eventlog.APIToken("00T1", "ops")), "ftx-1")

	// Appended alone: the session start goes to siem only.
	if err := eventlog.Append(ctx, st, eventlog.Event{Type: eventlog.TypeSessionStart, Result: store.OutcomeFailure}); err != nil {
		t.Fatal(err)
	}
	// Attached to a write that fails: nothing; to one that commits: both events,
	// in one delivery to siem and one (of the lock only) to locks.
	user := store.User{ID: "00u1", Login: "alice", CreatedAt: at}
	if err := st.CreateUser(ctx, user); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(eventlog.Attach(ctx, eventlog.Event{Type: eventlog.TypeUserCreate, Result: store.OutcomeSuccess}), user); err == nil {
		t.Fatal("a duplicate user was created")
	}
	ctx2 := eventlog.WithJob(ctx, "msg-1")
	_, err := st.UpdateUser(eventlog.Attach(ctx2,
		eventlog.Event{Type: eventlog.TypeLock, Result: store.OutcomeSuccess, Actor: eventlog.User(user)},
		eventlog.Event{Type: eventlog.TypeUserUpdate, Result: store.OutcomeSuccess, SessionID: "ftx-other"}),
		user.ID, func(u store.User) (store.User, error) { u.GivenName = "Alice"; return u, nil })
	if err != nil {
		t.Fatal(err)
	}

	events, err := st.ListEvents(t.Context(), store.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 3 {
		t.Fatalf("%d events, want 3: %+v", len(events), events)
	}
	first := events[0]
	if !first.Published.Equal(at.Truncate(time.Millisecond)) || first.Version != "0" || first.Severity != "WARN" ||
		first.DisplayMessage == "" || first.Actor.ID != "00T1" || first.Actor.Type != "ApiToken" ||
		first.Client.IPAddress != "203.0.113.9" || len(first.Client.UserAgent.RawUserAgent) != 512 ||
		first.Transaction != (store.LogTransaction{Type: "WEB", ID: "req-1"}) ||
		first.AuthenticationContext.ExternalSessionID != "ftx-1" || len(first.UUID) != 36 {
		t.Errorf("the first event: %+v", first)
	}
	lock, update := events[1], events[2]
	if lock.Actor.ID != "00u1" || lock.Transaction != (store.LogTransaction{Type: "JOB", ID: "msg-1"}) || lock.Severity != "INFO" {
		t.Errorf("the lock event: %+v", lock)
	}
	if update.AuthenticationContext.ExternalSessionID != "ftx-other" || update.Actor.ID != "00T1" {
		t.Errorf("the update event: %+v", update)
	}

	msgs, err := st.ListMessages(t.Context(), store.MessageFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, m := range msgs {
		if m.Channel != eventlog.ChannelEventHook || m.Status != store.MessagePending {
			t.Errorf("message %+v", m)
		}
		var env eventlog.Envelope
		if err := json.Unmarshal([]byte(m.Body), &env); err != nil {
			t.Fatal(err)
		}
		if env.EventType != "com.okta.event_hook" || env.EventID != m.ID || env.Source != "https://id.example.com" {
			t.Errorf("envelope %+v", env)
		}
		var types []string
		for _, e := range env.Data.Events {
			types = append(types, e.EventType)
		}
		got[m.To] = append(got[m.To], strings.Join(types, ","))
	}
	slices.Sort(got["siem"])
	if strings.Join(got["siem"], ";") != "user.account.lock,user.account.update_profile;user.session.start" {
		t.Errorf("siem deliveries: %v", got["siem"])
	}
	if strings.Join(got["locks"], ";") != "user.account.lock" {
		t.Errorf("locks deliveries: %v", got["locks"])
	}
	if woken != 2 {
		t.Errorf("the worker was woken %d times, want 2 (one per committed batch)", woken)
	}
}

// TestAppendInASectionWakesAfterItsCommit: events appended in a store.Atomic
// section commit with it, and the outbox worker is woken for their hook deliveries
// only once they did; never if the section rolls back.
func TestAppendInASectionWakesAfterItsCommit(t *testing.T) {
	st := openStore(t)
	woken := 0
	rec := &eventlog.Recorder{Source: "https://id.example.com", Wake: func() { woken++ }, Hooks: []eventlog.Hook{{Name: "siem"}}}
	var ctx context.Context
	eventlog.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { ctx = r.Context() }), rec).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	ev := eventlog.Event{Type: eventlog.TypeSessionStart, Result: store.OutcomeSuccess}

	failed := errors.New("the section's work failed")
	err := st.Atomically(ctx, func(ctx context.Context) error {
		if err := eventlog.Append(ctx, st, ev); err != nil {
			return err
		}
		return failed
	})
	if !errors.Is(err, failed) || woken != 0 {
		t.Fatalf("a rolled-back section: %v, woken %d times", err, woken)
	}
	err = st.Atomically(ctx, func(ctx context.Context) error {
		if err := eventlog.Append(ctx, st, ev); err != nil {
			return err
		}
		if woken != 0 {
			t.Error("the worker was woken before the section committed")
		}
		return nil
	})
	if err != nil || woken != 1 {
		t.Fatalf("a committed section: %v, woken %d times, want once", err, woken)
	}
	events, err := st.ListEvents(t.Context(), store.EventQuery{})
	if err != nil || len(events) != 1 {
		t.Fatalf("%d events (%v), want the committed section's one", len(events), err)
	}
}
