package sqlite_test

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/conformance"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
)

// openTemp opens a store on a new file in the test's temporary directory, closed when
// the test ends.
func openTemp(t testing.TB) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db", "gatehouse.db"))
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
	conformance.RunTests(t, func(t *testing.T) store.Store { return openTemp(t) })
}

type appliedMigration struct {
	Version   int64
	AppliedAt int64
}

// appliedMigrations reads schema_migrations through a connection of the test's own.
func appliedMigrations(t *testing.T, path string) []appliedMigration {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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

func exec(t *testing.T, path, query string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func TestReopenDoesNotReapplyMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	first, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := first.CreateUser(t.Context(), store.User{ID: "00u1", Login: "kept"}); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	before := appliedMigrations(t, path)
	if len(before) != migrationCount(t) {
		t.Fatalf("after the first Open: %d migrations recorded, want %d", len(before), migrationCount(t))
	}

	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer s.Close()
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping after reopening: %v", err)
	}
	if after := appliedMigrations(t, path); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("reopening changed schema_migrations: %v, was %v", after, before)
	}
	if _, err := s.GetUserByLogin(t.Context(), "kept"); err != nil {
		t.Errorf("data written before reopening: %v", err)
	}
}

func TestConcurrentOpenOfFreshFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	const n = 6
	stores := make([]*sqlite.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = sqlite.Open(t.Context(), path)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Open %d: %v", i, err)
			continue
		}
		if err := stores[i].Ping(t.Context()); err != nil {
			t.Errorf("Ping %d: %v", i, err)
		}
		stores[i].Close()
	}
	if applied := appliedMigrations(t, path); len(applied) != migrationCount(t) {
		t.Errorf("%d migrations recorded, want %d: %v", len(applied), migrationCount(t), applied)
	}
}

func TestSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	exec(t, path, `PRAGMA user_version = 0`) // an existing, empty database file
	conformance.RunSchemaTests(t, conformance.SchemaHarness{
		Open: func(t *testing.T, mode store.SchemaMode) (store.Store, error) {
			s, err := sqlite.OpenWith(t.Context(), path, sqlite.Options{Schema: mode})
			if err != nil {
				return nil, err // a nil *sqlite.Store would be a non-nil store.Store
			}
			return s, nil
		},
		Exec: func(t *testing.T, query string) { exec(t, path, query) },
		Tables: func(t *testing.T) int {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var n int
			if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		},
	})
}

// Opening without migrating never creates a database.
func TestOpenWithoutMigratingCreatesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db", "gatehouse.db")
	for _, o := range []sqlite.Options{{Schema: store.SchemaRequire}, {Schema: store.SchemaInspect, MustExist: true}} {
		if s, err := sqlite.OpenWith(t.Context(), path, o); err == nil {
			s.Close()
			t.Errorf("OpenWith(%+v) of a missing file: no error", o)
		}
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("opening without migrating created %s: %v", filepath.Dir(path), err)
	}
}

func TestOpenRejectsUnusablePaths(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{"", filepath.Join(dir, "a?b.db")} {
		if s, err := sqlite.Open(t.Context(), path); err == nil {
			s.Close()
			t.Errorf("Open(%q): no error", path)
		}
	}
	// A parent that is a file cannot be created as a directory.
	exec(t, filepath.Join(dir, "file"), `CREATE TABLE x (y)`)
	if s, err := sqlite.Open(t.Context(), filepath.Join(dir, "file", "gatehouse.db")); err == nil {
		s.Close()
		t.Error("Open under a file: no error")
	}
}

// TestTwoNodes opens two stores on one file, as two engine processes on one host.
func TestTwoNodes(t *testing.T) {
	conformance.RunTwoNodeTests(t, func(t *testing.T) (store.Store, store.Store) {
		path := filepath.Join(t.TempDir(), "shared.db")
		var stores [2]store.Store
		for i := range stores {
			s, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { _ = s.Close() })
			stores[i] = s
		}
		return stores[0], stores[1]
	})
}
