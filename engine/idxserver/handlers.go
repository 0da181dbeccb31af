package idxserver

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/metrics"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/policy"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// ---- request bodies ----

type stateHandleField struct {
	StateHandle string `json:"stateHandle"`
}

func (f stateHandleField) handle() string { return f.StateHandle }

type credentials struct {
	Passcode string `json:"passcode"`
}

type identifyRequest struct {
	stateHandleField
	Identifier  string      `json:"identifier"`
	Credentials credentials `json:"credentials"`
	RememberMe  *bool       `json:"rememberMe"`
}

type authenticatorChoice struct {
	ID           string `json:"id"`
	EnrollmentID string `json:"enrollmentId"`
	MethodType   string `json:"methodType"`
	PhoneNumber  string `json:"phoneNumber"`
}

type authenticatorRequest struct {
	stateHandleField
	Authenticator authenticatorChoice `json:"authenticator"`
}

type answerRequest struct {
	stateHandleField
	Credentials credentials `json:"credentials"`
}

type actionRequest struct {
	stateHandleField
}

// ---- identify ----

// maxIdentifierLen bounds usernames; longer ones cannot exist.
const maxIdentifierLen = 256

// handleIdentify checks username and password together (docs/protocol.md). An unknown
// user costs the same argon2id verification as a wrong password and gets the same
// answer. Repeated failures for one username make it wait (sign_on.*).
func (s *Server) handleIdentify(w http.ResponseWriter, r *http.Request) {
	var req identifyRequest
	v := s.begin(w, r, &req)
	if v == nil || !s.stepIs(w, v, store.StepIdentify) {
		return
	}
	ctx := r.Context()
	identifier := trimmed(req.Identifier)
	passcode := req.Credentials.Passcode
	if identifier == "" || passcode == "" {
		if identifier == "" {
			v.identifierMessages = []Message{msgFieldBlank}
		}
		if passcode == "" {
			v.passwordMessages = []Message{msgFieldBlank}
		}
		s.respond(w, http.StatusBadRequest, v)
		return
	}
	login := strings.ToLower(identifier)
	now := s.now()
	var user store.User
	var encoded string
	if len(login) <= maxIdentifierLen {
		u, err := s.store.GetUserByLogin(ctx, login)
		switch {
		case err == nil:
			user = u
			cred, err := s.store.GetPassword(ctx, u.ID)
			if err == nil {
				encoded = cred.Hash
			} else if !errors.Is(err, store.ErrNotFound) {
				s.serverError(ctx, w, "loading a password", err)
				return
			}
		case !errors.Is(err, store.ErrNotFound):
			s.serverError(ctx, w, "loading a user", err)
			return
		}
	}
	// Reserve the password check before hashing (docs/security.md, "password
	// guessing"). The budgets are per login, whether or not it names a user, so a
	// refusal says nothing about whether the account exists.
	src := s.source(w, r)
	srcKey := throttle.IPSource(src.ip)
	known := false
	if user.ID != "" {
		var err error
		if k, ok, err2 := s.knownSource(ctx, user.ID, src); err2 != nil {
			err = err2
		} else if ok {
			srcKey, known = k, true
		}
		if err != nil {
			s.serverError(ctx, w, "reading the sign-in's source", err)
			return
		}
	}
	budgets := []throttle.Request{
		{Key: throttle.IdentifyOnTransaction(v.tx.ID), Limit: throttle.Limit{Max: s.limits.IdentifyPerTransaction, Window: s.limits.PasswordPerSource.Window}},
		{Key: throttle.PasswordFromSource(login, srcKey), Limit: s.limits.PasswordPerSource},
	}
	if !known {
		budgets = append(budgets, throttle.Request{Key: throttle.PasswordFromUnknownSources(login), Limit: s.limits.PasswordUnknown})
	}
	d, err := s.limiter.Reserve(ctx, budgets...)
	if err != nil {
		s.serverError(ctx, w, "checking the password limits", err)
		return
	}
	if !d.Allowed {
		limit := map[throttle.Kind]string{throttle.KindIdentifyOnTx: "identify_per_transaction",
			throttle.KindPasswordSource: "password_source", throttle.KindPasswordUnknown: "password_unknown_sources"}[d.Refused.Kind()]
		s.log.WarnContext(ctx, "sign-in refused: password check limit", append(logAttrs(v), "limit", limit, "known_source", known)...)
		s.metrics.SignIn(metrics.SignInRateLimited)
		s.metrics.RateLimited(limit)
		s.limited(w, v, d, msgTooManyRequests)
		return
	}
	result, err := s.hasher.VerifyAs(ctx, src.ip, encoded, passcode)
	switch {
	case errors.Is(err, password.ErrBusy):
		s.log.WarnContext(ctx, "sign-in refused: password hashing queue full", logAttrs(v)...)
		s.metrics.SignIn(metrics.SignInRateLimited)
		s.metrics.RateLimited("hash_queue")
		w.Header().Set("Retry-After", "1")
		s.fail(w, http.StatusTooManyRequests, v, msgTooManyRequests)
		return
	case err != nil && !errors.Is(err, password.ErrTooLong):
		s.serverError(ctx, w, "verifying a password", err)
		return
	}
	if !result.OK || user.Disabled {
		attrs := logAttrs(v)
		if user.ID != "" {
			attrs = append(attrs, "user_id", user.ID)
		}
		s.log.InfoContext(ctx, "sign-in failed: wrong username or password", attrs...)
		s.metrics.SignIn(metrics.SignInPasswordFailed)
		s.fail(w, http.StatusUnauthorized, v, msgAuthenticationFailed)
		return
	}
	if result.NeedsRehash {
		go s.rehash(user.ID, passcode)
	}
	if d.Counts[1] > 1 {
		// Earlier checks from this source no longer count. (This one does, until its
		// window ends: a delete for every sign-in would cost more than it gives.)
		if err := s.limiter.Reset(ctx, throttle.PasswordFromSource(login, srcKey)); err != nil {
			s.log.ErrorContext(ctx, "idx: forgetting password failures", "err", err)
		}
	}

	phones, err := s.store.ListPhoneEnrollments(ctx, user.ID)
	if err != nil {
		s.serverError(ctx, w, "loading phones", err)
		return
	}
	v.user, v.phones = &user, s.policy.UsablePhones(phones)
	decision := s.policy.AfterPassword(phones)
	if decision == policy.Deny {
		s.log.InfoContext(ctx, "sign-in denied: the policy needs a phone and enrollment is off", "transaction", v.tx.ID, "user_id", user.ID)
		s.metrics.SignIn(metrics.SignInDenied)
		s.write(w, http.StatusForbidden, Response{Version: idxVersion, StateHandle: v.stateHandle,
			ExpiresAt: formatExpiry(v.tx.ExpiresAt), Intent: "LOGIN", Messages: list(msgAccessDenied)})
		return
	}
	if !s.advance(w, ctx, v, func(t *store.Transaction) {
		t.UserID, t.AuthTime, t.AMR = user.ID, now, policy.AMR("")
		switch decision {
		case policy.VerifyPhone:
			t.Step = store.StepSelectAuthenticator
		case policy.EnrollPhone:
			t.Step = store.StepSelectEnroll
		case policy.Done:
			t.Step = store.StepSuccess
		}
	}) {
		return
	}
	s.log.InfoContext(ctx, "password verified", logAttrs(v)...)
	if decision == policy.Done {
		s.complete(w, r, v, "")
		return
	}
	s.respond(w, http.StatusOK, v)
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

// handleChallenge serves both select-authenticator-authenticate and
// authenticator-verification-data, which post to the same URL (docs/protocol.md): with
// a methodType a code is sent at once; without one the method choice is asked for.
func (s *Server) handleChallenge(w http.ResponseWriter, r *http.Request) {
	var req authenticatorRequest
	v := s.begin(w, r, &req)
	if v == nil || !s.stepIs(w, v, store.StepSelectAuthenticator, store.StepVerifyData, store.StepChallenge) {
		return
	}
	ctx := r.Context()
	a := req.Authenticator
	if a.ID != s.phoneAuthID || len(v.phones) == 0 {
		s.fail(w, http.StatusBadRequest, v, msgUnknownAuthenticator)
		return
	}
	// Pick the enrollment: the one named, else the one already chosen, else the first
	// (okta-auth-js sends only the authenticator id when the app picks by key).
	var chosen *store.PhoneEnrollment
	wanted := a.EnrollmentID
	if wanted == "" && v.tx.EnrollmentID != "" {
		wanted = v.tx.EnrollmentID
	}
	for i := range v.phones {
		if wanted == "" || v.phones[i].ID == wanted {
			chosen = &v.phones[i]
			break
		}
	}
	if chosen == nil {
		s.fail(w, http.StatusBadRequest, v, msgUnknownAuthenticator)
		return
	}
	if a.MethodType == "" {
		if s.advance(w, ctx, v, func(t *store.Transaction) {
			t.Step, t.EnrollmentID, t.Method = store.StepVerifyData, chosen.ID, ""
		}) {
			s.respond(w, http.StatusOK, v)
		}
		return
	}
	if !slices.Contains(s.policy.Methods(*chosen), a.MethodType) {
		s.fail(w, http.StatusBadRequest, v, msgMethodUnavailable)
		return
	}
	queued, ok := s.sendCode(w, r, v, chosen.Number, a.MethodType, true)
	if !ok {
		return
	}
	now := s.now()
	if s.advance(w, ctx, v, func(t *store.Transaction) {
		t.Step, t.EnrollmentID, t.Method, t.ChallengeID, t.LastSentAt = store.StepChallenge, chosen.ID, a.MethodType, queued.challengeID, now
	}) {
		s.log.InfoContext(ctx, "code queued", append(logAttrs(v), "method", a.MethodType, "message_id", queued.messageID)...)
		s.respond(w, http.StatusOK, v)
	}
}

// ---- enrollment ----

// handleEnroll serves select-authenticator-enroll and authenticator-enrollment-data
// (docs/protocol.md). The phone is only stored once its code is verified.
func (s *Server) handleEnroll(w http.ResponseWriter, r *http.Request) {
	var req authenticatorRequest
	v := s.begin(w, r, &req)
	if v == nil || !s.stepIs(w, v, store.StepSelectEnroll, store.StepEnrollData, store.StepEnrollChallenge) {
		return
	}
	ctx := r.Context()
	a := req.Authenticator
	if a.ID != s.phoneAuthID {
		s.fail(w, http.StatusBadRequest, v, msgUnknownAuthenticator)
		return
	}
	if a.MethodType == "" && a.PhoneNumber == "" {
		if s.advance(w, ctx, v, func(t *store.Transaction) {
			t.Step, t.PendingPhone, t.Method = store.StepEnrollData, "", ""
		}) {
			s.respond(w, http.StatusOK, v)
		}
		return
	}
	// From here on the answer is the data step, with what was wrong marked on it.
	dataStep := func(status int, onPhone bool, msg Message) {
		if v.tx.Step != store.StepEnrollData {
			if !s.advance(w, ctx, v, func(t *store.Transaction) { t.Step = store.StepEnrollData }) {
				return
			}
		}
		if onPhone {
			v.phoneMessages = []Message{msg}
		} else {
			v.messages = []Message{msg}
		}
		s.respond(w, status, v)
	}
	if a.PhoneNumber == "" {
		dataStep(http.StatusBadRequest, true, msgFieldBlank)
		return
	}
	if !slices.Contains(s.policy.EnrollMethods(), a.MethodType) {
		dataStep(http.StatusBadRequest, false, msgMethodUnavailable)
		return
	}
	number, err := phone.ParseNumber(a.PhoneNumber, s.settings.DefaultRegion)
	if errors.Is(err, phone.ErrRefusedNumber) {
		s.metrics.SendRefused(RefusedNumberType)
		dataStep(http.StatusBadRequest, false, msgRefusedPhone)
		return
	}
	if err == nil && s.limits.Regions.Check(number) != nil {
		s.metrics.SendRefused(RefusedRegion)
		dataStep(http.StatusBadRequest, false, msgRegionRefused)
		return
	}
	if err != nil {
		dataStep(http.StatusBadRequest, false, msgInvalidPhone)
		return
	}
	// A number the user has already verified is their own, not an enrollment.
	verified := slices.ContainsFunc(v.phones, func(e store.PhoneEnrollment) bool { return e.Number == number })
	queued, ok := s.sendCode(w, r, v, number, a.MethodType, verified)
	if !ok {
		return
	}
	now := s.now()
	if s.advance(w, ctx, v, func(t *store.Transaction) {
		t.Step, t.PendingPhone, t.Method, t.ChallengeID, t.LastSentAt = store.StepEnrollChallenge, number, a.MethodType, queued.challengeID, now
	}) {
		s.log.InfoContext(ctx, "enrollment code queued", append(logAttrs(v), "method", a.MethodType, "message_id", queued.messageID)...)
		s.respond(w, http.StatusOK, v)
	}
}

// ---- answer ----

// handleAnswer checks a one-time code (docs/protocol.md). Every attempt is counted
// before the check, on a counter per user that resends do not reset, so parallel
// guesses cannot exceed the limit; at the limit the code is voided and the phone
// factor locked. The right code is consumed atomically, so it works once.
func (s *Server) handleAnswer(w http.ResponseWriter, r *http.Request) {
	var req answerRequest
	v := s.begin(w, r, &req)
	if v == nil || !s.stepIs(w, v, store.StepChallenge, store.StepEnrollChallenge) {
		return
	}
	ctx := r.Context()
	code := phone.NormalizeCode(trimmed(req.Credentials.Passcode))
	if code == "" {
		v.passcodeMessages = []Message{msgFieldBlank}
		s.respond(w, http.StatusBadRequest, v)
		return
	}
	now := s.now()
	attemptKey := throttle.PhoneAttempts(v.tx.UserID).String()
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

	_, err = s.store.UpdateChallenge(ctx, v.tx.ChallengeID, func(c store.Challenge) (store.Challenge, error) {
		switch {
		case c.TransactionID != v.tx.ID || c.Invalidated || !c.ConsumedAt.IsZero():
			return c, errCodeGone
		case !now.Before(c.ExpiresAt):
			return c, errCodeGone
		case len(code) > 32 || !phone.CheckCode(s.otpKey, c.ID, code, c.CodeMAC):
			return c, errWrongCode
		}
		c.ConsumedAt = now
		return c, nil
	})
	switch {
	case err == nil:
	case errors.Is(err, errWrongCode), errors.Is(err, errCodeGone), errors.Is(err, store.ErrNotFound):
		msg := msgPasscodeInvalid
		if !errors.Is(err, errWrongCode) {
			msg = msgPasscodeExpired
		}
		if attempts.Count >= s.settings.MaxAttempts {
			until := now.Add(s.settings.Lockout)
			if _, err := s.store.UpdateThrottle(ctx, attemptKey, func(t store.Throttle) (store.Throttle, error) {
				t.BlockedUntil = until
				t.ExpiresAt = until.Add(attemptWindow)
				return t, nil
			}); err != nil {
				s.serverError(ctx, w, "locking the phone factor", err)
				return
			}
			if err := s.store.InvalidateChallenges(ctx, v.tx.ID); err != nil {
				s.log.ErrorContext(ctx, "idx: voiding codes after a lockout", "err", err)
			}
			s.log.WarnContext(ctx, "phone factor locked after too many wrong codes", logAttrs(v)...)
			s.metrics.SignIn(metrics.SignInLocked)
			s.fail(w, http.StatusTooManyRequests, v, msgFactorLocked(until, now))
			return
		}
		s.log.InfoContext(ctx, "wrong code", append(logAttrs(v), "attempt", attempts.Count)...)
		s.metrics.SignIn(metrics.SignInCodeFailed)
		v.passcodeMessages = []Message{msg}
		s.respond(w, http.StatusUnauthorized, v)
		return
	default:
		s.serverError(ctx, w, "checking a code", err)
		return
	}
	// Right code: the failure count starts again.
	if _, err := s.store.UpdateThrottle(ctx, attemptKey, func(t store.Throttle) (store.Throttle, error) {
		t.Count = 0
		return t, nil
	}); err != nil {
		s.log.ErrorContext(ctx, "idx: resetting the code attempt counter", "err", err)
	}
	if v.tx.Step == store.StepEnrollChallenge {
		// The number takes the methods the policy allows now; it was proven by one
		// of them, so it is verified before it counts.
		e := store.PhoneEnrollment{ID: opaque.ID("sms"), UserID: v.tx.UserID, Number: v.tx.PendingPhone,
			SMS: s.policy.SMS, Voice: s.policy.Voice, CreatedAt: now}
		if err := s.store.CreatePhoneEnrollment(ctx, e); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
			s.serverError(ctx, w, "storing the new phone", err)
			return
		}
		s.log.InfoContext(ctx, "phone enrolled", append(logAttrs(v), "enrollment_id", e.ID)...)
	}
	s.complete(w, r, v, v.tx.Method)
}

