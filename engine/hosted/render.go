package hosted

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"image/png"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-id/gatehouse/idx"
)

// pageNames are the page templates; each is parsed with layout.html.
var pageNames = []string{kindSignIn, kindSelect, kindPhone, kindEnroll, kindCode, kindApp, kindRecover, kindPassword, kindProfile,
	kindUnsupported, "message", "continue"}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"field": func(e formErrors, name string) string { return e.Fields[name] },
	}
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("hosted: parsing template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// view is what a page template may show; each page uses a few fields.
type view struct {
	Product  string
	Title    string
	Notice   *notice
	Errors   formErrors
	Username string // who is signing in, on the pages after the first
	WhoLabel string // what the pill says before it: "Signing in as"
	CSRF     string
	Input    inputKept

	// Sign in: what else the engine offers from there.
	CanRecover, CanRegister bool
	// CanGoBack offers "Back to sign in" (a password reset, a registration
	// before the account exists).
	CanGoBack bool
	// Another offers "choose another way" (the engine offers a choice of
	// authenticators beside the current step).
	Another bool

	// Select.
	Options   []authOption
	Enroll    bool
	Choosing  bool // reached by "choose another way": offers to go back
	OnlyPhone bool

	// Phone, enroll, code.
	Phone   string // masked number
	Methods []method
	Method  string // how the current code was sent

	// Code.
	App         bool // the authenticator app's code: nothing is sent
	CanResend   bool
	ResendWait  string // "27 seconds" while the engine's wait lasts
	OtherMethod string // "voice" or "sms" when switching is offered

	// Authenticator app enrollment.
	QRCode  template.URL // a checked data: URI of a PNG
	Secret  string       // the shared secret in groups of four
	AppName string       // the engine's name for it, e.g. "Google Authenticator"

	// New password.
	Reset bool     // a reset's (else a new account's)
	Rules []string // the password policy in words

	// Profile.
	Fields []profileField

	// Unsupported step.
	StepName string

	// Message and continue pages.
	Heading, Text string
	Link          string // where the message page's button goes, if anywhere
}

// authOption is one way to verify on the select page.
type authOption struct {
	Value, Label, Detail string
	App                  bool // the authenticator app (its own icon)
}

// profileField is one input of a new account's profile.
type profileField struct {
	Name, ID, Label, Type, Autocomplete, Value, Error string
}

// method is a delivery choice.
type method struct{ Value, Label, Hint string }

var methodLabels = []method{
	{Value: "sms", Label: "Text message", Hint: "Get a code by SMS"},
	{Value: "voice", Label: "Voice call", Hint: "Get a call that reads out a code"},
}

// methodsFrom lists the offered delivery methods in the pages' order.
func methodsFrom(offered []string) []method {
	var out []method
	for _, m := range methodLabels {
		for _, o := range offered {
			if o == m.Value {
				out = append(out, m)
			}
		}
	}
	return out
}

// render executes a page into a buffer first, so a template error is a
// clean 500 rather than half a page.
func (p *Pages) render(w http.ResponseWriter, status int, name string, v *view) {
	v.Product = p.product
	var buf bytes.Buffer
	if err := p.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		p.log.Error("hosted: rendering a page", "page", name, "err", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	if v.QRCode != "" {
		// The one page with an image that is not the pages' own: the QR
		// code, inlined as a data: URI the pages checked.
		w.Header().Set("Content-Security-Policy", contentSecurityPolicyQR)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// message shows a heading, a sentence and, with link, a way on.
func (p *Pages) message(w http.ResponseWriter, status int, heading, text, link string) {
	p.render(w, status, "message", &view{Title: heading, Heading: heading, Text: text, Link: link})
}

// continuePage is the answer to whatever ends the sign-in: it goes on to
// /signin/done by itself (meta refresh, no script) or with its link.
func (p *Pages) continuePage(w http.ResponseWriter, s *signIn) {
	v := &view{Title: "Signed in", Heading: "You're signed in", Text: "Taking you back to the application…", Link: pathDone}
	switch {
	case s.Ended != nil:
		v.Title, v.Heading, v.Text = "Sign-in ended", "Sign-in ended", "Taking you back to the application…"
	case s.Flow == idx.FlowRecoverPassword:
		v.Title, v.Heading, v.Text = "Password changed", "Your password is changed", "You're signed in. Taking you back to the application…"
	case s.Flow == idx.FlowRegister:
		v.Title, v.Heading, v.Text = "Account created", "Your account is ready", "You're signed in. Taking you back to the application…"
	}
	p.render(w, http.StatusOK, "continue", v)
}

// renderStep shows the page of the transaction's current step, saving the
// cookie first (the step's details and the notice it consumes).
func (p *Pages) renderStep(w http.ResponseWriter, r *http.Request, s *signIn, tx *idx.Transaction, errs formErrors, kept *inputKept) {
	p.renderStepStatus(w, r, s, tx, errs, kept, 0)
}

func (p *Pages) renderStepStatus(w http.ResponseWriter, r *http.Request, s *signIn, tx *idx.Transaction, errs formErrors, kept *inputKept, status int) {
	step := p.shown(s, tx)
	v := &view{Errors: errs, Username: s.Username, Notice: s.Notice, CSRF: p.jar.csrfToken(s)}
	s.Notice = nil
	if !p.save(w, r, s) {
		return
	}
	if kept != nil {
		v.Input = *kept
	}
	if status == 0 {
		switch {
		case rateLimited(tx.Messages) || tx.RetryAfter > 0:
			status = http.StatusTooManyRequests
			if tx.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(ceilSeconds(tx.RetryAfter)))
			}
		case errs.any():
			status = http.StatusUnprocessableEntity
		default:
			status = http.StatusOK
		}
	}
	switch s.Flow {
	case idx.FlowRecoverPassword:
		v.WhoLabel = "Password reset for"
	case idx.FlowRegister:
		v.WhoLabel = "New account for"
	default:
		v.WhoLabel = "Signing in as"
	}
	a := step.Authenticator
	if a != nil {
		v.Phone = a.Profile["phoneNumber"]
	}
	name := kindOf(step)
	v.CanGoBack = s.Flow == idx.FlowRecoverPassword ||
		(s.Flow == idx.FlowRegister && (name == kindProfile || name == kindPassword))
	v.Another = name != kindSelect && alternative(tx) != nil
	switch name {
	case kindSignIn:
		v.Title, v.Username = "Sign in", ""
		if v.Input.Username == "" {
			v.Input.Username = s.Username
		}
		if v.Input.Username == "" {
			v.Input.Username = s.LoginHint
		}
		v.CanRecover = slices.Contains(tx.EnabledFeatures, idx.FeaturePasswordRecovery)
		v.CanRegister = slices.Contains(tx.EnabledFeatures, idx.FeatureRegistration)
	case kindSelect:
		v.Enroll = step.Name == stepSelectEnroll
		v.Choosing = step != tx.NextStep
		v.Options = optionsFor(step)
		v.OnlyPhone = true
		for _, o := range v.Options {
			v.OnlyPhone = v.OnlyPhone && !o.App
		}
		switch {
		case v.Enroll && v.OnlyPhone:
			v.Title = "Set up phone verification"
		case v.Enroll:
			v.Title = "Set up two-step verification"
		default:
			v.Title = "Verify it's you"
		}
	case kindPhone:
		v.Title = "Verify with your phone"
		v.Methods = methodsFrom(optionValues(step, "methodType"))
		if len(v.Methods) == 0 && a != nil {
			v.Methods = methodsFrom(a.Methods)
		}
	case kindEnroll:
		v.Title = "Add your phone"
		v.Methods = methodsFrom(optionValues(step, "methodType"))
		if len(v.Methods) == 0 {
			v.Methods = methodLabels
		}
	case kindCode:
		v.Title = "Enter code"
		v.App = isApp(step)
		v.Method = s.Method
		v.CanResend = step.CanResend && !v.App
		if wait := p.resendWait(s); wait > 0 && v.CanResend {
			v.ResendWait = waitText(wait)
		}
		if step.Name == stepChallenge && a != nil && a.Key == keyPhone && len(s.PhoneMethods) > 1 {
			v.OtherMethod = "voice"
			if v.Method == "voice" {
				v.OtherMethod = "sms"
			}
			if wait := p.resendWait(s); wait > 0 {
				v.ResendWait = waitText(wait)
			}
		}
	case kindApp:
		v.Title = "Set up your authenticator app"
		if a != nil {
			v.AppName = a.DisplayName
			v.Secret = groupSecret(a.SharedSecret)
			v.QRCode = qrImage(a.QRCode)
			if v.QRCode == "" && a.QRCode != nil {
				p.log.WarnContext(r.Context(), "hosted: the engine's QR code is not a PNG data: URI; showing the key only")
			}
		}
		if v.AppName == "" {
			v.AppName = "Google Authenticator"
		}
	case kindRecover:
		v.Title = "Reset your password"
		if v.Input.Username == "" {
			v.Input.Username = s.Username
		}
		if v.Input.Username == "" {
			v.Input.Username = s.LoginHint
		}
	case kindPassword:
		v.Reset = step.Name == stepResetPassword || step.Name == stepReenrollPassword
		v.Title = "Create a password"
		if v.Reset {
			v.Title = "Set a new password"
		}
		if a != nil {
			v.Rules = a.PasswordPolicy.Rules()
		}
	case kindProfile:
		v.Title = "Create your account"
		v.Fields = profileFields(step, v.Input.Profile, errs)
	default:
		v.Title = "This step isn't supported"
		v.StepName = step.Name
	}
	if v.Input.Method == "" && len(v.Methods) > 0 {
		v.Input.Method = v.Methods[0].Value
	}
	p.render(w, status, name, v)
}

// optionsFor lists a select step's options; a phone is chosen by its
// enrollment id, which tells several apart. The authenticator app is called
// what it is to the user, with the engine's name for it below.
func optionsFor(step *idx.NextStep) []authOption {
	var out []authOption
	enroll := step.Name == stepSelectEnroll
	for _, in := range step.Inputs {
		if in.Name != "authenticator" {
			continue
		}
		for _, o := range in.Options {
			opt := authOption{Value: o.Value, Label: o.Label}
			if a := o.Authenticator; a != nil {
				if a.EnrollmentID != "" {
					opt.Value = a.EnrollmentID
				}
				switch a.Key {
				case keyApp:
					opt.App, opt.Label = true, "Authenticator app"
					name := a.DisplayName
					if name == "" {
						name = o.Label
					}
					if enroll {
						opt.Detail = "Use " + name + " or a similar app"
					} else {
						opt.Detail = "Enter a code from " + name
					}
				case keyPhone:
					opt.Detail = a.Profile["phoneNumber"]
					if opt.Detail == "" && enroll {
						opt.Detail = "Get codes by text message or voice call"
					}
				}
			}
			if opt.Label == "" {
				opt.Label = opt.Value
			}
			if opt.Value != "" {
				out = append(out, opt)
			}
		}
	}
	return out
}

// offers reports whether a select step has an option that value names,
// as the SDK matches a choice: by its value (an authenticator key), or by
// the authenticator or enrollment id of what it stands for.
func offers(step *idx.NextStep, value string) bool {
	for _, in := range step.Inputs {
		if in.Name != "authenticator" {
			continue
		}
		for _, o := range in.Options {
			if o.Value == value {
				return true
			}
			if a := o.Authenticator; a != nil && (a.Key == value || a.ID == value || a.EnrollmentID == value) {
				return true
			}
		}
	}
	return false
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

// profileFields are the inputs of a registration's profile form, in the
// engine's order, with what the user typed and the errors on each.
func profileFields(step *idx.NextStep, typed map[string]string, errs formErrors) []profileField {
	var out []profileField
	for _, in := range step.Inputs {
		attr, ok := strings.CutPrefix(in.Name, profilePrefix)
		if !ok || !validAttribute(attr) {
			continue
		}
		f := profileField{Name: in.Name, ID: "profile-" + attr, Label: in.Label, Type: "text", Value: typed[in.Name], Error: errs.Fields[in.Name]}
		if f.Label == "" {
			f.Label = attr
		}
		switch attr {
		case "email":
			f.Type, f.Autocomplete = "email", "email"
		case "firstName":
			f.Autocomplete = "given-name"
		case "lastName":
			f.Autocomplete = "family-name"
		case "locale":
			f.Autocomplete = "language"
		default:
			f.Autocomplete = "off"
		}
		out = append(out, f)
	}
	return out
}

// validAttribute accepts a profile attribute name: a letter, then letters,
// digits or underscores (Okta's attribute names).
func validAttribute(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i, c := range name {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '_')) {
			return false
		}
	}
	return true
}

// pngDataPrefix starts the only QR code images the pages show: PNGs inlined
// as data: URIs.
const pngDataPrefix = "data:image/png;base64,"

// maxQRBytes bounds the QR code image (the engine's are about 1 KB).
const maxQRBytes = 64 << 10

// qrImage checks the engine's QR code — a data: URI holding an image that
// decodes as a PNG of sensible size — and returns it re-encoded for an
// <img src>; "" for anything else.
func qrImage(q *idx.QRCode) template.URL {
	if q == nil || !strings.HasPrefix(q.Href, pngDataPrefix) || len(q.Href)-len(pngDataPrefix) > base64.StdEncoding.EncodedLen(maxQRBytes) {
		return ""
	}
	data, err := base64.StdEncoding.DecodeString(q.Href[len(pngDataPrefix):])
	if err != nil {
		return ""
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil || cfg.Width < 21 || cfg.Height < 21 || cfg.Width > 2048 || cfg.Height > 2048 {
		return "" // a QR code is at least 21 modules wide
	}
	if _, err := png.Decode(bytes.NewReader(data)); err != nil {
		return ""
	}
	return template.URL(pngDataPrefix + base64.StdEncoding.EncodeToString(data))
}

// groupSecret writes a base32 secret in groups of four, as people type it.
func groupSecret(secret string) string {
	var b strings.Builder
	n := 0
	for _, c := range strings.ToUpper(secret) {
		if c == ' ' || c == '=' || c == '-' {
			continue
		}
		if n > 0 && n%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
		n++
	}
	return b.String()
}
