package idxserver

import (
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// view is everything one IDX response is rendered from.
type view struct {
	tx          store.Transaction
	stateHandle string
	client      *clients.Client
	user        *store.User             // set once the password is verified
	phones      []store.PhoneEnrollment // the user's usable phones
	// messages are global; passcodeMessages go on the code field, phoneMessages on
	// the phone number field, identifierMessages on the username field.
	messages, passcodeMessages, phoneMessages, identifierMessages, passwordMessages []Message
}

// render builds the IDX response for the transaction's step (docs/protocol.md).
func (s *Server) render(v *view) Response {
	r := Response{
		Version:     idxVersion,
		StateHandle: v.stateHandle,
		ExpiresAt:   formatExpiry(v.tx.ExpiresAt),
		Intent:      "LOGIN",
		Cancel:      s.action("cancel", "/idp/idx/cancel", v.stateHandle),
		App:         object(App{Name: "oidc_client", Label: appLabel(v.client), ID: v.client.ID}),
	}
	if v.user != nil {
		r.User = object(User{ID: v.user.ID, Identifier: v.user.Login, Profile: UserProfile{
			FirstName: v.user.GivenName, LastName: v.user.FamilyName, Locale: v.user.Locale}})
	}
	switch v.tx.Step {
	case store.StepIdentify:
		r.Remediation = list(s.identifyForm(v))
	case store.StepSelectAuthenticator:
		r.Remediation = list(s.selectAuthenticatorForm(v))
		r.Authenticators = list(s.phoneAuthenticator(s.policy.EnrollMethods()))
		r.AuthenticatorEnrollments = list(s.enrollments(v)...)
	case store.StepVerifyData, store.StepChallenge:
		e, ok := v.enrollment()
		if !ok {
			// The enrollment was deleted mid-sign-in: offer the remaining ones.
			v.tx.Step = store.StepSelectAuthenticator
			return s.render(v)
		}
		current := s.enrollmentObject(e)
		first := s.verificationDataForm(v, e)
		if v.tx.Step == store.StepChallenge {
			first = s.codeForm("challenge-authenticator", "$.currentAuthenticatorEnrollment", v)
			current.Methods = []Method{{Type: v.tx.Method}}
			current.Resend = s.action("resend", "/idp/idx/challenge/resend", v.stateHandle)
		}
		r.Remediation = list(first, s.selectAuthenticatorForm(v))
		r.CurrentAuthenticatorEnrollment = object(current)
		r.Authenticators = list(s.phoneAuthenticator(s.policy.EnrollMethods()))
		r.AuthenticatorEnrollments = list(s.enrollments(v)...)
	case store.StepSelectEnroll:
		r.Remediation = list(s.selectEnrollForm(v))
		r.Authenticators = list(s.phoneAuthenticator(s.policy.EnrollMethods()))
		r.AuthenticatorEnrollments = list[Authenticator]()
	case store.StepEnrollData:
		r.Remediation = list(s.enrollmentDataForm(v), s.selectEnrollForm(v))
		r.CurrentAuthenticator = object(s.phoneAuthenticator(s.policy.EnrollMethods()))
		r.Authenticators = list(s.phoneAuthenticator(s.policy.EnrollMethods()))
		r.AuthenticatorEnrollments = list[Authenticator]()
	case store.StepEnrollChallenge:
		current := s.phoneAuthenticator([]string{v.tx.Method})
		current.Resend = s.action("resend", "/idp/idx/challenge/resend", v.stateHandle)
		r.Remediation = list(s.codeForm("enroll-authenticator", "$.currentAuthenticator", v), s.selectEnrollForm(v))
		r.CurrentAuthenticator = object(current)
		r.EnrollmentAuthenticator = object(s.phoneAuthenticator([]string{v.tx.Method}))
		r.Authenticators = list(s.phoneAuthenticator(s.policy.EnrollMethods()))
		r.AuthenticatorEnrollments = list[Authenticator]()
	case store.StepSuccess:
		r.SuccessWithInteractionCode = s.successForm(v)
	}
	if len(v.messages) > 0 {
		r.Messages = list(v.messages...)
	}
	return r
}

func appLabel(c *clients.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

func (v *view) enrollment() (store.PhoneEnrollment, bool) {
	for _, e := range v.phones {
		if e.ID == v.tx.EnrollmentID {
			return e, true
		}
	}
	return store.PhoneEnrollment{}, false
}

func (s *Server) href(path string) string { return s.origin + path }

func (s *Server) form(name, path string, relatesTo string, fields ...Field) Form {
	f := Form{
		Rel: []string{"create-form"}, Name: name, Href: s.href(path), Method: "POST",
		Produces: producesType, Value: fields, Accepts: acceptsType,
	}
	if relatesTo != "" {
		f.RelatesTo = []string{relatesTo}
	}
	return f
}

func (s *Server) action(name, path, stateHandle string) *Form {
	f := s.form(name, path, "", hidden("stateHandle", stateHandle))
	return &f
}

func withMessages(f Field, msgs []Message) Field {
	if len(msgs) > 0 {
		f.Messages = list(msgs...)
	}
	return f
}

func (s *Server) identifyForm(v *view) Form {
	return s.form("identify", "/idp/idx/identify", "",
		withMessages(Field{Name: "identifier", Label: "Username", Required: ptr(true)}, v.identifierMessages),
		Field{Name: "credentials", Type: "object", Required: ptr(true), Form: &FieldForm{Value: []Field{
			withMessages(Field{Name: "passcode", Label: "Password", Secret: true}, v.passwordMessages),
		}}},
		Field{Name: "rememberMe", Type: "boolean", Label: "Keep me signed in"},
		hidden("stateHandle", v.stateHandle),
	)
}

// methodField lists delivery methods. type "string" is required by the Go IDX SDK
// to send the field at all (docs/protocol.md).
func methodField(methods []string, required bool) Field {
	opts := make([]Option, 0, len(methods))
	for _, m := range methods {
		opts = append(opts, Option{Label: methodLabel(m), Value: m})
	}
	return Field{Name: "methodType", Type: "string", Required: ptr(required), Options: opts}
}

func methodLabel(m string) string {
	if m == phone.Voice {
		return "Voice call"
	}
	return "SMS"
}

func methodList(methods []string) []Method {
	out := make([]Method, 0, len(methods))
	for _, m := range methods {
		out = append(out, Method{Type: m})
	}
	return out
}

// selectAuthenticatorForm offers one "Phone" option per usable enrollment, each
// relating to its entry in authenticatorEnrollments. The password is never offered
// again once proven: the Go IDX SDK would re-send it (docs/protocol.md).
func (s *Server) selectAuthenticatorForm(v *view) Form {
	opts := make([]Option, 0, len(v.phones))
	for i, e := range v.phones {
		opts = append(opts, Option{
			Label: "Phone",
			Value: OptionForm{Form: FieldForm{Value: []Field{
				fixed("id", s.phoneAuthID),
				methodField(s.policy.Methods(e), false),
				fixed("enrollmentId", e.ID),
			}}},
			RelatesTo: "$.authenticatorEnrollments.value[" + strconv.Itoa(i) + "]",
		})
	}
	return s.form("select-authenticator-authenticate", "/idp/idx/challenge", "",
		Field{Name: "authenticator", Type: "object", Options: opts},
		hidden("stateHandle", v.stateHandle),
	)
}

func (s *Server) verificationDataForm(v *view, e store.PhoneEnrollment) Form {
	return s.form("authenticator-verification-data", "/idp/idx/challenge", "$.currentAuthenticatorEnrollment",
		Field{Name: "authenticator", Label: "Phone", Form: &FieldForm{Value: []Field{
			fixed("id", s.phoneAuthID),
			methodField(s.policy.Methods(e), true),
			fixed("enrollmentId", e.ID),
		}}},
		hidden("stateHandle", v.stateHandle),
	)
}

// codeForm is challenge-authenticator or enroll-authenticator: the code field.
func (s *Server) codeForm(name, relatesTo string, v *view) Form {
	return s.form(name, "/idp/idx/challenge/answer", relatesTo,
		Field{Name: "credentials", Type: "object", Required: ptr(true), Form: &FieldForm{Value: []Field{
			withMessages(Field{Name: "passcode", Label: "Enter code"}, v.passcodeMessages),
		}}},
		hidden("stateHandle", v.stateHandle),
	)
}

func (s *Server) selectEnrollForm(v *view) Form {
	return s.form("select-authenticator-enroll", "/idp/idx/credential/enroll", "",
		Field{Name: "authenticator", Type: "object", Options: []Option{{
			Label: "Phone",
			Value: OptionForm{Form: FieldForm{Value: []Field{
				fixed("id", s.phoneAuthID),
				methodField(s.policy.EnrollMethods(), false),
				{Name: "phoneNumber", Label: "Phone number", Required: ptr(false)},
			}}},
			RelatesTo: "$.authenticators.value[0]",
		}}},
		hidden("stateHandle", v.stateHandle),
	)
}

func (s *Server) enrollmentDataForm(v *view) Form {
	return s.form("authenticator-enrollment-data", "/idp/idx/credential/enroll", "$.currentAuthenticator",
		Field{Name: "authenticator", Label: "Phone", Form: &FieldForm{Value: []Field{
			fixed("id", s.phoneAuthID),
			methodField(s.policy.EnrollMethods(), true),
			withMessages(Field{Name: "phoneNumber", Label: "Phone number", Required: ptr(true)}, v.phoneMessages),
		}}},
		hidden("stateHandle", v.stateHandle),
	)
}

// successForm tells the client how to redeem the interaction code. okta-auth-js
// only takes the code from it; the Go IDX SDK posts it as is (docs/protocol.md).
func (s *Server) successForm(v *view) *Form {
	fields := []Field{
		{Name: "grant_type", Required: ptr(true), Value: "interaction_code"},
		{Name: "interaction_code", Required: ptr(true), Value: interactionCode(v.stateHandle, v.tx)},
		{Name: "client_id", Required: ptr(true), Value: v.client.ID},
	}
	if v.client.Confidential() {
		fields = append(fields, Field{Name: "client_secret", Required: ptr(true)})
	}
	fields = append(fields, Field{Name: "code_verifier", Required: ptr(true)})
	return &Form{
		Rel: []string{"create-form"}, Name: "issue", Href: s.tokenURL, Method: "POST",
		Value: fields, Accepts: formType,
	}
}

// interactionCode is derived from the state handle, so that a later introspect can
// show it again without the engine storing it (only its hash is kept).
func interactionCode(stateHandle string, tx store.Transaction) string {
	return opaque.Derive(stateHandle, "interaction_code|"+tx.ID+"|"+strconv.FormatInt(tx.AuthTime.UnixMilli(), 10))
}

// stateHandleFor derives the state handle from the interaction handle. "02" is the
// prefix Okta's handles carry; clients treat the rest as opaque.
func stateHandleFor(interactionHandle string) string {
	return "02" + opaque.Derive(interactionHandle, "state_handle")
}

func (s *Server) phoneAuthenticator(methods []string) Authenticator {
	return Authenticator{Type: "phone", Key: "phone_number", ID: s.phoneAuthID, DisplayName: "Phone", Methods: methodList(methods)}
}

func (s *Server) enrollmentObject(e store.PhoneEnrollment) Authenticator {
	return Authenticator{
		Profile: &Profile{PhoneNumber: s.masks.mask(e.Number)},
		Type:    "phone", Key: "phone_number", ID: e.ID, DisplayName: "Phone",
		Methods: methodList(s.policy.Methods(e)),
	}
}

func (s *Server) enrollments(v *view) []Authenticator {
	out := make([]Authenticator, 0, len(v.phones))
	for _, e := range v.phones {
		out = append(out, s.enrollmentObject(e))
	}
	return out
}

// expiredResponse is the terminal body for an unknown, expired or finished
// transaction (docs/protocol.md).
func expiredResponse() Response {
	return Response{Version: idxVersion, Messages: list(msgSessionExpired)}
}

// bareResponse is a body without remediation: okta-auth-js reports TERMINAL.
func bareResponse(msgs ...Message) Response {
	return Response{Version: idxVersion, Messages: list(msgs...)}
}

// formatExpiry is how expiresAt is written.
func formatExpiry(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// maskCache remembers phone.Mask's answers. Every state of a sign-in after the
// password shows the masked number once or twice, and masking parses the number with
// libphonenumber's regular expressions: 3 % of the engine's CPU time per sign-in
// before this cache (docs/performance.md). Masking is a pure function of the number,
// so a remembered answer is the same answer.
type maskCache struct {
	mu sync.Mutex
	m  map[string]string
}

// maskCacheSize bounds the cache: far more numbers than sign-ins in flight at once.
const maskCacheSize = 4096

func (c *maskCache) mask(number string) string {
	c.mu.Lock()
	masked, ok := c.m[number]
	c.mu.Unlock()
	if ok {
		return masked
	}
	masked = phone.Mask(number)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]string, maskCacheSize)
	}
	if len(c.m) >= maskCacheSize {
		for k := range c.m { // map order is random: this evicts an arbitrary entry
			delete(c.m, k)
			break
		}
	}
	c.m[number] = masked
	return masked
}
