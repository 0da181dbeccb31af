package idxserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/authn"
	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/metrics"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/policy"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// ---- request bodies ----

// request is every IDX request body; each remediation reads the members it needs.
// Unknown members are ignored — clients send extras such as rememberMe — but wrong
// types and trailing data are errors.
type request struct {
	StateHandle   string              `json:"stateHandle"`
	Identifier    string              `json:"identifier"`
	Credentials   credentials         `json:"credentials"`
	RememberMe    *bool               `json:"rememberMe"`
	Authenticator authenticatorChoice `json:"authenticator"`
	UserProfile   map[string]any      `json:"userProfile,omitempty"`
}

func (r *request) handle() string { return r.StateHandle }

type credentials struct {
	Passcode string `json:"passcode"`
}

type authenticatorChoice struct {
	ID           string `json:"id"`
	EnrollmentID string `json:"enrollmentId"`
	MethodType   string `json:"methodType"`
	PhoneNumber  string `json:"phoneNumber"`
}

// ---- identify ----

// maxIdentifierLen bounds usernames; longer ones cannot exist.
const maxIdentifierLen = 256

// identify checks username and password together (docs/protocol.md). An unknown
// user costs the same argon2id verification as a wrong password and gets the same
// answer. Repeated failures for one username make it wait (sign_on.*).
func (s *Server) identify(w http.ResponseWriter, r *http.Request, v *view, req *request) {
	ctx := r.Context()
	identifier := trimmed(req.Identifier)
	passcode := req.Credentials.Passcode
	if identifier == "" || passcode == "" {
		if identifier == "" {
			v.onField("identifier", msgFieldBlank)
		}
		if passcode == "" {
			v.onField("password", msgFieldBlank)
		}
		s.respond(w, http.StatusBadRequest, v)
		return
	}
	login := strings.ToLower(identifier)
	now := s.now()
	// The account and the password check's reservation, in one write, before
	// hashing (docs/security.md, "password guessing"): the reservation commits
	// before the hash it pays for. The budgets are per login, whether or not it
	// names a user, so a refusal says nothing about whether the account exists.
	src := s.source(w, r)
	srcKey := throttle.IPSource(src.ip)
	known := false
	var (
		acct store.Account
		d    throttle.Decision
	)
	err := s.store.Atomically(ctx, func(ctx context.Context) error {
		if len(login) <= maxIdentifierLen {
			a, err := s.store.GetAccountByLogin(ctx, login)
			switch {
			case err == nil:
				acct = a
			case !errors.Is(err, store.ErrNotFound):
				return fmt.Errorf("loading a user: %w", err)
			}
		}
		if acct.User.ID != "" {
			k, ok, err := s.knownSource(ctx, acct.User.ID, src)
			if err != nil {
				return fmt.Errorf("reading the sign-in's source: %w", err)
			}
			if ok {
				srcKey, known = k, true
			}
		}
		budgets := []throttle.Request{
			{Key: throttle.IdentifyOnTransaction(v.tx.ID), Limit: throttle.Limit{Max: s.limits.IdentifyPerTransaction, Window: s.limits.PasswordPerSource.Window}},
			{Key: throttle.PasswordFromSource(login, srcKey), Limit: s.limits.PasswordPerSource},
		}
		if !known {
			budgets = append(budgets, throttle.Request{Key: throttle.PasswordFromUnknownSources(login), Limit: s.limits.PasswordUnknown})
		}
		var err error
		if d, err = s.limiter.Reserve(ctx, budgets...); err != nil {
			return fmt.Errorf("checking the password limits: %w", err)
		}
		if !d.Allowed {
			eventlog.RateLimited(ctx, s.limiter, d, identifyLimitName(d))
		}
		return nil
	})
	if err != nil {
		s.serverError(ctx, w, "before the password check", err)
		return
	}
	user, encoded := acct.User, acct.PasswordHash
	if !d.Allowed {
		limit := identifyLimitName(d)
		s.log.WarnContext(ctx, "sign-in refused: password check limit", append(logAttrs(v), "limit", limit, "known_source", known)...)
		s.metrics.SignIn(metrics.SignInRateLimited)
		s.metrics.RateLimited(limit)
		s.limited(w, v, d, msgTooManyRequests)
		return
	}
	result, err := s.hasher.VerifyAs(ctx, src.ip, encoded, passcode)
	switch {
	case errors.Is(err, password.ErrBusy):
		s.hashBusy(w, v)
		return
	case err != nil && !errors.Is(err, password.ErrTooLong):
		s.serverError(ctx, w, "verifying a password", err)
		return
	}
	if result.OK && !user.Disabled && result.NeedsRehash {
		go s.rehash(user.ID, passcode)
	}
	// What follows is one step's store work: one transaction.
	s.step(w, r, func(w http.ResponseWriter, r *http.Request) {
		s.identified(w, r, v, login, srcKey, acct, result, d, now)
	})
}

