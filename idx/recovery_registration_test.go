package idx

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Password recovery, self-service registration and TOTP, scripted against
// Okta's recorded responses in testdata/fixtures/recovery-registration-totp
// (described in its README). Every one of those files is replayed below.

const (
	rrt                       = "recovery-registration-totp/"
	fxRecoverIdentify         = rrt + "recover-identify-recovery.json"
	fxResetPassword           = rrt + "reset-authenticator-password.json"
	fxEnrollProfile           = rrt + "select-enroll-profile-enroll-profile.json"
	fxSelectEnrollPassword    = rrt + "select-authenticator-enroll-password.json"
	fxEnrollPassword          = rrt + "enroll-authenticator-password.json"
	fxRegEnrollData           = rrt + "enrollment-data-phone.json"
	fxRegEnrollSMS            = rrt + "enroll-authenticator-phone-sms.json"
	fxSelectEnrollPhoneGoogle = rrt + "select-authenticator-enroll-phone-or-google.json"
	fxEnrollGoogle            = rrt + "enroll-authenticator-google-otp.json"
	fxEnrollGoogleWrong       = rrt + "error-enroll-google-invalid-otp.json"
	fxChallengeGoogle         = rrt + "challenge-google-otp.json"
	fxChallengeGoogleUsed     = rrt + "error-challenge-google-otp-used-passcode.json"
	fxChallengeGoogleWrong    = rrt + "error-challenge-google-otp-invalid-passcode.json"
)

