package hosted

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse-id/gatehouse/idx"
)

// Step names of the IDX remediations the pages handle.
const (
	stepIdentify         = "identify"
	stepIdentifyRecovery = "identify-recovery"
	stepSelect           = "select-authenticator-authenticate"
	stepSelectEnroll     = "select-authenticator-enroll"
	stepVerificationData = "authenticator-verification-data"
	stepEnrollmentData   = "authenticator-enrollment-data"
	stepChallenge        = "challenge-authenticator"
	stepEnrollChallenge  = "enroll-authenticator"
	stepResetPassword    = "reset-authenticator"
	stepReenrollPassword = "reenroll-authenticator" // the password expired
	stepEnrollProfile    = "enroll-profile"
)

// Authenticator keys the pages tell apart.
const (
	keyPhone    = "phone_number"
	keyApp      = "google_otp"
	keyPassword = "okta_password"
)

// The page kinds (and their templates); a form posts from one of them.
const (
	kindSignIn      = "signin"
	kindSelect      = "select"
	kindPhone       = "phone"
	kindEnroll      = "enroll"
	kindCode        = "code"
	kindApp         = "app"      // the authenticator app's enrollment: QR code, secret, code
	kindRecover     = "recover"  // the username of a password reset
	kindPassword    = "password" // a new password: a reset's, a new account's
	kindProfile     = "profile"  // a new account's profile
	kindUnsupported = "unsupported"
	// kindAny is where GET /signin stands: it shows whatever step is current.
	kindAny = ""
)

// kindOf is the page that shows a step.
func kindOf(step *idx.NextStep) string {
	if step == nil {
		return kindUnsupported
	}
	key := ""
	if step.Authenticator != nil {
		key = step.Authenticator.Key
	}
	switch step.Name {
	case stepIdentify:
		return kindSignIn
	case stepIdentifyRecovery:
		return kindRecover
	case stepSelect, stepSelectEnroll:
		return kindSelect
	case stepVerificationData:
		return kindPhone
	case stepEnrollmentData:
		return kindEnroll
	case stepChallenge:
		if key == keyPassword {
			return kindUnsupported // the engine asks for the password in identify
		}
		return kindCode
	case stepEnrollChallenge:
		switch key {
		case keyApp:
			return kindApp
		case keyPassword:
			return kindPassword
		}
		return kindCode
	case stepResetPassword, stepReenrollPassword:
		return kindPassword
	case stepEnrollProfile:
		return kindProfile
	default:
		return kindUnsupported
	}
}

// isApp reports whether a step is about the authenticator app.
func isApp(step *idx.NextStep) bool {
	return step != nil && step.Authenticator != nil && step.Authenticator.Key == keyApp
}

// The OAuth error Abort receives.
const errAccessDenied = "access_denied"

// inputKept is what the user typed, shown again with an error (never a
// password).
type inputKept struct {
	Username, Code, Phone, Method string
	// Profile holds a new account's profile by input name
	// ("userProfile.email").
	Profile map[string]string
}

// proceed continues sign-in s with opts, on behalf of the browser's request.
func (p *Pages) proceed(w http.ResponseWriter, r *http.Request, s *signIn, opts idx.Options) (*idx.Transaction, error) {
	c, err := p.client(s)
	if err != nil {
		return nil, err
	}
	return c.Proceed(p.withBrowser(w, r), p.state(c, s), opts)
}

// state is the SDK State of sign-in s: the transaction of its interaction
// handle, in the flow the pages recorded (a resumed State starts as a
// sign-in).
func (p *Pages) state(c *idx.Client, s *signIn) *idx.State {
	st := c.ResumeState(s.Handle)
	st.Flow = s.Flow
	return st
}

// showStep is GET /signin: the page of the current step.
func (p *Pages) showStep(w http.ResponseWriter, r *http.Request, s *signIn) {
	if s.Ended != nil {
		p.continuePage(w, s)
		return
	}
	tx, err := p.proceed(w, r, s, idx.Options{})
	p.follow(w, r, s, kindAny, tx, err, nil)
}

