// Package eventlog makes the system log's events (store.LogEvent, in Okta's
// LogEvent shape) and hands them to the store with the change they record.
//
// A handler that changes something attaches the events that record the change to
// the context of the store call that makes it (Attach), and the store writes them
// in that call's database transaction (store.WithRecords): an event commits with
// its change or not at all. What changes nothing — a wrong password, a refused
// request — is recorded alone (Append). RateLimited records a rate-limit refusal,
// once per budget window.
//
// What every event of a request shares comes from the context: the request id
// (engine/logctx) as transaction.id, the client IP (engine/clientip) and User-Agent
// (Middleware), the sign-in (WithSession: its IDX transaction id is the
// authenticationContext.externalSessionId) and who acts (WithActor: an API token,
// the command line). A Recorder in the context (With) supplies the clock and turns
// each batch of events into outbox messages for the configured event hooks, queued
// in the same transaction; without one, events are still written, with the system
// clock, and no hook gets them.
//
// Never put a password, a code, a token, a handle, a secret or a whole phone number
// in an event: targets and debug data name things by id, phone numbers masked.
package eventlog

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gatehouse-id/gatehouse/engine/clientip"
	"github.com/gatehouse-id/gatehouse/engine/logctx"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// Event types the engine records: Okta's, where Okta has one for the same thing.
const (
	// A sign-in started: an IDX transaction was created (ALLOW), or refused
	// because too many are open (DENY).
	TypeSignInStarted = "policy.evaluate_sign_on"
	// A password was checked: SUCCESS or FAILURE.
	TypeSessionStart = "user.session.start"
	// A code was queued for a phone (ALLOW), refused (DENY), and later delivered
	// (SUCCESS) or given up (FAILURE) by the outbox.
	TypeSMSSent   = "system.sms.send_factor_verify_message"
	TypeVoiceSent = "system.voice.send_phone_verification_call"
	// A one-time code or authenticator-app code was checked.
	TypeMFA = "user.authentication.auth_via_mfa"
	// Too many wrong codes locked the user's factors; an operator unlocked them.
	TypeLock   = "user.account.lock"
	TypeUnlock = "user.account.unlock"
	// A factor was enrolled or removed.
	TypeFactorActivate   = "user.mfa.factor.activate"
	TypeFactorDeactivate = "user.mfa.factor.deactivate"
	// Tokens were issued by the token endpoint, one event per token.
	TypeGrantAccessToken  = "app.oauth2.token.grant.access_token"
	TypeGrantIDToken      = "app.oauth2.token.grant.id_token"
	TypeGrantRefreshToken = "app.oauth2.token.grant.refresh_token"
	// Tokens were revoked: by the client (/v1/revoke) or on refresh-token reuse.
	TypeTokenRevoke = "app.oauth2.token.revoke"
	// Users changed.
	TypeUserCreate     = "user.lifecycle.create"
	TypeUserUpdate     = "user.account.update_profile"
	TypeUserPassword   = "user.account.update_password"
	TypeUserActivate   = "user.lifecycle.activate"
	TypeUserDeactivate = "user.lifecycle.deactivate"
	TypeUserDelete     = "user.lifecycle.delete.initiated"
	TypeUserSuspend    = "user.lifecycle.suspend"
	TypeUserUnsuspend  = "user.lifecycle.unsuspend"
	TypeUserExpirePass = "user.account.expire_password"
	// A management API request's token was accepted (SUCCESS, recorded at most
	// once a minute per token), refused (FAILURE), or read-only for a write
	// (DENY). Okta has no event for it; the name follows its pattern.
	TypeAPIToken = "system.api_token.authenticate"
	// API tokens were made or revoked (gatehouse tokens).
	TypeAPITokenCreate = "system.api_token.create"
	TypeAPITokenRevoke = "system.api_token.revoke"
	// A rate limit refused a request (once per budget window).
	TypeRateLimit = "system.org.rate_limit.violation"
)

// displayMessages are the events' displayMessage, by type.
var displayMessages = map[string]string{
	TypeSignInStarted:     "Evaluation of sign-on policy",
	TypeSessionStart:      "User login to Gatehouse",
	TypeSMSSent:           "Send SMS verification code",
	TypeVoiceSent:         "Call with verification code",
	TypeMFA:               "Authentication of user via MFA",
	TypeLock:              "Max sign in attempts exceeded",
	TypeUnlock:            "Unlock user account",
	TypeFactorActivate:    "Activate factor for user",
	TypeFactorDeactivate:  "Reset factor for user",
	TypeGrantAccessToken:  "OAuth2 access token is granted",
	TypeGrantIDToken:      "OAuth2 ID token is granted",
	TypeGrantRefreshToken: "OAuth2 refresh token is granted",
	TypeTokenRevoke:       "OAuth2 token revocation",
	TypeUserCreate:        "Create user",
	TypeUserUpdate:        "Update user profile",
	TypeUserPassword:      "Update user password",
	TypeUserActivate:      "Activate user",
	TypeUserDeactivate:    "Deactivate user",
	TypeUserDelete:        "Delete user initiated",
	TypeAPIToken:          "Authenticate API token",
	TypeAPITokenCreate:    "Create API token",
	TypeAPITokenRevoke:    "Revoke API token",
	TypeRateLimit:         "Rate limit violation",
}

