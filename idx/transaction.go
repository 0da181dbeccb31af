package idx

import (
	"encoding/json"
	"fmt"
	"time"
)

// Status is the overall state of a sign-in after a call, as okta-auth-js's
// IdxStatus.
type Status string

// The statuses. FAILURE exists for parity with okta-auth-js, which also never
// sets it: client-side failures are Go errors instead.
const (
	// StatusPending: the user must do NextStep.
	StatusPending Status = "PENDING"
	// StatusSuccess: the user is signed in; Tokens is set (InteractionCode
	// with Config.ReturnInteractionCode).
	StatusSuccess Status = "SUCCESS"
	// StatusFailure is reserved; this package does not return it.
	StatusFailure Status = "FAILURE"
	// StatusTerminal: the server offers no next step (expired session,
	// access denied, a rate limit without a form). Messages say why.
	StatusTerminal Status = "TERMINAL"
	// StatusCanceled: Cancel succeeded.
	StatusCanceled Status = "CANCELED"
)

// Transaction is the result of Authenticate, Proceed, Resend or Cancel: what
// the application renders next. Its JSON encoding (lower-camel names, as
// okta-auth-js's IdxTransaction) leaves out State and Tokens, so a
// Transaction can be handed to a browser front end without leaking secrets.
type Transaction struct {
	// Status is PENDING, SUCCESS, TERMINAL or CANCELED.
	Status Status `json:"status"`
	// NextStep is what the user must do next (PENDING only). It describes the
	// first remediation the server offered.
	NextStep *NextStep `json:"nextStep,omitempty"`
	// AvailableSteps describes every remediation the server offered, in its
	// order; the first is NextStep. An application offers the others (e.g.
	// "verify with something else") by naming them in Options.Step.
	AvailableSteps []NextStep `json:"availableSteps,omitempty"`
	// Messages are the server's global and field-level messages,
	// de-duplicated: wrong password, wrong code, rate limits, expiry.
	Messages []Message `json:"messages,omitempty"`
	// RequestSucceeded is false when the last IDX request was answered with a
	// non-2xx status (okta-auth-js's requestDidSucceed).
	RequestSucceeded bool `json:"requestDidSucceed"`
	// EnabledFeatures are what the server offers to start from the current
	// state (okta-auth-js's enabledFeatures): FeaturePasswordRecovery when
	// RecoverPassword can start, FeatureRegistration when Register can. Show
	// "Forgot password?" or "Create account" only when listed.
	EnabledFeatures []Feature `json:"enabledFeatures,omitempty"`
	// RetryAfter is how long the server asked to wait before trying again
	// when it refused the last IDX request with 429 Too Many Requests (or
	// 503): its Retry-After header, else Okta's X-Rate-Limit-Reset. Zero
	// when the request succeeded or the server did not say. It is not part
	// of the JSON encoding; send its seconds along if a front end needs them.
	RetryAfter time.Duration `json:"-"`
	// Tokens are the verified tokens (SUCCESS only, unless the Client has
	// Config.ReturnInteractionCode).
	Tokens *Tokens `json:"-"`
	// InteractionCode is the unredeemed interaction code, set at SUCCESS
	// only by a Client with Config.ReturnInteractionCode (Tokens is nil
	// then). It is a one-time secret: it is not part of the JSON encoding.
	InteractionCode string `json:"-"`
	// State is what to store until the next call for this user; nil means the
	// transaction is over (SUCCESS, CANCELED, or a clean TERMINAL) and any
	// stored State should be deleted. See State for how to store it safely.
	State *State `json:"-"`
}