// contextualData reads the QR code and shared secret a fixture's
// currentAuthenticator carries, so expectations follow the file exactly.
func contextualData(t *testing.T, fixture string) (*QRCode, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "fixtures", fixture))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		CurrentAuthenticator struct {
			Value struct {
				ContextualData struct {
					QRCode       QRCode `json:"qrcode"`
					SharedSecret string `json:"sharedSecret"`
				} `json:"contextualData"`
			} `json:"value"`
		} `json:"currentAuthenticator"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	cd := doc.CurrentAuthenticator.Value.ContextualData
	if !strings.HasPrefix(cd.QRCode.Href, "data:image/png;base64,") || cd.SharedSecret == "" {
		t.Fatalf("%s has no QR code or shared secret", fixture)
	}
	return &cd.QRCode, cd.SharedSecret
}

// wantFlow checks the flow the State records.
func wantFlow(t *testing.T, tx *Transaction, flow Flow) {
	t.Helper()
	if tx.State == nil || tx.State.Flow != flow {
		t.Fatalf("State = %v with flow %q, want flow %q", tx.State, stateFlow(tx.State), flow)
	}
}

func stateFlow(st *State) Flow {
	if st == nil {
		return "(no State)"
	}
	return st.Flow
}

// The steps of the recorded files, written out from them.

var passwordPolicyRecorded = &PasswordPolicy{MinLength: 8, MinLowerCase: 1, MinUpperCase: 1, MinNumber: 1, ExcludeUsername: true, HistoryCount: 4}

func identifyRecoveryStep() NextStep {
	return NextStep{Name: "identify-recovery", Inputs: []Input{{Name: "username", Label: "Username", Type: "string", Required: true}}}
}

func resetPasswordStep() NextStep {
	return NextStep{Name: "reset-authenticator", Type: "password",
		Inputs: []Input{{Name: "newPassword", Label: "New password", Type: "string", Required: true, Secret: true}},
		Authenticator: &Authenticator{ID: "aut2h3ffszv3me6O31d7", Key: "okta_password", Type: "password", DisplayName: "Password",
			Methods: []string{"password"}, PasswordPolicy: passwordPolicyRecorded}}
}

func enrollProfileSteps(emailMsgs ...Message) []NextStep {
	return []NextStep{
		{Name: "enroll-profile", Inputs: []Input{
			{Name: "userProfile.firstName", Label: "First name", Type: "string", Required: true},
			{Name: "userProfile.lastName", Label: "Last name", Type: "string", Required: true},
			{Name: "userProfile.email", Label: "Email", Type: "string", Required: true, Messages: emailMsgs},
		}},
		namedStep("select-identify"),
	}
}

func passwordOption() Option {
	return authOpt("Password", &Authenticator{ID: "aut1egri5t7iomJ3l1d7", Key: "okta_password", Type: "password", DisplayName: "Password", Methods: []string{"password"}})
}

func enrollPasswordSteps() []NextStep {
	return []NextStep{
		{Name: "enroll-authenticator", Type: "password",
			Inputs: []Input{{Name: "password", Label: "Enter password", Type: "string", Required: true, Secret: true}},
			Authenticator: &Authenticator{ID: "aut1egri5t7iomJ3l1d7", Key: "okta_password", Type: "password", DisplayName: "Password",
				Methods: []string{"password"}, PasswordPolicy: passwordPolicyRecorded}},
		choiceStep("select-authenticator-enroll", passwordOption()),
	}
}

// selectEnrollPhoneGoogleStep is the old-style choice of every authenticator
// a user without a second factor may enroll; its options relate to the
// authenticators list, so they carry the form's id and no enrollment.
func selectEnrollPhoneGoogleStep() NextStep {
	opt := func(label, id, key, typ, name string, methods ...string) Option {
		return authOpt(label, &Authenticator{ID: id, Key: key, Type: typ, DisplayName: name, Methods: methods})
	}
	step := choiceStep("select-authenticator-enroll",
		opt("Okta Password", "autwa6eD9o02iBbtv0g3", "okta_password", "password", "Okta Password"),
		opt("Okta Phone", "aid568g3mXgtID0X1SLH", "phone_number", "phone", "Okta Phone"),
		opt("Security Key or Biometric Authenticator (FIDO2)", "aidtheidkwh282hv8g3", "webauthn", "security_key", "Security Key or Biometric"),
		opt("Okta Security Question", "aid568g3mXgtID0X1GGG", "security_question", "security_question", "Okta Security Question"),
		opt("Okta Verify", "aut1erh5wK1M8wA3g0g4", "okta_verify", "app", "Okta Verify", "signed_nonce", "push", "totp"),
		opt("Google Authenticator", "aut11ceMaP0B0EzMI0g4", "google_otp", "app", "Google Authenticator", "otp"),
		opt("Atko Custom On-prem", "autx7fdyRt87txnAs0g3", "onprem_mfa", "security_key", "Atko Custom On-prem", "otp"),
		opt("RSA SecurID", "autx7fdyRt87txnAs0g3", "rsa_token", "security_key", "RSA SecurID", "otp"),
		opt("Duo Security", "aut32kl92UF8kfE4E0g4", "duo", "app", "Duo Security", "idp"),
		opt("IDP Authenticator", "0oa69chx4bZyx8O7l0g4", "external_idp", "federated", "IDP Authenticator", "idp"),
		opt("Atko Custom OTP Authenticator", "aut32kl92UF8kfE4E0g5", "custom_otp", "security_key", "Atko Custom OTP Authenticator", "otp"),
		opt("Symantec VIP", "aut11ceMaP0B0EzMI0g4", "symantec_vip", "app", "Symantec VIP", "otp"),
		opt("YubiKey Authenticator", "aut10faWWbNaNWBaH0g4", "yubikey_token", "security_key", "YubiKey Authenticator", "otp"),
	)
	step.Inputs[0].Required = true
	return step
}

func googleEnroll(id string) *Authenticator {
	return &Authenticator{ID: id, Key: "google_otp", Type: "app", DisplayName: "Google Authenticator", Methods: []string{"otp"}}
}

func enrollGoogleSteps(t *testing.T, fixture, id string, msgs ...Message) []NextStep {
	a := googleEnroll(id)
	a.QRCode, a.SharedSecret = contextualData(t, fixture)
	return []NextStep{
		{Name: "enroll-authenticator", Type: "app", Inputs: []Input{codeInput(true, msgs...)}, Authenticator: a},
		choiceStep("select-authenticator-enroll", authOpt("Google Authenticator", googleEnroll(id))),
	}
}

func challengeGoogleSteps() []NextStep {
	google := googleEnroll("aut2m5drzzUlo4Bn81d7")
	google.EnrollmentID = "uft2nai75idszAT621d7"
	return []NextStep{
		{Name: "challenge-authenticator", Type: "app", Inputs: []Input{codeInput(true)}, Authenticator: google},
		choiceStep("select-authenticator-authenticate",
			authOpt("Google Authenticator", google),
			authOpt("Okta Verify", &Authenticator{ID: "aut2h3fft4y9pDPCS1d7", Key: "okta_verify", Type: "app", DisplayName: "Okta Verify", Methods: []string{"push", "totp"}}),
			authOpt("Security Question", &Authenticator{ID: "aut2h3fft3N1BApga1d7", EnrollmentID: "qae2m9zgotWytCoEp1d7",
				Key: "security_question", Type: "security_question", DisplayName: "Security Question", Methods: []string{"security_question"},
				Profile: map[string]string{"questionKey": "childhood_dream_job", "question": "What was your dream job as a child?"}}),
		),
	}
}

// challengeGoogleErrorSteps are the steps of the two recorded wrong-code
// answers: the challenge relates to currentAuthenticator (no enrollment id),
// and the other choice is a password enrollment without a key, chosen by
// its form's id.
func challengeGoogleErrorSteps(msg Message) []NextStep {
	return []NextStep{
		{Name: "challenge-authenticator", Type: "app", Inputs: []Input{codeInput(true, msg)}, Authenticator: googleEnroll("aut11ceMaP0B0EzMI0g4")},
		choiceStep("select-authenticator-authenticate", Option{Label: "Okta Password", Value: "aidwboITrg4b4yAYd0g3",
			Authenticator: &Authenticator{ID: "aidwboITrg4b4yAYd0g3", EnrollmentID: "autwa6eD9o02iBbtv0g1", Type: "password",
				DisplayName: "Okta Password", Methods: []string{"password"}}}),
	}
}

var (
	msgTOTPInvalid = Message{Text: "API error: Your code doesn't match our records. Please try again.",
		Key: "authfactor.challenge.soft_token.invalid_passcode", Class: "ERROR", Field: "verificationCode"}
	msgTOTPUsed = Message{Text: "API error: Each code can only be used once. Please wait for a new code and try again.",
		Key: "authfactor.challenge.soft_token.used_passcode", Class: "ERROR", Field: "verificationCode"}
	msgEmailTaken = Message{Text: "A user with this Email already exists", Key: "registration.error.notUniqueWithinOrg",
		Params: []any{"Email"}, Class: "ERROR", Field: "userProfile.email"}
)

// TestRecoverPassword walks a password reset call by call: the recover
// action, the username, the phone and SMS, the code, the new password (with
// the policy shown), then tokens. Proceed continues the reset because the
// State records the flow.
func TestRecoverPassword(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxIntrospect),
		exchange{path: "/idp/idx/recover", accept: g3Accepts, fixture: fxRecoverIdentify,
			body: body(sh(t, fxIntrospect, "currentAuthenticator.recover"))},
		introspectEx(fxRecoverIdentify),
		exchange{path: "/idp/idx/identify", accept: g3Accepts, fixture: fxSelect,
			body: body(`"identifier":"tester@okta1.com",` + sh(t, fxRecoverIdentify, "identify-recovery"))},
		introspectEx(fxSelect),
		exchange{path: "/idp/idx/challenge", accept: g3Accepts, fixture: fxChallengeSMS,
			body: body(`"authenticator":{"id":"aut2h3fft10VeLDPD1d7","enrollmentId":"sms2h3goa8cfOEBYw1d7","methodType":"sms"},` + sh(t, fxSelect, "select-authenticator-authenticate"))},
		introspectEx(fxChallengeSMS),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, fixture: fxResetPassword,
			body: body(`"credentials":{"passcode":"123456"},` + sh(t, fxChallengeSMS, "challenge-authenticator"))},
		// A sign-in password is never taken for the new one.
		introspectEx(fxResetPassword),
		introspectEx(fxResetPassword),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, fixture: fxSuccess,
			body: body(`"credentials":{"passcode":"N3w-passw0rd"},` + sh(t, fxResetPassword, "reset-authenticator"))},
	)
	c := s.client()
	ctx := context.Background()

	tx, err := c.RecoverPassword(ctx, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, identifyRecoveryStep()))
	wantFlow(t, tx, FlowRecoverPassword)
	if len(s.interacts) != 1 {
		t.Fatalf("interact called %d times", len(s.interacts))
	}

	tx, err = c.RecoverPassword(ctx, tx.State, Options{Username: "tester@okta1.com"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, selectStepG3()))
	wantFlow(t, tx, FlowRecoverPassword)

	tx, err = c.Proceed(ctx, tx.State, Options{Authenticator: "phone_number", MethodType: "sms"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, true, nil, challengeSMSSteps()...))
	wantFlow(t, tx, FlowRecoverPassword)

	tx, err = c.Proceed(ctx, tx.State, Options{VerificationCode: "123456"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, resetPasswordStep()))
	wantFlow(t, tx, FlowRecoverPassword)

	st := tx.State
	tx, err = c.Proceed(ctx, st, Options{Password: "N3w-passw0rd"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, resetPasswordStep()))

	tx, err = c.Proceed(ctx, st, Options{NewPassword: "N3w-passw0rd"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusSuccess, RequestSucceeded: true})
	if tx.State != nil || tx.Tokens == nil || tx.Tokens.IDTokenClaims["nonce"] != st.Nonce {
		t.Fatalf("after the reset: State %v, tokens %+v", tx.State, tx.Tokens)
	}
	if len(s.interacts) != 1 || len(s.tokenReqs) != 1 || s.tokenReqs[0].Get("code_verifier") != st.CodeVerifier {
		t.Fatalf("interacts %d, token requests %v", len(s.interacts), s.tokenReqs)
	}
}

// TestRecoverPasswordActionOncePerCall: the recover action is posted
// whenever a response offers it, but at most once per call, as okta-auth-js
// removes an action once run. Values given up front are posted after it.
func TestRecoverPasswordActionOncePerCall(t *testing.T) {
	s := newReplayServer(t,
		// The answer to recover offers recover again: not posted twice in
		// one call, and identify (which needs a password) is not posted.
		introspectEx(fxIntrospect),
		exchange{path: "/idp/idx/recover", accept: g3Accepts, fixture: fxIntrospect,
			body: body(sh(t, fxIntrospect, "currentAuthenticator.recover"))},
		// The next call posts it again, then the username.
		introspectEx(fxIntrospect),
		exchange{path: "/idp/idx/recover", accept: g3Accepts, fixture: fxRecoverIdentify,
			body: body(sh(t, fxIntrospect, "currentAuthenticator.recover"))},
		exchange{path: "/idp/idx/identify", accept: g3Accepts, fixture: fxSelect,
			body: body(`"identifier":"tester@okta1.com",` + sh(t, fxRecoverIdentify, "identify-recovery"))},
	)
	c := s.client()
	ctx := context.Background()
	tx, err := c.RecoverPassword(ctx, newTestState(s), Options{Username: "tester@okta1.com"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, offering(pending(true, false, nil, identifyStep(), namedStep("select-enroll-profile"))))
	wantFlow(t, tx, FlowRecoverPassword)

	tx, err = c.Proceed(ctx, tx.State, Options{Username: "tester@okta1.com"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, selectStepG3()))
	wantFlow(t, tx, FlowRecoverPassword)
}

// TestFlowsUnavailable: RecoverPassword and Register start only where the
// server offers them; nothing is posted otherwise and the caller's State
// stays usable. A State already in the flow is not checked again, and an
// expired transaction is TERMINAL, not "unavailable".
func TestFlowsUnavailable(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxSelect),
		introspectEx(fxSelect),
		introspectEx(fxSelect),
		introspectEx(fxChallengeSMS),
		exchange{path: "/idp/idx/introspect", body: `{"interactionHandle":"` + fixtureInteractionHandle + `"}`, status: 401, fixture: fxExpired},
	)
	c := s.client()
	ctx := context.Background()
	st := newTestState(s)
	if _, err := c.RecoverPassword(ctx, st, Options{Username: "u"}); !errors.Is(err, ErrRecoveryUnavailable) || !errors.Is(err, ErrActionUnavailable) {
		t.Fatalf("RecoverPassword without a recover action: err = %v", err)
	}
	if _, err := c.Register(ctx, st, Options{Profile: map[string]string{"email": "a@example.com"}}); !errors.Is(err, ErrRegistrationUnavailable) || !errors.Is(err, ErrActionUnavailable) {
		t.Fatalf("Register without select-enroll-profile: err = %v", err)
	}
	if st.Flow != FlowAuthenticate {
		t.Fatalf("the caller's State changed: flow %q", st.Flow)
	}
	tx, err := c.Proceed(ctx, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, selectStepG3()))

	inFlow := *st
	inFlow.Flow = FlowRecoverPassword
	tx, err = c.RecoverPassword(ctx, &inFlow, Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, true, nil, challengeSMSSteps()...))

	tx, err = c.Register(ctx, st, Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusTerminal, Messages: []Message{msgExpired}})
}

// TestRegister walks a registration call by call: select-enroll-profile, a
// profile missing a required attribute (nothing posted), an email already
// taken (400, message on the input), the profile accepted and the password
// authenticator chosen, the password (with the policy shown), a phone and
// its code, then tokens.
func TestRegister(t *testing.T) {
	emailTaken := emailTakenReply(t)
	profile := func(email string) string {
		return `"userProfile":{"firstName":"Ada","lastName":"Lovelace","email":"` + email + `"},`
	}
	s := newReplayServer(t,
		introspectEx(fxIntrospect),
		exchange{path: "/idp/idx/enroll", accept: g3Accepts, fixture: fxEnrollProfile,
			body: body(sh(t, fxIntrospect, "select-enroll-profile"))},
		introspectEx(fxEnrollProfile),
		introspectEx(fxEnrollProfile),
		exchange{path: "/idp/idx/enroll/new", accept: g3Accepts, status: 400, fixture: emailTaken,
			body: body(profile("ada@example.com") + sh(t, fxEnrollProfile, "enroll-profile"))},
		introspectEx(fxEnrollProfile),
		exchange{path: "/idp/idx/enroll/new", accept: g3Accepts, fixture: fxSelectEnrollPassword,
			body: body(profile("ada.lovelace@example.com") + sh(t, fxEnrollProfile, "enroll-profile"))},
		exchange{path: "/idp/idx/credential/enroll", accept: g3Accepts, fixture: fxEnrollPassword,
			body: body(`"authenticator":{"id":"aut1egri5t7iomJ3l1d7","methodType":"password"},` + sh(t, fxSelectEnrollPassword, "select-authenticator-enroll"))},
		introspectEx(fxEnrollPassword),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, fixture: fxSelectEnrollPhoneGoogle,
			body: body(`"credentials":{"passcode":"Correct-h0rse"},` + sh(t, fxEnrollPassword, "enroll-authenticator"))},
		introspectEx(fxSelectEnrollPhoneGoogle),
		exchange{path: "/idp/idx/credential/enroll", accept: oldAccepts, fixture: fxRegEnrollData,
			body: body(`"authenticator":{"id":"aid568g3mXgtID0X1SLH"},` + sh(t, fxSelectEnrollPhoneGoogle, "select-authenticator-enroll"))},
		introspectEx(fxRegEnrollData),
		exchange{path: "/idp/idx/credential/enroll", accept: g3Accepts, fixture: fxRegEnrollSMS,
			body: body(`"authenticator":{"id":"aut2h3fft10VeLDPD1d7","methodType":"sms","phoneNumber":"+12015550123"},` + sh(t, fxRegEnrollData, "authenticator-enrollment-data"))},
		introspectEx(fxRegEnrollSMS),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, fixture: fxSuccess,
			body: body(`"credentials":{"passcode":"246810"},` + sh(t, fxRegEnrollSMS, "enroll-authenticator"))},
	)
	c := s.client()
	ctx := context.Background()

	tx, err := c.Register(ctx, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, enrollProfileSteps()...))
	wantFlow(t, tx, FlowRegister)

	tx, err = c.Register(ctx, tx.State, Options{Profile: map[string]string{"firstName": "Ada", "lastName": "Lovelace"}})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, enrollProfileSteps()...))

	ada := map[string]string{"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com"}
	tx, err = c.Proceed(ctx, tx.State, Options{Profile: ada})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(false, false, []Message{msgEmailTaken}, enrollProfileSteps(msgEmailTaken)...))
	wantFlow(t, tx, FlowRegister)

	ada["email"] = "ada.lovelace@example.com"
	tx, err = c.Proceed(ctx, tx.State, Options{Profile: ada, Authenticator: "okta_password"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, enrollPasswordSteps()...))

	tx, err = c.Proceed(ctx, tx.State, Options{Password: "Correct-h0rse"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, selectEnrollPhoneGoogleStep()))
	wantFlow(t, tx, FlowRegister)

	tx, err = c.Proceed(ctx, tx.State, Options{Authenticator: "phone_number"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, true, nil, enrollDataSteps()...))

	tx, err = c.Proceed(ctx, tx.State, Options{PhoneNumber: "+12015550123", MethodType: "sms"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, true, nil,
		NextStep{Name: "enroll-authenticator", Type: "phone", Inputs: []Input{codeInput(true)}, Authenticator: phoneEnroll("aut2h3fft10VeLDPD1d7", "sms")},
		selectEnrollStepFull()))

	st := tx.State
	tx, err = c.Proceed(ctx, st, Options{VerificationCode: "246810"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusSuccess, RequestSucceeded: true})
	if tx.State != nil || tx.Tokens == nil || tx.Tokens.IDTokenClaims["nonce"] != st.Nonce {
		t.Fatalf("after registering: State %v, tokens %+v", tx.State, tx.Tokens)
	}
}

// emailTakenReply is the recorded enroll-profile state as Okta answers a
// registration whose email is taken: HTTP 400, the message on the field.
func emailTakenReply(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "fixtures", fxEnrollProfile))
	if err != nil {
		t.Fatal(err)
	}
	const field = `"name": "email",
                  "label": "Email",
                  "required": true`
	if !strings.Contains(string(data), field) {
		t.Fatalf("%s changed: no email field to attach the message to", fxEnrollProfile)
	}
	return strings.Replace(string(data), field, field+`,
                  "messages": {"type": "array", "value": [{"message": "A user with this Email already exists",
                    "i18n": {"key": "registration.error.notUniqueWithinOrg", "params": ["Email"]}, "class": "ERROR"}]}`, 1)
}

// TestRegisterInOneCall: every value up front — the profile and the
// password, which chooses the password authenticator by itself — takes a
// registration to the second-factor choice in one call. A sign-in State is
// switched to the registration flow when the server offers it.
func TestRegisterInOneCall(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxIntrospect),
		exchange{path: "/idp/idx/enroll", accept: g3Accepts, fixture: fxEnrollProfile,
			body: body(sh(t, fxIntrospect, "select-enroll-profile"))},
		exchange{path: "/idp/idx/enroll/new", accept: g3Accepts, fixture: fxSelectEnrollPassword,
			body: body(`"userProfile":{"firstName":"Ada","lastName":"Lovelace","email":"ada@example.com"},` + sh(t, fxEnrollProfile, "enroll-profile"))},
		exchange{path: "/idp/idx/credential/enroll", accept: g3Accepts, fixture: fxEnrollPassword,
			body: body(`"authenticator":{"id":"aut1egri5t7iomJ3l1d7","methodType":"password"},` + sh(t, fxSelectEnrollPassword, "select-authenticator-enroll"))},
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, fixture: fxSelectEnrollPhoneGoogle,
			body: body(`"credentials":{"passcode":"Correct-h0rse"},` + sh(t, fxEnrollPassword, "enroll-authenticator"))},
	)
	st := newTestState(s)
	tx, err := s.client().Register(context.Background(), st, Options{
		Profile:  map[string]string{"firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com", "middleName": ""},
		Values:   map[string]any{"userProfile.nickName": "Countess"}, // not in the form: not sent
		Password: "Correct-h0rse",
	})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, selectEnrollPhoneGoogleStep()))
	wantFlow(t, tx, FlowRegister)
}

// TestAuthenticatePicksThePasswordToEnroll: as okta-auth-js's legacy
// authenticate, a password given without an authenticator chooses the
// password authenticator in an enrollment choice, then answers it.
func TestAuthenticatePicksThePasswordToEnroll(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxSelectEnrollPassword),
		introspectEx(fxSelectEnrollPassword),
		exchange{path: "/idp/idx/credential/enroll", accept: g3Accepts, fixture: fxEnrollPassword,
			body: body(`"authenticator":{"id":"aut1egri5t7iomJ3l1d7","methodType":"password"},` + sh(t, fxSelectEnrollPassword, "select-authenticator-enroll"))},
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, fixture: fxSuccess,
			body: body(`"credentials":{"passcode":"pw"},` + sh(t, fxEnrollPassword, "enroll-authenticator"))},
	)
	c := s.client()
	tx, err := c.Authenticate(context.Background(), newTestState(s), Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, choiceStep("select-authenticator-enroll", passwordOption())))
	tx, err = c.Authenticate(context.Background(), newTestState(s), Options{Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusSuccess, RequestSucceeded: true})
}

// TestTOTPEnrollment: choosing the authenticator app ("google_otp") shows its
// QR code and shared secret on the step's Authenticator; a wrong code comes
// back on the code input (with the QR code still there), the right one
// finishes.
func TestTOTPEnrollment(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxSelectEnrollPhoneGoogle),
		exchange{path: "/idp/idx/credential/enroll", accept: oldAccepts, fixture: fxEnrollGoogle,
			body: body(`"authenticator":{"id":"aut11ceMaP0B0EzMI0g4"},` + sh(t, fxSelectEnrollPhoneGoogle, "select-authenticator-enroll"))},
		introspectEx(fxEnrollGoogle),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, status: 401, fixture: fxEnrollGoogleWrong,
			body: body(`"credentials":{"passcode":"000000"},` + sh(t, fxEnrollGoogle, "enroll-authenticator"))},
		introspectEx(fxEnrollGoogle),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, fixture: fxSuccess,
			body: body(`"credentials":{"passcode":"287082"},` + sh(t, fxEnrollGoogle, "enroll-authenticator"))},
	)
	c := s.client()
	ctx := context.Background()
	tx, err := c.Proceed(ctx, newTestState(s), Options{Authenticator: "google_otp"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, enrollGoogleSteps(t, fxEnrollGoogle, "aut2m5drzzUlo4Bn81d7")...))
	if a := tx.NextStep.Authenticator; a.SharedSecret != "KAGWBIXAKOLPEFMY" || a.QRCode.Type != "image/png" || a.QRCode.Method != "embedded" {
		t.Fatalf("authenticator = %+v", a)
	}

	tx, err = c.Proceed(ctx, tx.State, Options{VerificationCode: "000000"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(false, false, []Message{msgWrongCode}, enrollGoogleSteps(t, fxEnrollGoogleWrong, "aut11ceMaP0B0EzMI0g4", msgWrongCode)...))

	tx, err = c.Proceed(ctx, tx.State, Options{VerificationCode: "287082"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusSuccess, RequestSucceeded: true})
}

// TestTOTPChallenge: a sign-in choosing the authenticator app goes to its
// code step in one call; the recorded wrong and already-used codes come back
// on the code input; the right code finishes.
func TestTOTPChallenge(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxIntrospect),
		exchange{path: "/idp/idx/identify", accept: g3Accepts, fixture: fxSelect,
			body: body(`"identifier":"tester@okta1.com","credentials":{"passcode":"pw"},` + sh(t, fxIntrospect, "identify"))},
		exchange{path: "/idp/idx/challenge", accept: g3Accepts, fixture: fxChallengeGoogle,
			body: body(`"authenticator":{"id":"aut2m5drzzUlo4Bn81d7","methodType":"otp"},` + sh(t, fxSelect, "select-authenticator-authenticate"))},
		introspectEx(fxChallengeGoogle),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, status: 401, fixture: fxChallengeGoogleWrong,
			body: body(`"credentials":{"passcode":"111111"},` + sh(t, fxChallengeGoogle, "challenge-authenticator"))},
		introspectEx(fxChallengeGoogle),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, status: 401, fixture: fxChallengeGoogleUsed,
			body: body(`"credentials":{"passcode":"222222"},` + sh(t, fxChallengeGoogle, "challenge-authenticator"))},
		introspectEx(fxChallengeGoogle),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, fixture: fxSuccess,
			body: body(`"credentials":{"passcode":"333333"},` + sh(t, fxChallengeGoogle, "challenge-authenticator"))},
	)
	c := s.client()
	ctx := context.Background()
	tx, err := c.Authenticate(ctx, nil, Options{Username: "tester@okta1.com", Password: "pw", Authenticator: "google_otp"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, challengeGoogleSteps()...))

	tx, err = c.Authenticate(ctx, tx.State, Options{VerificationCode: "111111"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(false, false, []Message{msgTOTPInvalid}, challengeGoogleErrorSteps(msgTOTPInvalid)...))

	tx, err = c.Authenticate(ctx, tx.State, Options{VerificationCode: "222222"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(false, false, []Message{msgTOTPUsed}, challengeGoogleErrorSteps(msgTOTPUsed)...))

	tx, err = c.Authenticate(ctx, tx.State, Options{VerificationCode: "333333"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusSuccess, RequestSucceeded: true})
}

// TestEveryRecoveryRegistrationTOTPFixtureIsReplayed keeps the list above
// honest: each recorded file of the directory is named by a test.
func TestEveryRecoveryRegistrationTOTPFixtureIsReplayed(t *testing.T) {
	replayed := map[string]bool{}
	for _, f := range []string{fxRecoverIdentify, fxResetPassword, fxEnrollProfile, fxSelectEnrollPassword, fxEnrollPassword,
		fxRegEnrollData, fxRegEnrollSMS, fxSelectEnrollPhoneGoogle, fxEnrollGoogle, fxEnrollGoogleWrong,
		fxChallengeGoogle, fxChallengeGoogleUsed, fxChallengeGoogleWrong} {
		replayed[f] = true
	}
	files, err := filepath.Glob(filepath.Join("testdata", "fixtures", rrt, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 13 {
		t.Errorf("%d recorded files, want 13", len(files))
	}
	for _, f := range files {
		if !replayed[rrt+filepath.Base(f)] {
			t.Errorf("%s is not replayed", f)
		}
	}
}
