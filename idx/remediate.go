package idx

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// Options are the values an application has collected from the user. Any
// subset may be given: Authenticate posts every step those values allow, in
// the server's order, and stops at the first step that needs something it was
// not given (okta-auth-js's legacy authenticate). Each value is used at most
// once per call.
type Options struct {
	// Username answers "identify" and, in a password reset,
	// "identify-recovery". Password answers "identify", and the password
	// authenticator's challenge or enrollment (a new account's password).
	// In a sign-in or a registration, a Password with no Authenticator also
	// selects the password authenticator when the server asks for a choice
	// that offers it (identifier-first orgs, registration), as okta-auth-js's
	// authenticate does; a password reset never uses Password (see
	// NewPassword).
	Username string
	Password string
	// RememberMe is sent with "identify" when true.
	RememberMe bool
	// Authenticator chooses in select-authenticator-authenticate and
	// select-authenticator-enroll: an authenticator key such as
	// "phone_number" (the Value of the step's options, which picks the first
	// option with that key), or an option's Authenticator.EnrollmentID to
	// pick one of several phones (an authenticator id works too).
	Authenticator string
	// MethodType chooses how a code is delivered: "sms" or "voice".
	MethodType string
	// PhoneNumber is the number to enroll (authenticator-enrollment-data).
	PhoneNumber string
	// VerificationCode answers challenge-authenticator and
	// enroll-authenticator: a code sent by SMS or voice, or one shown by an
	// authenticator app ("google_otp").
	VerificationCode string
	// NewPassword answers reset-authenticator, the last step of
	// RecoverPassword (okta-auth-js passes it as "password"; a separate
	// field keeps a sign-in password from ever being posted as the new one).
	NewPassword string
	// Profile holds the new user's profile attributes for Register's
	// enroll-profile step, keyed by attribute name as the server's form
	// lists them: "email", "firstName", "lastName", or any other. Each
	// fills the input "userProfile.<name>". Empty values are not sent.
	Profile map[string]string
	// Step restricts this call's first post to the named remediation, which
	// may be one the package does not know (it is then filled from Values).
	// Without Step only the steps okta-auth-js's authenticate knows are
	// posted automatically. Naming select-authenticator-authenticate also
	// re-selects the authenticator being verified, which a call without
	// Step never does: from challenge-authenticator,
	// {Step: "select-authenticator-authenticate", Authenticator:
	// "phone_number", MethodType: "voice"} has a new code sent by voice
	// ("call me instead").
	Step string
	// Values holds values for inputs of other steps, keyed by Input.Name
	// (the raw field path, e.g. "credentials.passcode"). The named fields
	// above take precedence over entries with the same name.
	Values map[string]any
}

// values turns Options into the bag the remediation loop consumes.
func (o Options) values() map[string]any {
	v := make(map[string]any, len(o.Values)+len(o.Profile)+8)
	for k, x := range o.Values {
		v[k] = x
	}
	set := func(name, s string) {
		if s != "" {
			v[name] = s
		}
	}
	set(inputUsername, o.Username)
	set(inputPassword, o.Password)
	set(inputAuthenticator, o.Authenticator)
	if o.Password != "" && o.Authenticator == "" {
		// auth-js: a password without an authenticator selects the password
		// authenticator if the server asks for a choice.
		v[impliedAuthenticator] = passwordKey
	}
	set(inputMethodType, o.MethodType)
	set(inputPhoneNumber, o.PhoneNumber)
	set(inputVerificationCode, o.VerificationCode)
	set(inputNewPassword, o.NewPassword)
	for k, x := range o.Profile {
		set(profilePrefix+k, x)
	}
	if o.RememberMe {
		v[inputRememberMe] = true
	}
	return v
}

// impliedAuthenticator holds the authenticator choice implied by a password
// given without one. Its name cannot clash with a field path.
const impliedAuthenticator = "\x00implied-authenticator"

// maxStepsPerCall bounds the number of posts one call makes. Every post
// consumes at least one value, so the loop ends anyway; this is a second line
// of defence against a server that answers in circles.
const maxStepsPerCall = 16

