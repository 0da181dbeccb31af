//go:build unix

package interop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/internal/browsertest"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// TestSignInWidget serves the unchanged Okta Sign-In Widget (npm
// @okta/okta-signin-widget, pinned in signin-widget/package.json) on a page of its
// own origin, configured for the interaction code flow against a real `gatehouse
// serve` process, and signs alice in with headless Chromium the way a person does:
// username and password, the phone, "Receive a code via SMS", a wrong code (the
// widget shows the engine's error on the field), "Send again" once the widget
// offers it (30 s), then the new code from the dev outbox. The widget exchanges the
// interaction code itself and hands the page its tokens; the test checks the ID
// token's claims and uses the access token at userinfo, and checks every call the
// widget made to the engine (order, status, CORS). It takes about 35 s, most of it
// the widget's resend timer.
//
// With UPDATE_SCREENSHOTS=1 the screenshots of every step are also written to
// docs/screenshots/widget-*.png.
func TestSignInWidget(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the Sign-In Widget browser test in -short mode")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	browsertest.Chromium(t) // before npm and the build: skip early without it
	dist := prepareWidget(t, ctx)
	bin := buildGatehouse(t, ctx)

	pageAddr := testenv.FreeAddr(t)
	pageOrigin := "http://" + pageAddr
	eng := startWidgetEngine(t, ctx, bin, pageOrigin, "")
	page := serveWidgetPage(t, pageAddr, dist, eng)
	defer page.Close()

	b := newWidgetBrowser(t, pageOrigin, eng.base)
	defer b.report()

	// 1. The identify form.
	b.run("open the page",
		chromedp.Navigate(pageOrigin+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="identifier"]`)),
	)
	b.waitForm("identify")
	b.screenshot("widget-identify")

	// 2. Username and password on one form; the widget posts identify.
	b.run("username and password",
		chromedp.SendKeys(chromedp.CSS(`input[name="identifier"]`), widgetLogin),
		chromedp.SendKeys(chromedp.CSS(`input[name="credentials.passcode"]`), widgetPassword),
		chromedp.Click(chromedp.CSS(`input[type="submit"]`)),
	)
	b.waitForm("select-authenticator-authenticate")
	b.containsText(".authenticator-row", "Phone", "+1 XXX-XXX-0123")
	b.screenshot("widget-select-authenticator")

	// 3. The phone; the widget posts challenge with the option's id and enrollmentId.
	b.run("choose the phone",
		chromedp.Click(chromedp.CSS(`.authenticator-button[data-se="phone_number"] .select-factor`)),
	)
	b.waitForm("authenticator-verification-data")
	b.containsText(".okta-form-subtitle", "+1 XXX-XXX-0123")
	b.screenshot("widget-verify-with-phone")

	// 4. "Receive a code via SMS": challenge with methodType sms; a code is sent.
	sent := len(eng.outbox(t))
	b.run("receive a code via SMS",
		chromedp.Click(chromedp.CSS(`input[type="submit"][value="Receive a code via SMS"]`)),
	)
	b.waitForm("challenge-authenticator")
	code := eng.waitCode(t, ctx, sent)
	b.containsText(".okta-form-subtitle", "+1 XXX-XXX-0123")
	b.screenshot("widget-enter-code")

	// 5. A wrong code: the engine answers 401 with a message on
	// credentials.passcode, which the widget shows on the field.
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	b.enterCode(wrong)
	b.run("the error",
		chromedp.WaitVisible(chromedp.CSS(`.o-form-input-error`)),
	)
	b.containsText(".o-form-input-error", "Invalid code. Try again.")
	b.screenshot("widget-enter-code-error")

	// 6. "Send again": the widget shows the link 30 s after the code view
	// rendered and again 30 s after an error (SHOW_RESEND_TIMEOUT in
	// src/v2/view-builder/utils/Constants.js; ResendView in
	// src/v2/view-builder/views/phone/ChallengeAuthenticatorPhoneView.js), and
	// invokes the action currentAuthenticatorEnrollment-resend: a POST to
	// /idp/idx/challenge/resend. The engine's 30 s cool-down has passed by then.
	sent = len(eng.outbox(t))
	b.runFor("the resend link", 45*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`.phone-authenticator-challenge__resend-warning a.resend-link`)),
	)
	b.screenshot("widget-enter-code-resend")
	b.run("send again",
		chromedp.Click(chromedp.CSS(`a.resend-link`)),
	)
	newCode := eng.waitCode(t, ctx, sent)

	// 7. The new code: 200 with successWithInteractionCode, then /v1/token.
	b.enterCode(newCode)
	result := b.tokens()
	b.screenshot("widget-signed-in")

	eng.checkTokens(t, result, eng.userID, "[pwd sms mfa]")

	// The widget itself made every call to the engine, cross-origin, with credentials.
	b.checkIDXCalls([]string{
		"POST /oauth2/default/v1/interact",
		"POST /idp/idx/introspect",
		"POST /idp/idx/identify",
		"POST /idp/idx/challenge",
		"POST /idp/idx/challenge",
		"POST /idp/idx/challenge/answer 401",
		"POST /idp/idx/challenge/resend",
		"POST /idp/idx/challenge/answer",
		"POST /oauth2/default/v1/token",
	})
	t.Logf("the widget went through %s", strings.Join(b.forms(), " → "))
	t.Logf("Sign-In Widget test took %s", time.Since(start).Round(100*time.Millisecond))
}

// TestSignInWidgetFlows walks the unchanged widget through the flows beyond
// signing in, against one `gatehouse serve` process with self-service
// registration on (password recovery and the authenticator app are on by
// default):
//
//   - password recovery: "Forgot password?", the username, the phone, "Receive a
//     code via SMS", the code from the dev outbox, a new password typed twice,
//     signed in; the old password is then refused and the new one accepted;
//   - registration: "Sign up", first and last name and email, a password typed
//     twice, the phone (number and SMS), its code, signed in as the new user;
//   - the authenticator app: a user without a second factor chooses "Google
//     Authenticator", the widget shows the QR code and, after "Can't scan?", the
//     key, from which the test computes the app's code (RFC 6238, from this
//     machine's clock: the engine runs on it and accepts one step either side);
//     signed in; then a second sign-in chooses the app, where the enrolling
//     code is refused as used and the next step's code signs in.
//
// With UPDATE_SCREENSHOTS=1 the screenshots of the key pages are also written to
// docs/screenshots/widget-recovery-*.png, widget-registration-*.png and
// widget-totp-*.png.
func TestSignInWidgetFlows(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the Sign-In Widget browser test in -short mode")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	browsertest.Chromium(t)
	dist := prepareWidget(t, ctx)
	bin := buildGatehouse(t, ctx)

	pageAddr := testenv.FreeAddr(t)
	pageOrigin := "http://" + pageAddr
	eng := startWidgetEngine(t, ctx, bin, pageOrigin, "sign_on:\n  self_registration: true\n",
		widgetUser{login: recoveryLogin, givenName: "Rosa", phone: recoveryPhone, password: widgetPassword},
		widgetUser{login: totpLogin, givenName: "Tom", password: widgetPassword},
	)
	page := serveWidgetPage(t, pageAddr, dist, eng)
	defer page.Close()

	t.Run("password recovery", func(t *testing.T) {
		walkWidgetRecovery(t, ctx, eng, pageOrigin)
	})
	t.Run("registration", func(t *testing.T) {
		walkWidgetRegistration(t, ctx, eng, pageOrigin)
	})
	t.Run("authenticator app", func(t *testing.T) {
		walkWidgetTOTP(t, eng, pageOrigin)
	})
	t.Logf("Sign-In Widget flows took %s", time.Since(start).Round(100*time.Millisecond))
}

const (
	recoveryLogin       = "rosa@example.com"
	recoveryPhone       = "+12015550129"
	recoveryNewPassword = "a-new-Passw0rd-for-rosa"
	registrationEmail   = "dora@example.com"
	registrationPhone   = "+12015550188"
	totpLogin           = "tom@example.com"
)

// openWidget opens the page in a new browser and waits for the identify form.
func openWidget(t *testing.T, eng *widgetEngine, pageOrigin string) *widgetBrowser {
	t.Helper()
	b := newWidgetBrowser(t, pageOrigin, eng.base)
	t.Cleanup(b.report)
	b.run("open the page",
		chromedp.Navigate(pageOrigin+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="identifier"]`)),
	)
	b.waitForm("identify")
	return b
}

