package idxserver

import (
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// sendCode makes a code for number and queues its message, unless the phone factor
// is locked, the number's country is refused, or a send budget has no room. verified
// says whether number is one of the user's own verified phones (a sign-in) or a
// number being enrolled. Every budget is reserved in one store call before the code
// is made, so parallel requests cannot exceed any of them, and a refusal counts
// nothing. Sends to a user's verified number are counted on keys only that user's
// sign-ins touch (see docs/security.md, "isolation"). It answers the client itself
// when it returns false.
func (s *Server) sendCode(w http.ResponseWriter, r *http.Request, v *view, number, method string, verified bool) (queuedCode, bool) {
	ctx := r.Context()
	now := s.now()
	lock, err := s.store.GetThrottle(ctx, throttle.PhoneAttempts(v.tx.UserID).String())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.serverError(ctx, w, "reading the phone lockout", err)
		return queuedCode{}, false
	}
	if now.Before(lock.BlockedUntil) {
		s.fail(w, http.StatusTooManyRequests, v, msgFactorLocked(lock.BlockedUntil, now))
		return queuedCode{}, false
	}
	if err := s.limits.Regions.Check(number); err != nil {
		s.refuseSend(w, r, v, method, RefusedRegion, throttle.Decision{}, msgRegionRefused)
		return queuedCode{}, false
	}
	reqs, ok := s.sendBudgets(w, r, v, number, verified)
	if !ok {
		return queuedCode{}, false
	}
	d, err := s.limiter.Reserve(ctx, reqs...)
	if err != nil {
		s.serverError(ctx, w, "checking the send limits", err)
		return queuedCode{}, false
	}
	if !d.Allowed {
		reason := refusalReason(d.Refused)
		msg := sendLimitMessage(method)
		switch reason {
		case RefusedTransactionNumbers:
			msg = msgTooManyNumbers
		case RefusedGlobal:
			msg = msgSendsUnavailable
			s.log.WarnContext(ctx, "phone circuit breaker open: codes to numbers not yet verified are refused",
				append(logAttrs(v), "max_sends_per_hour", s.limits.SendsPerHour)...)
		}
		s.refuseSend(w, r, v, method, reason, d, msg)
		return queuedCode{}, false
	}
	code, err := phone.NewCode()
	if err != nil {
		s.serverError(ctx, w, "making a code", err)
		return queuedCode{}, false
	}
	id := opaque.New(16)
	body := phone.MessageText(code, s.settings.ProductName, s.settings.CodeTTL)
	if method == phone.Voice {
		body = phone.VoiceText(code, s.settings.ProductName)
	}
	ch := store.Challenge{
		ID: id, TransactionID: v.tx.ID, UserID: v.tx.UserID, Phone: number, Method: method,
		CodeMAC: phone.CodeMAC(s.otpKey, id, code), CreatedAt: now, ExpiresAt: now.Add(s.settings.CodeTTL),
	}
	// The message names the sign-in and the user, so that the worker's delivery
	// log lines can say whose code went out (or failed to) without a lookup.
	msg := &store.Message{
		ID: opaque.ID("msg"), ChallengeID: id, TransactionID: v.tx.ID, UserID: v.tx.UserID,
		To: number, Channel: method, Body: body, Code: code,
		Status: store.MessagePending, NextAttemptAt: now, CreatedAt: now,
	}
	if err := s.store.CreateChallenge(ctx, ch, msg); err != nil {
		s.serverError(ctx, w, "storing a code", err)
		return queuedCode{}, false
	}
	s.metrics.CodeQueued(method)
	if s.outbox != nil {
		s.outbox.Wake()
	}
	return queuedCode{challengeID: id, messageID: msg.ID}, true
}

// queuedCode is a code sendCode stored and queued: its challenge, and the outbox
// message that carries it. Log lines give the message id, so that "code queued" here
// can be joined with the worker's "code delivered".
type queuedCode struct{ challengeID, messageID string }

