// Package engine is the composition root: it turns a validated configuration, a
// store and a message sender into the engine's http.Handler and its background
// workers (message delivery, garbage collection). It holds no protocol logic.
package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/account"
	"github.com/gatehouse-id/gatehouse/engine/authn"
	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/authn/totp"
	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/hosted"
	"github.com/gatehouse-id/gatehouse/engine/idxserver"
	"github.com/gatehouse-id/gatehouse/engine/keyseal"
	"github.com/gatehouse-id/gatehouse/engine/logctx"
	"github.com/gatehouse-id/gatehouse/engine/messaging"
	"github.com/gatehouse-id/gatehouse/engine/messaging/eventhook"
	"github.com/gatehouse-id/gatehouse/engine/metrics"
	"github.com/gatehouse-id/gatehouse/engine/mgmt"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/engine/policy"
	"github.com/gatehouse-id/gatehouse/engine/sessions"
	"github.com/gatehouse-id/gatehouse/engine/sso"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// Deps are what the engine needs besides its configuration.
type Deps struct {
	Store store.Store
	// Sender delivers messages. Nil means the dev outbox, printing to DevOut.
	Sender messaging.Sender
	// DevOut is where the dev outbox prints messages; nil means standard error.
	DevOut io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
	// HashParams overrides the configured argon2id parameters without their minimum.
	// Only the benchmark's --hash cheap sets it.
	HashParams *password.Params
	// UnreachableLimits raises every sign-in and send limit out of reach while still
	// counting against it, so that a benchmark signing the same seeded users in many
	// times a minute from one address measures what the limits cost without being
	// stopped by them. Only the benchmark sets it.
	UnreachableLimits bool
}

// Engine is a running engine: an http.Handler plus background work.
type Engine struct {
	cfg      config.Config
	store    store.Store
	handler  http.Handler
	worker   *messaging.Worker
	hasher   *password.Hasher
	accounts *account.Service
	metrics  *metrics.Metrics
	now      func() time.Time
	log      *slog.Logger
	// draining makes /readyz fail while the engine still serves (Drain).
	draining *atomic.Bool
	// events is the system log's recorder.
	events *eventlog.Recorder
}

// EventHooks are the configuration's event hooks as the system log's recorder
// queues deliveries for them (by name; the URL and secret are the sender's).
func EventHooks(cfg config.Config) []eventlog.Hook {
	var hooks []eventlog.Hook
	for _, h := range cfg.SystemLog.EventHooks {
		hooks = append(hooks, eventlog.Hook{Name: h.Name, EventTypes: h.EventTypes})
	}
	return hooks
}

// EventRecorder returns the system log's recorder for tools that change users
// outside a request (gatehouse users): their events reach the event hooks too.
func EventRecorder(cfg config.Config, now func() time.Time) *eventlog.Recorder {
	return &eventlog.Recorder{Now: now, Hooks: EventHooks(cfg), Source: origin(cfg.Issuer)}
}