// NextStep describes one remediation: a form the user fills in.
type NextStep struct {
	// Name is the remediation name, e.g. "identify",
	// "select-authenticator-authenticate", "challenge-authenticator".
	Name string `json:"name"`
	// Type is the type of the authenticator involved, e.g. "phone".
	Type string `json:"type,omitempty"`
	// Inputs are the values the user can supply, named as Options names them
	// for the steps okta-auth-js knows (username, password, authenticator,
	// methodType, phoneNumber, verificationCode, rememberMe) and by their raw
	// field path (e.g. "credentials.passcode") for any other step.
	Inputs []Input `json:"inputs,omitempty"`
	// Authenticator is the authenticator this step is about, if any.
	Authenticator *Authenticator `json:"authenticator,omitempty"`
	// CanResend is true when the server offers to send the code again.
	CanResend bool `json:"canResend,omitempty"`
	// CanSkip is true when the server offers a "skip" remediation.
	CanSkip bool `json:"canSkip,omitempty"`
}

// Input is one value the user can supply for a step.
type Input struct {
	// Name is the Options field (or Options.Values key) that carries it.
	Name string `json:"name"`
	// Label is the server's label, e.g. "Enter code".
	Label string `json:"label,omitempty"`
	// Type is "string" (default), "boolean" or another server-declared type.
	Type string `json:"type"`
	// Required is true when the server requires the value.
	Required bool `json:"required,omitempty"`
	// Secret is true for passwords: do not echo them back.
	Secret bool `json:"secret,omitempty"`
	// Options, when present, are the only acceptable values.
	Options []Option `json:"options,omitempty"`
	// Messages are field-level messages about this input, e.g. "Invalid
	// code. Try again." (they are in Transaction.Messages too).
	Messages []Message `json:"messages,omitempty"`
}

// Option is one acceptable value of an Input.
type Option struct {
	// Label is the server's label, e.g. "Phone" or "Voice call".
	Label string `json:"label"`
	// Value is what to pass back, e.g. "phone_number" (an authenticator key)
	// or "voice".
	Value string `json:"value"`
	// Authenticator is what an option of an authenticator choice stands for
	// (okta-auth-js's option.relatesTo), nil when it relates to nothing: its
	// key, type, methods and profile — for a phone, the masked number — with
	// ID the authenticator id and EnrollmentID the enrollment id, if the
	// option is for an existing enrollment. With several phones every
	// option's Value is the same key; pass Authenticator.EnrollmentID as
	// Options.Authenticator to pick one. Do not modify its Methods or
	// Profile: options relating to one object share them.
	Authenticator *Authenticator `json:"authenticator,omitempty"`
}

// Authenticator describes the authenticator a step is about.
type Authenticator struct {
	// ID is the authenticator id (e.g. "autPHONE"), also in challenge steps
	// where the server's object carries the enrollment id instead.
	ID string `json:"id,omitempty"`
	// EnrollmentID is the user's enrollment id (e.g. "smsENR1") when the
	// step concerns an existing enrollment.
	EnrollmentID string `json:"enrollmentId,omitempty"`
	// Key is the authenticator key, e.g. "phone_number"; pass it as
	// Options.Authenticator to select this authenticator.
	Key string `json:"key,omitempty"`
	// Type is the authenticator type, e.g. "phone".
	Type string `json:"type,omitempty"`
	// DisplayName is the server's name for it, e.g. "Phone".
	DisplayName string `json:"displayName,omitempty"`
	// Methods are the method types on offer, e.g. ["sms", "voice"]; once a
	// code was sent, only the method used.
	Methods []string `json:"methods,omitempty"`
	// Profile holds the string members of the server's profile, e.g.
	// "phoneNumber": "+1 XXX-XXX-5309" (masked).
	Profile map[string]string `json:"profile,omitempty"`
	// PasswordPolicy is the rules a new password must meet (the
	// authenticator's settings), set for the password authenticator when
	// the server states them: in reset-authenticator and in
	// enroll-authenticator. Show them next to the password field; the
	// server checks them.
	PasswordPolicy *PasswordPolicy `json:"passwordPolicy,omitempty"`
	// QRCode is the QR code an authenticator app scans to enroll
	// ("google_otp" in enroll-authenticator), nil otherwise.
	QRCode *QRCode `json:"qrCode,omitempty"`
	// SharedSecret is the TOTP secret (base32) of that enrollment, for
	// typing into an authenticator app that cannot scan the QR code. It is
	// meant for the user's eyes only: show it on the enrollment page, over
	// HTTPS, and never log or store it.
	SharedSecret string `json:"sharedSecret,omitempty"`
}

