package cli

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/keyseal"
)

const backupUsage = `gatehouse backup [--config FILE | --database DSN] --to FILE [--force]

Copies a SQLite database to FILE while engines keep serving it: the copy is one
consistent snapshot (SQLite's VACUUM INTO, on a connection of its own), written
under a temporary name beside FILE and renamed into place once complete, with mode
0600. An existing FILE is kept unless --force is given.

The key-encryption key that seals the signing keys and server secrets is needed to
use the copy. When it is the file next to the database (PATH.kek, the default for
SQLite), it is copied to FILE.kek (0600). When the configuration names
keys.encryption_key_file or keys.encryption_key_env, it is not copied: back that
key up separately, and keep it apart from the database copies if you can.

The command never changes the database or its schema.

PostgreSQL databases are backed up with pg_dump (docs/backup.md); with a
postgres:// database the command prints the pg_dump command to run and exits 1.
`

const restoreUsage = `gatehouse restore --from FILE --to PATH [--force]

Restores a copy made by gatehouse backup into the SQLite database PATH (or
sqlite:PATH): the copy is checked, written beside PATH under a temporary name and
renamed into place, and FILE.kek, if present, becomes PATH.kek.

Stop every engine and command using PATH first. An existing PATH is replaced only
with --force, and only when no process has it open; its -wal and -shm files are
removed (they belong to the database being replaced).

PostgreSQL databases are restored with pg_restore (docs/backup.md).
`

func (e env) backup(ctx context.Context, args []string) error {
	flags := e.newFlagSet("backup", backupUsage)
	flags.Usage = func() { fmt.Fprint(e.stderr, "Usage: "+backupUsage+"\nFlags:\n"); flags.PrintDefaults() }
	configPath := flags.String("config", "", "configuration file; its database and keys section are used")
	database := flags.String("database", "", "database instead of --config: sqlite:PATH")
	to := flags.String("to", "", "the backup file to write")
	force := flags.Bool("force", false, "replace FILE (and FILE.kek) if they exist")
	if err := parse(flags, args); err != nil {
		return err
	}
	if flags.NArg() != 0 || *to == "" || (*configPath == "") == (*database == "") {
		flags.Usage()
		return errUsage
	}
	dsn := *database
	var keys config.Keys
	if *configPath != "" {
		cfg, err := config.LoadFor(*configPath, config.ForAdmin)
		if err != nil {
			return err
		}
		dsn, keys = cfg.Database, cfg.Keys
	}
	driver, src, err := config.ParseDatabase(dsn)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if driver == "postgres" {
		fmt.Fprintf(e.stderr, "gatehouse backup copies SQLite databases. Back up PostgreSQL with pg_dump, for instance:\n\n  %s\n\n"+
			"and keep the key-encryption key (keys.encryption_key_file or keys.encryption_key_env) with it.\n"+
			"docs/backup.md has the restore and point-in-time recovery.\n", pgDumpCommand(src, *to))
		return errors.New("backup: not done; PostgreSQL is backed up with pg_dump")
	}
	dst, err := filepath.Abs(*to)
	if err != nil {
		return err
	}
	srcAbs, err := filepath.Abs(src)
	if err != nil {
		return err
	}
	if dst == srcAbs {
		return errors.New("backup: --to names the database itself")
	}
	// Opening a missing file would create an empty database.
	if info, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: %w", err)
	} else if !info.Mode().IsRegular() {
		return fmt.Errorf("backup: %s is not a file", src)
	}
	if !*force {
		for _, name := range []string{dst, dst + ".kek"} {
			if _, err := os.Lstat(name); err == nil {
				return fmt.Errorf("backup: %s exists; choose another name or add --force to replace it", name)
			}
		}
	}

	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	version, err := snapshotInto(ctx, src, dst, *force)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	info, err := os.Stat(dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backed up %s to %s (%d bytes, schema version %d)\n", src, dst, info.Size(), version)

	// The key-encryption key.
	switch {
	case keys.EncryptionKeyFile != "":
		fmt.Fprintf(e.stdout, "the key-encryption key is keys.encryption_key_file %s; it was not copied: back it up separately\n", keys.EncryptionKeyFile)
	case keys.EncryptionKeyEnv != "":
		fmt.Fprintf(e.stdout, "the key-encryption key is in the environment variable %s (keys.encryption_key_env); it was not copied: back it up separately\n", keys.EncryptionKeyEnv)
	default:
		kek := keyseal.DefaultKEKPath(src)
		text, err := os.ReadFile(kek)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fmt.Fprintf(e.stdout, "warning: there is no key-encryption key file %s; if the engine reads its key from keys.encryption_key_file or keys.encryption_key_env, back that key up separately: without it the signing keys and secrets in the backup cannot be opened\n", kek)
			return nil
		case err != nil:
			return fmt.Errorf("backup: the database was copied, the key-encryption key was not: %w", err)
		}
		if _, err := keyseal.ParseKEK(text); err != nil {
			return fmt.Errorf("backup: the database was copied, the key-encryption key %s was not: %w", kek, err)
		}
		if err := writeFileAtomic(dst+".kek", text, *force); err != nil {
			return fmt.Errorf("backup: the database was copied, the key-encryption key was not: %w", err)
		}
		fmt.Fprintf(e.stdout, "copied the key-encryption key %s to %s.kek; whoever holds both files holds the signing keys: store the .kek apart if you can\n", kek, dst)
	}
	return nil
}

