package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-id/gatehouse/engine"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/messaging"
	"github.com/gatehouse-id/gatehouse/engine/messaging/twilio"
	"github.com/gatehouse-id/gatehouse/engine/messaging/webhook"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
	"github.com/gatehouse-id/gatehouse/internal/version"
)

func (e env) serve(ctx context.Context, args []string) error {
	// SIGHUP would end the process; a service manager or a closed terminal sending
	// it must not take the engine down. Caught from the start, logged once the
	// logger exists.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	fs := e.newFlagSet("serve", "serve --config FILE")
	configPath := fs.String("config", "", "configuration file (YAML); see docs/configuration.md")
	cfg, log, err := e.loadConfigured(fs, args, configPath)
	if err != nil {
		return err
	}
	hupCtx, stopHUP := context.WithCancel(ctx)
	defer stopHUP()
	go ignoreHUP(hupCtx, hup, log)
	if err := checkExposure(cfg, log); err != nil {
		return err
	}
	for _, name := range config.UnusedEnv(os.Environ(), cfg) {
		log.Warn("environment variable sets no configuration key and no *_env key names it; is it misspelt?", "variable", name)
	}
	st, err := openServeStore(ctx, cfg, log, *configPath)
	if err != nil {
		return err
	}
	defer st.Close()
	sender, err := senderFor(cfg, e)
	if err != nil {
		return err
	}
	eng, err := engine.New(ctx, cfg, engine.Deps{Store: st, Sender: sender, Log: log, DevOut: e.stderr})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	build := version.Get()
	log.Info("gatehouse engine listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer,
		"version", build.Version, "commit", build.ShortCommit(), "go_version", build.GoVersion)
	background := eng.Run
	if addr := cfg.MetricsListen; addr != "" && addr != "off" {
		mln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("metrics_listen: %w", err)
		}
		log.Info("metrics listening", "addr", mln.Addr().String())
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", eng.MetricsHandler())
		background = func(ctx context.Context) {
			go func() { _ = serveHTTP(ctx, mln, mux, log, nil) }()
			eng.Run(ctx)
		}
	}
	return serveHTTPWith(ctx, ln, eng.Handler(), log, background, shutdownPlan{drain: cfg.Server.ShutdownDrain, unready: eng.Drain})
}

// ignoreHUP logs each SIGHUP until ctx ends. The engine logs to standard error
// only (no file to reopen) and reads its configuration at start only, so there is
// nothing for SIGHUP to do.
func ignoreHUP(ctx context.Context, hup <-chan os.Signal, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			log.Info("SIGHUP received and ignored: logs go to standard error, so there is no log file to reopen, and the configuration is read only at start (restart to change it)")
		}
	}
}

// openConfigured is what the benchmark's engine process does first: parse its flags
// (a --config is required), load and validate the configuration, set up JSON logs and
// the garbage collector, and open (and migrate) the store, which the caller closes.
func (e env) openConfigured(ctx context.Context, fs *flag.FlagSet, args []string, configPath *string) (config.Config, *slog.Logger, store.Store, error) {
	cfg, log, err := e.loadConfigured(fs, args, configPath)
	if err != nil {
		return config.Config{}, nil, nil, err
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return config.Config{}, nil, nil, err
	}
	return cfg, log, st, nil
}

// loadConfigured is the first half of openConfigured: flags, configuration, logs.
func (e env) loadConfigured(fs *flag.FlagSet, args []string, configPath *string) (config.Config, *slog.Logger, error) {
	if err := parse(fs, args); err != nil {
		return config.Config{}, nil, err
	}
	if *configPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return config.Config{}, nil, errUsage
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return config.Config{}, nil, err
	}
	return cfg, newLogger(e.stderr, cfg.LogLevel, true), nil
}

// openStore is the second half: the garbage collector's tuning and the store,
// migrated (serve uses openServeStore instead). A
// SQLite database (or its key-encryption key file) that other users may read is
// warned about, not changed: the files are the operator's.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (store.Store, error) {
	tuneGCForHashing()
	st, err := engine.OpenStore(ctx, cfg.Database)
	if err != nil {
		return nil, err
	}
	if driver, path, _ := config.ParseDatabase(cfg.Database); driver == "sqlite" {
		for _, w := range sqlite.LoosePermissions(path) {
			log.Warn("database file readable by other users: it holds password hashes and sealed keys", "problem", w)
		}
	}
	return st, nil
}

