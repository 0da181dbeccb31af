package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/gatehouse-id/gatehouse/idx"
)

// Password reset ("Forgot password?"), registration ("Create an account") and
// authenticator apps (TOTP, Okta's "google_otp"). The sign-in page links to
// the first two only when the identity server offers them.

// offers is what the identity server offers besides signing in, for the
// sign-in page's links. Finding out takes a transaction (interact and
// introspect: the answer's recover action and select-enroll-profile step),
// so the app checks at most once per offersTTL — when the sign-in page is
// shown and the last answer is older — and also learns it, for free, from
// every sign-in that comes back to the username and password step. While a
// check runs, other pages use what is known.
type offers struct {
	mu                sync.Mutex
	recover, register bool
	next              time.Time // when to check again (the app's real clock)
	checking          bool
}

const (
	offersTTL     = 5 * time.Minute
	offersRetry   = 30 * time.Second // after a failed check
	offersTimeout = 5 * time.Second
)

// checkOffers asks the identity server what it offers, unless it was asked
// recently; r's context carries the browser's address, as every call does.
func (s *server) checkOffers(r *http.Request) {
	o := &s.offers
	o.mu.Lock()
	if o.checking || time.Now().Before(o.next) {
		o.mu.Unlock()
		return
	}
	o.checking = true
	o.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), offersTimeout)
	defer cancel()
	tx, err := s.client.Authenticate(ctx, nil, idx.Options{})
	o.mu.Lock()
	defer o.mu.Unlock()
	o.checking = false
	if err != nil {
		s.log.Warn("asking the identity server what it offers", "err", err)
		o.next = time.Now().Add(offersRetry)
		return
	}
	o.set(tx.EnabledFeatures)
}

// learn records what a transaction's answer offers.
func (o *offers) learn(features []idx.Feature) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.set(features)
}

func (o *offers) set(features []idx.Feature) {
	o.recover, o.register = false, false
	for _, f := range features {
		switch f {
		case idx.FeaturePasswordRecovery:
			o.recover = true
		case idx.FeatureRegistration:
			o.register = true
		}
	}
	o.next = time.Now().Add(offersTTL)
}

// withdraw records that the server refused to start flow after all.
func (o *offers) withdraw(flow idx.Flow) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch flow {
	case idx.FlowRecoverPassword:
		o.recover = false
	case idx.FlowRegister:
		o.register = false
	}
}

func (o *offers) links() offeredLinks {
	o.mu.Lock()
	defer o.mu.Unlock()
	return offeredLinks{Recover: o.recover, Register: o.register}
}

// offeredLinks are the sign-in page's links to the other flows.
type offeredLinks struct{ Recover, Register bool }

// startFlow starts a password reset or a registration from the sign-in
// page's link (a form with the sign-in form's token, since it starts a
// transaction and a session as signing in does). A transaction left at the
// username and password step (a wrong password) goes on as the new flow.
func (s *server) startFlow(flow idx.Flow) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v := s.load(r)
		if v.sess.signedIn() {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		if !s.forms.valid(r) {
			s.renderSignIn(w, r, v, http.StatusForbidden, "This sign-in page had expired, so nothing was sent. Try again.")
			return
		}
		if v.id == "" {
			release, wait, ok := s.admit(r)
			if !ok {
				s.tooManySignIns(w, wait)
				return
			}
			defer release()
		}
		begin := s.client.Register
		if flow == idx.FlowRecoverPassword {
			begin = s.client.RecoverPassword
		}
		var st *idx.State
		if v.sess.Step == stepIdentify {
			st = v.sess.State
		}
		tx, err := begin(r.Context(), st, idx.Options{})
		if err == nil && st != nil && tx.Status == idx.StatusTerminal {
			tx, err = begin(r.Context(), nil, idx.Options{})
		}
		if errors.Is(err, idx.ErrRecoveryUnavailable) || errors.Is(err, idx.ErrRegistrationUnavailable) {
			s.offers.withdraw(flow)
			text := "Creating an account isn't available here. Contact your administrator."
			if flow == idx.FlowRecoverPassword {
				text = "Resetting a password isn't available here. Contact your administrator."
			}
			s.renderSignIn(w, r, v, http.StatusUnprocessableEntity, text)
			return
		}
		s.follow(w, r, v, pathSignIn, tx, err)
	}
}