// New wires the engine. It reads or creates the signing key and the one-time-code
// key in the store, so every node of one deployment shares them.
func New(ctx context.Context, cfg config.Config, d Deps) (*Engine, error) {
	if d.Store == nil {
		return nil, errors.New("engine: no store")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	// Lines logged with a request's context carry its request_id (logctx).
	d.Log = logctx.Logger(d.Log)
	if d.Sender == nil {
		out := d.DevOut
		if out == nil {
			out = os.Stderr
		}
		d.Sender = &messaging.DevOutbox{Out: out}
	}
	params := cfg.PasswordHashing.Params()
	if d.HashParams != nil {
		params = *d.HashParams
	}
	hasher, err := password.NewHasher(params, cfg.PasswordHashing.MaxConcurrent, cfg.PasswordHashing.MaxQueue)
	if err != nil {
		return nil, err
	}
	now := d.Now
	sealer, err := keyseal.FromConfig(cfg.Keys, cfg.Database)
	if err != nil {
		return nil, err
	}
	if n, err := sealer.SealStoredSecrets(ctx, d.Store); err != nil {
		return nil, err
	} else if n > 0 {
		d.Log.Info("sealed secrets stored in the clear by an older release", "secrets", n)
	}
	keys, err := oauth.LoadKeySet(ctx, oauth.KeySetOptions{Store: d.Store, Sealer: sealer, Now: now, Log: d.Log})
	if err != nil {
		return nil, err
	}
	otpKey, err := loadOTPKey(ctx, cfg, d.Store, sealer)
	if err != nil {
		return nil, err
	}
	registry, err := clients.NewRegistry(cfg.Clients, d.Store, now)
	if err != nil {
		return nil, err
	}
	hasher.SetQueueShare(cfg.RateLimits.HashQueueShare)
	limiter := throttle.New(d.Store, now)
	m := metrics.New(func() float64 { return float64(hasher.QueueLength()) }, func() float64 { return float64(hasher.InFlight()) })
	m.WatchOutbox(outboxBacklog(d.Store, now, d.Log))
	worker := &messaging.Worker{
		Store: d.Store, Sender: d.Sender, Now: now, Log: d.Log,
		MaxDeliveryTime: cfg.Messaging.MaxDeliveryTime, OnResult: m.Delivery,
		Lease: deliveryLease(cfg.Messaging),
	}
	// The system log: every request's context carries the recorder (events are
	// stamped by the engine's clock and queued for the event hooks).
	events := &eventlog.Recorder{Now: now, Hooks: EventHooks(cfg), Source: origin(cfg.Issuer), Wake: worker.Wake, Log: d.Log}
	if len(cfg.SystemLog.EventHooks) > 0 {
		hooks := &eventhook.Sender{}
		for _, h := range cfg.SystemLog.EventHooks {
			hooks.Endpoints = append(hooks.Endpoints, eventhook.Endpoint{Name: h.Name, URL: h.URL, Secret: h.Secret})
		}
		worker.Hooks = hooks
	}
	so := cfg.SignOn
	signOn := policy.SignOn{
		RequireFactor: so.RequirePhone, EnrollDuringSignIn: so.PhoneEnrollment == config.EnrollSignIn,
		Recovery: so.PasswordRecovery, Registration: so.SelfRegistration, RegistrationFields: so.RegistrationFields,
	}
	limits, phoneLimits, settings := limitsFrom(cfg), phoneLimitsFrom(cfg), idxserver.Settings{
		TransactionTTL: so.TransactionTTL, InteractionCodeTTL: so.InteractionCodeTTL,
		MaxAttempts: cfg.Phone.MaxAttempts, Lockout: cfg.Phone.Lockout, ProductName: cfg.ProductName,
	}
	requestsPerIP := cfg.RateLimits.RequestsPerIPPerMinute
	if d.UnreachableLimits {
		const far = 1 << 30
		limits.IdentifyPerTransaction, limits.TransactionsPerIP, limits.TransactionsTotal = far, far, far
		limits.PasswordPerSource.Max, limits.PasswordUnknown.Max, limits.RegistrationsPerIPPerHour = far, far, far
		phoneLimits.SendsPerTransaction, phoneLimits.NumbersPerTransaction = far, far
		phoneLimits.SendsPerUserPerDay, phoneLimits.UnverifiedSendsPerUserPerDay = far, far
		phoneLimits.SendsPerIPPerHour, phoneLimits.UnverifiedSendsPerIPPerHour, phoneLimits.SendsPerHour = far, far, far
		phoneLimits.MaxSends, phoneLimits.SendInterval = far, time.Millisecond
		requestsPerIP = far
	}
	accounts, err := account.New(account.Deps{Store: d.Store, Hasher: hasher, Sealer: sealer,
		PhoneRules: phoneLimits.Regions, DefaultRegion: cfg.Phone.DefaultRegion, ProductName: cfg.ProductName, Now: now})
	if err != nil {
		return nil, err
	}
	// The authenticators, in the order they are offered. Adding one is a package
	// implementing authn.Authenticator and a line here (docs/architecture.md).
	phones := phone.NewAuthenticator(phone.Options{
		Store: d.Store, Limiter: limiter, Limits: phoneLimits, SMS: cfg.Phone.SMS, Voice: cfg.Phone.Voice,
		OTPKey: otpKey, ProductName: cfg.ProductName, DefaultRegion: cfg.Phone.DefaultRegion,
		CodeTTL: cfg.Phone.CodeTTL, TransactionTTL: so.TransactionTTL,
		Enroll: accounts.EnrollPhone, Outbox: worker, Metrics: m, Log: d.Log, Now: now,
	})
	authenticators := []authn.Authenticator{phones}
	if so.TOTP {
		authenticators = append(authenticators, totp.NewAuthenticator(totp.Options{
			Store: d.Store, Sealer: sealer, Issuer: cfg.ProductName,
			Enroll: accounts.EnrollTOTPSecret, Verify: accounts.CheckTOTP, Now: now,
		}))
	}
	ssoSessions := sessions.New(sessions.Options{
		Store: d.Store, Lifetime: cfg.SignOn.SessionLifetime, IdleTimeout: cfg.SignOn.SessionIdleTimeout,
		Secure: strings.HasPrefix(cfg.Issuer, "https://"), Now: now,
	})
	idx := idxserver.New(idxserver.Options{
		Issuer: cfg.Issuer, Clients: registry, Store: d.Store, Hasher: hasher, Policy: signOn,
		Settings: settings,
		Limits:   limits,
		Limiter:  limiter,
		Now:      now, Log: d.Log, Metrics: m,
		Sessions: ssoSessions, Authenticators: authenticators, Accounts: accounts,
	})
	oa := oauth.New(oauth.Options{Issuer: cfg.Issuer, Clients: registry, Store: d.Store, Keys: keys, Now: now, Log: d.Log, Metrics: m})

	mux := http.NewServeMux()
	idx.Register(mux)
	oa.Register(mux)
	var pages *hosted.Pages
	browser := sso.New(sso.Options{
		OAuth: oa, Clients: registry, Store: d.Store, Sessions: ssoSessions,
		Start: idx.Start, Pages: func(w http.ResponseWriter, r *http.Request, handle, clientID, loginHint string) {
			pages.Start(w, r, hosted.Start{InteractionHandle: handle, ClientID: clientID, LoginHint: loginHint})
		},
		Revoke:  revokeSessionTokens(d.Store),
		CodeTTL: cfg.SignOn.InteractionCodeTTL, MFAEverySignIn: cfg.SignOn.MFAEverySignIn,
		RequirePhone: cfg.SignOn.RequirePhone, Product: cfg.ProductName, Now: now, Log: d.Log,
	})
	browser.Register(mux)
	cookieKey, err := loadSecret(ctx, d.Store, sealer, "hosted-cookie-key")
	if err != nil {
		return nil, err
	}
	// The pages call the IDX API in process through the engine's whole handler
	// (client IP, request limits, access log), which includes the pages themselves.
	var self http.Handler
	pages, err = hosted.New(hosted.Options{
		Product: cfg.ProductName, Issuer: cfg.Issuer, CookieKey: cookieKey,
		Engine:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { self.ServeHTTP(w, r) }),
		Secure:   strings.HasPrefix(cfg.Issuer, "https://"),
		Complete: browser.Complete, Abort: browser.Abort,
		Forward: []string{idxserver.DeviceCookie, sessions.CookieName},
		Now:     now, Log: d.Log,
	})
	if err != nil {
		return nil, err
	}
	pages.Register(mux)
	var api *mgmt.API
	if cfg.ManagementAPI.Enabled {
		api = mgmt.New(mgmt.Options{
			Store: d.Store, Accounts: accounts, Phones: phones,
			Factors: mgmt.FactorTypes{SMS: cfg.Phone.SMS, Voice: cfg.Phone.Voice, TOTP: so.TOTP},
			Limiter: limiter, BaseURL: origin(cfg.Issuer),
			PerTokenPerMinute: cfg.ManagementAPI.RateLimitPerMinute, FailuresPerIPPerMinute: requestsPerIP,
			Now: now, Log: d.Log, Metrics: m,
		})
		api.Register(mux)
		d.Log.Info("management API enabled", "path", mgmt.Prefix, "rate_limit_per_minute", cfg.ManagementAPI.RateLimitPerMinute)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	draining := new(atomic.Bool)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "shutting down\n")
			return
		}
		if err := d.Store.Ping(r.Context()); err != nil {
			d.Log.WarnContext(r.Context(), "readyz: store not ready", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "store not ready\n")
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	if cfg.DevOutbox {
		mux.Handle("GET /dev/outbox", devOutboxHandler(d.Store, d.Log))
	}
	if cfg.MetricsListen == "" {
		mux.Handle("GET /metrics", m.Handler())
	}
	e := &Engine{cfg: cfg, store: d.Store, worker: worker, hasher: hasher, accounts: accounts, metrics: m, now: now, log: d.Log, draining: draining, events: events}
	mux.Handle(fallbackPattern, unmatched(mux, api))
	e.handler = eventlog.Middleware(withMiddleware(limitRequests(mux, cfg.Issuer, requestsPerIP, limiter, m, now), cfg.CORS.AllowedOrigins, d.Log, m, clientIPResolver(cfg.Server.TrustedProxies)), events)
	self = e.handler
	return e, nil
}

