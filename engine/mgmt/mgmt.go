// Package mgmt is the management API: the part of Okta's Management API
// (/api/v1/…) that operators' scripts and Okta's own SDKs use to manage users,
// served in Okta's request, response and error shapes.
//
// Every request carries an API token, as Okta's do: "Authorization: SSWS <token>".
// Tokens are made by "gatehouse tokens create" and kept by their SHA-256 hash
// (store.APITokenStore); a read-only token may only read. Each token has a budget of
// requests per minute, counted in the store before the request is served, so that it
// holds across nodes; every answer carries Okta's X-Rate-Limit-* headers.
//
// The API is made of resources, one file each (users.go, factors.go, …): a
// resource lists its routes, and the API puts every route behind the same
// authentication, limit and error handling. Every change goes through the account
// package (Options.Accounts), as the command line's and the IDX server's do, so
// that the same rules hold whichever way a user is changed. docs/admin-api.md
// lists what is served and what is not.
package mgmt

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/account"
	"github.com/gatehouse-id/gatehouse/engine/authn"
	"github.com/gatehouse-id/gatehouse/engine/clientip"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/logctx"
	"github.com/gatehouse-id/gatehouse/engine/metrics"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// Prefix is where the API is served. The browser session endpoint under it
// (/api/v1/sessions/me, engine/sso) is not the API's: see Owns.
const Prefix = "/api/v1/"

// sessionsMe is Okta's cookie-authenticated session endpoint, which okta-auth-js
// calls from browsers and engine/sso serves.
const sessionsMe = "/api/v1/sessions/me"

// Owns reports whether path belongs to the management API: everything under
// /api/v1/ except the browser's own session (/api/v1/sessions/me and below).
func Owns(path string) bool {
	if !strings.HasPrefix(path, Prefix) && path != strings.TrimSuffix(Prefix, "/") {
		return false
	}
	return path != sessionsMe && !strings.HasPrefix(path, sessionsMe+"/")
}

// Store is what the API keeps and reads.
type Store interface {
	store.UserStore
	store.EnrollmentStore
	store.APITokenStore
	store.EventStore
}

// PhoneCodes sends and checks the codes of phones enrolled through the API
// without activate=true: phone.Authenticator, whose number rules and send budgets
// are sign-in's.
type PhoneCodes interface {
	SendEnrollmentCode(ctx context.Context, userID, enrollmentID, ip, number, method string, verified bool) (authn.Challenge, error)
	CheckEnrollmentCode(ctx context.Context, enrollmentID, challengeID, passcode string) error
}

// FactorTypes are the factors the deployment offers (phone.sms, phone.voice,
// sign_on.totp): the only ones the API enrolls.
type FactorTypes struct {
	SMS, Voice, TOTP bool
}

// Options configure the API.
type Options struct {
	Store Store
	// Accounts is the one place users and their factors change; the API's writes
	// go through it.
	Accounts *account.Service
	// Phones sends enrollment codes; nil refuses enrollments that need one.
	Phones  PhoneCodes
	Factors FactorTypes
	Limiter *throttle.Limiter
	// BaseURL is scheme://host the API is reached at (the issuer's origin), for the
	// links in answers. Links never come from the request's Host header.
	BaseURL string
	// PerTokenPerMinute is each token's budget of requests per minute.
	PerTokenPerMinute int
	// FailuresPerIPPerMinute is each client IP's budget of requests per minute
	// without a valid token; past it they answer 429 instead of 401.
	FailuresPerIPPerMinute int
	Now                    func() time.Time
	Log                    *slog.Logger
	Metrics                *metrics.Metrics // may be nil
}

// API is the management API's HTTP interface.
type API struct {
	o Options
}

// New returns the API.
func New(o Options) *API {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.BaseURL = strings.TrimSuffix(o.BaseURL, "/")
	return &API{o: o}
}

// route is one endpoint of a resource: a ServeMux pattern ("GET /api/v1/users")
// and its handler, which runs once the caller is authenticated and counted.
type route struct {
	pattern string
	serve   func(w http.ResponseWriter, r *http.Request, c *call)
}

// resource is one kind of Okta object (users, factors, logs, …).
type resource interface {
	routes() []route
}

// call is what a handler knows about the request beyond http.Request.
type call struct {
	token store.APIToken
	now   time.Time
}

// resources are the API's resources.
func (a *API) resources() []resource {
	return []resource{&users{a: a}, &factors{a: a, users: &users{a: a}}, &logs{a: a}}
}

// Register adds every route of every resource to mux. Requests to paths the API
// owns (Owns) that no route takes must be handed to Unmatched.
func (a *API) Register(mux *http.ServeMux) {
	for _, res := range a.resources() {
		a.register(mux, res)
	}
}

func (a *API) register(mux *http.ServeMux, res resource) {
	for _, rt := range res.routes() {
		mux.Handle(rt.pattern, a.guard(rt.serve))
	}
}

// Unmatched answers a request under the API's paths that no route takes, once its
// token is checked and counted like any other: 405 (Okta's E0000022) with an Allow
// header when allow lists the methods the path serves, else 404 (E0000007).
func (a *API) Unmatched(w http.ResponseWriter, r *http.Request, allow []string) {
	a.guard(func(w http.ResponseWriter, r *http.Request, _ *call) {
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			errMethod.write(w, "")
			return
		}
		errNotFound.write(w, "no such endpoint (ApiEndpoint)")
	}).ServeHTTP(w, r)
}