func (e env) restore(ctx context.Context, args []string) error {
	flags := e.newFlagSet("restore", restoreUsage)
	flags.Usage = func() { fmt.Fprint(e.stderr, "Usage: "+restoreUsage+"\nFlags:\n"); flags.PrintDefaults() }
	from := flags.String("from", "", "a backup made by gatehouse backup")
	to := flags.String("to", "", "the database to restore: PATH or sqlite:PATH")
	force := flags.Bool("force", false, "replace an existing database at PATH (no process may have it open)")
	if err := parse(flags, args); err != nil {
		return err
	}
	if flags.NArg() != 0 || *from == "" || *to == "" {
		flags.Usage()
		return errUsage
	}
	driver, target, err := config.ParseDatabase(*to)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	if driver == "postgres" {
		fmt.Fprint(e.stderr, "gatehouse restore restores SQLite databases. Restore a PostgreSQL dump with pg_restore;\ndocs/backup.md has the steps.\n")
		return errors.New("restore: not done; PostgreSQL is restored with pg_restore")
	}
	src, err := filepath.Abs(*from)
	if err != nil {
		return err
	}
	dst, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	if src == dst {
		return errors.New("restore: --from and --to are the same file")
	}
	if info, err := os.Stat(src); err != nil {
		return fmt.Errorf("restore: %w", err)
	} else if !info.Mode().IsRegular() {
		return fmt.Errorf("restore: %s is not a file", src)
	}
	kek, err := os.ReadFile(src + ".kek")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		kek = nil
	case err != nil:
		return fmt.Errorf("restore: %w", err)
	default:
		if _, err := keyseal.ParseKEK(kek); err != nil {
			return fmt.Errorf("restore: %s.kek: %w", src, err)
		}
	}

	if _, err := os.Lstat(dst); err == nil {
		if !*force {
			return fmt.Errorf("restore: %s exists; stop every engine using it and add --force to replace it", dst)
		}
		if err := checkUnused(ctx, dst); err != nil {
			return fmt.Errorf("restore: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("restore: %w", err)
	} else if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if kek != nil && !*force {
		if old, err := os.ReadFile(dst + ".kek"); err == nil && !bytes.Equal(bytes.TrimSpace(old), bytes.TrimSpace(kek)) {
			return fmt.Errorf("restore: %s.kek exists and holds another key; add --force to replace it", dst)
		}
	}
	// The -wal and -shm files beside PATH belong to the database being replaced (a
	// stopped engine leaves them after a crash); SQLite would apply that old
	// write-ahead log to the restored file.
	for _, name := range []string{dst + "-wal", dst + "-shm"} {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("restore: %w", err)
		}
	}
	version, err := snapshotInto(ctx, src, dst, true)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(e.stdout, "restored %s to %s (schema version %d)\n", src, dst, version)
	if kek == nil {
		fmt.Fprintf(e.stdout, "there is no %s.kek: start the engine with the key-encryption key the backup was made under (keys.encryption_key_file or keys.encryption_key_env, or the file %s.kek)\n", src, dst)
		return nil
	}
	if err := writeFileAtomic(dst+".kek", kek, true); err != nil {
		return fmt.Errorf("restore: the database was restored, the key-encryption key was not: %w", err)
	}
	fmt.Fprintf(e.stdout, "restored the key-encryption key to %s.kek\n", dst)
	return nil
}