// Types lists every event type the engine records.
func Types() []string {
	out := make([]string, 0, len(displayMessages))
	for t := range displayMessages {
		out = append(out, t)
	}
	return out
}

// Event is an event to record; what it leaves empty comes from the context.
type Event struct {
	Type   string
	Result string // store.OutcomeSuccess, …
	Reason string
	// Message is the displayMessage; empty means the type's.
	Message string
	// Severity is INFO, WARN or ERROR; empty means INFO for SUCCESS and ALLOW,
	// WARN otherwise.
	Severity string
	// Actor is who acted; nil means the context's (WithActor), else an unknown
	// user.
	Actor   *store.LogActor
	Targets []store.LogTarget
	Debug   map[string]string
	// SessionID is the sign-in's IDX transaction id; empty means the context's
	// (WithSession).
	SessionID string
}

// ---- actors and targets ----

// User is a user as an actor.
func User(u store.User) *store.LogActor {
	return &store.LogActor{ID: u.ID, Type: "User", AlternateID: u.Login, DisplayName: displayName(u)}
}

// UserRef is a user known by id and login only.
func UserRef(id, login string) *store.LogActor {
	name := login
	if name == "" {
		name = id
	}
	return &store.LogActor{ID: id, Type: "User", AlternateID: login, DisplayName: name}
}

// UnknownUser is someone who gave a login that names no user (or none yet).
func UnknownUser(login string) *store.LogActor {
	if login == "" {
		login = "unknown"
	}
	return &store.LogActor{ID: "unknown", Type: "User", AlternateID: login, DisplayName: "unknown"}
}

// APIToken is a management API token as an actor.
func APIToken(id, name string) *store.LogActor {
	return &store.LogActor{ID: id, Type: "ApiToken", AlternateID: name, DisplayName: name}
}

// CommandLine is the gatehouse command, run by an operator, as an actor.
var CommandLine = System("gatehouse-cli", "gatehouse command line")

// System is the engine itself, or one of its tools (name), as an actor.
func System(id, name string) *store.LogActor {
	return &store.LogActor{ID: id, Type: "SystemPrincipal", AlternateID: id, DisplayName: name}
}

// UserTarget is a user as a target.
func UserTarget(u store.User) store.LogTarget {
	return store.LogTarget{ID: u.ID, Type: "User", AlternateID: u.Login, DisplayName: displayName(u)}
}

// App is an OAuth client as a target.
func App(clientID, name string) store.LogTarget {
	if name == "" {
		name = clientID
	}
	return store.LogTarget{ID: clientID, Type: "PublicClientApp", AlternateID: clientID, DisplayName: name}
}

// Factor is a user's enrollment of an authenticator as a target; id may be empty
// for one not stored yet.
func Factor(id, authenticator, displayName string) store.LogTarget {
	return store.LogTarget{ID: id, Type: "AuthenticatorEnrollment", AlternateID: authenticator, DisplayName: displayName}
}

func displayName(u store.User) string {
	name := strings.TrimSpace(u.GivenName + " " + u.FamilyName)
	if name == "" {
		return u.Login
	}
	return name
}

// ---- what the context holds ----

// scope is what events of one context share besides the request id and client IP.
type scope struct {
	rec       *Recorder
	userAgent string
	session   string
	actor     *store.LogActor
	job       string // set for background work: transaction {JOB, job}
}

type scopeKey struct{}

func scopeOf(ctx context.Context) scope {
	s, _ := ctx.Value(scopeKey{}).(scope)
	return s
}

func withScope(ctx context.Context, change func(*scope)) context.Context {
	s := scopeOf(ctx)
	change(&s)
	return context.WithValue(ctx, scopeKey{}, s)
}

// With returns ctx with r as its recorder.
func With(ctx context.Context, r *Recorder) context.Context {
	return withScope(ctx, func(s *scope) { s.rec = r })
}

// WithSession returns ctx for the sign-in with IDX transaction id txID.
func WithSession(ctx context.Context, txID string) context.Context {
	return withScope(ctx, func(s *scope) { s.session = txID })
}

// WithActor returns ctx in which a acts, unless an event names its actor.
func WithActor(ctx context.Context, a *store.LogActor) context.Context {
	return withScope(ctx, func(s *scope) { s.actor = a })
}

// Actor is who acts in ctx (WithActor), or nil.
func Actor(ctx context.Context) *store.LogActor { return scopeOf(ctx).actor }

// WithJob returns ctx for background work (the outbox delivering message id): its
// events' transaction is {JOB, id}.
func WithJob(ctx context.Context, id string) context.Context {
	return withScope(ctx, func(s *scope) { s.job = id })
}

// maxUserAgent bounds the User-Agent kept.
const maxUserAgent = 512

// Middleware puts rec and the request's User-Agent in each request's context.
func Middleware(h http.Handler, rec *Recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ua := clip(r.UserAgent(), maxUserAgent)
		r = r.WithContext(withScope(r.Context(), func(s *scope) { s.rec, s.userAgent = rec, ua }))
		h.ServeHTTP(w, r)
	})
}

