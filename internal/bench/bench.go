// Package bench measures complete sign-ins per second over real HTTP: interact,
// introspect, identify with the password, choose the phone, choose SMS, answer the
// code, redeem the interaction code for tokens, read userinfo (the IDX flow); or a
// browser sent to /v1/authorize walking the hosted sign-in pages to the same
// password and SMS code, and the app redeeming the authorization code (the
// authorization code flow). It seeds users
// straight into the store (untimed), starts the engine as a child process of its own
// (or targets a running one), runs concurrent clients for a while, and reports
// throughput against the ceiling that password hashing sets, the latency of every
// step, the engine's CPU time per sign-in and its peak memory.
//
// `gatehouse bench` is the command; docs/performance.md explains the method and the
// figures.
package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to create and drop the bench's schema

	"github.com/gatehouse-id/gatehouse/engine"
	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/postgres"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
)

// Options say what to measure.
type Options struct {
	// Flow is the sign-in measured: FlowIDX (the default when empty) or FlowCode.
	Flow        string
	Duration    time.Duration // measured time, after Warmup
	Warmup      time.Duration // sign-ins ending in this first stretch are not counted
	Concurrency int           // clients signing in at once
	Users       int           // seeded users; sign-ins go round them
	// Rate, if positive, paces sign-ins to that many per second (at most Concurrency
	// at once), to measure latency below the peak.
	Rate float64

	Store       string // "sqlite" or "postgres", for the bench's own engine
	PostgresDSN string // postgres:// URL of a database the bench may create a schema in
	// Hash is "real" (the configured argon2id parameters, the defaults) or "cheap"
	// (password.CheapParams: the engine's own cost without the hash's; only the bench's
	// own engine accepts it).
	Hash     string
	LogLevel string // the engine's log level
	// EngineCPUProfile, if set, is where the engine writes a CPU profile of the run.
	EngineCPUProfile string
	// EngineEnv are KEY=VALUE settings added to the engine's environment, to measure
	// runtime tuning such as GOGC (docs/performance.md).
	EngineEnv []string
	// KeepDir keeps the bench's temporary folder (database, engine configuration and
	// log) instead of deleting it.
	KeepDir bool

	// URL, if set, is the issuer of a running engine to measure instead of starting
	// one. Database is that engine's database setting, where users are seeded; codes
	// are read from its GET /dev/outbox. PID, if set, is its process, for CPU and
	// memory figures.
	URL, Database         string
	PID                   int
	ClientID, RedirectURI string
	// ClientSecret, with --url and FlowCode, authenticates ClientID at the token
	// endpoint (client_secret_basic); empty for a public client.
	ClientSecret string

	// EngineCommand returns the command that runs `gatehouse bench-engine` with args.
	EngineCommand func(args ...string) *exec.Cmd
	// Progress receives the progress display and status lines; nil shows none.
	Progress io.Writer
	// Command is the command line, recorded in the result.
	Command string
}

// Defaults for the command's flags.
const (
	DefaultDuration = 30 * time.Second
	DefaultWarmup   = 2 * time.Second
	DefaultUsers    = 1000
)

// DefaultConcurrency is two clients per core: enough to keep every core busy while
// the other half of the clients wait on the network.
func DefaultConcurrency() int { return 2 * runtime.NumCPU() }

