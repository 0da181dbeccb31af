package eventlog

import (
	"context"
	"errors"
	"strconv"

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
	ev := Event{Type: TypeRateLimit, Result: store.OutcomeDeny, Reason: "too many requests: " + limit,
		Debug: map[string]string{"limit": limit, "counter": string(d.Refused.Kind()), "threshold": strconv.Itoa(d.Limit),
			"windowEnds": d.Reset.UTC().Format("2006-01-02T15:04:05.000Z")}}
	err := lim.UseOnce(Attach(ctx, ev), throttle.LimitLogged(d.Refused), d.Reset)
	if err != nil && !errors.Is(err, throttle.ErrUsed) {
		scopeOf(ctx).rec.log().WarnContext(ctx, "system log: recording a rate limit violation", "limit", limit, "err", err)
	}
}
