package idx_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/idx"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// These tests drive the SDK against a real Gatehouse engine over loopback HTTP,
// for every path the engine offers.

const (
	engAlice      = "alice@example.com"
	engAlicePhone = "+12015550123"
)

type engineRig struct {
	h      *enginetest.Harness
	client *idx.Client
	state  *idx.State
	t      *testing.T
	alice  store.User
}

func newEngineRig(t *testing.T) *engineRig {
	t.Helper()
	h := enginetest.Start(t, enginetest.Options{})
	alice := h.CreateUser(t, engAlice, engAlicePhone)
	c, err := idx.NewClient(idx.Config{
		Issuer: h.Issuer, ClientID: enginetest.ClientID, RedirectURI: enginetest.RedirectURI,
		Scopes: []string{"openid", "profile", "email", "phone", "offline_access"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &engineRig{h: h, client: c, t: t, alice: alice}
}

// phones lists a user's phone enrollments, oldest first, from the store.
func (r *engineRig) phones(userID string) []store.PhoneEnrollment {
	r.t.Helper()
	list, err := r.h.Store.ListPhoneEnrollments(context.Background(), userID)
	if err != nil {
		r.t.Fatal(err)
	}
	return list
}

// phoneAuthenticatorID reads the engine's phone authenticator id off the wire
// (the first phone option's form), in a sign-in of its own.
func (r *engineRig) phoneAuthenticatorID(login string) string {
	r.t.Helper()
	f := r.h.Interact(r.t)
	enginetest.Expect(r.t, "identify", http.StatusOK)(f.Identify(login, enginetest.Password))
	id, _ := f.PhoneOption()
	if id == "" {
		r.t.Fatal("no phone authenticator id on the wire")
	}
	return id
}

// enginePhone is what the engine says about a phone enrollment with SMS and voice.
func enginePhone(authID, enrollmentID, masked string, methods ...string) *idx.Authenticator {
	return &idx.Authenticator{ID: authID, EnrollmentID: enrollmentID, Key: "phone_number", Type: "phone", DisplayName: "Phone",
		Methods: methods, Profile: map[string]string{"phoneNumber": masked}}
}

// call runs one Authenticate and keeps the returned State, as an app's session does.
func (r *engineRig) call(opts idx.Options) *idx.Transaction {
	r.t.Helper()
	tx, err := r.client.Authenticate(context.Background(), r.state, opts)
	if err != nil {
		r.t.Fatalf("Authenticate(%+v): %v", opts, err)
	}
	r.state = tx.State
	return tx
}

func expectStep(t *testing.T, tx *idx.Transaction, status idx.Status, step string) {
	t.Helper()
	if tx.Status != status {
		t.Fatalf("status %s, want %s (messages %+v)", tx.Status, status, tx.Messages)
	}
	if step != "" && (tx.NextStep == nil || tx.NextStep.Name != step) {
		t.Fatalf("next step %+v, want %s", tx.NextStep, step)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func messageKeys(tx *idx.Transaction) []string {
	var keys []string
	for _, m := range tx.Messages {
		keys = append(keys, m.Key)
	}
	return keys
}

func inputNames(s *idx.NextStep) []string {
	var names []string
	for _, in := range s.Inputs {
		names = append(names, in.Name)
	}
	return names
}

func TestEngineSeedFlowSMSAndVoice(t *testing.T) {
	for _, method := range []string{"sms", "voice"} {
		t.Run(method, func(t *testing.T) {
			r := newEngineRig(t)
			tx := r.call(idx.Options{Username: engAlice, Password: enginetest.Password})
			expectStep(t, tx, idx.StatusPending, "select-authenticator-authenticate")
			in := tx.NextStep.Inputs[0]
			wantOpts := []idx.Option{{Label: "Phone", Value: "phone_number", Authenticator: enginePhone(
				r.phoneAuthenticatorID(engAlice), r.phones(r.alice.ID)[0].ID, "+1 XXX-XXX-0123", "sms", "voice")}}
			if in.Name != "authenticator" || !reflect.DeepEqual(in.Options, wantOpts) {
				t.Errorf("authenticator input = %+v, options %s, want %s", in, jsonOf(in.Options), jsonOf(wantOpts))
			}
			tx = r.call(idx.Options{Authenticator: "phone_number"})
			expectStep(t, tx, idx.StatusPending, "authenticator-verification-data")
			a := tx.NextStep.Authenticator
			if a == nil || a.Key != "phone_number" || a.Profile["phoneNumber"] != "+1 XXX-XXX-0123" || !reflect.DeepEqual(a.Methods, []string{"sms", "voice"}) {
				t.Errorf("authenticator = %+v", a)
			}
			if got := tx.NextStep.Inputs[0]; got.Name != "methodType" || len(got.Options) != 2 {
				t.Errorf("methodType input = %+v", got)
			}
			tx = r.call(idx.Options{MethodType: method})
			expectStep(t, tx, idx.StatusPending, "challenge-authenticator")
			if !tx.NextStep.CanResend || !reflect.DeepEqual(inputNames(tx.NextStep), []string{"verificationCode"}) {
				t.Errorf("code step = %+v", tx.NextStep)
			}
			msgs := r.h.Outbox(t, engAlicePhone)
			if len(msgs) != 1 || msgs[0].Channel != method {
				t.Fatalf("outbox = %+v", msgs)
			}
			tx = r.call(idx.Options{VerificationCode: msgs[0].Code})
			expectStep(t, tx, idx.StatusSuccess, "")
			if tx.State != nil {
				t.Error("the state survives SUCCESS")
			}
			tok := tx.Tokens
			if tok == nil || tok.AccessToken == "" || tok.RefreshToken == "" || tok.IDTokenClaims["iss"] != r.h.Issuer {
				t.Fatalf("tokens = %+v", tok)
			}
			wantAMR := map[string]string{"sms": "sms", "voice": "tel"}[method]
			if amr, _ := tok.IDTokenClaims["amr"].([]any); len(amr) != 3 || amr[1] != wantAMR {
				t.Errorf("amr = %v", tok.IDTokenClaims["amr"])
			}
			info, err := r.client.UserInfo(context.Background(), tok.AccessToken)
			if err != nil || info["sub"] != tok.IDTokenClaims["sub"] || info["email"] != engAlice {
				t.Errorf("userinfo = %v, %v", info, err)
			}
		})
	}
}

func TestEngineAllValuesUpFront(t *testing.T) {
	r := newEngineRig(t)
	tx := r.call(idx.Options{Username: engAlice, Password: enginetest.Password, Authenticator: "phone_number", MethodType: "sms"})
	expectStep(t, tx, idx.StatusPending, "challenge-authenticator")
	tx = r.call(idx.Options{VerificationCode: r.h.LatestCode(t, engAlicePhone)})
	expectStep(t, tx, idx.StatusSuccess, "")
}

func TestEngineWrongPasswordThenRight(t *testing.T) {
	r := newEngineRig(t)
	tx := r.call(idx.Options{Username: engAlice, Password: "nope"})
	expectStep(t, tx, idx.StatusPending, "identify")
	if !reflect.DeepEqual(messageKeys(tx), []string{"errors.E0000004"}) || tx.Messages[0].Text != "Authentication failed" {
		t.Errorf("messages = %+v", tx.Messages)
	}
	tx = r.call(idx.Options{Username: engAlice, Password: enginetest.Password})
	expectStep(t, tx, idx.StatusPending, "select-authenticator-authenticate")
}

func TestEngineWrongCodeThenRightAndLockout(t *testing.T) {
	r := newEngineRig(t)
	r.call(idx.Options{Username: engAlice, Password: enginetest.Password, Authenticator: "phone_number", MethodType: "sms"})
	code := r.h.LatestCode(t, engAlicePhone)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	tx := r.call(idx.Options{VerificationCode: wrong})
	expectStep(t, tx, idx.StatusPending, "challenge-authenticator")
	if len(tx.Messages) != 1 || tx.Messages[0].Key != "api.authn.error.PASSCODE_INVALID" || tx.Messages[0].Field == "" {
		t.Errorf("messages = %+v", tx.Messages)
	}
	tx = r.call(idx.Options{VerificationCode: code})
	expectStep(t, tx, idx.StatusSuccess, "")

	// A second sign-in: five wrong codes lock the phone factor.
	r.h.Clock.Advance(31 * time.Second)
	r.state = nil
	r.call(idx.Options{Username: engAlice, Password: enginetest.Password, Authenticator: "phone_number", MethodType: "sms"})
	for range 4 {
		r.call(idx.Options{VerificationCode: wrong})
	}
	tx = r.call(idx.Options{VerificationCode: wrong})
	expectStep(t, tx, idx.StatusPending, "challenge-authenticator")
	if !reflect.DeepEqual(messageKeys(tx), []string{"oie.tooManyRequests"}) {
		t.Errorf("locked messages = %+v", tx.Messages)
	}
}

func TestEngineResend(t *testing.T) {
	r := newEngineRig(t)
	r.call(idx.Options{Username: engAlice, Password: enginetest.Password, Authenticator: "phone_number", MethodType: "sms"})
	tx, err := r.client.Resend(context.Background(), r.state)
	if err != nil {
		t.Fatal(err)
	}
	expectStep(t, tx, idx.StatusPending, "challenge-authenticator")
	if !reflect.DeepEqual(messageKeys(tx), []string{"errors.E0000150"}) {
		t.Errorf("resend inside 30 s: messages %+v", tx.Messages)
	}
	r.state = tx.State
	r.h.Clock.Advance(31 * time.Second)
	tx, err = r.client.Resend(context.Background(), r.state)
	if err != nil {
		t.Fatal(err)
	}
	expectStep(t, tx, idx.StatusPending, "challenge-authenticator")
	if len(tx.Messages) != 0 || len(r.h.Outbox(t, engAlicePhone)) != 2 {
		t.Errorf("resend after 30 s: messages %+v, outbox %d", tx.Messages, len(r.h.Outbox(t, engAlicePhone)))
	}
	r.state = tx.State
	tx = r.call(idx.Options{VerificationCode: r.h.LatestCode(t, engAlicePhone)})
	expectStep(t, tx, idx.StatusSuccess, "")
}

func TestEngineCancel(t *testing.T) {
	r := newEngineRig(t)
	r.call(idx.Options{Username: engAlice, Password: enginetest.Password, Authenticator: "phone_number"})
	tx, err := r.client.Cancel(context.Background(), r.state)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Status != idx.StatusCanceled || tx.State != nil {
		t.Fatalf("cancel: %+v", tx)
	}
	r.state = nil
	tx = r.call(idx.Options{Username: engAlice, Password: enginetest.Password})
	expectStep(t, tx, idx.StatusPending, "select-authenticator-authenticate")
}

func TestEngineExpiredTransactionIsTerminal(t *testing.T) {
	r := newEngineRig(t)
	r.call(idx.Options{Username: engAlice, Password: enginetest.Password})
	r.h.Clock.Advance(31 * time.Minute)
	tx, err := r.client.Authenticate(context.Background(), r.state, idx.Options{Authenticator: "phone_number"})
	if err != nil {
		t.Fatal(err)
	}
	if tx.Status != idx.StatusTerminal || !reflect.DeepEqual(messageKeys(tx), []string{"idx.session.expired"}) {
		t.Errorf("expired: %s %+v", tx.Status, tx.Messages)
	}
}

func TestEngineEnrollment(t *testing.T) {
	r := newEngineRig(t)
	r.h.CreateUser(t, "bob@example.com", "")
	tx := r.call(idx.Options{Username: "bob@example.com", Password: enginetest.Password})
	expectStep(t, tx, idx.StatusPending, "select-authenticator-enroll")
	tx = r.call(idx.Options{Authenticator: "phone_number"})
	expectStep(t, tx, idx.StatusPending, "authenticator-enrollment-data")
	tx = r.call(idx.Options{MethodType: "sms", PhoneNumber: "(555) 555-5555"})
	expectStep(t, tx, idx.StatusPending, "authenticator-enrollment-data")
	if !reflect.DeepEqual(messageKeys(tx), []string{"api.factors.error.sms.invalid_phone"}) {
		t.Errorf("invalid phone: %+v", tx.Messages)
	}
	tx = r.call(idx.Options{MethodType: "voice", PhoneNumber: "+1 201 555 0177"})
	expectStep(t, tx, idx.StatusPending, "enroll-authenticator")
	tx = r.call(idx.Options{VerificationCode: r.h.LatestCode(t, "+12015550177")})
	expectStep(t, tx, idx.StatusSuccess, "")
}

func TestEngineRefreshAndRevoke(t *testing.T) {
	r := newEngineRig(t)
	r.call(idx.Options{Username: engAlice, Password: enginetest.Password, Authenticator: "phone_number", MethodType: "sms"})
	tx := r.call(idx.Options{VerificationCode: r.h.LatestCode(t, engAlicePhone)})
	expectStep(t, tx, idx.StatusSuccess, "")
	ctx := context.Background()
	fresh, err := r.client.Refresh(ctx, tx.Tokens.RefreshToken)
	if err != nil || fresh.AccessToken == "" || fresh.RefreshToken == tx.Tokens.RefreshToken {
		t.Fatalf("refresh: %+v %v", fresh, err)
	}
	if fresh.IDTokenClaims["sub"] != tx.Tokens.IDTokenClaims["sub"] {
		t.Errorf("refreshed sub = %v", fresh.IDTokenClaims["sub"])
	}
	if err := r.client.Revoke(ctx, fresh.AccessToken, "access_token"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.UserInfo(ctx, fresh.AccessToken); !errors.Is(err, idx.ErrOAuth) {
		t.Errorf("userinfo with a revoked token: %v", err)
	}
	if err := r.client.Revoke(ctx, fresh.RefreshToken, "refresh_token"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.client.Refresh(ctx, fresh.RefreshToken); !errors.Is(err, idx.ErrOAuth) {
		t.Errorf("refresh with a revoked token: %v", err)
	}
}

// TestEngineTwoPhones: a user with two phones gets one option per phone, told
// apart by Authenticator.EnrollmentID and the masked number; passing the
// second one's EnrollmentID as Options.Authenticator sends the code to that
// phone, and the key alone picks the first.
func TestEngineTwoPhones(t *testing.T) {
	const second = "+12015550124"
	r := newEngineRig(t)
	ctx := context.Background()
	first := r.phones(r.alice.ID)[0]
	if err := r.h.Store.CreatePhoneEnrollment(ctx, store.PhoneEnrollment{
		ID: "smsSECONDphone", UserID: r.alice.ID, Number: second, SMS: true, Voice: true, CreatedAt: first.CreatedAt.Add(time.Second),
	}); err != nil {
		t.Fatal(err)
	}
	authID := r.phoneAuthenticatorID(engAlice)

	tx := r.call(idx.Options{Username: engAlice, Password: enginetest.Password})
	expectStep(t, tx, idx.StatusPending, "select-authenticator-authenticate")
	want := []idx.Option{
		{Label: "Phone", Value: "phone_number", Authenticator: enginePhone(authID, first.ID, "+1 XXX-XXX-0123", "sms", "voice")},
		{Label: "Phone", Value: "phone_number", Authenticator: enginePhone(authID, "smsSECONDphone", "+1 XXX-XXX-0124", "sms", "voice")},
	}
	if got := tx.NextStep.Inputs[0].Options; !reflect.DeepEqual(got, want) {
		t.Fatalf("options\n got  %s\n want %s", jsonOf(got), jsonOf(want))
	}

	tx = r.call(idx.Options{Authenticator: want[1].Authenticator.EnrollmentID, MethodType: "sms"})
	expectStep(t, tx, idx.StatusPending, "challenge-authenticator")
	if a := tx.NextStep.Authenticator; !reflect.DeepEqual(a, enginePhone(authID, "smsSECONDphone", "+1 XXX-XXX-0124", "sms")) {
		t.Errorf("challenge authenticator = %s", jsonOf(a))
	}
	if n1, n2 := len(r.h.Outbox(t, engAlicePhone)), len(r.h.Outbox(t, second)); n1 != 0 || n2 != 1 {
		t.Fatalf("messages: %d to the first phone, %d to the second; want 0 and 1", n1, n2)
	}
	tx = r.call(idx.Options{VerificationCode: r.h.LatestCode(t, second)})
	expectStep(t, tx, idx.StatusSuccess, "")

	// In a second sign-in, the key alone picks the first phone.
	r.state = nil
	r.call(idx.Options{Username: engAlice, Password: enginetest.Password})
	tx = r.call(idx.Options{Authenticator: "phone_number"})
	expectStep(t, tx, idx.StatusPending, "authenticator-verification-data")
	if a := tx.NextStep.Authenticator; a == nil || a.EnrollmentID != first.ID || a.Profile["phoneNumber"] != "+1 XXX-XXX-0123" {
		t.Errorf("verification authenticator = %s", jsonOf(a))
	}
}

// TestEngineCallMeInstead: from the code step, naming
// select-authenticator-authenticate in Options.Step re-selects the phone with
// the other method. Within 30 s of the text the engine refuses (the message
// says why and the code step stays); after that a voice code is sent and
// signs in.
func TestEngineCallMeInstead(t *testing.T) {
	r := newEngineRig(t)
	tx := r.call(idx.Options{Username: engAlice, Password: enginetest.Password, Authenticator: "phone_number", MethodType: "sms"})
	expectStep(t, tx, idx.StatusPending, "challenge-authenticator")
	if msgs := r.h.Outbox(t, engAlicePhone); len(msgs) != 1 || msgs[0].Channel != "sms" {
		t.Fatalf("outbox = %+v", msgs)
	}
	callMe := idx.Options{Step: "select-authenticator-authenticate", Authenticator: "phone_number", MethodType: "voice"}

	tx = r.call(callMe)
	expectStep(t, tx, idx.StatusPending, "challenge-authenticator")
	if tx.RequestSucceeded || !reflect.DeepEqual(messageKeys(tx), []string{"errors.E0000151"}) {
		t.Errorf("call within 30 s: requestDidSucceed %v, messages %+v", tx.RequestSucceeded, tx.Messages)
	}
	if n := len(r.h.Outbox(t, engAlicePhone)); n != 1 {
		t.Fatalf("%d messages after a refused call, want 1", n)
	}

	r.h.Clock.Advance(31 * time.Second)
	tx = r.call(callMe)
	expectStep(t, tx, idx.StatusPending, "challenge-authenticator")
	if len(tx.Messages) != 0 || !tx.RequestSucceeded || !reflect.DeepEqual(tx.NextStep.Authenticator.Methods, []string{"voice"}) {
		t.Errorf("call after 30 s: messages %+v, authenticator %s", tx.Messages, jsonOf(tx.NextStep.Authenticator))
	}
	msgs := r.h.Outbox(t, engAlicePhone)
	if len(msgs) != 2 || msgs[0].Channel != "voice" {
		t.Fatalf("outbox after calling = %+v", msgs)
	}
	tx = r.call(idx.Options{VerificationCode: msgs[0].Code})
	expectStep(t, tx, idx.StatusSuccess, "")
	if amr, _ := tx.Tokens.IDTokenClaims["amr"].([]any); len(amr) != 3 || amr[1] != "tel" {
		t.Errorf("amr = %v, want the voice call's tel", tx.Tokens.IDTokenClaims["amr"])
	}
}

// TestEngineReselectWithoutStepIsNoOp: without Options.Step, naming the phone
// being verified does not re-select it (okta-auth-js parity): no new code, the
// code step stays.
func TestEngineReselectWithoutStepIsNoOp(t *testing.T) {
	r := newEngineRig(t)
	r.call(idx.Options{Username: engAlice, Password: enginetest.Password, Authenticator: "phone_number", MethodType: "sms"})
	r.h.Clock.Advance(31 * time.Second)
	for _, opts := range []idx.Options{
		{Authenticator: "phone_number", MethodType: "voice"},
		{Authenticator: r.phones(r.alice.ID)[0].ID, MethodType: "voice"},
	} {
		tx := r.call(opts)
		expectStep(t, tx, idx.StatusPending, "challenge-authenticator")
		if len(tx.Messages) != 0 || !reflect.DeepEqual(tx.NextStep.Authenticator.Methods, []string{"sms"}) {
			t.Errorf("%+v: messages %+v, authenticator %s", opts, tx.Messages, jsonOf(tx.NextStep.Authenticator))
		}
	}
	if msgs := r.h.Outbox(t, engAlicePhone); len(msgs) != 1 || msgs[0].Channel != "sms" {
		t.Fatalf("outbox = %+v, want the one text", msgs)
	}
	tx := r.call(idx.Options{VerificationCode: r.h.LatestCode(t, engAlicePhone)})
	expectStep(t, tx, idx.StatusSuccess, "")
}

// TestEngineResumeState: a server-side party calls interact and keeps the
// verifier; the SDK continues from the interaction handle alone, stops at
// SUCCESS with the interaction code, and that party redeems it.
func TestEngineResumeState(t *testing.T) {
	r := newEngineRig(t)
	f := r.h.Interact(t) // interact with a PKCE pair the test keeps
	c, err := idx.NewClient(idx.Config{Issuer: r.h.Issuer, ClientID: enginetest.ClientID, ReturnInteractionCode: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tx, err := c.Proceed(ctx, c.ResumeState(f.InteractionHandle), idx.Options{
		Username: engAlice, Password: enginetest.Password, Authenticator: "phone_number", MethodType: "sms",
	})
	if err != nil {
		t.Fatal(err)
	}
	if tx.Status != idx.StatusPending || tx.NextStep.Name != "challenge-authenticator" {
		t.Fatalf("status %s, step %+v, messages %v", tx.Status, tx.NextStep, tx.Messages)
	}
	tx, err = c.Proceed(ctx, tx.State, idx.Options{VerificationCode: r.h.LatestCode(t, engAlicePhone)})
	if err != nil {
		t.Fatal(err)
	}
	if tx.Status != idx.StatusSuccess || tx.InteractionCode == "" || tx.Tokens != nil {
		t.Fatalf("status %s, code %q, tokens %v, messages %v", tx.Status, tx.InteractionCode, tx.Tokens, tx.Messages)
	}
	status, tokens := r.h.PostForm(t, r.h.Issuer+"/v1/token", url.Values{
		"grant_type": {"interaction_code"}, "client_id": {enginetest.ClientID}, "interaction_code": {tx.InteractionCode},
		"code_verifier": {f.PKCE.Verifier}, "redirect_uri": {enginetest.RedirectURI},
	})
	if status != http.StatusOK || tokens["access_token"] == nil || tokens["id_token"] == nil {
		t.Fatalf("token: %d %v", status, tokens)
	}
}

// TestEngineExpiredPassword: after an operator expires the password, the right
// password leads to reenroll-authenticator, which takes NewPassword (with the
// rules shown), and the sign-in goes on to the phone.
func TestEngineExpiredPassword(t *testing.T) {
	r := newEngineRig(t)
	if _, err := r.h.Engine.Accounts().ExpirePassword(t.Context(), r.alice.ID); err != nil {
		t.Fatal(err)
	}
	tx := r.call(idx.Options{Username: engAlice, Password: enginetest.Password})
	expectStep(t, tx, idx.StatusPending, "reenroll-authenticator")
	if got := inputNames(tx.NextStep); !reflect.DeepEqual(got, []string{"newPassword"}) {
		t.Fatalf("reenroll-authenticator inputs = %v", got)
	}
	if a := tx.NextStep.Authenticator; a == nil || a.PasswordPolicy == nil || a.PasswordPolicy.MinLength != 8 {
		t.Fatalf("reenroll-authenticator authenticator = %+v", a)
	}
	tx = r.call(idx.Options{NewPassword: "a brand new password"})
	expectStep(t, tx, idx.StatusPending, "select-authenticator-authenticate")
}