// sendBudgets lists the budgets one code to number spends.
func (s *Server) sendBudgets(w http.ResponseWriter, r *http.Request, v *view, number string, verified bool) ([]throttle.Request, bool) {
	l, st := s.limits, s.settings
	const day = 24 * time.Hour
	src := s.source(nil, r)
	user, tx := v.tx.UserID, v.tx.ID
	reqs := []throttle.Request{
		{Key: throttle.SendsOnTransaction(tx), Limit: throttle.Limit{Max: l.SendsPerTransaction, Window: st.TransactionTTL}},
		{Key: throttle.SendsForUser(user), Limit: throttle.Limit{Max: l.SendsPerUserPerDay, Window: day}},
	}
	if verified {
		// The owner's own number: its own per-number budget, and the circuit breaker
		// and the per-IP budget count it without stopping it — unless the request
		// comes from a source that never signed in as this user.
		own := throttle.OwnNumber(user, number)
		reqs = append(reqs,
			throttle.Request{Key: own, Limit: throttle.Limit{Max: st.MaxSends, Window: st.SendWindow}},
			throttle.Request{Key: throttle.SendGap(own), Limit: throttle.Limit{Max: 1, Window: st.SendInterval}},
			throttle.Request{Key: throttle.AllSends(), Limit: throttle.Limit{Max: unbounded, Window: time.Hour}},
		)
		_, known, err := s.knownSource(r.Context(), user, src)
		if err != nil {
			s.serverError(r.Context(), w, "reading the sign-in's source", err)
			return nil, false
		}
		ipMax := l.SendsPerIPPerHour
		if known {
			ipMax = unbounded
		}
		reqs = append(reqs, throttle.Request{Key: throttle.SendsFromIP(src.ip), Limit: throttle.Limit{Max: ipMax, Window: time.Hour}})
		return reqs, true
	}
	unv := throttle.UnverifiedNumber(number)
	reqs = append(reqs,
		throttle.Request{Key: unv, Limit: throttle.Limit{Max: st.MaxSends, Window: st.SendWindow}},
		throttle.Request{Key: throttle.SendGap(unv), Limit: throttle.Limit{Max: 1, Window: st.SendInterval}},
		throttle.Request{Key: throttle.AllSends(), Limit: throttle.Limit{Max: l.SendsPerHour, Window: time.Hour}},
		throttle.Request{Key: throttle.SendsFromIP(src.ip), Limit: throttle.Limit{Max: l.SendsPerIPPerHour, Window: time.Hour}},
		throttle.Request{Key: throttle.UnverifiedSendsFromIP(src.ip), Limit: throttle.Limit{Max: l.UnverifiedSendsPerIPPerHour, Window: time.Hour}},
		throttle.Request{Key: throttle.UnverifiedSendsForUser(user), Limit: throttle.Limit{Max: l.UnverifiedSendsPerUserPerDay, Window: day}},
	)
	// A number not tried on this sign-in before spends one of its distinct numbers;
	// the mark that it was tried is kept only if the send goes ahead.
	seen := throttle.NumberSeenOnTransaction(tx, number)
	if n, _, err := s.limiter.Count(r.Context(), seen, throttle.Limit{Max: unbounded, Window: st.TransactionTTL}); err != nil {
		s.serverError(r.Context(), w, "reading the numbers tried", err)
		return nil, false
	} else if n == 0 {
		reqs = append(reqs,
			throttle.Request{Key: throttle.NumbersOnTransaction(tx), Limit: throttle.Limit{Max: l.NumbersPerTransaction, Window: st.TransactionTTL}},
			throttle.Request{Key: seen, Limit: throttle.Limit{Max: unbounded, Window: st.TransactionTTL}},
		)
	}
	return reqs, true
}

// refuseSend answers a send that a limit refused, counting it by reason.
func (s *Server) refuseSend(w http.ResponseWriter, r *http.Request, v *view, method, reason string, d throttle.Decision, msg Message) {
	s.log.InfoContext(r.Context(), "code not sent: "+reason+" limit", append(logAttrs(v), "method", method, "reason", reason)...)
	s.metrics.SendRefused(reason)
	s.limited(w, v, d, msg)
}
