// Package opcount counts the work a store hands its database — reads, writes and
// SQL statements — in total and per request, so that what a request costs the
// database can be measured (gatehouse bench prints it as store_ops_per_signin).
//
// A store keeps a Counter and tells it of every operation with the operation's
// context. A caller that wants the operations of some piece of work counted apart
// puts a Tally in its context (With); the Counter adds to it as well as to its
// total. Counting is two atomic additions and a context lookup per operation.
package opcount

import (
	"context"
	"sync/atomic"
)

// Counts are store operations.
type Counts struct {
	// Reads are statements that read, run on their own (not inside a write
	// transaction): one round trip to the database each.
	Reads int64 `json:"reads"`
	// Writes are write transactions, and statements that write run on their own:
	// one commit each.
	Writes int64 `json:"writes"`
	// Statements are every SQL statement sent: the reads, the writes run on their
	// own, and each statement inside a write transaction (BEGIN and COMMIT not
	// counted). On a database over the network, each is a round trip.
	Statements int64 `json:"statements"`
}

// Add is c + o.
func (c Counts) Add(o Counts) Counts {
	return Counts{Reads: c.Reads + o.Reads, Writes: c.Writes + o.Writes, Statements: c.Statements + o.Statements}
}

// Sub is c − o.
func (c Counts) Sub(o Counts) Counts {
	return Counts{Reads: c.Reads - o.Reads, Writes: c.Writes - o.Writes, Statements: c.Statements - o.Statements}
}

// Tally accumulates Counts; it is safe for concurrent use, and its zero value is
// ready.
type Tally struct {
	reads, writes, statements atomic.Int64
}

// Counts returns what t has counted so far; zero for a nil t.
func (t *Tally) Counts() Counts {
	if t == nil {
		return Counts{}
	}
	return Counts{Reads: t.reads.Load(), Writes: t.writes.Load(), Statements: t.statements.Load()}
}

type ctxKey struct{}

// With returns a context whose store operations are counted in t too. An inner
// With replaces an outer one: each operation is counted in one tally.
func With(ctx context.Context, t *Tally) context.Context {
	return context.WithValue(ctx, ctxKey{}, t)
}

// From returns the tally With put in ctx, or nil.
func From(ctx context.Context) *Tally {
	t, _ := ctx.Value(ctxKey{}).(*Tally)
	return t
}

// Counter is a store's count of every operation it ran, whatever the context;
// the zero value is ready. Operations whose context carries a Tally are counted
// there as well.
type Counter struct {
	total Tally
}

// Read counts a statement that reads, run on its own.
func (c *Counter) Read(ctx context.Context) { c.add(ctx, 1, 0, 1) }

// Write counts a statement that writes, run on its own.
func (c *Counter) Write(ctx context.Context) { c.add(ctx, 0, 1, 1) }

// Transaction counts a write transaction begun; its statements count with
// Statement.
func (c *Counter) Transaction(ctx context.Context) { c.add(ctx, 0, 1, 0) }

// Statement counts a statement inside a write transaction.
func (c *Counter) Statement(ctx context.Context) { c.add(ctx, 0, 0, 1) }

// Counts returns what c has counted so far.
func (c *Counter) Counts() Counts { return c.total.Counts() }

func (c *Counter) add(ctx context.Context, reads, writes, statements int64) {
	for _, t := range [2]*Tally{&c.total, From(ctx)} {
		if t == nil {
			continue
		}
		if reads != 0 {
			t.reads.Add(reads)
		}
		if writes != 0 {
			t.writes.Add(writes)
		}
		if statements != 0 {
			t.statements.Add(statements)
		}
	}
}
