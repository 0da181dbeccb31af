package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/enginetest"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// pgTables counts the tables in the schema dsn's search_path selects.
func pgTables(t *testing.T, dsn string) int {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReadOnlyCommandsLeaveAnEmptyDatabaseEmpty: on an empty PostgreSQL schema every
// command but migrate says the database needs gatehouse migrate and creates nothing;
// migrate --dry-run and status change nothing either; migrate then applies every
// migration once, and the commands work.
func TestReadOnlyCommandsLeaveAnEmptyDatabaseEmpty(t *testing.T) {
	dsn := enginetest.PostgresSchema(t)
	for _, args := range [][]string{
		{"users", "--database", dsn, "list"},
		{"users", "--database", dsn, "show", "alice@example.com"},
		{"clients", "--database", dsn, "list"},
		{"keys", "--database", dsn, "list"},
		{"users", "--database", dsn, "create", "alice@example.com", "--password-stdin"},
		{"clients", "--database", dsn, "add", "web", "--redirect-uri", "https://app.example.com/cb"},
	} {
		r := run(t, "a-good-password\n", args...)
		if r.code != 1 || !strings.Contains(r.stderr, "no Gatehouse schema yet") || !strings.Contains(r.stderr, "gatehouse migrate") {
			t.Errorf("%s on an empty database: %+v", strings.Join(args[2:], " "), r)
		}
	}
	if n := pgTables(t, dsn); n != 0 {
		t.Fatalf("the commands left %d tables in the empty database", n)
	}

	r := run(t, "", "migrate", "--database", dsn, "status")
	if r.code != 0 || !strings.Contains(r.stdout, "schema version 0") || !strings.Contains(r.stdout, "0001_init.sql") ||
		!strings.Contains(r.stdout, "pending") || strings.Contains(r.stdout, "applied") || !strings.Contains(r.stdout, "run gatehouse migrate") {
		t.Errorf("status of an empty database: %+v", r)
	}
	r = run(t, "", "migrate", "--database", dsn, "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "would apply") || !strings.Contains(r.stdout, "0001_init.sql") || !strings.Contains(r.stdout, "nothing changed") {
		t.Errorf("dry run: %+v", r)
	}
	if n := pgTables(t, dsn); n != 0 {
		t.Fatalf("status and --dry-run left %d tables", n)
	}

	r = run(t, "", "migrate", "--database", dsn)
	if r.code != 0 || !strings.Contains(r.stdout, "applied 0001_init.sql") || !strings.Contains(r.stdout, "up to date") {
		t.Fatalf("migrate: %+v", r)
	}
	if r := run(t, "", "migrate", "--database", dsn); r.code != 0 || !strings.Contains(r.stdout, "nothing to apply") {
		t.Errorf("migrate again: %+v", r)
	}
	r = run(t, "", "migrate", "--database", dsn, "status", "--json")
	var status struct {
		Schema     int64 `json:"schema_version"`
		Behind     bool
		Migrations []struct{ Name, State string }
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &status) != nil || status.Behind || status.Schema == 0 || len(status.Migrations) == 0 {
		t.Errorf("status --json after migrate: %+v %+v", r, status)
	}
	for _, m := range status.Migrations {
		if m.State != "applied" {
			t.Errorf("after migrate %s is %s", m.Name, m.State)
		}
	}
	if r := run(t, "a-good-password\n", "users", "--database", dsn, "create", "alice@example.com", "--password-stdin"); r.code != 0 {
		t.Errorf("create after migrate: %+v", r)
	}
	if r := run(t, "", "users", "--database", dsn, "list"); r.code != 0 || !strings.Contains(r.stdout, "alice@example.com") {
		t.Errorf("list after migrate: %+v", r)
	}
}

// TestReadOnlyCommandsCreateNoSQLiteFile: read-only commands and migrate status on a
// SQLite path that does not exist say so and create nothing; a command that writes
// creates and migrates the file, as before.
func TestReadOnlyCommandsCreateNoSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	db := "sqlite:" + path
	for _, args := range [][]string{
		{"users", "--database", db, "list"},
		{"clients", "--database", db, "list"},
		{"keys", "--database", db, "list"},
		{"migrate", "--database", db, "status"},
		{"migrate", "--database", db, "--dry-run"},
	} {
		if r := run(t, "", args...); r.code != 1 || !strings.Contains(r.stderr, "no database at") {
			t.Errorf("%s: %+v", strings.Join(args[2:], " "), r)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a read-only command created %s: %v", path, err)
	}
	if r := run(t, "a-good-password\n", "users", "--database", db, "create", "alice@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	if r := run(t, "", "migrate", "--database", db, "status"); r.code != 0 || !strings.Contains(r.stdout, "up to date") {
		t.Errorf("status after create: %+v", r)
	}
}

// pgServeConfig writes a serve configuration for dsn, with extra appended.
func pgServeConfig(t *testing.T, dsn, addr, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	writeFile(t, path, fmt.Sprintf(`issuer: http://%s
listen: %s
database: %q
keys:
  encryption_key_file: %q
clients:
  - id: web
    redirect_uris: [https://app.example.com/cb]
%s`, addr, addr, dsn, enginetest.TestKEKFile(t), extra))
	return path
}

// TestServeMigratesPostgresOnlyWithAutoMigrate: serve refuses an empty PostgreSQL
// schema, naming gatehouse migrate, and changes nothing; with auto_migrate: true it
// migrates, logs each migration and becomes ready.
func TestServeMigratesPostgresOnlyWithAutoMigrate(t *testing.T) {
	dsn := enginetest.PostgresSchema(t)
	addr := testenv.FreeAddr(t)
	r := run(t, "", "serve", "--config", pgServeConfig(t, dsn, addr, ""))
	if r.code != 1 || !strings.Contains(r.stderr, "no Gatehouse schema yet") || !strings.Contains(r.stderr, "gatehouse migrate --config") {
		t.Errorf("serve on an empty database: %+v", r)
	}
	if n := pgTables(t, dsn); n != 0 {
		t.Fatalf("serve left %d tables in the empty database", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &testenv.SyncBuffer{}
	done := make(chan int, 1)
	cfg := pgServeConfig(t, dsn, addr, "auto_migrate: true\n")
	go func() { done <- Run(ctx, []string{"serve", "--config", cfg}, strings.NewReader(""), io.Discard, logs) }()
	waitReady(t, "http://"+addr, done, logs)
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited with %d: %s", code, logs)
	}
	for _, want := range []string{`"msg":"migrating the database schema"`, `"msg":"applied migration","version":1,"name":"0001_init.sql"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the logs lack %s:\n%s", want, logs)
		}
	}
}

// waitReady waits until base/readyz answers 200, failing if serve exits first.
func waitReady(t *testing.T, base string, done <-chan int, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s", code, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not become ready: %v\n%s", err, logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