// identifyLimitName names the password budget d refused, for logs and metrics.
func identifyLimitName(d throttle.Decision) string {
	return map[throttle.Kind]string{throttle.KindIdentifyOnTx: "identify_per_transaction",
		throttle.KindPasswordSource: "password_source", throttle.KindPasswordUnknown: "password_unknown_sources"}[d.Refused.Kind()]
}

// identified goes on from a password check: the failure recorded, or the
// sign-in moved on as the user's state and the policy say.
func (s *Server) identified(w http.ResponseWriter, r *http.Request, v *view, login string, srcKey throttle.Source,
	acct store.Account, result password.Result, d throttle.Decision, now time.Time) {
	ctx := r.Context()
	user := acct.User
	if !result.OK || user.Disabled {
		attrs := logAttrs(v)
		if user.ID != "" {
			attrs = append(attrs, "user_id", user.ID)
		}
		s.log.InfoContext(ctx, "sign-in failed: wrong username or password", attrs...)
		s.metrics.SignIn(metrics.SignInPasswordFailed)
		s.recordFailedPassword(ctx, user, login, result.OK)
		s.fail(w, http.StatusUnauthorized, v, msgAuthenticationFailed)
		return
	}
	if d.Counts[1] > 1 {
		// Earlier checks from this source no longer count. (This one does, until its
		// window ends: a delete for every sign-in would cost more than it gives.)
		if err := s.limiter.Reset(ctx, throttle.PasswordFromSource(login, srcKey)); err != nil {
			s.log.ErrorContext(ctx, "idx: forgetting password failures", "err", err)
		}
	}
	s.setAccount(v, &acct)
	s.log.InfoContext(ctx, "password verified", append(logAttrs(v), "user_id", user.ID)...)
	ev := eventlog.Event{Type: eventlog.TypeSessionStart, Result: store.OutcomeSuccess,
		Actor: eventlog.User(user), Debug: map[string]string{"authenticator": authn.KeyPassword}}
	if user.State() == store.UserPasswordExpired {
		// A new password first (reenroll-authenticator), then on as after the password.
		if s.advance(w, eventlog.Attach(ctx, ev), v, func(t *store.Transaction) {
			t.Step, t.UserID, t.AuthTime, t.AMR = store.StepPasswordExpired, user.ID, now, policy.AMR("")
			t.Authenticator, t.Pending = authn.KeyPassword, nil
		}) {
			s.respond(w, http.StatusOK, v)
		}
		return
	}
	s.afterPassword(w, r, v, now, ev)
}

// recordFailedPassword records a failed password check. It changes nothing in the
// database, so it is recorded alone.
func (s *Server) recordFailedPassword(ctx context.Context, user store.User, login string, passwordOK bool) {
	ev := eventlog.Event{Type: eventlog.TypeSessionStart, Result: store.OutcomeFailure, Reason: "INVALID_CREDENTIALS",
		Actor: eventlog.UnknownUser(login), Debug: map[string]string{"authenticator": authn.KeyPassword}}
	if user.ID != "" {
		ev.Actor = eventlog.User(user)
		if passwordOK {
			ev.Reason = "the user is deactivated"
		}
	}
	if err := eventlog.Append(ctx, s.store, ev); err != nil {
		s.log.ErrorContext(ctx, "system log: recording a failed password", "err", err)
	}
}

