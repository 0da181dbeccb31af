package hosted

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-id/gatehouse/idx"
)

// Besides signing in, the pages start the two other flows the engine offers
// from its first step, through the SDK: a password reset ("Forgot
// password?", when the engine offers it) and a registration ("Create
// account", when it is on). Both end like a sign-in: at SUCCESS the
// interaction code goes to Complete from GET /signin/done. The flow is kept
// in the cookie (signIn.Flow), since a resumed SDK State starts as a
// sign-in.

// Bounds of a posted profile.
const (
	maxProfileFields = 16
	maxProfileValue  = 256
	maxUsername      = 256
)

// another starts "choose another way": the next page is the choice of
// authenticator the engine offers beside the current step. With "back" it
// returns to the step itself.
func (p *Pages) another(w http.ResponseWriter, r *http.Request, s *signIn) {
	if r.PostForm.Get("back") != "" {
		s.Choose = ""
		p.moveOn(w, r, s, nil)
		return
	}
	tx, err := p.proceed(w, r, s, idx.Options{})
	if err != nil || tx.Status != idx.StatusPending {
		p.follow(w, r, s, kindAny, tx, err, nil)
		return
	}
	alt := alternative(tx)
	if alt == nil {
		s.Choose = ""
		errs := newFormErrors()
		errs.addGlobal("There's no other way to verify at this point.")
		p.renderStep(w, r, s, tx, errs, nil)
		return
	}
	s.Choose = alt.Name
	p.moveOn(w, r, s, nil)
}

// chooseAnother posts a choice made after "choose another way": it names
// the select step, so the SDK re-selects even the authenticator being
// verified, after checking the step offers the choice.
func (p *Pages) chooseAnother(w http.ResponseWriter, r *http.Request, s *signIn, choice string) {
	stepName := s.Choose
	tx, err := p.proceed(w, r, s, idx.Options{})
	if err != nil || tx.Status != idx.StatusPending {
		s.Choose = ""
		p.follow(w, r, s, kindSelect, tx, err, nil)
		return
	}
	alt := alternative(tx)
	if alt == nil || alt.Name != stepName {
		// The transaction moved on (another tab): show where it stands.
		s.Choose = ""
		p.follow(w, r, s, kindSelect, tx, err, nil)
		return
	}
	if !offers(alt, choice) {
		errs := newFormErrors()
		errs.addGlobal("That option isn't available. Choose one from the list.")
		p.renderStep(w, r, s, tx, errs, nil)
		return
	}
	s.Choose = ""
	tx, err = p.proceed(w, r, s, idx.Options{Step: stepName, Authenticator: choice})
	p.follow(w, r, s, kindSelect, tx, err, nil)
}

// forgot starts a password reset from the sign-in page.
func (p *Pages) forgot(w http.ResponseWriter, r *http.Request, s *signIn) {
	c, err := p.client(s)
	if err != nil {
		p.failed(w, r, kindSignIn, err)
		return
	}
	tx, err := c.RecoverPassword(p.withBrowser(w, r), p.state(c, s), idx.Options{})
	if errors.Is(err, idx.ErrRecoveryUnavailable) {
		errs := newFormErrors()
		errs.addGlobal("Resetting a password isn't available here. Contact your administrator.")
		p.renderOnly(w, r, s, kindSignIn, errs, nil)
		return
	}
	if err == nil {
		s.Flow, s.Choose = idx.FlowRecoverPassword, ""
	}
	p.follow(w, r, s, kindSignIn, tx, err, nil)
}

// recoverUsername posts the username of a password reset. The engine then
// offers the account's phone (one option, whether or not the username names
// an account), which is chosen at once: the next page asks how to send the
// code.
func (p *Pages) recoverUsername(w http.ResponseWriter, r *http.Request, s *signIn) {
	username := strings.TrimSpace(r.PostForm.Get("username"))
	kept := &inputKept{Username: username}
	errs := newFormErrors()
	switch {
	case username == "":
		errs.Fields["username"] = "Enter your username."
	case len(username) > maxUsername:
		errs.Fields["username"] = "That username is too long."
	}
	if errs.any() {
		p.renderOnly(w, r, s, kindRecover, errs, kept)
		return
	}
	s.Username = username
	tx, err := p.proceed(w, r, s, idx.Options{Username: username})
	if err == nil && tx.Status == idx.StatusPending && tx.NextStep.Name == stepSelect && !hasError(tx.Messages) {
		if opts := optionsFor(tx.NextStep); len(opts) == 1 {
			tx, err = p.proceed(w, r, s, idx.Options{Authenticator: opts[0].Value})
		}
	}
	p.follow(w, r, s, kindRecover, tx, err, kept)
}