// checkExposure looks at the settings meant for development. Each is logged at
// WARN whenever it is on: the outbox provider (nothing is delivered; codes and
// numbers go to standard output), the dev outbox (every code over HTTP) and an
// http:// issuer. Each is refused where it would expose codes beyond this machine:
// the three of them when listen is not a loopback address, and a plain-http webhook
// URL to another host (the codes travel in its body) always, unless
// allow_insecure_development_settings is true. /metrics on a main listener that is
// not loopback is only warned about: it holds no secrets, but it does not belong on
// the internet.
func checkExposure(cfg config.Config, log *slog.Logger) error {
	loopback := loopbackListen(cfg.Listen)
	var refused []string
	if strings.HasPrefix(strings.ToLower(cfg.Issuer), "http://") {
		log.Warn("development setting: the issuer is http://; tokens, codes and passwords cross the network in clear unless only this machine reaches the engine",
			"key", "issuer", "issuer", cfg.Issuer)
		if !loopback {
			refused = append(refused, fmt.Sprintf("issuer: %s is http://, which is only allowed while listen is a loopback address (listen is %q); use an https:// issuer and put TLS in front of the engine", cfg.Issuer, cfg.Listen))
		}
	}
	if cfg.DevOutbox {
		log.Warn("development setting: dev_outbox is on; GET /dev/outbox shows every one-time code to whoever can reach the engine", "key", "dev_outbox")
		if !loopback {
			refused = append(refused, fmt.Sprintf("dev_outbox: true shows every one-time code to anyone who can reach the engine, and is only allowed while listen is a loopback address (listen is %q)", cfg.Listen))
		}
	}
	if cfg.Messaging.Provider == "outbox" {
		log.Warn("development setting: messaging.provider is outbox; no code reaches a phone, and every code and phone number is printed to standard output",
			"key", "messaging.provider")
		if !loopback {
			refused = append(refused, fmt.Sprintf("messaging.provider: outbox delivers nothing and prints every code and phone number to standard output, and is only allowed while listen is a loopback address (listen is %q); use twilio or webhook", cfg.Listen))
		}
	}
	if cfg.Messaging.Provider == "webhook" && plainHTTPElsewhere(cfg.Messaging.Webhook.URL) {
		log.Warn("development setting: messaging.webhook.url is plain http to another host; every code crosses the network in clear",
			"key", "messaging.webhook.url")
		refused = append(refused, fmt.Sprintf("messaging.webhook.url: %s is plain http to another host, and the codes travel in its body; use https (http is allowed to localhost and loopback addresses only)", redactURL(cfg.Messaging.Webhook.URL)))
	}
	if !loopback && cfg.MetricsListen == "" {
		log.Warn("GET /metrics is served on the main listener, which is not loopback: block it at the proxy, or set metrics_listen to a listener of its own (e.g. 127.0.0.1:9090) or to off",
			"listen", cfg.Listen)
	}
	if len(refused) == 0 {
		return nil
	}
	if cfg.AllowInsecureDevelopmentSettings {
		for _, r := range refused {
			log.Warn("allow_insecure_development_settings is true: starting with a setting that exposes one-time codes", "problem", r)
		}
		return nil
	}
	return errors.New(strings.Join(refused, "\n") +
		"\nallow_insecure_development_settings: true starts the engine anyway; never set it where real people sign in")
}

// plainHTTPElsewhere reports whether u is an http:// URL to a host other than
// localhost or a loopback address.
func plainHTTPElsewhere(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "http") {
		return false
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err != nil || !a.Unmap().IsLoopback()
}

// redactURL keeps a URL's scheme and host only: its user info, path or query may
// hold a gateway's credentials.
func redactURL(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Scheme + "://" + u.Host + "/…"
	}
	return "the URL"
}

