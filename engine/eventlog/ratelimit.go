package eventlog

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// RateLimited records that the budget d refused (d.Refused) stopped a request, as
// a system.org.rate_limit.violation event named after limit (the configuration's
// name for it), once per window of that budget: the event is written with the
// throttle marking the window recorded, so a flood of refused requests costs one
// event, not one each. Failures are logged, not returned: a refusal stands whether
// or not it was recorded.
func RateLimited(ctx context.Context, lim *throttle.Limiter, d throttle.Decision, limit string) {
	if d.Allowed || d.Reset.IsZero() {
		return
	}
	rec := scopeOf(ctx).rec
	key := throttle.LimitLogged(d.Refused)
	if rec.loggedAlready(key.String(), d.Reset) {
		return // this node knows: no need to ask the database on every refusal
	}
	ev := Event{Type: TypeRateLimit, Result: store.OutcomeDeny, Reason: "too many requests: " + limit,
		Debug: map[string]string{"limit": limit, "counter": string(d.Refused.Kind()), "threshold": strconv.Itoa(d.Limit),
			"windowEnds": d.Reset.UTC().Format("2006-01-02T15:04:05.000Z")}}
	err := lim.UseOnce(Attach(ctx, ev), key, d.Reset)
	if err != nil && !errors.Is(err, throttle.ErrUsed) {
		rec.log().WarnContext(ctx, "system log: recording a rate limit violation", "limit", limit, "err", err)
		return
	}
	rec.markLogged(key.String(), d.Reset)
}

// maxLogged bounds the recorder's memory of windows already recorded.
const maxLogged = 10_000

// loggedAlready reports whether this node recorded (or saw recorded) the window
// of key ending at end.
func (r *Recorder) loggedAlready(key string, end time.Time) bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logged[key].Equal(end)
}

func (r *Recorder) markLogged(key string, end time.Time) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.logged == nil {
		r.logged = map[string]time.Time{}
	}
	if len(r.logged) >= maxLogged {
		now := r.now()
		for k, e := range r.logged {
			if !e.After(now) {
				delete(r.logged, k)
			}
		}
		if len(r.logged) >= maxLogged {
			clear(r.logged) // forgetting only costs a database check
		}
	}
	r.logged[key] = end
}