// renderSignIn shows the sign-in page with one error for the whole form.
func (s *server) renderSignIn(w http.ResponseWriter, r *http.Request, v *visit, status int, text string) {
	page := &view{Title: "Sign in", Step: 1, CSRF: s.forms.issue(w, r)}
	page.Input.Username = v.sess.Username
	page.Errors = newFormErrors()
	page.Errors.addGlobal(text)
	s.render(w, status, "signin", page)
}

// recoverUsername posts the username of a password reset
// (identify-recovery).
func (s *server) recoverUsername(w http.ResponseWriter, r *http.Request) {
	v := s.load(r)
	username := strings.TrimSpace(r.PostFormValue("username"))
	if username == "" {
		if tx, ok := s.current(w, r, v, pathRecover); ok {
			errs := newFormErrors()
			errs.Fields["username"] = "Enter your username."
			s.renderStep(w, r, v, tx, errs, nil)
		}
		return
	}
	if v.sess.State == nil {
		s.lost(w, r, v)
		return
	}
	v.sess.Username = username
	tx, err := s.client.Proceed(r.Context(), v.sess.State, idx.Options{Username: username})
	s.follow(w, r, v, pathRecover, tx, err, inputKept{Username: username})
}

// maxProfileValue bounds what one profile field may hold.
const maxProfileValue = 200

// submitProfile posts the new user's profile (enroll-profile). The fields
// are the server's: whatever its form lists, read from the current step.
// The password authenticator is chosen along with it, so that the next page
// is the password, with its rules.
func (s *server) submitProfile(w http.ResponseWriter, r *http.Request) {
	v := s.load(r)
	tx, ok := s.current(w, r, v, pathRegister)
	if !ok {
		return
	}
	values := map[string]any{}
	kept := inputKept{Profile: map[string]string{}}
	errs := newFormErrors()
	for _, in := range tx.NextStep.Inputs {
		raw := strings.TrimSpace(r.PostFormValue(in.Name))
		switch {
		case in.Type == "boolean":
			values[in.Name] = raw == "true"
			if raw == "true" {
				kept.Profile[in.Name] = "true"
			}
			continue
		case len(raw) > maxProfileValue:
			errs.Fields[in.Name] = fmt.Sprintf("Use at most %d characters.", maxProfileValue)
		case raw == "" && in.Required:
			errs.Fields[in.Name] = "Enter your " + lowerFirst(labelOf(in)) + "."
		case len(in.Options) > 0 && raw != "" && !hasOption(in, raw):
			errs.Fields[in.Name] = "Choose one of the options."
		}
		if !in.Secret {
			kept.Profile[in.Name] = raw
		}
		if raw != "" {
			values[in.Name] = raw
		}
	}
	if errs.any() {
		s.renderStep(w, r, v, tx, errs, &kept)
		return
	}
	if email, ok := values["userProfile.email"].(string); ok {
		v.sess.Username = email
	}
	tx, err := s.client.Proceed(r.Context(), v.sess.State, idx.Options{Values: values, Authenticator: keyPassword})
	s.follow(w, r, v, pathRegister, tx, err, kept)
}

func labelOf(in idx.Input) string {
	if in.Label != "" {
		return in.Label
	}
	_, name, _ := strings.Cut(in.Name, ".")
	return name
}

func lowerFirst(s string) string {
	for i, r := range s {
		return string(unicode.ToLower(r)) + s[i+len(string(r)):]
	}
	return s
}

func hasOption(in idx.Input, value string) bool {
	for _, o := range in.Options {
		if o.Value == value {
			return true
		}
	}
	return false
}