// loopbackListen reports whether a listen address (host:port) accepts connections
// from this machine only: a loopback IP or "localhost". An empty host listens on
// every interface.
func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// senderFor builds the configured message provider.
func senderFor(cfg config.Config, e env) (messaging.Sender, error) {
	switch cfg.Messaging.Provider {
	case "outbox":
		return &messaging.DevOutbox{Out: e.stdout}, nil
	case "twilio":
		// Not returned directly: a nil *twilio.Sender would be a non-nil Sender.
		s, err := twilio.New(cfg.Messaging.Twilio)
		if err != nil {
			return nil, err
		}
		return s, nil
	case "webhook":
		s, err := webhook.New(cfg.Messaging.Webhook)
		if err != nil {
			return nil, err
		}
		return s, nil
	default:
		return nil, fmt.Errorf("messaging.provider %q is not available in this build", cfg.Messaging.Provider)
	}
}

// tuneGCForHashing raises the garbage collector's target for an engine process.
// Every password check allocates argon2id's memory (19 MiB by default); with Go's
// default GOGC=100 the heap goal sits just above that, so nearly every check starts a
// collection and the pages go back to the kernel, to be faulted in again by the next
// check. GOGC=200 keeps them: measured with `gatehouse bench` (1,000 users, 4
// clients) 62.7 → 69.6 sign-ins/s, 29.1 → 26.1 ms of CPU and 432 → 59 page faults
// per sign-in, for 148 → 186 MiB peak RSS. An explicit GOGC in the environment wins.
func tuneGCForHashing() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
}

// serveHTTP serves h on ln until ctx ends, then stops accepting and lets in-flight
// requests finish for up to shutdownTimeout. background runs beside it with the same
// lifetime.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, background func(context.Context)) error {
	return serveHTTPWith(ctx, ln, h, log, background, shutdownPlan{})
}

// shutdownTimeout is how long in-flight requests get to finish once the listener
// is closed.
const shutdownTimeout = 20 * time.Second

// shutdownPlan is what happens between the end of ctx (SIGTERM or SIGINT) and the
// closing of the listener: unready makes /readyz fail, then the server keeps
// serving for drain, so that load balancers notice and stop sending.
type shutdownPlan struct {
	drain   time.Duration
	unready func()
}

// serveHTTPWith is serveHTTP with a drain before the shutdown. Each phase is
// logged: readiness failing and the drain, the listener closing with in-flight
// requests finishing, background work (the delivery worker) stopping, and the end.
// serveHTTPWith returns once background has returned.
func serveHTTPWith(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, background func(context.Context), plan shutdownPlan) error {
	srv := newHTTPServer(h, log)
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	bgDone := make(chan struct{})
	if background != nil {
		go func() {
			defer close(bgDone)
			background(bgCtx)
		}()
	} else {
		close(bgDone)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if plan.unready != nil {
		plan.unready()
		log.Info("shutdown: /readyz now answers 503; still serving while load balancers take this node out",
			"drain", plan.drain.String())
		if plan.drain > 0 {
			t := time.NewTimer(plan.drain)
			select {
			case <-t.C:
			case err := <-errc:
				t.Stop()
				return err
			}
		}
	}
	log.Info("shutdown: listener closed; finishing in-flight requests", "timeout", shutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if err != nil {
		log.Warn("shutdown: in-flight requests did not finish in time", "err", err)
	}
	log.Info("shutdown: stopping background work (message delivery, garbage collection)")
	stopBackground()
	<-bgDone
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("shutdown: complete")
	return nil
}

// serverLimits are the timeouts and header cap of the engine's (and the demo
// app's) HTTP servers.
type serverLimits struct {
	readHeader, read, write, idle time.Duration
	maxHeaderBytes                int
}

// defaultLimits drop stalled clients: the headers must arrive within 10 s and the
// whole request (which bounds the draining of refused bodies) within 30 s; an idle
// keep-alive connection is closed after 2 minutes.
var defaultLimits = serverLimits{
	readHeader: 10 * time.Second, read: 30 * time.Second, write: 60 * time.Second,
	idle: 120 * time.Second, maxHeaderBytes: 64 << 10,
}

// newHTTPServer sets the timeouts a server facing the internet needs: slow clients
// cannot hold connections open indefinitely.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return newHTTPServerWith(h, log, defaultLimits)
}

func newHTTPServerWith(h http.Handler, log *slog.Logger, l serverLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.readHeader,
		ReadTimeout:       l.read,
		WriteTimeout:      l.write,
		IdleTimeout:       l.idle,
		MaxHeaderBytes:    l.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