// remediate posts remediations while the values allow (okta-auth-js's
// remediate loop) under the State's flow, and returns the last response: one
// with an interaction code, without remediation, with a non-2xx status, or
// whose steps need values not given. The flow's actions (recover) are
// posted first whenever a response offers them, each at most once per call.
func (c *Client) remediate(ctx context.Context, st *State, resp *idxResponse, vals map[string]any, step string) (*idxResponse, error) {
	spec := st.spec()
	if !spec.impliedPassword {
		delete(vals, impliedAuthenticator)
	}
	actions := append([]string(nil), spec.actions...)
	posted := map[string]bool{} // the flow's "always" steps posted in this call
	for i := 0; ; i++ {
		if resp.interactionCode != "" || len(resp.remediations) == 0 || !resp.succeeded {
			return resp, nil
		}
		if a, rest := offeredAction(resp, actions); a != nil {
			if i >= maxStepsPerCall {
				return nil, protocolErrorf("more than %d remediation steps in one call", maxStepsPerCall)
			}
			actions = rest
			next, err := c.submit(ctx, st, a, actionBody(a))
			if err != nil {
				return nil, err
			}
			resp = next
			continue
		}
		rem, p := pickRemediation(resp, vals, step, spec, posted)
		if rem == nil {
			return resp, nil
		}
		if i >= maxStepsPerCall {
			return nil, protocolErrorf("more than %d remediation steps in one call", maxStepsPerCall)
		}
		next, err := c.submit(ctx, st, rem, p.body)
		if err != nil {
			return nil, err
		}
		if spec.always[rem.Name] {
			posted[rem.Name] = true
		}
		for _, name := range p.consumed {
			delete(vals, name)
			if name == inputPassword {
				// Once the password is used, it no longer selects the
				// password authenticator.
				delete(vals, impliedAuthenticator)
			}
		}
		step = "" // Step applies to the first post only, as in auth-js.
		resp = next
	}
}

// submission is a remediation that can be posted with the values at hand.
type submission struct {
	body     map[string]any
	consumed []string // value names used up by posting it
}

// offeredAction returns the first of the pending actions that resp offers,
// and the pending actions without it.
func offeredAction(resp *idxResponse, pending []string) (*form, []string) {
	for i, name := range pending {
		if a := resp.action(func(n string) bool { return n == name }); a != nil {
			rest := append(append([]string(nil), pending[:i]...), pending[i+1:]...)
			return a, rest
		}
	}
	return nil, pending
}

// pickRemediation returns the first remediation the values can answer under
// the flow's rules. A step the flow always takes (select-enroll-profile) is
// posted without values, once per call (posted).
func pickRemediation(resp *idxResponse, vals map[string]any, step string, spec flowSpec, posted map[string]bool) (*form, submission) {
	for _, rem := range resp.remediations {
		explicit := step != "" && rem.Name == step
		if step != "" && !explicit {
			continue
		}
		if !explicit && !spec.known[rem.Name] {
			continue
		}
		if rem.Href == "" {
			continue
		}
		always := spec.always[rem.Name] && !posted[rem.Name]
		if s, ok := planSubmission(resp, rem, vals, explicit || always); ok {
			return rem, s
		}
	}
	return nil, submission{}
}

// planSubmission builds the request body for rem from vals. It reports false
// when rem cannot be answered: a required input is missing, a choice matches
// no option, or (unless the step was named explicitly) no value applies to it
// at all.
//
// Body layout follows auth-js: mutable fields take the caller's value or the
// server's default; nested forms (credentials, authenticator) are built from
// their children; a choice among nested forms sends the chosen option's form;
// immutable fields (stateHandle, ids) always carry the server's value, or ""
// at the top level.
func planSubmission(resp *idxResponse, rem *form, vals map[string]any, explicit bool) (submission, bool) {
	authKey := rem.authenticatorKey()
	s := submission{body: map[string]any{}}
	immutables := map[string]any{}
	used := false
	for _, f := range rem.Value {
		if f == nil || f.Name == "" {
			continue
		}
		path := f.Name
		switch {
		case f.immutable():
			if f.hasValue() {
				immutables[f.Name] = f.Value
			} else {
				immutables[f.Name] = ""
			}
		case hasFormOptions(f):
			name := inputName(rem.Name, path, authKey)
			choiceName := name
			choice, _ := vals[name].(string)
			if choice == "" && name == inputAuthenticator {
				choiceName = impliedAuthenticator
				choice, _ = vals[impliedAuthenticator].(string)
			}
			if choice == "" {
				return submission{}, false
			}
			o := matchOption(resp, f, choice, explicit)
			if o == nil {
				return submission{}, false
			}
			// The chosen option's own inputs (methodType, phoneNumber) are
			// sent when known but not consumed: a server that ignores them
			// here asks again in the data step, which then uses them.
			obj, _, _, _ := buildObject(rem.Name, authKey, path, o.form, vals, false)
			s.body[f.Name] = obj
			s.consumed = append(s.consumed, choiceName)
			used = true
		case f.Form != nil:
			obj, usedHere, consumed, missing := buildObject(rem.Name, authKey, path, f.Form.Value, vals, f.Required)
			if missing {
				return submission{}, false
			}
			if len(obj) > 0 {
				s.body[f.Name] = obj
			}
			used = used || usedHere
			s.consumed = append(s.consumed, consumed...)
		default:
			name := inputName(rem.Name, path, authKey)
			if v, ok := vals[name]; ok {
				s.body[f.Name] = v
				s.consumed = append(s.consumed, name)
				used = true
			} else if f.hasValue() {
				s.body[f.Name] = f.Value
			} else if f.Required {
				return submission{}, false
			}
		}
	}
	if !used && !explicit {
		return submission{}, false
	}
	for k, v := range immutables {
		s.body[k] = v
	}
	return s, true
}

