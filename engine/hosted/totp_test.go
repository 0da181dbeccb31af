package hosted_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"html"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// The authenticator app (google_otp) on the hosted pages: set up during a
// sign-in (QR code and key), then used at the next one; its codes are made
// as a user's app makes them (pquerna/otp) at the engine's time.

const (
	strictCSP = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
	qrCSP     = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)

var (
	secretOnPage = regexp.MustCompile(`<code class="secret" id="secret">([^<]*)</code>`)
	qrOnPage     = regexp.MustCompile(`<img class="qr" src="data:image/png;base64,([A-Za-z0-9+/=]+)"`)
)

// appCode is the code the user's app shows for secret at the engine's time.
func appCode(t *testing.T, r *rig, secret string) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, r.h.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// wrongCode is a six-digit code that is not right.
func wrongCode(right string) string {
	if right == "000000" {
		return "111111"
	}
	return "000000"
}

// appKey checks the enrollment page's key and QR code and returns the key.
func (b *browser) appKey() string {
	b.t.Helper()
	if csp := b.header.Get("Content-Security-Policy"); csp != qrCSP {
		b.t.Fatalf("the QR code page's Content-Security-Policy is %q, want %q", csp, qrCSP)
	}
	body := html.UnescapeString(b.body)
	m := qrOnPage.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("the page has no QR code image:\n%s", b.body)
	}
	raw, err := base64.StdEncoding.DecodeString(m[1])
	if err != nil {
		b.t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil || img.Bounds().Dx() < 21 {
		b.t.Fatalf("the QR code is not a PNG of a QR code: %v %v", err, img)
	}
	k := secretOnPage.FindStringSubmatch(body)
	if k == nil {
		b.t.Fatalf("the page shows no key:\n%s", b.body)
	}
	groups := strings.Fields(k[1])
	for i, g := range groups {
		if len(g) != 4 && !(i == len(groups)-1 && len(g) < 4) {
			b.t.Fatalf("the key %q is not in groups of four", k[1])
		}
	}
	secret := strings.Join(groups, "")
	if n, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret); err != nil || len(n) < 16 {
		b.t.Fatalf("the key %q is not a base32 secret of 128 bits or more: %v", secret, err)
	}
	return secret
}

func TestAuthenticatorApp(t *testing.T) { onBothDatabases(t, testAuthenticatorApp) }

func testAuthenticatorApp(t *testing.T, dsn string) {
	r := newRigOn(t, "", dsn, nil)
	r.h.Clock.Freeze(time.Now()) // codes are of one time step until the test moves on
	u := r.h.CreateUser(t, bob, "")
	b := r.browser()
	b.get("/test/start?login_hint=" + url.QueryEscape(bob))
	b.post("/signin/identify", url.Values{"username": {bob}, "password": {enginetest.Password}})
	b.expectPage("Set up two-step verification")
	b.expect(http.StatusOK, "Phone", "Get codes by text message or voice call",
		"Authenticator app", "Use Google Authenticator or a similar app")
	if csp := b.header.Get("Content-Security-Policy"); csp != strictCSP {
		t.Fatalf("the select page's Content-Security-Policy is %q", csp)
	}

	b.post("/signin/authenticator", url.Values{"authenticator": {"google_otp"}})
	b.expectPage("Set up your authenticator app")
	b.expect(http.StatusOK, "Signing in as", bob, "scan this QR code", "Can't scan it? Enter this key", "Choose another way to verify")
	secret := b.appKey()
	for _, no := range []string{"/signin/resend", "Send again", "/signin/switch"} {
		if strings.Contains(b.body, no) {
			t.Fatalf("the app's page offers %q:\n%s", no, b.body)
		}
	}
	right := appCode(t, r, secret)

	// An empty code, then a wrong one: the page again, with the same key.
	b.post("/signin/app", url.Values{"code": {" "}})
	b.expect(http.StatusUnprocessableEntity, "Enter the code.")
	b.post("/signin/app", url.Values{"code": {wrongCode(right)}})
	b.expect(http.StatusUnprocessableEntity, "That code isn't right. Enter the code your app shows now.")
	b.expectPage("Set up your authenticator app")
	if again := b.appKey(); again != secret {
		t.Fatalf("the key changed after a wrong code: %q, then %q", secret, again)
	}
	if b.value("code") != wrongCode(right) {
		t.Errorf("the code field holds %q, want the code typed", b.value("code"))
	}

	// The right one, typed as "123 456".
	b.post("/signin/app", url.Values{"code": {right[:3] + " " + right[3:]}})
	b.expect(http.StatusOK, "You're signed in")
	b.finish()
	b.expect(http.StatusOK, "back at the relying party: signed in")
	if status, tokens := r.redeem(r.lastCompleted()); status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
	if list, err := r.h.Store.ListEnrollments(context.Background(), u.ID); err != nil || len(list) != 1 || list[0].Authenticator != "google_otp" {
		t.Fatalf("bob's enrollments: %+v %v", list, err)
	}

	// The next sign-in, in another browser: the app is the way to verify.
	c := r.browser()
	c.get("/test/start?login_hint=" + url.QueryEscape(bob))
	c.post("/signin/identify", url.Values{"username": {bob}, "password": {enginetest.Password}})
	c.expectPage("Verify it's you")
	c.expect(http.StatusOK, "Authenticator app", "Enter a code from Google Authenticator")
	c.post("/signin/authenticator", url.Values{"authenticator": {c.value("authenticator")}})
	c.expectPage("Enter code")
	c.expect(http.StatusOK, "Open your authenticator app and enter the code it shows for Acme ID.")
	if csp := c.header.Get("Content-Security-Policy"); csp != strictCSP {
		t.Fatalf("the code page's Content-Security-Policy is %q", csp)
	}
	for _, no := range []string{"/signin/resend", "Send again", "Call me instead", "Didn't get it?", "We sent", "Choose another way"} {
		if strings.Contains(c.body, no) {
			t.Fatalf("the app's code page shows %q:\n%s", no, c.body)
		}
	}
	// The code that set it up is refused as used, in the engine's words.
	c.post("/signin/code", url.Values{"code": {right}})
	c.expect(http.StatusUnprocessableEntity, "Each code can only be used once. Wait for a new code and try again.")
	c.expectPage("Enter code")
	// A resend posted anyway changes nothing.
	c.post("/signin/resend", url.Values{})
	c.expect(http.StatusUnprocessableEntity, "A new code can't be sent at this point.")

	r.h.Clock.Advance(30 * time.Second)
	c.post("/signin/code", url.Values{"code": {appCode(t, r, secret)}})
	c.expect(http.StatusOK, "You're signed in")
	c.finish()
	c.expect(http.StatusOK, "back at the relying party: signed in")
	if status, tokens := r.redeemLatest(r.lastCompleted()); status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
}

