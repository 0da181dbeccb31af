package idxserver_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// recoverTo drives a recovery for login up to the code step and returns the flow.
func recoverTo(t *testing.T, h *enginetest.Harness, login string) *enginetest.Flow {
	t.Helper()
	f := h.Interact(t)
	cur, _ := f.Last["currentAuthenticator"].(map[string]any)
	if cur == nil || cur["value"].(map[string]any)["recover"] == nil {
		t.Fatalf("the first response has no currentAuthenticator.recover: %v", f.Last)
	}
	enginetest.Expect(t, "recover", http.StatusOK)(f.Action("/idp/idx/recover"))
	if names := enginetest.RemediationNames(f.Last); !slices.Equal(names, []string{"identify-recovery"}) {
		t.Fatalf("after recover: %v", names)
	}
	enginetest.Expect(t, "identify-recovery", http.StatusOK)(f.Submit("identify-recovery", map[string]any{"identifier": login}))
	enginetest.Expect(t, "choose sms", http.StatusOK)(f.ChooseMethodFirst("sms"))
	return f
}

// shape is a response with everything that differs between any two sign-ins (ids,
// handles, times) blanked, for comparing what two answers tell a client.
func shape(t *testing.T, body map[string]any) string {
	t.Helper()
	raw, _ := json.Marshal(body)
	s := regexp.MustCompile(`"(stateHandle|expiresAt|value|id|enrollmentId|href)":"[^"]*"`).ReplaceAllString(string(raw), `"$1":"…"`)
	return regexp.MustCompile(`\$\.authenticatorEnrollments\.value\[\d+\]`).ReplaceAllString(s, "…")
}

func TestPasswordRecovery(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	user := h.CreateUser(t, alice, alicePhone)
	before := h.SignIn(t, alice, alicePhone, "sms")
	h.Clock.Advance(time.Minute) // past the interval between codes to one number

	f := recoverTo(t, h, alice)
	if f.Last["user"] != nil {
		t.Fatalf("a recovery shows the user before it succeeds: %v", f.Last["user"])
	}
	enr := f.Last["currentAuthenticatorEnrollment"].(map[string]any)["value"].(map[string]any)
	if enr["profile"] != nil {
		t.Fatalf("a recovery shows the phone's number: %v", enr)
	}
	if f.Last["currentAuthenticatorEnrollment"].(map[string]any)["value"].(map[string]any)["resend"] == nil {
		t.Fatal("no resend action on the recovery's code step")
	}
	if cur, ok := f.Last["currentAuthenticator"].(map[string]any); ok && cur["value"].(map[string]any)["recover"] != nil {
		t.Fatal("a later recovery response offers recover again")
	}
	enginetest.Expect(t, "answer", http.StatusOK)(f.Answer(h.LatestCode(t, alicePhone)))
	if names := enginetest.RemediationNames(f.Last); !slices.Equal(names, []string{"reset-authenticator"}) {
		t.Fatalf("after the code: %v", names)
	}
	cur := f.Last["currentAuthenticator"].(map[string]any)["value"].(map[string]any)
	rules := cur["settings"].(map[string]any)["complexity"].(map[string]any)
	if cur["key"] != "okta_password" || rules["minLength"] != float64(8) {
		t.Fatalf("reset-authenticator's authenticator: %v", cur)
	}
	if cur["recover"] != nil {
		t.Fatal("reset-authenticator offers recover")
	}
	// A password that breaks the rule changes nothing.
	status, body := f.Submit("reset-authenticator", map[string]any{"credentials": map[string]any{"passcode": "short"}})
	if status != http.StatusBadRequest || !slices.Contains(fieldMessageKeys(t, body, "reset-authenticator", "credentials.passcode"), "password.passwordRequirementsNotMet") {
		t.Fatalf("short password: %d %v", status, body)
	}
	const newPassword = "a new password, long enough"
	enginetest.Expect(t, "reset", http.StatusOK)(f.Submit("reset-authenticator", map[string]any{"credentials": map[string]any{"passcode": newPassword}}))
	if f.Last["successWithInteractionCode"] == nil || f.Last["user"].(map[string]any)["value"].(map[string]any)["id"] != user.ID {
		t.Fatalf("after the reset: %v", f.Last)
	}
	status, tokens := f.Redeem()
	if status != http.StatusOK || tokens["access_token"] == nil {
		t.Fatalf("redeem: %d %v", status, tokens)
	}
	// The old password is gone, the new one signs in, and the tokens of before are revoked.
	g := h.Interact(t)
	enginetest.Expect(t, "old password", http.StatusUnauthorized)(g.Identify(alice, enginetest.Password))
	g = h.Interact(t)
	enginetest.Expect(t, "new password", http.StatusOK)(g.Identify(alice, newPassword))
	status, body = h.PostForm(t, h.Issuer+"/v1/token", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {before["refresh_token"].(string)}, "client_id": {enginetest.ClientID}})
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("refresh token issued before the reset: %d %v", status, body)
	}
}

