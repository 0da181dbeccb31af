package hosted_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// Password recovery ("Forgot password?") and registration ("Create
// account") on the hosted pages, against the engine's flows.

const newPassword = "a brand new passphrase"

func registrationOn(c *config.Config) { c.SignOn.SelfRegistration = true }

func TestPasswordRecovery(t *testing.T) { onBothDatabases(t, testPasswordRecovery) }

func testPasswordRecovery(t *testing.T, dsn string) {
	r := newRigOn(t, "", dsn, nil)
	r.h.CreateUser(t, alice, alicePhone)
	b := r.browser()
	b.get("/test/start?login_hint=" + url.QueryEscape(alice))
	b.expectPage("Sign in")
	b.expect(http.StatusOK, "Forgot password?")
	if strings.Contains(b.body, "Create account") {
		t.Fatal("registration is off but the page offers it")
	}

	b.post("/signin/forgot", url.Values{})
	b.expectPage("Reset your password")
	if b.value("username") != alice {
		t.Fatalf("the username is %q, want the login hint", b.value("username"))
	}
	b.expect(http.StatusOK, "Back to sign in")
	b.post("/signin/recover", url.Values{"username": {""}})
	b.expect(http.StatusUnprocessableEntity, "Enter your username.")

	// Username → SMS or voice (the phone is chosen by itself) → code.
	b.post("/signin/recover", url.Values{"username": {alice}})
	b.expectPage("Verify with your phone")
	b.expect(http.StatusOK, "Password reset for", alice, "Text message", "Voice call", "your phone")
	if strings.Contains(b.body, "XXX") {
		t.Fatal("a reset shows the phone's number before it succeeds")
	}
	b.post("/signin/method", url.Values{"method": {"sms"}})
	b.expectPage("Enter code")
	b.expect(http.StatusOK, "Send again", "Back to sign in")
	b.post("/signin/code", url.Values{"code": {r.h.LatestCode(t, alicePhone)}})

	// The new password, with the rules.
	b.expectPage("Set a new password")
	b.expect(http.StatusOK, "Your password needs:", "At least 8 characters", "Type it again")
	b.post("/signin/password", url.Values{"password": {newPassword}, "confirm": {newPassword + "!"}})
	b.expect(http.StatusUnprocessableEntity, "The passwords don't match.")
	b.post("/signin/password", url.Values{"password": {"short"}, "confirm": {"short"}})
	b.expect(http.StatusUnprocessableEntity, "Password requirements were not met. Use at least 8 characters.")
	b.expectPage("Set a new password")
	if strings.Contains(b.body, "short") {
		t.Fatal("the page echoes the password")
	}
	b.post("/signin/password", url.Values{"password": {newPassword}, "confirm": {newPassword}})
	b.expect(http.StatusOK, "Your password is changed", "You're signed in.")
	b.finish()
	b.expect(http.StatusOK, "back at the relying party: signed in")
	if status, tokens := r.redeem(r.lastCompleted()); status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}

	// The new password signs in; the old one does not.
	c := r.browser()
	c.get("/test/start")
	c.post("/signin/identify", url.Values{"username": {alice}, "password": {enginetest.Password}})
	c.expect(http.StatusUnprocessableEntity, "That username and password don't match.")
	c.post("/signin/identify", url.Values{"username": {alice}, "password": {newPassword}})
	c.expectPage("Verify it's you")
}

// TestPasswordRecoveryBackToSignIn: "Back to sign in" leaves a reset for the
// same sign-in, which then goes on as usual.
func TestPasswordRecoveryBackToSignIn(t *testing.T) {
	r := newRig(t)
	r.h.CreateUser(t, alice, alicePhone)
	b := r.browser()
	b.get("/test/start")
	b.post("/signin/forgot", url.Values{})
	b.post("/signin/recover", url.Values{"username": {alice}})
	b.expectPage("Verify with your phone")
	b.post("/signin/back", url.Values{})
	b.expect(http.StatusOK, "Forgot password?")
	b.expectPage("Sign in")
	if b.value("username") != alice {
		t.Fatalf("the username is %q, want the one typed", b.value("username"))
	}
	b.post("/signin/identify", url.Values{"username": {alice}, "password": {enginetest.Password}})
	b.expectPage("Verify it's you")
	b.expect(http.StatusOK, "Signing in as")
	if strings.Contains(b.body, "Back to sign in") {
		t.Fatal("a sign-in offers to go back to itself")
	}
	b.post("/signin/authenticator", url.Values{"authenticator": {b.value("authenticator")}})
	b.post("/signin/method", url.Values{"method": {"sms"}})
	r.h.Clock.Advance(time.Minute)
	b.post("/signin/code", url.Values{"code": {r.h.LatestCode(t, alicePhone)}})
	b.finish()
	if n := len(r.handles()); n != 1 {
		t.Fatalf("%d sign-ins, want the one", n)
	}
	if status, tokens := r.redeem(r.lastCompleted()); status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
}

