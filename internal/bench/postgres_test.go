package bench_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/internal/bench"
	"github.com/gatehouse-id/gatehouse/internal/cli"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// asGatehouse makes the test binary act as the gatehouse binary, for the bench's
// own engine: `gatehouse bench-engine`, run as a child process.
const asGatehouse = "GATEHOUSE_BENCH_TEST_AS_GATEHOUSE"

func TestMain(m *testing.M) {
	if os.Getenv(asGatehouse) == "1" {
		os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestBenchReadsPostgresStatistics runs the bench briefly on PostgreSQL and
// checks what a sign-in cost the server, from pg_stat_statements, pg_stat_wal and
// the server's processes: every figure there, and consistent with the engine's own
// count of its statements.
func TestBenchReadsPostgresStatistics(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an engine and clients for a few seconds")
	}
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES_DSN")
	if dsn == "" {
		testenv.Unavailable(t, "PostgreSQL", "GATEHOUSE_TEST_POSTGRES_DSN is not set")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		testenv.Unavailable(t, "PostgreSQL", err.Error())
	}
	var preload string
	err = conn.QueryRow(ctx, `SELECT current_setting('shared_preload_libraries')`).Scan(&preload)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(preload, "pg_stat_statements") {
		testenv.Unavailable(t, "pg_stat_statements", fmt.Sprintf("the server's shared_preload_libraries is %q; "+
			"ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements' and restart it (.ci/run does)", preload))
	}

	t.Setenv(asGatehouse, "1")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	res, err := bench.Run(ctx, bench.Options{Duration: 2 * time.Second, Warmup: time.Second, Concurrency: 2, Users: 20,
		Store: "postgres", PostgresDSN: dsn, Hash: "cheap", LogLevel: "warn",
		EngineCommand: func(args ...string) *exec.Cmd {
			return exec.Command(self, append([]string{"bench-engine"}, args...)...)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Flows == 0 || res.ErrorCount != 0 {
		t.Fatalf("%d sign-ins, %d errors: %v", res.Flows, res.ErrorCount, res.Errors)
	}
	pg := res.Postgres
	if pg == nil || pg.PostgresCost == nil {
		t.Fatalf("no PostgreSQL figures: %+v", pg)
	}
	c := pg.PostgresCost
	var table strings.Builder
	_ = res.WriteTable(&table)
	t.Logf("the bench's table:\n%s", table.String())
	for name, v := range map[string]float64{"statements": c.StatementsPerSignin, "exec ms": c.DBExecMsPerSignin,
		"WAL bytes": c.WALBytesPerSignin, "WAL records": c.WALRecordsPerSignin, "shared blocks hit": c.BlocksHitPerSignin} {
		if v <= 0 {
			t.Errorf("%s per sign-in = %v, want more than 0", name, v)
		}
	}
	// The server ran every statement the engine sent (BEGIN and COMMIT besides,
	// which the engine does not count), give or take a sign-in at the window's edges.
	if res.StoreOps == nil || c.StatementsPerSignin < 0.9*res.StoreOps.Statements {
		t.Errorf("the server ran %v statements per sign-in; the engine counts %+v", c.StatementsPerSignin, res.StoreOps)
	}
	// Sign-ins write: rows, and the commit records pg_stat_wal adds.
	if c.WALBytesPerSignin < 500 || c.ServerWALBytesPerSignin == nil || *c.ServerWALBytesPerSignin < c.WALBytesPerSignin/2 {
		t.Errorf("WAL bytes per sign-in: %v by the statements, %v on the server", c.WALBytesPerSignin, c.ServerWALBytesPerSignin)
	}
	if c.ServerCPUMsPerSignin == nil {
		if !strings.Contains(pg.Note, "server CPU unknown") {
			t.Errorf("no server CPU time and no note why: %q", pg.Note)
		}
	} else if *c.ServerCPUMsPerSignin <= 0 {
		t.Errorf("server CPU per sign-in = %v", *c.ServerCPUMsPerSignin)
	}
	if len(c.TopStatements) == 0 || len(c.TopStatements) > 10 {
		t.Fatalf("%d top statements", len(c.TopStatements))
	}
	var calls, ms float64
	for i, st := range c.TopStatements {
		if st.Query == "" || st.CallsPerSignin <= 0 || len([]rune(st.Query)) > 100 {
			t.Errorf("statement %d: %+v", i, st)
		}
		if i > 0 && st.MsPerSignin > c.TopStatements[i-1].MsPerSignin {
			t.Errorf("statement %d takes longer than the one before: %+v", i, c.TopStatements)
		}
		if strings.Contains(st.Query, "pg_stat") {
			t.Errorf("the bench's own statistics query is counted: %q", st.Query)
		}
		calls += st.CallsPerSignin
		ms += st.MsPerSignin
	}
	if calls > c.StatementsPerSignin+0.01 || ms > c.DBExecMsPerSignin+0.01 {
		t.Errorf("the top statements (%v calls, %v ms) exceed the total (%v, %v)", calls, ms, c.StatementsPerSignin, c.DBExecMsPerSignin)
	}
}
