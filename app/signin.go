package app

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/idx"
)

// The sign-in pages, one per kind of step.
const (
	pathSignIn      = "/login"
	pathSelect      = "/login/authenticator"
	pathPhone       = "/login/phone"
	pathEnroll      = "/login/enroll"
	pathCode        = "/login/code"
	pathTOTP        = "/login/totp"
	pathRecover     = "/login/recover"
	pathRegister    = "/login/register"
	pathPassword    = "/login/password"
	pathUnsupported = "/login/unsupported"

	// The sign-in page's links post here to start the other flows.
	pathRecoverStart  = "/login/recover/start"
	pathRegisterStart = "/login/register/start"
)

// Step names of the IDX remediations the pages handle.
const (
	stepIdentify         = "identify"
	stepIdentifyRecovery = "identify-recovery"
	stepEnrollProfile    = "enroll-profile"
	stepSelect           = "select-authenticator-authenticate"
	stepSelectEnroll     = "select-authenticator-enroll"
	stepVerificationData = "authenticator-verification-data"
	stepEnrollmentData   = "authenticator-enrollment-data"
	stepChallenge        = "challenge-authenticator"
	stepEnrollChallenge  = "enroll-authenticator"
	stepResetPassword    = "reset-authenticator"
	stepReenrollPassword = "reenroll-authenticator" // the password expired
)

// Keys of the authenticators the pages handle.
const (
	keyPassword = "okta_password"
	keyPhone    = "phone_number"
	keyTOTP     = "google_otp" // Google Authenticator and other TOTP apps
)

// pageFor is the page that handles a step of a transaction in flow. Steps
// this app does not know (an Okta org may offer other authenticators) land
// on a page that says so.
func pageFor(step *idx.NextStep, flow idx.Flow) string {
	key := ""
	if step.Authenticator != nil {
		key = step.Authenticator.Key
	}
	switch step.Name {
	case stepIdentify:
		return pathSignIn
	case stepIdentifyRecovery:
		return pathRecover
	case stepEnrollProfile:
		return pathRegister
	case stepSelectEnroll:
		if flow == idx.FlowRegister && offersKey(step, keyPassword) && len(optionsFor(step)) == 0 {
			// A new account's password, not chosen yet: giving one
			// chooses the password authenticator. (A choice offering
			// other factors too may list the password as an artefact,
			// after it was set.)
			return pathPassword
		}
		return pathSelect
	case stepSelect:
		return pathSelect
	case stepVerificationData:
		return pathPhone
	case stepEnrollmentData:
		return pathEnroll
	case stepResetPassword, stepReenrollPassword:
		return pathPassword
	case stepChallenge, stepEnrollChallenge:
		switch {
		case key == keyTOTP:
			return pathTOTP
		case key == keyPassword && step.Name == stepEnrollChallenge:
			return pathPassword
		case key == keyPassword:
			return pathUnsupported // the password is asked for on the sign-in page
		}
		return pathCode
	default:
		return pathUnsupported
	}
}

// pageOf is the page of a PENDING transaction's next step.
func pageOf(tx *idx.Transaction) string {
	var flow idx.Flow
	if tx.State != nil {
		flow = tx.State.Flow
	}
	return pageFor(tx.NextStep, flow)
}

// offersKey reports whether a choice step has an option for the
// authenticator key.
func offersKey(step *idx.NextStep, key string) bool {
	for _, in := range step.Inputs {
		for _, o := range in.Options {
			if in.Name == "authenticator" && o.Value == key {
				return true
			}
		}
	}
	return false
}

// visit is one request's session: its id (empty while nothing is stored)
// and data.
type visit struct {
	id   string
	sess *Session
	// dropCookie is set when the stored session was deleted (rotate): the
	// browser's session cookie is cleared unless a new session replaces it.
	dropCookie bool
}

// load returns the request's session, or a fresh empty one.
func (s *server) load(r *http.Request) *visit {
	id := s.cookies.read(r)
	if id == "" {
		return &visit{sess: &Session{}}
	}
	sess, err := s.sessions.Load(r.Context(), storeKey(id))
	if err != nil {
		if !errors.Is(err, ErrSessionNotFound) {
			s.log.Error("loading session", "err", err)
		}
		return &visit{sess: &Session{}}
	}
	return &visit{id: id, sess: sess}
}