func (o *Options) check() error {
	var errs []string
	switch o.Flow {
	case "":
		o.Flow = FlowIDX
	case FlowIDX, FlowCode:
	default:
		errs = append(errs, fmt.Sprintf("--flow %q: use idx or code", o.Flow))
	}
	if o.Duration <= 0 {
		errs = append(errs, "--duration must be positive")
	}
	if o.Warmup < 0 {
		errs = append(errs, "--warmup must not be negative")
	}
	if o.Concurrency < 1 {
		errs = append(errs, "--concurrency must be at least 1")
	}
	if o.Users < 1 || o.Users > maxUsers {
		errs = append(errs, fmt.Sprintf("--users must be between 1 and %d", maxUsers))
	}
	if o.Users < o.Concurrency {
		errs = append(errs, "--users must be at least --concurrency: two clients never sign one user in at once")
	}
	for _, kv := range o.EngineEnv {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			errs = append(errs, fmt.Sprintf("--engine-env %q: give KEY=VALUE", kv))
		}
	}
	if o.Rate < 0 {
		errs = append(errs, "--rate must not be negative")
	}
	switch o.Hash {
	case "real":
	case "cheap":
		if o.URL != "" {
			errs = append(errs, "--hash cheap needs the bench's own engine: a running engine hashes as its configuration says")
		}
	default:
		errs = append(errs, fmt.Sprintf("--hash %q: use real or cheap", o.Hash))
	}
	if o.URL == "" {
		switch o.Store {
		case "sqlite":
		case "postgres":
			if !strings.HasPrefix(o.PostgresDSN, "postgres://") && !strings.HasPrefix(o.PostgresDSN, "postgresql://") {
				errs = append(errs, "--store postgres needs --postgres-dsn postgres://…")
			}
		default:
			errs = append(errs, fmt.Sprintf("--store %q: use sqlite or postgres", o.Store))
		}
		if o.EngineCommand == nil {
			errs = append(errs, "no engine command")
		}
		if o.PID != 0 {
			errs = append(errs, "--pid is for --url; the bench knows its own engine")
		}
		if o.ClientSecret != "" {
			errs = append(errs, "--client-secret is for --url; the bench's own engine has its own client")
		}
	} else {
		if err := config.ValidateIssuer(o.URL); err != nil {
			errs = append(errs, "--url: "+err.Error())
		}
		if o.Database == "" {
			errs = append(errs, "--url needs --database: the engine's database, where the bench seeds its users")
		}
		if o.EngineCPUProfile != "" || len(o.EngineEnv) > 0 {
			errs = append(errs, "--engine-cpuprofile and --engine-env need the bench's own engine")
		}
		if o.ClientSecret != "" && o.Flow != FlowCode {
			errs = append(errs, "--client-secret is for --flow code: the IDX flow's client is public")
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "\n"))
	}
	return nil
}

