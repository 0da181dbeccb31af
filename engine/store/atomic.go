package store

import (
	"context"
	"sync"
)

// Atomic groups store calls into one database transaction.
//
// A request that changes several records (the transaction's step, a throttle, a
// challenge and its message, the system log's events) makes them one change:
// written together or not at all, with one commit instead of one per record. On
// PostgreSQL a commit waits for the write-ahead log to reach the disk, so the
// number of commits, more than the number of statements, is what a sign-in costs
// the database.
type Atomic interface {
	// Atomically runs fn with a context in which every call of this store runs in
	// one database write transaction: writes, and reads too, which therefore see
	// what fn's earlier calls wrote. The transaction commits when fn returns nil and
	// rolls back when fn returns an error, which Atomically returns unchanged
	// (errors.Is works on it). Called in a context already inside Atomically, it
	// joins that transaction.
	//
	// Each call inside fn is atomic on its own as well: one that fails (an Update*
	// whose function refused, a Create* of a duplicate, a ReserveThrottles that did
	// not fit) leaves nothing of itself, and fn may go on and commit the rest.
	//
	// fn should only call the store and compute: the transaction holds row locks,
	// and on SQLite the database's only write lock, until fn returns. Work a
	// change must wait for — waking a worker for a message just queued — goes
	// through AfterCommit.
	Atomically(ctx context.Context, fn func(ctx context.Context) error) error
}

// scope is the AfterCommit list of one Atomically section.
type scope struct {
	mu    sync.Mutex
	hooks []func()
}

type scopeKey struct{}

// BeginScope is for stores: it returns ctx marked as inside a transaction that
// has not committed yet, and end, to call once it has ended: end(true) after the
// commit runs the functions AfterCommit deferred, in order; end(false) drops them.
func BeginScope(ctx context.Context) (_ context.Context, end func(committed bool)) {
	sc := &scope{}
	return context.WithValue(ctx, scopeKey{}, sc), func(committed bool) {
		sc.mu.Lock()
		hooks := sc.hooks
		sc.hooks = nil
		sc.mu.Unlock()
		if committed {
			for _, h := range hooks {
				h()
			}
		}
	}
}

// AfterCommit runs f once what ctx's calls wrote is committed: at once outside an
// Atomically section, after its commit inside one (and never if it rolls back).
func AfterCommit(ctx context.Context, f func()) {
	sc, _ := ctx.Value(scopeKey{}).(*scope)
	if sc == nil {
		f()
		return
	}
	sc.mu.Lock()
	sc.hooks = append(sc.hooks, f)
	sc.mu.Unlock()
}
