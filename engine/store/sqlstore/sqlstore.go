// Package sqlstore implements store.Store over database/sql. The SQLite and PostgreSQL
// backends (engine/store/sqlite, engine/store/postgres) open their database, describe
// its few differences in a Dialect and hand both to New; every query is written once,
// here, in SQL both databases accept ($1-style parameters, ON CONFLICT, RETURNING).
//
// Representation, chosen to be portable:
//   - times are BIGINT unix milliseconds in UTC; the zero time.Time is NULL;
//   - string lists (scopes, amr) are JSON arrays in a TEXT column; an empty or nil list
//     is stored as [] and read back as nil;
//   - empty byte slices are read back as nil;
//   - a transaction keeps its searchable fields in columns and the rest in one JSON
//     column (see transactions.go).
//
// Functions passed to Update* run while the store holds a database transaction (for
// SQLite, the only writer connection). They must be quick and must not call the store.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"

	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/opcount"
)

// Dialect is what differs between the SQL databases the store runs on.
type Dialect struct {
	// Name names the database in error messages ("sqlite", "postgres").
	Name string
	// LockRow is appended to a SELECT of a row the transaction is about to update, to
	// lock it until commit (" FOR UPDATE"). Empty where the whole transaction already
	// holds the database's single write lock (SQLite's BEGIN IMMEDIATE).
	LockRow string
	// LockRowsSkipLocked is appended to a SELECT that picks rows to claim, so that
	// concurrent claimers pass over each other's rows instead of queueing behind them
	// (" FOR UPDATE SKIP LOCKED"). Empty where writers are serialised anyway.
	LockRowsSkipLocked string
	// LockMigrations and UnlockMigrations, when set, run on the connection that
	// migrates, around the whole migration, so that two processes starting at once do
	// not both apply a migration. Without them each migration's transaction must
	// itself be exclusive (SQLite's BEGIN IMMEDIATE is).
	LockMigrations, UnlockMigrations string
	// Placeholder, when set, writes the n-th (1-based) parameter of the multi-row
	// INSERTs of bulk imports; by default "$n". SQLite's driver looks every named
	// parameter ($n is one) up by name, in time linear in the statement's parameter
	// count, so a statement of hundreds of $n costs quadratic time to bind; plain "?"
	// skips the lookup.
	Placeholder func(n int) string
	// PrepareStatements makes the store prepare each statement it runs on a pool
	// once and reuse it (see stmtCache), for drivers that do not do so themselves.
	PrepareStatements bool
	// TableExists counts the tables named $1 where the store keeps its own (SQLite's
	// main database, PostgreSQL's current schema): 0 or 1.
	TableExists string
	// ASCIIFoldLike follows a text column to match it against a LIKE pattern ($n
	// ESCAPE '\') with ASCII letters compared whatever their case and every other
	// character exactly, as SQLite's LIKE does (` COLLATE "C" ILIKE` in
	// PostgreSQL). Empty means " LIKE".
	ASCIIFoldLike string
	// JSONArray builds a JSON array of its arguments, and JSONArrayAgg (a format
	// with one %s for such an array) aggregates the rows of a subquery into one
	// JSON array, "[]" for none, as text. JSONField (a format with %s for a text
	// column holding a JSON object and %s for a key) extracts one member as text.
	// With them a step's reads of several tables come back in one statement.
	JSONArray, JSONArrayAgg, JSONField string
	// StatementsFailAlone: a statement that fails undoes what it did and leaves
	// its transaction usable (SQLite). Inside an Atomically section a write of
	// one statement then needs no savepoint of its own. PostgreSQL aborts the
	// whole transaction instead.
	StatementsFailAlone bool
	// IsUniqueViolation and IsForeignKeyViolation recognise the driver's errors for a
	// violated UNIQUE/PRIMARY KEY and FOREIGN KEY constraint.
	IsUniqueViolation     func(error) bool
	IsForeignKeyViolation func(error) bool
}

// Config is what a backend hands New.
type Config struct {
	// Writer runs every statement that writes, and every read-modify-write.
	Writer *sql.DB
	// Reader runs plain reads. Nil means Writer. SQLite uses a separate pool of
	// read-only connections so that reads never wait for the single writer.
	Reader  *sql.DB
	Dialect Dialect
	// Migrations holds the schema as files named NNNN_description.sql; see Migrate.
	Migrations fs.FS
	// Schema says whether New migrates the database, checks it is recent enough, or
	// neither (store.SchemaMode).
	Schema store.SchemaMode
}

// Store is store.Store over a database/sql database.
type Store struct {
	writer, reader *sql.DB
	// writes and reads run single statements on the writer and reader pools.
	writes, reads *stmtCache
	d             Dialect
	migrations    []Migration
	// schemaVersion is the newest migration this binary carries; Ping checks the
	// database is at least at this version.
	schemaVersion int64
	// ops counts what the store sends the database (StoreOps). Every statement
	// runs through inTx's wtx or a stmtCache, which count it.
	ops opcount.Counter
	// q are the one-statement reads of a sign-in (signin.go).
	q accountQueries
}