// TestPasswordRecoveryTellsNothing: the answers for a login that names no user are
// the answers for one that does, and no code is sent.
func TestPasswordRecoveryTellsNothing(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	h.CreateUser(t, alice, alicePhone)
	h.CreateUser(t, bob, "")
	known := recoverTo(t, h, alice)
	for _, login := range []string{"nobody@example.com", bob} {
		other := recoverTo(t, h, login)
		if shape(t, known.Last) != shape(t, other.Last) {
			t.Fatalf("%s's code step differs from a known user's:\n%s\n%s", login, shape(t, known.Last), shape(t, other.Last))
		}
		status, body := other.Answer("123456")
		if status != http.StatusUnauthorized || !slices.Contains(fieldMessageKeys(t, body, "challenge-authenticator", "credentials.passcode"), "api.authn.error.PASSCODE_INVALID") {
			t.Fatalf("%s: a code: %d %v", login, status, body)
		}
	}
	if n := len(h.Outbox(t, alicePhone)); n != 1 {
		t.Fatalf("%d messages to alice's phone, want the one of her own recovery", n)
	}
}

func TestRecoveryOff(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) { c.SignOn.PasswordRecovery = false }})
	f := h.Interact(t)
	if f.Last["currentAuthenticator"] != nil {
		t.Fatalf("recovery is off but the first response offers it: %v", f.Last["currentAuthenticator"])
	}
	status, body := f.Action("/idp/idx/recover")
	if status != http.StatusBadRequest || !slices.Contains(enginetest.MessageKeys(body), "gatehouse.step.unavailable") {
		t.Fatalf("recover with recovery off: %d %v", status, body)
	}
}