// afterPassword moves a sign-in whose password was just proven (or set, in a
// registration) on as the policy says: done, verify a factor, enroll one, or deny.
// evs record the proof: they are written with the transaction's step, or alone
// with the denial.
func (s *Server) afterPassword(w http.ResponseWriter, r *http.Request, v *view, authTime time.Time, evs ...eventlog.Event) {
	ctx := r.Context()
	user := v.user
	enrolled := s.userEnrollments(v.account)
	v.enrollments = enrolled
	decision := s.policy.AfterPassword(len(enrolled), len(s.enrollable()))
	if decision == policy.Deny {
		denied := eventlog.Event{Type: eventlog.TypeSignInStarted, Result: store.OutcomeDeny, Actor: eventlog.User(*user),
			Reason: "a second factor is required, the user has none, and enrollment while signing in is off"}
		if err := eventlog.Append(ctx, s.store, append(evs, denied)...); err != nil {
			s.log.ErrorContext(ctx, "system log: recording a denied sign-in", "err", err)
		}
		s.log.InfoContext(ctx, "sign-in denied: the policy needs a second factor and enrollment is off", "transaction", v.tx.ID, "user_id", user.ID)
		s.metrics.SignIn(metrics.SignInDenied)
		s.write(w, http.StatusForbidden, Response{Version: idxVersion, StateHandle: v.stateHandle,
			ExpiresAt: formatExpiry(v.tx.ExpiresAt), Intent: "LOGIN", Messages: list(msgAccessDenied)})
		return
	}
	if !s.advance(w, eventlog.Attach(ctx, evs...), v, func(t *store.Transaction) {
		t.UserID, t.AuthTime, t.AMR = user.ID, authTime, policy.AMR("")
		t.Authenticator, t.Pending = "", nil
		switch decision {
		case policy.Verify:
			t.Step = store.StepSelectAuthenticator
		case policy.Enroll:
			t.Step = store.StepSelectEnroll
		case policy.Done:
			t.Step = store.StepSuccess
		}
	}) {
		return
	}
	if decision == policy.Done {
		s.complete(w, r, v, policy.AMR(""))
		return
	}
	s.respond(w, http.StatusOK, v)
}

// hashBusy answers a request the password hashing queue had no room for.
func (s *Server) hashBusy(w http.ResponseWriter, v *view) {
	s.log.Warn("sign-in refused: password hashing queue full", logAttrs(v)...)
	s.metrics.SignIn(metrics.SignInRateLimited)
	s.metrics.RateLimited("hash_queue")
	w.Header().Set("Retry-After", "1")
	s.fail(w, http.StatusTooManyRequests, v, msgTooManyRequests)
}

// rehash upgrades a stored hash made with older parameters after a successful sign-in.
func (s *Server) rehash(userID, pw string) {
	ctx := context.Background()
	h, err := s.hasher.Hash(ctx, pw)
	if err == nil {
		err = s.store.SetPassword(ctx, store.PasswordCredential{UserID: userID, Hash: h, UpdatedAt: s.now()})
	}
	if err != nil {
		s.log.WarnContext(ctx, "re-hashing a password with the current parameters failed", "user_id", userID, "err", err)
	}
}

// ---- select authenticator / choose method ----

