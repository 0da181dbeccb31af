// Package sqlite is the SQLite backend of the store, for single-node deployments and
// development. It uses modernc.org/sqlite, a translation of SQLite to Go, so the
// engine builds without cgo.
//
// SQLite lets one connection write at a time. Rather than have concurrent writers
// collide and fail with SQLITE_BUSY, the store sends every write through one
// dedicated connection (a database/sql pool of exactly one), where writers queue in
// Go, and starts its transactions with BEGIN IMMEDIATE, which takes the write lock at
// once instead of upgrading a read lock later (the upgrade is what fails when another
// process writes in between). Reads go through a separate pool of read-only
// connections: in WAL mode they read a consistent snapshot without waiting for the
// writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the SQLite store. All of store.Store is promoted from sqlstore.Store.
type Store struct {
	*sqlstore.Store
}

// busyTimeoutMillis is how long a connection waits for a lock another process holds
// (another engine on the same file, a backup, the sqlite3 shell) before SQLITE_BUSY.
// Within this process writers queue for the writer connection and never get there.
const busyTimeoutMillis = 10_000

// dsn is the data source name of a writer's or a reader's connection to path: the
// parameters modernc.org/sqlite applies to every connection it opens.
func dsn(path string, writer bool) string {
	params := url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeoutMillis)},
		"_foreign_keys": {"on"},
		// WAL lets readers and the writer proceed at once.
		"_journal_mode": {"WAL"},
		// In WAL mode NORMAL syncs at checkpoints instead of on every commit. It
		// cannot corrupt the database, and a crash of the process loses nothing; only
		// a power loss or OS crash can lose the last commits. For sign-in state
		// (transactions, codes, throttles) that is the right trade for much cheaper
		// commits.
		"_synchronous": {"NORMAL"},
		"_pragma": {
			// Without a limit the WAL file keeps the size of the biggest transaction
			// (a bulk import makes it hundreds of megabytes) after a checkpoint.
			"journal_size_limit(67108864)",
		},
	}
	if writer {
		// Every transaction begins IMMEDIATE, taking the write lock at once.
		params.Set("_txlock", "immediate")
		params["_pragma"] = append(params["_pragma"],
			// The writer maps the file (up to 256 MiB) instead of copying each page
			// in with a system call. Only the writer: a connection drops its mapping
			// and its page cache whenever it starts a read and finds that another
			// connection has written since, which for a reader under a steady stream
			// of writes is nearly every statement — unmapping and faulting the pages
			// back in then costs more than reading them (docs/performance.md). The
			// writer only ever sees its own writes and keeps both.
			"mmap_size(268435456)",
			// 64 MiB of page cache instead of 2: a bulk import changes pages all
			// over the b-trees, and every page that falls out of the cache within
			// the transaction is written out and read back.
			"cache_size(-65536)",
			// A multi-row INSERT inside a transaction keeps a statement journal, to
			// undo just that statement if it fails; in memory, not a temporary file.
			"temp_store(MEMORY)",
		)
	} else {
		// A read connection that tried to write would break the one-writer design.
		params.Set("_query_only", "on")
	}
	return path + "?" + params.Encode()
}

// Open opens the database file at path, creating it and its parent directory if
// missing, and brings its schema up to date. A new file is created readable by its
// owner only (0600), and a missing folder likewise (0700); SQLite gives the -wal and
// -shm files it creates beside the database the database file's permissions. An
// existing file keeps its permissions: see LoosePermissions.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// Options are how OpenWith opens a database.
type Options struct {
	// Schema says whether opening migrates the schema, requires it to be recent
	// enough, or leaves it alone. The zero value migrates, as Open does.
	Schema store.SchemaMode
	// MustExist refuses a missing file instead of creating an empty database.
	// store.SchemaRequire implies it: that mode changes nothing.
	MustExist bool
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, o Options) (*Store, error) {
	if path == "" || strings.Contains(path, "?") {
		// The driver reads everything after a '?' as parameters.
		return nil, fmt.Errorf("sqlite: unusable database path %q", path)
	}
	if o.MustExist || o.Schema == store.SchemaRequire {
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("sqlite: no database at %s", path)
			}
			return nil, fmt.Errorf("sqlite: %w", err)
		}
		return openRetrying(ctx, path, o)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// An empty file is an empty database; creating it here rather than in the
	// driver is what sets its mode.
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return openRetrying(ctx, path, o)
}

// openRetrying opens the existing file at path.
func openRetrying(ctx context.Context, path string, o Options) (*Store, error) {
	// Processes opening a fresh file at once race to switch it to WAL and to
	// migrate it; SQLite answers some of those races with SQLITE_BUSY at once
	// instead of waiting (a lock upgrade it cannot wait for without deadlocking).
	// The loser tries again: the winner has finished or will soon.
	deadline := time.Now().Add(busyTimeoutMillis * time.Millisecond)
	for attempt := 0; ; attempt++ {
		s, err := openOnce(ctx, path, o)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return s, err
		}
		wait := time.Duration(10+rand.IntN(40)) * time.Millisecond << min(attempt, 4)
		select {
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// isBusy recognises SQLITE_BUSY and its extended codes.
func isBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

func openOnce(ctx context.Context, path string, o Options) (*Store, error) {
	writer, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	reader, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)

	s, err := open(ctx, writer, reader, o)
	if err != nil {
		return nil, errors.Join(err, reader.Close(), writer.Close())
	}
	return s, nil
}

// LoosePermissions lists the files of the database at path — the database, its
// -wal and -shm files and the key-encryption key file next to it — that users other
// than their owner may read or write, one message each. The engine warns about
// them at start rather than change the modes of files it did not create.
func LoosePermissions(path string) []string {
	var out []string
	for _, name := range []string{path, path + "-wal", path + "-shm", path + ".kek"} {
		info, err := os.Stat(name)
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			out = append(out, fmt.Sprintf("%s has mode %04o: other users may read it; chmod 600 %s", name, perm, name))
		}
	}
	return out
}

func open(ctx context.Context, writer, reader *sql.DB, o Options) (*Store, error) {
	// WAL is what lets the read pool work beside the writer; some file systems (network
	// mounts) cannot do it, and SQLite then quietly keeps its rollback journal.
	var mode string
	if err := writer.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return nil, fmt.Errorf("sqlite: journal mode is %q, not WAL; is the database on a local file system?", mode)
	}
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	s, err := sqlstore.New(ctx, sqlstore.Config{
		Writer:     writer,
		Reader:     reader,
		Dialect:    dialect,
		Migrations: migrations,
		Schema:     o.Schema,
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return &Store{s}, nil
}

// dialect describes SQLite to sqlstore. No row locks: every write transaction holds
// the database's one write lock from BEGIN IMMEDIATE to commit, which already
// serialises them, and likewise for migrations.
var dialect = sqlstore.Dialect{
	Name:                  "sqlite",
	Placeholder:           func(int) string { return "?" },
	PrepareStatements:     true,
	TableExists:           `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`,
	StatementsFailAlone:   true,
	JSONArray:             "json_array",
	JSONArrayAgg:          "json_group_array(%s)",
	JSONField:             "json_extract(%s, '$.%s')",
	IsUniqueViolation:     hasCode(sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY),
	IsForeignKeyViolation: hasCode(sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY),
}

// hasCode recognises errors with one of the given (extended) SQLite result codes.
func hasCode(codes ...int) func(error) bool {
	return func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		for _, c := range codes {
			if e.Code() == c {
				return true
			}
		}
		return false
	}
}