// sqliteDSN is a connection to path that waits up to ten seconds for a lock held
// elsewhere (an engine's writer committing) and never creates the file.
func sqliteDSN(path string, pragmas ...string) string {
	v := url.Values{"_pragma": append([]string{"busy_timeout(10000)"}, pragmas...)}
	return path + "?" + v.Encode()
}

// snapshotInto copies the SQLite database src, as one consistent snapshot, to dst:
// VACUUM INTO a new file beside dst (mode 0600), checked, synced and then renamed
// to dst, or linked when replace is false so that a file created at dst meanwhile
// is not lost. It returns the copy's schema version.
func snapshotInto(ctx context.Context, src, dst string, replace bool) (int, error) {
	if strings.Contains(src, "?") || strings.Contains(dst, "?") {
		return 0, errors.New("file names with '?' are not supported")
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return 0, err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	// VACUUM INTO accepts an empty file and keeps its mode.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}

	db, err := sql.Open("sqlite", sqliteDSN(src))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables); err != nil {
		return 0, fmt.Errorf("%s: %w", src, err)
	}
	if tables == 0 {
		return 0, fmt.Errorf("%s is not a Gatehouse database (no schema_migrations table)", src)
	}
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmpName); err != nil {
		return 0, fmt.Errorf("copying %s: %w", src, err)
	}
	if err := db.Close(); err != nil {
		return 0, err
	}

	version, err := checkCopy(ctx, tmpName)
	if err != nil {
		return 0, err
	}
	if err := syncFile(tmpName); err != nil {
		return 0, err
	}
	if replace {
		err = os.Rename(tmpName, dst)
	} else {
		err = os.Link(tmpName, dst)
	}
	if err != nil {
		return 0, err
	}
	return version, syncDir(filepath.Dir(dst))
}

// checkCopy runs SQLite's quick_check on the copy at path and returns its schema
// version.
func checkCopy(ctx context.Context, path string) (int, error) {
	db, err := sql.Open("sqlite", sqliteDSN(path, "query_only(1)"))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var result string
	if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&result); err != nil {
		return 0, fmt.Errorf("checking the copy: %w", err)
	}
	if result != "ok" {
		return 0, fmt.Errorf("the copy fails SQLite's check: %s", result)
	}
	var version int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return 0, fmt.Errorf("checking the copy: %w", err)
	}
	return version, db.Close()
}

// checkUnused fails when any connection, in this process or another, has the
// SQLite database at path open: it tries to take the database's lock for itself,
// without waiting. An engine keeps its connections open while it runs.
func checkUnused(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", path+"?"+url.Values{"_pragma": {"busy_timeout(0)", "locking_mode(EXCLUSIVE)"}}.Encode())
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN EXCLUSIVE`); err != nil {
		if e := (*sqlite.Error)(nil); errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY {
			return fmt.Errorf("%s is in use: stop the engine (and any gatehouse command or sqlite3 shell using it) first", path)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	_, err = conn.ExecContext(ctx, `COMMIT`)
	return err
}

// writeFileAtomic writes data to path with mode 0600 through a temporary file
// beside it; an existing path is replaced only when replace is set.
func writeFileAtomic(path string, data []byte, replace bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if replace {
		err = os.Rename(tmp.Name(), path)
	} else {
		err = os.Link(tmp.Name(), path)
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a rename in dir durable. Some file systems cannot sync a
// directory; that is not worth failing the backup for.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	_ = d.Sync()
	return d.Close()
}

// pgDumpCommand is the pg_dump command for a gatehouse DSN: the schema of its
// search_path, custom format, and the connection without gatehouse's pool
// parameters (which libpq does not know) and without a password (pg_dump takes it
// from PGPASSWORD or ~/.pgpass).
func pgDumpCommand(dsn, file string) string {
	if file == "" {
		file = "gatehouse.dump"
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "pg_dump --format=custom --file=" + shellQuote(file) + " 'postgres://…'"
	}
	schema := ""
	q := u.Query()
	for k := range q {
		switch {
		case k == "search_path":
			schema = strings.TrimSpace(strings.Split(q.Get(k), ",")[0])
			q.Del(k)
		case strings.HasPrefix(k, "pool_"):
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	cmd := "pg_dump --format=custom --file=" + shellQuote(file)
	if schema != "" {
		cmd += " --schema=" + shellQuote(schema)
	}
	return cmd + " " + shellQuote(u.String())
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
