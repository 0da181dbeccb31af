// Package enginetest starts a real engine on loopback for tests: SQLite in a temporary
// folder, the dev outbox as the message sender, a controllable clock, and helpers
// that walk the IDX protocol over real HTTP. Tests of the engine, the SDK, the sample
// app and the benchmark share it.
package enginetest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/engine"
	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/messaging"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// Fixed test identities.
const (
	ClientID    = "test-app"
	RedirectURI = "http://127.0.0.1:3000/login/callback"
	AppOrigin   = "http://127.0.0.1:3000"
	Password    = "correct horse battery staple"
)

// Clock is a settable clock: real time plus an offset tests move forward, or,
// once frozen, a fixed instant that only Advance moves.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
	frozen time.Time // zero: not frozen
}

// Now is the current test time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen.Add(c.offset)
	}
	return time.Now().Add(c.offset)
}

// Freeze stops the clock at at; from then on only Advance moves it. For tests
// about instants closer together than a test can time, such as a token issued in
// the same second as a revocation, just before or just after it.
func (c *Clock) Freeze(at time.Time) {
	c.mu.Lock()
	c.frozen, c.offset = at, 0
	c.mu.Unlock()
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// Options adjust the engine a test starts.
type Options struct {
	// Configure changes the configuration before the engine starts.
	Configure func(*config.Config)
	// RealHashing uses the configured argon2id parameters instead of cheap ones.
	RealHashing bool
	// Logs receives the engine's logs (JSON); nil discards them.
	Logs io.Writer
	// DataDir holds the database; empty means a fresh temporary folder.
	DataDir string
	// Sender delivers messages; nil means the dev outbox (codes readable with Outbox).
	Sender messaging.Sender
	// Database overrides the configuration's database, e.g. a DSN from
	// PostgresSchema, or the same database for two engines (two nodes).
	Database string
	// Wrap, if set, wraps the engine's handler before the server serves it (the
	// benchmark's instrumentation); st is the engine's store.
	Wrap func(h http.Handler, st store.Store) http.Handler
	// UnreachableLimits runs the engine as the benchmark's own engine does
	// (engine.Deps.UnreachableLimits).
	UnreachableLimits bool
}

// Harness is a running engine.
type Harness struct {
	URL    string // origin, e.g. http://127.0.0.1:41234
	Issuer string
	Config config.Config
	Store  store.Store
	Engine *engine.Engine
	Clock  *Clock
	Server *httptest.Server
}

// Config returns the test configuration for an engine at origin.
func Config(origin, dataDir string) config.Config {
	cfg := config.Defaults()
	cfg.Issuer = origin + "/oauth2/default"
	cfg.Database = "sqlite:" + filepath.Join(dataDir, "gatehouse.db")
	cfg.DevOutbox = true
	cfg.Clients = []config.Client{config.ClientDefaults(config.Client{
		ID: ClientID, Name: "Test app",
		RedirectURIs:           []string{RedirectURI},
		PostLogoutRedirectURIs: []string{AppOrigin + "/"},
		Grants:                 []string{config.GrantInteractionCode, config.GrantRefreshToken},
		Scopes:                 []string{"openid", "profile", "email", "phone", "offline_access"},
	})}
	cfg.CORS.AllowedOrigins = []string{AppOrigin}
	return cfg
}

// Start runs an engine for the test; it stops when the test ends.
func Start(t testing.TB, o Options) *Harness {
	t.Helper()
	dir := o.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	srv := httptest.NewUnstartedServer(nil)
	origin := "http://" + srv.Listener.Addr().String()
	cfg := Config(origin, dir)
	// Tests post as many clients through X-Forwarded-For (Flow.ClientIP); the test
	// itself is the trusted proxy.
	cfg.Server.TrustedProxies = []string{"127.0.0.1"}
	if o.Database != "" {
		cfg.Database = o.Database
	}
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	if driver, _, _ := config.ParseDatabase(cfg.Database); driver == "postgres" && cfg.Keys.EncryptionKeyFile == "" && cfg.Keys.EncryptionKeyEnv == "" {
		cfg.Keys.EncryptionKeyFile = TestKEKFile(t)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test configuration: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := engine.OpenStore(ctx, cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	clock := &Clock{}
	logs := o.Logs
	if logs == nil {
		logs = io.Discard
	}
	deps := engine.Deps{Store: st, Sender: o.Sender, Now: clock.Now, DevOut: io.Discard, Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	deps.UnreachableLimits = o.UnreachableLimits
	if !o.RealHashing {
		p := password.CheapParams
		deps.HashParams = &p
	}
	eng, err := engine.New(ctx, cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = eng.Handler()
	if o.Wrap != nil {
		srv.Config.Handler = o.Wrap(eng.Handler(), st)
	}
	srv.Start()
	done := make(chan struct{})
	go func() { eng.Run(ctx); close(done) }()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		st.Close()
	})
	return &Harness{URL: origin, Issuer: cfg.Issuer, Config: cfg, Store: st, Engine: eng, Clock: clock, Server: srv}
}

// testKEK is the key-encryption key of tests on PostgreSQL: every engine of a test
// shares it, as the nodes of a deployment share theirs.
const testKEK = "dGVzdCBrZWstZW5jcnlwdGlvbiBrZXkgMzIgYnl0ZXM="

// TestKEKFile writes the tests' shared key-encryption key to a file of the test's
// and returns its path, for keys.encryption_key_file.
func TestKEKFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.kek")
	if err := os.WriteFile(path, []byte(testKEK+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// CreateUser stores a user with Password and, if phone is not empty, that phone
// enrolled for SMS and voice.
func (h *Harness) CreateUser(t testing.TB, login, phone string) store.User {
	t.Helper()
	ctx := context.Background()
	now := time.Now().Truncate(time.Millisecond)
	u := store.User{ID: opaque.ID("00u"), Login: login, Email: login, GivenName: "Test", FamilyName: "User", CreatedAt: now, UpdatedAt: now}
	if err := h.Store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	hash, err := h.Engine.Hasher().Hash(ctx, Password)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Store.SetPassword(ctx, store.PasswordCredential{UserID: u.ID, Hash: hash, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if phone != "" {
		if err := h.Store.CreatePhoneEnrollment(ctx, store.PhoneEnrollment{ID: opaque.ID("sms"), UserID: u.ID, Number: phone, SMS: true, Voice: true, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// OutboxEntry is one entry of GET /dev/outbox.
type OutboxEntry = engine.OutboxEntry

// Outbox reads GET /dev/outbox?phone=number over HTTP, newest first.
func (h *Harness) Outbox(t testing.TB, number string) []OutboxEntry {
	t.Helper()
	resp, err := http.Get(h.URL + "/dev/outbox?phone=" + url.QueryEscape(number))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /dev/outbox: %s", resp.Status)
	}
	var out []OutboxEntry
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// LatestCode is the code of the newest message to number.
func (h *Harness) LatestCode(t testing.TB, number string) string {
	t.Helper()
	msgs := h.Outbox(t, number)
	if len(msgs) == 0 {
		t.Fatalf("no message was sent to %s", number)
	}
	return msgs[0].Code
}

// PKCE is a verifier and its S256 challenge.
type PKCE struct{ Verifier, Challenge string }

// NewPKCE makes a fresh PKCE pair.
func NewPKCE() PKCE {
	v := opaque.New(32)
	sum := sha256.Sum256([]byte(v))
	return PKCE{Verifier: v, Challenge: base64.RawURLEncoding.EncodeToString(sum[:])}
}

// PostgresSchema creates an empty PostgreSQL schema for the test, dropped when it
// ends, and returns a DSN that uses it; without PostgreSQL the test skips (or fails
// under .ci/run). The server is GATEHOUSE_TEST_POSTGRES_DSN, by default the local
// one.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	base := os.Getenv("GATEHOUSE_TEST_POSTGRES_DSN")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		testenv.Unavailable(t, "PostgreSQL", err.Error())
	}
	schema := "gh_enginetest_" + strings.ToLower(opaque.ID(""))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		_ = conn.Close(context.Background())
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// NoRequestLimits raises the per-client-IP request limits and the caps on sign-ins
// started out of reach, for tests that send many requests as one client (fuzzers)
// and are not about those limits.
func NoRequestLimits(c *config.Config) {
	c.RateLimits.RequestsPerIPPerMinute = 10_000_000
	c.RateLimits.TransactionsPerIP = 10_000_000
	c.RateLimits.TransactionsTotal = 100_000_000
}

// JWKS fetches the engine's published signing keys.
func (h *Harness) JWKS(t testing.TB) *jose.JSONWebKeySet {
	t.Helper()
	return FetchJWKS(t, h.Issuer)
}

// FetchJWKS fetches the published signing keys of the engine with issuer.
func FetchJWKS(t testing.TB, issuer string) *jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(issuer + "/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("JWKS of %s: %v", issuer, err)
	}
	return &set
}
