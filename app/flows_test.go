package app

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/idx"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// The password reset, registration and authenticator-app pages, walked
// against Okta's recorded responses (fakeIssuer); the same walks against the
// engine are in browser_test.go.

// startFlowFrom posts one of the sign-in page's links.
func (a *agent) startFlowFrom(path string) reply {
	a.t.Helper()
	return a.post(path, url.Values{formField: {a.formToken()}})
}

// engineOffers asks an issuer what its first answer offers, as the app does.
func engineOffers(t testing.TB, issuer string) (recover, register bool) {
	t.Helper()
	c, err := idx.NewClient(idx.Config{Issuer: issuer, ClientID: enginetest.ClientID, RedirectURI: enginetest.RedirectURI})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := c.Authenticate(context.Background(), nil, idx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tx.EnabledFeatures {
		recover = recover || f == idx.FeaturePasswordRecovery
		register = register || f == idx.FeatureRegistration
	}
	return recover, register
}

// TestSignInPageLinksOnlyWhatIsOffered: "Forgot password?" and "Create an
// account" appear exactly when the identity server offers them — a recover
// action, select-enroll-profile — in its first answer.
func TestSignInPageLinksOnlyWhatIsOffered(t *testing.T) {
	ta := startApp(t, nil)
	recover, register := engineOffers(t, ta.h.Issuer)
	r := ta.agent(t).get(pathSignIn)
	if got := strings.Contains(r.body, `action="/login/recover/start"`); got != recover {
		t.Errorf("engine: the reset link is shown: %v, the engine offers a reset: %v", got, recover)
	}
	if got := strings.Contains(r.body, `action="/login/register/start"`); got != register {
		t.Errorf("engine: the registration link is shown: %v, the engine offers registration: %v", got, register)
	}

	f := newFakeIssuer(t)
	r = appOn(t, f).agent(t).get(pathSignIn)
	expectPage(t, r, http.StatusOK, `<form method="post" action="/login/recover/start">`, "Forgot password?",
		`<form method="post" action="/login/register/start">`, "Create an account")
	if n := strings.Count(r.body, `name="csrf" value="`+hiddenToken(t, r)+`"`); n != 4 {
		t.Errorf("%d forms carry the page's token, want 4 (sign in, reset, register, hosted)", n)
	}

	bare := newFakeIssuer(t)
	bare.start = `{"version":"1.0.0","stateHandle":"02BARE","remediation":{"type":"array","value":[
	  {"rel":["create-form"],"name":"identify","href":"http://localhost:3000/idp/idx/identify","method":"POST",
	   "value":[{"name":"identifier","label":"Username","required":true},
	            {"name":"credentials","type":"object","required":true,"form":{"value":[{"name":"passcode","label":"Password","secret":true}]}},
	            {"name":"stateHandle","required":true,"value":"02BARE","visible":false,"mutable":false}]}]}}`
	bareApp := appOn(t, bare)
	a := bareApp.agent(t)
	r = a.get(pathSignIn)
	expectPage(t, r, http.StatusOK, "Sign in")
	refuteText(t, r, "Forgot password?", "Create an account", "/login/recover/start", "/login/register/start")

	// A forged post to a link the page did not show is refused in words;
	// nothing is kept.
	r = a.startFlowFrom(pathRecoverStart)
	expectPage(t, r, http.StatusUnprocessableEntity, "Resetting a password isn&#39;t available here.")
	r = a.startFlowFrom(pathRegisterStart)
	expectPage(t, r, http.StatusUnprocessableEntity, "Creating an account isn&#39;t available here.")
	if n := bareApp.store.Len(); n != 0 {
		t.Errorf("%d sessions after refused starts, want 0", n)
	}
	// Without the page's token, nothing is started.
	r = a.post(pathRecoverStart, url.Values{})
	expectPage(t, r, http.StatusForbidden, "This sign-in page had expired, so nothing was sent.")
}

// TestPasswordResetPages: "Forgot password?", the username, the phone, SMS,
// the code, then the new password with the server's rules; the user ends up
// signed in.
func TestPasswordResetPages(t *testing.T) {
	f := newFakeIssuer(t)
	f.on(fxIdentify, "/idp/idx/recover", fakeReply{fixture: fxRecover})
	f.on(fxRecover, "/idp/idx/identify", fakeReply{fixture: fxSelectPhone})
	f.on(fxSelectPhone, "/idp/idx/challenge", fakeReply{fixture: fxVerifySMS})
	f.on(fxVerifySMS, "/idp/idx/challenge", fakeReply{fixture: fxChallengeSMS})
	f.on(fxChallengeSMS, "/idp/idx/challenge/answer", fakeReply{fixture: fxReset})
	f.on(fxReset, "/idp/idx/challenge/answer", fakeReply{fixture: fxSuccess})
	ta := appOn(t, f)
	a := ta.agent(t)

	r := a.expectRedirect(a.startFlowFrom(pathRecoverStart), pathRecover)
	expectPage(t, r, http.StatusOK, `<h1 id="title">Reset your password</h1>`, `<form method="post" action="/login/recover"`,
		`id="username" name="username"`, `autocomplete="username"`, "← Back to sign in")
	refuteText(t, r, "Step ")
	if f.lastPost("/idp/idx/recover") == nil {
		t.Fatal("the recover action was not posted")
	}

	expectPage(t, a.post(pathRecover, url.Values{"username": {" "}}), http.StatusUnprocessableEntity, "Enter your username.")
	r = a.expectRedirect(a.post(pathRecover, url.Values{"username": {"tester@okta1.com"}}), pathSelect)
	if got := fieldValue(f.lastPost("/idp/idx/identify"), "identifier"); got != "tester@okta1.com" {
		t.Errorf("identify-recovery posted identifier %v", got)
	}
	// Only what the app can finish is offered: the phone and the app, not
	// Okta Verify or a security question.
	expectPage(t, r, http.StatusOK, "Verify it&#39;s you", "Resetting the password of", "tester@okta1.com",
		"Phone", "&#43;1 XXX-XXX-2241", `value="sms2h3goa8cfOEBYw1d7"`, "Google Authenticator", `value="uft2nai75idszAT621d7"`)
	refuteText(t, r, "Okta Verify", "Security Question", "Step 2 of 4")

	r = a.expectRedirect(a.post(pathSelect, url.Values{"authenticator": {"sms2h3goa8cfOEBYw1d7"}}), pathPhone)
	r = a.expectRedirect(a.post(pathPhone, url.Values{"method": {"sms"}}), pathCode)
	expectPage(t, r, http.StatusOK, "Enter code", "Resetting the password of")
	r = a.expectRedirect(a.post(pathCode, url.Values{"code": {"123 456"}}), pathPassword)
	if got := fieldValue(f.lastPost("/idp/idx/challenge/answer"), "credentials.passcode"); got != "123456" {
		t.Errorf("the code posted was %v", got)
	}
	expectPage(t, r, http.StatusOK, `<h1 id="title">Choose a new password</h1>`, "Your password needs",
		"<li>At least 8 characters</li>", "<li>A lowercase letter</li>", "<li>An uppercase letter</li>", "<li>A number</li>",
		"<li>Not your username</li>", "<li>Not one of your last 4 passwords</li>",
		`<label for="password">New password</label>`, `type="password" autocomplete="new-password"`, `aria-describedby="password-rules"`,
		`<label for="confirm">Type it again</label>`, "Reset password")

	r = a.post(pathPassword, url.Values{"password": {"N3w-passw0rd"}, "confirm": {"N3w-passw0rd!"}})
	expectPage(t, r, http.StatusUnprocessableEntity, "The two passwords don&#39;t match.", `id="confirm-error"`, "<li>At least 8 characters</li>")
	refuteText(t, r, "N3w-passw0rd")
	expectPage(t, a.post(pathPassword, url.Values{}), http.StatusUnprocessableEntity, "Enter a password.")

	a.expectRedirect(a.post(pathPassword, url.Values{"password": {"N3w-passw0rd"}, "confirm": {"N3w-passw0rd"}}), "/")
	if got := fieldValue(f.lastPost("/idp/idx/challenge/answer"), "credentials.passcode"); got != "N3w-passw0rd" {
		t.Errorf("reset-authenticator posted %v", got)
	}
	expectPage(t, a.get("/"), http.StatusOK, "Welcome, Ada Lovelace", "ada@example.com")
}

// emailTaken is the recorded enroll-profile answer with Okta's message for
// an email already registered on the email field (sent with 400).
func emailTaken(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "idx", "testdata", "fixtures", fxProfile))
	if err != nil {
		t.Fatal(err)
	}
	const field = `"label": "Email",
                  "required": true`
	if !strings.Contains(string(data), field) {
		t.Fatalf("%s has no email field to put the message on", fxProfile)
	}
	return strings.Replace(string(data), field, field+`, "messages": {"type": "array", "value": [{"message": "A user with this Email already exists",
	  "i18n": {"key": "registration.error.notUniqueWithinOrg", "params": ["Email"]}, "class": "ERROR"}]}`, 1)
}