// newPassword posts a new password: a reset's, or a new account's. It is
// typed twice; the engine checks its rules.
func (p *Pages) newPassword(w http.ResponseWriter, r *http.Request, s *signIn) {
	password := r.PostForm.Get("password")
	errs := newFormErrors()
	switch {
	case password == "":
		errs.Fields["password"] = "Enter a new password."
	case r.PostForm.Get("confirm") != password:
		errs.Fields["confirm"] = "The passwords don't match. Type the same password twice."
	}
	if errs.any() {
		p.renderOnly(w, r, s, kindPassword, errs, nil)
		return
	}
	// A new account's password is Options.Password; an expired password's
	// replacement (reenroll-authenticator) is Options.NewPassword, which the SDK
	// posts only there.
	opts := idx.Options{Password: password, NewPassword: password}
	if s.Flow == idx.FlowRecoverPassword {
		// A reset's new password is never Options.Password (see idx.Options).
		opts = idx.Options{NewPassword: password}
	}
	tx, err := p.proceed(w, r, s, opts)
	p.follow(w, r, s, kindPassword, tx, err, nil)
}

// register starts a registration from the sign-in page.
func (p *Pages) register(w http.ResponseWriter, r *http.Request, s *signIn) {
	c, err := p.client(s)
	if err != nil {
		p.failed(w, r, kindSignIn, err)
		return
	}
	tx, err := c.Register(p.withBrowser(w, r), p.state(c, s), idx.Options{})
	if errors.Is(err, idx.ErrRegistrationUnavailable) {
		errs := newFormErrors()
		errs.addGlobal("Creating an account isn't available here. Contact your administrator.")
		p.renderOnly(w, r, s, kindSignIn, errs, nil)
		return
	}
	if err == nil {
		s.Flow, s.Choose = idx.FlowRegister, ""
	}
	p.follow(w, r, s, kindSignIn, tx, err, nil)
}

// profile posts a new account's profile: the form's fields are the
// engine's ("userProfile.<attribute>"), and the engine checks them. On
// success the password authenticator is chosen at once (the only one a new
// account can start with), so the next page asks for the password.
func (p *Pages) profile(w http.ResponseWriter, r *http.Request, s *signIn) {
	profile := map[string]string{}
	kept := &inputKept{Profile: map[string]string{}}
	errs := newFormErrors()
	for name, values := range r.PostForm {
		attr, ok := strings.CutPrefix(name, profilePrefix)
		if !ok {
			continue
		}
		if !validAttribute(attr) || len(profile) >= maxProfileFields || len(values) != 1 {
			errs.addGlobal("The form couldn't be read. Reload the page and try again.")
			continue
		}
		v := strings.TrimSpace(values[0])
		switch {
		case v == "":
			errs.Fields[name] = "This field can't be empty."
		case len(v) > maxProfileValue:
			errs.Fields[name] = "This is too long."
			v = v[:0]
		}
		profile[attr] = v
		kept.Profile[name] = v
	}
	if len(profile) == 0 {
		errs.addGlobal("Fill in the form.")
	}
	if errs.any() {
		p.renderOnly(w, r, s, kindProfile, errs, kept)
		return
	}
	if email := profile["email"]; email != "" {
		s.Username = strings.ToLower(email)
	}
	tx, err := p.proceed(w, r, s, idx.Options{Profile: profile, Authenticator: keyPassword})
	if err == nil && tx.Status == idx.StatusPending && kindOf(tx.NextStep) == kindProfile && len(tx.Messages) == 0 {
		// Nothing was posted: a field the engine requires was not in the form.
		tx.Messages = []idx.Message{{Text: "Fill in every field.", Class: "ERROR"}}
	}
	p.follow(w, r, s, kindProfile, tx, err, kept)
}

// backToSignIn leaves a password reset or a registration for the sign-in
// page: the engine's cancel starts the transaction over at its first step,
// on the same interaction.
func (p *Pages) backToSignIn(w http.ResponseWriter, r *http.Request, s *signIn) {
	c, err := p.client(s)
	if err != nil {
		p.failed(w, r, kindAny, err)
		return
	}
	if _, err := c.Cancel(p.withBrowser(w, r), p.state(c, s)); err != nil && !errors.Is(err, idx.ErrActionUnavailable) {
		p.failed(w, r, kindAny, err)
		return
	}
	s.Flow, s.Choose, s.Method, s.PhoneMethods, s.SentAt, s.WaitUntil = "", "", "", nil, 0, 0
	p.moveOn(w, r, s, nil)
}
