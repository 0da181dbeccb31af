package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// extraMigrations are appended to every backend's migrations. Empty except in
// binaries built with -tags gatehouse_upgradetest (upgradetest.go), which play the
// next release in the rolling-upgrade test.
var extraMigrations []Migration

// Migration is one step of the schema: a file NNNN_description.sql, applied once.
type Migration struct {
	Version int64  // NNNN
	Name    string // the file name
	SQL     string
}

// LoadMigrations reads the *.sql files at the top of fsys, ordered by version.
// Versions must be unique and positive; gaps are allowed.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	if fsys == nil {
		return nil, errors.New("sqlstore: no migrations")
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var migrations []Migration
	for _, name := range names {
		prefix, _, ok := strings.Cut(name, "_")
		version, err := strconv.ParseInt(prefix, 10, 64)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("sqlstore: migration %q is not named NNNN_description.sql", name)
		}
		text, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		migrations = append(migrations, Migration{Version: version, Name: path.Base(name), SQL: string(text)})
	}
	slices.SortFunc(migrations, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	for i := 1; i < len(migrations); i++ {
		if migrations[i].Version == migrations[i-1].Version {
			return nil, fmt.Errorf("sqlstore: migrations %q and %q have the same version", migrations[i-1].Name, migrations[i].Name)
		}
	}
	if len(migrations) == 0 {
		return nil, errors.New("sqlstore: no migrations")
	}
	return migrations, nil
}

// withExtraMigrations appends extraMigrations to migrations, which must all be older.
func withExtraMigrations(migrations []Migration) ([]Migration, error) {
	if len(extraMigrations) == 0 {
		return migrations, nil
	}
	if extraMigrations[0].Version <= migrations[len(migrations)-1].Version {
		return nil, fmt.Errorf("sqlstore: the upgrade test's migration %s is not newer than %s", extraMigrations[0].Name, migrations[len(migrations)-1].Name)
	}
	return append(slices.Clip(migrations), extraMigrations...), nil
}

// The schema evolves by expand/contract, so that nodes of two releases can share one
// database during a rolling upgrade: a binary serves any database that holds all of its
// migrations, including one migrated further by a newer release. Hence Migrate applies
// what the database lacks and leaves a newer schema as it is, and Ping fails only on an
// older one. docs/upgrading.md gives the rules for writing migrations.

// schemaMigrationsTable is created by the first Migrate, before any migration.
const schemaMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at BIGINT NOT NULL
	)`

// querier is what reading the schema's status needs: a *sql.DB or a *sql.Conn.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Status reads which migrations the database has recorded and compares them with
// migrations, changing nothing: a database without schema_migrations is at version 0.
func Status(ctx context.Context, q querier, d Dialect, migrations []Migration) (store.SchemaStatus, error) {
	st := store.SchemaStatus{Database: d.Name}
	if len(migrations) > 0 {
		st.Binary = migrations[len(migrations)-1].Version
	}
	var tables int
	if err := q.QueryRowContext(ctx, d.TableExists, "schema_migrations").Scan(&tables); err != nil {
		return st, fmt.Errorf("sqlstore: schema status: %w", err)
	}
	applied := map[int64]bool{}
	if tables > 0 {
		rows, err := q.QueryContext(ctx, `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
		if err != nil {
			return st, fmt.Errorf("sqlstore: schema status: %w", err)
		}
		defer rows.Close()
		known := map[int64]bool{}
		for _, m := range migrations {
			known[m.Version] = true
		}
		for rows.Next() {
			var m store.Migration
			var at int64
			if err := rows.Scan(&m.Version, &m.Name, &at); err != nil {
				return st, fmt.Errorf("sqlstore: schema status: %w", err)
			}
			m.AppliedAt = time.UnixMilli(at).UTC()
			st.Applied = append(st.Applied, m)
			applied[m.Version] = true
			st.Current = max(st.Current, m.Version)
			if !known[m.Version] {
				st.Unknown = append(st.Unknown, m)
			}
		}
		if err := rows.Err(); err != nil {
			return st, fmt.Errorf("sqlstore: schema status: %w", err)
		}
	}
	for _, m := range migrations {
		if !applied[m.Version] {
			st.Pending = append(st.Pending, store.Migration{Version: m.Version, Name: m.Name})
		}
	}
	return st, nil
}