// signInWithPassword types a username and password on the identify form.
func (b *widgetBrowser) signInWithPassword(login, password string) {
	b.t.Helper()
	b.run("username and password",
		chromedp.SendKeys(chromedp.CSS(`input[name="identifier"]`), login),
		chromedp.SendKeys(chromedp.CSS(`input[name="credentials.passcode"]`), password),
		chromedp.Click(chromedp.CSS(`input[type="submit"]`)),
	)
}

// newPassword types a password and its confirmation and submits them.
func (b *widgetBrowser) newPassword(password string) {
	b.t.Helper()
	b.run("the new password",
		chromedp.SendKeys(chromedp.CSS(`input[name="credentials.passcode"]`), password),
		chromedp.SendKeys(chromedp.CSS(`input[name="confirmPassword"]`), password),
		chromedp.Click(chromedp.CSS(`input[type="submit"]`)),
	)
}

// walkWidgetRecovery: "Forgot password?" → username → phone → SMS code → new
// password → signed in; then the old password is refused and the new one works.
func walkWidgetRecovery(t *testing.T, ctx context.Context, eng *widgetEngine, pageOrigin string) {
	b := openWidget(t, eng, pageOrigin)
	b.run("forgot password?",
		chromedp.Click(chromedp.CSS(`a[data-se="forgot-password"]`)),
	)
	b.waitForm("identify-recovery")
	b.screenshot("widget-recovery-username")
	b.run("the username",
		chromedp.SendKeys(chromedp.CSS(`input[name="identifier"]`), recoveryLogin),
		chromedp.Click(chromedp.CSS(`input[type="submit"]`)),
	)
	b.waitForm("select-authenticator-authenticate")
	b.containsText(".authenticator-row", "Phone")
	b.screenshot("widget-recovery-select-authenticator")
	b.run("choose the phone",
		chromedp.Click(chromedp.CSS(`.authenticator-button[data-se="phone_number"] .select-factor`)),
	)
	b.waitForm("authenticator-verification-data")
	sent := len(eng.outboxTo(t, recoveryPhone))
	b.run("receive a code via SMS",
		chromedp.Click(chromedp.CSS(`input[type="submit"][value="Receive a code via SMS"]`)),
	)
	b.waitForm("challenge-authenticator")
	code := eng.waitCodeTo(t, ctx, recoveryPhone, sent)
	b.screenshot("widget-recovery-enter-code")
	b.enterCode(code)
	b.waitForm("reset-authenticator")
	b.screenshot("widget-recovery-new-password")
	b.newPassword(recoveryNewPassword)
	result := b.tokens()
	b.screenshot("widget-recovery-signed-in")
	eng.checkTokens(t, result, eng.users[recoveryLogin], "[pwd sms mfa]")
	// "Forgot password?" on the identify form makes the widget start a new
	// transaction (FormController.handleInvokeAction, with oauth2Enabled: a
	// recovery never reuses a sign-in's state handle), then invoke recover.
	b.checkIDXCalls([]string{
		"POST /oauth2/default/v1/interact",
		"POST /idp/idx/introspect",
		"POST /oauth2/default/v1/interact",
		"POST /idp/idx/introspect",
		"POST /idp/idx/recover",
		"POST /idp/idx/identify",
		"POST /idp/idx/challenge",
		"POST /idp/idx/challenge",
		"POST /idp/idx/challenge/answer",
		"POST /idp/idx/challenge/answer",
		"POST /oauth2/default/v1/token",
	})
	t.Logf("the widget went through %s", strings.Join(b.forms(), " → "))

	// The old password is refused, the new one goes on to the second factor.
	b = openWidget(t, eng, pageOrigin)
	b.signInWithPassword(recoveryLogin, widgetPassword)
	b.run("the old password's error",
		chromedp.WaitVisible(chromedp.CSS(`.o-form-error-container .okta-form-infobox-error`)),
	)
	b.retype(`input[name="identifier"]`, recoveryLogin)
	b.retype(`input[name="credentials.passcode"]`, recoveryNewPassword)
	b.run("sign in with the new password",
		chromedp.Click(chromedp.CSS(`input[type="submit"]`)),
	)
	b.waitForm("select-authenticator-authenticate")
}