// Run seeds users, starts or finds the engine, runs the clients and returns what
// they measured.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	status := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", args...)
		}
	}
	res := &Result{Errors: map[string]int{}}
	res.Machine = machineInfo()
	res.Run = RunInfo{Flow: o.Flow, Store: o.Store, Users: o.Users, Concurrency: o.Concurrency, DurationSeconds: o.Duration.Seconds(),
		WarmupSeconds: o.Warmup.Seconds(), Rate: o.Rate, LogLevel: o.LogLevel, StartedAt: time.Now().UTC().Truncate(time.Second),
		Command: o.Command, Target: "own engine (gatehouse bench-engine)", EngineEnv: o.EngineEnv}
	if o.URL != "" {
		res.Run.Target, res.Run.Store, res.Run.LogLevel = o.URL, databaseKind(o.Database), ""
	}

	// The hash first, while nothing else runs.
	params := config.Defaults().PasswordHashing.Params()
	if o.Hash == "cheap" {
		params = password.CheapParams
	}
	status("timing one %v hash…", params)
	hashesBefore, err := timeHashes(params, hashRounds)
	if err != nil {
		return nil, fmt.Errorf("timing the hash: %w", err)
	}
	res.Hash = HashCost{Params: params.String(), Mode: o.Hash, MillisBefore: ms(median(hashesBefore.wall)), HashesPerFlow: hashesPerFlow,
		AllCoresMillis: ms(median(timeHashesOnAllCores(params, runtime.NumCPU(), hashRounds)))}
	hash, err := password.HashWith(params, benchPassword)
	if err != nil {
		return nil, err
	}

	env, err := prepare(ctx, o, status)
	if err != nil {
		return nil, err
	}
	defer env.close(status)

	seedStart := time.Now()
	already := false
	if o.URL != "" {
		if already, err = seededAlready(ctx, env.store, o.Users); err != nil {
			return nil, err
		}
	}
	if !already {
		err = seed(ctx, env.store, o.Users, hash, func(done int) {
			if o.Progress != nil && o.Users > seedBatch {
				fmt.Fprintf(o.Progress, "\rseeding: %d of %d users", done, o.Users)
				if done == o.Users {
					fmt.Fprintln(o.Progress)
				}
			}
		})
		if err != nil {
			return nil, err
		}
		res.Run.SeedSeconds = round(time.Since(seedStart).Seconds())
		status("seeded %d users in %.1f s", o.Users, time.Since(seedStart).Seconds())
	} else {
		status("the database holds the %d bench users already", o.Users)
	}

	issuer, pid := o.URL, o.PID
	var eng *engineProcess
	webSecret := clients.NewSecret() // the own engine's authorization code client's
	if o.URL == "" {
		status("starting the engine…")
		eng, err = startEngine(ctx, o.EngineCommand, engineSetup{dir: env.dir, database: env.database, logLevel: o.LogLevel,
			cheap: o.Hash == "cheap", cpuProfile: o.EngineCPUProfile, env: o.EngineEnv, webSecret: webSecret})
		if err != nil {
			return nil, err
		}
		issuer, pid = eng.issuer, eng.pid()
		defer func() {
			if eng != nil {
				_ = eng.stop()
			}
		}()
	}

	u, _ := url.Parse(issuer)
	server := &url.URL{Scheme: u.Scheme, Host: u.Host}
	c := &client{server: server, origin: server.String(), oauthBase: oauth.BaseURL(issuer), issuer: issuer, flow: o.Flow,
		clientID: benchClientID, redirectURI: benchRedirectURI, codes: storeCodes{env.store}}
	if o.Flow == FlowCode {
		c.clientID, c.redirectURI, c.clientSecret = benchWebClientID, benchWebRedirectURI, webSecret
	}
	if o.URL != "" {
		transport := &http.Transport{MaxIdleConnsPerHost: o.Concurrency + 16, DisableCompression: true}
		defer transport.CloseIdleConnections()
		c.clientID, c.redirectURI, c.clientSecret = o.ClientID, o.RedirectURI, o.ClientSecret
		c.codes = outboxCodes{http: &http.Client{Transport: transport, Timeout: time.Minute}, origin: c.origin}
	}

	// What the sign-ins cost the PostgreSQL server, if the engine's database is one
	// whose pg_stat_statements the bench can read.
	var pg *pgStats
	var pgNotes []string
	if databaseKind(env.database) == "postgres" {
		var why string
		if pg, why = openPGStats(ctx, env.database); pg == nil {
			res.Postgres = &Postgres{Note: why}
			status("PostgreSQL statistics unavailable, going on without: %s", why)
		} else {
			defer pg.close()
			if env.lookupsTracked {
				pgNotes = append(pgNotes, "the bench's own code lookups (one query per sign-in, or a few) are counted too: its user may not set pg_stat_statements.track")
			}
		}
	}

	// CPU and memory counters, the own engine's store operations and the PostgreSQL
	// server's statistics, at the edges of the measurement window.
	var edges [2]counters
	var ops [2]storeOpsSnapshot
	var opsErr error
	var pgSnaps [2]pgSnapshot
	var pgErr error
	l := &load{client: c, users: o.Users, concurrency: o.Concurrency, warmup: o.Warmup, duration: o.Duration, rate: o.Rate,
		onWindow: func(opening bool) {
			i := 1
			if opening {
				i = 0
			}
			edges[i] = sampleCounters(pid)
			if o.URL == "" && opsErr == nil {
				ops[i], opsErr = fetchStoreOps(ctx, c.origin)
			}
			if pg != nil && pgErr == nil {
				pgSnaps[i], pgErr = pg.snapshot(ctx, opening)
			}
		}}
	res.Machine.LoadAverageBefore = loadAverage()
	stopProgress := showProgress(o.Progress, l)
	w := l.run(ctx)
	stopProgress()
	res.Machine.LoadAverageAfter = loadAverage()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if eng != nil {
		err := eng.stop()
		eng = nil
		if err != nil {
			return nil, err
		}
	}

	// The hash again, with the machine quiet again, for the ceiling.
	hashesAfter, err := timeHashes(params, hashRounds)
	if err != nil {
		return nil, fmt.Errorf("timing the hash: %w", err)
	}
	alone := median(append(hashesBefore.wall, hashesAfter.wall...))
	res.Hash.MillisAfter, res.Hash.Millis = ms(median(hashesAfter.wall)), ms(alone)
	res.Hash.CPUMillis = ms(median(append(hashesBefore.cpu, hashesAfter.cpu...)))
	res.CeilingFlowsPerSecond = round(float64(runtime.NumCPU()) / alone.Seconds())

	res.summarise(w, stepsOf(o.Flow))
	res.account(edges[0], edges[1], w.end.Sub(w.start).Seconds(), alone)
	if o.URL == "" {
		if opsErr != nil {
			status("reading the engine's store operations: %v", opsErr)
		} else {
			res.StoreOps = storeOpsPerFlow(ops[0], ops[1], stepsOf(o.Flow), res.stepRequests, res.Flows)
		}
	}
	if pg != nil {
		if pgErr != nil {
			res.Postgres = &Postgres{Note: "reading the statistics failed: " + pgErr.Error()}
			status("PostgreSQL statistics: %s", res.Postgres.Note)
		} else {
			res.Postgres = postgresPerFlow(pg, pgSnaps[0], pgSnaps[1], res.Flows, pgNotes)
		}
	}
	return res, nil
}

