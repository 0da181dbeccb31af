package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the test's own connections

	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/conformance"
	"github.com/gatehouse-id/gatehouse/engine/store/postgres"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// dsnEnv names the database the tests use; they create and drop schemas in it.
const (
	dsnEnv     = "GATEHOUSE_TEST_POSTGRES_DSN"
	defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

func baseDSN() string {
	if dsn := os.Getenv(dsnEnv); dsn != "" {
		return dsn
	}
	return defaultDSN
}

// withParam adds a connection parameter to a URL or key=value DSN.
func withParam(dsn, key, value string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			panic(err)
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " " + key + "=" + value
}

// connect opens a plain connection pool to dsn for the test's own queries.
func connect(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// admin connects to the test database, stopping the test (see testenv.Unavailable)
// if PostgreSQL cannot be reached.
func admin(t testing.TB) *sql.DB {
	t.Helper()
	db := connect(t, baseDSN())
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		// The error names host, user and database; the DSN itself may hold a password.
		testenv.Unavailable(t, "PostgreSQL", fmt.Sprintf("%v (the DSN comes from %s, default %s)", err, dsnEnv, defaultDSN))
	}
	return db
}

// newSchema creates an empty schema, dropped when the test ends, and returns a DSN
// whose connections use it.
func newSchema(t testing.TB) string {
	t.Helper()
	db := admin(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	schema := "gatehouse_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("CREATE SCHEMA: %v", err)
	}
	t.Cleanup(func() {
		// Runs after the store's Close (cleanups run last-registered first).
		if _, err := db.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("DROP SCHEMA %s: %v", schema, err)
		}
	})
	return withParam(baseDSN(), "search_path", schema)
}

// open opens a store on dsn, closed when the test ends.
func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), withParam(dsn, "pool_max_conns", "12"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	admin(t) // skip once, not in every subtest, if PostgreSQL is unavailable
	conformance.RunTests(t, func(t *testing.T) store.Store { return open(t, newSchema(t)) })
}

type appliedMigration struct {
	Version   int64
	AppliedAt int64
}

func appliedMigrations(t *testing.T, db *sql.DB) []appliedMigration {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatalf("reading schema_migrations: %v", err)
	}
	defer rows.Close()
	var applied []appliedMigration
	for rows.Next() {
		var m appliedMigration
		if err := rows.Scan(&m.Version, &m.AppliedAt); err != nil {
			t.Fatal(err)
		}
		applied = append(applied, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return applied
}

// migrationCount is how many migrations the package embeds.
func migrationCount(t *testing.T) int {
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	return len(files)
}

func TestReopenDoesNotReapplyMigrations(t *testing.T) {
	dsn := newSchema(t)
	first, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	mustOK(t, "CreateUser", first.CreateUser(t.Context(), store.User{ID: "00u1", Login: "kept"}))
	mustOK(t, "Close", first.Close())

	db := connect(t, dsn)
	before := appliedMigrations(t, db)
	if len(before) != migrationCount(t) {
		t.Fatalf("after the first Open: %d migrations recorded, want %d", len(before), migrationCount(t))
	}
	s := open(t, dsn)
	mustOK(t, "Ping after reopening", s.Ping(t.Context()))
	if after := appliedMigrations(t, db); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("reopening changed schema_migrations: %v, was %v", after, before)
	}
	if _, err := s.GetUserByLogin(t.Context(), "kept"); err != nil {
		t.Errorf("data written before reopening: %v", err)
	}
}

func TestConcurrentOpenOfFreshSchema(t *testing.T) {
	dsn := newSchema(t)
	const n = 6
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = postgres.Open(t.Context(), dsn)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Open %d: %v", i, err)
			continue
		}
		mustOK(t, "Ping", stores[i].Ping(t.Context()))
		mustOK(t, "Close", stores[i].Close())
	}
	if applied := appliedMigrations(t, connect(t, dsn)); len(applied) != migrationCount(t) {
		t.Errorf("%d migrations recorded, want %d: %v", len(applied), migrationCount(t), applied)
	}
}

func TestSchema(t *testing.T) {
	dsn := newSchema(t)
	db := connect(t, dsn)
	conformance.RunSchemaTests(t, conformance.SchemaHarness{
		Open: func(t *testing.T, mode store.SchemaMode) (store.Store, error) {
			s, err := postgres.OpenWith(t.Context(), dsn, postgres.Options{Schema: mode})
			if err != nil {
				return nil, err // a nil *postgres.Store would be a non-nil store.Store
			}
			return s, nil
		},
		Exec: func(t *testing.T, query string) {
			_, err := db.ExecContext(t.Context(), query)
			mustOK(t, query, err)
		},
		Tables: func(t *testing.T) int {
			var n int
			err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()`).Scan(&n)
			mustOK(t, "counting tables", err)
			return n
		},
	})
}

func TestOpenRejectsBadPoolParams(t *testing.T) {
	for _, param := range [][2]string{{"pool_max_conns", "0"}, {"pool_max_conns", "x"}, {"pool_max_conn_lifetime", "1 hour"}} {
		s, err := postgres.Open(t.Context(), withParam(baseDSN(), param[0], param[1]))
		if err == nil {
			s.Close()
			t.Errorf("Open with %s=%s: no error", param[0], param[1])
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	// Port 1 on localhost: nothing listens there.
	if s, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"); err == nil {
		s.Close()
		t.Error("Open of an unreachable server: no error")
	}
}

func mustOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestTwoNodes opens two stores on one schema, as two engine nodes.
func TestTwoNodes(t *testing.T) {
	admin(t)
	conformance.RunTwoNodeTests(t, func(t *testing.T) (store.Store, store.Store) {
		dsn := newSchema(t)
		return open(t, dsn), open(t, dsn)
	})
}