// walkWidgetRegistration: "Sign up" → profile → password → phone → code → signed in.
func walkWidgetRegistration(t *testing.T, ctx context.Context, eng *widgetEngine, pageOrigin string) {
	b := openWidget(t, eng, pageOrigin)
	b.containsText(".auth-footer", "Forgot password?")
	b.containsText(".signup-info", "Sign up")
	b.screenshot("widget-registration-sign-in")
	b.run("sign up",
		chromedp.Click(chromedp.CSS(`a[data-se="enroll"]`)),
	)
	b.waitForm("enroll-profile")
	b.screenshot("widget-registration-profile")
	b.run("the profile",
		chromedp.SendKeys(chromedp.CSS(`input[name="userProfile.firstName"]`), "Dora"),
		chromedp.SendKeys(chromedp.CSS(`input[name="userProfile.lastName"]`), "Doe"),
		chromedp.SendKeys(chromedp.CSS(`input[name="userProfile.email"]`), registrationEmail),
		chromedp.Click(chromedp.CSS(`input[type="submit"]`)),
	)
	// Like Okta, the engine asks for the password as the first authenticator to
	// set up; the widget lists it alone.
	b.waitForm("select-authenticator-enroll")
	b.containsText(".authenticator-enroll-list", "Password")
	b.run("set up the password",
		chromedp.Click(chromedp.CSS(`.authenticator-button[data-se="okta_password"] .select-factor`)),
	)
	b.waitForm("enroll-authenticator")
	b.screenshot("widget-registration-password")
	b.newPassword(widgetPassword)
	b.waitForm("select-authenticator-enroll")
	b.containsText(".authenticator-enroll-list", "Phone", "Google Authenticator")
	b.screenshot("widget-registration-second-factor")
	b.run("choose the phone",
		chromedp.Click(chromedp.CSS(`.authenticator-button[data-se="phone_number"] .select-factor`)),
	)
	b.waitForm("authenticator-enrollment-data")
	sent := len(eng.outboxTo(t, registrationPhone))
	b.run("the phone number",
		chromedp.SendKeys(chromedp.CSS(`input[name="authenticator.phoneNumber"]`), strings.TrimPrefix(registrationPhone, "+1")),
	)
	b.screenshot("widget-registration-phone")
	b.run("receive a code via SMS",
		chromedp.Click(chromedp.CSS(`input[type="submit"]`)),
	)
	b.waitForm("enroll-authenticator")
	code := eng.waitCodeTo(t, ctx, registrationPhone, sent)
	b.screenshot("widget-registration-enter-code")
	b.enterCode(code)
	result := b.tokens()
	b.screenshot("widget-registration-signed-in")
	for claim, want := range map[string]string{"email": registrationEmail, "given_name": "Dora", "family_name": "Doe"} {
		if got := result.IDTokenClaims[claim]; got != want {
			t.Errorf("the new account's ID token %s = %v, want %s", claim, got, want)
		}
	}
	sub, _ := result.IDTokenClaims["sub"].(string)
	if sub == "" || slices.Contains(slices.Collect(maps.Values(eng.users)), sub) {
		t.Errorf("the new account's ID token sub = %q: not a new user", sub)
	}
	eng.checkTokens(t, result, sub, "[pwd sms mfa]")
	b.checkIDXCalls([]string{
		"POST /oauth2/default/v1/interact",
		"POST /idp/idx/introspect",
		"POST /idp/idx/enroll",
		"POST /idp/idx/enroll/new",
		"POST /idp/idx/credential/enroll", // the password
		"POST /idp/idx/challenge/answer",
		"POST /idp/idx/credential/enroll", // the phone
		"POST /idp/idx/credential/enroll", // its number and SMS
		"POST /idp/idx/challenge/answer",
		"POST /oauth2/default/v1/token",
	})
	t.Logf("the widget went through %s", strings.Join(b.forms(), " → "))
}