// PasswordPolicy is the password authenticator's settings: its complexity
// rules and, from its age settings, how many previous passwords are refused
// and how long a password must be kept. Zero means no requirement.
type PasswordPolicy struct {
	// MinLength is the minimum number of characters.
	MinLength int `json:"minLength,omitempty"`
	// MinLowerCase, MinUpperCase, MinNumber and MinSymbol are the minimum
	// numbers of lower-case letters, upper-case letters, digits and
	// symbols.
	MinLowerCase int `json:"minLowerCase,omitempty"`
	MinUpperCase int `json:"minUpperCase,omitempty"`
	MinNumber    int `json:"minNumber,omitempty"`
	MinSymbol    int `json:"minSymbol,omitempty"`
	// ExcludeUsername forbids the username in the password.
	ExcludeUsername bool `json:"excludeUsername,omitempty"`
	// ExcludeAttributes are profile attributes (e.g. "firstName") the
	// password must not contain.
	ExcludeAttributes []string `json:"excludeAttributes,omitempty"`
	// HistoryCount is how many previous passwords cannot be reused.
	HistoryCount int `json:"historyCount,omitempty"`
	// MinAgeMinutes is how long a password must be kept before it can be
	// changed again.
	MinAgeMinutes int `json:"minAgeMinutes,omitempty"`
}

// Rules says the policy in words, one rule per line, for the list an app shows
// beside a new password ("At least 8 characters"); nil for no policy or no rule.
func (p *PasswordPolicy) Rules() []string {
	if p == nil {
		return nil
	}
	var out []string
	if p.MinLength > 0 {
		out = append(out, fmt.Sprintf("At least %d characters", p.MinLength))
	}
	count := func(n int, one, many string) {
		switch {
		case n == 1:
			out = append(out, one)
		case n > 1:
			out = append(out, fmt.Sprintf(many, n))
		}
	}
	count(p.MinLowerCase, "A lowercase letter", "At least %d lowercase letters")
	count(p.MinUpperCase, "An uppercase letter", "At least %d uppercase letters")
	count(p.MinNumber, "A number", "At least %d numbers")
	count(p.MinSymbol, "A symbol, such as ! or #", "At least %d symbols, such as ! or #")
	if p.ExcludeUsername {
		out = append(out, "Not your username")
	}
	for _, a := range p.ExcludeAttributes {
		switch a {
		case "firstName":
			out = append(out, "Not your first name")
		case "lastName":
			out = append(out, "Not your last name")
		default:
			out = append(out, "Not your "+a)
		}
	}
	count(p.HistoryCount, "Not your last password", "Not one of your last %d passwords")
	return out
}

// QRCode is an enrollment QR code as the server sends it.
type QRCode struct {
	// Href is the image, normally a data: URI of a PNG
	// ("data:image/png;base64,...").
	Href string `json:"href"`
	// Type is the image's media type, e.g. "image/png".
	Type string `json:"type,omitempty"`
	// Method is how the code is delivered, "embedded" for a data: URI.
	Method string `json:"method,omitempty"`
}

// Message is a server message for the user.
type Message struct {
	// Text is the server's English text, to show when the application has
	// no translation for Key.
	Text string `json:"message"`
	// Key is the i18n key, e.g. "errors.E0000004" or "idx.session.expired".
	Key string `json:"key,omitempty"`
	// Params are the i18n parameters, if any.
	Params []any `json:"params,omitempty"`
	// Class is "ERROR", "WARNING" or "INFO".
	Class string `json:"class,omitempty"`
	// Field is the name of the Input the message is about (empty for a
	// global message).
	Field string `json:"field,omitempty"`
}

