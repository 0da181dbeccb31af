package conformance

import (
	"errors"
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// SchemaHarness is what RunSchemaTests needs of a backend: one empty database, fresh
// for the test, that can be opened several times.
type SchemaHarness struct {
	// Open opens a store on the test's database in the given mode; the test closes it.
	Open func(t *testing.T, mode store.SchemaMode) (store.Store, error)
	// Exec runs a statement on the database outside the store.
	Exec func(t *testing.T, query string)
	// Tables counts the tables in the database (the store's schema).
	Tables func(t *testing.T) int
}

// RunSchemaTests checks the schema rules (store.SchemaMode): opening without
// migrating changes nothing, Migrate applies what is pending once, and a schema
// newer than the binary's is served while an older one is not.
func RunSchemaTests(t *testing.T, h SchemaHarness) {
	ctx := t.Context()
	open := func(mode store.SchemaMode) store.Store {
		t.Helper()
		s, err := h.Open(t, mode)
		if err != nil {
			t.Fatalf("open (mode %d): %v", mode, err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}

	// An empty database: requiring the schema fails and names the remedy; inspecting
	// it reports everything pending; neither creates a table.
	if s, err := h.Open(t, store.SchemaRequire); err == nil {
		s.Close()
		t.Fatal("open requiring the schema of an empty database: no error")
	} else if !errors.Is(err, store.ErrSchemaBehind) {
		t.Errorf("open requiring the schema of an empty database: %v, want ErrSchemaBehind", err)
	}
	s := open(store.SchemaInspect)
	st, err := s.SchemaStatus(ctx)
	if err != nil {
		t.Fatalf("SchemaStatus: %v", err)
	}
	if st.Current != 0 || st.Binary == 0 || len(st.Applied) != 0 || len(st.Pending) == 0 || !st.Behind() ||
		st.Pending[len(st.Pending)-1].Version != st.Binary {
		t.Errorf("status of an empty database: %+v", st)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping of an empty database: no error")
	}
	if n := h.Tables(t); n != 0 {
		t.Fatalf("the empty database has %d tables after opening it without migrating", n)
	}
	binary, pending := st.Binary, len(st.Pending)

	// Migrate applies them all once.
	applied, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if len(applied) != pending || applied[len(applied)-1].Version != binary || applied[0].AppliedAt.IsZero() {
		t.Errorf("Migrate applied %+v, want the %d pending", applied, pending)
	}
	if again, err := s.Migrate(ctx); err != nil || len(again) != 0 {
		t.Errorf("Migrate again: %v %+v, want nothing applied", err, again)
	}
	if st, err = s.SchemaStatus(ctx); err != nil || st.Behind() || st.Current != binary || len(st.Applied) != pending || len(st.Unknown) != 0 {
		t.Errorf("status after Migrate: %+v %v", st, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping after Migrate: %v", err)
	}
	open(store.SchemaRequire)

	// A newer release migrated further: this binary still serves the database, opens
	// it in every mode and reports the newer migration.
	h.Exec(t, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999999, '999999_future.sql', 0)`)
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping with a newer schema: %v", err)
	}
	for _, mode := range []store.SchemaMode{store.SchemaMigrate, store.SchemaRequire} {
		open(mode)
	}
	if st, err = s.SchemaStatus(ctx); err != nil || st.Behind() || st.Current != 999999 || len(st.Unknown) != 1 || st.Unknown[0].Name != "999999_future.sql" {
		t.Errorf("status with a newer schema: %+v %v", st, err)
	}
	if applied, err := s.Migrate(ctx); err != nil || len(applied) != 0 {
		t.Errorf("Migrate of a newer schema: %v %+v", err, applied)
	}

	// An older schema (this binary's newest migration not applied) is not served.
	h.Exec(t, `DELETE FROM schema_migrations WHERE version >= 999999`)
	h.Exec(t, `DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)`)
	if err := s.Ping(ctx); !errors.Is(err, store.ErrSchemaBehind) {
		t.Errorf("Ping with an older schema: %v, want ErrSchemaBehind", err)
	}
	if s2, err := h.Open(t, store.SchemaRequire); err == nil {
		s2.Close()
		t.Error("open requiring the schema of an older database: no error")
	} else if !errors.Is(err, store.ErrSchemaBehind) {
		t.Errorf("open requiring the schema of an older database: %v", err)
	}
	if st, err = s.SchemaStatus(ctx); err != nil || !st.Behind() || len(st.Pending) != 1 || st.Pending[0].Version != binary {
		t.Errorf("status with an older schema: %+v %v", st, err)
	}
}
