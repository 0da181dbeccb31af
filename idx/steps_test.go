package idx

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Expected NextSteps for the recorded fixtures, written out by hand from the
// fixture files so that every test asserts the exact Transaction.

const (
	fxIntrospect      = "idx-01-introspect-identify.json"
	fxSelect          = "idx-02-identify-select-authenticator-authenticate.json"
	fxVerifySMS       = "idx-03-challenge-authenticator-verification-data-phone-sms.json"
	fxVerifySMSVoice  = "idx-03-challenge-authenticator-verification-data-phone-sms-voice.json"
	fxChallengeSMS    = "idx-04-challenge-challenge-authenticator-phone-sms.json"
	fxChallengeVoice  = "idx-04-challenge-challenge-authenticator-phone-voice.json"
	fxSuccess         = "idx-05-challenge-answer-success-with-interaction-code.json"
	fxSelectEnroll    = "enroll-02-identify-select-authenticator-enroll-phone.json"
	fxEnrollData      = "enroll-03-credential-enroll-authenticator-enrollment-data-phone.json"
	fxEnrollSMS       = "enroll-04-credential-enroll-enroll-authenticator-phone-sms.json"
	fxEnrollVoice     = "enroll-04-credential-enroll-enroll-authenticator-phone-voice.json"
	fxCancel          = "cancel-response-identify.json"
	fxWrongPassword   = "error-identify-authentication-failed.json"
	fxUnknownUser     = "error-identify-unknown-user.json"
	fxWrongCode       = "error-challenge-answer-invalid-passcode-phone.json"
	fxWrongEnrollCode = "error-enroll-answer-invalid-passcode-phone.json"
	fxInvalidPhone    = "error-enrollment-data-invalid-phone-number.json"
	fxExpired         = "error-session-expired.json"
	fxExpiredState    = "error-session-expired-with-state.json"
	fx403             = "error-403-access-denied.json"
	fx429             = "error-429-too-many-requests.json"
	fx429SMS          = "error-429-sms-rate-limit.json"
	fx429Voice        = "error-429-voice-rate-limit-with-remediation.json"
	fx429API          = "error-429-api-rate-limit.json"

	// fixtureInteractionCode is the code in idx-05.
	fixtureInteractionCode = "oNJqO9CtpzMoIlKcc5o41MUpWSxlfI5xJoCtsiGo-qg"
)

// formStateHandle returns the stateHandle value of the remediation (or
// top-level action member, or nested action "<member>.<key>") named name in a
// fixture, so expected request bodies follow the fixture exactly.
func formStateHandle(t *testing.T, fixture, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "fixtures", fixture))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	type fieldT struct {
		Name  string `json:"name"`
		Value any    `json:"value"`
	}
	type formT struct {
		Name  string   `json:"name"`
		Value []fieldT `json:"value"`
	}
	find := func(f formT) string {
		for _, fl := range f.Value {
			if fl.Name == "stateHandle" {
				s, _ := fl.Value.(string)
				return s
			}
		}
		t.Fatalf("%s: form %s has no stateHandle", fixture, name)
		return ""
	}
	var rems struct {
		Value []formT `json:"value"`
	}
	_ = json.Unmarshal(doc["remediation"], &rems)
	for _, r := range rems.Value {
		if r.Name == name {
			return find(r)
		}
	}
	if raw, ok := doc[name]; ok {
		var f formT
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		return find(f)
	}
	for member, raw := range doc {
		var wrapper struct {
			Value map[string]json.RawMessage `json:"value"`
		}
		if json.Unmarshal(raw, &wrapper) != nil {
			continue
		}
		for key, inner := range wrapper.Value {
			if member+"."+key == name {
				var f formT
				if err := json.Unmarshal(inner, &f); err != nil {
					t.Fatal(err)
				}
				return find(f)
			}
		}
	}
	t.Fatalf("%s: no form %s", fixture, name)
	return ""
}