func TestRegistration(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) {
		c.SignOn.SelfRegistration = true
		c.RateLimits.RegistrationsPerIPPerHour = 2
	}})
	h.CreateUser(t, alice, alicePhone)
	f := h.Interact(t)
	if names := enginetest.RemediationNames(f.Last); !slices.Equal(names, []string{"identify", "select-enroll-profile"}) {
		t.Fatalf("first response: %v", names)
	}
	enginetest.Expect(t, "select-enroll-profile", http.StatusOK)(f.Submit("select-enroll-profile", nil))
	if names := enginetest.RemediationNames(f.Last); !slices.Equal(names, []string{"enroll-profile", "select-identify"}) {
		t.Fatalf("registration form: %v", names)
	}
	// A bad address and a blank name are marked on their fields; a taken address
	// is answered as Okta does.
	status, body := f.Submit("enroll-profile", map[string]any{"userProfile": map[string]any{"email": "not an address", "firstName": "", "lastName": "X"}})
	if status != http.StatusBadRequest || !slices.Contains(fieldMessageKeys(t, body, "enroll-profile", "userProfile.email"), "registration.error.invalidEmail") ||
		!slices.Contains(fieldMessageKeys(t, body, "enroll-profile", "userProfile.firstName"), "model.validation.field.blank") {
		t.Fatalf("bad profile: %d %v", status, body)
	}
	status, body = f.Submit("enroll-profile", map[string]any{"userProfile": map[string]any{"email": "Alice@Example.com", "firstName": "A", "lastName": "B"}})
	if status != http.StatusBadRequest || !slices.Contains(fieldMessageKeys(t, body, "enroll-profile", "userProfile.email"), "registration.error.notUniqueWithinOrg") {
		t.Fatalf("taken address: %d %v", status, body)
	}
	status, body = f.Submit("enroll-profile", map[string]any{"userProfile": map[string]any{"email": "dora@example.com", "firstName": "Dora", "lastName": "Doe", "role": "admin"}})
	if status != http.StatusBadRequest || !slices.Contains(enginetest.MessageKeys(body), "gatehouse.profile.unknown") {
		t.Fatalf("unknown profile field: %d %v", status, body)
	}
	enginetest.Expect(t, "enroll-profile", http.StatusOK)(f.Submit("enroll-profile", map[string]any{"userProfile": map[string]any{
		"email": "Dora@Example.com", "firstName": "Dora", "lastName": "Doe"}}))
	if _, err := h.Store.GetUserByLogin(t.Context(), "dora@example.com"); err == nil {
		t.Fatal("the account exists before it has a password")
	}
	enginetest.Expect(t, "choose password", http.StatusOK)(f.Submit("select-authenticator-enroll", map[string]any{"authenticator": map[string]any{
		"id": optionID(t, f, "select-authenticator-enroll", "Password")}}))
	cur := f.Last["currentAuthenticator"].(map[string]any)["value"].(map[string]any)
	if cur["key"] != "okta_password" || cur["settings"] == nil {
		t.Fatalf("password enrollment: %v", cur)
	}
	status, body = f.Submit("enroll-authenticator", map[string]any{"credentials": map[string]any{"passcode": "short"}})
	if status != http.StatusBadRequest {
		t.Fatalf("short password: %d %v", status, body)
	}
	enginetest.Expect(t, "password", http.StatusOK)(f.Submit("enroll-authenticator", map[string]any{"credentials": map[string]any{"passcode": enginetest.Password}}))
	// The policy requires a second factor: the phone is enrolled next, never the password again.
	if names := enginetest.RemediationNames(f.Last); !slices.Equal(names, []string{"select-authenticator-enroll"}) {
		t.Fatalf("after the password: %v", names)
	}
	for _, a := range f.Last["authenticators"].(map[string]any)["value"].([]any) {
		if a.(map[string]any)["key"] == "okta_password" {
			t.Fatal("the password is offered for enrollment after it was set")
		}
	}
	enginetest.Expect(t, "choose phone", http.StatusOK)(f.Submit("select-authenticator-enroll", map[string]any{"authenticator": map[string]any{
		"id": phoneEnrollID(t, f), "methodType": "sms", "phoneNumber": "+12015550188"}}))
	enginetest.Expect(t, "code", http.StatusOK)(f.Answer(h.LatestCode(t, "+12015550188")))
	status, tokens := f.Redeem()
	if status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, tokens)
	}
	u, err := h.Store.GetUserByLogin(t.Context(), "dora@example.com")
	if err != nil || u.GivenName != "Dora" || u.FamilyName != "Doe" || u.Email != "dora@example.com" {
		t.Fatalf("the new account: %+v %v", u, err)
	}
	// The per-address budget (2) was spent by the two profiles that reached the
	// address lookup (the taken one and Dora's); the next one waits.
	g := h.Interact(t)
	enginetest.Expect(t, "select-enroll-profile", http.StatusOK)(g.Submit("select-enroll-profile", nil))
	status, body = g.Submit("enroll-profile", map[string]any{"userProfile": map[string]any{"email": "eve@example.com", "firstName": "E", "lastName": "V"}})
	if status != http.StatusTooManyRequests {
		t.Fatalf("fourth registration from one address: %d %v", status, body)
	}
}

func TestRegistrationOffByDefault(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	f := h.Interact(t)
	if names := enginetest.RemediationNames(f.Last); !reflect.DeepEqual(names, []string{"identify"}) {
		t.Fatalf("first response: %v", names)
	}
	status, body := f.PostJSON(h.URL+"/idp/idx/enroll", map[string]any{"stateHandle": f.StateHandle})
	if status != http.StatusBadRequest || !slices.Contains(enginetest.MessageKeys(body), "gatehouse.step.unavailable") {
		t.Fatalf("select-enroll-profile with registration off: %d %v", status, body)
	}
}
