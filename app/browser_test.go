package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/idx"
	"github.com/gatehouse-id/gatehouse/internal/browsertest"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// The browser test drives Debian's Chromium, headless, through the real app
// in front of a real engine: what a person does, click by click. With
// UPDATE_SCREENSHOTS=1 it also writes the screenshots in docs/screenshots/.

const (
	laptopWidth, laptopHeight = 1280, 860
	mobileWidth, mobileHeight = 390, 844
)

// startBrowser starts headless Chromium for the test and returns its
// context. Each scenario opens its own incognito-like browser context, so
// cookies never leak between them.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	return browsertest.Start(t, laptopWidth, laptopHeight)
}

// tab is one scenario's browser tab on the app.
type tab struct {
	t   *testing.T
	ctx context.Context
	url string
}

func newTab(t *testing.T, browserCtx context.Context, appURL string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(laptopWidth, laptopHeight)); err != nil {
		t.Fatal(err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	return &tab{t: t, ctx: ctx, url: appURL}
}

// do runs actions, failing the test on error.
func (b *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

func (b *tab) value(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("reading the value of %s: %v", sel, err)
	}
	return s
}

func (b *tab) location() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimPrefix(s, b.url)
}

// contains checks the text of sel holds every want.
func (b *tab) contains(sel string, wants ...string) {
	b.t.Helper()
	got := b.text(sel)
	for _, w := range wants {
		if !strings.Contains(got, w) {
			b.t.Errorf("%s shows %q, want it to contain %q", sel, got, w)
		}
	}
}