// guard runs next for a request with a valid token within its budget. In order:
// the token (401), its budget (429; counted before anything else is done), whether
// it may write (403). Every answer carries the rate-limit headers of the budget the
// request was counted against.
func (a *API) guard(next func(http.ResponseWriter, *http.Request, *call)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if id := logctx.RequestID(ctx); id != "" {
			w.Header().Set("X-Okta-Request-Id", id)
		}
		tok, err := a.authenticate(ctx, r.Header.Get("Authorization"))
		if errors.Is(err, errNoToken) {
			a.refuse(w, r)
			return
		}
		if err != nil {
			a.o.Log.ErrorContext(ctx, "management API: reading the API token", "err", err)
			errInternal.write(w, "")
			return
		}
		now := a.o.Now()
		d, err := a.o.Limiter.Reserve(ctx, throttle.Request{Key: throttle.APIToken(tok.ID),
			Limit: throttle.Limit{Max: a.o.PerTokenPerMinute, Window: time.Minute}})
		if err != nil {
			a.o.Log.ErrorContext(ctx, "management API: counting the request", "err", err)
			errInternal.write(w, "")
			return
		}
		// Whatever the request changes, the token did it (the system log's actor).
		ctx = eventlog.WithActor(ctx, eventlog.APIToken(tok.ID, tok.Name))
		r = r.WithContext(ctx)
		if !d.Allowed {
			a.o.Metrics.RateLimited("api_token")
			a.o.Log.InfoContext(ctx, "management API: token over its rate limit", "api_token", tok.ID)
			eventlog.RateLimited(ctx, a.o.Limiter, d, "management_api.rate_limit_per_minute")
			tooMany(w, d, now)
			return
		}
		d.WriteHeaders(w.Header(), now)
		a.recordUse(ctx, tok, now)
		if tok.ReadOnly && !reads(r.Method) {
			a.record(ctx, eventlog.Event{Type: eventlog.TypeAPIToken, Result: store.OutcomeDeny,
				Reason: "a read-only token may not " + r.Method, Targets: []store.LogTarget{tokenTarget(tok)}})
			errForbidden.write(w, "")
			return
		}
		next(w, r, &call{token: tok, now: now})
	})
}

// refuse answers a request without a valid token: 401, or 429 once the client IP
// has sent more such requests this minute than its budget allows.
func (a *API) refuse(w http.ResponseWriter, r *http.Request) {
	ctx, now := r.Context(), a.o.Now()
	ip := clientip.Key(clientip.From(ctx))
	d, err := a.o.Limiter.Reserve(ctx, throttle.Request{Key: throttle.Requests("api-auth-failures", ip),
		Limit: throttle.Limit{Max: a.o.FailuresPerIPPerMinute, Window: time.Minute}})
	switch {
	case err != nil:
		a.o.Log.ErrorContext(ctx, "management API: counting a refused request", "err", err)
	case !d.Allowed:
		a.o.Metrics.RateLimited("api_auth_failures")
		eventlog.RateLimited(ctx, a.o.Limiter, d, "rate_limits.requests_per_ip_per_minute")
		tooMany(w, d, now)
		return
	default:
		d.WriteHeaders(w.Header(), now)
	}
	// Each refusal is recorded: they are bounded by the client IP's budget above.
	a.record(ctx, eventlog.Event{Type: eventlog.TypeAPIToken, Result: store.OutcomeFailure,
		Actor:  &store.LogActor{ID: "unknown", Type: "ApiToken", AlternateID: "unknown", DisplayName: "unknown"},
		Reason: "no valid API token: missing, malformed, unknown or revoked", Debug: map[string]string{"requestUri": r.URL.Path}})
	errInvalidToken.write(w, "")
}

// record appends an event of a request that changes nothing.
func (a *API) record(ctx context.Context, ev eventlog.Event) {
	if err := eventlog.Append(ctx, a.o.Store, ev); err != nil {
		a.o.Log.ErrorContext(ctx, "management API: recording in the system log", "err", err)
	}
}

// tokenTarget is an API token as a target, by id.
func tokenTarget(tok store.APIToken) store.LogTarget {
	return store.LogTarget{ID: tok.ID, Type: "ApiToken", AlternateID: tok.Name, DisplayName: tok.Name}
}

// tooMany answers 429 as Okta does: E0000047 with the budget's headers and a Date
// header from the same clock as X-Rate-Limit-Reset, since Okta's SDKs wait for
// Reset minus Date before they retry.
func tooMany(w http.ResponseWriter, d throttle.Decision, now time.Time) {
	w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
	throttle.WriteTooManyRequests(w, d, now)
}

// reads reports whether method only reads.
func reads(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// recordUse notes when the token was last used, at most once a minute per token,
// so that a busy script does not cost a write per request, and records the use in
// the system log with it. A failure is logged and otherwise ignored: it must not
// fail the request.
func (a *API) recordUse(ctx context.Context, tok store.APIToken, now time.Time) {
	if now.Sub(tok.LastUsedAt) < time.Minute {
		return
	}
	used := eventlog.Event{Type: eventlog.TypeAPIToken, Result: store.OutcomeSuccess, Reason: "token accepted (recorded at most once a minute)",
		Targets: []store.LogTarget{tokenTarget(tok)}}
	if err := a.o.Store.RecordAPITokenUse(eventlog.Attach(ctx, used), tok.ID, now.Truncate(time.Millisecond)); err != nil {
		a.o.Log.WarnContext(ctx, "management API: recording the token's use", "api_token", tok.ID, "err", err)
	}
}