// origin is the scheme and host of the issuer, where the API's links point.
func origin(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return issuer
	}
	return u.Scheme + "://" + u.Host
}

// outboxBacklog reads the outbox gauges from the store at each scrape.
func outboxBacklog(st store.OutboxStore, now func() time.Time, log *slog.Logger) metrics.OutboxReader {
	return func(ctx context.Context) (int64, time.Duration, error) {
		b, err := st.OutboxBacklog(ctx)
		if err != nil {
			log.Warn("metrics: reading the outbox backlog", "err", err)
			return 0, 0, err
		}
		if b.Pending == 0 || b.Oldest.IsZero() {
			return b.Pending, 0, nil
		}
		return b.Pending, now().Sub(b.Oldest), nil
	}
}

// limitsFrom gathers the sign-in's abuse limits from the configuration.
func limitsFrom(cfg config.Config) idxserver.Limits {
	so, rl := cfg.SignOn, cfg.RateLimits
	return idxserver.Limits{
		IdentifyPerTransaction:    rl.IdentifyPerTransaction,
		PasswordPerSource:         throttle.Limit{Max: so.MaxPasswordFailures, Window: so.PasswordFailureWindow},
		PasswordUnknown:           throttle.Limit{Max: so.UnknownSourcePasswordChecks, Window: time.Hour},
		KnownSourceLifetime:       so.KnownSourceLifetime,
		TransactionsPerIP:         rl.TransactionsPerIP,
		TransactionsTotal:         rl.TransactionsTotal,
		RegistrationsPerIPPerHour: rl.RegistrationsPerIPPerHour,
	}
}