// challenge serves select-authenticator-authenticate and
// authenticator-verification-data, which post to the same URL (docs/protocol.md).
// An authenticator that sends codes asks for the method first when none is given;
// with a method the challenge starts at once.
func (s *Server) challenge(w http.ResponseWriter, r *http.Request, v *view, req *request) {
	ctx := r.Context()
	c := req.Authenticator
	wanted := c.EnrollmentID
	if wanted == "" && v.tx.EnrollmentID != "" && c.ID == s.authIDs[v.tx.Authenticator] {
		wanted = v.tx.EnrollmentID
	}
	chosen, ok := v.find(c.ID, wanted)
	if !ok {
		s.fail(w, http.StatusBadRequest, v, msgUnknownAuthenticator)
		return
	}
	a, e := chosen.auth, chosen.e
	method := c.MethodType
	if method == "" && a.Sends() {
		if s.advance(w, ctx, v, func(t *store.Transaction) {
			t.Step, t.Authenticator, t.EnrollmentID, t.Method = store.StepVerifyData, a.Key(), e.ID, ""
		}) {
			s.respond(w, http.StatusOK, v)
		}
		return
	}
	if method == "" {
		method = e.Methods[0]
	}
	if !slices.Contains(e.Methods, method) {
		s.fail(w, http.StatusBadRequest, v, msgMethodUnavailable)
		return
	}
	if s.locked(w, r, v) {
		return
	}
	areq, target, err := s.challengeTarget(ctx, w, r, v, a, e, method)
	if err != nil {
		s.serverError(ctx, w, "finding the enrollment to challenge", err)
		return
	}
	ch, err := a.Challenge(ctx, areq, target, method)
	if err != nil {
		s.problem(w, r, v, err, "starting a challenge")
		return
	}
	now := s.now()
	if s.advance(w, ctx, v, func(t *store.Transaction) {
		t.Step, t.Authenticator, t.EnrollmentID, t.Method = store.StepChallenge, a.Key(), e.ID, method
		t.ChallengeID, t.LastSentAt = ch.ID, now
	}) {
		if a.Sends() {
			s.log.InfoContext(ctx, "code queued", append(logAttrs(v), "method", method, "message_id", ch.MessageID)...)
		}
		s.respond(w, http.StatusOK, v)
	}
}

// ---- enrollment ----

// enroll serves select-authenticator-enroll and authenticator-enrollment-data
// (docs/protocol.md). What is enrolled is stored only once its first code is right.
func (s *Server) enroll(w http.ResponseWriter, r *http.Request, v *view, req *request) {
	ctx := r.Context()
	c := req.Authenticator
	if v.registering() {
		// A new account's first authenticator is its password.
		if c.ID != s.passwordID {
			s.fail(w, http.StatusBadRequest, v, msgUnknownAuthenticator)
			return
		}
		if s.advance(w, ctx, v, func(t *store.Transaction) {
			t.Step, t.Authenticator, t.Method = store.StepEnrollChallenge, authn.KeyPassword, "password"
		}) {
			s.respond(w, http.StatusOK, v)
		}
		return
	}
	a := s.authenticatorByID(c.ID)
	if a == nil || len(a.EnrollMethods()) == 0 {
		s.fail(w, http.StatusBadRequest, v, msgUnknownAuthenticator)
		return
	}
	data := map[string]string{}
	if c.PhoneNumber != "" {
		data["phoneNumber"] = c.PhoneNumber
	}
	method := c.MethodType
	if method == "" && len(data) == 0 && (len(a.EnrollData()) > 0 || a.Sends()) {
		if s.advance(w, ctx, v, func(t *store.Transaction) {
			t.Step, t.Authenticator, t.Method, t.Pending = store.StepEnrollData, a.Key(), "", nil
		}) {
			s.respond(w, http.StatusOK, v)
		}
		return
	}
	if method == "" && len(a.EnrollMethods()) == 1 && !a.Sends() {
		method = a.EnrollMethods()[0]
	}
	if s.locked(w, r, v) {
		return
	}
	ch, err := a.BeginEnroll(ctx, s.authnRequest(w, r, v), method, data)
	var p *authn.Problem
	if errors.As(err, &p) && p.Status == http.StatusBadRequest && len(a.EnrollData()) > 0 {
		// What was wrong is marked on the data step.
		if v.tx.Step != store.StepEnrollData || v.tx.Authenticator != a.Key() {
			if !s.advance(w, ctx, v, func(t *store.Transaction) {
				t.Step, t.Authenticator, t.Method, t.Pending = store.StepEnrollData, a.Key(), "", nil
			}) {
				return
			}
		}
		s.problem(w, r, v, err, "")
		return
	}
	if err != nil {
		s.problem(w, r, v, err, "starting an enrollment")
		return
	}
	now := s.now()
	if s.advance(w, ctx, v, func(t *store.Transaction) {
		t.Step, t.Authenticator, t.Method, t.EnrollmentID = store.StepEnrollChallenge, a.Key(), method, ""
		t.ChallengeID, t.LastSentAt, t.Pending = ch.ID, now, ch.Data
		// A release from before authenticators kept the number being enrolled here.
		t.PendingPhone = ch.Data["phoneNumber"]
	}) {
		if a.Sends() {
			s.log.InfoContext(ctx, "enrollment code queued", append(logAttrs(v), "method", method, "message_id", ch.MessageID)...)
		}
		s.respond(w, http.StatusOK, v)
	}
}