var _ store.Store = (*Store)(nil)

// New returns a store over the database, first bringing its schema up to date (see
// Migrate) or checking that it is, as cfg.Schema says. The store owns the database
// handles from then on: Close closes them. If New fails, the caller still owns them.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Writer == nil || cfg.Dialect.IsUniqueViolation == nil || cfg.Dialect.IsForeignKeyViolation == nil || cfg.Dialect.TableExists == "" ||
		cfg.Dialect.JSONArray == "" || cfg.Dialect.JSONArrayAgg == "" || cfg.Dialect.JSONField == "" {
		return nil, errors.New("sqlstore: Config needs Writer, Dialect.TableExists, Dialect.JSON* and Dialect.Is*Violation")
	}
	migrations, err := LoadMigrations(cfg.Migrations)
	if err == nil {
		migrations, err = withExtraMigrations(migrations)
	}
	if err != nil {
		return nil, err
	}
	switch cfg.Schema {
	case store.SchemaMigrate:
		if _, err := Migrate(ctx, cfg.Writer, cfg.Dialect, migrations); err != nil {
			return nil, err
		}
	case store.SchemaRequire:
		if err := checkSchema(ctx, cfg.Writer, cfg.Dialect, migrations); err != nil {
			return nil, err
		}
	case store.SchemaInspect:
	default:
		return nil, fmt.Errorf("sqlstore: unknown schema mode %d", cfg.Schema)
	}
	s := &Store{writer: cfg.Writer, reader: cfg.Reader, d: cfg.Dialect, migrations: migrations}
	s.q = s.accountQueries()
	if s.reader == nil {
		s.reader = s.writer
	}
	s.writes = newStmtCache(s.writer, s.d.PrepareStatements, &s.ops)
	s.writes.withRecords = s.execWithRecords
	s.writes.txOf = s.txFrom
	s.reads = s.writes
	if s.reader != s.writer {
		s.reads = newStmtCache(s.reader, s.d.PrepareStatements, &s.ops)
		s.reads.txOf = s.txFrom
	}
	if len(migrations) > 0 {
		s.schemaVersion = migrations[len(migrations)-1].Version
	}
	return s, nil
}

// Ping checks that the database answers and that its schema is at least at the
// version this binary needs. A newer schema is fine: migrations only add (see
// Migrate), so an old node keeps serving while a newer release rolls in.
func (s *Store) Ping(ctx context.Context) error {
	var version int64
	err := s.reads.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&version)
	if err != nil {
		return fmt.Errorf("sqlstore: ping %s: %w", s.d.Name, err)
	}
	if version < s.schemaVersion {
		return fmt.Errorf("sqlstore: %s schema is at version %d, older than the %d this binary needs: %w", s.d.Name, version, s.schemaVersion, store.ErrSchemaBehind)
	}
	return nil
}

// StoreOps is what the store has sent the database since it opened: reads,
// write transactions and statements (opcount.Counts). Operations whose context
// carries an opcount.Tally are counted there too.
func (s *Store) StoreOps() opcount.Counts { return s.ops.Counts() }

// SchemaStatus reports the database's schema against this binary's migrations.
func (s *Store) SchemaStatus(ctx context.Context) (store.SchemaStatus, error) {
	return Status(ctx, s.writer, s.d, s.migrations)
}

// Migrate applies this binary's migrations the database lacks (see the function
// Migrate).
func (s *Store) Migrate(ctx context.Context) ([]store.Migration, error) {
	return Migrate(ctx, s.writer, s.d, s.migrations)
}

// Close closes the database handles.
func (s *Store) Close() error {
	errs := []error{s.writes.close()}
	if s.reader != s.writer {
		errs = append(errs, s.reads.close(), s.reader.Close())
	}
	return errors.Join(append(errs, s.writer.Close())...)
}

// callerError marks an error returned by a caller's Update* function, so that inTx
// hands it back unchanged instead of translating it as a database error.
type callerError struct{ err error }

func (e callerError) Error() string { return e.err.Error() }

// inTx runs body in a write transaction and commits if body returns nil. Database
// errors are translated to the store's sentinels; errors from callers' functions
// (wrapped in callerError by body) come back exactly as the caller returned them.
//
// The transaction takes the records (system log events and their hook messages)
// the context carries (store.TakeRecords) and writes them after body, so that
// they commit with the change or not at all (events.go).
//
// Inside an Atomically section it runs body in the section's transaction instead,
// between a savepoint and its release (see nestedTx).
func (s *Store) inTx(ctx context.Context, body func(tx *wtx) error) error {
	return s.inTxOpt(ctx, true, body)
}