// phoneLimitsFrom gathers the limits on codes sent to phones.
func phoneLimitsFrom(cfg config.Config) phone.Limits {
	p := cfg.Phone
	return phone.Limits{
		SendsPerTransaction: p.MaxSendsPerTransaction, NumbersPerTransaction: p.MaxNumbersPerTransaction,
		SendsPerUserPerDay: p.MaxSendsPerUserPerDay, UnverifiedSendsPerUserPerDay: p.MaxUnverifiedSendsPerUserPerDay,
		SendsPerIPPerHour: p.MaxSendsPerIPPerHour, UnverifiedSendsPerIPPerHour: p.MaxUnverifiedSendsPerIPPerHour,
		SendsPerHour: p.MaxSendsPerHour, MaxSends: p.MaxSends, SendWindow: p.SendWindow, SendInterval: p.SendInterval,
		Regions: phone.Rules{AllowedRegions: p.AllowedRegions, BlockedRegions: p.BlockedRegions},
	}
}

// deliveryLease is how long a worker holds a claimed message: three times the
// provider's timeout, so a send always ends inside it, and short enough that a
// message whose node died mid-send goes out again soon after.
func deliveryLease(m config.Messaging) time.Duration {
	timeout := 10 * time.Second
	switch m.Provider {
	case "twilio":
		timeout = m.Twilio.Timeout
	case "webhook":
		timeout = m.Webhook.Timeout
	}
	return max(3*timeout, 3*time.Second)
}

// loadSecret reads a 32-byte server secret from the store (sealed under the KEK),
// creating it there on first start, so every node shares it.
func loadSecret(ctx context.Context, st store.KeyStore, sealer *keyseal.Sealer, name string) ([]byte, error) {
	candidate := make([]byte, 32)
	if _, err := rand.Read(candidate); err != nil {
		return nil, err
	}
	key, err := sealer.Secret(ctx, st, name, candidate)
	if err != nil {
		return nil, fmt.Errorf("loading the %s: %w", name, err)
	}
	return key, nil
}