// TestRecoveryOff: without the engine's recovery the page offers none, and
// a forged post is refused without leaving the sign-in page.
func TestRecoveryOff(t *testing.T) {
	r := newRigWith(t, "", func(c *config.Config) { c.SignOn.PasswordRecovery = false })
	b := r.browser()
	b.get("/test/start")
	b.expectPage("Sign in")
	if strings.Contains(b.body, "Forgot password?") || strings.Contains(b.body, "/signin/forgot") {
		t.Fatal("recovery is off but the page offers it")
	}
	b.post("/signin/forgot", url.Values{})
	b.expect(http.StatusUnprocessableEntity, "Resetting a password isn't available here.")
	b.expectPage("Sign in")
	b.post("/signin/register", url.Values{})
	b.expect(http.StatusUnprocessableEntity, "Creating an account isn't available here.")
	b.expectPage("Sign in")
}

func TestRegistration(t *testing.T) { onBothDatabases(t, testRegistration) }

func testRegistration(t *testing.T, dsn string) {
	r := newRigOn(t, "", dsn, registrationOn)
	r.h.Clock.Freeze(time.Now())
	r.h.CreateUser(t, alice, alicePhone)
	b := r.browser()
	b.get("/test/start")
	b.expect(http.StatusOK, "Forgot password?", "Create account")
	b.post("/signin/register", url.Values{})
	b.expectPage("Create your account")
	b.expect(http.StatusOK, "Email", "First name", "Last name", "Back to sign in")
	for _, name := range []string{"userProfile.email", "userProfile.firstName", "userProfile.lastName"} {
		if !strings.Contains(b.body, `name="`+name+`"`) {
			t.Fatalf("the form has no %s:\n%s", name, b.body)
		}
	}

	// Mistakes are shown on their fields, with what was typed.
	b.post("/signin/profile", url.Values{"userProfile.email": {"dora@example.com"}, "userProfile.firstName": {""}, "userProfile.lastName": {"Doe"}})
	b.expect(http.StatusUnprocessableEntity, "This field can't be empty.")
	if b.value("userProfile.email") != "dora@example.com" || b.value("userProfile.lastName") != "Doe" {
		t.Fatalf("the form lost what was typed:\n%s", b.body)
	}
	b.post("/signin/profile", url.Values{"userProfile.email": {"not an address"}, "userProfile.firstName": {"Dora"}, "userProfile.lastName": {"Doe"}})
	b.expect(http.StatusUnprocessableEntity, "Enter a valid email address.")
	b.post("/signin/profile", url.Values{"userProfile.email": {alice}, "userProfile.firstName": {"Dora"}, "userProfile.lastName": {"Doe"}})
	b.expect(http.StatusUnprocessableEntity, "There's already an account with this email address.")
	b.expectPage("Create your account")

	// A field the engine's form does not list is not sent (the SDK fills
	// only the form's inputs).
	b.post("/signin/profile", url.Values{"userProfile.email": {"Dora@Example.com"}, "userProfile.firstName": {"Dora"}, "userProfile.lastName": {"Doe"}, "userProfile.role": {"admin"}})
	b.expectPage("Create a password")
	b.expect(http.StatusOK, "New account for", "dora@example.com", "Your password needs:", "At least 8 characters", "Back to sign in")
	if _, err := r.h.Store.GetUserByLogin(context.Background(), "dora@example.com"); err == nil {
		t.Fatal("the account exists before it has a password")
	}
	b.post("/signin/password", url.Values{"password": {"short"}, "confirm": {"short"}})
	b.expect(http.StatusUnprocessableEntity, "Password requirements were not met.")
	b.post("/signin/password", url.Values{"password": {newPassword}, "confirm": {newPassword}})

	// The second factor the policy requires: the app this time.
	b.expectPage("Set up two-step verification")
	if strings.Contains(b.body, "Back to sign in") {
		t.Fatal("the account exists, yet the page offers to go back to sign in")
	}
	b.post("/signin/authenticator", url.Values{"authenticator": {"google_otp"}})
	b.expectPage("Set up your authenticator app")
	secret := b.appKey()
	b.post("/signin/app", url.Values{"code": {appCode(t, r, secret)}})
	b.expect(http.StatusOK, "Your account is ready", "You're signed in.")
	b.finish()
	b.expect(http.StatusOK, "back at the relying party: signed in")
	if status, tokens := r.redeem(r.lastCompleted()); status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
	u, err := r.h.Store.GetUserByLogin(context.Background(), "dora@example.com")
	if err != nil || u.GivenName != "Dora" || u.FamilyName != "Doe" {
		t.Fatalf("the new account: %+v %v", u, err)
	}
	if list, err := r.h.Store.ListEnrollments(context.Background(), u.ID); err != nil || len(list) != 1 {
		t.Fatalf("the new account's app: %+v %v", list, err)
	}
}