// walkWidgetTOTP: a user without a second factor enrolls the authenticator app,
// then signs in again with it.
func walkWidgetTOTP(t *testing.T, eng *widgetEngine, pageOrigin string) {
	b := openWidget(t, eng, pageOrigin)
	b.signInWithPassword(totpLogin, widgetPassword)
	b.waitForm("select-authenticator-enroll")
	b.containsText(".authenticator-enroll-list", "Phone", "Google Authenticator")
	b.screenshot("widget-totp-select-authenticator")
	b.run("choose Google Authenticator",
		chromedp.Click(chromedp.CSS(`.authenticator-button[data-se="google_otp"] .select-factor`)),
	)
	b.waitForm("enroll-authenticator")
	b.run("the QR code",
		chromedp.WaitVisible(chromedp.CSS(`.qrcode`)),
	)
	if !b.imageLoaded(`.qrcode`) {
		t.Error("the QR code image did not load")
	}
	b.screenshot("widget-totp-qr-code")
	b.run("can't scan?",
		chromedp.Click(chromedp.CSS(`.cannot-scan-link`)),
		chromedp.WaitVisible(chromedp.CSS(`.shared-secret`)),
	)
	secret, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(`.shared-secret`)))
	if err != nil {
		b.fail("reading the key", err)
	}
	secret = strings.TrimSpace(secret)
	b.screenshot("widget-totp-key")
	b.run("next",
		chromedp.Click(chromedp.CSS(`.google-authenticator-next`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="credentials.passcode"]`)),
	)
	// The engine runs on this machine's clock; it accepts the code of the step
	// before or after its own, so a step boundary crossed between here and its
	// check does not matter.
	now := time.Now()
	code, err := totp.GenerateCode(secret, now)
	if err != nil {
		t.Fatalf("the key the widget shows, %q: %v", secret, err)
	}
	b.run("the app's code",
		chromedp.SendKeys(chromedp.CSS(`input[name="credentials.passcode"]`), code),
	)
	b.screenshot("widget-totp-enter-code")
	b.run("verify",
		chromedp.Click(chromedp.CSS(`.google-authenticator-verify`)),
	)
	result := b.tokens()
	eng.checkTokens(t, result, eng.users[totpLogin], "[pwd otp mfa]")
	b.checkIDXCalls([]string{
		"POST /oauth2/default/v1/interact",
		"POST /idp/idx/introspect",
		"POST /idp/idx/identify",
		"POST /idp/idx/credential/enroll",
		"POST /idp/idx/challenge/answer",
		"POST /oauth2/default/v1/token",
	})
	t.Logf("the widget went through %s", strings.Join(b.forms(), " → "))

	// A second sign-in verifies with the app. A code is accepted once, so this
	// one is the next 30 s step's: within the engine's step either side whether
	// or not the step has turned since the first.
	b = openWidget(t, eng, pageOrigin)
	b.signInWithPassword(totpLogin, widgetPassword)
	b.waitForm("select-authenticator-authenticate")
	b.containsText(".authenticator-row", "Google Authenticator")
	b.run("choose Google Authenticator",
		chromedp.Click(chromedp.CSS(`.authenticator-button[data-se="google_otp"] .select-factor`)),
	)
	b.waitForm("challenge-authenticator")
	b.containsText(".okta-form-title", "Verify with Google Authenticator")
	b.screenshot("widget-totp-challenge")
	// The code that enrolled the app is refused, on the field: as used
	// (authfactor.challenge.soft_token.used_passcode, which the widget words
	// itself) while its step is within the engine's window, as wrong after.
	inWindow := time.Now().Add(5*time.Second).Unix()/30 <= now.Unix()/30+1
	b.enterCode(code)
	b.run("the used code's error",
		chromedp.WaitVisible(chromedp.CSS(`.o-form-input-error`)),
	)
	if inWindow {
		b.containsText(".o-form-input-error", "Each code can only be used once.")
		b.screenshot("widget-totp-used-code")
	} else {
		t.Log("the enrolling code's step has left the engine's window: it is refused as wrong, not as used")
	}
	next, err := totp.GenerateCode(secret, now.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	b.retype(`input[name="credentials.passcode"]`, next)
	b.run("verify",
		chromedp.Click(chromedp.CSS(`input[type="submit"]`)),
	)
	result = b.tokens()
	b.screenshot("widget-totp-signed-in")
	eng.checkTokens(t, result, eng.users[totpLogin], "[pwd otp mfa]")
	b.checkIDXCalls([]string{
		"POST /oauth2/default/v1/interact",
		"POST /idp/idx/introspect",
		"POST /idp/idx/identify",
		"POST /idp/idx/challenge",
		"POST /idp/idx/challenge/answer 401",
		"POST /idp/idx/challenge/answer",
		"POST /oauth2/default/v1/token",
	})
	t.Logf("the widget went through %s", strings.Join(b.forms(), " → "))
}

// waitTrue waits until the JavaScript expression is true.
func (b *widgetBrowser) waitTrue(what, expression string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expression)); err != nil {
		b.fail(what, err)
	}
}

// imageLoaded reports whether the image sel loaded and has a size.
func (b *widgetBrowser) imageLoaded(sel string) bool {
	b.t.Helper()
	js := `(() => { const i = document.querySelector(` + strconv.Quote(sel) + `); return !!i && i.complete && i.naturalWidth > 0; })()`
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		b.fail("reading "+sel, err)
	}
	return ok
}

const (
	widgetDir      = "signin-widget"
	widgetClientID = "widget-spa"
	widgetLogin    = "alice@example.com"
	widgetPassword = "widget-Passw0rd"
	widgetPhone    = "+12015550123"
)

// prepareWidget makes sure signin-widget/node_modules holds what its
// package-lock.json pins (running npm ci if not) and returns the widget's dist
// folder. Without npm or the npm registry the test is skipped (failed under
// GATEHOUSE_REQUIRE_SERVICES).
func prepareWidget(t *testing.T, ctx context.Context) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Unavailable(t, "Node.js", "node is not on PATH")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		testenv.Unavailable(t, "Node.js", "npm is not on PATH")
	}
	dir, err := filepath.Abs(widgetDir)
	if err != nil {
		t.Fatal(err)
	}
	if current, why := widgetModulesCurrent(dir); !current {
		t.Logf("running npm ci in %s: %s", widgetDir, why)
		out, err := runQuiet(ctx, dir, npm, "ci", "--no-audit", "--no-fund")
		if err != nil {
			if line := networkFailure.FindString(out); line != "" {
				testenv.Unavailable(t, "Node.js", "npm ci could not reach the npm registry: "+strings.TrimSpace(line))
			}
			t.Fatalf("npm ci failed: %v\n%s", err, out)
		}
	}
	dist := filepath.Join(dir, "node_modules", "@okta", "okta-signin-widget", "dist")
	var pkg struct{ Version string }
	if data, err := os.ReadFile(filepath.Join(dist, "..", "package.json")); err == nil {
		_ = json.Unmarshal(data, &pkg)
	}
	t.Logf("serving @okta/okta-signin-widget %s", pkg.Version)
	return dist
}

// widgetModulesCurrent is nodeModulesCurrent, except that an optional package npm
// left out is not missing: the widget's lockfile lists fsevents, which npm installs
// on macOS only.
func widgetModulesCurrent(dir string) (bool, string) {
	if current, _ := nodeModulesCurrent(dir); current {
		return true, ""
	}
	want, err := lockedPackages(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false, err.Error()
	}
	have, err := lockedPackages(filepath.Join(dir, "node_modules", ".package-lock.json"))
	if err != nil {
		return false, "node_modules is missing or was not installed by npm"
	}
	data, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false, err.Error()
	}
	var lock struct {
		Packages map[string]struct {
			Optional bool `json:"optional"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(data, &lock); err != nil {
		return false, err.Error()
	}
	delete(want, "")
	for path, w := range want {
		h, ok := have[path]
		switch {
		case !ok && lock.Packages[path].Optional:
		case !ok:
			return false, path + " is not installed"
		case h != w:
			return false, fmt.Sprintf("%s is %s, package-lock.json wants %s", path, h.Version, w.Version)
		}
	}
	for path := range have {
		if _, ok := want[path]; !ok {
			return false, path + " is installed but not in package-lock.json"
		}
	}
	return true, ""
}

// widgetEngine is a `gatehouse serve` process whose CORS allows the widget page.
type widgetEngine struct {
	base, issuer, userID string            // userID: alice's
	users                map[string]string // login → id, of every user created
}

// widgetUser is a user created before the engine starts; phone may be empty.
type widgetUser struct {
	login, givenName, phone, password string
}

// startWidgetEngine writes a configuration with a public client for the page (and
// extraConfig, YAML appended at the top level), creates alice with her phone and
// the other users, and runs `gatehouse serve` until the test ends.
func startWidgetEngine(t *testing.T, ctx context.Context, bin, pageOrigin, extraConfig string, others ...widgetUser) *widgetEngine {
	t.Helper()
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	e := &widgetEngine{base: "http://" + addr, users: map[string]string{}}
	e.issuer = e.base + "/oauth2/default"
	dsn := "sqlite:" + filepath.Join(dir, "gatehouse.db")
	cfg := fmt.Sprintf(`issuer: %s
listen: %s
database: %q
log_level: info
dev_outbox: true
clients:
  - id: %s
    name: Widget interop
    redirect_uris: [%s/login/callback]
    grants: [interaction_code]
    scopes: [openid, profile, email, phone]
cors:
  allowed_origins: [%s]
`, e.issuer, addr, dsn, widgetClientID, pageOrigin, pageOrigin) + extraConfig
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	users := append([]widgetUser{{login: widgetLogin, givenName: "Alice", phone: widgetPhone, password: widgetPassword}}, others...)
	for _, u := range users {
		args := []string{"users", "--database", dsn, "create", u.login, "--given-name", u.givenName, "--password-stdin"}
		if u.phone != "" {
			args = append(args, "--phone", u.phone)
		}
		create := exec.CommandContext(ctx, bin, args...)
		create.Stdin = strings.NewReader(u.password + "\n")
		out, err := create.CombinedOutput()
		if err != nil {
			t.Fatalf("gatehouse users create %s: %v\n%s", u.login, err, out)
		}
		m := regexp.MustCompile(`\(id (\S+)\)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("gatehouse users create printed no id: %s", out)
		}
		e.users[u.login] = string(m[1])
	}
	e.userID = e.users[widgetLogin]

	logs := &testenv.SyncBuffer{}
	cmd := exec.Command(bin, "serve", "--config", path)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("gatehouse logs:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(e.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return e
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("gatehouse did not become ready: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type outboxMessage struct {
	Channel string `json:"channel"`
	Code    string `json:"code"`
}

// outbox lists the messages to alice's phone, newest first.
func (e *widgetEngine) outbox(t *testing.T) []outboxMessage {
	t.Helper()
	return e.outboxTo(t, widgetPhone)
}

// outboxTo lists the messages to a phone number, newest first.
func (e *widgetEngine) outboxTo(t *testing.T, phone string) []outboxMessage {
	t.Helper()
	resp, err := http.Get(e.base + "/dev/outbox?phone=" + url.QueryEscape(phone))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var msgs []outboxMessage
	if err := json.NewDecoder(resp.Body).Decode(&msgs); err != nil {
		t.Fatalf("dev outbox: %v", err)
	}
	return msgs
}

// waitCode waits for a message to alice's phone beyond the first `before` and
// returns its code.
func (e *widgetEngine) waitCode(t *testing.T, ctx context.Context, before int) string {
	t.Helper()
	return e.waitCodeTo(t, ctx, widgetPhone, before)
}

// waitCodeTo waits for a text message to phone beyond the first `before` and
// returns its code.
func (e *widgetEngine) waitCodeTo(t *testing.T, ctx context.Context, phone string, before int) string {
	t.Helper()
	for {
		if msgs := e.outboxTo(t, phone); len(msgs) > before {
			if msgs[0].Channel != "sms" {
				t.Errorf("the code went by %s, want sms", msgs[0].Channel)
			}
			return msgs[0].Code
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no code arrived in the dev outbox for %s", phone)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// userinfoSubject calls userinfo with an access token and returns the sub.
func (e *widgetEngine) userinfoSubject(t *testing.T, accessToken string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.issuer+"/v1/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var claims struct {
		Sub string `json:"sub"`
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &claims) != nil {
		t.Fatalf("userinfo: %s %s", resp.Status, body)
	}
	return claims.Sub
}

func jwtSubject(t *testing.T, jwt string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("the ID token is not a JWS: %q", jwt)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Sub string `json:"sub"`
	}
	_ = json.Unmarshal(payload, &c)
	return c.Sub
}

// widgetResult is what the page received from showSignInToGetTokens.
type widgetResult struct {
	IDToken       string         `json:"idToken"`
	IDTokenClaims map[string]any `json:"idTokenClaims"`
	AccessToken   string         `json:"accessToken"`
	Scopes        []string       `json:"scopes"`
}

// tokens waits until the widget has handed the page its tokens and returns them;
// a rejected showSignInToGetTokens stops the test with the page's message.
func (b *widgetBrowser) tokens() widgetResult {
	b.t.Helper()
	b.run("the tokens",
		chromedp.WaitVisible(chromedp.CSS(`#signed-in:not([hidden]), #failure:not([hidden])`)),
	)
	if failure, _ := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(`#failure`))); failure != "" {
		b.t.Fatal(failure)
	}
	raw, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(`#result`)))
	if err != nil {
		b.t.Fatal(err)
	}
	var result widgetResult
	if err := json.Unmarshal([]byte(raw), &result); err != nil {
		b.t.Fatalf("the page's result %q: %v", raw, err)
	}
	return result
}