// attemptWindow: wrong codes further apart than this do not add up to a lockout.
const attemptWindow = 15 * time.Minute

var (
	errLocked    = errors.New("phone factor locked")
	errWrongCode = errors.New("wrong code")
	errCodeGone  = errors.New("code expired or replaced")
)

// complete finishes the sign-in: it stores the interaction code (by hash) and moves
// the transaction to SUCCESS, which lives as long as the code.
func (s *Server) complete(w http.ResponseWriter, r *http.Request, v *view, method string) {
	ctx := r.Context()
	now := s.now()
	amr := policy.AMR(method)
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
	}) {
		return
	}
	s.rememberSources(ctx, v.tx.UserID, s.source(w, r))
	s.log.InfoContext(ctx, "sign-in succeeded", append(logAttrs(v), "amr", strings.Join(amr, " "))...)
	s.metrics.SignIn(metrics.SignInSucceeded)
	s.respond(w, http.StatusOK, v)
}

// ---- resend ----

// handleResend sends a new code by the same method to the same number; the old code
// stops working (docs/protocol.md).
func (s *Server) handleResend(w http.ResponseWriter, r *http.Request) {
	var req actionRequest
	v := s.begin(w, r, &req)
	if v == nil {
		return
	}
	if v.tx.Step != store.StepChallenge && v.tx.Step != store.StepEnrollChallenge {
		if v.tx.Step == store.StepSuccess {
			s.fail(w, http.StatusBadRequest, v, msgSignInFinished)
			return
		}
		s.fail(w, http.StatusBadRequest, v, msgNothingToResend)
		return
	}
	ctx := r.Context()
	number := v.tx.PendingPhone
	if v.tx.Step == store.StepChallenge {
		e, ok := v.enrollment()
		if !ok {
			s.fail(w, http.StatusBadRequest, v, msgUnknownAuthenticator)
			return
		}
		number = e.Number
	}
	queued, ok := s.sendCode(w, r, v, number, v.tx.Method, v.tx.Step == store.StepChallenge)
	if !ok {
		return
	}
	now := s.now()
	if s.advance(w, ctx, v, func(t *store.Transaction) { t.ChallengeID, t.LastSentAt = queued.challengeID, now }) {
		s.log.InfoContext(ctx, "code queued again", append(logAttrs(v), "method", v.tx.Method, "message_id", queued.messageID)...)
		s.respond(w, http.StatusOK, v)
	}
}