// screenshot takes a full-page PNG; with UPDATE_SCREENSHOTS=1 it is written
// to docs/screenshots/name.png.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if os.Getenv("UPDATE_SCREENSHOTS") != "1" {
		return
	}
	dir := filepath.Join("..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// Selectors of the pages.
const (
	selSignInButton = `form[action="/login"] button[type="submit"]`
	selOption       = `button.option`
	selNext         = `form[action="/login/phone"] button[type="submit"]`
	selVerify       = `form[action="/login/code"] button[type="submit"]`
	selResend       = `form[action="/login/resend"] button`
	selBack         = `form[action="/login/cancel"] button`
	selSignOut      = `form[action="/logout"] button`
)

// signInToCode walks pages 1–3 with the right password and method.
func (b *tab) signInToCode(login, method string) {
	b.t.Helper()
	b.do("sign in",
		chromedp.Navigate(b.url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), login),
		chromedp.SendKeys(chromedp.CSS("#password"), enginetest.Password),
		chromedp.Click(chromedp.CSS(selSignInButton)),
		chromedp.WaitVisible(chromedp.CSS(selOption)),
		chromedp.Click(chromedp.CSS(selOption)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="method"]`)),
		chromedp.Click(chromedp.CSS(`input[name="method"][value="`+method+`"]`)),
		chromedp.Click(chromedp.CSS(selNext)),
		chromedp.WaitVisible(chromedp.CSS("#code")),
	)
}

// enterCode types a code on the code page and submits it.
func (b *tab) enterCode(code string) {
	b.t.Helper()
	b.do("enter the code",
		chromedp.Clear(chromedp.CSS("#code")),
		chromedp.SendKeys(chromedp.CSS("#code"), code),
		chromedp.Click(chromedp.CSS(selVerify)),
	)
}

func TestBrowser(t *testing.T) {
	start := time.Now()
	browserCtx := startBrowser(t)
	// Registration on, as in the demo: the sign-in page shows both links.
	ta := startApp(t, func(c *config.Config) { c.SignOn.SelfRegistration = true })
	h := ta.h
	newUser := func(login, phone, given, family string) store.User {
		u := h.CreateUser(t, login, phone)
		u, err := h.Store.UpdateUser(context.Background(), u.ID, func(u store.User) (store.User, error) {
			u.GivenName, u.FamilyName = given, family
			return u, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}

	t.Run("SMS path to the profile, with screenshots", func(t *testing.T) {
		alice := newUser("alice@example.com", "+12015550123", "Alice", "Anderson")
		b := newTab(t, browserCtx, ta.url)
		b.do("open the app", chromedp.Navigate(b.url+"/"), chromedp.WaitVisible(chromedp.CSS("#username")))
		if b.location() != "/login" {
			t.Errorf("the app opened at %q, want /login", b.location())
		}
		b.contains("h1", "Sign in")
		b.screenshot("sign-in")
		b.do("mobile width", chromedp.EmulateViewport(mobileWidth, mobileHeight, chromedp.EmulateScale(2)))
		b.screenshot("sign-in-mobile")
		b.do("laptop width", chromedp.EmulateViewport(laptopWidth, laptopHeight))

		b.do("wrong password",
			chromedp.SendKeys(chromedp.CSS("#username"), "alice@example.com"),
			chromedp.SendKeys(chromedp.CSS("#password"), "not my password"),
			chromedp.Click(chromedp.CSS(selSignInButton)),
			chromedp.WaitVisible(chromedp.CSS(".alert-error")),
		)
		b.contains(".alert-error", "That username and password don't match.")
		if b.value("#username") != "alice@example.com" || b.value("#password") != "" {
			t.Errorf("after a wrong password: username %q, password %q", b.value("#username"), b.value("#password"))
		}
		b.screenshot("sign-in-error")

		b.do("right password",
			chromedp.SendKeys(chromedp.CSS("#password"), enginetest.Password),
			chromedp.Click(chromedp.CSS(selSignInButton)),
			chromedp.WaitVisible(chromedp.CSS(selOption)),
		)
		b.contains("h1", "Verify it's you")
		b.contains(selOption, "Phone", "+1 XXX-XXX-0123")
		b.screenshot("select-authenticator")

		b.do("choose the phone", chromedp.Click(chromedp.CSS(selOption)), chromedp.WaitVisible(chromedp.CSS(`input[name="method"]`)))
		b.contains("h1", "Verify with your phone")
		b.contains(".lede", "+1 XXX-XXX-0123")
		b.screenshot("verify-with-phone")

		b.do("text me", chromedp.Click(chromedp.CSS(selNext)), chromedp.WaitVisible(chromedp.CSS("#code")))
		b.contains("h1", "Enter code")
		b.contains(selResend, "Send again")
		b.contains("#resend-wait", "You can ask for a new code in")
		b.screenshot("enter-code")

		b.enterCode(h.LatestCode(t, "+12015550123"))
		b.do("the profile", chromedp.WaitVisible(chromedp.CSS(".details")))
		if b.location() != "/" {
			t.Errorf("signed in at %q, want /", b.location())
		}
		b.contains("h1", "Welcome, Alice Anderson")
		b.contains(".details", "Alice Anderson", "alice@example.com", alice.ID, "Password and text message", "UTC")
		b.screenshot("home")

		b.do("sign out", chromedp.Click(chromedp.CSS(selSignOut)), chromedp.WaitVisible(chromedp.CSS(".alert-info")))
		b.contains(".alert-info", "You have signed out.")
		if b.location() != "/login" {
			t.Errorf("signed out at %q, want /login", b.location())
		}
		b.screenshot("signed-out")
		b.do("back to /", chromedp.Navigate(b.url+"/"), chromedp.WaitVisible(chromedp.CSS("#username")))
	})

	t.Run("voice path", func(t *testing.T) {
		newUser("vera@example.com", "+12015550124", "Vera", "Voss")
		b := newTab(t, browserCtx, ta.url)
		b.signInToCode("vera@example.com", "voice")
		b.contains(".lede", "We're calling", "+1 XXX-XXX-0124")
		b.contains(`form[action="/login/switch"] button`, "Text me instead")
		if ch := h.Outbox(t, "+12015550124")[0].Channel; ch != "voice" {
			t.Errorf("the code went by %s, want voice", ch)
		}
		b.enterCode(h.LatestCode(t, "+12015550124"))
		b.do("the profile", chromedp.WaitVisible(chromedp.CSS(".details")))
		b.contains(".details", "Vera Voss", "vera@example.com", "Password and voice call")
	})

	t.Run("wrong code, then the right one", func(t *testing.T) {
		newUser("walt@example.com", "+12015550125", "Walt", "Whitman")
		b := newTab(t, browserCtx, ta.url)
		b.signInToCode("walt@example.com", "sms")
		code := h.LatestCode(t, "+12015550125")
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		b.enterCode(wrong)
		b.do("the error", chromedp.WaitVisible(chromedp.CSS("#code-error")))
		b.contains("#code-error", "That code isn't right.")
		if got := b.value("#code"); got != wrong {
			t.Errorf("the code field holds %q after a wrong code, want %q kept", got, wrong)
		}
		b.screenshot("enter-code-error")
		b.enterCode(code)
		b.do("the profile", chromedp.WaitVisible(chromedp.CSS(".details")))
		b.contains(".details", "walt@example.com")
	})

	t.Run("send again after the countdown", func(t *testing.T) {
		newUser("rita@example.com", "+12015550126", "Rita", "Resend")
		b := newTab(t, browserCtx, ta.url)
		b.signInToCode("rita@example.com", "sms")
		if disabled, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.CSS(selResend), "disabled")); err != nil || !disabled.Exists {
			t.Fatalf("the resend button is not disabled right after the code was sent (%v)", err)
		}
		// Move the engine (and the app) 28.5 s on; the page then counts
		// down the last seconds in the browser and enables the button.
		h.Clock.Advance(28500 * time.Millisecond)
		b.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#code")))
		b.contains("#resend-wait", "You can ask for a new code in")
		b.do("the countdown ends", chromedp.WaitEnabled(chromedp.CSS(selResend)), chromedp.WaitNotVisible(chromedp.CSS("#resend-wait")))
		b.contains("[data-ready-status]", "You can ask for a new code now.")
		first := h.LatestCode(t, "+12015550126")
		b.do("send again", chromedp.Click(chromedp.CSS(selResend)), chromedp.WaitVisible(chromedp.CSS(".alert-info")))
		b.contains(".alert-info", "We sent you a new code.")
		msgs := h.Outbox(t, "+12015550126")
		if len(msgs) != 2 {
			t.Fatalf("%d messages after sending again, want 2", len(msgs))
		}
		if msgs[0].Code == first {
			t.Log("the new code happens to equal the first one")
		}
		b.enterCode(msgs[0].Code)
		b.do("the profile", chromedp.WaitVisible(chromedp.CSS(".details")))
		b.contains(".details", "rita@example.com")
	})

	t.Run("back to sign in", func(t *testing.T) {
		newUser("carl@example.com", "+12015550127", "Carl", "Cancel")
		b := newTab(t, browserCtx, ta.url)
		b.signInToCode("carl@example.com", "sms")
		b.do("back", chromedp.Click(chromedp.CSS(selBack)), chromedp.WaitVisible(chromedp.CSS("#password")))
		if b.location() != "/login" {
			t.Errorf("back to sign in landed on %q", b.location())
		}
		b.contains("h1", "Sign in")
		if got := b.value("#username"); got != "carl@example.com" {
			t.Errorf("username after going back: %q", got)
		}
		b.do("the code page is gone", chromedp.Navigate(b.url+"/login/code"), chromedp.WaitVisible(chromedp.CSS("#password")))
	})
	t.Run("too many wrong passwords", func(t *testing.T) {
		newUser("rex@example.com", "+12015550128", "Rex", "Retry")
		b := newTab(t, browserCtx, ta.url)
		// The engine checks 10 passwords for one username from one source, then
		// refuses before hashing; the app shows the engine's wait. Each try starts
		// from a freshly loaded page, so that waiting for the error cannot be met
		// by the error of the try before.
		for i := range h.Config.SignOn.MaxPasswordFailures + 1 {
			b.do(fmt.Sprintf("wrong password %d", i+1),
				chromedp.Navigate(b.url+"/login"),
				chromedp.WaitVisible(chromedp.CSS("#username")),
				chromedp.Clear(chromedp.CSS("#username")),
				chromedp.SendKeys(chromedp.CSS("#username"), "rex@example.com"),
				chromedp.SendKeys(chromedp.CSS("#password"), "not my password"),
				chromedp.Click(chromedp.CSS(selSignInButton)),
				chromedp.WaitVisible(chromedp.CSS(".alert-error")),
			)
		}
		b.contains(".alert-error", "Too many sign-in attempts. Try again in")
		b.screenshot("sign-in-rate-limited")
	})

	t.Run("recorded responses: registration up to the authenticator app", func(t *testing.T) {
		walkRecordedRegistration(t, browserCtx)
	})
	t.Run("password reset", func(t *testing.T) {
		walkPasswordReset(t, browserCtx, ta, newUser)
	})
	t.Run("registration with an authenticator app", func(t *testing.T) {
		walkRegistration(t, browserCtx, ta)
	})
	t.Logf("browser test took %s", time.Since(start).Round(100*time.Millisecond))
}

// Selectors of the password reset, registration and authenticator-app pages.
const (
	selForgot        = `form[action="/login/recover/start"] button`
	selCreateAccount = `form[action="/login/register/start"] button`
	selRecoverNext   = `form[action="/login/recover"] button[type="submit"]`
	selProfileNext   = `form[action="/login/register"] button[type="submit"]`
	selPasswordNext  = `form[action="/login/password"] button[type="submit"]`
	selTOTPVerify    = `form[action="/login/totp"] button[type="submit"]`
	selQRCode        = `img.qr`
)

// imageShown reports whether the image sel loaded and has a size (a QR code
// refused by the Content-Security-Policy has none).
func (b *tab) imageShown(sel string) bool {
	b.t.Helper()
	js := `(() => { const i = document.querySelector(` + strconv.Quote(sel) + `); return !!i && i.complete && i.naturalWidth > 0; })()`
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		b.t.Fatalf("reading %s: %v", sel, err)
	}
	return ok
}

// fillProfile types a new user's profile into the registration form.
func (b *tab) fillProfile(first, last, email string) {
	b.t.Helper()
	b.do("the profile",
		chromedp.WaitVisible(chromedp.CSS(`input[name="userProfile.email"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="userProfile.firstName"]`), first),
		chromedp.SendKeys(chromedp.CSS(`input[name="userProfile.lastName"]`), last),
		chromedp.SendKeys(chromedp.CSS(`input[name="userProfile.email"]`), email),
		chromedp.Click(chromedp.CSS(selProfileNext)),
	)
}

// choosePassword types a new password twice on the password page.
func (b *tab) choosePassword(password string) {
	b.t.Helper()
	b.do("the new password",
		chromedp.WaitVisible(chromedp.CSS("#confirm")),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.SendKeys(chromedp.CSS("#confirm"), password),
		chromedp.Click(chromedp.CSS(selPasswordNext)),
	)
}

// walkRecordedRegistration registers against Okta's recorded responses up
// to the authenticator app's enrollment: the QR code, inlined as a data:
// URI, must load under the app's Content-Security-Policy.
func walkRecordedRegistration(t *testing.T, browserCtx context.Context) {
	f := newFakeIssuer(t)
	f.on(fxIdentify, "/idp/idx/enroll", fakeReply{fixture: fxProfile})
	f.on(fxProfile, "/idp/idx/enroll/new", fakeReply{fixture: fxSelectPassword})
	f.on(fxSelectPassword, "/idp/idx/credential/enroll", fakeReply{fixture: fxEnrollPassword})
	f.on(fxEnrollPassword, "/idp/idx/challenge/answer", fakeReply{fixture: fxSelectPhoneOrApp})
	f.on(fxSelectPhoneOrApp, "/idp/idx/credential/enroll", fakeReply{fixture: fxEnrollApp})
	f.on(fxEnrollApp, "/idp/idx/challenge/answer", fakeReply{fixture: fxSuccess})
	b := newTab(t, browserCtx, appOn(t, f).url)
	b.do("open the app", chromedp.Navigate(b.url+"/login"), chromedp.WaitVisible(chromedp.CSS(selCreateAccount)))
	b.contains(selForgot, "Forgot password?")
	b.do("create an account", chromedp.Click(chromedp.CSS(selCreateAccount)))
	b.fillProfile("Ada", "Lovelace", "ada@example.com")
	b.do("the password page", chromedp.WaitVisible(chromedp.CSS(".rules")))
	b.contains(".rules", "At least 8 characters", "Not your username")
	b.choosePassword("Correct-h0rse")
	b.do("the second factor", chromedp.WaitVisible(chromedp.CSS(selOption)))
	b.contains("h1", "Set up two-step verification")
	b.do("the authenticator app",
		chromedp.Click(chromedp.CSS(`button.option[value="google_otp"]`)),
		chromedp.WaitVisible(chromedp.CSS(selQRCode)),
	)
	if !b.imageShown(selQRCode) {
		t.Error("the QR code did not load (refused by the Content-Security-Policy?)")
	}
	b.contains("#secret", "KAGW BIXA KOLP EFMY")
	b.do("the code", chromedp.SendKeys(chromedp.CSS("#code"), "287082"), chromedp.Click(chromedp.CSS(selTOTPVerify)),
		chromedp.WaitVisible(chromedp.CSS(".details")))
	b.contains(".details", "Ada Lovelace", "Password and authenticator app")
}

// requireOffered stops a walk whose flow the engine does not offer in its
// first answer (a recover action, select-enroll-profile), as the app sees it.
func requireOffered(t *testing.T, ta *testApp, flow idx.Flow) {
	t.Helper()
	recover, register := engineOffers(t, ta.h.Issuer)
	switch {
	case flow == idx.FlowRecoverPassword && !recover:
		t.Fatal("the engine offers no password reset: its first response has no currentAuthenticator recover action")
	case flow == idx.FlowRegister && !register:
		t.Fatal("the engine offers no registration: its first response has no select-enroll-profile")
	}
}

// walkPasswordReset resets a password with a code by SMS, then signs in
// with the new password.
func walkPasswordReset(t *testing.T, browserCtx context.Context, ta *testApp, newUser func(login, phone, given, family string) store.User) {
	requireOffered(t, ta, idx.FlowRecoverPassword)
	h := ta.h
	newUser("rosa@example.com", "+12015550129", "Rosa", "Reset")
	const newPassword = "Tr0ub4dor-and-3-horses"
	b := newTab(t, browserCtx, ta.url)
	b.do("forgot password", chromedp.Navigate(b.url+"/login"), chromedp.WaitVisible(chromedp.CSS(selForgot)), chromedp.Click(chromedp.CSS(selForgot)),
		chromedp.WaitVisible(chromedp.CSS(selRecoverNext)))
	b.contains("h1", "Reset your password")
	b.screenshot("reset-username")
	b.do("the username", chromedp.SendKeys(chromedp.CSS("#username"), "rosa@example.com"), chromedp.Click(chromedp.CSS(selRecoverNext)),
		chromedp.WaitVisible(chromedp.CSS(selOption)))
	b.contains(".who", "Resetting the password of", "rosa@example.com")
	b.do("the phone", chromedp.Click(chromedp.CSS(`button.option`)), chromedp.WaitVisible(chromedp.CSS(`input[name="method"]`)),
		chromedp.Click(chromedp.CSS(`input[name="method"][value="sms"]`)), chromedp.Click(chromedp.CSS(selNext)),
		chromedp.WaitVisible(chromedp.CSS("#code")))
	b.enterCode(h.LatestCode(t, "+12015550129"))
	b.do("the password page", chromedp.WaitVisible(chromedp.CSS("#confirm")))
	b.contains("h1", "Choose a new password")
	b.screenshot("reset-new-password")
	b.choosePassword(newPassword)
	b.do("the profile", chromedp.WaitVisible(chromedp.CSS(".details")))
	b.contains(".details", "rosa@example.com")

	b.do("sign out, then in with the new password", chromedp.Click(chromedp.CSS(selSignOut)), chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "rosa@example.com"), chromedp.SendKeys(chromedp.CSS("#password"), newPassword),
		chromedp.Click(chromedp.CSS(selSignInButton)), chromedp.WaitVisible(chromedp.CSS(selOption)))
	b.contains("h1", "Verify it's you")
}

// walkRegistration creates an account — profile, password, authenticator
// app — then signs in again with the app's next code.
func walkRegistration(t *testing.T, browserCtx context.Context, ta *testApp) {
	requireOffered(t, ta, idx.FlowRegister)
	h := ta.h
	const password = "Correct-h0rse-battery"
	b := newTab(t, browserCtx, ta.url)
	b.do("create an account", chromedp.Navigate(b.url+"/login"), chromedp.WaitVisible(chromedp.CSS(selCreateAccount)),
		chromedp.Click(chromedp.CSS(selCreateAccount)), chromedp.WaitVisible(chromedp.CSS(`input[name="userProfile.email"]`)))
	b.contains("h1", "Create your account")
	b.screenshot("register-profile")
	b.fillProfile("Tess", "Totp", "tess@example.com")
	b.do("the password page", chromedp.WaitVisible(chromedp.CSS("#confirm")))
	b.contains("h1", "Choose a password")
	b.screenshot("register-password")
	b.choosePassword(password)
	b.do("the second factor", chromedp.WaitVisible(chromedp.CSS(`button.option[value="google_otp"]`)))
	b.screenshot("register-second-factor")
	b.do("the authenticator app", chromedp.Click(chromedp.CSS(`button.option[value="google_otp"]`)), chromedp.WaitVisible(chromedp.CSS(selQRCode)))
	if !b.imageShown(selQRCode) {
		t.Error("the QR code did not load")
	}
	b.screenshot("totp-enroll")
	secret := strings.ReplaceAll(b.text("#secret"), " ", "")
	code := func() string {
		// The engine checks codes against its clock, which the harness
		// holds.
		c, err := totp.GenerateCode(secret, h.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	b.do("the app's code", chromedp.SendKeys(chromedp.CSS("#code"), code()), chromedp.Click(chromedp.CSS(selTOTPVerify)),
		chromedp.WaitVisible(chromedp.CSS(".details")))
	b.contains(".details", "tess@example.com")

	// The next sign-in asks for the app's next code (a code is good once),
	// after a choice of factor if the engine offers one.
	h.Clock.Advance(30 * time.Second)
	b.do("sign out, then in", chromedp.Click(chromedp.CSS(selSignOut)), chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), "tess@example.com"), chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(selSignInButton)), chromedp.WaitVisible(chromedp.CSS(`form[action="/login/totp"], button.option`)))
	if b.location() == pathSelect {
		b.do("the authenticator app", chromedp.Click(chromedp.Search(`//button[contains(@class, "option")][contains(., "Authenticator")]`)),
			chromedp.WaitVisible(chromedp.CSS(`form[action="/login/totp"]`)))
	}
	b.contains("h1", "Enter your app's code")
	b.screenshot("totp-challenge")
	b.do("the app's code", chromedp.SendKeys(chromedp.CSS("#code"), code()), chromedp.Click(chromedp.CSS(selTOTPVerify)),
		chromedp.WaitVisible(chromedp.CSS(".details")))
	b.contains(".details", "tess@example.com", "authenticator app")
}