// inTxOpt is inTx; inside an Atomically section, savepoint false runs body
// without a savepoint, for a body that writes nothing before it can fail
// except by a failing statement (see nestedTx).
func (s *Store) inTxOpt(ctx context.Context, savepoint bool, body func(tx *wtx) error) error {
	if tx := s.txFrom(ctx); tx != nil {
		return s.nestedTx(ctx, tx, savepoint, body)
	}
	s.ops.Transaction(ctx)
	records := store.TakeRecords(ctx)
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return s.dbError(err)
	}
	tx := &wtx{Tx: sqlTx, stmts: s.writes, ops: &s.ops}
	defer tx.prepareMissed(ctx)
	err = body(tx)
	if err == nil {
		err = s.writeRecords(ctx, tx, records)
	}
	if err != nil {
		_ = tx.Rollback() // the error that made us roll back is the one worth reporting
		if ce, ok := errors.AsType[callerError](err); ok {
			return ce.err
		}
		return s.dbError(err)
	}
	if err := tx.Commit(); err != nil {
		return s.dbError(err)
	}
	if records.OnCommit != nil {
		records.OnCommit()
	}
	return nil
}

// txKey marks a context inside one store's Atomically section; its value is the
// section's *wtx.
type txKey struct{ s *Store }

// txFrom returns the transaction of the Atomically section ctx is in, or nil.
func (s *Store) txFrom(ctx context.Context) *wtx {
	tx, _ := ctx.Value(txKey{s}).(*wtx)
	return tx
}

// Atomically runs fn's store calls in one write transaction (store.Atomic). Each
// call that would begin a transaction of its own runs under a savepoint instead
// (nestedTx), so that one failing call undoes only itself; plain reads run on the
// transaction's connection, so they see what it wrote.
func (s *Store) Atomically(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.txFrom(ctx) != nil {
		return fn(ctx)
	}
	var end func(committed bool)
	err := s.inTx(ctx, func(tx *wtx) error {
		inner, e := store.BeginScope(context.WithValue(ctx, txKey{s}, tx))
		end = e
		if err := fn(inner); err != nil {
			return callerError{err}
		}
		if tx.failed != nil {
			// A call without a savepoint failed in the database: what it did is
			// not undone (PostgreSQL has aborted the transaction), so nothing of
			// the section may commit, whether fn went on or not.
			return fmt.Errorf("sqlstore: a call in the transaction failed: %w", tx.failed)
		}
		return nil
	})
	if end != nil {
		end(err == nil)
	}
	return err
}

// nestedTx runs body inside the Atomically section's transaction tx. With
// savepoint, between SAVEPOINT and RELEASE: if body fails, ROLLBACK TO undoes
// what it wrote and nothing else — on PostgreSQL, where a failed statement aborts
// the whole transaction, that is also what lets the section go on after a
// duplicate key. Without (for bodies that write nothing before they can fail
// other than by a statement failing: readModifyWrite, whose record is found and
// whose caller's function agrees before its one write), a failed statement is not
// undone: it marks tx failed, and the section rolls back whatever fn does next —
// two statements spared on every update, on PostgreSQL two round trips. The
// records ctx carries are written with body; their OnCommit waits for the
// section's commit.
func (s *Store) nestedTx(ctx context.Context, tx *wtx, savepoint bool, body func(tx *wtx) error) error {
	records := store.TakeRecords(ctx)
	if savepoint {
		if err := tx.control(ctx, "SAVEPOINT gatehouse_call"); err != nil {
			return s.dbError(err)
		}
	}
	err := body(tx)
	if err == nil {
		err = s.writeRecords(ctx, tx, records)
	}
	if err != nil {
		ce, byCaller := errors.AsType[callerError](err)
		switch {
		case savepoint:
			if rbErr := tx.control(ctx, "ROLLBACK TO SAVEPOINT gatehouse_call"); rbErr != nil {
				return s.dbError(errors.Join(err, rbErr))
			}
			if relErr := tx.control(ctx, "RELEASE SAVEPOINT gatehouse_call"); relErr != nil {
				return s.dbError(errors.Join(err, relErr))
			}
		case byCaller, errors.Is(err, sql.ErrNoRows), errors.Is(err, store.ErrNotFound):
			// Nothing was written, nothing failed in the database.
		case tx.failed == nil:
			tx.failed = err
		}
		if byCaller {
			return ce.err
		}
		return s.dbError(err)
	}
	if savepoint {
		if err := tx.control(ctx, "RELEASE SAVEPOINT gatehouse_call"); err != nil {
			return s.dbError(err)
		}
	}
	if records.OnCommit != nil {
		store.AfterCommit(ctx, records.OnCommit)
	}
	return nil
}