// benchEnv is the store the bench seeds and reads codes from, and what to clean up.
type benchEnv struct {
	store    store.Store
	database string // the engine's database setting
	dir      string // temporary folder: SQLite database, engine configuration and log
	keepDir  bool
	dropPG   func() error
	// lookupsTracked says pg_stat_statements counts the bench's own statements (the
	// code lookups): its user may not turn the counting off for its connections.
	lookupsTracked bool
}

func prepare(ctx context.Context, o Options, status func(string, ...any)) (*benchEnv, error) {
	env := &benchEnv{keepDir: o.KeepDir}
	if o.URL != "" {
		// The running engine's database: seeding users must not migrate it.
		st, err := engine.OpenStoreWith(ctx, o.Database, engine.StoreOptions{Schema: store.SchemaRequire})
		if err != nil {
			return nil, err
		}
		env.store, env.database = st, o.Database
		return env, nil
	}
	dir, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return nil, err
	}
	env.dir = dir
	switch o.Store {
	case "postgres":
		dsn, drop, err := freshSchema(ctx, o.PostgresDSN)
		if err != nil {
			env.close(status)
			return nil, err
		}
		env.dropPG = drop
		// The bench's own connections (seeding, code lookups) stay out of
		// pg_stat_statements, which then counts the engine's statements alone —
		// if the user may set that (a superuser, or granted SET on it).
		st, err := postgres.Open(ctx, withQueryParam(dsn, "pg_stat_statements.track", "none"))
		if err != nil {
			env.lookupsTracked = true
			st, err = postgres.Open(ctx, dsn)
		}
		if err != nil {
			env.close(status)
			return nil, err
		}
		env.store, env.database = st, dsn
	default:
		path := filepath.Join(dir, "gatehouse.db")
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			env.close(status)
			return nil, err
		}
		env.store, env.database = st, "sqlite:"+path
	}
	return env, nil
}

func (e *benchEnv) close(status func(string, ...any)) {
	if e.store != nil {
		_ = e.store.Close()
	}
	if e.dropPG != nil {
		if err := e.dropPG(); err != nil {
			status("dropping the bench's PostgreSQL schema: %v", err)
		}
	}
	if e.dir != "" {
		if e.keepDir {
			status("kept %s", e.dir)
		} else {
			_ = os.RemoveAll(e.dir)
		}
	}
}

