package conformance

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

func testGarbageCollect(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := base
	expired := []time.Time{at(-time.Millisecond), at(-48 * time.Hour)}
	// Kept: expiring at or after now, or never (zero).
	kept := []time.Time{now, at(time.Hour), {}}
	all := append(append([]time.Time(nil), expired...), kept...)
	name := func(i int) string { return string(rune('a' + i)) }
	isExpired := func(i int) bool { return i < len(expired) }

	for i, exp := range all {
		tx := newTransaction("tx-" + name(i))
		tx.ExpiresAt = exp
		mustOK(t, "CreateTransaction", s.CreateTransaction(ctx, tx))
		ch := newChallenge("ch-"+name(i), "tx-"+name(i))
		ch.ExpiresAt = exp
		mustOK(t, "CreateChallenge", s.CreateChallenge(ctx, ch, nil))
		ic := newInteractionCode("ic-" + name(i))
		ic.ExpiresAt = exp
		mustOK(t, "CreateInteractionCode", s.CreateInteractionCode(ctx, ic))
		rt := newRefreshToken("rt-"+name(i), "fam")
		rt.ExpiresAt = exp
		mustOK(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, rt))
		mustOK(t, "RevokeAccessToken", s.RevokeAccessToken(ctx, "jti-"+name(i), exp))
		if !exp.IsZero() { // a revocation always has an expiry
			_, err := s.RevokeTokens(ctx, store.RevokeUser, "00u-gc-"+name(i), at(-72*time.Hour), exp)
			mustOK(t, "RevokeTokens", err)
		}
		_, err := s.UpdateThrottle(ctx, "th-"+name(i), func(th store.Throttle) (store.Throttle, error) {
			th.Count, th.ExpiresAt = 1, exp
			return th, nil
		})
		mustOK(t, "UpdateThrottle", err)
	}

	// Messages: finished more than a day ago go; unfinished ones stay however old.
	msg := func(id string, status store.MessageStatus, created, next, lease, sent time.Duration) store.Message {
		m := newMessage(id, "ch-"+id, "+15555550100")
		m.Status, m.CreatedAt, m.NextAttemptAt, m.LeaseUntil = status, at(created), at(next), at(lease)
		if sent != 0 {
			m.SentAt = at(sent)
		}
		return m
	}
	const day = 24 * time.Hour
	goneMsgs := []store.Message{
		msg("sent-old", store.MessageSent, -3*day, -3*day, -3*day, -day-time.Millisecond),
		msg("failed-old", store.MessageFailed, -3*day, -2*day, -day-time.Second, 0),
	}
	keptMsgs := []store.Message{
		msg("sent-recent", store.MessageSent, -3*day, -3*day, -3*day, -day+time.Second),
		msg("failed-recent", store.MessageFailed, -3*day, -3*day, -time.Hour, 0),
		msg("pending-old", store.MessagePending, -3*day, -3*day, -3*day, 0),
		msg("sending-old", store.MessageSending, -3*day, -3*day, -3*day, 0),
	}
	for _, m := range append(append([]store.Message(nil), goneMsgs...), keptMsgs...) {
		// Queued far in the future, so the challenges themselves are not collected.
		ch := newChallenge("ch-"+m.ID, "tx-msg-"+m.ID)
		ch.ExpiresAt = at(day)
		queued := newMessage(m.ID, m.ChallengeID, m.To)
		mustOK(t, "CreateChallenge", s.CreateChallenge(ctx, ch, &queued))
		_, err := s.UpdateMessage(ctx, m.ID, func(store.Message) (store.Message, error) { return m, nil })
		mustOK(t, "UpdateMessage", err)
	}

	got, err := s.GarbageCollect(ctx, now)
	mustOK(t, "GarbageCollect", err)
	n := int64(len(expired))
	want := store.GCResult{Transactions: n, Challenges: n, InteractionCodes: n, RefreshTokens: n, RevokedTokens: n, Throttles: n,
		Messages: int64(len(goneMsgs)), Revocations: n}
	checkEqual(t, "GarbageCollect counts", got, want)

	for i := range all {
		wantErr := error(nil)
		if isExpired(i) {
			wantErr = store.ErrNotFound
		}
		check := func(what string, err error) {
			t.Helper()
			if wantErr == nil {
				mustOK(t, what+" of a record kept by GC", err)
			} else {
				checkErrIs(t, what+" of a collected record", err, wantErr)
			}
		}
		_, err := s.GetTransaction(ctx, "tx-"+name(i))
		check("GetTransaction", err)
		_, err = s.GetChallenge(ctx, "ch-"+name(i))
		check("GetChallenge", err)
		_, err = s.GetInteractionCode(ctx, "ic-"+name(i))
		check("GetInteractionCode", err)
		_, err = s.GetRefreshToken(ctx, "rt-"+name(i))
		check("GetRefreshToken", err)
		_, err = s.GetThrottle(ctx, "th-"+name(i))
		check("GetThrottle", err)
		revoked, err := s.AccessTokenRevoked(ctx, store.AccessTokenRef{JTI: "jti-" + name(i)})
		mustOK(t, "AccessTokenRevoked", err)
		if revoked == isExpired(i) {
			t.Errorf("AccessTokenRevoked(jti-%s) after GC = %v, want %v", name(i), revoked, !isExpired(i))
		}
		if !all[i].IsZero() {
			revoked, err := s.AccessTokenRevoked(ctx, store.AccessTokenRef{UserID: "00u-gc-" + name(i), IssuedAt: at(-73 * time.Hour)})
			mustOK(t, "AccessTokenRevoked", err)
			if revoked == isExpired(i) {
				t.Errorf("user revocation 00u-gc-%s after GC: revoked = %v, want %v", name(i), revoked, !isExpired(i))
			}
		}
	}
	for _, m := range goneMsgs {
		_, err := s.GetMessage(ctx, m.ID)
		checkErrIs(t, "GetMessage of collected "+m.ID, err, store.ErrNotFound)
	}
	for _, m := range keptMsgs {
		stored, err := s.GetMessage(ctx, m.ID)
		mustOK(t, "GetMessage of kept "+m.ID, err)
		checkEqual(t, "kept message "+m.ID, stored, m)
	}

	got, err = s.GarbageCollect(ctx, now)
	mustOK(t, "GarbageCollect again", err)
	checkEqual(t, "second GarbageCollect counts", got, store.GCResult{})
}