// TestChooseAnotherWay: a user with a phone and the app chooses between
// them, and can change their mind from the code page.
func TestChooseAnotherWay(t *testing.T) {
	r := newRig(t)
	r.h.Clock.Freeze(time.Now())
	u := r.h.CreateUser(t, alice, alicePhone)
	key, err := r.h.Engine.Accounts().AddTOTP(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	b := r.browser()
	b.get("/test/start")
	b.post("/signin/identify", url.Values{"username": {alice}, "password": {enginetest.Password}})
	b.expectPage("Verify it's you")
	b.expect(http.StatusOK, "Phone", "+1 XXX-XXX-0123", "Authenticator app")
	if strings.Contains(b.body, "Back</button>") {
		t.Fatal("the first choice offers to go back")
	}
	app := regexp.MustCompile(`name="authenticator" value="(uft[^"]+)"`).FindStringSubmatch(b.body)
	if app == nil {
		t.Fatalf("no option for the app's enrollment:\n%s", b.body)
	}
	b.post("/signin/authenticator", url.Values{"authenticator": {app[1]}})
	b.expectPage("Enter code")
	b.expect(http.StatusOK, "Open your authenticator app", "Choose another way to verify")

	// Another way, then back to the code.
	b.post("/signin/another", url.Values{})
	b.expectPage("Verify it's you")
	b.expect(http.StatusOK, "Phone", "Authenticator app", "Back</button>")
	b.post("/signin/another", url.Values{"back": {"1"}})
	b.expectPage("Enter code")
	b.expect(http.StatusOK, "Open your authenticator app")

	// A choice that is not on the list is refused.
	b.post("/signin/another", url.Values{})
	b.post("/signin/authenticator", url.Values{"authenticator": {"okta_verify"}})
	b.expect(http.StatusUnprocessableEntity, "That option isn't available.")
	b.expectPage("Verify it's you")

	// The phone instead.
	b.post("/signin/authenticator", url.Values{"authenticator": {"phone_number"}})
	b.expectPage("Verify with your phone")
	b.expect(http.StatusOK, "Choose another way to verify")
	b.post("/signin/method", url.Values{"method": {"sms"}})
	b.expectPage("Enter code")
	b.expect(http.StatusOK, "We sent a text message with a code to", "Send again")

	// And back to the app, whose code signs in.
	b.post("/signin/another", url.Values{})
	b.post("/signin/authenticator", url.Values{"authenticator": {app[1]}})
	b.expectPage("Enter code")
	b.expect(http.StatusOK, "Open your authenticator app")
	if strings.Contains(b.body, "Send again") || strings.Contains(b.body, "Text me instead") {
		t.Fatalf("the app's code page offers the phone's resend:\n%s", b.body)
	}
	b.post("/signin/code", url.Values{"code": {appCode(t, r, key.Key.Secret)}})
	b.finish()
	if status, tokens := r.redeem(r.lastCompleted()); status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
}

// TestAuthenticatorAppLockout: wrong app codes lock verification, and the
// page says so in the app's terms.
func TestAuthenticatorAppLockout(t *testing.T) {
	r := newRig(t)
	r.h.Clock.Freeze(time.Now())
	u := r.h.CreateUser(t, bob, "")
	key, err := r.h.Engine.Accounts().AddTOTP(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	b := r.browser()
	b.get("/test/start")
	b.post("/signin/identify", url.Values{"username": {bob}, "password": {enginetest.Password}})
	b.post("/signin/authenticator", url.Values{"authenticator": {b.value("authenticator")}})
	b.expectPage("Enter code")
	wrong := wrongCode(appCode(t, r, key.Key.Secret))
	for i := 0; i < 10 && b.status != http.StatusTooManyRequests; i++ {
		b.post("/signin/code", url.Values{"code": {wrong}})
	}
	b.expect(http.StatusTooManyRequests, "Too many incorrect codes. Verification with a code is locked for 5 minutes.")
	// The right code is refused while locked.
	b.post("/signin/code", url.Values{"code": {appCode(t, r, key.Key.Secret)}})
	b.expect(http.StatusTooManyRequests, "is locked for")
	if r.lastCompleted() != "" {
		t.Fatal("Complete was called")
	}
}
