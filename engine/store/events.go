package store

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// ---- the system log ----
//
// The system log records security-relevant events in Okta's LogEvent shape. Its one
// rule is that an event is written in the same database transaction as the change
// it records: nothing is recorded that did not happen, and nothing happens that is
// not recorded.
//
// How: a caller attaches the events of a change to the context of the store call
// that makes the change (WithRecords), and the store writes them inside that call's
// database transaction, just before it commits. If the transaction rolls back — an
// Update* function refused the change, a unique value was taken, the database
// failed — the events go with it. A write that changes no row (a DELETE or
// conditional UPDATE that matched nothing) is not a change: its events are dropped
// too. Records ride with the first write transaction that begins under the context
// (or one derived from it) and never with a second one, whether that first one
// committed or not, so a caller attaches them right before the one call they belong
// to. This spares every write method an extra parameter, and makes every write
// method able to carry events, also those added later.
//
// What changes nothing in the database — a wrong password, a refused request — is
// recorded alone with AppendEvents.
//
// The outbox messages that deliver events to event hooks travel with them
// (Records.Messages), so a hook gets every event that was committed, at least once.

// LogEvent is one event of the system log, in Okta's LogEvent shape (its JSON is
// what GET /api/v1/logs answers).
type LogEvent struct {
	UUID      string    `json:"uuid"`
	Published time.Time `json:"published"`
	EventType string    `json:"eventType"`
	// Version is the version of the event's shape: "0".
	Version string `json:"version"`
	// Severity is DEBUG, INFO, WARN or ERROR.
	Severity              string                   `json:"severity"`
	DisplayMessage        string                   `json:"displayMessage"`
	Actor                 LogActor                 `json:"actor"`
	Client                LogClient                `json:"client"`
	Outcome               LogOutcome               `json:"outcome"`
	Target                []LogTarget              `json:"target"`
	Transaction           LogTransaction           `json:"transaction"`
	AuthenticationContext LogAuthenticationContext `json:"authenticationContext"`
	DebugContext          LogDebugContext          `json:"debugContext"`

	// Seq is the store's position of the event, set by ListEvents: with Published
	// it orders events (EventCursor).
	Seq int64 `json:"-"`
}

// MarshalJSON writes Published as Okta does: UTC with milliseconds.
func (e LogEvent) MarshalJSON() ([]byte, error) {
	type plain LogEvent
	return json.Marshal(struct {
		plain
		Published string `json:"published"`
	}{plain(e), e.Published.UTC().Format("2006-01-02T15:04:05.000Z")})
}

// LogActor is who did what an event records: a user, an API token, the engine.
type LogActor struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	AlternateID string `json:"alternateId"`
	DisplayName string `json:"displayName"`
}

// LogClient is where the request came from.
type LogClient struct {
	IPAddress string       `json:"ipAddress,omitempty"`
	UserAgent LogUserAgent `json:"userAgent"`
}

// LogUserAgent is the client's User-Agent header as sent.
type LogUserAgent struct {
	RawUserAgent string `json:"rawUserAgent,omitempty"`
}

// The results an outcome can have.
const (
	OutcomeSuccess = "SUCCESS"
	OutcomeFailure = "FAILURE"
	OutcomeDeny    = "DENY"
	OutcomeAllow   = "ALLOW"
	OutcomeUnknown = "UNKNOWN"
)

// LogOutcome is how it ended.
type LogOutcome struct {
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
}

// LogTarget is what an event acted on.
type LogTarget struct {
	ID          string            `json:"id"`
	Type        string            `json:"type"`
	AlternateID string            `json:"alternateId,omitempty"`
	DisplayName string            `json:"displayName,omitempty"`
	DetailEntry map[string]string `json:"detailEntry,omitempty"`
}

// LogTransaction is the request ("WEB", its request id) or background job ("JOB")
// the event happened in.
type LogTransaction struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// LogAuthenticationContext ties an event to a sign-in: ExternalSessionID is the IDX
// transaction's id, the same for every event of one sign-in.
type LogAuthenticationContext struct {
	ExternalSessionID string `json:"externalSessionId,omitempty"`
}

// LogDebugContext is more about the event, as text.
type LogDebugContext struct {
	DebugData map[string]string `json:"debugData,omitempty"`
}

// EventField is an attribute events can be filtered on.
type EventField string

// The attributes EventFilter compares.
const (
	EventFieldType             EventField = "eventType"
	EventFieldOutcome          EventField = "outcome.result"
	EventFieldSeverity         EventField = "severity"
	EventFieldActorID          EventField = "actor.id"
	EventFieldActorAlternateID EventField = "actor.alternateId"
	EventFieldTargetID         EventField = "target.id"
	EventFieldTransactionID    EventField = "transaction.id"
	EventFieldSessionID        EventField = "authenticationContext.externalSessionId"
)

// EventFields are the attributes EventFilter can compare.
var EventFields = []EventField{EventFieldType, EventFieldOutcome, EventFieldSeverity, EventFieldActorID,
	EventFieldActorAlternateID, EventFieldTargetID, EventFieldTransactionID, EventFieldSessionID}

