package account

import (
	"context"

	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// The system log: every change a Service makes carries the event that records it
// into the store call that makes it (eventlog.Attach), so that the event commits
// with the change or not at all. Who acted comes from the context (the API token,
// the command line, the user signing in); a user registering is their own actor.

// recorded returns ctx carrying the event typ about user userID (the target) and
// what else it names.
func recorded(ctx context.Context, typ, userID string, debug map[string]string, targets ...store.LogTarget) context.Context {
	ev := eventlog.Event{Type: typ, Result: store.OutcomeSuccess, Debug: debug,
		Targets: append([]store.LogTarget{{ID: userID, Type: "User"}}, targets...)}
	if eventlog.Actor(ctx) == nil {
		ev.Actor = eventlog.UserRef(userID, "")
	}
	return eventlog.Attach(ctx, ev)
}

// phoneTarget is a phone enrollment as a target, its number masked.
func phoneTarget(p store.PhoneEnrollment) store.LogTarget {
	t := eventlog.Factor(p.ID, "phone_number", "Phone")
	t.DetailEntry = map[string]string{"phoneNumber": phone.Mask(p.Number)}
	return t
}

// enrollmentTarget is another authenticator's enrollment as a target.
func enrollmentTarget(e store.Enrollment) store.LogTarget {
	return eventlog.Factor(e.ID, e.Authenticator, "Authenticator app")
}