// checkTokens checks the ID token the widget received names userID, with the
// issuer, the client, the amr wanted and a nonce, and that its access token
// works at userinfo.
func (e *widgetEngine) checkTokens(t *testing.T, result widgetResult, userID, amr string) {
	t.Helper()
	claims := result.IDTokenClaims
	if claims["sub"] != userID {
		t.Errorf("ID token sub = %v, want %s", claims["sub"], userID)
	}
	if claims["iss"] != e.issuer || claims["aud"] != widgetClientID {
		t.Errorf("ID token iss %v, aud %v; want %s, %s", claims["iss"], claims["aud"], e.issuer, widgetClientID)
	}
	if got := fmt.Sprint(claims["amr"]); got != amr {
		t.Errorf("ID token amr = %s, want %s", got, amr)
	}
	if claims["nonce"] == nil || claims["nonce"] == "" {
		t.Error("the ID token carries no nonce, though the widget sends one")
	}
	if sub := jwtSubject(t, result.IDToken); sub != userID {
		t.Errorf("the raw ID token's sub = %q, want %s", sub, userID)
	}
	if sub := e.userinfoSubject(t, result.AccessToken); sub != userID {
		t.Errorf("userinfo with the widget's access token: sub %q, want %s", sub, userID)
	}
}

// serveWidgetPage serves, on addr, the page in signin-widget/page, the widget's
// dist folder under /widget/, and the configuration the page reads.
func serveWidgetPage(t *testing.T, addr, dist string, e *widgetEngine) *http.Server {
	t.Helper()
	pageDir, err := filepath.Abs(filepath.Join(widgetDir, "page"))
	if err != nil {
		t.Fatal(err)
	}
	origin := "http://" + addr
	config, _ := json.Marshal(map[string]any{
		"issuer":        e.issuer,
		"clientId":      widgetClientID,
		"redirectUri":   origin + "/login/callback",
		"scopes":        []string{"openid", "profile", "email", "phone"},
		"assetsBaseUrl": origin + "/widget",
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		fmt.Fprintf(w, "window.GATEHOUSE_WIDGET = %s;\n", config)
	})
	mux.Handle("GET /widget/", http.StripPrefix("/widget/", http.FileServer(http.Dir(dist))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(pageDir, "index.html"))
	})
	mux.HandleFunc("GET /page.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(pageDir, "page.js"))
	})
	// The interaction code flow never redirects here; a visit would be a bug.
	mux.HandleFunc("/login/callback", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the browser was sent to the redirect URI: %s", r.URL)
		http.Error(w, "unexpected redirect", http.StatusTeapot)
	})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return srv
}

