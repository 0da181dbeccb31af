// Package postgres is the PostgreSQL backend of the store, for deployments with more
// than one engine node. It goes through database/sql with pgx's stdlib driver, so that
// it shares every query with the SQLite backend (engine/store/sqlstore).
//
// Statements are prepared once per connection, by pgx: pgx.ParseConfig sets the
// default query mode to "cache_statement", so the first time a connection runs a
// query pgx prepares it (Parse and Describe) and keeps the prepared statement in
// that connection's cache (512 statements, least recently used out); every later
// run, in a transaction or not, is only Bind and Execute, with the parameters sent
// in binary. That is why sqlstore's own statement cache (Dialect.PrepareStatements)
// is off here: it would prepare every statement a second time through
// database/sql. The DSN can change pgx's choice with default_query_exec_mode and
// statement_cache_capacity — "exec" or "simple_protocol" behind a pooler that
// cannot keep prepared statements, such as PgBouncer in transaction mode.
//
// Concurrency is PostgreSQL's: transactions run at READ COMMITTED, Update* lock the
// row they change with SELECT … FOR UPDATE, and ClaimMessages skips rows other
// claimers hold (FOR UPDATE SKIP LOCKED).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the PostgreSQL store. All of store.Store is promoted from sqlstore.Store.
type Store struct {
	*sqlstore.Store
}

// Connection pool settings, read from the DSN like pgxpool's parameters of the same
// names (and removed from it: the server would reject them as unknown settings).
const (
	paramMaxConns        = "pool_max_conns"         // integer; default defaultMaxConns()
	paramMaxConnLifetime = "pool_max_conn_lifetime" // Go duration; default 1h
	paramMaxConnIdleTime = "pool_max_conn_idle_time"
)

const (
	defaultMaxConnLifetime = time.Hour
	defaultMaxConnIdleTime = 5 * time.Minute
)

// defaultMaxConns is the pool's size unless pool_max_conns says otherwise: four
// connections per core the engine may use (GOMAXPROCS), at least four. A request
// holds a connection for each round trip to the server and for each commit's WAL
// flush, and uses no CPU meanwhile; by Little's law a node whose cores are all busy
// keeps throughput × hold time connections busy, which is cores × (connection time
// ÷ engine CPU time per sign-in). With the real password hash, the measured
// figures put that ratio at 0.7 on a local network and 1.9 in a data centre
// (docs/performance.md, "Scale on paper"); four per core leaves room for a slower
// network or disk, or a cheaper hash, before requests queue for a connection. Connections idle for pool_max_conn_idle_time are closed, so a quiet
// node keeps few. Nodes × this stays under the server's max_connections (100 by
// default) only for a few small nodes: set pool_max_conns for more.
func defaultMaxConns() int { return max(4, 4*runtime.GOMAXPROCS(0)) }

// Options are how OpenWith opens a database.
type Options struct {
	// Schema says whether opening migrates the schema, requires it to be recent
	// enough, or leaves it alone. The zero value migrates, as Open does.
	Schema store.SchemaMode
}

// Open connects to the database at dsn — a postgres:// URL or a "key=value …"
// string, as libpq takes — and brings its schema up to date. Besides libpq's
// parameters the DSN may set pool_max_conns, pool_max_conn_lifetime and
// pool_max_conn_idle_time. Tables live in the connection's current schema (the first
// of search_path that exists), so search_path=… in the DSN selects one.
func Open(ctx context.Context, dsn string) (*Store, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with options: with store.SchemaRequire or SchemaInspect it
// changes nothing in the database.
func OpenWith(ctx context.Context, dsn string, o Options) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool, err := takePoolParams(cfg.RuntimeParams)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(pool.maxConns)
	db.SetMaxIdleConns(pool.maxConns)
	db.SetConnMaxLifetime(pool.maxConnLifetime)
	db.SetConnMaxIdleTime(pool.maxConnIdleTime)

	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("postgres: %w", err), db.Close())
	}
	migrations, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	s, err := sqlstore.New(ctx, sqlstore.Config{Writer: db, Dialect: dialect, Migrations: migrations, Schema: o.Schema})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("postgres: %w", err), db.Close())
	}
	return &Store{s}, nil
}

type poolParams struct {
	maxConns                         int
	maxConnLifetime, maxConnIdleTime time.Duration
}

// takePoolParams reads the pool settings out of the DSN's parameters and deletes them.
func takePoolParams(params map[string]string) (poolParams, error) {
	p := poolParams{maxConns: defaultMaxConns(), maxConnLifetime: defaultMaxConnLifetime, maxConnIdleTime: defaultMaxConnIdleTime}
	if v, ok := params[paramMaxConns]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return p, fmt.Errorf("%s=%q: want a positive integer", paramMaxConns, v)
		}
		p.maxConns = n
	}
	for name, d := range map[string]*time.Duration{paramMaxConnLifetime: &p.maxConnLifetime, paramMaxConnIdleTime: &p.maxConnIdleTime} {
		if v, ok := params[name]; ok {
			parsed, err := time.ParseDuration(v)
			if err != nil || parsed < 0 {
				return p, fmt.Errorf("%s=%q: want a duration such as 30m", name, v)
			}
			*d = parsed
		}
	}
	delete(params, paramMaxConns)
	delete(params, paramMaxConnLifetime)
	delete(params, paramMaxConnIdleTime)
	return p, nil
}

// dialect describes PostgreSQL to sqlstore.
var dialect = sqlstore.Dialect{
	Name:               "postgres",
	LockRow:            " FOR UPDATE",
	LockRowsSkipLocked: " FOR UPDATE SKIP LOCKED",
	// A session-level advisory lock, held by the migrating connection until it is
	// released (or the connection ends). Keyed by schema, so that stores in different
	// schemas of one database migrate independently.
	LockMigrations:   `SELECT pg_advisory_lock(hashtext('gatehouse schema_migrations ' || COALESCE(current_schema(), '')))`,
	UnlockMigrations: `SELECT pg_advisory_unlock(hashtext('gatehouse schema_migrations ' || COALESCE(current_schema(), '')))`,
	TableExists:      `SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = $1`,
	// Under the "C" collation ILIKE folds ASCII letters only, as SQLite's LIKE,
	// whatever the database's locale.
	ASCIIFoldLike:         ` COLLATE "C" ILIKE`,
	JSONArray:             "json_build_array",
	JSONArrayAgg:          "COALESCE(json_agg(%s), '[]')::text",
	JSONField:             "(%s::json ->> '%s')",
	IsUniqueViolation:     hasSQLState("23505"), // unique_violation
	IsForeignKeyViolation: hasSQLState("23503"), // foreign_key_violation
}

// hasSQLState recognises PostgreSQL errors with the given SQLSTATE.
func hasSQLState(code string) func(error) bool {
	return func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == code
	}
}