// ---- making events ----

// Recorder is the system log's side of the engine: the clock events are stamped
// with and the event hooks they are delivered to.
type Recorder struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Hooks get every event of the types they subscribe to.
	Hooks []Hook
	// Source names the engine in hook deliveries (the issuer's origin).
	Source string
	// Wake is told when hook deliveries were queued (the outbox worker).
	Wake func()
	// Log gets what cannot be recorded (RateLimited).
	Log *slog.Logger

	mu sync.Mutex
	// logged are the rate-limit windows known to be recorded, by key: their ends.
	logged map[string]time.Time
}

func (r *Recorder) now() time.Time {
	if r == nil || r.Now == nil {
		return time.Now().UTC().Truncate(time.Millisecond)
	}
	return r.Now().UTC().Truncate(time.Millisecond)
}

func (r *Recorder) log() *slog.Logger {
	if r == nil || r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// Build makes store events of evs, filling in what the context knows.
func Build(ctx context.Context, evs ...Event) []store.LogEvent {
	sc := scopeOf(ctx)
	now := sc.rec.now()
	out := make([]store.LogEvent, 0, len(evs))
	for _, ev := range evs {
		e := store.LogEvent{
			UUID: uuid.NewString(), Published: now, EventType: ev.Type, Version: "0",
			Severity:              ev.Severity,
			DisplayMessage:        ev.Message,
			Outcome:               store.LogOutcome{Result: ev.Result, Reason: clip(ev.Reason, 512)},
			Target:                make([]store.LogTarget, 0, len(ev.Targets)),
			Transaction:           store.LogTransaction{Type: "WEB", ID: logctx.RequestID(ctx)},
			AuthenticationContext: store.LogAuthenticationContext{ExternalSessionID: ev.SessionID},
		}
		if e.Outcome.Result == "" {
			e.Outcome.Result = store.OutcomeUnknown
		}
		if e.Severity == "" {
			e.Severity = "WARN"
			if e.Outcome.Result == store.OutcomeSuccess || e.Outcome.Result == store.OutcomeAllow {
				e.Severity = "INFO"
			}
		}
		if e.DisplayMessage == "" {
			e.DisplayMessage = displayMessages[ev.Type]
		}
		switch {
		case ev.Actor != nil:
			e.Actor = *ev.Actor
		case sc.actor != nil:
			e.Actor = *sc.actor
		default:
			e.Actor = *UnknownUser("")
		}
		e.Actor.AlternateID = clip(e.Actor.AlternateID, 256)
		e.Actor.DisplayName = clip(e.Actor.DisplayName, 256)
		if e.AuthenticationContext.ExternalSessionID == "" {
			e.AuthenticationContext.ExternalSessionID = sc.session
		}
		if sc.job != "" {
			e.Transaction = store.LogTransaction{Type: "JOB", ID: sc.job}
		}
		if ip := clientip.From(ctx); ip.IsValid() {
			e.Client.IPAddress = ip.String()
		}
		e.Client.UserAgent.RawUserAgent = sc.userAgent
		for _, t := range ev.Targets {
			t.AlternateID, t.DisplayName = clip(t.AlternateID, 256), clip(t.DisplayName, 256)
			e.Target = append(e.Target, t)
		}
		if len(ev.Debug) > 0 {
			e.DebugContext.DebugData = make(map[string]string, len(ev.Debug))
			for k, v := range ev.Debug {
				if v != "" {
					e.DebugContext.DebugData[k] = clip(v, 512)
				}
			}
		}
		out = append(out, e)
	}
	return out
}

// records are the store records of evs: the events and their hook deliveries.
func records(ctx context.Context, evs []Event) store.Records {
	rec := scopeOf(ctx).rec
	events := Build(ctx, evs...)
	r := store.Records{Events: events}
	if rec != nil {
		r.Messages = rec.deliveries(events)
		if len(r.Messages) > 0 && rec.Wake != nil {
			r.OnCommit = rec.Wake
		}
	}
	return r
}

// Attach returns ctx carrying evs for the next store call that writes under it:
// they are written in its database transaction, or not at all. Call the one store
// method that makes the change with the context Attach returns, and nothing else
// that writes first.
func Attach(ctx context.Context, evs ...Event) context.Context {
	if len(evs) == 0 {
		return ctx
	}
	return store.WithRecords(ctx, records(ctx, evs))
}

// Append records evs alone, for what changes nothing in the database; in a
// store.Atomic section they commit with it.
func Append(ctx context.Context, st store.EventStore, evs ...Event) error {
	if len(evs) == 0 {
		return nil
	}
	r := records(ctx, evs)
	if err := st.AppendEvents(ctx, r.Events, r.Messages); err != nil {
		return err
	}
	if r.OnCommit != nil {
		// Inside a store.Atomic section the events are not committed yet.
		store.AfterCommit(ctx, r.OnCommit)
	}
	return nil
}

// clip shortens s to at most n bytes, at a character boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
