package account

import (
	"context"
	"slices"
	"strings"

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

// createdEvents returns ctx carrying the events of rec created: the user, and the
// phones created with them.
func createdEvents(ctx context.Context, rec store.UserRecord) context.Context {
	actor := eventlog.Actor(ctx)
	if actor == nil || actor.ID == "unknown" {
		actor = eventlog.User(rec.User) // registering themselves
	}
	evs := []eventlog.Event{{Type: eventlog.TypeUserCreate, Result: store.OutcomeSuccess, Actor: actor,
		Targets: []store.LogTarget{eventlog.UserTarget(rec.User)}}}
	for _, p := range rec.Phones {
		evs = append(evs, eventlog.Event{Type: eventlog.TypeFactorActivate, Result: store.OutcomeSuccess, Actor: actor,
			Targets: []store.LogTarget{eventlog.UserTarget(rec.User), phoneTarget(p)}})
	}
	return eventlog.Attach(ctx, evs...)
}

// profileChanged names the profile fields ch changes (never their values).
func profileChanged(ch ProfileChange) map[string]string {
	var changed []string
	for name, v := range map[string]*string{"login": ch.Login, "email": ch.Email, "firstName": ch.GivenName, "lastName": ch.FamilyName, "locale": ch.Locale} {
		if v != nil {
			changed = append(changed, name)
		}
	}
	slices.Sort(changed)
	return map[string]string{"changed": strings.Join(changed, " ")}
}