// TestRegistrationBackToSignIn: from the profile form back to signing in.
func TestRegistrationBackToSignIn(t *testing.T) {
	r := newRigWith(t, "", registrationOn)
	r.h.CreateUser(t, alice, alicePhone)
	b := r.browser()
	b.get("/test/start")
	b.post("/signin/register", url.Values{})
	b.expectPage("Create your account")
	b.post("/signin/back", url.Values{})
	b.expectPage("Sign in")
	b.post("/signin/identify", url.Values{"username": {alice}, "password": {enginetest.Password}})
	b.expectPage("Verify it's you")
}

// TestFlowFormsNeedCSRF: the new forms are protected like the others.
func TestFlowFormsNeedCSRF(t *testing.T) {
	r := newRigWith(t, "", registrationOn)
	b := r.browser()
	b.get("/test/start")
	for _, path := range []string{"/signin/forgot", "/signin/register", "/signin/recover", "/signin/profile", "/signin/password", "/signin/back", "/signin/another", "/signin/app"} {
		b.post(path, url.Values{"csrf": {""}, "username": {alice}})
		b.expect(http.StatusForbidden, "This page had expired")
	}
	b.get("/signin")
	b.expectPage("Sign in")
	if strings.Contains(r.logs.String(), `"path":"/idp/idx/recover"`) || strings.Contains(r.logs.String(), `"path":"/idp/idx/enroll"`) {
		t.Fatal("a refused post reached the engine")
	}
	// With the page's token, it does.
	b.post("/signin/forgot", url.Values{})
	b.expectPage("Reset your password")
	if !strings.Contains(r.logs.String(), `"path":"/idp/idx/recover"`) {
		t.Fatal("the engine's log does not show the recover request")
	}
}

// TestRegistrationLimit: the engine's per-address budget of registrations
// shows as a wait, in the registration's terms.
func TestRegistrationLimit(t *testing.T) {
	r := newRigWith(t, "", func(c *config.Config) {
		c.SignOn.SelfRegistration = true
		c.RateLimits.RegistrationsPerIPPerHour = 1
	})
	r.h.CreateUser(t, alice, alicePhone)
	b := r.browser()
	b.get("/test/start")
	b.post("/signin/register", url.Values{})
	profile := url.Values{"userProfile.email": {alice}, "userProfile.firstName": {"A"}, "userProfile.lastName": {"B"}}
	b.post("/signin/profile", profile)
	b.expect(http.StatusUnprocessableEntity, "There's already an account with this email address.")
	profile.Set("userProfile.email", "dora@example.com")
	b.post("/signin/profile", profile)
	b.expect(http.StatusTooManyRequests, "Too many accounts were started from your network. Try again in")
	if ra := b.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After %q, want the engine's wait", ra)
	}
	b.expectPage("Create your account")
	if b.value("userProfile.email") != "dora@example.com" {
		t.Fatal("the form lost what was typed")
	}
}
