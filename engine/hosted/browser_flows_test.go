package hosted_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/internal/browsertest"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// Chromium walks of the authenticator app, the password reset and the
// registration, with their screenshots (UPDATE_SCREENSHOTS=1).

// browserRig starts Chromium, a relying party on another origin and the
// pages (the engine configured by configure), and opens a tab.
func browserRig(t *testing.T, configure func(*config.Config)) (*rig, *tab, string) {
	t.Helper()
	browserCtx := browsertest.Start(t, browserWidth, browserHeight)
	rpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>RP</title><h1 id=rp>Relying party: %s</h1>", r.URL.RawQuery)
	}))
	t.Cleanup(rpSrv.Close)
	rp := fmt.Sprintf("http://localhost:%d/callback", rpSrv.Listener.Addr().(*net.TCPAddr).Port)
	r := newRigWith(t, rp, configure)
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(cancelTimeout)
	b := &tab{t: t, ctx: ctx}
	b.do("viewport", chromedp.EmulateViewport(browserWidth, browserHeight))
	return r, b, rp
}

// signInTo types the password on the sign-in page and waits for sel.
func (b *tab) signInTo(r *rig, login, sel string) {
	b.t.Helper()
	b.do("sign in as "+login,
		chromedp.Navigate(r.url+"/test/start?login_hint="+login),
		chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#password"), enginetest.Password),
		chromedp.Click(chromedp.CSS(`form[action="/signin/identify"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(sel)),
	)
}

// submit clicks the submit button of the form posting to action and waits
// for sel.
func (b *tab) submit(action, sel string) {
	b.t.Helper()
	b.do("submit "+action,
		chromedp.Click(chromedp.CSS(`form[action="`+action+`"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(sel)),
	)
}

// typeIn replaces the value of the field sel with text.
func (b *tab) typeIn(sel, text string) {
	b.t.Helper()
	b.do("type into "+sel, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

// backAtRP checks the browser ended at the relying party, signed in, and
// that the code redeems.
func (b *tab) backAtRP(r *rig, rp string) {
	b.t.Helper()
	if loc := b.location(); loc != rp+"?outcome=signed-in" {
		b.t.Fatalf("ended at %s, want the relying party", loc)
	}
	code := r.lastCompleted()
	if code == "" {
		b.t.Fatal("Complete was not called")
	}
	if status, tokens := r.redeemLatest(code); status != http.StatusOK {
		b.t.Fatalf("token: %d %v", status, tokens)
	}
}

func TestBrowserAuthenticatorApp(t *testing.T) {
	r, b, rp := browserRig(t, nil)
	r.h.Clock.Freeze(time.Now())
	r.h.CreateUser(t, bob, "")

	b.signInTo(r, bob, "button.option")
	b.contains("h1", "Set up two-step verification")
	b.contains(".options", "Phone", "Authenticator app")
	b.do("choose the app",
		chromedp.Click(chromedp.CSS(`button.option[value="google_otp"]`)),
		chromedp.WaitVisible(chromedp.CSS("#secret")),
	)
	b.contains("h1", "Set up your authenticator app")
	// The QR code loaded under the page's Content-Security-Policy.
	width, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelector('img.qr').naturalWidth`))
	if err != nil || width < 21 {
		t.Fatalf("the QR code did not load (width %d, %v): refused by the Content-Security-Policy?", width, err)
	}
	secret := strings.ReplaceAll(b.text("#secret"), " ", "")
	b.screenshot("hosted-totp-enroll")

	b.typeIn("#code", appCode(t, r, secret))
	b.submit("/signin/app", "#rp")
	b.backAtRP(r, rp)

	// The next sign-in asks for the app's code.
	r.h.Clock.Advance(30 * time.Second)
	b.signInTo(r, bob, "button.option")
	b.contains("h1", "Verify it's you")
	b.do("choose the app", chromedp.Click(chromedp.CSS("button.option")), chromedp.WaitVisible(chromedp.CSS("#code")))
	b.contains(".lede", "Open your authenticator app")
	if n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll('form[action="/signin/resend"]').length`)); err != nil || n != 0 {
		t.Fatalf("the app's code page has %d resend forms (%v)", n, err)
	}
	b.screenshot("hosted-totp-code")
	b.typeIn("#code", appCode(t, r, secret))
	b.submit("/signin/code", "#rp")
	b.backAtRP(r, rp)
}

func TestBrowserPasswordRecovery(t *testing.T) {
	r, b, rp := browserRig(t, nil)
	r.h.CreateUser(t, alice, alicePhone)

	b.do("open the sign-in", chromedp.Navigate(r.url+"/test/start?login_hint="+alice), chromedp.WaitVisible(chromedp.CSS("#password")))
	b.contains(".more", "Forgot password?")
	b.submit("/signin/forgot", `form[action="/signin/recover"]`)
	b.contains("h1", "Reset your password")
	b.screenshot("hosted-recovery-username")

	b.submit("/signin/recover", `input[name="method"][value="sms"]`)
	b.contains(".who", "Password reset for", alice)
	b.do("by text message", chromedp.Click(chromedp.CSS(`input[name="method"][value="sms"]`)))
	b.submit("/signin/method", "#code")
	b.screenshot("hosted-recovery-code")
	b.typeIn("#code", r.h.LatestCode(t, alicePhone))
	b.submit("/signin/code", "#confirm")
	b.contains("h1", "Set a new password")
	b.contains(".rules", "At least 8 characters")

	b.typeIn("#password", "short")
	b.typeIn("#confirm", "short")
	b.submit("/signin/password", ".field-error")
	b.contains(".field-error", "Password requirements were not met")
	b.screenshot("hosted-recovery-password")

	b.typeIn("#password", newPassword)
	b.typeIn("#confirm", newPassword)
	b.submit("/signin/password", "#rp")
	b.backAtRP(r, rp)
}

func TestBrowserRegistration(t *testing.T) {
	r, b, rp := browserRig(t, registrationOn)
	const number = "+12015550177"

	b.do("open the sign-in", chromedp.Navigate(r.url+"/test/start"), chromedp.WaitVisible(chromedp.CSS("#username")))
	b.contains(".more", "Forgot password?", "Create account")
	b.submit("/signin/register", "#profile-email")
	b.contains("h1", "Create your account")
	b.screenshot("hosted-registration-profile")

	b.typeIn("#profile-email", "dora@example.com")
	b.typeIn("#profile-firstName", "Dora")
	b.typeIn("#profile-lastName", "Doe")
	b.submit("/signin/profile", "#confirm")
	b.contains("h1", "Create a password")
	b.contains(".who", "New account for", "dora@example.com")
	b.typeIn("#password", newPassword)
	b.typeIn("#confirm", newPassword)
	b.screenshot("hosted-registration-password")

	b.submit("/signin/password", "button.option")
	b.contains("h1", "Set up two-step verification")
	b.contains(".options", "Phone", "Authenticator app")
	b.screenshot("hosted-registration-factor")

	b.do("choose the phone", chromedp.Click(chromedp.CSS(`button.option[value="phone_number"]`)), chromedp.WaitVisible(chromedp.CSS("#phone")))
	b.typeIn("#phone", number)
	b.submit("/signin/enroll", "#code")
	b.typeIn("#code", r.h.LatestCode(t, number))
	b.submit("/signin/code", "#rp")
	b.backAtRP(r, rp)
	if u, err := r.h.Store.GetUserByLogin(context.Background(), "dora@example.com"); err != nil || u.GivenName != "Dora" {
		t.Fatalf("the new account: %+v %v", u, err)
	}
}
