package idxserver_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/account"
	"github.com/gatehouse-id/gatehouse/engine/authn/totp"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// appCode is the authenticator app's code for secret at the engine's time.
func appCode(t *testing.T, h *enginetest.Harness, secret string, offset time.Duration) string {
	t.Helper()
	c, err := totp.Code(secret, totp.Step(h.Clock.Now().Add(offset)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrollApp enrolls an authenticator app for a signed-in user without a second
// factor and returns the shared secret it showed.
func enrollApp(t *testing.T, h *enginetest.Harness, f *enginetest.Flow) string {
	t.Helper()
	keys := []string{}
	for _, a := range f.Last["authenticators"].(map[string]any)["value"].([]any) {
		keys = append(keys, a.(map[string]any)["key"].(string))
	}
	if !slices.Equal(keys, []string{"phone_number", "google_otp"}) {
		t.Fatalf("a user without a second factor is offered %v", keys)
	}
	enginetest.Expect(t, "choose the app", http.StatusOK)(f.Submit("select-authenticator-enroll", map[string]any{"authenticator": map[string]any{
		"id": optionID(t, f, "select-authenticator-enroll", "Google Authenticator")}}))
	cur := f.Last["currentAuthenticator"].(map[string]any)["value"].(map[string]any)
	data, _ := cur["contextualData"].(map[string]any)
	if data == nil || cur["key"] != "google_otp" || cur["resend"] != nil {
		t.Fatalf("the app's enrollment step: %v", cur)
	}
	qr := data["qrcode"].(map[string]any)
	if qr["method"] != "embedded" || qr["type"] != "image/png" || !strings.HasPrefix(qr["href"].(string), "data:image/png;base64,") {
		t.Fatalf("qrcode: %v", qr)
	}
	secret := data["sharedSecret"].(string)
	if err := totp.CheckSecret(secret); err != nil {
		t.Fatalf("sharedSecret %q: %v", secret, err)
	}
	if names := enginetest.RemediationNames(f.Last); !slices.Equal(names, []string{"enroll-authenticator", "select-authenticator-enroll"}) {
		t.Fatalf("enrollment step: %v", names)
	}
	// A wrong code, then the right one.
	status, body := f.Answer("000000")
	if status != http.StatusUnauthorized || !slices.Contains(fieldMessageKeys(t, body, "enroll-authenticator", "credentials.passcode"), "api.authn.error.PASSCODE_INVALID") {
		t.Fatalf("wrong code: %d %v", status, body)
	}
	enginetest.Expect(t, "the app's code", http.StatusOK)(f.Answer(appCode(t, h, secret, 0)))
	if f.Last["successWithInteractionCode"] == nil {
		t.Fatalf("after the app's first code: %v", enginetest.RemediationNames(f.Last))
	}
	return secret
}

func TestAuthenticatorApp(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	u := h.CreateUser(t, bob, "")
	f := h.Interact(t)
	enginetest.Expect(t, "identify", http.StatusOK)(f.Identify(bob, enginetest.Password))
	secret := enrollApp(t, h, f)
	status, tokens := f.Redeem()
	if status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, tokens)
	}
	if list, err := h.Store.ListEnrollments(t.Context(), u.ID); err != nil || len(list) != 1 || strings.Contains(string(list[0].Secret), secret) {
		t.Fatalf("stored: %+v %v (the secret must be sealed)", list, err)
	}

	// The next sign-in verifies the app; the code that enrolled it is not accepted again.
	f = h.Interact(t)
	enginetest.Expect(t, "identify", http.StatusOK)(f.Identify(bob, enginetest.Password))
	enginetest.Expect(t, "choose the app", http.StatusOK)(f.Submit("select-authenticator-authenticate", map[string]any{"authenticator": map[string]any{
		"id": optionID(t, f, "select-authenticator-authenticate", "Google Authenticator")}}))
	if names := enginetest.RemediationNames(f.Last); !slices.Equal(names, []string{"challenge-authenticator", "select-authenticator-authenticate"}) {
		t.Fatalf("the app's challenge: %v", names)
	}
	enr := f.Last["currentAuthenticatorEnrollment"].(map[string]any)["value"].(map[string]any)
	if enr["key"] != "google_otp" || enr["resend"] != nil {
		t.Fatalf("currentAuthenticatorEnrollment: %v", enr)
	}
	status, body := f.Answer(appCode(t, h, secret, 0))
	if status != http.StatusUnauthorized || !slices.Contains(fieldMessageKeys(t, body, "challenge-authenticator", "credentials.passcode"), "authfactor.challenge.soft_token.used_passcode") {
		t.Fatalf("the enrolling code again: %d %v", status, body)
	}
	h.Clock.Advance(totp.Period)
	code := appCode(t, h, secret, 0)
	enginetest.Expect(t, "a new code", http.StatusOK)(f.Answer(code))
	status, tokens = f.Redeem()
	if status != http.StatusOK {
		t.Fatalf("redeem: %d %v", status, tokens)
	}
	if amr := idTokenClaims(t, tokens)["amr"]; !slices.Equal(toStrings(amr), []string{"pwd", "otp", "mfa"}) {
		t.Fatalf("amr %v", amr)
	}
	// The same code in another sign-in: refused as used.
	f = h.Interact(t)
	enginetest.Expect(t, "identify", http.StatusOK)(f.Identify(bob, enginetest.Password))
	enginetest.Expect(t, "choose the app", http.StatusOK)(f.Submit("select-authenticator-authenticate", map[string]any{"authenticator": map[string]any{
		"id": optionID(t, f, "select-authenticator-authenticate", "Google Authenticator"), "methodType": "otp"}}))
	if status, _ := f.Answer(code); status != http.StatusUnauthorized {
		t.Fatalf("a used code in another sign-in: %d", status)
	}
}

// TestPhoneAndAppShareOneLockout: a user with both chooses between them, and wrong
// codes of either count toward one lockout.
func TestPhoneAndAppShareOneLockout(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	h.CreateUser(t, bob, "")
	f := h.Interact(t)
	enginetest.Expect(t, "identify", http.StatusOK)(f.Identify(bob, enginetest.Password))
	enrollApp(t, h, f)
	u, _ := h.Store.GetUserByLogin(t.Context(), bob)
	if _, err := h.Engine.Accounts().AddPhone(t.Context(), u.ID, "+12015550199", accountPhone()); err != nil {
		t.Fatal(err)
	}
	f = h.Interact(t)
	enginetest.Expect(t, "identify", http.StatusOK)(f.Identify(bob, enginetest.Password))
	labels := []string{}
	for _, o := range field(t, f.Remediation("select-authenticator-authenticate"), "authenticator")["options"].([]any) {
		labels = append(labels, o.(map[string]any)["label"].(string))
	}
	if !slices.Equal(labels, []string{"Phone", "Google Authenticator"}) {
		t.Fatalf("a user with both is offered %v", labels)
	}
	enginetest.Expect(t, "choose the app", http.StatusOK)(f.Submit("select-authenticator-authenticate", map[string]any{"authenticator": map[string]any{
		"id": optionID(t, f, "select-authenticator-authenticate", "Google Authenticator")}}))
	for range 2 {
		if status, _ := f.Answer("000000"); status != http.StatusUnauthorized {
			t.Fatalf("wrong app code: %d", status)
		}
	}
	enginetest.Expect(t, "switch to the phone", http.StatusOK)(f.ChooseMethodFirst("sms"))
	for _, c := range []string{"000000", "000001"} {
		if status, _ := f.Answer(c); status != http.StatusUnauthorized {
			t.Fatalf("wrong phone code: %d", status)
		}
	}
	// The fifth wrong code in a row (two of the app, two of the phone, this one;
	// the enrollment's right code reset the count) locks both.
	status, body := f.Answer("000002")
	if status != http.StatusTooManyRequests || !slices.Contains(enginetest.MessageKeys(body), "oie.tooManyRequests") {
		t.Fatalf("fifth wrong code: %d %v", status, body)
	}
	status, body = f.Submit("select-authenticator-authenticate", map[string]any{"authenticator": map[string]any{
		"id": optionID(t, f, "select-authenticator-authenticate", "Google Authenticator")}})
	if status != http.StatusTooManyRequests {
		t.Fatalf("the app while locked: %d %v", status, body)
	}
}

func accountPhone() account.PhoneOptions { return account.PhoneOptions{SMS: true, Voice: true} }

// idTokenClaims decodes the ID token's claims (the signature is the oauth tests' concern).
func idTokenClaims(t *testing.T, tokens map[string]any) map[string]any {
	t.Helper()
	parts := strings.Split(tokens["id_token"].(string), ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