// wtx is a write transaction whose statements run as prepared statements where the
// store's statement cache has one for their query (see stmtCache). A statement cannot
// be prepared on the pool during the transaction — on SQLite the transaction holds
// the only writer connection — so queries the cache lacks run unprepared once and
// are prepared when the transaction is over, for the next one. On SQLite that spares
// every read-modify-write the parsing of its two or three statements.
type wtx struct {
	*sql.Tx
	stmts  *stmtCache
	ops    *opcount.Counter
	missed []string
	// failed is the first error of a statement run without a savepoint inside an
	// Atomically section (nestedTx): the section must not commit.
	failed error
}

// stmt returns the transaction's copy of the cached statement for query, or nil.
func (t *wtx) stmt(ctx context.Context, query string) *sql.Stmt {
	if !t.stmts.enabled {
		return nil
	}
	if st := t.stmts.lookup(query); st != nil {
		return t.Tx.StmtContext(ctx, st)
	}
	t.missed = append(t.missed, query)
	return nil
}

func (t *wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	t.ops.Statement(ctx)
	if st := t.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, query, args...)
}

func (t *wtx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	t.ops.Statement(ctx)
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, query, args...)
}

func (t *wtx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	t.ops.Statement(ctx)
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, query, args...)
}

// control runs a statement that manages the transaction itself (a savepoint),
// prepared once like any other where the store prepares statements.
func (t *wtx) control(ctx context.Context, query string) error {
	_, err := t.ExecContext(ctx, query)
	return err
}

// prepareMissed prepares, on the pool, the queries the transaction ran unprepared.
// It runs once the transaction has ended and given its connection back.
func (t *wtx) prepareMissed(ctx context.Context) {
	for _, q := range t.missed {
		t.stmts.prepared(ctx, q)
	}
}

// dbError translates a database error to the store's sentinel errors, keeping the
// driver's error in the chain for logs.
func (s *Store) dbError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrAlreadyExists):
		return err
	case s.d.IsUniqueViolation(err):
		return fmt.Errorf("%w: %w", store.ErrAlreadyExists, err)
	case s.d.IsForeignKeyViolation(err):
		// The only foreign keys point at users: a password or phone for a user that
		// does not exist.
		return fmt.Errorf("%w: no such user: %w", store.ErrNotFound, err)
	}
	return fmt.Errorf("sqlstore: %s: %w", s.d.Name, err)
}

// keyChanged is the error for an Update* function that changed what identifies the
// record. Such a change would silently turn an update into a rename.
func keyChanged(record, field string) error {
	return fmt.Errorf("sqlstore: update may not change the %s's %s", record, field)
}

// readModifyWrite is what every Update* method does: in one write transaction, load
// the record with a write lock, let fn change it, and save the result. load should
// return sql.ErrNoRows (or store.ErrNotFound) when there is no record; fn is then not
// called. load must not write (see readModifyWriteSavepoint): inside an Atomically
// section the update takes no savepoint of its own (nestedTx).
func readModifyWrite[T any](ctx context.Context, s *Store,
	load func(tx *wtx) (T, error),
	fn func(T) (T, error),
	save func(tx *wtx, current, next T) (T, error),
) (T, error) {
	return readModifyWriteOpt(ctx, s, false, load, fn, save)
}

// readModifyWriteSavepoint is readModifyWrite for a load that writes
// (UpdateThrottle inserts the row it then locks): inside a section, a refusal by
// fn undoes that write too.
func readModifyWriteSavepoint[T any](ctx context.Context, s *Store,
	load func(tx *wtx) (T, error),
	fn func(T) (T, error),
	save func(tx *wtx, current, next T) (T, error),
) (T, error) {
	return readModifyWriteOpt(ctx, s, true, load, fn, save)
}

func readModifyWriteOpt[T any](ctx context.Context, s *Store, savepoint bool,
	load func(tx *wtx) (T, error),
	fn func(T) (T, error),
	save func(tx *wtx, current, next T) (T, error),
) (T, error) {
	var result T
	err := s.inTxOpt(ctx, savepoint, func(tx *wtx) error {
		current, err := load(tx)
		if err != nil {
			return err
		}
		next, err := fn(current)
		if err != nil {
			return callerError{err}
		}
		saved, err := save(tx, current, next)
		if err != nil {
			return err
		}
		result = saved
		return nil
	})
	return result, err
}

// execOne checks that a statement meant to change one row found it.
func execOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

// queryList runs a query on a pool and scans every row with scan.
func queryList[T any](ctx context.Context, s *Store, pool *stmtCache, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := pool.query(ctx, query, args...)
	if err != nil {
		return nil, s.dbError(err)
	}
	defer rows.Close()
	var list []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.dbError(err)
		}
		list = append(list, v)
	}
	return list, s.dbError(rows.Err())
}
