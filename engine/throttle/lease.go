package throttle

import (
	"context"
	"time"
)

// Take is Reserve for one unit of a budget that is checked on every request (the
// per-client-IP request limits), made cheap by leasing: the node reserves a chunk
// of units in the store at once — a twentieth of the budget, at most 16 — and hands
// them out from memory until they are used up or the window ends. The store still
// grants no more than the budget across every node, so the limit holds as before;
// what a node leased and did not use is lost to the client when the window ends,
// so a client spread over several nodes may be refused a few requests early.
func (l *Limiter) Take(ctx context.Context, k Key, limit Limit) (Decision, error) {
	ks := k.String()
	for {
		now := l.now()
		l.mu.Lock()
		le := l.leases[ks]
		if le != nil && !now.Before(le.end) && le.pending == nil {
			delete(l.leases, ks) // its window is over
			le = nil
		}
		switch {
		case le != nil && le.units > 0:
			le.units--
			d := Decision{Allowed: true, Limit: limit.Max, Remaining: le.remaining + le.units, Reset: le.end}
			l.mu.Unlock()
			return d, nil
		case le != nil && le.pending != nil:
			// Another request is reserving for this key: wait for its units rather
			// than reserve a chunk of our own, which a burst would multiply.
			wait := le.pending
			l.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return Decision{}, ctx.Err()
			}
		}
		if le == nil {
			if len(l.leases) >= maxLeases {
				l.sweep(now)
			}
			le = &lease{}
			l.leases[ks] = le
		}
		le.pending = make(chan struct{})
		l.mu.Unlock()
		return l.refill(ctx, ks, k, limit, le)
	}
}

// refill reserves a chunk of units for le in the store and hands one out.
func (l *Limiter) refill(ctx context.Context, ks string, k Key, limit Limit, le *lease) (Decision, error) {
	chunk := min(max(limit.Max/20, 1), 16)
	d, err := l.Reserve(ctx, Request{Key: k, Limit: limit, Units: chunk})
	if err == nil && !d.Allowed && chunk > 1 {
		chunk = 1 // the budget's last units: one at a time
		d, err = l.Reserve(ctx, Request{Key: k, Limit: limit})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	close(le.pending)
	le.pending = nil
	if err != nil || !d.Allowed {
		if le.units == 0 {
			delete(l.leases, ks)
		}
		return d, err
	}
	if !le.end.Equal(d.Reset) {
		le.units = 0 // a new window: what was left of the old one is gone
	}
	le.units += chunk - 1
	le.remaining, le.end = d.Remaining, d.Reset
	d.Remaining += le.units
	return d, nil
}

// lease is a node's unused share of one key's budget in one window.
type lease struct {
	units     int       // units reserved in the store and not yet handed out
	remaining int       // units left in the store's budget after this lease was taken
	end       time.Time // the window's end; the lease is worthless after it
	// pending is closed when a reservation in flight for this key ends.
	pending chan struct{}
}

// maxLeases bounds the lease table; one client IP per entry at most per group.
const maxLeases = 100_000

// sweep drops ended leases, and every lease if that frees nothing: dropping a lease
// only makes the node reserve again, never admits more than the budget.
func (l *Limiter) sweep(now time.Time) {
	for k, le := range l.leases {
		if !now.Before(le.end) && le.pending == nil {
			delete(l.leases, k)
		}
	}
	if len(l.leases) >= maxLeases {
		for k, le := range l.leases {
			if le.pending == nil {
				delete(l.leases, k)
			}
		}
	}
}