// topStateHandle returns a fixture's top-level stateHandle.
func topStateHandle(t *testing.T, fixture string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "fixtures", fixture))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		StateHandle string `json:"stateHandle"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.StateHandle
}

func identifyStep() NextStep {
	return NextStep{Name: "identify", Inputs: []Input{
		{Name: "username", Label: "Username", Type: "string", Required: true},
		{Name: "password", Label: "Password", Type: "string", Required: true, Secret: true},
		{Name: "rememberMe", Label: "Remember this device", Type: "boolean"},
	}}
}

func namedStep(name string) NextStep { return NextStep{Name: name} }

// identifySteps are the remediations of IDENTIFY states recorded with Okta
// Verify enabled (wrong password, unknown user, after cancel).
func identifySteps() []NextStep {
	return []NextStep{identifyStep(), namedStep("launch-authenticator"), namedStep("select-enroll-profile"), namedStep("unlock-account")}
}

func choiceStep(name string, options ...Option) NextStep {
	return NextStep{Name: name, Inputs: []Input{{Name: "authenticator", Type: "string", Options: options}}}
}

// authOpt is an option of a choice among authenticators: its Label, its
// Value (the key of what it relates to) and that object's description.
func authOpt(label string, a *Authenticator) Option {
	return Option{Label: label, Value: a.Key, Authenticator: a}
}

// selectStepG3 is select-authenticator-authenticate of idx-02: every option
// but Okta Verify relates to an enrollment ($.authenticatorEnrollments), whose
// id is the EnrollmentID when the option form has no enrollmentId; Okta
// Verify relates to an authenticator ($.authenticators) and has none.
func selectStepG3() NextStep {
	return choiceStep("select-authenticator-authenticate",
		authOpt("Google Authenticator", &Authenticator{ID: "aut2m5drzzUlo4Bn81d7", EnrollmentID: "uft2nai75idszAT621d7",
			Key: "google_otp", Type: "app", DisplayName: "Google Authenticator", Methods: []string{"otp"}}),
		authOpt("Okta Verify", &Authenticator{ID: "aut2h3fft4y9pDPCS1d7",
			Key: "okta_verify", Type: "app", DisplayName: "Okta Verify", Methods: []string{"push", "totp"}}),
		authOpt("Phone", &Authenticator{ID: "aut2h3fft10VeLDPD1d7", EnrollmentID: "sms2h3goa8cfOEBYw1d7",
			Key: "phone_number", Type: "phone", DisplayName: "Phone", Methods: []string{"sms", "voice"},
			Profile: map[string]string{"phoneNumber": "+1 XXX-XXX-2241"}}),
		authOpt("Security Question", &Authenticator{ID: "aut2h3fft3N1BApga1d7", EnrollmentID: "qae2m9zgotWytCoEp1d7",
			Key: "security_question", Type: "security_question", DisplayName: "Security Question", Methods: []string{"security_question"},
			Profile: map[string]string{"questionKey": "childhood_dream_job", "question": "What was your dream job as a child?"}}),
	)
}

// selectStepEmailPhone is select-authenticator-authenticate of idx-03/idx-04 (sms).
func selectStepEmailPhone() NextStep {
	return choiceStep("select-authenticator-authenticate",
		authOpt("Email", &Authenticator{ID: "aut41wnl0irhAgO6C5d7", EnrollmentID: "eae41xf0kzRQ16IAN5d7",
			Key: "okta_email", Type: "email", DisplayName: "Email", Methods: []string{"email"},
			Profile: map[string]string{"email": "t***m@okta1.com"}}),
		authOpt("Phone", phoneSMS()),
	)
}

// selectStepOld is select-authenticator-authenticate of the old-style
// fixtures. Their options relate to enrollments that carry an
// authenticatorId; ids are placeholders (the webauthn options' relatesTo are
// crossed over, so their form ids and enrollment ids do not pair up).
func selectStepOld() NextStep {
	old := func(formID, enrollmentID, key, typ, name string, methods ...string) *Authenticator {
		return &Authenticator{ID: formID, EnrollmentID: enrollmentID, Key: key, Type: typ, DisplayName: name, Methods: methods}
	}
	return choiceStep("select-authenticator-authenticate",
		authOpt("Okta Password", old("aidwboITrg4b4yAYd0g3", "autwa6eD9o02iBbtv0g1", "okta_password", "password", "Okta Password")),
		authOpt("Security Key or Biometric", old("fwftheidkwh282hv8g3", "autwa6eD9o02iBbtv0g2", "webauthn", "security_key", "Security Key or Biometric")),
		authOpt("Security Key or Biometric", old("aidtheidkwh282hv8g3", "autwa6eD9o02iBbtv0g2", "webauthn", "security_key", "Security Key or Biometric")),
		authOpt("Okta Email", old("aidtm56L8gXXHI1SD0g3", "autwa6eD9o02iBbtv0g3", "okta_email", "email", "Okta Email", "email")),
		authOpt("Okta Phone", old("aid568g3mXgtID0X1SLH", "autwa6eD9o02iBbsta82", "phone_number", "phone", "Okta Phone")),
		authOpt("Okta Security Question", old("aid568g3mXgtID0HHSLH", "autwa6eD9o02iBbaaa82", "security_question", "security_question", "Okta Security Question")),
	)
}

// selectEnrollStepFull is select-authenticator-enroll of enroll-02 to
// enroll-04 (sms): options relate to authenticators, so none has an
// EnrollmentID or a Profile.
func selectEnrollStepFull() NextStep {
	return choiceStep("select-authenticator-enroll",
		authOpt("Google Authenticator", &Authenticator{ID: "aut2m5drzzUlo4Bn81d7", Key: "google_otp", Type: "app",
			DisplayName: "Google Authenticator", Methods: []string{"otp"}}),
		authOpt("Okta Verify", &Authenticator{ID: "aut2h3fft4y9pDPCS1d7", Key: "okta_verify", Type: "app",
			DisplayName: "Okta Verify", Methods: []string{"signed_nonce", "totp"}}),
		authOpt("Phone", phoneEnroll("aut2h3fft10VeLDPD1d7", "sms", "voice")),
		authOpt("Security Key or Biometric", &Authenticator{ID: "aut2h3f9ovE2RV96P1d7", Key: "webauthn", Type: "security_key",
			DisplayName: "Security Key or Biometric", Methods: []string{"webauthn"}}),
	)
}

// selectEnrollStepPhone is select-authenticator-enroll offering only the
// phone authenticator id.
func selectEnrollStepPhone(id string) NextStep {
	return choiceStep("select-authenticator-enroll", authOpt("Phone", phoneEnroll(id, "sms", "voice")))
}

// phoneSMS is the phone enrollment of idx-03/idx-04 (sms).
func phoneSMS() *Authenticator {
	return &Authenticator{
		ID: "aut41wnl0jzrilXNz5d7", EnrollmentID: "sms4bvjioge7Sdu3p5d7", Key: "phone_number", Type: "phone",
		DisplayName: "Phone", Methods: []string{"sms"}, Profile: map[string]string{"phoneNumber": "+1 XXX-XXX-4601"},
	}
}

// phoneOld is the phone enrollment of the old-style fixtures, whose ids are
// placeholders and which carry no "authenticators" list to find the
// authenticator id of a challenge in.
func phoneOld(id string, methods ...string) *Authenticator {
	return &Authenticator{
		ID: id, EnrollmentID: "id-phone-authenticator", Key: "phone_number", Type: "phone",
		DisplayName: "id-phone-authenticator", Methods: methods, Profile: map[string]string{"phoneNumber": "+1 XXX-XXX-2342"},
	}
}

func phoneEnroll(id string, methods ...string) *Authenticator {
	return &Authenticator{ID: id, Key: "phone_number", Type: "phone", DisplayName: "Phone", Methods: methods}
}

func methodTypeInput(options ...Option) Input {
	return Input{Name: "methodType", Type: "string", Required: true, Options: options}
}

var (
	optSMS       = Option{Label: "SMS", Value: "sms"}
	optVoiceCall = Option{Label: "Voice call", Value: "voice"}
	optVOICE     = Option{Label: "VOICE", Value: "voice"}
)

func codeInput(required bool, msgs ...Message) Input {
	return Input{Name: "verificationCode", Label: "Enter code", Type: "string", Required: required, Messages: msgs}
}

var (
	msgWrongPassword = Message{Text: "Authentication failed", Key: "errors.E0000004", Class: "ERROR"}
	msgUnknownUser   = Message{Text: "There is no account with the Username testeruser@okta1.com.", Key: "idx.unknown.user", Class: "WARNING"}
	msgWrongCode     = Message{Text: "Invalid code. Try again.", Key: "api.authn.error.PASSCODE_INVALID", Class: "ERROR", Field: "verificationCode"}
	msgInvalidPhone  = Message{Text: "Invalid Phone Number.", Key: "api.factors.error.sms.invalid_phone", Class: "ERROR"}
	msgExpired       = Message{Text: "The session has expired.", Key: "idx.session.expired", Class: "ERROR"}
	msgInactive      = Message{Text: "You have been logged out due to inactivity. Refresh or return to the sign in screen.", Key: "idx.session.expired", Class: "ERROR"}
	msgAccessDenied  = Message{Text: "You do not have permission to perform the requested action.", Key: "security.access_denied", Class: "ERROR"}
	msgTooMany       = Message{Text: "Too many requests", Key: "tooManyRequests", Class: "ERROR"}
	msgSMSLimit      = Message{Text: "You have reached the limit of sms requests, please try again later.", Key: "errors.E0000150", Class: "ERROR"}
	msgVoiceLimit    = Message{Text: "You have reached the limit of call requests, please try again later.", Key: "errors.E0000151", Class: "ERROR"}
	msgAPILimit      = Message{Text: "API call exceeded rate limit due to too many requests.", Key: "E0000047", Class: "ERROR"}
)

// offering adds what the recorded IDENTIFY states (idx-01, the wrong
// password and unknown user answers, the state after cancel) offer: a
// recover action and select-enroll-profile.
func offering(tx Transaction) Transaction {
	tx.EnabledFeatures = []Feature{FeaturePasswordRecovery, FeatureRegistration}
	return tx
}

// pending builds the expected PENDING transaction whose first step is
// steps[0]; canResend applies to the first step only.
func pending(succeeded, canResend bool, msgs []Message, steps ...NextStep) Transaction {
	steps[0].CanResend = canResend
	first := steps[0]
	return Transaction{Status: StatusPending, NextStep: &first, AvailableSteps: steps, Messages: msgs, RequestSucceeded: succeeded}
}

func verifySMSSteps() []NextStep {
	return []NextStep{
		{Name: "authenticator-verification-data", Type: "phone", Inputs: []Input{methodTypeInput(optSMS)}, Authenticator: phoneSMS()},
		selectStepEmailPhone(),
	}
}

func challengeSMSSteps() []NextStep {
	return []NextStep{
		{Name: "challenge-authenticator", Type: "phone", Inputs: []Input{codeInput(true)}, Authenticator: phoneSMS()},
		selectStepEmailPhone(),
	}
}

func verifyOldSteps() []NextStep {
	return []NextStep{
		{Name: "authenticator-verification-data", Type: "phone", Inputs: []Input{methodTypeInput(optSMS, optVOICE)},
			Authenticator: phoneOld("id-phone-authenticator", "sms", "voice")},
		selectStepOld(),
	}
}

func challengeVoiceSteps() []NextStep {
	return []NextStep{
		// The old-style voice challenge's credentials field is not marked
		// required, so neither is the code.
		{Name: "challenge-authenticator", Type: "phone", Inputs: []Input{codeInput(false)}, Authenticator: phoneOld("", "voice")},
		selectStepOld(),
	}
}

func enrollDataSteps() []NextStep {
	return []NextStep{
		{Name: "authenticator-enrollment-data", Type: "phone", Inputs: []Input{
			methodTypeInput(optSMS, optVoiceCall),
			{Name: "phoneNumber", Label: "Phone Number", Type: "string", Required: true},
		}, Authenticator: phoneEnroll("aut2h3fft10VeLDPD1d7", "sms", "voice")},
		selectEnrollStepFull(),
	}
}

// TestOptionAuthenticatorIDs: Option.Authenticator normalises ids whatever the
// option relates to, and an option can be chosen by its EnrollmentID.
func TestOptionAuthenticatorIDs(t *testing.T) {
	const body = `{"version":"1.0.0","stateHandle":"02OPT","remediation":{"type":"array","value":[
	  {"rel":["create-form"],"name":"select-authenticator-authenticate","href":"http://localhost:3000/idp/idx/challenge",
	   "value":[{"name":"authenticator","type":"object","options":[
	     {"label":"A","value":{"form":{"value":[{"name":"id","value":"autPHONE","mutable":false},{"name":"enrollmentId","value":"smsA","mutable":false}]}},
	      "relatesTo":"$.authenticators.value[0]"},
	     {"label":"B","value":{"form":{"value":[{"name":"id","value":"autPHONE","mutable":false},{"name":"enrollmentId","value":"smsB","mutable":false}]}},
	      "relatesTo":"$.authenticators.value[0]"},
	     {"label":"C","value":{"form":{"value":[]}},"relatesTo":"$.authenticators.value[1]"},
	     {"label":"D","value":{"form":{"value":[]}},"relatesTo":"$.authenticatorEnrollments.value[0]"},
	     {"label":"E","value":{"form":{"value":[]}},"relatesTo":"$.authenticatorEnrollments.value[01]"},
	     {"label":"F","value":{"form":{"value":[]}},"relatesTo":["$.currentAuthenticatorEnrollment"]},
	     {"label":"G","value":{"form":{"value":[{"name":"id","value":"autOTHER","mutable":false}]}}}]},
	    {"name":"stateHandle","required":true,"value":"02OPT","visible":false,"mutable":false}]}]},
	  "authenticators":{"type":"array","value":[
	    {"type":"phone","key":"phone_number","id":"autPHONE","displayName":"Phone","methods":[{"type":"sms"}]},
	    {"type":"email","key":"okta_email","id":"autEMAIL","displayName":"Email"}]},
	  "authenticatorEnrollments":{"type":"array","value":[
	    {"type":"email","key":"okta_email","id":"eaeD","authenticatorId":"autEMAILfromENR","displayName":"Email"},
	    {"type":"email","key":"okta_email","id":"eaeE","displayName":"Email","profile":{"email":"a***@example.com"}}]},
	  "currentAuthenticatorEnrollment":{"type":"object","value":{"type":"phone","key":"phone_number","id":"smsCUR","displayName":"Phone",
	    "profile":{"phoneNumber":"+1 XXX-XXX-0000"}}}}`
	resp, err := parseIDXBody(200, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	phone := func(enrollmentID string) *Authenticator {
		return &Authenticator{ID: "autPHONE", EnrollmentID: enrollmentID, Key: "phone_number", Type: "phone", DisplayName: "Phone", Methods: []string{"sms"}}
	}
	want := []Option{
		// Relating to an authenticator: the ids of the option's form.
		authOpt("A", phone("smsA")),
		authOpt("B", phone("smsB")),
		// Relating to an authenticator, no ids in the form: the
		// authenticator's id, and no enrollment.
		authOpt("C", &Authenticator{ID: "autEMAIL", Key: "okta_email", Type: "email", DisplayName: "Email"}),
		// Relating to an enrollment: its id is the EnrollmentID; the
		// authenticator id is its authenticatorId, else looked up by key.
		authOpt("D", &Authenticator{ID: "autEMAILfromENR", EnrollmentID: "eaeD", Key: "okta_email", Type: "email", DisplayName: "Email"}),
		authOpt("E", &Authenticator{ID: "autEMAIL", EnrollmentID: "eaeE", Key: "okta_email", Type: "email", DisplayName: "Email",
			Profile: map[string]string{"email": "a***@example.com"}}),
		// A {"type","value"} wrapper is unwrapped.
		authOpt("F", &Authenticator{ID: "autPHONE", EnrollmentID: "smsCUR", Key: "phone_number", Type: "phone", DisplayName: "Phone",
			Profile: map[string]string{"phoneNumber": "+1 XXX-XXX-0000"}}),
		// Relating to nothing: no Authenticator; the Value is the form's id.
		{Label: "G", Value: "autOTHER"},
	}
	steps := buildSteps(resp)
	if got := steps[0].Inputs[0].Options; !reflect.DeepEqual(got, want) {
		gj, _ := json.MarshalIndent(got, "", "  ")
		wj, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("options\n--- got\n%s\n--- want\n%s", gj, wj)
	}

	// Choosing: the key picks the first phone, an EnrollmentID its option
	// (also from an authenticator-relating option's form), an Authenticator.ID
	// the first option with it. The current enrollment (F) is not re-selected
	// unless the step is named.
	for _, c := range []struct {
		choice   string
		explicit bool
		want     string // the chosen option's label, "" for none
	}{
		{"phone_number", false, "A"}, {"smsB", false, "B"}, {"autEMAIL", false, "C"}, {"eaeE", false, "E"},
		{"autEMAILfromENR", false, "D"}, {"smsCUR", false, ""}, {"smsCUR", true, "F"}, {"autOTHER", false, "G"}, {"nothing", true, ""},
	} {
		o := matchOption(resp, resp.remediations[0].Value[0], c.choice, c.explicit)
		got := ""
		if o != nil {
			got = o.Label
		}
		if got != c.want {
			t.Errorf("matchOption(%q, explicit %v) = %q, want %q", c.choice, c.explicit, got, c.want)
		}
	}
	_, sub := pickRemediation(resp, Options{Authenticator: "smsB", MethodType: "sms"}.values(), "", flowSpecs[FlowAuthenticate], nil)
	wantBody := map[string]any{"authenticator": map[string]any{"id": "autPHONE", "enrollmentId": "smsB"}, "stateHandle": "02OPT"}
	if !reflect.DeepEqual(sub.body, wantBody) {
		t.Errorf("body = %v, want %v", sub.body, wantBody)
	}
}