// widgetBrowser is one headless Chromium tab with the page, recording the console
// and every request the page makes.
type widgetBrowser struct {
	t      *testing.T
	ctx    context.Context
	origin string // the page's
	engine string // the engine's base URL
	shots  string // the folder of the screenshots

	mu       sync.Mutex
	console  []string
	requests map[network.RequestID]*widgetRequest
	order    []network.RequestID
}

type widgetRequest struct {
	method, url string
	body        string
	contentType string
	accept      string
	agent       string // X-Okta-User-Agent-Extended
	status      int64
	failed      string
	acao, acac  string // Access-Control-Allow-Origin and -Credentials
}

func newWidgetBrowser(t *testing.T, pageOrigin, engineBase string) *widgetBrowser {
	t.Helper()
	browserCtx := browsertest.Start(t, 1280, 900)
	b := &widgetBrowser{t: t, origin: pageOrigin, engine: engineBase, shots: t.TempDir(), requests: map[network.RequestID]*widgetRequest{}}
	tabCtx, cancelTab := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext(), chromedp.WithListener(b.onEvent))
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tabCtx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	b.ctx = tabCtx
	return b
}

func (b *widgetBrowser) onEvent(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			var s string
			switch {
			case len(a.Value) > 0 && json.Unmarshal(a.Value, &s) == nil:
				args = append(args, s)
			case len(a.Value) > 0:
				args = append(args, string(a.Value))
			default:
				args = append(args, a.Description)
			}
		}
		b.console = append(b.console, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		b.console = append(b.console, fmt.Sprintf("exception at %s:%d:%d: %s", d.URL, d.LineNumber+1, d.ColumnNumber+1, msg))
	case *network.EventRequestWillBeSent:
		if _, seen := b.requests[ev.RequestID]; !seen {
			b.order = append(b.order, ev.RequestID)
		}
		r := &widgetRequest{method: ev.Request.Method, url: ev.Request.URL,
			agent:       headerValue(ev.Request.Headers, "X-Okta-User-Agent-Extended"),
			contentType: headerValue(ev.Request.Headers, "Content-Type"),
			accept:      headerValue(ev.Request.Headers, "Accept")}
		for _, e := range ev.Request.PostDataEntries {
			r.body += string(e.Bytes)
		}
		b.requests[ev.RequestID] = r
	case *network.EventResponseReceived:
		if r := b.requests[ev.RequestID]; r != nil {
			r.status = ev.Response.Status
			r.acao = headerValue(ev.Response.Headers, "Access-Control-Allow-Origin")
			r.acac = headerValue(ev.Response.Headers, "Access-Control-Allow-Credentials")
		}
	case *network.EventLoadingFailed:
		if r := b.requests[ev.RequestID]; r != nil {
			r.failed = ev.ErrorText
			if ev.CorsErrorStatus != nil {
				r.failed += fmt.Sprintf(" (CORS: %s %s)", ev.CorsErrorStatus.CorsError, ev.CorsErrorStatus.FailedParameter)
			}
		}
	}
}