// checkSchema is what opening a store with store.SchemaRequire does: nothing, or
// ErrSchemaBehind with the versions.
func checkSchema(ctx context.Context, q querier, d Dialect, migrations []Migration) error {
	st, err := Status(ctx, q, d, migrations)
	if err != nil {
		return err
	}
	if !st.Behind() {
		return nil
	}
	if st.Current == 0 {
		return fmt.Errorf("%s database has no Gatehouse schema yet (this binary needs version %d): %w", d.Name, st.Binary, store.ErrSchemaBehind)
	}
	return fmt.Errorf("%s schema is at version %d, older than the version %d this binary needs (%d migrations pending): %w",
		d.Name, st.Current, st.Binary, len(st.Pending), store.ErrSchemaBehind)
}

// Migrate applies the migrations the database has not had yet, oldest first, each in
// its own transaction together with its row in schema_migrations, so that a migration
// is either applied and recorded or neither, and returns those it applied. Migrations
// of a newer release recorded in the database are left alone.
//
// Processes starting at once must not both apply a migration. Where the dialect has
// LockMigrations (PostgreSQL's advisory lock) it is held on one connection for the
// whole run. Whatever the dialect, each migration's transaction checks again that its
// version is not recorded yet; on SQLite that transaction begins IMMEDIATE, taking the
// database's write lock, so the check and the migration cannot interleave with another
// process's.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, migrations []Migration) (done []store.Migration, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrate: %w", err)
	}
	defer conn.Close()

	if d.LockMigrations != "" {
		if _, err := conn.ExecContext(ctx, d.LockMigrations); err != nil {
			return nil, fmt.Errorf("sqlstore: migrate: lock: %w", err)
		}
		defer func() {
			// On a cancelled ctx the unlock still has to run; if even that fails, the
			// lock goes when the connection does.
			if _, unlockErr := conn.ExecContext(context.WithoutCancel(ctx), d.UnlockMigrations); unlockErr != nil {
				err = errors.Join(err, fmt.Errorf("sqlstore: migrate: unlock: %w", unlockErr))
				// Do not hand a connection that may still hold the lock back to the pool.
				_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			}
		}()
	}

	st, err := Status(ctx, conn, d, migrations)
	if err != nil {
		return nil, err
	}
	if len(st.Pending) == 0 {
		return nil, nil
	}
	if _, err := conn.ExecContext(ctx, schemaMigrationsTable); err != nil {
		return nil, fmt.Errorf("sqlstore: migrate: %w", err)
	}
	pending := map[int64]bool{}
	for _, m := range st.Pending {
		pending[m.Version] = true
	}
	for _, m := range migrations {
		if !pending[m.Version] {
			continue
		}
		at, err := applyMigration(ctx, conn, m)
		if err != nil {
			return done, fmt.Errorf("sqlstore: migration %s: %w", m.Name, err)
		}
		if !at.IsZero() {
			done = append(done, store.Migration{Version: m.Version, Name: m.Name, AppliedAt: at})
		}
	}
	return done, nil
}

// applyMigration applies m and returns when it was recorded, or the zero time if
// another process had applied it first.
func applyMigration(ctx context.Context, conn *sql.Conn, m Migration) (time.Time, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return time.Time{}, err
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit

	var applied int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&applied); err != nil {
		return time.Time{}, err
	}
	if applied > 0 {
		return time.Time{}, nil // another process got here first
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return time.Time{}, err
	}
	at := time.Now().Truncate(time.Millisecond).UTC()
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.Version, m.Name, at.UnixMilli()); err != nil {
		return time.Time{}, err
	}
	return at, tx.Commit()
}