// ---- answer ----

// answer checks a code: challenge-authenticator and enroll-authenticator
// (docs/protocol.md). Every attempt is counted before the check, on a counter per
// user that resends do not reset and every authenticator shares, so parallel
// guesses cannot exceed the limit; at the limit the open codes are voided and the
// user's factors locked. A right code is consumed atomically, so it works once.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, v *view, req *request) {
	if v.tx.Authenticator == authn.KeyPassword {
		s.setNewPassword(w, r, v, req)
		return
	}
	ctx := r.Context()
	code := trimmed(req.Credentials.Passcode)
	if code == "" {
		v.onField("passcode", msgFieldBlank)
		s.respond(w, http.StatusBadRequest, v)
		return
	}
	a := s.authenticator(v.tx.Authenticator)
	if a == nil {
		s.fail(w, http.StatusBadRequest, v, msgUnknownAuthenticator)
		return
	}
	now := s.now()
	attemptKey := s.attemptKey(v)
	attempts, err := s.store.UpdateThrottle(ctx, attemptKey, func(t store.Throttle) (store.Throttle, error) {
		if now.Before(t.BlockedUntil) {
			return t, errLocked
		}
		if t.Count >= s.settings.MaxAttempts {
			// The lockout is over: start counting afresh.
			t.Count = 0
		}
		if !t.LastAt.IsZero() && now.Sub(t.LastAt) > attemptWindow {
			t.Count = 0
		}
		t.Count++
		t.LastAt = now
		t.ExpiresAt = now.Add(attemptWindow)
		return t, nil
	})
	if errors.Is(err, errLocked) {
		s.metrics.SignIn(metrics.SignInLocked)
		s.fail(w, http.StatusTooManyRequests, v, msgFactorLocked(attempts.BlockedUntil, now))
		return
	}
	if err != nil {
		s.serverError(ctx, w, "counting a code attempt", err)
		return
	}
	areq := s.authnRequest(w, r, v)
	ch := authn.Challenge{ID: v.tx.ChallengeID, Data: v.tx.Pending}
	enrolling := v.tx.Step == store.StepEnrollChallenge
	var enrolled authn.Enrollment
	// A right code is recorded with the write that uses it up (the authenticator
	// makes that write first).
	verified := eventlog.Attach(ctx, s.mfaEvent(v, a, store.OutcomeSuccess, ""))
	if enrolling {
		enrolled, err = a.FinishEnroll(verified, areq, v.tx.Method, ch, code)
	} else {
		err = a.Verify(verified, areq, authn.Enrollment{ID: v.tx.EnrollmentID}, ch, code)
	}
	switch {
	case err == nil:
	case errors.Is(err, authn.ErrWrongCode), errors.Is(err, authn.ErrCodeGone), errors.Is(err, authn.ErrCodeUsed):
		msg := msgPasscodeInvalid
		switch {
		case errors.Is(err, authn.ErrCodeGone):
			msg = msgPasscodeExpired
		case errors.Is(err, authn.ErrCodeUsed):
			msg = msgPasscodeUsed
		}
		failed := s.mfaEvent(v, a, store.OutcomeFailure, codeFailureReason(err))
		if attempts.Count >= s.settings.MaxAttempts {
			until := now.Add(s.settings.Lockout)
			locked := eventlog.Event{Type: eventlog.TypeLock, Result: store.OutcomeSuccess, Severity: "WARN",
				Reason: fmt.Sprintf("%d wrong codes", attempts.Count), Debug: map[string]string{"lockedUntil": until.UTC().Format(time.RFC3339)}}
			if _, err := s.store.UpdateThrottle(eventlog.Attach(ctx, failed, locked), attemptKey, func(t store.Throttle) (store.Throttle, error) {
				t.BlockedUntil = until
				t.ExpiresAt = until.Add(attemptWindow)
				return t, nil
			}); err != nil {
				s.serverError(ctx, w, "locking the factors", err)
				return
			}
			if err := s.store.InvalidateChallenges(ctx, v.tx.ID); err != nil {
				s.log.ErrorContext(ctx, "idx: voiding codes after a lockout", "err", err)
			}
			s.log.WarnContext(ctx, "factors locked after too many wrong codes", logAttrs(v)...)
			s.metrics.SignIn(metrics.SignInLocked)
			s.fail(w, http.StatusTooManyRequests, v, msgFactorLocked(until, now))
			return
		}
		s.log.InfoContext(ctx, "wrong code", append(logAttrs(v), "authenticator", a.Key(), "attempt", attempts.Count)...)
		s.metrics.SignIn(metrics.SignInCodeFailed)
		if err := eventlog.Append(ctx, s.store, failed); err != nil {
			s.log.ErrorContext(ctx, "system log: recording a wrong code", "err", err)
		}
		v.onField("passcode", msg)
		s.respond(w, http.StatusUnauthorized, v)
		return
	default:
		s.problem(w, r, v, err, "checking a code")
		return
	}
	// Right code: the failure count starts again. (The counter is not locked out:
	// it was checked above, in this transaction, which still holds its row.)
	if err := s.store.DeleteThrottle(ctx, attemptKey); err != nil {
		s.log.ErrorContext(ctx, "idx: resetting the code attempt counter", "err", err)
	}
	if enrolling {
		s.log.InfoContext(ctx, "authenticator enrolled", append(logAttrs(v), "authenticator", a.Key(), "enrollment_id", enrolled.ID)...)
	}
	amr := policy.AMR(a.AMR(v.tx.Method))
	if v.tx.Flow == store.FlowRecovery {
		// The phone is proven: the user may now choose a new password.
		if s.advance(w, ctx, v, func(t *store.Transaction) {
			t.Step, t.AMR, t.ChallengeID, t.Authenticator = store.StepResetPassword, amr, "", authn.KeyPassword
		}) {
			s.respond(w, http.StatusOK, v)
		}
		return
	}
	s.complete(w, r, v, amr)
}