// Tokens are the tokens issued at the end of a sign-in or by Refresh.
type Tokens struct {
	// TokenType is normally "Bearer".
	TokenType string
	// AccessToken is sent to resource servers and UserInfo.
	AccessToken string
	// ExpiresAt is when the access token expires, from expires_in.
	ExpiresAt time.Time
	// Scopes are the granted scopes.
	Scopes []string
	// IDToken is the raw ID token; it was verified before being returned.
	IDToken string
	// IDTokenClaims are the verified ID token's claims (sub, email, ...).
	IDTokenClaims map[string]any
	// RefreshToken is set when offline_access was granted.
	RefreshToken string
}

// The user-facing input names okta-auth-js uses for the steps it knows.
const (
	inputUsername         = "username"
	inputPassword         = "password"
	inputAuthenticator    = "authenticator"
	inputMethodType       = "methodType"
	inputVerificationCode = "verificationCode"
	inputPhoneNumber      = "phoneNumber"
	inputRememberMe       = "rememberMe"
	inputNewPassword      = "newPassword"
)

// profilePrefix starts the input names of enroll-profile's profile
// attributes ("userProfile.email"), which Options.Profile fills.
const profilePrefix = "userProfile."

// passwordKey is the key of the password authenticator.
const passwordKey = "okta_password"

// inputName maps a field path of a remediation to the name an application
// uses for it: okta-auth-js's names for the steps it knows, the raw dotted
// path otherwise. authKey is the key of the authenticator the remediation
// relates to (a password challenge takes "password", a code "verificationCode").
func inputName(remediation, path, authKey string) string {
	switch remediation {
	case "identify", stepIdentifyRecovery:
		switch path {
		case "identifier":
			return inputUsername
		case "credentials.passcode":
			return inputPassword
		}
	case "challenge-authenticator", "enroll-authenticator":
		if path == "credentials.passcode" {
			if authKey == passwordKey {
				return inputPassword
			}
			return inputVerificationCode
		}
	case stepResetAuthenticator, stepReenrollAuthenticator:
		if path == "credentials.passcode" {
			return inputNewPassword
		}
	case "authenticator-verification-data", "authenticator-enrollment-data",
		"select-authenticator-authenticate", "select-authenticator-enroll":
		switch path {
		case "authenticator.methodType":
			return inputMethodType
		case "authenticator.phoneNumber":
			return inputPhoneNumber
		}
	}
	return path
}

// defaultLabels are labels okta-auth-js supplies when the server sends none.
var defaultLabels = map[string]string{
	inputPhoneNumber: "Phone Number",
}

// relatedObject returns the object a remediation's relatesTo points at,
// unwrapping a {"type","value"} wrapper.
func (f *form) relatedObject() map[string]any {
	return unwrapObject(f.related)
}

// authenticatorKey is the key of the authenticator a remediation relates to.
func (f *form) authenticatorKey() string {
	s, _ := f.relatedObject()["key"].(string)
	return s
}

// relatesToEnrollment reports whether the remediation's relatesTo points at
// an enrollment (whose id is an enrollment id) rather than an authenticator.
func (f *form) relatesToEnrollment() bool {
	return isEnrollmentPath(f.relatesToPath)
}

// buildSteps describes every remediation of resp, in order.
func buildSteps(resp *idxResponse) []NextStep {
	steps := make([]NextStep, 0, len(resp.remediations))
	for _, rem := range resp.remediations {
		steps = append(steps, buildStep(resp, rem))
	}
	if len(steps) > 0 {
		steps[0].CanResend = resp.canResend()
		for _, rem := range resp.remediations {
			if rem.Name == "skip" {
				steps[0].CanSkip = true
			}
		}
	}
	return steps
}

func buildStep(resp *idxResponse, rem *form) NextStep {
	authKey := rem.authenticatorKey()
	step := NextStep{Name: rem.Name, Authenticator: buildAuthenticator(resp, rem)}
	if step.Authenticator != nil {
		step.Type = step.Authenticator.Type
	}
	for _, f := range rem.Value {
		collectInputs(resp, rem.Name, authKey, "", f, false, &step.Inputs)
	}
	return step
}