// save stores the session. A session is created only when there is
// something to keep between requests — a sign-in in progress, which only
// signIn starts, or tokens — so that no anonymous request (a page, a cancel,
// a form post that starts nothing) stores anything on the server. Without a
// stored session, a notice for the next page travels in a signed cookie
// instead. A failure is logged and reported; the page shown then says to
// try again.
func (s *server) save(w http.ResponseWriter, r *http.Request, v *visit) bool {
	if v.id == "" {
		if v.sess.State == nil && v.sess.Redirect == nil && !v.sess.signedIn() {
			if v.dropCookie {
				s.cookies.clear(w)
			}
			if n := v.takeNotice(); n != nil {
				s.notices.set(w, n)
			}
			return true
		}
		v.id = newSessionID()
		v.sess.ClientIP = clientOf(r)
		s.cookies.set(w, v.id)
	}
	if err := s.sessions.Save(r.Context(), storeKey(v.id), v.sess, s.idleTimeout); err != nil {
		s.log.Error("saving session", "err", err)
		s.renderMessage(w, http.StatusServiceUnavailable, "Please try again",
			"We couldn't keep track of your sign-in just now. Wait a moment and try again.")
		return false
	}
	return true
}

// rotate gives the session a new id, so an id planted or seen before the
// sign-in (session fixation) is worthless afterwards.
func (s *server) rotate(w http.ResponseWriter, r *http.Request, v *visit) {
	if v.id != "" {
		if err := s.sessions.Delete(r.Context(), storeKey(v.id)); err != nil {
			s.log.Error("deleting session", "err", err)
		}
		v.dropCookie = true
	}
	v.id = ""
}