// mfaEvent records a code checked for the sign-in's authenticator.
func (s *Server) mfaEvent(v *view, a authn.Authenticator, result, why string) eventlog.Event {
	return eventlog.Event{Type: eventlog.TypeMFA, Result: result, Reason: why,
		Targets: []store.LogTarget{eventlog.Factor(v.tx.EnrollmentID, a.Key(), a.DisplayName())},
		Debug:   map[string]string{"authenticator": a.Key(), "method": v.tx.Method, "enrollment": strconv.FormatBool(v.tx.Step == store.StepEnrollChallenge)}}
}

// codeFailureReason is the outcome reason of a code refused with err.
func codeFailureReason(err error) string {
	switch {
	case errors.Is(err, authn.ErrCodeGone):
		return "the code expired or was replaced"
	case errors.Is(err, authn.ErrCodeUsed):
		return "the code was used already"
	}
	return "INVALID_CREDENTIALS"
}

// attemptWindow: wrong codes further apart than this do not add up to a lockout.
const attemptWindow = 15 * time.Minute

var errLocked = errors.New("factors locked")

// attemptKey is the counter of wrong codes the transaction's user is held to: the
// user's, or for a recovery of a login that names no user, the login's.
func (s *Server) attemptKey(v *view) string {
	if v.tx.UserID == "" {
		return throttle.PhoneAttempts("recovery:" + v.tx.Pending["login"]).String()
	}
	return throttle.PhoneAttempts(v.tx.UserID).String()
}