// EventFilterOp is what one node of an EventFilter does.
type EventFilterOp string

// The operations of an EventFilter.
const (
	EventEq  EventFilterOp = "eq"  // Field equals Value exactly
	EventAnd EventFilterOp = "and" // every one of Terms
	EventOr  EventFilterOp = "or"  // at least one of Terms
)

// MaxEventFilterTerms bounds the comparisons of one filter; stores refuse more.
const MaxEventFilterTerms = 32

// EventFilter is a condition on events: a comparison, or an and/or of others.
type EventFilter struct {
	Op    EventFilterOp
	Field EventField // for EventEq
	Value string     // for EventEq
	Terms []EventFilter
}

// EventCursor is a position in the log: events are ordered by Published, then Seq.
type EventCursor struct {
	Published time.Time
	Seq       int64
}

// EventQuery selects events for ListEvents.
type EventQuery struct {
	// Since and Until bound Published: Since <= Published < Until. Zero means no
	// bound.
	Since, Until time.Time
	// Filter, when not nil, keeps the events it matches.
	Filter *EventFilter
	// Keywords keeps the events each of which appears in, whatever the case of
	// letters: in the event type, display message, outcome reason, actor's and
	// targets' ids and names, or client IP.
	Keywords []string
	// After, when not nil, starts after that position (before it when Descending).
	After *EventCursor
	// Descending lists newest first.
	Descending bool
	// Limit is at most this many; <= 0 means 100.
	Limit int
}

// EventStore keeps the system log.
type EventStore interface {
	// AppendEvents writes events, and msgs (their deliveries to event hooks), in one
	// database transaction of their own: for what changes nothing else. Events are
	// written as given; their UUIDs must be new (ErrAlreadyExists).
	AppendEvents(ctx context.Context, events []LogEvent, msgs []Message) error
	// ListEvents returns matching events in order, with Seq set. Every event
	// committed before the call is among those it reads (it flushes first).
	ListEvents(ctx context.Context, q EventQuery) ([]LogEvent, error)
	// FlushEvents makes the events written since the last flush searchable, many
	// in one transaction, and says how many it moved. A backend may write events
	// with their changes into a table without the log's indexes, to keep each
	// change's writes small; ListEvents and DeleteEventsBefore flush first, so
	// callers need it only to keep that backlog short (the engine flushes every
	// second).
	FlushEvents(ctx context.Context) (int64, error)
	// DeleteEventsBefore deletes events published before t and says how many.
	DeleteEventsBefore(ctx context.Context, t time.Time) (int64, error)
}

// Records are what a write carries into its database transaction: the events that
// record it and the outbox messages that deliver them to event hooks.
type Records struct {
	Events   []LogEvent
	Messages []Message
	// OnCommit, if set, runs after the transaction that wrote the records
	// committed (to wake the outbox worker).
	OnCommit func()
}

// pending is one WithRecords in a context, linked to those of the contexts it was
// derived from.
type pending struct {
	mu      sync.Mutex
	records Records
	taken   bool
	parent  *pending
}

type pendingKey struct{}

// WithRecords returns ctx carrying r for the next write transaction a store begins
// under it or a context derived from it, together with the records earlier
// WithRecords of ctx carry that no transaction took yet (see the system log
// comment above).
func WithRecords(ctx context.Context, r Records) context.Context {
	if len(r.Events) == 0 && len(r.Messages) == 0 {
		return ctx
	}
	parent, _ := ctx.Value(pendingKey{}).(*pending)
	return context.WithValue(ctx, pendingKey{}, &pending{records: r, parent: parent})
}

// HasRecords reports whether ctx carries records no transaction took yet.
func HasRecords(ctx context.Context) bool {
	for p, _ := ctx.Value(pendingKey{}).(*pending); p != nil; p = p.parent {
		p.mu.Lock()
		taken := p.taken
		p.mu.Unlock()
		if !taken {
			return true
		}
	}
	return false
}

// TakeRecords is for stores: it takes the records ctx carries that no transaction
// took yet, oldest first, so that no other transaction takes them. The store writes
// them in the transaction it is beginning, or drops them if it rolls back.
func TakeRecords(ctx context.Context) Records {
	var chain []*pending
	for p, _ := ctx.Value(pendingKey{}).(*pending); p != nil; p = p.parent {
		chain = append(chain, p)
	}
	var out Records
	var hooks []func()
	for i := len(chain) - 1; i >= 0; i-- {
		p := chain[i]
		p.mu.Lock()
		if !p.taken {
			p.taken = true
			out.Events = append(out.Events, p.records.Events...)
			out.Messages = append(out.Messages, p.records.Messages...)
			if p.records.OnCommit != nil {
				hooks = append(hooks, p.records.OnCommit)
			}
		}
		p.mu.Unlock()
	}
	if len(hooks) > 0 {
		out.OnCommit = func() {
			for _, h := range hooks {
				h()
			}
		}
	}
	return out
}