// submitPassword posts a new password: the one of a reset
// (reset-authenticator, Options.NewPassword) or of a new account (the
// password authenticator's enrollment, Options.Password). It is never shown
// again, not even after a mistake.
func (s *server) submitPassword(w http.ResponseWriter, r *http.Request) {
	v := s.load(r)
	password, confirm := r.PostFormValue("password"), r.PostFormValue("confirm")
	tx, ok := s.current(w, r, v, pathPassword)
	if !ok {
		return
	}
	errs := newFormErrors()
	switch {
	case password == "":
		errs.Fields["password"] = "Enter a password."
	case confirm != password:
		errs.Fields["confirm"] = "The two passwords don't match. Type the same password twice."
	}
	if errs.any() {
		s.renderStep(w, r, v, tx, errs, nil)
		return
	}
	opts := idx.Options{Password: password}
	if tx.NextStep.Name == stepResetPassword || tx.NextStep.Name == stepReenrollPassword {
		opts = idx.Options{NewPassword: password}
	}
	tx, err := s.client.Proceed(r.Context(), v.sess.State, opts)
	s.follow(w, r, v, pathPassword, tx, err)
}

// submitTOTP posts the code an authenticator app shows, at its enrollment
// or at sign-in.
func (s *server) submitTOTP(w http.ResponseWriter, r *http.Request) {
	s.submitCode(w, r, pathTOTP, "Enter the 6-digit code your app shows.")
}

// normalizeCode drops the spaces and dashes people paste ("123 456").
func normalizeCode(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '-' {
			return -1
		}
		return r
	}, s)
}

// profileField is one field of the registration form, as the server lists
// it.
type profileField struct {
	Name         string // the SDK's input name, e.g. "userProfile.email", also the form field's
	ID           string // the HTML id
	Label        string
	Type         string // the input's type attribute: text, email
	Autocomplete string
	Required     bool
	Checkbox     bool
	Options      []idx.Option
	Value        string
}

// autocompleteOf are the autocomplete tokens of Okta's usual profile
// attributes.
var autocompleteOf = map[string]string{
	"email": "email", "firstName": "given-name", "lastName": "family-name", "middleName": "additional-name",
	"honorificPrefix": "honorific-prefix", "honorificSuffix": "honorific-suffix", "nickName": "nickname",
	"mobilePhone": "tel", "primaryPhone": "tel", "zipCode": "postal-code", "postalAddress": "street-address",
	"countryCode": "country", "preferredLanguage": "language", "locale": "language",
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// profileFields lists the step's inputs as form fields, with the values
// kept after a mistake.
func profileFields(step *idx.NextStep, kept map[string]string) []profileField {
	var out []profileField
	for _, in := range step.Inputs {
		_, attr, _ := strings.Cut(in.Name, ".")
		if attr == "" {
			attr = in.Name
		}
		f := profileField{
			Name: in.Name, ID: "profile-" + unsafeID.ReplaceAllString(attr, "_"), Label: labelOf(in),
			Type: "text", Autocomplete: autocompleteOf[attr], Required: in.Required,
			Checkbox: in.Type == "boolean", Options: in.Options, Value: kept[in.Name],
		}
		switch {
		case in.Secret:
			f.Type, f.Autocomplete, f.Value = "password", "new-password", ""
		case attr == "email":
			f.Type = "email"
		}
		if f.Autocomplete == "" {
			f.Autocomplete = "off"
		}
		out = append(out, f)
	}
	return out
}

// pngDataPrefix starts the only QR code images the app shows: PNGs inlined
// as data: URIs, which the Content-Security-Policy allows for images only.
const pngDataPrefix = "data:image/png;base64,"

// maxQRBytes bounds the QR code image (Okta's are about 2 KB).
const maxQRBytes = 64 << 10

// qrImage checks the server's QR code — a data: URI holding a PNG — and
// returns it re-encoded for an <img src>; "" if it is anything else.
func qrImage(q *idx.QRCode) template.URL {
	if q == nil || !strings.HasPrefix(q.Href, pngDataPrefix) || len(q.Href) > maxQRBytes*4/3+len(pngDataPrefix)+4 {
		return ""
	}
	png, err := base64.StdEncoding.DecodeString(q.Href[len(pngDataPrefix):])
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		return ""
	}
	return template.URL(pngDataPrefix + base64.StdEncoding.EncodeToString(png))
}

// groupSecret writes a base32 secret in groups of four, as people type it.
func groupSecret(secret string) string {
	var b strings.Builder
	for i, r := range strings.ToUpper(strings.TrimSpace(secret)) {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