// collectInputs appends the inputs of one field: itself if it is a scalar or
// a choice, its mutable children (flattened) if it is a nested form.
// requiredByParent is true when the field is the only mutable child of a
// required nested form (credentials → passcode).
func collectInputs(resp *idxResponse, remName, authKey, prefix string, f *field, requiredByParent bool, out *[]Input) {
	if f == nil || f.Name == "" || f.immutable() || f.hidden() {
		return
	}
	path := prefix + f.Name
	if f.Form != nil && !hasFormOptions(f) {
		mutable := countMutable(f.Form.Value)
		for _, child := range f.Form.Value {
			collectInputs(resp, remName, authKey, path+".", child, (f.Required || requiredByParent) && mutable == 1, out)
		}
		return
	}
	name := inputName(remName, path, authKey)
	in := Input{
		Name:     name,
		Label:    f.Label,
		Type:     f.Type,
		Required: f.Required || requiredByParent,
		Secret:   f.Secret,
	}
	if in.Label == "" {
		in.Label = defaultLabels[name]
	}
	if in.Type == "" {
		in.Type = "string"
	}
	if hasFormOptions(f) {
		// The user answers a choice of nested forms with a string: the key
		// of the authenticator the option relates to.
		in.Type = "string"
		for _, o := range f.Options {
			if o == nil || o.form == nil {
				continue
			}
			in.Options = append(in.Options, Option{Label: o.Label, Value: optionChoice(o), Authenticator: optionAuthenticator(resp, o)})
		}
	} else {
		for _, o := range f.Options {
			if o != nil && o.hasScalar {
				in.Options = append(in.Options, Option{Label: o.Label, Value: o.scalar})
			}
		}
	}
	for _, m := range f.Messages {
		in.Messages = append(in.Messages, m.toMessage(name))
	}
	*out = append(*out, in)
}

// optionAuthenticator describes the authenticator or enrollment an option's
// relatesTo points at (nil if none), with ids normalised as buildAuthenticator
// does: ID is the option form's id, else the authenticator id the related
// object carries or implies; EnrollmentID is optionEnrollmentID. Options that
// relate to one object share its Methods and Profile.
func optionAuthenticator(resp *idxResponse, o *option) *Authenticator {
	base := resp.describe(o.relatedPath, o.related)
	if base == nil {
		return nil
	}
	a := *base
	a.ID = optionAuthenticatorID(resp, o)
	a.EnrollmentID = optionEnrollmentID(o)
	return &a
}

// optionAuthenticatorID is the authenticator an option stands for: its form's
// id, else the authenticatorId of the enrollment it relates to, else the id of
// the authenticator it relates to (looked up by key for an enrollment).
func optionAuthenticatorID(resp *idxResponse, o *option) string {
	if id := formValue(o.form, "id"); id != "" {
		return id
	}
	if id := str(o.related, "authenticatorId"); id != "" {
		return id
	}
	if o.relatesToEnrollment {
		return resp.authenticatorIDByKey(o.relatedKey)
	}
	return o.relatedID
}

// optionEnrollmentID is the enrollment an option stands for: its form's
// enrollmentId, else the id of the enrollment its relatesTo points at. An
// option relating to an authenticator ($.authenticators.value[i]) without an
// enrollmentId has none.
func optionEnrollmentID(o *option) string {
	if id := formValue(o.form, "enrollmentId"); id != "" {
		return id
	}
	if o.relatesToEnrollment {
		return o.relatedID
	}
	return ""
}

// optionChoice is the string an application passes to choose a nested-form
// option: the key of the authenticator it relates to, else its id.
func optionChoice(o *option) string {
	if o.relatedKey != "" {
		return o.relatedKey
	}
	if id := formValue(o.form, "id"); id != "" {
		return id
	}
	return o.Label
}

func hasFormOptions(f *field) bool {
	for _, o := range f.Options {
		if o != nil && o.form != nil {
			return true
		}
	}
	return false
}

func countMutable(fields []*field) int {
	n := 0
	for _, f := range fields {
		if f != nil && f.Name != "" && !f.immutable() {
			n++
		}
	}
	return n
}

