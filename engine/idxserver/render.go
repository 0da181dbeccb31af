package idxserver

import (
	"crypto/sha256"
	"math/big"
	"strconv"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/account"
	"github.com/gatehouse-id/gatehouse/engine/authn"
	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// view is everything one IDX response is rendered from.
type view struct {
	tx          store.Transaction
	stateHandle string
	client      *clients.Client
	user        *store.User // set once the password is verified (or the recovery's user)
	// account is user with their password hash and factors, as read with the
	// transaction (store.GetSignIn) or after a change.
	account *store.Account
	// enrollments are the user's usable enrollments of every authenticator, in the
	// order they are offered (in a recovery: the phone, as recoveryEnrollments).
	enrollments []enrolled
	// messages are global; fields holds the messages of one input each, by name
	// ("identifier", "password", "passcode", "phoneNumber", "userProfile.email").
	messages []Message
	fields   map[string][]Message
}

// enrolled is one enrollment with its authenticator.
type enrolled struct {
	auth   authn.Authenticator
	authID string // the authenticator's id in this deployment
	e      authn.Enrollment
}

func (v *view) onField(name string, msg Message) {
	if v.fields == nil {
		v.fields = map[string][]Message{}
	}
	v.fields[name] = append(v.fields[name], msg)
}

// registering: a registration whose account does not exist yet.
func (v *view) registering() bool { return v.tx.Flow == store.FlowRegistration && v.tx.UserID == "" }

// find returns the enrollment a client chose by authenticator id (and enrollment
// id, when given).
func (v *view) find(authenticatorID, enrollmentID string) (enrolled, bool) {
	for _, x := range v.enrollments {
		if x.authID == authenticatorID && (enrollmentID == "" || x.e.ID == enrollmentID) {
			return x, true
		}
	}
	return enrolled{}, false
}

// current is the enrollment the transaction is verifying.
func (v *view) current() (authn.Enrollment, bool) {
	x, ok := v.currentEnrolled()
	return x.e, ok
}

func (v *view) currentEnrolled() (enrolled, bool) {
	for _, x := range v.enrollments {
		if x.e.ID == v.tx.EnrollmentID && x.auth.Key() == v.tx.Authenticator {
			return x, true
		}
	}
	return enrolled{}, false
}

// render builds the IDX response for the transaction's state from the flow table
// (flow.go).
func (s *Server) render(v *view) Response {
	r := Response{
		Version:     idxVersion,
		StateHandle: v.stateHandle,
		ExpiresAt:   formatExpiry(v.tx.ExpiresAt),
		Intent:      "LOGIN",
		App:         object(App{Name: "oidc_client", Label: appLabel(v.client), ID: v.client.ID}),
	}
	// A recovery shows no user until it succeeds: the answers may not tell whether
	// the username names one.
	if v.user != nil && (v.tx.Flow != store.FlowRecovery || v.tx.Step == store.StepSuccess) {
		r.User = object(User{ID: v.user.ID, Identifier: v.user.Login, Profile: UserProfile{
			FirstName: v.user.GivenName, LastName: v.user.FamilyName, Locale: v.user.Locale}})
	}
	if v.tx.Step == store.StepVerifyData || v.tx.Step == store.StepChallenge {
		if _, ok := v.current(); !ok {
			// The enrollment was deleted mid-sign-in: offer the remaining ones.
			v.tx.Step = store.StepSelectAuthenticator
		}
	}
	if (v.tx.Step == store.StepEnrollData || v.tx.Step == store.StepEnrollChallenge) &&
		v.tx.Authenticator != authn.KeyPassword && s.authenticator(v.tx.Authenticator) == nil {
		// The authenticator was turned off mid-sign-in: offer the others.
		v.tx.Step = store.StepSelectEnroll
	}
	st := flow[v.tx.Step]
	var forms []Form
	for _, rem := range s.offered(v) {
		switch rem.place {
		case placeForm:
			forms = append(forms, rem.form(s, v))
		case placeCancel:
			r.Cancel = s.action(rem, v.stateHandle)
		}
	}
	if len(forms) > 0 {
		r.Remediation = list(forms...)
	}
	if st.decorate != nil {
		st.decorate(s, v, &r)
	}
	if v.tx.Step == store.StepSuccess {
		r.SuccessWithInteractionCode = s.successForm(v)
	}
	if len(v.messages) > 0 {
		r.Messages = list(v.messages...)
	}
	return r
}

// offers reports whether the state offers rem now.
func (s *Server) offers(v *view, rem *remediation) bool {
	for _, x := range s.offered(v) {
		if x == rem {
			return true
		}
	}
	return false
}

func appLabel(c *clients.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

func (s *Server) href(path string) string { return s.origin + path }

func (s *Server) form(rem *remediation, relatesTo string, fields ...Field) Form {
	f := Form{
		Rel: []string{"create-form"}, Name: rem.name, Href: s.href(rem.path), Method: "POST",
		Produces: producesType, Value: fields, Accepts: acceptsType,
	}
	if relatesTo != "" {
		f.RelatesTo = []string{relatesTo}
	}
	return f
}

func (s *Server) action(rem *remediation, stateHandle string) *Form {
	f := s.form(rem, "", hidden("stateHandle", stateHandle))
	return &f
}

func (v *view) withMessages(f Field, name string) Field {
	if msgs := v.fields[name]; len(msgs) > 0 {
		f.Messages = list(msgs...)
	}
	return f
}

// ---- the states' decorations ----

func (s *Server) decorateIdentify(v *view, r *Response) {
	if s.offers(v, remRecover) {
		pw := s.passwordObject(false)
		pw.Recover = s.action(remRecover, v.stateHandle)
		r.CurrentAuthenticator = object(pw)
	}
}

func (s *Server) decorateSelectAuthenticator(v *view, r *Response) {
	r.Authenticators = list(s.authenticatorObjects(v)...)
	r.AuthenticatorEnrollments = list(s.enrollmentObjects(v)...)
}

func (s *Server) decorateChallenge(v *view, r *Response) {
	x, _ := v.currentEnrolled()
	current := s.enrollmentObject(x)
	if v.tx.Step == store.StepChallenge {
		current.Methods = []Method{{Type: v.tx.Method}}
		if s.offers(v, remResend) {
			current.Resend = s.action(remResend, v.stateHandle)
		}
	}
	r.CurrentAuthenticatorEnrollment = object(current)
	s.decorateSelectAuthenticator(v, r)
}

func (s *Server) decorateSelectEnroll(v *view, r *Response) {
	r.Authenticators = list(s.enrollableObjects(v)...)
	r.AuthenticatorEnrollments = list[Authenticator]()
}

func (s *Server) decorateEnroll(v *view, r *Response) {
	s.decorateSelectEnroll(v, r)
	if v.tx.Authenticator == authn.KeyPassword {
		pw := s.passwordObject(true)
		r.CurrentAuthenticator = object(pw)
		r.EnrollmentAuthenticator = object(s.passwordObject(false))
		return
	}
	a := s.authenticator(v.tx.Authenticator)
	if a == nil {
		return
	}
	if v.tx.Step == store.StepEnrollData {
		r.CurrentAuthenticator = object(s.authenticatorObject(a, a.EnrollMethods()))
		return
	}
	current := s.authenticatorObject(a, []string{v.tx.Method})
	current.ContextualData = a.ContextualData(authn.Request{TransactionID: v.tx.ID, UserID: v.tx.UserID, Login: v.loginForDisplay()},
		authn.Challenge{ID: v.tx.ChallengeID, Data: v.tx.Pending})
	if s.offers(v, remResend) {
		current.Resend = s.action(remResend, v.stateHandle)
	}
	r.CurrentAuthenticator = object(current)
	r.EnrollmentAuthenticator = object(s.authenticatorObject(a, []string{v.tx.Method}))
}

func (s *Server) decorateReset(v *view, r *Response) {
	r.CurrentAuthenticator = object(s.passwordObject(true))
}

func (v *view) loginForDisplay() string {
	if v.user != nil {
		return v.user.Login
	}
	return ""
}

// ---- forms ----

func (s *Server) identifyForm(v *view) Form {
	return s.form(remIdentify, "",
		v.withMessages(Field{Name: "identifier", Label: "Username", Required: ptr(true)}, "identifier"),
		Field{Name: "credentials", Type: "object", Required: ptr(true), Form: &FieldForm{Value: []Field{
			v.withMessages(Field{Name: "passcode", Label: "Password", Secret: true}, "password"),
		}}},
		Field{Name: "rememberMe", Type: "boolean", Label: "Keep me signed in"},
		hidden("stateHandle", v.stateHandle),
	)
}

func (s *Server) identifyRecoveryForm(v *view) Form {
	return s.form(remIdentifyRecovery, "",
		v.withMessages(Field{Name: "identifier", Label: "Username", Required: ptr(true)}, "identifier"),
		hidden("stateHandle", v.stateHandle),
	)
}

func (s *Server) selectEnrollProfileForm(v *view) Form {
	return s.form(remSelectEnrollProfile, "", hidden("stateHandle", v.stateHandle))
}

func (s *Server) selectIdentifyForm(v *view) Form {
	return s.form(remSelectIdentify, "", hidden("stateHandle", v.stateHandle))
}

func (s *Server) enrollProfileForm(v *view) Form {
	fields := make([]Field, 0, 3)
	for _, name := range s.profileFields() {
		label := registrationFieldLabels[name]
		if name == "email" {
			label = "Email"
		}
		fields = append(fields, v.withMessages(Field{Name: name, Label: label, Required: ptr(true)}, "userProfile."+name))
	}
	return s.form(remEnrollProfile, "",
		Field{Name: "userProfile", Form: &FieldForm{Value: fields}},
		hidden("stateHandle", v.stateHandle),
	)
}

// methodField lists delivery methods. type "string" is required by the Go IDX SDK
// to send the field at all (docs/protocol.md). An authenticator with one method
// that sends nothing (an app) gets it as a fixed value, as Okta renders it.
func methodField(a authn.Authenticator, methods []string, required bool) Field {
	if len(methods) == 1 && !a.Sends() {
		return Field{Name: "methodType", Required: ptr(false), Value: methods[0], Mutable: ptr(false)}
	}
	opts := make([]Option, 0, len(methods))
	for _, m := range methods {
		opts = append(opts, Option{Label: a.MethodLabel(m), Value: m})
	}
	return Field{Name: "methodType", Type: "string", Required: ptr(required), Options: opts}
}

func methodList(methods []string) []Method {
	out := make([]Method, 0, len(methods))
	for _, m := range methods {
		out = append(out, Method{Type: m})
	}
	return out
}

// selectAuthenticatorForm offers one option per usable enrollment, each relating to
// its entry in authenticatorEnrollments. The password is never offered again once
// proven: the Go IDX SDK would re-send it (docs/protocol.md).
func (s *Server) selectAuthenticatorForm(v *view) Form {
	opts := make([]Option, 0, len(v.enrollments))
	for i, x := range v.enrollments {
		opts = append(opts, Option{
			Label: x.auth.DisplayName(),
			Value: OptionForm{Form: FieldForm{Value: []Field{
				fixed("id", s.authIDs[x.auth.Key()]),
				methodField(x.auth, x.e.Methods, false),
				fixed("enrollmentId", x.e.ID),
			}}},
			RelatesTo: "$.authenticatorEnrollments.value[" + strconv.Itoa(i) + "]",
		})
	}
	return s.form(remSelectAuthenticate, "",
		Field{Name: "authenticator", Type: "object", Options: opts},
		hidden("stateHandle", v.stateHandle),
	)
}

func (s *Server) verificationDataForm(v *view) Form {
	x, _ := v.currentEnrolled()
	return s.form(remVerificationData, "$.currentAuthenticatorEnrollment",
		Field{Name: "authenticator", Label: x.auth.DisplayName(), Form: &FieldForm{Value: []Field{
			fixed("id", s.authIDs[x.auth.Key()]),
			methodField(x.auth, x.e.Methods, true),
			fixed("enrollmentId", x.e.ID),
		}}},
		hidden("stateHandle", v.stateHandle),
	)
}

func (s *Server) codeForm(rem *remediation, relatesTo string, v *view) Form {
	return s.form(rem, relatesTo,
		Field{Name: "credentials", Type: "object", Required: ptr(true), Form: &FieldForm{Value: []Field{
			v.withMessages(Field{Name: "passcode", Label: "Enter code"}, "passcode"),
		}}},
		hidden("stateHandle", v.stateHandle),
	)
}

func (s *Server) challengeForm(v *view) Form {
	return s.codeForm(remChallenge, "$.currentAuthenticatorEnrollment", v)
}

// enrollCodeForm is enroll-authenticator: the first code of a new enrollment, or a
// new account's password.
func (s *Server) enrollCodeForm(v *view) Form {
	if v.tx.Authenticator == authn.KeyPassword {
		return s.passwordForm(remEnrollAuthenticator, "Enter password", v)
	}
	return s.codeForm(remEnrollAuthenticator, "$.currentAuthenticator", v)
}

func (s *Server) resetForm(v *view) Form {
	return s.passwordForm(remResetAuthenticator, "New password", v)
}

func (s *Server) reenrollForm(v *view) Form {
	return s.passwordForm(remReenrollAuthenticator, "New password", v)
}

func (s *Server) passwordForm(rem *remediation, label string, v *view) Form {
	return s.form(rem, "$.currentAuthenticator",
		Field{Name: "credentials", Type: "object", Required: ptr(true), Form: &FieldForm{Value: []Field{
			v.withMessages(Field{Name: "passcode", Label: label, Secret: true}, "passcode"),
		}}},
		hidden("stateHandle", v.stateHandle),
	)
}

// selectEnrollForm offers the authenticators the user may enroll: a new
// account's password first, then every authenticator with enrollment methods.
// Never the password to a user who has just signed in with it.
func (s *Server) selectEnrollForm(v *view) Form {
	var opts []Option
	if v.registering() {
		opts = append(opts, Option{Label: "Password", Value: OptionForm{Form: FieldForm{Value: []Field{
			fixed("id", s.passwordID),
			{Name: "methodType", Required: ptr(false), Value: "password", Mutable: ptr(false)},
		}}}, RelatesTo: "$.authenticators.value[0]"})
	} else {
		for i, a := range s.enrollable() {
			fields := []Field{fixed("id", s.authIDs[a.Key()]), methodField(a, a.EnrollMethods(), false)}
			for _, d := range a.EnrollData() {
				fields = append(fields, Field{Name: d.Name, Label: d.Label, Required: ptr(false)})
			}
			opts = append(opts, Option{Label: a.DisplayName(), Value: OptionForm{Form: FieldForm{Value: fields}},
				RelatesTo: "$.authenticators.value[" + strconv.Itoa(i) + "]"})
		}
	}
	return s.form(remSelectEnroll, "",
		Field{Name: "authenticator", Type: "object", Options: opts},
		hidden("stateHandle", v.stateHandle),
	)
}

func (s *Server) enrollmentDataForm(v *view) Form {
	a := s.authenticator(v.tx.Authenticator)
	fields := []Field{fixed("id", s.authIDs[a.Key()]), methodField(a, a.EnrollMethods(), true)}
	for _, d := range a.EnrollData() {
		fields = append(fields, v.withMessages(Field{Name: d.Name, Label: d.Label, Required: ptr(true)}, d.Name))
	}
	return s.form(remEnrollmentData, "$.currentAuthenticator",
		Field{Name: "authenticator", Label: a.DisplayName(), Form: &FieldForm{Value: fields}},
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

// ---- authenticator objects ----

func (s *Server) authenticatorObject(a authn.Authenticator, methods []string) Authenticator {
	return Authenticator{Type: a.Type(), Key: a.Key(), ID: s.authIDs[a.Key()], DisplayName: a.DisplayName(), Methods: methodList(methods)}
}

// passwordObject is the password authenticator; withRules adds the password
// policy, which reset-authenticator and the password's enrollment show.
func (s *Server) passwordObject(withRules bool) Authenticator {
	a := Authenticator{Type: "password", Key: authn.KeyPassword, ID: s.passwordID, DisplayName: "Password",
		Methods: []Method{{Type: "password"}}}
	if withRules {
		p := account.Policy
		a.Settings = &PasswordSettings{Complexity: PasswordComplexity{MinLength: p.MinLength, MinLowerCase: p.MinLowerCase,
			MinUpperCase: p.MinUpperCase, MinNumber: p.MinNumber, MinSymbol: p.MinSymbol, ExcludeUsername: p.ExcludeUsername,
			ExcludeAttributes: []string{}}}
	}
	return a
}

func (s *Server) enrollmentObject(x enrolled) Authenticator {
	if x.auth == nil {
		return Authenticator{}
	}
	return Authenticator{
		Profile: x.e.Profile,
		Type:    x.auth.Type(), Key: x.auth.Key(), ID: x.e.ID, DisplayName: x.auth.DisplayName(),
		Methods: methodList(x.e.Methods),
	}
}

func (s *Server) enrollmentObjects(v *view) []Authenticator {
	out := make([]Authenticator, 0, len(v.enrollments))
	for _, x := range v.enrollments {
		out = append(out, s.enrollmentObject(x))
	}
	return out
}

// authenticatorObjects lists the authenticators of the user's enrollments, each
// once, in the order of the enrollments.
func (s *Server) authenticatorObjects(v *view) []Authenticator {
	var out []Authenticator
	seen := map[string]bool{}
	for _, x := range v.enrollments {
		if !seen[x.auth.Key()] {
			seen[x.auth.Key()] = true
			out = append(out, s.authenticatorObject(x.auth, x.auth.EnrollMethods()))
		}
	}
	return out
}

func (s *Server) enrollableObjects(v *view) []Authenticator {
	if v.registering() {
		return []Authenticator{s.passwordObject(false)}
	}
	var out []Authenticator
	for _, a := range s.enrollable() {
		out = append(out, s.authenticatorObject(a, a.EnrollMethods()))
	}
	return out
}

// ---- ids and handles ----

// derivedID is an id in Okta's style (prefix + 17 characters) that follows from
// seed: the same on every node of one deployment, different between seeds.
func derivedID(prefix, seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return prefix + new(big.Int).SetBytes(sum[:]).Text(62)[:17]
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
