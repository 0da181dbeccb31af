package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"

	"github.com/gatehouse-id/gatehouse/engine"
	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/messaging"
	"github.com/gatehouse-id/gatehouse/internal/bench"
)

// benchEngineCommand is the hidden subcommand that runs the engine under test. Only
// `gatehouse bench` starts it, as a child process, so that the CPU time and memory
// the kernel reports for that process are the engine's alone.
const benchEngineCommand = "bench-engine"

// bench runs `gatehouse bench` or, for cmd == benchEngineCommand, the engine it
// measures.
func (e env) bench(ctx context.Context, cmd string, args []string) error {
	if cmd == benchEngineCommand {
		return e.benchEngine(ctx, args)
	}
	fs := e.newFlagSet("bench", "bench [flags]")
	o := bench.Options{}
	fs.StringVar(&o.Flow, "flow", bench.FlowIDX, "the sign-in to measure: idx (the IDX API, as okta-auth-js) or code (/v1/authorize, the hosted pages, the authorization code redeemed)")
	fs.DurationVar(&o.Duration, "duration", bench.DefaultDuration, "how long to measure, after the warm-up")
	fs.DurationVar(&o.Warmup, "warmup", bench.DefaultWarmup, "sign-ins ending in this first stretch are not counted")
	fs.IntVar(&o.Concurrency, "concurrency", bench.DefaultConcurrency(), "clients signing in at once (default: 2 × cores)")
	fs.IntVar(&o.Users, "users", bench.DefaultUsers, "users to seed (1 to 8,000,000); sign-ins go round them")
	fs.Float64Var(&o.Rate, "rate", 0, "pace sign-ins to this many per second (0: as fast as the clients go)")
	fs.StringVar(&o.Store, "store", "sqlite", "database of the bench's own engine: sqlite or postgres")
	fs.StringVar(&o.PostgresDSN, "postgres-dsn", "", "with --store postgres: postgres:// URL of a database to create a temporary schema in")
	fs.StringVar(&o.Hash, "hash", "real", "password hashing: real (the configured argon2id) or cheap (the weakest argon2id, to show the engine's own cost; bench only)")
	fs.StringVar(&o.LogLevel, "log-level", "info", "the engine's log level; info, as serve's default, logs every request")
	fs.StringVar(&o.URL, "url", "", "measure the running engine with this issuer URL instead of starting one")
	fs.StringVar(&o.Database, "database", "", "with --url: the engine's database (sqlite:PATH or postgres://…), where users are seeded")
	fs.IntVar(&o.PID, "pid", 0, "with --url: the engine's process id, for its CPU time and memory")
	fs.StringVar(&o.ClientID, "client-id", DemoClientID, "with --url: a client of the engine allowed the flow's grant (public for --flow idx)")
	fs.StringVar(&o.RedirectURI, "redirect-uri", "http://127.0.0.1:3000/login/callback", "with --url: a redirect URI of that client (never fetched)")
	fs.StringVar(&o.ClientSecret, "client-secret", "", "with --url and --flow code: that client's secret (client_secret_basic); empty for a public client")
	fs.StringVar(&o.EngineCPUProfile, "engine-cpuprofile", "", "write the engine's CPU profile of the run to this file (go tool pprof)")
	fs.Func("engine-env", "add KEY=VALUE to the engine's environment, e.g. GOGC=400 (repeatable)", func(kv string) error {
		o.EngineEnv = append(o.EngineEnv, kv)
		return nil
	})
	benchProfile := fs.String("cpuprofile", "", "write the bench's own CPU profile (the load generator's) to this file")
	fs.BoolVar(&o.KeepDir, "keep", false, "keep the temporary folder (database, engine configuration and log)")
	jsonOut := fs.Bool("json", false, "print the result as JSON instead of a table")
	jsonFile := fs.String("json-file", "", "also write the result as JSON to this file")
	chart := fs.String("chart", "", "also draw the latency per step to this PNG file")
	compare := fs.String("compare", "", "print this earlier result (a --json-file) beside the new one: each figure old → new and new/old (on standard error with --json)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	var previous *bench.Result
	if *compare != "" {
		// Read before the run, so that a wrong path fails at once.
		var err error
		if previous, err = bench.ReadResult(*compare); err != nil {
			return fmt.Errorf("--compare: %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	o.EngineCommand = func(args ...string) *exec.Cmd {
		return exec.Command(self, append([]string{benchEngineCommand}, args...)...)
	}
	o.Progress = e.stderr
	o.Command = "gatehouse bench " + strings.Join(args, " ")
	if *benchProfile != "" {
		stop, err := startCPUProfile(*benchProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	res, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	if *chart != "" {
		if err := res.WriteChart(*chart); err != nil {
			return fmt.Errorf("--chart: %w", err)
		}
	}
	if *jsonFile != "" {
		f, err := os.Create(*jsonFile)
		if err != nil {
			return fmt.Errorf("--json-file: %w", err)
		}
		err = errors.Join(res.WriteJSON(f), f.Close())
		if err != nil {
			return fmt.Errorf("--json-file: %w", err)
		}
	}
	if *jsonOut {
		if err := res.WriteJSON(e.stdout); err != nil {
			return err
		}
		if previous != nil {
			return res.WriteComparison(e.stderr, previous, *compare)
		}
		return nil
	}
	if err := res.WriteTable(e.stdout); err != nil {
		return err
	}
	if previous != nil {
		return res.WriteComparison(e.stdout, previous, *compare)
	}
	return nil
}

// benchEngine serves the engine as `serve` does, with the three differences a
// benchmark needs: messages are kept in the outbox for the bench to read instead of
// being printed, every limit is raised out of reach but still counted (the bench
// signs the same seeded users in many times a minute from one address, and the
// limits' cost is part of what it measures), and --hash cheap swaps argon2id's configured cost for the weakest
// one, which no configuration may ask for. It also counts the store operations of
// each step of the bench's sign-ins and answers the bench's request for them
// (bench.CountStoreOps): the requests are served exactly as without.
func (e env) benchEngine(ctx context.Context, args []string) error {
	fs := e.newFlagSet(benchEngineCommand, benchEngineCommand+" --config FILE [flags] (internal: started by gatehouse bench)")
	configPath := fs.String("config", "", "configuration file (YAML)")
	hash := fs.String("hash", "real", "real or cheap")
	listenFD := fs.Int("listen-fd", 0, "serve on this inherited listening socket instead of the configured address")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	cfg, log, st, err := e.openConfigured(ctx, fs, args, configPath) // as serve does
	if err != nil {
		return err
	}
	defer st.Close()
	deps := engine.Deps{Store: st, Log: log, Sender: &messaging.DevOutbox{}, UnreachableLimits: true}
	switch *hash {
	case "real":
	case "cheap":
		p := password.CheapParams
		deps.HashParams = &p
	default:
		return fmt.Errorf("--hash %q: use real or cheap", *hash)
	}
	eng, err := engine.New(ctx, cfg, deps)
	if err != nil {
		return err
	}
	// The store operations of each step of the bench's sign-ins, for the bench to
	// read at the edges of its measurement window (store_ops_per_signin).
	handler, counted := bench.CountStoreOps(eng.Handler(), st)
	if !counted {
		log.Warn("the store does not count its operations: store_ops_per_signin will be missing")
	}
	var ln net.Listener
	if *listenFD > 0 {
		f := os.NewFile(uintptr(*listenFD), "listener")
		ln, err = net.FileListener(f)
		f.Close() // FileListener made its own copy
	} else {
		ln, err = net.Listen("tcp", cfg.Listen)
	}
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			ln.Close()
			return err
		}
		defer stop()
	}
	log.Info("gatehouse bench engine listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "hash", *hash)
	err = serveHTTP(ctx, ln, handler, log, eng.Run)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// startCPUProfile profiles this process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