// formValue returns the string value of the named field of a form.
func formValue(fields []*field, name string) string {
	for _, f := range fields {
		if f != nil && f.Name == name {
			return f.stringValue()
		}
	}
	return ""
}

// authenticatorFormValue returns the value of a field nested in the
// remediation's object field (e.g. authenticator.id of a data step).
func authenticatorFormValue(rem *form, name string) string {
	for _, f := range rem.Value {
		if f != nil && f.Form != nil {
			if v := formValue(f.Form.Value, name); v != "" {
				return v
			}
		}
	}
	return ""
}

// buildAuthenticator describes the authenticator a remediation relates to,
// normalising ids: ID is always the authenticator id and EnrollmentID the
// enrollment id, whichever of the two the server's object carries.
func buildAuthenticator(resp *idxResponse, rem *form) *Authenticator {
	obj := rem.relatedObject()
	str := func(k string) string { s, _ := obj[k].(string); return s }
	base := resp.describe(canonicalPath(rem.relatesToPath), obj)
	if base == nil {
		return nil
	}
	a := &Authenticator{}
	*a = *base
	formID := authenticatorFormValue(rem, "id")
	if rem.relatesToEnrollment() {
		a.EnrollmentID = authenticatorFormValue(rem, "enrollmentId")
		if a.EnrollmentID == "" {
			a.EnrollmentID = str("id")
		}
		a.ID = formID
		if a.ID == "" {
			a.ID = str("authenticatorId")
		}
		if a.ID == "" {
			a.ID = resp.authenticatorIDByKey(a.Key)
		}
	} else {
		a.ID = formID
		if a.ID == "" {
			a.ID = str("id")
		}
		a.EnrollmentID = authenticatorFormValue(rem, "enrollmentId")
	}
	return a
}

// describe returns the description of the related object at the canonical
// path key, computed once per key. Callers copy it before setting ids.
func (r *idxResponse) describe(key string, obj map[string]any) *Authenticator {
	if key == "" {
		return describeAuthenticator(obj)
	}
	if a, ok := r.described[key]; ok {
		return a
	}
	a := describeAuthenticator(obj)
	if r.described == nil {
		r.described = map[string]*Authenticator{}
	}
	r.described[key] = a
	return a
}

// describeAuthenticator reads key, type, display name, methods and profile of
// an authenticator or enrollment object; ids are the caller's business.
func describeAuthenticator(obj map[string]any) *Authenticator {
	str := func(k string) string { s, _ := obj[k].(string); return s }
	if obj == nil || (str("key") == "" && str("type") == "") {
		return nil
	}
	a := &Authenticator{Key: str("key"), Type: str("type"), DisplayName: str("displayName")}
	if methods, ok := obj["methods"].([]any); ok {
		for _, m := range methods {
			mm, _ := m.(map[string]any)
			t, _ := mm["type"].(string)
			if t == "" {
				t, _ = mm["methodType"].(string)
			}
			if t != "" {
				a.Methods = append(a.Methods, t)
			}
		}
	}
	if profile, ok := obj["profile"].(map[string]any); ok {
		for k, v := range profile {
			if s, ok := v.(string); ok {
				if a.Profile == nil {
					a.Profile = map[string]string{}
				}
				a.Profile[k] = s
			}
		}
	}
	if settings, ok := obj["settings"].(map[string]any); ok && a.Key == passwordKey {
		a.PasswordPolicy = passwordPolicyFrom(settings)
	}
	if cd, ok := obj["contextualData"].(map[string]any); ok {
		member := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
		if qr, ok := cd["qrcode"].(map[string]any); ok && member(qr, "href") != "" {
			a.QRCode = &QRCode{Href: member(qr, "href"), Type: member(qr, "type"), Method: member(qr, "method")}
		}
		a.SharedSecret = member(cd, "sharedSecret")
	}
	return a
}