// locked answers 429 when the user's factors are locked after wrong codes.
func (s *Server) locked(w http.ResponseWriter, r *http.Request, v *view) bool {
	ctx := r.Context()
	now := s.now()
	lock, err := s.store.GetThrottle(ctx, s.attemptKey(v))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.serverError(ctx, w, "reading the lockout", err)
		return true
	}
	if now.Before(lock.BlockedUntil) {
		s.fail(w, http.StatusTooManyRequests, v, msgFactorLocked(lock.BlockedUntil, now))
		return true
	}
	return false
}

// complete finishes the sign-in: it stores the interaction code (by hash) and moves
// the transaction to SUCCESS, which lives as long as the code.
func (s *Server) complete(w http.ResponseWriter, r *http.Request, v *view, amr []string) {
	ctx := r.Context()
	now := s.now()
	expires := now.Add(s.settings.InteractionCodeTTL)
	tx := v.tx
	tx.AMR = amr
	code := interactionCode(v.stateHandle, tx)
	// The sign-in starts an SSO session: the cookie lets /v1/authorize sign this
	// browser in to other clients, and the tokens name it (sid) so that logout
	// reaches them.
	sess, err := s.sessions.Start(ctx, w, v.stateHandle+"|"+strconv.FormatInt(tx.AuthTime.UnixMilli(), 10), tx.UserID, tx.AuthTime, amr, tx.ClientID)
	if err != nil {
		s.serverError(ctx, w, "starting the session", err)
		return
	}
	ic := store.InteractionCode{
		CodeHash: opaque.Hash(code), TransactionID: tx.ID, ClientID: tx.ClientID, RedirectURI: tx.RedirectURI,
		CodeChallenge: tx.CodeChallenge, UserID: tx.UserID, Scopes: tx.Scopes, Nonce: tx.Nonce,
		AuthTime: tx.AuthTime, AMR: amr, CreatedAt: now, ExpiresAt: expires,
		SessionID: sess.ID, GrantType: tx.GrantType,
	}
	if err := s.store.CreateInteractionCode(ctx, ic); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		s.serverError(ctx, w, "storing an interaction code", err)
		return
	}
	step := v.tx.Step
	if !s.advanceIf(w, ctx, v, func(t store.Transaction) bool { return t.Step == step }, func(t *store.Transaction) {
		t.Step, t.AMR, t.InteractionCodeHash, t.ChallengeID, t.ExpiresAt = store.StepSuccess, amr, ic.CodeHash, "", expires
		t.Pending = nil
	}) {
		return
	}
	s.rememberSources(ctx, v.tx.UserID, s.source(w, r))
	s.log.InfoContext(ctx, "sign-in succeeded", append(logAttrs(v), "amr", strings.Join(amr, " "))...)
	s.metrics.SignIn(metrics.SignInSucceeded)
	s.respond(w, http.StatusOK, v)
}

// ---- resend ----

// resend sends a new code by the same method to the same number; the old code
// stops working (docs/protocol.md).
func (s *Server) resend(w http.ResponseWriter, r *http.Request, v *view, _ *request) {
	ctx := r.Context()
	a := s.authenticator(v.tx.Authenticator)
	if s.locked(w, r, v) {
		return
	}
	var ch authn.Challenge
	var err error
	if v.tx.Step == store.StepChallenge {
		e, ok := v.current()
		if !ok {
			s.fail(w, http.StatusBadRequest, v, msgUnknownAuthenticator)
			return
		}
		var areq authn.Request
		areq, e, err = s.challengeTarget(ctx, w, r, v, a, e, v.tx.Method)
		if err != nil {
			s.serverError(ctx, w, "finding the enrollment to challenge", err)
			return
		}
		ch, err = a.Challenge(ctx, areq, e, v.tx.Method)
	} else {
		ch, err = a.BeginEnroll(ctx, s.authnRequest(w, r, v), v.tx.Method, v.tx.Pending)
	}
	if err != nil {
		s.problem(w, r, v, err, "sending a new code")
		return
	}
	now := s.now()
	if s.advance(w, ctx, v, func(t *store.Transaction) {
		t.ChallengeID, t.LastSentAt = ch.ID, now
		if ch.Data != nil {
			t.Pending = ch.Data
		}
	}) {
		s.log.InfoContext(ctx, "code queued again", append(logAttrs(v), "method", v.tx.Method, "message_id", ch.MessageID)...)
		s.respond(w, http.StatusOK, v)
	}
}