// freshSchema creates an empty schema in the database dsn names and returns a DSN
// whose connections use it, and a function that drops it with everything in it.
func freshSchema(ctx context.Context, dsn string) (string, func() error, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, err
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	schema := "gatehouse_bench_" + hex.EncodeToString(suffix)
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("postgres: creating the bench schema: %w", err)
	}
	drop := func() error {
		defer db.Close()
		dropCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := db.ExecContext(dropCtx, `DROP SCHEMA `+schema+` CASCADE`)
		return err
	}
	if _, err := url.Parse(dsn); err != nil {
		return "", nil, errors.Join(err, drop())
	}
	return withQueryParam(dsn, "search_path", schema), drop, nil
}

// withQueryParam sets a parameter of a postgres:// URL (one that url.Parse reads).
func withQueryParam(dsn, key, value string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func databaseKind(database string) string {
	driver, _, err := config.ParseDatabase(database)
	if err != nil {
		return ""
	}
	return driver
}

func machineInfo() Machine {
	return Machine{
		Cores: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), CPUModel: cpuModel(),
		MemoryGiB: round(float64(memTotal()) / (1 << 30)), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// counters are what the bench samples at the edges of the measurement window.
type counters struct {
	engine      procStat // the engine process, if known
	engineKnown bool
	self        time.Duration // the bench's own CPU time
	busy, steal time.Duration // the whole machine's
	engineRSS   int64         // the engine's peak RSS so far
}

func sampleCounters(enginePID int) counters {
	var c counters
	if enginePID != 0 {
		st, err := processStat(enginePID)
		c.engine, c.engineKnown = st, err == nil
		c.engineRSS, _ = peakRSS(enginePID)
	}
	c.self = selfCPU()
	c.busy, c.steal, _ = machineTimes()
	return c
}

// account fills the throughput, CPU and memory figures from the counters at the
// window's edges, seconds apart, and the hash time.
func (r *Result) account(before, after counters, seconds float64, hash time.Duration) {
	if seconds <= 0 {
		return
	}
	r.Run.MeasuredSeconds = round(seconds)
	r.FlowsPerSecond = round(float64(r.Flows) / seconds)
	r.Ratio = round(r.FlowsPerSecond / r.CeilingFlowsPerSecond)
	perFlow := func(d time.Duration) float64 {
		if r.Flows == 0 {
			return 0
		}
		return round(ms(d) / float64(r.Flows))
	}

	self := after.self - before.self
	other := after.busy - before.busy - self
	r.ClientCPUMsPerFlow = perFlow(self)
	if before.engineKnown && after.engineKnown {
		engine := after.engine.cpu() - before.engine.cpu()
		other -= engine
		cpu := perFlow(engine)
		r.CPUMsPerFlow = &cpu
		if r.Flows > 0 && cpu > 0 {
			hash := float64(r.Hash.HashesPerFlow) * r.Hash.CPUMillis
			without, share := round(cpu-hash), round(hash/cpu)
			r.CPUMsPerFlowWithoutHash, r.HashCPURatio = &without, &share
		}
		r.Engine = &EngineUse{
			UserMsPerFlow:   perFlow(after.engine.user - before.engine.user),
			SystemMsPerFlow: perFlow(after.engine.system - before.engine.system),
		}
		if r.Flows > 0 {
			r.Engine.PageFaultsPerFlow = round(float64(after.engine.minorFaults-before.engine.minorFaults) / float64(r.Flows))
		}
		r.Run.EngineCPUSeconds = round(engine.Seconds())
	}
	if after.engineRSS > 0 {
		rss := round(float64(after.engineRSS) / (1 << 20))
		r.PeakRSSMiB = &rss
	}
	other = max(other, 0)
	r.OtherCPUMsPerFlow = perFlow(other)
	r.Machine.OtherProcessesCores = round(other.Seconds() / seconds)
	r.Machine.StealCores = round((after.steal - before.steal).Seconds() / seconds)

	coresLeft := float64(r.Machine.Cores) - self.Seconds()/seconds - r.Machine.OtherProcessesCores - r.Machine.StealCores
	if coresLeft > 0 && hash > 0 {
		r.RatioToCoresLeft = round(r.FlowsPerSecond / (coresLeft / hash.Seconds()))
	}
}
