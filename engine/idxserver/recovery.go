package idxserver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/account"
	"github.com/gatehouse-id/gatehouse/engine/authn"
	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/metrics"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// Self-service password recovery, as Okta runs it (docs/protocol.md, "Password
// recovery"): the identify state offers the password's recover action; recover →
// identify-recovery (the username) → select-authenticator-authenticate (the phone)
// → a code by SMS or call → reset-authenticator (the new password) → SUCCESS.
//
// Nothing in the answers says whether the username names a user: the phone is
// offered without its number, under an id derived from the transaction, and for a
// login that names no user (or a disabled one, or one without a phone that can
// take the method) the same budgets are spent and no code is sent, so every code
// is wrong. No user object is shown until the sign-in succeeds.

// recover starts a recovery.
func (s *Server) recover(w http.ResponseWriter, r *http.Request, v *view, _ *request) {
	if s.advance(w, r.Context(), v, func(t *store.Transaction) {
		t.Step, t.Flow, t.Pending = store.StepIdentifyRecovery, store.FlowRecovery, nil
	}) {
		s.log.InfoContext(r.Context(), "password recovery started", logAttrs(v)...)
		s.respond(w, http.StatusOK, v)
	}
}

// identifyRecovery takes the username of the account to recover.
func (s *Server) identifyRecovery(w http.ResponseWriter, r *http.Request, v *view, req *request) {
	ctx := r.Context()
	login := strings.ToLower(trimmed(req.Identifier))
	if login == "" {
		v.onField("identifier", msgFieldBlank)
		s.respond(w, http.StatusBadRequest, v)
		return
	}
	d, err := s.limiter.Reserve(ctx, throttle.Request{Key: throttle.IdentifyOnTransaction(v.tx.ID),
		Limit: throttle.Limit{Max: s.limits.IdentifyPerTransaction, Window: s.limits.PasswordPerSource.Window}})
	if err != nil {
		s.serverError(ctx, w, "checking the identify limit", err)
		return
	}
	if !d.Allowed {
		s.metrics.RateLimited("identify_per_transaction")
		eventlog.RateLimited(ctx, s.limiter, d, "identify_per_transaction")
		s.limited(w, v, d, msgTooManyRequests)
		return
	}
	userID := ""
	if len(login) <= maxIdentifierLen {
		u, err := s.store.GetUserByLogin(ctx, login)
		switch {
		case err == nil && !u.Disabled:
			userID = u.ID
		case err != nil && !errors.Is(err, store.ErrNotFound):
			s.serverError(ctx, w, "loading a user", err)
			return
		}
	} else {
		login = login[:maxIdentifierLen]
	}
	if s.advance(w, ctx, v, func(t *store.Transaction) {
		t.Step, t.UserID, t.Pending = store.StepSelectAuthenticator, userID, map[string]string{"login": login}
	}) {
		s.log.InfoContext(ctx, "password recovery: username given", logAttrs(v)...)
		s.respond(w, http.StatusOK, v)
	}
}

// recoveryEnrollments is what a recovery offers everyone: the phone, by the
// methods the deployment offers, under an id derived from the transaction.
func (s *Server) recoveryEnrollments(v *view) []enrolled {
	a := s.authenticator(authn.KeyPhone)
	if a == nil || len(a.EnrollMethods()) == 0 {
		return nil
	}
	return []enrolled{{auth: a, authID: s.authIDs[a.Key()], e: authn.Enrollment{ID: derivedID("sms", v.tx.ID+"|recovery"), Methods: a.EnrollMethods()}}}
}

// challengeTarget is the request and the enrollment a challenge goes to. Outside
// a recovery it is the one chosen. In a recovery it is the user's first phone that
// takes the method; when there is none (or no user), the request carries no user,
// and the authenticator spends its budgets and sends nothing.
func (s *Server) challengeTarget(ctx context.Context, w http.ResponseWriter, r *http.Request, v *view, a authn.Authenticator, chosen authn.Enrollment, method string) (authn.Request, authn.Enrollment, error) {
	areq := s.authnRequest(w, r, v)
	if v.tx.Flow != store.FlowRecovery {
		return areq, chosen, nil
	}
	if areq.UserID != "" && v.account != nil {
		for _, e := range a.Enrollments(*v.account) {
			for _, m := range e.Methods {
				if m == method {
					return areq, e, nil
				}
			}
		}
	}
	areq.UserID = ""
	return areq, chosen, nil
}

// setNewPassword is reset-authenticator (a recovery whose phone was proven; the
// user is then signed in), reenroll-authenticator (a sign-in whose password had
// expired; it goes on as after the password) and, in a registration, the
// password's enroll-authenticator: the account package's one rule
// (account.Policy) for all. Setting a password ends every refresh token and SSO
// session of the user, so whoever held the old one is signed out.
func (s *Server) setNewPassword(w http.ResponseWriter, r *http.Request, v *view, req *request) {
	ctx := r.Context()
	pw := req.Credentials.Passcode
	if pw == "" {
		v.onField("passcode", msgFieldBlank)
		s.respond(w, http.StatusBadRequest, v)
		return
	}
	if err := account.Policy.Check(pw); err != nil {
		v.onField("passcode", msgPasswordRules)
		s.respond(w, http.StatusBadRequest, v)
		return
	}
	if v.registering() {
		s.createAccount(w, r, v, pw)
		return
	}
	now := s.now()
	n, err := s.accounts.SetPassword(ctx, v.tx.UserID, pw)
	if errors.Is(err, password.ErrBusy) {
		s.hashBusy(w, v)
		return
	}
	if err != nil {
		s.serverError(ctx, w, "setting the new password", err)
		return
	}
	// The password is set (hashed outside any transaction); the rest of the step
	// is one.
	s.step(w, r, func(w http.ResponseWriter, r *http.Request) { s.passwordSet(w, r, v, n, now) })
}

// passwordSet goes on from a new password: an expired one's sign-in as after the
// password, a recovery to its end.
func (s *Server) passwordSet(w http.ResponseWriter, r *http.Request, v *view, revoked int64, now time.Time) {
	ctx := r.Context()
	if v.tx.Step == store.StepPasswordExpired {
		s.log.InfoContext(ctx, "expired password replaced", append(logAttrs(v), "refresh_tokens_revoked", revoked)...)
		if err := s.loadUser(ctx, v); err != nil {
			s.serverError(ctx, w, "loading the user", err)
			return
		}
		s.afterPassword(w, r, v, now)
		return
	}
	s.log.InfoContext(ctx, "password reset by recovery", append(logAttrs(v), "refresh_tokens_revoked", revoked)...)
	s.metrics.SignIn(metrics.SignInPasswordReset)
	if err := s.loadUser(ctx, v); err != nil {
		s.serverError(ctx, w, "loading the user", err)
		return
	}
	amr := v.tx.AMR
	if !s.advance(w, ctx, v, func(t *store.Transaction) { t.AuthTime, t.Authenticator = now, "" }) {
		return
	}
	s.complete(w, r, v, amr)
}