// TestRegistrationPages: "Create an account", the server's profile form
// (blank, taken email, accepted), the password with its rules, the choice of
// a second factor, the authenticator app's QR code and shared secret, a
// wrong code, the right one; the new user ends up signed in.
func TestRegistrationPages(t *testing.T) {
	f := newFakeIssuer(t)
	f.on(fxIdentify, "/idp/idx/enroll", fakeReply{fixture: fxProfile})
	f.on(fxProfile, "/idp/idx/enroll/new", fakeReply{status: http.StatusBadRequest, fixture: emailTaken(t)})
	f.on(fxSelectPassword, "/idp/idx/credential/enroll", fakeReply{fixture: fxEnrollPassword})
	f.on(fxEnrollPassword, "/idp/idx/challenge/answer", fakeReply{fixture: fxSelectPhoneOrApp})
	f.on(fxSelectPhoneOrApp, "/idp/idx/credential/enroll", fakeReply{fixture: fxEnrollApp})
	f.on(fxEnrollApp, "/idp/idx/challenge/answer", fakeReply{status: http.StatusUnauthorized, fixture: fxEnrollAppWrong})
	ta := appOn(t, f)
	a := ta.agent(t)

	r := a.expectRedirect(a.startFlowFrom(pathRegisterStart), pathRegister)
	expectPage(t, r, http.StatusOK, `<h1 id="title">Create your account</h1>`, `<form method="post" action="/login/register"`,
		`<label for="profile-firstName">First name</label>`, `name="userProfile.firstName" type="text" value="" autocomplete="given-name"`,
		`<label for="profile-lastName">Last name</label>`, `name="userProfile.lastName" type="text" value="" autocomplete="family-name"`,
		`<label for="profile-email">Email</label>`, `name="userProfile.email" type="email" value="" autocomplete="email"`)
	refuteText(t, r, "Step ", "(optional)")

	profile := url.Values{"userProfile.firstName": {"Ada"}, "userProfile.lastName": {""}, "userProfile.email": {"ada@example.com"}}
	r = a.post(pathRegister, profile)
	expectPage(t, r, http.StatusUnprocessableEntity, "Enter your last name.", `aria-describedby="profile-lastName-error"`, `value="Ada"`, `value="ada@example.com"`)

	profile.Set("userProfile.lastName", "Lovelace")
	r = a.post(pathRegister, profile)
	expectPage(t, r, http.StatusUnprocessableEntity, "An account with this email address already exists.",
		`id="profile-email-error"`, `value="Ada"`, `value="Lovelace"`, `value="ada@example.com"`)

	f.on(fxProfile, "/idp/idx/enroll/new", fakeReply{fixture: fxSelectPassword})
	profile.Set("userProfile.email", "ada.lovelace@example.com")
	r = a.expectRedirect(a.post(pathRegister, profile), pathPassword)
	want := map[string]any{"firstName": "Ada", "lastName": "Lovelace", "email": "ada.lovelace@example.com"}
	if got := f.lastPost("/idp/idx/enroll/new")["userProfile"]; !reflect.DeepEqual(got, want) {
		t.Errorf("enroll-profile posted %v, want %v", got, want)
	}
	if got := fieldValue(f.lastPost("/idp/idx/credential/enroll"), "authenticator.methodType"); got != "password" {
		t.Errorf("the password authenticator was not chosen: %v", f.lastPost("/idp/idx/credential/enroll"))
	}
	expectPage(t, r, http.StatusOK, `<h1 id="title">Choose a password</h1>`, "Creating an account for", "ada.lovelace@example.com",
		"<li>At least 8 characters</li>", `<label for="password">Password</label>`)

	r = a.expectRedirect(a.post(pathPassword, url.Values{"password": {"Correct-h0rse"}, "confirm": {"Correct-h0rse"}}), pathSelect)
	if got := fieldValue(f.lastPost("/idp/idx/challenge/answer"), "credentials.passcode"); got != "Correct-h0rse" {
		t.Errorf("the password posted was %v", got)
	}
	// The recorded choice offers 13 authenticators, the password among
	// them: the app offers what it can finish.
	expectPage(t, r, http.StatusOK, "Set up two-step verification", "Okta Phone", `value="phone_number"`,
		"Google Authenticator", `value="google_otp"`, "Use Google Authenticator or a similar app")
	refuteText(t, r, "Okta Password", "Okta Verify", "YubiKey", "Step 2 of 4")

	r = a.expectRedirect(a.post(pathSelect, url.Values{"authenticator": {"google_otp"}}), pathTOTP)
	qr, secret := recordedQRCode(t, fxEnrollApp)
	expectPage(t, r, http.StatusOK, `<h1 id="title">Set up your authenticator app</h1>`,
		`<img class="qr" src="`+qr+`"`, `alt="QR code for adding your account to an authenticator app"`,
		`<code class="secret" id="secret">`+groupSecret(secret)+`</code>`, `autocomplete="one-time-code"`)
	if groupSecret(secret) != "KAGW BIXA KOLP EFMY" {
		t.Errorf("the secret is shown as %q", groupSecret(secret))
	}

	r = a.post(pathTOTP, url.Values{"code": {"000000"}})
	wrongQR, _ := recordedQRCode(t, fxEnrollAppWrong)
	expectPage(t, r, http.StatusUnprocessableEntity, "That code isn&#39;t right. Enter the code your authenticator app shows now.",
		`src="`+wrongQR+`"`, "ZR74 DHZT G43N BULV", `value="000000"`)

	f.on(fxEnrollApp, "/idp/idx/challenge/answer", fakeReply{fixture: fxSuccess})
	a.expectRedirect(a.post(pathTOTP, url.Values{"code": {"287 082"}}), "/")
	if got := fieldValue(f.lastPost("/idp/idx/challenge/answer"), "credentials.passcode"); got != "287082" {
		t.Errorf("the app's code posted was %v", got)
	}
	expectPage(t, a.get("/"), http.StatusOK, "Welcome, Ada Lovelace", "Password and authenticator app")
}