// ---- cancel ----

// handleCancel abandons progress and returns a fresh IDENTIFY state bound to the same
// interaction, since the Go IDX SDK re-introspects with it (docs/protocol.md).
func (s *Server) handleCancel(w http.ResponseWriter, r *http.Request) {
	var req actionRequest
	v := s.begin(w, r, &req)
	if v == nil {
		return
	}
	ctx := r.Context()
	codeHash := v.tx.InteractionCodeHash
	if !s.advance(w, ctx, v, func(t *store.Transaction) {
		t.Step = store.StepIdentify
		t.UserID, t.AuthTime, t.AMR = "", time.Time{}, nil
		t.EnrollmentID, t.Method, t.PendingPhone, t.ChallengeID = "", "", "", ""
		t.LastSentAt, t.InteractionCodeHash = time.Time{}, ""
	}) {
		return
	}
	if err := s.store.InvalidateChallenges(ctx, v.tx.ID); err != nil {
		s.log.ErrorContext(ctx, "idx: voiding codes on cancel", "err", err)
	}
	if codeHash != "" {
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
	v.user, v.phones = nil, nil
	s.log.InfoContext(ctx, "sign-in cancelled", logAttrs(v)...)
	s.metrics.SignIn(metrics.SignInCancelled)
	s.respond(w, http.StatusOK, v)
}