func headerValue(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			s, _ := v.(string)
			return s
		}
	}
	return ""
}

// run runs browser actions; on failure it stops the test with the console, the
// network log and the widget's current markup.
func (b *widgetBrowser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.runFor(what, 20*time.Second, actions...)
}

func (b *widgetBrowser) runFor(what string, limit time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

func (b *widgetBrowser) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS(`body`)))
	b.t.Fatalf("%s: %v\nthe page now:\n%s", what, err, html)
}

// waitForm waits until the widget has rendered the view of the named remediation
// and, if the view has a field to fill in, has focused its first field: the
// widget does that a moment after the view shows, and keys typed into another
// field before then would land on the first.
func (b *widgetBrowser) waitForm(name string) {
	b.t.Helper()
	b.run("the widget renders "+name,
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`body[data-form-name=%q] .o-form`, name))),
	)
	b.waitTrue("the widget focuses the form of "+name, `(() => {
		const form = document.querySelector('#okta-sign-in form');
		const fields = [...form.querySelectorAll('input, select')].filter(i =>
			!['hidden', 'submit', 'button'].includes(i.type) && i.offsetParent !== null);
		return fields.length === 0 || form.contains(document.activeElement);
	})()`)
}

// enterCode types a code into the code field and submits it.
func (b *widgetBrowser) enterCode(code string) {
	b.t.Helper()
	b.retype(`input[name="credentials.passcode"]`, code)
	b.run("submit code "+code,
		chromedp.Click(chromedp.CSS(`input[type="submit"]`)),
	)
}

