package idxserver

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/metrics"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

var errSendLimited = errors.New("send limit reached")

// sendCode makes a code for number and queues its message, unless the phone factor is
// locked or the number had a code too recently (phone.send_interval) or too often
// (phone.max_sends per phone.send_window). Those limits live in the store, so they
// hold across nodes. It answers the client itself when it returns false.
func (s *Server) sendCode(w http.ResponseWriter, ctx context.Context, v *view, number, method string) (string, bool) {
	now := s.now()
	lock, err := s.store.GetThrottle(ctx, "otp:"+v.tx.UserID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.serverError(w, "reading the phone lockout", err)
		return "", false
	}
	if now.Before(lock.BlockedUntil) {
		s.fail(w, http.StatusTooManyRequests, v, msgFactorLocked(lock.BlockedUntil, now))
		return "", false
	}
	if !s.settings.NoSendLimits {
		_, err = s.store.UpdateThrottle(ctx, "send:"+number, func(t store.Throttle) (store.Throttle, error) {
			if !t.LastAt.IsZero() && now.Sub(t.LastAt) < s.settings.SendInterval {
				return t, errSendLimited
			}
			if t.WindowStart.IsZero() || !now.Before(t.WindowStart.Add(s.settings.SendWindow)) {
				t.Count, t.WindowStart = 0, now
			}
			if t.Count >= s.settings.MaxSends {
				return t, errSendLimited
			}
			t.Count++
			t.LastAt = now
			t.ExpiresAt = t.WindowStart.Add(s.settings.SendWindow)
			if next := now.Add(s.settings.SendInterval); next.After(t.ExpiresAt) {
				t.ExpiresAt = next
			}
			return t, nil
		})
		if errors.Is(err, errSendLimited) {
			s.log.Info("code not sent: send limit for this number", append(logAttrs(v), "method", method)...)
			s.metrics.SignIn(metrics.SignInRateLimited)
			w.Header().Set("Retry-After", "30")
			s.fail(w, http.StatusTooManyRequests, v, sendLimitMessage(method))
			return "", false
		}
		if err != nil {
			s.serverError(w, "checking the send limit", err)
			return "", false
		}
	}
	code, err := phone.NewCode()
	if err != nil {
		s.serverError(w, "making a code", err)
		return "", false
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
	msg := &store.Message{
		ID: opaque.ID("msg"), ChallengeID: id, To: number, Channel: method, Body: body, Code: code,
		Status: store.MessagePending, NextAttemptAt: now, CreatedAt: now,
	}
	if err := s.store.CreateChallenge(ctx, ch, msg); err != nil {
		s.serverError(w, "storing a code", err)
		return "", false
	}
	s.metrics.CodeQueued(method)
	if s.outbox != nil {
		s.outbox.Wake()
	}
	return id, true
}
