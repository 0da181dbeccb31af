package app

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"time"
)

// pageNames are the page templates; each is parsed together with layout.html.
var pageNames = []string{"signin", "select", "phone", "enroll", "code", "totp", "recover", "register", "password", "home", "unsupported", "message"}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		// field returns the error text for a field, "" if none.
		"field": func(e formErrors, name string) string { return e.Fields[name] },
	}
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("app: parsing template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// view is everything a page template may show. Each page uses a few fields.
type view struct {
	Title    string // the <title>; the page's own heading is in its template
	Notice   *notice
	Errors   formErrors
	Username string // who is signing in, shown on the step pages
	Who      string // what the step pages say before it; "Signing in as" when empty
	Step     int    // position in the four-step sign-in, 0 elsewhere
	CSRF     string // the sign-in form's token (formTokens)

	// Sign in: links to the flows the identity server offers.
	Offers offeredLinks

	// Inputs kept after an error (never the password).
	Input inputKept

	// Select authenticator; Enroll also marks an authenticator app's
	// enrollment (as opposed to its code at sign-in).
	Options []authOption
	Enroll  bool

	// Create an account: the server's profile fields.
	Fields []profileField

	// Choose a (new) password: the server's rules in words.
	Rules []string
	Reset bool // a password reset, not a new account

	// Set up an authenticator app.
	QRCode template.URL // a checked data: URI of a PNG, "" if none
	Secret string       // the shared secret, in groups of four

	// Verify with phone, enroll, enter code.
	Phone   string   // masked number
	Methods []method // delivery choices
	Method  string   // how the current code was sent: "sms" or "voice"

	// Enter code.
	CanResend   bool
	ResendWait  int    // seconds before the engine allows another code
	OtherMethod string // "voice" or "sms" when switching is offered
	Countdown   bool   // load the countdown script

	// Unsupported step.
	StepName string

	// Home.
	Profile *profile

	// Message page.
	Heading, Text string
}

// authOption is one way to verify on the select page.
type authOption struct {
	// Value is what the page posts back as idx.Options.Authenticator: the
	// enrollment id when there is one (it tells two phones apart), else the
	// option's Value (the authenticator key).
	Value string
	// Label is the server's label, e.g. "Phone".
	Label string
	// Detail is the masked phone number, if the server shows one, else a
	// word on what the option does.
	Detail string
	// Kind is the authenticator key, which picks the icon: "phone_number"
	// or "google_otp".
	Kind string
}

// method is a delivery choice on the phone pages.
type method struct {
	Value, Label, Hint string
}

// profile is what the home page shows about the signed-in user.
type profile struct {
	Name, Email, Subject string
	Initial              string // first letter of the name, for the avatar
	VerifiedWith         string
	SignedInAt           time.Time
	ExpiresAt            time.Time
	ExpiresIn            string
	HasRefreshToken      bool
}

// render executes a page into a buffer first, so a template error becomes a
// clean 500 instead of half a page.
func (s *server) render(w http.ResponseWriter, status int, name string, v *view) {
	if name == "signin" {
		v.Offers = s.offers.links()
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		s.log.Error("rendering page", "page", name, "err", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

// renderMessage shows a page with a heading, a sentence and a way back.
func (s *server) renderMessage(w http.ResponseWriter, status int, heading, text string) {
	s.render(w, status, "message", &view{Title: heading, Heading: heading, Text: text})
}

// methodLabels are the delivery choices in the order the pages offer them.
var methodLabels = []method{
	{Value: "sms", Label: "Text message", Hint: "Get a code by SMS"},
	{Value: "voice", Label: "Voice call", Hint: "Get a call that reads out a code"},
}

// methodsFrom lists the delivery choices the server offers, in the app's order.
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

// humanDuration says how far away t is, roughly, for the home page.
func humanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "expired"
	case d < time.Minute:
		return "in less than a minute"
	case d < 2*time.Minute:
		return "in 1 minute"
	case d < 2*time.Hour:
		return fmt.Sprintf("in %d minutes", int(d.Round(time.Minute)/time.Minute))
	default:
		return fmt.Sprintf("in %d hours", int(d.Round(time.Hour)/time.Hour))
	}
}