// done is GET /signin/done: it hands the browser back to the relying party,
// through Complete on success and Abort otherwise. Only this GET calls them
// (see the package comment).
func (p *Pages) done(w http.ResponseWriter, r *http.Request, s *signIn) {
	if e := s.Ended; e != nil {
		p.jar.clear(w)
		p.abort(w, r, s.Handle, e.Code, e.Description)
		return
	}
	tx, err := p.proceed(w, r, s, idx.Options{})
	if err != nil {
		p.failed(w, r, kindAny, err)
		return
	}
	switch tx.Status {
	case idx.StatusSuccess:
		p.jar.clear(w)
		p.complete(w, r, tx.InteractionCode)
	case idx.StatusTerminal:
		if p.transient(w, tx) {
			return
		}
		p.jar.clear(w)
		p.abort(w, r, s.Handle, errAccessDenied, endText(tx))
	default:
		// Not finished after all (a reload after "send again", say).
		http.Redirect(w, r, pathPage, http.StatusSeeOther)
	}
}

// identify posts the username and password.
func (p *Pages) identify(w http.ResponseWriter, r *http.Request, s *signIn) {
	username := strings.TrimSpace(r.PostForm.Get("username"))
	password := r.PostForm.Get("password")
	kept := &inputKept{Username: username}
	errs := newFormErrors()
	if username == "" {
		errs.Fields["username"] = "Enter your username."
	}
	if password == "" {
		errs.Fields["password"] = "Enter your password."
	}
	if len(username) > 256 {
		errs.Fields["username"] = "That username is too long."
	}
	if errs.any() {
		p.renderOnly(w, r, s, kindSignIn, errs, kept)
		return
	}
	s.Username = username
	tx, err := p.proceed(w, r, s, idx.Options{Username: username, Password: password})
	p.follow(w, r, s, kindSignIn, tx, err, kept)
}

// chooseAuthenticator posts the authenticator (a phone, the app) to verify
// or enroll. While the user is choosing another way (Choose), the choice
// names the select step offered beside the current one, which makes the SDK
// re-select.
func (p *Pages) chooseAuthenticator(w http.ResponseWriter, r *http.Request, s *signIn) {
	choice := r.PostForm.Get("authenticator")
	if choice == "" || len(choice) > 128 {
		errs := newFormErrors()
		errs.addGlobal("Choose how you want to verify.")
		p.renderOnly(w, r, s, kindSelect, errs, nil)
		return
	}
	if s.Choose != "" {
		p.chooseAnother(w, r, s, choice)
		return
	}
	tx, err := p.proceed(w, r, s, idx.Options{Authenticator: choice})
	if err == nil && tx.Status == idx.StatusPending && kindOf(tx.NextStep) == kindSelect && len(tx.Messages) == 0 {
		// Nothing was posted: the choice matched no option.
		tx.Messages = []idx.Message{{Text: "That option isn't available. Choose one from the list.", Class: "ERROR"}}
	}
	p.follow(w, r, s, kindSelect, tx, err, nil)
}

// chooseMethod posts SMS or voice; the engine sends the code.
func (p *Pages) chooseMethod(w http.ResponseWriter, r *http.Request, s *signIn) {
	m := r.PostForm.Get("method")
	if m != "sms" && m != "voice" {
		errs := newFormErrors()
		errs.Fields["method"] = "Choose how to get your code."
		p.renderOnly(w, r, s, kindPhone, errs, nil)
		return
	}
	tx, err := p.proceed(w, r, s, idx.Options{MethodType: m})
	p.noteCodeSent(s, tx, err, m)
	p.follow(w, r, s, kindPhone, tx, err, &inputKept{Method: m})
}

// enrollPhone posts the number (and method) of a phone to enroll.
func (p *Pages) enrollPhone(w http.ResponseWriter, r *http.Request, s *signIn) {
	number := strings.TrimSpace(r.PostForm.Get("phone"))
	m := r.PostForm.Get("method")
	kept := &inputKept{Phone: number, Method: m}
	errs := newFormErrors()
	switch {
	case number == "":
		errs.Fields["phone"] = "Enter your phone number."
	case len(number) > 40:
		errs.Fields["phone"] = "That doesn't look like a phone number. Include the country code, e.g. +1 201 555 0123."
	}
	if m != "sms" && m != "voice" {
		errs.Fields["method"] = "Choose how to get your code."
	}
	if errs.any() {
		p.renderOnly(w, r, s, kindEnroll, errs, kept)
		return
	}
	tx, err := p.proceed(w, r, s, idx.Options{PhoneNumber: number, MethodType: m})
	p.noteCodeSent(s, tx, err, m)
	p.follow(w, r, s, kindEnroll, tx, err, kept)
}

// verifyCode posts the code of the code page: sent to a phone, or shown by
// the authenticator app.
func (p *Pages) verifyCode(w http.ResponseWriter, r *http.Request, s *signIn) {
	p.answerCode(w, r, s, kindCode)
}

