package hosted

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strconv"

	"github.com/gatehouse-id/gatehouse/idx"
)

// pageNames are the page templates; each is parsed with layout.html.
var pageNames = []string{kindSignIn, kindSelect, kindPhone, kindEnroll, kindCode, kindUnsupported, "message", "continue"}

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
	CSRF     string
	Input    inputKept

	// Select.
	Options []authOption
	Enroll  bool

	// Phone, enroll, code.
	Phone   string // masked number
	Methods []method
	Method  string // how the current code was sent

	// Code.
	CanResend   bool
	ResendWait  string // "27 seconds" while the engine's wait lasts
	OtherMethod string // "voice" or "sms" when switching is offered

	// Unsupported step.
	StepName string

	// Message and continue pages.
	Heading, Text string
	Link          string // where the message page's button goes, if anywhere
}

// authOption is one way to verify on the select page.
type authOption struct {
	Value, Label, Detail string
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
	if s.Ended != nil {
		v.Title, v.Heading, v.Text = "Sign-in ended", "Sign-in ended", "Taking you back to the application…"
	}
	p.render(w, http.StatusOK, "continue", v)
}

// renderStep shows the page of the transaction's current step, saving the
// cookie first (the step's details and the notice it consumes).
func (p *Pages) renderStep(w http.ResponseWriter, r *http.Request, s *signIn, tx *idx.Transaction, errs formErrors, kept *inputKept) {
	p.renderStepStatus(w, r, s, tx, errs, kept, 0)
}

func (p *Pages) renderStepStatus(w http.ResponseWriter, r *http.Request, s *signIn, tx *idx.Transaction, errs formErrors, kept *inputKept, status int) {
	step := tx.NextStep
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
	if a := step.Authenticator; a != nil {
		v.Phone = a.Profile["phoneNumber"]
	}
	name := kindFor(step.Name)
	switch name {
	case kindSignIn:
		v.Title, v.Username = "Sign in", ""
		if v.Input.Username == "" {
			v.Input.Username = s.Username
		}
		if v.Input.Username == "" {
			v.Input.Username = s.LoginHint
		}
	case kindSelect:
		v.Title = "Verify it's you"
		v.Enroll = step.Name == stepSelectEnroll
		if v.Enroll {
			v.Title = "Set up phone verification"
		}
		v.Options = optionsFor(step)
	case kindPhone:
		v.Title = "Verify with your phone"
		v.Methods = methodsFrom(optionValues(step, "methodType"))
		if len(v.Methods) == 0 && step.Authenticator != nil {
			v.Methods = methodsFrom(step.Authenticator.Methods)
		}
	case kindEnroll:
		v.Title = "Add your phone"
		v.Methods = methodsFrom(optionValues(step, "methodType"))
		if len(v.Methods) == 0 {
			v.Methods = methodLabels
		}
	case kindCode:
		v.Title = "Enter code"
		v.Method = s.Method
		v.CanResend = step.CanResend
		if wait := p.resendWait(s); wait > 0 {
			v.ResendWait = waitText(wait)
		}
		if step.Name == stepChallenge && len(s.PhoneMethods) > 1 {
			v.OtherMethod = "voice"
			if v.Method == "voice" {
				v.OtherMethod = "sms"
			}
		}
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
// enrollment id, which tells several apart.
func optionsFor(step *idx.NextStep) []authOption {
	var out []authOption
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
				opt.Detail = a.Profile["phoneNumber"]
			}
			if opt.Value != "" {
				out = append(out, opt)
			}
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