// buildObject builds the JSON object for a nested form from vals, reporting
// whether any value was used, which values were used, and whether a required
// value is missing. required says whether the parent field is required: its
// only mutable child then is too (credentials → passcode).
func buildObject(remName, authKey, prefix string, fields []*field, vals map[string]any, required bool) (obj map[string]any, used bool, consumed []string, missing bool) {
	obj = map[string]any{}
	soleMutable := countMutable(fields) == 1
	for _, nf := range fields {
		if nf == nil || nf.Name == "" {
			continue
		}
		if nf.immutable() {
			if nf.hasValue() {
				obj[nf.Name] = nf.Value
			}
			continue
		}
		path := prefix + "." + nf.Name
		if nf.Form != nil && !hasFormOptions(nf) {
			sub, u, c, m := buildObject(remName, authKey, path, nf.Form.Value, vals, nf.Required || (required && soleMutable))
			if len(sub) > 0 {
				obj[nf.Name] = sub
			}
			used, missing = used || u, missing || m
			consumed = append(consumed, c...)
			continue
		}
		name := inputName(remName, path, authKey)
		if v, ok := vals[name]; ok {
			obj[nf.Name] = v
			used = true
			consumed = append(consumed, name)
		} else if nf.hasValue() {
			obj[nf.Name] = nf.Value
		} else if nf.Required || (required && soleMutable) {
			missing = true
		}
	}
	return obj, used, consumed, missing
}

// matchOption finds the first option of a choice field that choice (never
// empty) names: by the key of the authenticator it relates to, by the related
// object's id, or by the ID or EnrollmentID of its Option.Authenticator
// (optionAuthenticatorID, optionEnrollmentID; the latter tells several phones
// apart). Like auth-js, it
// does not re-select the authenticator currently being verified or enrolled
// (that would restart the challenge) — unless the application named the step
// explicitly, which is how it switches to another method ("call me instead")
// from the code step.
func matchOption(resp *idxResponse, f *field, choice string, explicit bool) *option {
	for _, o := range f.Options {
		if o == nil || o.form == nil {
			continue
		}
		if o.relatedKey != choice && o.relatedID != choice && optionAuthenticatorID(resp, o) != choice && optionEnrollmentID(o) != choice {
			continue
		}
		if explicit {
			return o
		}
		curKey, curEnrollment := resp.currentAuthenticatorRef()
		if (curKey != "" && o.relatedKey == curKey) || (curEnrollment != "" && optionEnrollmentID(o) == curEnrollment) {
			return nil
		}
		return o
	}
	return nil
}

// actionBody is the body of an action such as cancel or resend: its
// immutable fields (the stateHandle).
func actionBody(a *form) map[string]any {
	body := map[string]any{}
	for _, f := range a.Value {
		if f == nil || f.Name == "" {
			continue
		}
		if f.hasValue() {
			body[f.Name] = f.Value
		} else if f.immutable() {
			body[f.Name] = ""
		}
	}
	return body
}

// submit posts a remediation or action as auth-js does: JSON body,
// Accept = the form's "accepts" (application/ion+json if absent), and records
// the stateHandle of a successful reply in st.
func (c *Client) submit(ctx context.Context, st *State, f *form, body map[string]any) (*idxResponse, error) {
	u, err := url.Parse(f.Href)
	if err != nil || !u.IsAbs() || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, protocolErrorf("%q has href %q, which is not an absolute http(s) URL", f.Name, truncate(f.Href, 200))
	}
	method := strings.ToUpper(f.Method)
	if method == "" {
		method = http.MethodPost
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, protocolErrorf("cannot encode %q body: %v", f.Name, err)
	}
	accept := f.Accepts
	if accept == "" {
		accept = "application/ion+json"
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", accept)
	r, err := c.do(ctx, method, f.Href, h, data)
	if err != nil {
		return nil, err
	}
	resp, err := parseIDXResponse(method, f.Href, r)
	if err != nil {
		return nil, err
	}
	st.observe(resp)
	return resp, nil
}

// parseIDXResponse parses an IDX reply; a non-2xx reply that is not JSON at
// all (a proxy's error page) becomes *HTTPError.
func parseIDXResponse(method, rawURL string, r *httpResponse) (*idxResponse, error) {
	if !r.ok() && !json.Valid(r.body) {
		return nil, httpErrorFrom(method, rawURL, r)
	}
	resp, err := parseIDXBody(r.status, r.body)
	if err != nil {
		return nil, err
	}
	resp.retryAfter = retryAfter(r)
	return resp, nil
}
