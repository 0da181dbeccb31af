package conformance

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

func newSession(id, userID string) store.Session {
	return store.Session{
		ID: id, TokenHash: "hash-" + id, UserID: userID,
		AuthTime: at(-time.Minute), AMR: []string{"pwd", "sms", "mfa"}, ClientIDs: []string{"client-a"},
		CreatedAt: at(-time.Minute), LastSeenAt: at(-time.Minute),
		IdleExpiresAt: at(2 * time.Hour), ExpiresAt: at(12 * time.Hour),
	}
}

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newSession("102a", "00u1")
	mustOK(t, "CreateSession", s.CreateSession(ctx, want))
	got, err := s.GetSession(ctx, "102a")
	mustOK(t, "GetSession", err)
	checkEqual(t, "GetSession", got, want)
	got, err = s.GetSessionByToken(ctx, "hash-102a")
	mustOK(t, "GetSessionByToken", err)
	checkEqual(t, "GetSessionByToken", got, want)

	dupID := newSession("102a", "00u2")
	dupID.TokenHash = "hash-other"
	checkErrIs(t, "CreateSession with a taken id", s.CreateSession(ctx, dupID), store.ErrAlreadyExists)
	dupToken := newSession("102b", "00u2")
	dupToken.TokenHash = "hash-102a"
	checkErrIs(t, "CreateSession with a taken token hash", s.CreateSession(ctx, dupToken), store.ErrAlreadyExists)
	_, err = s.GetSession(ctx, "102missing")
	checkErrIs(t, "GetSession of a missing id", err, store.ErrNotFound)
	_, err = s.GetSessionByToken(ctx, "hash-missing")
	checkErrIs(t, "GetSessionByToken of a missing hash", err, store.ErrNotFound)

	next := want
	next.AuthTime, next.AMR, next.ClientIDs = at(time.Second), []string{"pwd"}, []string{"client-a", "client-b"}
	next.CreatedAt, next.LastSeenAt, next.IdleExpiresAt, next.ExpiresAt, next.EndedAt =
		at(2*time.Second), at(3*time.Second), at(4*time.Second), at(5*time.Second), at(6*time.Second)
	got, err = s.UpdateSession(ctx, "102a", func(x store.Session) (store.Session, error) {
		checkEqual(t, "session seen by UpdateSession", x, want)
		return next, nil
	})
	mustOK(t, "UpdateSession", err)
	checkEqual(t, "UpdateSession result", got, next)
	got, err = s.GetSession(ctx, "102a")
	mustOK(t, "GetSession", err)
	checkEqual(t, "session after UpdateSession", got, next)

	_, err = s.UpdateSession(ctx, "102a", func(x store.Session) (store.Session, error) {
		x.EndedAt = time.Time{}
		return x, errFn
	})
	checkFnErr(t, "UpdateSession with failing fn", err)
	for _, change := range []struct {
		field string
		fn    func(*store.Session)
	}{
		{"ID", func(x *store.Session) { x.ID = "102z" }},
		{"TokenHash", func(x *store.Session) { x.TokenHash = "hash-z" }},
		{"UserID", func(x *store.Session) { x.UserID = "00uz" }},
	} {
		_, err = s.UpdateSession(ctx, "102a", func(x store.Session) (store.Session, error) {
			change.fn(&x)
			return x, nil
		})
		checkRefused(t, "UpdateSession changing "+change.field, err)
	}
	got, err = s.GetSession(ctx, "102a")
	mustOK(t, "GetSession", err)
	checkEqual(t, "session after refused updates", got, next)
	_, err = s.UpdateSession(ctx, "102missing", notCalled[store.Session](t))
	checkErrIs(t, "UpdateSession of a missing session", err, store.ErrNotFound)

	// Live follows the three limits.
	live := newSession("102l", "00u1")
	for _, c := range []struct {
		now  time.Time
		end  time.Time
		want bool
	}{
		{base, time.Time{}, true},
		{at(2 * time.Hour), time.Time{}, false}, // idle
		{base, at(-time.Second), false},         // ended
	} {
		live.EndedAt = c.end
		if got := live.Live(c.now); got != c.want {
			t.Errorf("Live(%v) with EndedAt %v = %v, want %v", c.now, c.end, got, c.want)
		}
	}

	// GarbageCollect removes sessions past either expiry, and only those.
	gone1 := newSession("102g1", "00u3")
	gone1.ExpiresAt = at(-time.Millisecond)
	gone2 := newSession("102g2", "00u3")
	gone2.IdleExpiresAt = at(-time.Millisecond)
	kept := newSession("102k", "00u3")
	for _, x := range []store.Session{gone1, gone2, kept} {
		mustOK(t, "CreateSession", s.CreateSession(ctx, x))
	}
	res, err := s.GarbageCollect(ctx, base)
	mustOK(t, "GarbageCollect", err)
	// 102a was moved to expire at base+5s: kept.
	if res.Sessions != 2 {
		t.Errorf("GarbageCollect removed %d sessions, want 2", res.Sessions)
	}
	for _, id := range []string{"102g1", "102g2"} {
		_, err = s.GetSession(ctx, id)
		checkErrIs(t, "GetSession after GarbageCollect of "+id, err, store.ErrNotFound)
	}
	for _, id := range []string{"102k", "102a"} {
		_, err = s.GetSession(ctx, id)
		mustOK(t, "GetSession after GarbageCollect of "+id, err)
	}
}

func testEndUserSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	mine1, mine2, endedBefore := newSession("102m1", "00u1"), newSession("102m2", "00u1"), newSession("102m3", "00u1")
	endedBefore.EndedAt = at(-time.Hour)
	other := newSession("102o", "00u2")
	for _, x := range []store.Session{mine1, mine2, endedBefore, other} {
		mustOK(t, "CreateSession", s.CreateSession(ctx, x))
	}
	ended, err := s.EndUserSessions(ctx, "00u1", base)
	mustOK(t, "EndUserSessions", err)
	var ids []string
	for _, x := range ended {
		ids = append(ids, x.ID)
		if !x.EndedAt.Equal(base) {
			t.Errorf("EndUserSessions returned %s with EndedAt %v, want %v", x.ID, x.EndedAt, base)
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"102m1", "102m2"}) {
		t.Errorf("EndUserSessions ended %v, want [102m1 102m2]", ids)
	}
	got, err := s.GetSession(ctx, "102m3")
	mustOK(t, "GetSession", err)
	checkEqual(t, "a session ended before", got, endedBefore)
	got, err = s.GetSession(ctx, "102o")
	mustOK(t, "GetSession", err)
	checkEqual(t, "another user's session", got, other)
	ended, err = s.EndUserSessions(ctx, "00u-nobody", base)
	mustOK(t, "EndUserSessions of a user without sessions", err)
	if len(ended) != 0 {
		t.Errorf("EndUserSessions of a user without sessions returned %d", len(ended))
	}
}

// testConcurrentSessionClients: clients signing in through one session at once each
// add themselves to ClientIDs; none is lost (back-channel logout must reach all).
func testConcurrentSessionClients(t *testing.T, s store.Store) {
	const n = 20
	mustOK(t, "CreateSession", s.CreateSession(t.Context(), newSession("102c", "00u1")))
	errs := make([]error, n)
	runConcurrently(n, func(i int) {
		_, errs[i] = s.UpdateSession(t.Context(), "102c", func(x store.Session) (store.Session, error) {
			time.Sleep(raceWindow)
			x.ClientIDs = append(x.ClientIDs, fmt.Sprintf("c%02d", i))
			return x, nil
		})
	})
	for i, err := range errs {
		mustOK(t, fmt.Sprintf("UpdateSession %d", i), err)
	}
	got, err := s.GetSession(t.Context(), "102c")
	mustOK(t, "GetSession", err)
	if len(got.ClientIDs) != n+1 {
		t.Errorf("after %d concurrent updates the session names %d clients, want %d: %v", n, len(got.ClientIDs), n+1, got.ClientIDs)
	}
}