// ---- cancel ----

// cancel abandons progress and returns a fresh IDENTIFY state bound to the same
// interaction, since the Go IDX SDK re-introspects with it (docs/protocol.md).
func (s *Server) cancel(w http.ResponseWriter, r *http.Request, v *view, _ *request) {
	ctx := r.Context()
	// The codes first, then the transaction: the order in which every step locks
	// them (a challenge or the interaction code before the transaction row), so
	// that a cancel racing an answer or a token request on PostgreSQL waits for it
	// instead of deadlocking. A cancel that then loses the race to another step
	// (409) has still voided the codes the user asked to abandon.
	if err := s.store.InvalidateChallenges(ctx, v.tx.ID); err != nil {
		s.log.ErrorContext(ctx, "idx: voiding codes on cancel", "err", err)
	}
	if codeHash := v.tx.InteractionCodeHash; codeHash != "" {
		now := s.now()
		_, err := s.store.UpdateInteractionCode(ctx, codeHash, func(c store.InteractionCode) (store.InteractionCode, error) {
			if c.UsedAt.IsZero() {
				c.UsedAt = now // an unredeemed code dies with the sign-in it ended
			}
			return c, nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.ErrorContext(ctx, "idx: voiding the interaction code on cancel", "err", err)
		}
	}
	if !s.advance(w, ctx, v, func(t *store.Transaction) {
		t.Step = store.StepIdentify
		t.UserID, t.AuthTime, t.AMR = "", time.Time{}, nil
		t.EnrollmentID, t.Method, t.PendingPhone, t.ChallengeID = "", "", "", ""
		t.LastSentAt, t.InteractionCodeHash = time.Time{}, ""
		t.Flow, t.Authenticator, t.Pending = "", "", nil
	}) {
		return
	}
	v.user, v.enrollments = nil, nil
	s.log.InfoContext(ctx, "sign-in cancelled", logAttrs(v)...)
	s.metrics.SignIn(metrics.SignInCancelled)
	s.respond(w, http.StatusOK, v)
}

// ---- shared ----

// authnRequest describes the transaction to an authenticator.
func (s *Server) authnRequest(w http.ResponseWriter, r *http.Request, v *view) authn.Request {
	src := s.source(w, r)
	req := authn.Request{TransactionID: v.tx.ID, UserID: v.tx.UserID, IP: src.ip, Login: v.tx.Pending["login"]}
	if v.user != nil {
		req.Login = v.user.Login
	}
	req.KnownSource = func() (bool, error) {
		_, known, err := s.knownSource(r.Context(), req.UserID, src)
		return known, err
	}
	return req
}

// problem answers an authenticator's refusal (an *authn.Problem) as the current
// state with its message, or a server error for anything else.
func (s *Server) problem(w http.ResponseWriter, r *http.Request, v *view, err error, doing string) {
	var p *authn.Problem
	if !errors.As(err, &p) {
		s.serverError(r.Context(), w, doing, err)
		return
	}
	if p.Limit != nil {
		p.Limit.WriteHeaders(w.Header(), s.now())
	}
	msg := fromAuthn(p.Message)
	if p.Field != "" {
		v.onField(p.Field, msg)
		s.respond(w, p.Status, v)
		return
	}
	s.fail(w, p.Status, v, msg)
}

func fromAuthn(m authn.Message) Message { return errorMessage(m.Key, m.Text, m.Params...) }