// verifyAppCode posts the first code of an authenticator app being set up.
func (p *Pages) verifyAppCode(w http.ResponseWriter, r *http.Request, s *signIn) {
	p.answerCode(w, r, s, kindApp)
}

func (p *Pages) answerCode(w http.ResponseWriter, r *http.Request, s *signIn, here string) {
	code := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '-' {
			return -1 // "123 456" pasted
		}
		return r
	}, r.PostForm.Get("code"))
	if code == "" || len(code) > 32 {
		errs := newFormErrors()
		errs.Fields["code"] = "Enter the code."
		p.renderOnly(w, r, s, here, errs, nil)
		return
	}
	tx, err := p.proceed(w, r, s, idx.Options{VerificationCode: code})
	p.follow(w, r, s, here, tx, err, &inputKept{Code: code})
}

// resend asks for a new code by the same method, unless the engine said to
// wait and that wait is not over.
func (p *Pages) resend(w http.ResponseWriter, r *http.Request, s *signIn) {
	if wait := p.resendWait(s); wait > 0 {
		errs := newFormErrors()
		errs.addGlobal("You can ask for a new code in " + waitText(wait) + ".")
		w.Header().Set("Retry-After", strconv.Itoa(ceilSeconds(wait)))
		p.renderOnlyStatus(w, r, s, kindCode, errs, nil, http.StatusTooManyRequests)
		return
	}
	c, err := p.client(s)
	if err != nil {
		p.failed(w, r, kindCode, err)
		return
	}
	tx, err := c.Resend(p.withBrowser(w, r), p.state(c, s))
	if errors.Is(err, idx.ErrActionUnavailable) {
		errs := newFormErrors()
		errs.addGlobal("A new code can't be sent at this point.")
		p.renderOnly(w, r, s, kindCode, errs, nil)
		return
	}
	if err == nil && tx.Status == idx.StatusPending && tx.RequestSucceeded && !hasError(tx.Messages) {
		s.SentAt, s.WaitUntil = p.now().Unix(), 0
		text := "We sent you a new code."
		if s.Method == "voice" {
			text = "We're calling you again with a new code."
		}
		p.moveOn(w, r, s, &notice{Kind: "info", Text: text})
		return
	}
	p.follow(w, r, s, kindCode, tx, err, nil)
}

// switchMethod has a new code sent by the other method ("call me instead"):
// it chooses the phone being verified again, naming the select step, which
// is what makes the SDK re-select it.
func (p *Pages) switchMethod(w http.ResponseWriter, r *http.Request, s *signIn) {
	m := r.PostForm.Get("method")
	tx, err := p.proceed(w, r, s, idx.Options{})
	if err != nil || tx.Status != idx.StatusPending || kindOf(tx.NextStep) != kindCode {
		p.follow(w, r, s, kindCode, tx, err, nil)
		return
	}
	phone := phoneChoice(tx)
	if (m != "sms" && m != "voice") || tx.NextStep.Name != stepChallenge || phone == "" {
		errs := newFormErrors()
		errs.addGlobal("That way of getting a code isn't available here.")
		p.renderStep(w, r, s, tx, errs, nil)
		return
	}
	if wait := p.resendWait(s); wait > 0 {
		errs := newFormErrors()
		errs.addGlobal("You can ask for a new code in " + waitText(wait) + ".")
		w.Header().Set("Retry-After", strconv.Itoa(ceilSeconds(wait)))
		p.renderStepStatus(w, r, s, tx, errs, nil, http.StatusTooManyRequests)
		return
	}
	tx, err = p.proceed(w, r, s, idx.Options{Step: stepSelect, Authenticator: phone, MethodType: m})
	if err == nil && tx.Status == idx.StatusPending && tx.RequestSucceeded && !hasError(tx.Messages) && kindOf(tx.NextStep) == kindCode {
		s.SentAt, s.WaitUntil, s.Method = p.now().Unix(), 0, m
		text := "We sent a new code by text message."
		if m == "voice" {
			text = "We're calling you now with a new code."
		}
		p.moveOn(w, r, s, &notice{Kind: "info", Text: text})
		return
	}
	p.follow(w, r, s, kindCode, tx, err, nil)
}

