package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConnectionSettings checks that the driver applies what dsn asks for — the
// design depends on each of these, and a driver that ignored a parameter would not
// say so.
func TestConnectionSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.db")
	writer, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	reader, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	ctx := t.Context()

	pragma := func(db *sql.DB, name string) string {
		t.Helper()
		var v string
		if err := db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	for _, c := range []struct {
		db         *sql.DB
		pragma     string
		want       string
		connection string
	}{
		{writer, "journal_mode", "wal", "writer"},
		{writer, "foreign_keys", "1", "writer"},
		{writer, "synchronous", "1", "writer"}, // NORMAL
		{writer, "busy_timeout", "10000", "writer"},
		{writer, "cache_size", "-65536", "writer"},
		{writer, "temp_store", "2", "writer"}, // MEMORY
		{writer, "mmap_size", "268435456", "writer"},
		{writer, "journal_size_limit", "67108864", "writer"},
		{reader, "journal_mode", "wal", "reader"},
		{reader, "busy_timeout", "10000", "reader"},
		{reader, "query_only", "1", "reader"},
	} {
		if got := pragma(c.db, c.pragma); got != c.want {
			t.Errorf("%s: PRAGMA %s = %s, want %s", c.connection, c.pragma, got, c.want)
		}
	}

	if _, err := writer.ExecContext(ctx, `CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.ExecContext(ctx, `INSERT INTO t VALUES (1)`); err == nil {
		t.Error("a reader connection could write")
	}

	// _txlock=immediate: a transaction takes the write lock when it begins, so a
	// second writer connection cannot even begin one while the first is open.
	// (A deferred BEGIN would succeed and fail later, at its first write, after
	// having read — which is what would make concurrent updates fail.)
	first, err := writer.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback()
	// Waiting 50ms for the lock, not busyTimeoutMillis.
	other, err := sql.Open("sqlite", strings.Replace(dsn(path, true), "_busy_timeout=10000", "_busy_timeout=50", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	beginCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if second, err := other.BeginTx(beginCtx, nil); err == nil {
		second.Rollback()
		t.Error("a second connection began a write transaction while another was open: BEGIN is not IMMEDIATE")
	}
}
