package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"

	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/opcount"
)

// stmtCache runs queries on a pool as prepared statements, preparing each query once.
// database/sql then prepares a statement on each connection the first time it runs
// there and keeps it, so a warm connection never parses the query again. That matters
// for SQLite, whose driver parses every statement anew (a third of a point lookup's
// time); pgx keeps prepared statements itself, so for PostgreSQL the cache is off.
//
// It prepares statements run on the pool directly, not inside a transaction:
// preparing takes a free connection, and during a transaction on SQLite's single
// writer there is none. Transactions use statements prepared before (see wtx).
type stmtCache struct {
	db      *sql.DB
	enabled bool
	// ops counts the statements run (see count).
	ops *opcount.Counter
	// withRecords, when set, runs a statement whose context carries system log
	// records (store.WithRecords) in a transaction that writes them too.
	withRecords func(ctx context.Context, query string, args ...any) (sql.Result, error)
	// txOf, when set, returns the transaction of the Atomically section the
	// context is in (nil outside one): statements then run there instead.
	txOf func(ctx context.Context) *wtx

	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB, enabled bool, ops *opcount.Counter) *stmtCache {
	return &stmtCache{db: db, enabled: enabled, ops: ops, stmts: map[string]*sql.Stmt{}}
}

// lookup returns the statement for query if it has been prepared, without preparing
// it: inside a transaction there is no free connection to prepare on.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.stmts[query]
}

// prepared returns the statement for query, preparing it on first use; nil if the
// cache is off or preparing failed (the caller then runs the query unprepared, which
// reports the error, if it persists, the usual way).
func (c *stmtCache) prepared(ctx context.Context, query string) *sql.Stmt {
	if !c.enabled {
		return nil
	}
	if st := c.lookup(query); st != nil {
		return st
	}
	// Prepare without holding the lock: preparing waits for a free connection, and
	// a transaction holding SQLite's only writer connection may need lookup before
	// it lets go of it.
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.stmts[query]; ok { // prepared meanwhile by another caller
		_ = st.Close()
		return prev
	}
	c.stmts[query] = st
	return st
}

// count counts a statement run on its own: a SELECT as a read, anything else —
// an INSERT, an UPDATE … RETURNING — as a write.
func (c *stmtCache) count(ctx context.Context, query string) {
	q := strings.TrimLeft(query, " \t\r\n")
	if len(q) >= 6 && strings.EqualFold(q[:6], "SELECT") {
		c.ops.Read(ctx)
	} else {
		c.ops.Write(ctx)
	}
}

// section returns the transaction of the Atomically section ctx is in, or nil.
func (c *stmtCache) section(ctx context.Context) *wtx {
	if c.txOf == nil {
		return nil
	}
	return c.txOf(ctx)
}

func (c *stmtCache) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if tx := c.section(ctx); tx != nil {
		return tx.QueryRowContext(ctx, query, args...)
	}
	c.count(ctx, query)
	if st := c.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, query, args...)
}

func (c *stmtCache) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if tx := c.section(ctx); tx != nil {
		return tx.QueryContext(ctx, query, args...)
	}
	c.count(ctx, query)
	if st := c.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, query, args...)
}

func (c *stmtCache) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	// Inside an Atomically section a write runs under a savepoint of its own, as
	// one that carries records does in a transaction of its own.
	if c.withRecords != nil && (store.HasRecords(ctx) || c.section(ctx) != nil) {
		return c.withRecords(ctx, query, args...)
	}
	c.count(ctx, query)
	if st := c.prepared(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.db.ExecContext(ctx, query, args...)
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for query, st := range c.stmts {
		errs = append(errs, st.Close())
		delete(c.stmts, query)
	}
	return errors.Join(errs...)
}