// passwordPolicyFrom reads the password authenticator's settings
// ({"complexity": {...}, "age": {...}}); nil if they state no rule.
func passwordPolicyFrom(settings map[string]any) *PasswordPolicy {
	complexity, _ := settings["complexity"].(map[string]any)
	age, _ := settings["age"].(map[string]any)
	if complexity == nil && age == nil {
		return nil
	}
	p := &PasswordPolicy{
		MinLength:     intMember(complexity, "minLength"),
		MinLowerCase:  intMember(complexity, "minLowerCase"),
		MinUpperCase:  intMember(complexity, "minUpperCase"),
		MinNumber:     intMember(complexity, "minNumber"),
		MinSymbol:     intMember(complexity, "minSymbol"),
		HistoryCount:  intMember(age, "historyCount"),
		MinAgeMinutes: intMember(age, "minAgeMinutes"),
	}
	p.ExcludeUsername, _ = complexity["excludeUsername"].(bool)
	if list, ok := complexity["excludeAttributes"].([]any); ok {
		for _, x := range list {
			if s, ok := x.(string); ok && s != "" {
				p.ExcludeAttributes = append(p.ExcludeAttributes, s)
			}
		}
	}
	return p
}

// intMember reads a non-negative integer member of a decoded object; 0 if
// absent, not a number, or out of range.
func intMember(obj map[string]any, key string) int {
	n, ok := obj[key].(json.Number)
	if !ok {
		return 0
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i > 1<<20 {
		return 0
	}
	return int(i)
}

// authenticatorIDByKey looks an authenticator id up in the top-level
// "authenticators" list (an org has one authenticator per key).
func (r *idxResponse) authenticatorIDByKey(key string) string {
	if key == "" {
		return ""
	}
	if r.authIDs == nil {
		r.authIDs = map[string]string{}
		list, _ := arrayValue(r.tree["authenticators"])
		for _, item := range list {
			if m, ok := item.(map[string]any); ok {
				if k := str(m, "key"); k != "" {
					if _, seen := r.authIDs[k]; !seen {
						r.authIDs[k] = str(m, "id")
					}
				}
			}
		}
	}
	return r.authIDs[key]
}

// currentAuthenticatorRef returns the key of currentAuthenticator and the id
// of currentAuthenticatorEnrollment, used to avoid re-selecting the
// authenticator the user is already verifying with.
func (r *idxResponse) currentAuthenticatorRef() (key, enrollmentID string) {
	value := func(member string) map[string]any {
		wrapper, _ := r.tree[member].(map[string]any)
		v, _ := wrapper["value"].(map[string]any)
		return v
	}
	return str(value("currentAuthenticator"), "key"), str(value("currentAuthenticatorEnrollment"), "id")
}

// collectMessages returns the global messages followed by the field-level
// messages of every remediation (nested forms and option forms included),
// de-duplicated by i18n key and text as okta-auth-js does.
func collectMessages(resp *idxResponse) []Message {
	msgs := append([]Message(nil), resp.messages...)
	for _, rem := range resp.remediations {
		authKey := rem.authenticatorKey()
		collectFieldMessages(rem.Name, authKey, "", rem.Value, &msgs)
	}
	type seenKey struct{ key, text string }
	seen := map[seenKey]bool{}
	out := msgs[:0]
	for _, m := range msgs {
		if m.Key != "" {
			k := seenKey{m.Key, m.Text}
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func collectFieldMessages(remName, authKey, prefix string, fields []*field, out *[]Message) {
	for _, f := range fields {
		if f == nil {
			continue
		}
		path := prefix + f.Name
		if len(f.Messages) > 0 {
			name := inputName(remName, path, authKey)
			for _, m := range f.Messages {
				*out = append(*out, m.toMessage(name))
			}
		}
		if f.Form != nil {
			collectFieldMessages(remName, authKey, path+".", f.Form.Value, out)
		}
		for _, o := range f.Options {
			if o != nil && o.form != nil {
				collectFieldMessages(remName, authKey, path+".", o.form, out)
			}
		}
	}
}

func hasErrorMessage(msgs []Message) bool {
	for _, m := range msgs {
		if m.Class == "ERROR" {
			return true
		}
	}
	return false
}