// cancel abandons the sign-in; the relying party hears access_denied.
func (p *Pages) cancel(w http.ResponseWriter, r *http.Request, s *signIn) {
	if c, err := p.client(s); err == nil {
		// Best effort: the engine ends the transaction on its own anyway.
		if _, err := c.Cancel(p.withBrowser(w, r), p.state(c, s)); err != nil && !errors.Is(err, idx.ErrActionUnavailable) {
			p.log.WarnContext(r.Context(), "hosted: cancelling the sign-in at the engine", "err", err)
		}
	}
	p.end(w, r, s, errAccessDenied, "The user cancelled the sign-in.")
}

// noteCodeSent records a code just sent by method m.
func (p *Pages) noteCodeSent(s *signIn, tx *idx.Transaction, err error, m string) {
	if err == nil && tx.Status == idx.StatusPending && tx.RequestSucceeded && kindOf(tx.NextStep) == kindCode {
		s.SentAt, s.WaitUntil, s.Method = p.now().Unix(), 0, m
	}
}

// resendWait is how long the engine's last refusal of a code still asks to
// wait.
func (p *Pages) resendWait(s *signIn) time.Duration {
	if s.WaitUntil == 0 {
		return 0
	}
	return max(unix(s.WaitUntil).Sub(p.now()), 0)
}

// follow acts on the outcome of an SDK call made from a page of kind here:
// the page again with the engine's messages if the step is still that page's,
// else a 303 to /signin for the next step, or the continue page when the
// sign-in is over.
func (p *Pages) follow(w http.ResponseWriter, r *http.Request, s *signIn, here string, tx *idx.Transaction, err error, kept *inputKept) {
	if err != nil {
		p.failed(w, r, here, err)
		return
	}
	switch tx.Status {
	case idx.StatusSuccess:
		// Complete is called from GET /signin/done, which re-reads the code.
		s.Notice = nil
		if p.save(w, r, s) {
			p.continuePage(w, s)
		}
		return
	case idx.StatusCanceled:
		p.end(w, r, s, errAccessDenied, "The sign-in was cancelled.")
		return
	case idx.StatusTerminal:
		if !p.transient(w, tx) {
			p.end(w, r, s, errAccessDenied, endText(tx))
		}
		return
	}
	step := tx.NextStep
	if a := step.Authenticator; a != nil {
		switch {
		case step.Name == stepChallenge && len(a.Methods) == 1:
			s.Method = a.Methods[0] // the code step lists only the method used
		case step.Name == stepVerificationData:
			s.PhoneMethods = a.Methods
		}
	}
	if tx.RetryAfter > 0 && kindOf(step) == kindCode {
		s.WaitUntil = p.now().Add(tx.RetryAfter).Unix()
	}
	if kindOf(step) == kindSignIn {
		s.Flow = "" // back at the start (an engine-side cancel): a sign-in again
	}
	next := kindOf(p.shown(s, tx))
	if here != kindAny && next != here {
		// A message that came with a move to another step is carried over.
		var n *notice
		if errs := errorsFrom(tx.Messages, tx.RetryAfter, aboutStep(step)); errs.any() {
			n = &notice{Kind: "error", Text: errs.first()}
		}
		p.moveOn(w, r, s, n)
		return
	}
	p.renderStep(w, r, s, tx, errorsFrom(tx.Messages, tx.RetryAfter, aboutStep(step)), kept)
}

// shown is the step whose page sign-in s shows: the transaction's next step,
// or, while the user is choosing another way, the select step offered beside
// it.
func (p *Pages) shown(s *signIn, tx *idx.Transaction) *idx.NextStep {
	if s.Choose != "" {
		if alt := alternative(tx); alt != nil && alt.Name == s.Choose {
			return alt
		}
		s.Choose = ""
	}
	return tx.NextStep
}

// alternative is the choice of authenticator the engine offers beside the
// current step (a code, a method, a number to enroll), when it has more than
// one way: "choose another way" goes there.
func alternative(tx *idx.Transaction) *idx.NextStep {
	if tx == nil || tx.Status != idx.StatusPending || kindOf(tx.NextStep) == kindSelect {
		return nil
	}
	for i := 1; i < len(tx.AvailableSteps); i++ {
		st := &tx.AvailableSteps[i]
		if (st.Name == stepSelect || st.Name == stepSelectEnroll) && len(optionsFor(st)) > 1 {
			return st
		}
	}
	return nil
}

// moveOn saves the cookie (with a notice for the next page) and sends the
// browser to /signin with 303, so a reload never posts a form again.
func (p *Pages) moveOn(w http.ResponseWriter, r *http.Request, s *signIn, n *notice) {
	if n != nil {
		s.Notice = n
	}
	if p.save(w, r, s) {
		http.Redirect(w, r, pathPage, http.StatusSeeOther)
	}
}