// loadOTPKey reads the one-time-code HMAC key the configuration gives (read by
// config.Load from secrets.otp_key_env or otp_key_file; a configuration built in
// code may name only the variable), or from the store (sealed), creating it there on
// first start.
func loadOTPKey(ctx context.Context, cfg config.Config, st store.KeyStore, sealer *keyseal.Sealer) ([]byte, error) {
	if text, name := cfg.Secrets.OTPKey, cfg.Secrets.OTPKeyEnv; text != "" || name != "" {
		source := "secrets.otp_key"
		if text == "" {
			text, source = os.Getenv(name), "secrets.otp_key_env "+name
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
		if err != nil || len(key) < 32 {
			return nil, fmt.Errorf("%s: the key must hold at least 32 bytes, base64-encoded", source)
		}
		return key, nil
	}
	candidate := make([]byte, 32)
	if _, err := rand.Read(candidate); err != nil {
		return nil, err
	}
	key, err := sealer.Secret(ctx, st, "otp-hmac-key", candidate)
	if err != nil {
		return nil, fmt.Errorf("loading the one-time-code key: %w", err)
	}
	return key, nil
}

// Handler is the engine's HTTP interface.
func (e *Engine) Handler() http.Handler { return e.handler }

// MetricsHandler serves the engine's Prometheus metrics, for a listener of its own
// when the configuration's metrics_listen names one.
func (e *Engine) MetricsHandler() http.Handler { return e.metrics.Handler() }

// Drain makes /readyz answer 503 from now on, while every other endpoint keeps
// working: the first step of a graceful shutdown, so that load balancers stop
// sending requests before the listener closes.
func (e *Engine) Drain() { e.draining.Store(true) }

// Hasher is the engine's password hasher; the CLI uses it to set passwords.
func (e *Engine) Hasher() *password.Hasher { return e.hasher }

// Accounts is the engine's account service (engine/account), for tools and tests
// that create or change users as the engine does.
func (e *Engine) Accounts() *account.Service { return e.accounts }

// Run does the background work until ctx ends: delivering queued messages and
// deleting expired records every rate_limits.gc_interval. It returns once the
// delivery worker has stopped.
func (e *Engine) Run(ctx context.Context) {
	// What the worker records (a code delivered or given up) is stamped by the
	// engine's clock and reaches the event hooks.
	ctx = eventlog.With(ctx, e.events)
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		e.worker.Run(ctx)
	}()
	// Return only once the worker has finished its deliveries in progress.
	defer func() { <-workerDone }()
	t := time.NewTicker(e.cfg.RateLimits.GCInterval)
	defer t.Stop()
	flush := time.NewTicker(eventFlushInterval)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.CollectGarbage(ctx)
		case <-flush.C:
			if _, err := e.store.FlushEvents(ctx); err != nil && ctx.Err() == nil {
				e.log.Error("moving system log events into the log failed", "err", err)
			}
		}
	}
}

// eventFlushInterval is how often Run moves the system log's newly committed
// events into the searchable log (store.EventStore.FlushEvents): many at once
// instead of one index update per event per change. Reading the log flushes first,
// so the interval bounds only the backlog, never what a reader sees.
const eventFlushInterval = time.Second

// CollectGarbage deletes what expired (store.GarbageCollect) and the system log's
// events older than system_log.retention, logging what it did. Run calls it every
// rate_limits.gc_interval.
func (e *Engine) CollectGarbage(ctx context.Context) {
	res, err := e.store.GarbageCollect(ctx, e.now())
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("garbage collection failed", "err", err)
		}
		return
	}
	events, err := e.store.DeleteEventsBefore(ctx, e.now().Add(-e.cfg.SystemLog.Retention))
	if err != nil && ctx.Err() == nil {
		e.log.Error("deleting system log events past their retention failed", "err", err)
	}
	e.log.Debug("garbage collected", "transactions", res.Transactions, "challenges", res.Challenges,
		"interaction_codes", res.InteractionCodes, "refresh_tokens", res.RefreshTokens, "throttles", res.Throttles,
		"messages", res.Messages, "revocations", res.Revocations, "events", events)
}

// revokeSessionTokens revokes what was issued in an SSO session.
func revokeSessionTokens(st store.Store) sso.Revoker {
	return func(ctx context.Context, sessionID string, now time.Time) error {
		_, err := oauth.RevokeSessionTokens(ctx, st, sessionID, now)
		return err
	}
}
