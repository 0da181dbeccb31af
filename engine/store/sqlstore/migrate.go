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
)

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

// Migrate applies the migrations the database has not had yet, each in its own
// transaction together with its row in schema_migrations, so that a migration is
// either applied and recorded or neither. It refuses a database whose schema is newer
// than the newest migration: this binary would misread it.
//
// Processes starting at once must not both apply a migration. Where the dialect has
// LockMigrations (PostgreSQL's advisory lock) it is held on one connection for the
// whole run. Whatever the dialect, each migration's transaction checks again that its
// version is not recorded yet; on SQLite that transaction begins IMMEDIATE, taking the
// database's write lock, so the check and the migration cannot interleave with another
// process's.
func Migrate(ctx context.Context, db *sql.DB, d Dialect, migrations []Migration) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	defer conn.Close()

	if d.LockMigrations != "" {
		if _, err := conn.ExecContext(ctx, d.LockMigrations); err != nil {
			return fmt.Errorf("sqlstore: migrate: lock: %w", err)
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

	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	var current int64
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	if latest := migrations[len(migrations)-1].Version; current > latest {
		return fmt.Errorf("sqlstore: %s schema is at version %d, newer than this binary's %d", d.Name, current, latest)
	}
	for _, m := range migrations {
		if m.Version <= current {
			continue
		}
		if err := applyMigration(ctx, conn, m); err != nil {
			return fmt.Errorf("sqlstore: migration %s: %w", m.Name, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, conn *sql.Conn, m Migration) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit

	var applied int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&applied); err != nil {
		return err
	}
	if applied > 0 {
		return nil // another process got here first
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.Version, m.Name, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}