// end records how the sign-in ended and shows the continue page, which
// takes the browser to /signin/done and so to Abort.
func (p *Pages) end(w http.ResponseWriter, r *http.Request, s *signIn, code, description string) {
	s.Ended = &ending{Code: code, Description: description}
	s.Notice = nil
	if p.save(w, r, s) {
		p.continuePage(w, s)
	}
}

// transient answers a TERMINAL transaction that is not over — a rate limit,
// or a failure on the engine's side — with a page saying to wait or try
// again, and reports whether it did. Anything else ended the transaction.
func (p *Pages) transient(w http.ResponseWriter, tx *idx.Transaction) bool {
	switch {
	case tx.RetryAfter > 0 || rateLimited(tx.Messages):
		text := "There have been too many attempts. Wait a few minutes, then try again."
		if errs := errorsFrom(tx.Messages, tx.RetryAfter, aboutOther); errs.any() {
			text = errs.first()
		}
		if tx.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(ceilSeconds(tx.RetryAfter)))
		}
		p.message(w, http.StatusTooManyRequests, "Too many attempts", text, pathPage)
		return true
	case hasKey(tx.Messages, keyServerError):
		p.message(w, http.StatusServiceUnavailable, "We can't sign you in right now",
			"Something went wrong on our side. Wait a moment, then try again.", pathPage)
		return true
	}
	return false
}

// endText describes why a transaction ended, for Abort's description.
func endText(tx *idx.Transaction) string {
	for _, m := range tx.Messages {
		if m.Key == keySessionExpired {
			return "The sign-in expired before it was finished."
		}
	}
	if errs := errorsFrom(tx.Messages, 0, aboutOther); errs.any() {
		return errs.first()
	}
	return "The sign-in could not be finished."
}

// failed answers an SDK call that failed as a call (not a user's mistake):
// a refused request with the engine's wait, else a page saying to try
// again. The transaction is kept.
func (p *Pages) failed(w http.ResponseWriter, r *http.Request, here string, err error) {
	if wait, ok := idx.RateLimited(err); ok {
		text := "The sign-in service is getting too many requests from your network. Wait a moment, then try again."
		if wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(ceilSeconds(wait)))
			text = "The sign-in service is getting too many requests from your network. Try again in " + waitText(wait) + "."
		}
		p.message(w, http.StatusTooManyRequests, "Too many requests", text, pathPage)
		return
	}
	p.log.ErrorContext(r.Context(), "hosted: sign-in call failed", "page", here, "err", err)
	p.message(w, http.StatusBadGateway, "We can't sign you in right now",
		"The sign-in service didn't answer as expected. Wait a moment, then try again.", pathPage)
}

// renderOnly shows the page of kind here with errs, after re-reading the
// transaction to fill it; if the transaction has moved on (another tab), it
// follows it instead.
func (p *Pages) renderOnly(w http.ResponseWriter, r *http.Request, s *signIn, here string, errs formErrors, kept *inputKept) {
	p.renderOnlyStatus(w, r, s, here, errs, kept, 0)
}

func (p *Pages) renderOnlyStatus(w http.ResponseWriter, r *http.Request, s *signIn, here string, errs formErrors, kept *inputKept, status int) {
	tx, err := p.proceed(w, r, s, idx.Options{})
	if err != nil || tx.Status != idx.StatusPending || kindOf(p.shown(s, tx)) != here {
		p.follow(w, r, s, here, tx, err, nil)
		return
	}
	p.renderStepStatus(w, r, s, tx, errs, kept, status)
}

// phoneChoice names the phone of a code step in the select step the engine
// offers with it: its enrollment id, or "" if no option is for it.
func phoneChoice(tx *idx.Transaction) string {
	phone := tx.NextStep.Authenticator
	if phone == nil || phone.EnrollmentID == "" {
		return ""
	}
	for _, step := range tx.AvailableSteps {
		if step.Name != stepSelect {
			continue
		}
		for _, in := range step.Inputs {
			for _, o := range in.Options {
				if in.Name == "authenticator" && o.Authenticator != nil && o.Authenticator.EnrollmentID == phone.EnrollmentID {
					return phone.EnrollmentID
				}
			}
		}
	}
	return ""
}

// ceilSeconds rounds a wait up to whole seconds, at least 1.
func ceilSeconds(d time.Duration) int {
	return max(int((d+time.Second-1)/time.Second), 1)
}