// retype replaces what the field sel holds with text, deleting the old value
// with the keyboard (the widget's form model follows key events; chromedp.Clear
// only sets the DOM value, and the widget would post the old text with the new
// one appended).
func (b *widgetBrowser) retype(sel, text string) {
	b.t.Helper()
	old, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.fail("reading "+sel, err)
	}
	b.run("type into "+sel,
		chromedp.SendKeys(chromedp.CSS(sel), kb.End+strings.Repeat(kb.Backspace, len(old))+text),
	)
}

func (b *widgetBrowser) containsText(sel string, wants ...string) {
	b.t.Helper()
	got, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fail("reading "+sel, err)
	}
	for _, w := range wants {
		if !strings.Contains(got, w) {
			b.t.Errorf("%s shows %q, want it to contain %q", sel, got, w)
		}
	}
}

// screenshot takes a PNG of the page into the test's folder and, with
// UPDATE_SCREENSHOTS=1, into docs/screenshots/.
func (b *widgetBrowser) screenshot(name string) {
	b.t.Helper()
	// Let the widget's transitions settle.
	time.Sleep(300 * time.Millisecond)
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fail("screenshot "+name, err)
	}
	dirs := []string{b.shots}
	if os.Getenv("UPDATE_SCREENSHOTS") == "1" {
		dirs = append(dirs, filepath.Join("..", "docs", "screenshots"))
	}
	for _, dir := range dirs {
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
}

// forms lists the views the widget rendered, in order.
func (b *widgetBrowser) forms() []string {
	forms, _ := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`window.widgetSteps.map(s => s.formName + (s.methodType ? "(" + s.methodType + ")" : ""))`))
	return forms
}

// checkIDXCalls checks the page's calls to the engine, in order: each want is
// "METHOD /path", with " STATUS" when it is not 200 (discovery, keys and the CORS
// preflights are left out of the list). Every call must be allowed by CORS for the
// page's origin — with credentials for interact and IDX — and carry the widget's
// X-Okta-User-Agent-Extended.
func (b *widgetBrowser) checkIDXCalls(wants []string) {
	b.t.Helper()
	var got []string
	agents := map[string]bool{}
	for _, r := range b.engineRequests() {
		u, _ := url.Parse(r.url)
		s := r.method + " " + u.Path
		if r.status != http.StatusOK {
			s += fmt.Sprintf(" %d", r.status)
		}
		if r.acao != b.origin {
			b.t.Errorf("%s: Access-Control-Allow-Origin %q, want the page's origin %s", s, r.acao, b.origin)
		}
		if r.method == http.MethodOptions {
			if r.status != http.StatusNoContent {
				b.t.Errorf("preflight %s", s)
			}
			continue
		}
		agents[r.agent] = true
		if !strings.Contains(r.agent, "okta-signin-widget-") {
			b.t.Errorf("%s: X-Okta-User-Agent-Extended %q does not name the widget", s, r.agent)
		}
		if (strings.HasPrefix(u.Path, "/idp/idx/") || strings.HasSuffix(u.Path, "/v1/interact")) && r.acac != "true" {
			b.t.Errorf("%s: Access-Control-Allow-Credentials %q", s, r.acac)
		}
		if strings.HasSuffix(u.Path, "/.well-known/openid-configuration") || strings.HasSuffix(u.Path, "/v1/keys") {
			continue
		}
		got = append(got, s)
	}
	if strings.Join(got, "\n") != strings.Join(wants, "\n") {
		b.t.Errorf("the widget's calls to the engine:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(wants, "\n  "))
	}
	for a := range agents {
		b.t.Logf("X-Okta-User-Agent-Extended: %s", a)
	}
}

func (b *widgetBrowser) engineRequests() []widgetRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []widgetRequest
	for _, id := range b.order {
		if r := b.requests[id]; strings.HasPrefix(r.url, b.engine+"/") {
			out = append(out, *r)
		}
	}
	return out
}

// report logs the browser console and the network log when the test failed, or
// with -v.
func (b *widgetBrowser) report() {
	if !b.t.Failed() && !testing.Verbose() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var s strings.Builder
	s.WriteString("browser console:\n")
	for _, line := range b.console {
		s.WriteString("  " + line + "\n")
	}
	s.WriteString("requests:\n")
	for _, id := range b.order {
		r := b.requests[id]
		fmt.Fprintf(&s, "  %s %s → %d %s\n", r.method, r.url, r.status, r.failed)
		if r.contentType != "" || r.accept != "" {
			fmt.Fprintf(&s, "      Content-Type: %s; Accept: %s\n", r.contentType, r.accept)
		}
		if r.body != "" && !strings.Contains(r.url, "/v1/token") {
			fmt.Fprintf(&s, "      %s\n", r.body)
		}
	}
	b.t.Log(s.String())
}