// recordedQRCode returns a fixture's QR code (as the page shows it) and
// shared secret.
func recordedQRCode(t *testing.T, fixture string) (string, string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "idx", "testdata", "fixtures", fixture))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(data), `"href": "data:image/png;base64,`)
	b64, _, _ := strings.Cut(rest, `"`)
	_, rest, _ = strings.Cut(string(data), `"sharedSecret": "`)
	secret, _, _ := strings.Cut(rest, `"`)
	if b64 == "" || secret == "" {
		t.Fatalf("%s has no QR code or secret", fixture)
	}
	// html/template writes "+" as "&#43;" in attributes, which browsers
	// read back as "+".
	return strings.ReplaceAll(pngDataPrefix+b64, "+", "&#43;"), secret
}

// TestAuthenticatorAppAtSignIn: a user with an authenticator app chooses it
// and types its code; an already used code is refused in words.
func TestAuthenticatorAppAtSignIn(t *testing.T) {
	f := newFakeIssuer(t)
	f.on(fxIdentify, "/idp/idx/identify", fakeReply{fixture: fxSelectPhone})
	f.on(fxSelectPhone, "/idp/idx/challenge", fakeReply{fixture: fxChallengeApp})
	f.on(fxChallengeApp, "/idp/idx/challenge/answer", fakeReply{status: http.StatusUnauthorized, fixture: fxChallengeAppUsed})
	ta := appOn(t, f)
	a := ta.agent(t)
	r := a.expectRedirect(a.post(pathSignIn, url.Values{"username": {"tester@okta1.com"}, "password": {"pw"}}), pathSelect)
	expectPage(t, r, http.StatusOK, "Google Authenticator", "Enter a code from your authenticator app", "Step 2 of 4")

	r = a.expectRedirect(a.post(pathSelect, url.Values{"authenticator": {"uft2nai75idszAT621d7"}}), pathTOTP)
	if got := fieldValue(f.lastPost("/idp/idx/challenge"), "authenticator.methodType"); got != "otp" {
		t.Errorf("choosing the app posted %v", f.lastPost("/idp/idx/challenge"))
	}
	expectPage(t, r, http.StatusOK, `<h1 id="title">Enter your app's code</h1>`, "Signing in as", "tester@okta1.com",
		`<label for="code">6-digit code</label>`, `autocomplete="one-time-code"`)
	refuteText(t, r, "<img", "secret", "Send again")

	expectPage(t, a.post(pathTOTP, url.Values{"code": {" "}}), http.StatusUnprocessableEntity, "Enter the 6-digit code your app shows.")
	r = a.post(pathTOTP, url.Values{"code": {"111111"}})
	expectPage(t, r, http.StatusUnprocessableEntity, "That code was already used. Wait for your app to show a new one, then enter it.", `id="code-error"`)

	f.on(fxChallengeApp, "/idp/idx/challenge/answer", fakeReply{fixture: fxSuccess})
	a.expectRedirect(a.post(pathTOTP, url.Values{"code": {"222222"}}), "/")
	// The code page of a phone is not the app's, and the other way round.
	if r := a.get(pathTOTP); r.status != http.StatusSeeOther || r.location != "/" {
		t.Errorf("the app's code page after signing in: %d %q", r.status, r.location)
	}
}

func TestQRCodeIsCheckedBeforeShowing(t *testing.T) {
	png := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	for _, c := range []struct {
		href string
		ok   bool
	}{
		{pngDataPrefix + png, true},
		{"data:image/svg+xml;base64," + png, false},
		{"javascript:alert(1)", false},
		{"https://qr.example/code.png", false},
		{pngDataPrefix + "not base64!", false},
		{pngDataPrefix + base64.StdEncoding.EncodeToString([]byte("<html>")), false},
		{pngDataPrefix + strings.Repeat("A", 200<<10), false},
	} {
		got := qrImage(&idx.QRCode{Href: c.href})
		if (got != "") != c.ok || (c.ok && string(got) != c.href) {
			t.Errorf("qrImage(%.40q) = %.40q, want shown: %v", c.href, got, c.ok)
		}
	}
	if qrImage(nil) != "" {
		t.Error("no QR code must show none")
	}
}