// redirectWith saves the session (with an optional notice for the next
// page) and redirects with 303, so reloading never re-posts a form.
func (s *server) redirectWith(w http.ResponseWriter, r *http.Request, v *visit, to string, n *notice) {
	if n != nil {
		v.sess.Notice = n
	}
	if !s.save(w, r, v) {
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// takeNotice removes and returns the session's one-time notice.
func (v *visit) takeNotice() *notice {
	n := v.sess.Notice
	v.sess.Notice = nil
	return n
}

// signInPage is page 1: username and password.
func (s *server) signInPage(w http.ResponseWriter, r *http.Request) {
	v := s.load(r)
	if v.sess.signedIn() {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.checkOffers(r)
	page := &view{Title: "Sign in", Step: 1, CSRF: s.forms.issue(w, r)}
	page.Input.Username = v.sess.Username
	if n := v.takeNotice(); n != nil {
		page.Notice = n
		if !s.save(w, r, v) {
			return
		}
	} else if v.id == "" {
		page.Notice = s.notices.take(w, r)
	}
	s.render(w, http.StatusOK, "signin", page)
}

// signIn posts the username and password.
func (s *server) signIn(w http.ResponseWriter, r *http.Request) {
	v := s.load(r)
	if v.sess.signedIn() {
		// A stale sign-in page from before: the user is signed in already.
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	username := strings.TrimSpace(r.PostFormValue("username"))
	password := r.PostFormValue("password")
	errs := newFormErrors()
	status := http.StatusUnprocessableEntity
	switch {
	case !s.forms.valid(r):
		// No token, or one for another form cookie: a forged post, or a
		// page from before the cookie was cleared or the app restarted.
		status = http.StatusForbidden
		errs.addGlobal("This sign-in page had expired, so nothing was sent. Enter your password again.")
	default:
		if username == "" {
			errs.Fields["username"] = "Enter your username."
		}
		if password == "" {
			errs.Fields["password"] = "Enter your password."
		}
	}
	if errs.any() {
		page := &view{Title: "Sign in", Step: 1, Errors: errs, CSRF: s.forms.issue(w, r)}
		page.Input.Username = username
		s.render(w, status, "signin", page)
		return
	}
	if v.id == "" {
		// This sign-in would create the visitor's session.
		release, wait, ok := s.admit(r)
		if !ok {
			s.tooManySignIns(w, wait)
			return
		}
		defer release()
	}
	v.sess.Username = username
	// Retry on the transaction of a previous wrong password; anything else
	// (none, or one at a later step) starts afresh.
	var st *idx.State
	if v.sess.Step == stepIdentify {
		st = v.sess.State
	}
	opts := idx.Options{Username: username, Password: password}
	tx, err := s.client.Authenticate(r.Context(), st, opts)
	if err == nil && st != nil && tx.Status == idx.StatusTerminal {
		// The old transaction expired while the page sat open: the user
		// does not care, start a new one.
		tx, err = s.client.Authenticate(r.Context(), nil, opts)
	}
	s.follow(w, r, v, pathSignIn, tx, err)
}

// stepPage shows the current step if it belongs on page here, else
// redirects to where it belongs.
func (s *server) stepPage(here string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := s.load(r)
		if v.sess.State == nil {
			to := pathSignIn
			if v.sess.signedIn() {
				to = "/"
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		tx, err := s.client.Proceed(r.Context(), v.sess.State, idx.Options{})
		s.follow(w, r, v, here, tx, err)
	}
}

// current re-reads the transaction for a POST that needs it; it reports
// false after answering the request itself (no transaction, an error).
func (s *server) current(w http.ResponseWriter, r *http.Request, v *visit, here string) (*idx.Transaction, bool) {
	if v.sess.State == nil {
		s.lost(w, r, v)
		return nil, false
	}
	tx, err := s.client.Proceed(r.Context(), v.sess.State, idx.Options{})
	if err != nil || tx.Status != idx.StatusPending || pageOf(tx) != here {
		s.follow(w, r, v, here, tx, err)
		return nil, false
	}
	return tx, true
}

// chooseAuthenticator posts page 2: the authenticator (the phone).
func (s *server) chooseAuthenticator(w http.ResponseWriter, r *http.Request) {
	v := s.load(r)
	choice := r.PostFormValue("authenticator")
	if choice == "" {
		if tx, ok := s.current(w, r, v, pathSelect); ok {
			errs := newFormErrors()
			errs.addGlobal("Choose how you want to verify.")
			s.renderStep(w, r, v, tx, errs, nil)
		}
		return
	}
	if v.sess.State == nil {
		s.lost(w, r, v)
		return
	}
	tx, err := s.client.Proceed(r.Context(), v.sess.State, idx.Options{Authenticator: choice})
	if err == nil && tx.Status == idx.StatusPending && pageOf(tx) == pathSelect && len(tx.Messages) == 0 {
		// Nothing was posted: the choice matched no option.
		tx.Messages = []idx.Message{{Text: "That option isn't available. Choose one from the list.", Class: "ERROR"}}
	}
	s.follow(w, r, v, pathSelect, tx, err)
}

// chooseMethod posts page 3: SMS or voice call. The server sends the code.
func (s *server) chooseMethod(w http.ResponseWriter, r *http.Request) {
	v := s.load(r)
	m := r.PostFormValue("method")
	if m != "sms" && m != "voice" {
		if tx, ok := s.current(w, r, v, pathPhone); ok {
			errs := newFormErrors()
			errs.Fields["method"] = "Choose how to get your code."
			s.renderStep(w, r, v, tx, errs, nil)
		}
		return
	}
	if v.sess.State == nil {
		s.lost(w, r, v)
		return
	}
	tx, err := s.client.Proceed(r.Context(), v.sess.State, idx.Options{MethodType: m})
	s.noteCodeSent(v, tx, err, m)
	s.follow(w, r, v, pathPhone, tx, err, inputKept{Method: m})
}

// enrollPhone posts the number and method of a phone being enrolled.
func (s *server) enrollPhone(w http.ResponseWriter, r *http.Request) {
	v := s.load(r)
	number := strings.TrimSpace(r.PostFormValue("phone"))
	m := r.PostFormValue("method")
	kept := inputKept{Phone: number, Method: m}
	errs := newFormErrors()
	if number == "" {
		errs.Fields["phone"] = "Enter your phone number."
	}
	if m != "sms" && m != "voice" {
		errs.Fields["method"] = "Choose how to get your code."
	}
	if errs.any() {
		if tx, ok := s.current(w, r, v, pathEnroll); ok {
			s.renderStep(w, r, v, tx, errs, &kept)
		}
		return
	}
	if v.sess.State == nil {
		s.lost(w, r, v)
		return
	}
	tx, err := s.client.Proceed(r.Context(), v.sess.State, idx.Options{PhoneNumber: number, MethodType: m})
	s.noteCodeSent(v, tx, err, m)
	s.follow(w, r, v, pathEnroll, tx, err, kept)
}

// noteCodeSent records when the server sent a code, which starts the resend
// countdown, after a request that chose a method.
func (s *server) noteCodeSent(v *visit, tx *idx.Transaction, err error, method string) {
	if err == nil && tx.Status == idx.StatusPending && tx.RequestSucceeded && pageOf(tx) == pathCode {
		v.sess.CodeSentAt, v.sess.Method = s.now(), method
	}
}

// verifyCode posts page 4: the code.
func (s *server) verifyCode(w http.ResponseWriter, r *http.Request) {
	s.submitCode(w, r, pathCode, "Enter the code we sent you.")
}

// submitCode posts a one-time code from the page at path; blank is what a blank
// field gets.
func (s *server) submitCode(w http.ResponseWriter, r *http.Request, path, blank string) {
	v := s.load(r)
	code := normalizeCode(r.PostFormValue("code"))
	if code == "" {
		if tx, ok := s.current(w, r, v, path); ok {
			errs := newFormErrors()
			errs.Fields["code"] = blank
			s.renderStep(w, r, v, tx, errs, nil)
		}
		return
	}
	if v.sess.State == nil {
		s.lost(w, r, v)
		return
	}
	tx, err := s.client.Proceed(r.Context(), v.sess.State, idx.Options{VerificationCode: code})
	s.follow(w, r, v, path, tx, err, inputKept{Code: code})
}

// resend asks for a new code by the same method.
func (s *server) resend(w http.ResponseWriter, r *http.Request) {
	v := s.load(r)
	if v.sess.State == nil {
		s.lost(w, r, v)
		return
	}
	tx, err := s.client.Resend(r.Context(), v.sess.State)
	if errors.Is(err, idx.ErrActionUnavailable) {
		if tx, ok := s.current(w, r, v, pathCode); ok {
			errs := newFormErrors()
			errs.addGlobal("A new code can't be sent at this point. Go back to sign in to start again.")
			s.renderStep(w, r, v, tx, errs, nil)
		}
		return
	}
	if err == nil && tx.Status == idx.StatusPending && tx.RequestSucceeded && !hasError(tx.Messages) {
		v.sess.CodeSentAt = s.now()
		v.sess.State, v.sess.Step = tx.State, tx.NextStep.Name
		s.redirectWith(w, r, v, pathCode, &notice{Kind: "info", Text: "We sent you a new code." + sentBy(v.sess.Method)})
		return
	}
	s.follow(w, r, v, pathCode, tx, err)
}

func sentBy(m string) string {
	if m == "voice" {
		return " Your phone will ring in a moment."
	}
	return ""
}

// switchMethod sends a new code by the other method ("call me instead"): it
// chooses the phone being verified again, with that method. Naming the select
// step is what makes the SDK re-select the current phone; a choice without
// it would be ignored.
func (s *server) switchMethod(w http.ResponseWriter, r *http.Request) {
	v := s.load(r)
	m := r.PostFormValue("method")
	tx, ok := s.current(w, r, v, pathCode)
	if !ok {
		return
	}
	phone := phoneChoice(tx)
	if (m != "sms" && m != "voice") || tx.NextStep.Name != stepChallenge || phone == "" {
		errs := newFormErrors()
		errs.addGlobal("That way of getting a code isn't available here.")
		s.renderStep(w, r, v, tx, errs, nil)
		return
	}
	tx, err := s.client.Proceed(r.Context(), v.sess.State, idx.Options{Step: stepSelect, Authenticator: phone, MethodType: m})
	if err == nil && tx.Status == idx.StatusPending && tx.RequestSucceeded && !hasError(tx.Messages) && pageOf(tx) == pathCode {
		v.sess.CodeSentAt, v.sess.Method = s.now(), m
		v.sess.State, v.sess.Step = tx.State, tx.NextStep.Name
		text := "We sent a new code by text message."
		if m == "voice" {
			text = "We're calling you now with a new code."
		}
		s.redirectWith(w, r, v, pathCode, &notice{Kind: "info", Text: text})
		return
	}
	s.follow(w, r, v, pathCode, tx, err)
}

// cancel abandons the sign-in ("back to sign in").
func (s *server) cancel(w http.ResponseWriter, r *http.Request) {
	v := s.load(r)
	if v.sess.State != nil {
		// Best effort: the transaction would expire on its own anyway.
		if _, err := s.client.Cancel(r.Context(), v.sess.State); err != nil {
			s.log.Warn("cancelling the sign-in", "err", err)
		}
	}
	v.sess.clearTransaction()
	s.redirectWith(w, r, v, pathSignIn, nil)
}

// isNoTransaction reports an SDK call made without a usable transaction.
func isNoTransaction(err error) bool { return errors.Is(err, idx.ErrNoTransaction) }

// lost answers a request that needs a transaction the session no longer has.
func (s *server) lost(w http.ResponseWriter, r *http.Request, v *visit) {
	if v.sess.signedIn() {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	v.sess.clearTransaction()
	s.redirectWith(w, r, v, pathSignIn, &notice{Kind: "error", Text: "Your sign-in ended before it was finished. Please sign in again."})
}

// refused answers an SDK call the identity server refused with 429 Too Many
// Requests without an IDX form (interact, token): the sign-in page again,
// or a page saying so, with the server's wait in Retry-After and in words.
// The transaction, if any, is kept.
func (s *server) refused(w http.ResponseWriter, r *http.Request, v *visit, here string, wait time.Duration) {
	s.log.Warn("the identity server refused a request: too many requests", "retry_after", wait)
	text := "The sign-in service is getting too many requests from your network. Wait a moment, then try again."
	if wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
		text = "The sign-in service is getting too many requests from your network. Try again in " + waitText(wait) + "."
	}
	if here == pathSignIn {
		page := &view{Title: "Sign in", Step: 1, CSRF: s.forms.issue(w, r)}
		page.Input.Username = v.sess.Username
		page.Errors = newFormErrors()
		page.Errors.addGlobal(text)
		s.render(w, http.StatusTooManyRequests, "signin", page)
		return
	}
	s.renderMessage(w, http.StatusTooManyRequests, "Too many requests", text)
}

// unavailable answers an SDK call that failed (network, protocol): the
// transaction is kept, so trying again may work.
func (s *server) unavailable(w http.ResponseWriter, err error) {
	s.log.Error("sign-in request failed", "err", err)
	s.renderMessage(w, http.StatusBadGateway, "We can't sign you in right now",
		"The sign-in service didn't answer as expected. Wait a moment, then go back and try again.")
}

// inputKept is what the user typed, shown again when a page comes back with
// an error. There is deliberately no place for a password.
type inputKept struct {
	Username, Code, Phone, Method string
	// Profile holds a new account's profile fields by input name.
	Profile map[string]string
}

// follow acts on the outcome of an SDK call made from page here: it stores
// the new state, then shows here again (with the server's messages) if the
// transaction is still on this page, or redirects to the page of its next
// step, the profile page on success, or the sign-in page when it ended.
func (s *server) follow(w http.ResponseWriter, r *http.Request, v *visit, here string, tx *idx.Transaction, err error, kept ...inputKept) {
	switch {
	case isNoTransaction(err):
		s.lost(w, r, v)
		return
	case err != nil:
		if wait, ok := idx.RateLimited(err); ok {
			s.refused(w, r, v, here, wait)
			return
		}
		s.unavailable(w, err)
		return
	}
	switch tx.Status {
	case idx.StatusSuccess:
		s.signedIn(w, r, v, tx.Tokens)
		return
	case idx.StatusCanceled:
		v.sess.clearTransaction()
		s.redirectWith(w, r, v, pathSignIn, nil)
		return
	case idx.StatusTerminal:
		// The transaction is over (expired, denied): back to the start,
		// with the reason.
		v.sess.clearTransaction()
		errs := errorsFrom(tx.Messages, tx.RetryAfter)
		text := "Your sign-in couldn't be finished. Please sign in again."
		if len(errs.Global) > 0 {
			text = errs.Global[0]
		}
		s.redirectWith(w, r, v, pathSignIn, &notice{Kind: "error", Text: text})
		return
	}
	v.sess.State, v.sess.Step = tx.State, tx.NextStep.Name
	if tx.NextStep.Name == stepIdentify {
		s.offers.learn(tx.EnabledFeatures)
	}
	if a := tx.NextStep.Authenticator; a != nil {
		switch {
		case tx.NextStep.Name == stepChallenge && len(a.Methods) == 1:
			v.sess.Method = a.Methods[0] // the code step lists only the method used
		case tx.NextStep.Name == stepVerificationData:
			v.sess.PhoneMethods = a.Methods
		}
	}
	next := pageOf(tx)
	if next != here {
		// A message that came with a move to another step (unusual) is
		// carried over rather than lost.
		var n *notice
		if errs := errorsOf(tx); errs.any() {
			text := ""
			for _, t := range errs.Fields {
				text = t
			}
			if len(errs.Global) > 0 {
				text = errs.Global[0]
			}
			n = &notice{Kind: "error", Text: text}
		}
		s.redirectWith(w, r, v, next, n)
		return
	}
	if !s.save(w, r, v) {
		return
	}
	var in *inputKept
	if len(kept) > 0 {
		in = &kept[0]
	}
	s.renderStep(w, r, v, tx, errorsOf(tx), in)
}

// renderStep shows the page of the transaction's current step.
func (s *server) renderStep(w http.ResponseWriter, r *http.Request, v *visit, tx *idx.Transaction, errs formErrors, in *inputKept) {
	step := tx.NextStep
	var flow idx.Flow
	if tx.State != nil {
		flow = tx.State.Flow
	}
	page := &view{Errors: errs, Username: v.sess.Username, Notice: v.takeNotice()}
	if page.Notice != nil {
		if !s.save(w, r, v) {
			return
		}
	}
	if in != nil {
		page.Input = *in
	}
	status := http.StatusOK
	switch {
	case rateLimited(tx.Messages) || tx.RetryAfter > 0:
		// The engine's wait, not a guess: the same one the page's text
		// gives (errorsFrom).
		status = http.StatusTooManyRequests
		if tx.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(tx.RetryAfter)))
		}
	case errs.any():
		status = http.StatusUnprocessableEntity
	}
	if a := step.Authenticator; a != nil {
		page.Phone = a.Profile["phoneNumber"]
	}
	switch flow {
	case idx.FlowRecoverPassword:
		page.Who = "Resetting the password of"
	case idx.FlowRegister:
		page.Who = "Creating an account for"
	}
	var name string
	switch pageFor(step, flow) {
	case pathSignIn:
		name, page.Title, page.Step = "signin", "Sign in", 1
		page.Input.Username = v.sess.Username
		page.CSRF = s.forms.issue(w, r)
	case pathRecover:
		name, page.Title = "recover", "Reset your password"
		if page.Input.Username == "" {
			page.Input.Username = v.sess.Username
		}
		page.Username = "" // not known to be right yet
	case pathRegister:
		name, page.Title = "register", "Create your account"
		page.Fields = profileFields(step, page.Input.Profile)
	case pathPassword:
		name, page.Title = "password", "Choose a password"
		page.Reset = step.Name == stepResetPassword || step.Name == stepReenrollPassword
		if page.Reset {
			page.Title = "Choose a new password"
		}
		if a := step.Authenticator; a != nil {
			page.Rules = a.PasswordPolicy.Rules()
		}
	case pathSelect:
		name, page.Title, page.Step = "select", "Verify it's you", 2
		page.Enroll = step.Name == stepSelectEnroll
		page.Options = optionsFor(step)
		page.Heading, page.Text = "Verify it's you", "Choose how you want to confirm your identity."
		if page.Enroll {
			page.Heading, page.Text = "Set up phone verification", "Your account needs a phone to receive sign-in codes. Choose what to set up."
			for _, o := range page.Options {
				if o.Kind == keyTOTP {
					page.Heading, page.Text = "Set up two-step verification", "Your account needs a second way to confirm it's you. Choose what to set up."
				}
			}
			page.Title = page.Heading
		}
	case pathPhone:
		name, page.Title, page.Step = "phone", "Verify with your phone", 3
		page.Methods = methodsFrom(optionValues(step, "methodType"))
		if len(page.Methods) == 0 && step.Authenticator != nil {
			page.Methods = methodsFrom(step.Authenticator.Methods)
		}
	case pathEnroll:
		name, page.Title, page.Step = "enroll", "Add your phone", 3
		page.Methods = methodsFrom(optionValues(step, "methodType"))
		if len(page.Methods) == 0 {
			page.Methods = methodLabels
		}
	case pathTOTP:
		name, page.Title = "totp", "Enter your app's code"
		page.Enroll = step.Name == stepEnrollChallenge
		if a := step.Authenticator; page.Enroll && a != nil {
			page.Title = "Set up your authenticator app"
			page.QRCode = qrImage(a.QRCode)
			page.Secret = groupSecret(a.SharedSecret)
		}
	case pathCode:
		name, page.Title, page.Step = "code", "Enter code", 4
		page.Method = v.sess.Method
		page.CanResend = step.CanResend
		if wait := v.sess.CodeSentAt.Add(s.resendInterval).Sub(s.now()); !v.sess.CodeSentAt.IsZero() && wait > 0 {
			page.ResendWait = int((wait + time.Second - 1) / time.Second)
		}
		if tx.RetryAfter > 0 {
			// A new code was refused: count down the wait the engine gave.
			page.ResendWait = max(page.ResendWait, retryAfterSeconds(tx.RetryAfter))
		}
		if step.Name == stepChallenge && len(v.sess.PhoneMethods) > 1 {
			page.OtherMethod = "voice"
			if page.Method == "voice" {
				page.OtherMethod = "sms"
			}
		}
		page.Countdown = page.ResendWait > 0 && (page.CanResend || page.OtherMethod != "")
	default:
		name, page.Title = "unsupported", "This step isn't supported"
		page.StepName = step.Name
	}
	if flow != idx.FlowAuthenticate {
		page.Step = 0 // "Step n of 4" counts the sign-in's pages
	}
	if page.Input.Method == "" && len(page.Methods) > 0 {
		page.Input.Method = page.Methods[0].Value
	}
	s.render(w, status, name, page)
}

// phoneChoice is what names the phone of a code step again in the
// select step the server offers with it: its enrollment id (its key if it has
// none), or "" if no option of that step is for it.
func phoneChoice(tx *idx.Transaction) string {
	phone := tx.NextStep.Authenticator
	if phone == nil {
		return ""
	}
	for _, step := range tx.AvailableSteps {
		if step.Name != stepSelect {
			continue
		}
		for _, in := range step.Inputs {
			if in.Name != "authenticator" {
				continue
			}
			for _, o := range in.Options {
				switch {
				case phone.EnrollmentID != "" && o.Authenticator != nil && o.Authenticator.EnrollmentID == phone.EnrollmentID:
					return phone.EnrollmentID
				case phone.EnrollmentID == "" && phone.Key != "" && o.Value == phone.Key:
					return phone.Key
				}
			}
		}
	}
	return ""
}

// optionsFor lists the options of a select step that this app can finish
// — phones and authenticator apps — with the masked number of each phone. A
// phone is chosen by its enrollment id, which tells several apart. The
// password is never listed: it is given on the sign-in page, or on the
// password page of a new account (an enrollment choice may still offer it
// to a user who just used it).
func optionsFor(step *idx.NextStep) []authOption {
	enroll := step.Name == stepSelectEnroll
	var out []authOption
	for _, in := range step.Inputs {
		if in.Name != "authenticator" {
			continue
		}
		for _, o := range in.Options {
			if o.Value != keyPhone && o.Value != keyTOTP {
				continue
			}
			opt := authOption{Value: o.Value, Label: o.Label, Kind: o.Value}
			if a := o.Authenticator; a != nil {
				if a.EnrollmentID != "" {
					opt.Value = a.EnrollmentID
				}
				opt.Detail = a.Profile["phoneNumber"]
			}
			switch {
			case opt.Detail != "":
			case o.Value == keyTOTP && enroll:
				opt.Detail = "Use Google Authenticator or a similar app"
			case o.Value == keyTOTP:
				opt.Detail = "Enter a code from your authenticator app"
			case enroll:
				opt.Detail = "Get codes by text message or voice call"
			}
			out = append(out, opt)
		}
	}
	return out
}

// optionValues lists the values an input of the step accepts.
func optionValues(step *idx.NextStep, input string) []string {
	var out []string
	for _, in := range step.Inputs {
		if in.Name == input {
			for _, o := range in.Options {
				out = append(out, o.Value)
			}
		}
	}
	return out
}
