package idx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Flows scripted against Okta's recorded responses. Each test lists the IDX
// requests the SDK must make (path, Accept, exact JSON body) and asserts the
// exact Transaction it returns after every call.

func body(kv string) string { return "{" + kv + "}" }

func sh(t *testing.T, fixture, form string) string {
	return `"stateHandle":"` + formStateHandle(t, fixture, form) + `"`
}

// wantState checks that the transaction kept the interaction and recorded the
// stateHandle of the last successful response.
func wantState(t *testing.T, tx *Transaction, first *State, stateHandle string) {
	t.Helper()
	if tx.State == nil {
		t.Fatalf("State is nil, want the transaction kept")
	}
	want := *first
	want.StateHandle = stateHandle
	if *tx.State != want {
		t.Fatalf("State = %#v (handle %q), want handle %q", tx.State, tx.State.StateHandle, stateHandle)
	}
}

// newTestState is a State for the fixture interaction, as if interact had
// just been called by this client.
// The replay server is told the matching PKCE challenge and nonce.
func newTestState(s *replayServer) *State {
	st := &State{
		Version: stateFormatVersion, Issuer: s.issuer(), ClientID: testClientID,
		InteractionHandle: fixtureInteractionHandle, CodeVerifier: "test-verifier-0123456789-0123456789-0123456789",
		OAuthState: "test-state", Nonce: "test-nonce",
	}
	s.mu.Lock()
	s.challenge, s.nonce = pkceChallenge(st.CodeVerifier), st.Nonce
	s.mu.Unlock()
	return st
}

// TestSeedFlowSMS runs the seed's four calls — authenticate with username and
// password, choose the phone, choose SMS, enter the code — then UserInfo,
// Refresh and Revoke.
func TestSeedFlowSMS(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxIntrospect),
		exchange{path: "/idp/idx/identify", accept: g3Accepts, fixture: fxSelect,
			body: body(`"identifier":"tester@okta1.com","credentials":{"passcode":"correct horse"},` + sh(t, fxIntrospect, "identify"))},
		introspectEx(fxSelect),
		exchange{path: "/idp/idx/challenge", accept: g3Accepts, fixture: fxVerifySMS,
			body: body(`"authenticator":{"id":"aut2h3fft10VeLDPD1d7","enrollmentId":"sms2h3goa8cfOEBYw1d7"},` + sh(t, fxSelect, "select-authenticator-authenticate"))},
		introspectEx(fxVerifySMS),
		exchange{path: "/idp/idx/challenge", accept: g3Accepts, fixture: fxChallengeSMS,
			body: body(`"authenticator":{"id":"aut41wnl0jzrilXNz5d7","enrollmentId":"sms4bvjioge7Sdu3p5d7","methodType":"sms"},` + sh(t, fxVerifySMS, "authenticator-verification-data"))},
		introspectEx(fxChallengeSMS),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, fixture: fxSuccess,
			body: body(`"credentials":{"passcode":"123456"},` + sh(t, fxChallengeSMS, "challenge-authenticator"))},
	)
	c := s.client("openid", "email", "offline_access")
	ctx := context.Background()

	// 1. authenticate({username, password})
	tx, err := c.Authenticate(ctx, nil, Options{Username: "tester@okta1.com", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, selectStepG3()))
	first := *tx.State
	first.StateHandle = ""
	if first.Version != 1 || first.Issuer != s.issuer() || first.ClientID != testClientID ||
		first.InteractionHandle != fixtureInteractionHandle || len(first.CodeVerifier) < 43 || first.OAuthState == "" || first.Nonce == "" {
		t.Fatalf("new State = %+v", first)
	}
	wantState(t, tx, &first, topStateHandle(t, fxSelect))
	if len(s.interacts) != 1 {
		t.Fatalf("interact called %d times", len(s.interacts))
	}
	wantInteract := url.Values{
		"client_id": {testClientID}, "scope": {"openid email offline_access"}, "redirect_uri": {testRedirectURI},
		"code_challenge": {pkceChallenge(first.CodeVerifier)}, "code_challenge_method": {"S256"},
		"state": {first.OAuthState}, "nonce": {first.Nonce},
	}
	if !reflect.DeepEqual(s.interacts[0], wantInteract) {
		t.Fatalf("interact form = %v, want %v", s.interacts[0], wantInteract)
	}

	// 2. authenticate({authenticator: "phone_number"})
	tx, err = c.Authenticate(ctx, tx.State, Options{Authenticator: "phone_number"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, true, nil, verifySMSSteps()...))
	wantState(t, tx, &first, topStateHandle(t, fxVerifySMS))

	// 3. authenticate({methodType: "sms"})
	tx, err = c.Authenticate(ctx, tx.State, Options{MethodType: "sms"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, true, nil, challengeSMSSteps()...))
	wantState(t, tx, &first, topStateHandle(t, fxChallengeSMS))

	// 4. authenticate({verificationCode})
	tx, err = c.Authenticate(ctx, tx.State, Options{VerificationCode: "123456"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusSuccess, RequestSucceeded: true})
	if tx.State != nil {
		t.Fatalf("State after SUCCESS = %v, want nil", tx.State)
	}
	if len(s.interacts) != 1 {
		t.Fatalf("interact called %d times, want once", len(s.interacts))
	}
	wantToken := url.Values{
		"grant_type": {"interaction_code"}, "client_id": {testClientID}, "redirect_uri": {testRedirectURI},
		"code_verifier": {first.CodeVerifier}, "interaction_code": {fixtureInteractionCode},
	}
	if len(s.tokenReqs) != 1 || !reflect.DeepEqual(s.tokenReqs[0], wantToken) {
		t.Fatalf("token requests = %v, want [%v]", s.tokenReqs, wantToken)
	}
	tok := tx.Tokens
	if tok == nil || tok.AccessToken == "" || tok.IDToken == "" || tok.TokenType != "Bearer" || tok.RefreshToken != "refresh-1" {
		t.Fatalf("tokens = %+v", tok)
	}
	if !reflect.DeepEqual(tok.Scopes, []string{"openid", "email", "offline_access"}) {
		t.Fatalf("scopes = %v", tok.Scopes)
	}
	if d := time.Until(tok.ExpiresAt); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("ExpiresAt in %v, want ~1h", d)
	}
	if tok.IDTokenClaims["sub"] != testSubject || tok.IDTokenClaims["nonce"] != first.Nonce {
		t.Fatalf("ID token claims = %v", tok.IDTokenClaims)
	}

	// getUserInfo()
	info, err := c.UserInfo(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if info["sub"] != testSubject || info["email"] != "tester@example.com" {
		t.Fatalf("userinfo = %v", info)
	}
	if s.userinfos[0] != "Bearer "+tok.AccessToken {
		t.Fatalf("userinfo Authorization = %q", s.userinfos[0])
	}

	// Refresh, then revoke the new refresh token.
	refreshed, err := c.Refresh(ctx, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	wantRefresh := url.Values{
		"grant_type": {"refresh_token"}, "client_id": {testClientID}, "refresh_token": {"refresh-1"},
		"scope": {"openid email offline_access"},
	}
	if !reflect.DeepEqual(s.tokenReqs[1], wantRefresh) {
		t.Fatalf("refresh form = %v, want %v", s.tokenReqs[1], wantRefresh)
	}
	if refreshed.RefreshToken != "refresh-2" || refreshed.AccessToken == tok.AccessToken || refreshed.IDTokenClaims["sub"] != testSubject {
		t.Fatalf("refreshed = %+v", refreshed)
	}
	if err := c.Revoke(ctx, refreshed.RefreshToken, "refresh_token"); err != nil {
		t.Fatal(err)
	}
	wantRevoke := url.Values{"token": {"refresh-2"}, "token_type_hint": {"refresh_token"}, "client_id": {testClientID}}
	if len(s.revokes) != 1 || !reflect.DeepEqual(s.revokes[0].form, wantRevoke) || s.revokes[0].authorization != "" {
		t.Fatalf("revoke = %+v, want form %v without Authorization", s.revokes, wantRevoke)
	}
}

// TestVoiceFlowOldStyle uses the old-style recordings (accepts
// application/vnd.okta.v1+json, no enrollmentId in the data form, a passcode
// field not marked required).
func TestVoiceFlowOldStyle(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxVerifySMSVoice),
		exchange{path: "/idp/idx/challenge", accept: oldAccepts, fixture: fxChallengeVoice,
			body: body(`"authenticator":{"id":"id-phone-authenticator","methodType":"voice"},` + sh(t, fxVerifySMSVoice, "authenticator-verification-data"))},
		introspectEx(fxChallengeVoice),
		exchange{path: "/idp/idx/challenge/answer", accept: oldAccepts, fixture: fxSuccess,
			body: body(`"credentials":{"passcode":"654321"},` + sh(t, fxChallengeVoice, "challenge-authenticator"))},
	)
	c := s.client()
	ctx := context.Background()
	st := newTestState(s)

	tx, err := c.Proceed(ctx, st, Options{MethodType: "voice"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, true, nil, challengeVoiceSteps()...))
	wantState(t, tx, st, topStateHandle(t, fxChallengeVoice))

	tx, err = c.Proceed(ctx, tx.State, Options{VerificationCode: "654321"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusSuccess, RequestSucceeded: true})
	if tx.Tokens == nil || tx.Tokens.IDTokenClaims["nonce"] != "test-nonce" {
		t.Fatalf("tokens = %+v", tx.Tokens)
	}
}

// TestValuesUpFront gives every value in one call: the SDK chains identify,
// select (sending the known methodType with the choice), and — because the
// server still asks for the method — the data step, which uses the methodType
// the select step did not consume.
func TestValuesUpFront(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxIntrospect),
		exchange{path: "/idp/idx/identify", accept: g3Accepts, fixture: fxSelect,
			body: body(`"identifier":"tester@okta1.com","credentials":{"passcode":"pw"},"rememberMe":true,` + sh(t, fxIntrospect, "identify"))},
		exchange{path: "/idp/idx/challenge", accept: g3Accepts, fixture: fxVerifySMSVoice,
			body: body(`"authenticator":{"id":"aut2h3fft10VeLDPD1d7","enrollmentId":"sms2h3goa8cfOEBYw1d7","methodType":"voice"},` + sh(t, fxSelect, "select-authenticator-authenticate"))},
		exchange{path: "/idp/idx/challenge", accept: oldAccepts, fixture: fxChallengeVoice,
			body: body(`"authenticator":{"id":"id-phone-authenticator","methodType":"voice"},` + sh(t, fxVerifySMSVoice, "authenticator-verification-data"))},
	)
	c := s.client()
	tx, err := c.Authenticate(context.Background(), nil, Options{
		Username: "tester@okta1.com", Password: "pw", RememberMe: true, Authenticator: "phone_number", MethodType: "voice",
		VerificationCode: "", // not known yet: the loop stops at the challenge
	})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, true, nil, challengeVoiceSteps()...))
}

func TestWrongPasswordThenRight(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxIntrospect),
		exchange{path: "/idp/idx/identify", accept: g3Accepts, status: 401, fixture: fxWrongPassword,
			body: body(`"identifier":"tester@okta1.com","credentials":{"passcode":"wrong"},` + sh(t, fxIntrospect, "identify"))},
		introspectEx(fxWrongPassword),
		exchange{path: "/idp/idx/identify", accept: g3Accepts, fixture: fxSelect,
			body: body(`"identifier":"tester@okta1.com","credentials":{"passcode":"right"},` + sh(t, fxWrongPassword, "identify"))},
	)
	c := s.client()
	ctx := context.Background()
	tx, err := c.Authenticate(ctx, nil, Options{Username: "tester@okta1.com", Password: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	// The first introspect succeeded, so its stateHandle is kept; the 401
	// reply's is not.
	assertTx(t, tx, offering(pending(false, false, []Message{msgWrongPassword}, identifySteps()...)))
	st := *tx.State
	if st.StateHandle != topStateHandle(t, fxIntrospect) {
		t.Fatalf("StateHandle = %q, want the last 2xx one", st.StateHandle)
	}

	tx, err = c.Authenticate(ctx, &st, Options{Username: "tester@okta1.com", Password: "right"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, selectStepG3()))
	if len(s.interacts) != 1 {
		t.Fatalf("interact called %d times, want once (the State was reused)", len(s.interacts))
	}
}

func TestUnknownUser(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxIntrospect),
		exchange{path: "/idp/idx/identify", accept: g3Accepts, status: 401, fixture: fxUnknownUser,
			body: body(`"identifier":"testeruser@okta1.com","credentials":{"passcode":"x"},` + sh(t, fxIntrospect, "identify"))},
	)
	tx, err := s.client().Proceed(context.Background(), newTestState(s), Options{Username: "testeruser@okta1.com", Password: "x"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, offering(pending(false, false, []Message{msgUnknownUser}, identifySteps()...)))
}

func TestWrongCodeThenRight(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxChallengeSMS),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, status: 401, fixture: fxWrongCode,
			body: body(`"credentials":{"passcode":"000000"},` + sh(t, fxChallengeSMS, "challenge-authenticator"))},
		introspectEx(fxChallengeSMS),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, fixture: fxSuccess,
			body: body(`"credentials":{"passcode":"123456"},` + sh(t, fxChallengeSMS, "challenge-authenticator"))},
	)
	c := s.client()
	ctx := context.Background()
	st := newTestState(s)
	tx, err := c.Proceed(ctx, st, Options{VerificationCode: "000000"})
	if err != nil {
		t.Fatal(err)
	}
	wrongCodeSteps := []NextStep{
		{Name: "challenge-authenticator", Type: "phone", Inputs: []Input{codeInput(true, msgWrongCode)}, Authenticator: &Authenticator{
			ID: "aut42u00umbdGDfcc1d7", EnrollmentID: "smszlqthjBfkHCb5k0g3", Key: "phone_number", Type: "phone",
			DisplayName: "Phone", Methods: []string{"sms"}, Profile: map[string]string{"phoneNumber": "+1 XXX-XXX-4586"},
		}},
		// The option form's enrollmentId wins over the id of the enrollment
		// its relatesTo points at (they differ in this old-style recording).
		choiceStep("select-authenticator-authenticate", authOpt("Phone", &Authenticator{
			ID: "autx9edDchZp2NGHq0g3", EnrollmentID: "smszlqthjBfkHCb5k0g3", Key: "phone_number", Type: "phone",
			DisplayName: "Phone", Methods: []string{"sms"}, Profile: map[string]string{"phoneNumber": "+1 XXX-XXX-4586"},
		})),
	}
	assertTx(t, tx, pending(false, true, []Message{msgWrongCode}, wrongCodeSteps...))
	wantState(t, tx, st, topStateHandle(t, fxChallengeSMS))

	tx, err = c.Proceed(ctx, tx.State, Options{VerificationCode: "123456"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusSuccess, RequestSucceeded: true})
}

func TestResend(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxChallengeSMS),
		exchange{path: "/idp/idx/challenge/resend", accept: g3Accepts, fixture: fxChallengeSMS,
			body: body(sh(t, fxChallengeSMS, "currentAuthenticatorEnrollment.resend"))},
		// Resend again, now over the SMS limit: a 429 without remediation.
		introspectEx(fxChallengeSMS),
		exchange{path: "/idp/idx/challenge/resend", accept: g3Accepts, status: 429, fixture: fx429SMS,
			body: body(sh(t, fxChallengeSMS, "currentAuthenticatorEnrollment.resend"))},
		// The State survives the TERMINAL rate limit: the code can still be entered.
		introspectEx(fxChallengeSMS),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, fixture: fxSuccess,
			body: body(`"credentials":{"passcode":"123456"},` + sh(t, fxChallengeSMS, "challenge-authenticator"))},
		// No resend is offered while selecting an authenticator.
		introspectEx(fxSelect),
	)
	c := s.client()
	ctx := context.Background()
	st := newTestState(s)

	tx, err := c.Resend(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, true, nil, challengeSMSSteps()...))

	tx, err = c.Resend(ctx, tx.State)
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusTerminal, Messages: []Message{msgSMSLimit}})
	wantState(t, tx, st, topStateHandle(t, fxChallengeSMS))

	tx, err = c.Proceed(ctx, tx.State, Options{VerificationCode: "123456"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusSuccess, RequestSucceeded: true})

	if _, err := c.Resend(ctx, st); !errors.Is(err, ErrActionUnavailable) {
		t.Fatalf("Resend without a resend action: err = %v, want ErrActionUnavailable", err)
	}
}

func TestCancel(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxChallengeSMS),
		exchange{path: "/idp/idx/cancel", accept: g3Accepts, fixture: fxCancel,
			body: body(sh(t, fxChallengeSMS, "cancel"))},
		// After cancel, Authenticate starts a new interaction.
		introspectEx(fxCancel),
	)
	c := s.client()
	ctx := context.Background()
	tx, err := c.Cancel(ctx, newTestState(s))
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, offering(Transaction{Status: StatusCanceled, RequestSucceeded: true}))
	if tx.State != nil {
		t.Fatalf("State after CANCELED = %v, want nil", tx.State)
	}
	tx, err = c.Authenticate(ctx, tx.State, Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, offering(pending(true, false, nil, identifySteps()...)))
	if len(s.interacts) != 1 {
		t.Fatalf("interact called %d times, want once", len(s.interacts))
	}
	if _, err := c.Cancel(ctx, nil); !errors.Is(err, ErrNoTransaction) {
		t.Fatalf("Cancel(nil): err = %v, want ErrNoTransaction", err)
	}
}

func TestExpiredSession(t *testing.T) {
	s := newReplayServer(t,
		// Expired interaction handle on introspect.
		exchange{path: "/idp/idx/introspect", body: `{"interactionHandle":"` + fixtureInteractionHandle + `"}`, status: 401, fixture: fxExpired},
		// Expired state handle on a form post, variant echoing the state.
		introspectEx(fxIntrospect),
		exchange{path: "/idp/idx/identify", accept: g3Accepts, status: 401, fixture: fxExpiredState,
			body: body(`"identifier":"u","credentials":{"passcode":"p"},` + sh(t, fxIntrospect, "identify"))},
	)
	c := s.client()
	ctx := context.Background()
	st := newTestState(s)
	tx, err := c.Proceed(ctx, st, Options{Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusTerminal, Messages: []Message{msgExpired}})
	// An error TERMINAL keeps the State, as auth-js keeps its storage.
	wantState(t, tx, st, "")

	tx, err = c.Proceed(ctx, st, Options{Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusTerminal, Messages: []Message{msgInactive}})
	wantState(t, tx, st, topStateHandle(t, fxIntrospect))
}

func TestRateLimits(t *testing.T) {
	s := newReplayServer(t,
		// 429 with the VERIFY_DATA remediations kept: PENDING with the message.
		introspectEx(fxVerifySMSVoice),
		exchange{path: "/idp/idx/challenge", accept: oldAccepts, status: 429, fixture: fx429Voice,
			body: body(`"authenticator":{"id":"id-phone-authenticator","methodType":"voice"},` + sh(t, fxVerifySMSVoice, "authenticator-verification-data"))},
		// 429 without remediation: TERMINAL, State kept.
		introspectEx(fxVerifySMSVoice),
		exchange{path: "/idp/idx/challenge", accept: oldAccepts, status: 429, fixture: fx429,
			body: body(`"authenticator":{"id":"id-phone-authenticator","methodType":"sms"},` + sh(t, fxVerifySMSVoice, "authenticator-verification-data"))},
		// The classic API rate-limit body: TERMINAL with its summary.
		introspectEx(fxVerifySMSVoice),
		exchange{path: "/idp/idx/challenge", accept: oldAccepts, status: 429, fixture: fx429API,
			body: body(`"authenticator":{"id":"id-phone-authenticator","methodType":"sms"},` + sh(t, fxVerifySMSVoice, "authenticator-verification-data"))},
	)
	c := s.client()
	ctx := context.Background()
	st := newTestState(s)

	tx, err := c.Proceed(ctx, st, Options{MethodType: "voice"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(false, true, []Message{msgVoiceLimit}, verifyOldSteps()...))

	tx, err = c.Proceed(ctx, tx.State, Options{MethodType: "sms"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusTerminal, Messages: []Message{msgTooMany}})
	wantState(t, tx, st, topStateHandle(t, fxVerifySMSVoice))

	tx, err = c.Proceed(ctx, tx.State, Options{MethodType: "sms"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusTerminal, Messages: []Message{msgAPILimit}})
	wantState(t, tx, st, topStateHandle(t, fxVerifySMSVoice))
}

func TestAccessDenied(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxIntrospect),
		exchange{path: "/idp/idx/identify", accept: g3Accepts, status: 403, fixture: fx403,
			body: body(`"identifier":"u","credentials":{"passcode":"p"},` + sh(t, fxIntrospect, "identify"))},
	)
	tx, err := s.client().Proceed(context.Background(), newTestState(s), Options{Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusTerminal, Messages: []Message{msgAccessDenied}})
	if tx.State == nil {
		t.Fatal("State dropped after an error TERMINAL")
	}
}

// TestEnrollmentFlow enrolls a phone during sign-in: choose the phone, give
// an invalid number, then a valid one with voice... then SMS, a wrong code
// and the right one.
func TestEnrollmentFlow(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxIntrospect),
		exchange{path: "/idp/idx/identify", accept: g3Accepts, fixture: fxSelectEnroll,
			body: body(`"identifier":"tester13@test.com","credentials":{"passcode":"pw"},` + sh(t, fxIntrospect, "identify"))},
		introspectEx(fxSelectEnroll),
		exchange{path: "/idp/idx/credential/enroll", accept: g3Accepts, fixture: fxEnrollData,
			body: body(`"authenticator":{"id":"aut2h3fft10VeLDPD1d7"},` + sh(t, fxSelectEnroll, "select-authenticator-enroll"))},
		introspectEx(fxEnrollData),
		exchange{path: "/idp/idx/credential/enroll", accept: g3Accepts, status: 400, fixture: fxInvalidPhone,
			body: body(`"authenticator":{"id":"aut2h3fft10VeLDPD1d7","methodType":"sms","phoneNumber":"12"},` + sh(t, fxEnrollData, "authenticator-enrollment-data"))},
		introspectEx(fxEnrollData),
		exchange{path: "/idp/idx/credential/enroll", accept: g3Accepts, fixture: fxEnrollSMS,
			body: body(`"authenticator":{"id":"aut2h3fft10VeLDPD1d7","methodType":"sms","phoneNumber":"+15555550100"},` + sh(t, fxEnrollData, "authenticator-enrollment-data"))},
		introspectEx(fxEnrollSMS),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, status: 401, fixture: fxWrongEnrollCode,
			body: body(`"credentials":{"passcode":"111111"},` + sh(t, fxEnrollSMS, "enroll-authenticator"))},
		introspectEx(fxEnrollSMS),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, fixture: fxSuccess,
			body: body(`"credentials":{"passcode":"222222"},` + sh(t, fxEnrollSMS, "enroll-authenticator"))},
	)
	c := s.client()
	ctx := context.Background()

	tx, err := c.Authenticate(ctx, nil, Options{Username: "tester13@test.com", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, selectEnrollStepFull()))

	tx, err = c.Authenticate(ctx, tx.State, Options{Authenticator: "phone_number"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, true, nil, enrollDataSteps()...))

	tx, err = c.Authenticate(ctx, tx.State, Options{MethodType: "sms", PhoneNumber: "12"})
	if err != nil {
		t.Fatal(err)
	}
	// The recorded 400 reply has capture defects (the id under "id", a voice
	// option without label/value); the SDK reports what it can use.
	assertTx(t, tx, pending(false, true, []Message{msgInvalidPhone},
		NextStep{Name: "authenticator-enrollment-data", Type: "phone", Inputs: []Input{
			methodTypeInput(optSMS),
			{Name: "phoneNumber", Label: "Phone Number", Type: "string", Required: true},
		}, Authenticator: phoneEnroll("aut23bgproCCEkFom0g4", "sms", "voice")},
		choiceStep("select-authenticator-enroll",
			authOpt("Okta Verify", &Authenticator{ID: "aut23c6ZxGsdVvWOm0g4", Key: "okta_verify", Type: "app", DisplayName: "Okta Verify", Methods: []string{"signed_nonce"}}),
			authOpt("Phone", phoneEnroll("aut23bgproCCEkFom0g4", "sms", "voice"))),
	))

	tx, err = c.Authenticate(ctx, tx.State, Options{MethodType: "sms", PhoneNumber: "+15555550100"})
	if err != nil {
		t.Fatal(err)
	}
	enrollSMSSteps := func(msgs ...Message) []NextStep {
		return []NextStep{
			{Name: "enroll-authenticator", Type: "phone", Inputs: []Input{codeInput(true, msgs...)}, Authenticator: phoneEnroll("aut2h3fft10VeLDPD1d7", "sms")},
			selectEnrollStepFull(),
		}
	}
	assertTx(t, tx, pending(true, true, nil, enrollSMSSteps()...))

	tx, err = c.Authenticate(ctx, tx.State, Options{VerificationCode: "111111"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(false, true, []Message{msgWrongCode},
		NextStep{Name: "enroll-authenticator", Type: "phone", Inputs: []Input{codeInput(true, msgWrongCode)}, Authenticator: phoneEnroll("aut2adp1IdAkHLkAf0g4", "sms")},
		selectEnrollStepPhone("aut2adp1IdAkHLkAf0g4"),
	))

	tx, err = c.Authenticate(ctx, tx.State, Options{VerificationCode: "222222"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusSuccess, RequestSucceeded: true})
}

// TestEnrollmentVoiceUpFront chooses the phone with method and number at
// once: the select step sends them along with the choice,
// and the server goes straight to the voice challenge.
func TestEnrollmentVoiceUpFront(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxSelectEnroll),
		exchange{path: "/idp/idx/credential/enroll", accept: g3Accepts, fixture: fxEnrollVoice,
			body: body(`"authenticator":{"id":"aut2h3fft10VeLDPD1d7","methodType":"voice","phoneNumber":"+15555550100"},` + sh(t, fxSelectEnroll, "select-authenticator-enroll"))},
	)
	tx, err := s.client().Proceed(context.Background(), newTestState(s),
		Options{Authenticator: "phone_number", MethodType: "voice", PhoneNumber: "+15555550100"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, true, nil,
		NextStep{Name: "enroll-authenticator", Type: "phone", Inputs: []Input{codeInput(true)}, Authenticator: phoneEnroll("aut2h3fft10VeLDPD1d7", "voice")},
		selectEnrollStepPhone("aut2h3fft10VeLDPD1d7"),
	))
}

// TestNothingToPost: values that fit no step, and the phone named by its type
// instead of its key, leave the step as it was without any post.
func TestNothingToPost(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxSelect),
		introspectEx(fxSelect),
	)
	c := s.client()
	ctx := context.Background()
	for _, opts := range []Options{{Authenticator: "phone"}, {VerificationCode: "123456"}} {
		tx, err := c.Proceed(ctx, newTestState(s), opts)
		if err != nil {
			t.Fatal(err)
		}
		assertTx(t, tx, pending(true, false, nil, selectStepG3()))
	}
	// In a challenge, naming the phone again — by key or enrollment id, with
	// another method or not — does not re-select it (that would send a new
	// code; auth-js does not either): the challenge stays the next step. So
	// does naming the step without saying what to choose in it.
	for _, opts := range []Options{
		{Authenticator: "phone_number"},
		{Authenticator: "phone_number", MethodType: "voice"},
		{Authenticator: "sms4bvjioge7Sdu3p5d7", MethodType: "voice"},
		{Step: "select-authenticator-authenticate", MethodType: "voice"},
	} {
		s.expect(introspectEx(fxChallengeSMS))
		tx, err := c.Proceed(ctx, newTestState(s), opts)
		if err != nil {
			t.Fatal(err)
		}
		assertTx(t, tx, pending(true, true, nil, challengeSMSSteps()...))
	}
}

// TestCallMeInstead: from the code step, naming select-authenticator-authenticate
// in Options.Step re-selects the phone being verified, with the option's ids
// and the new method — how "call me instead" works.
func TestCallMeInstead(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxChallengeSMS),
		exchange{path: "/idp/idx/challenge", accept: g3Accepts, fixture: fxChallengeVoice,
			body: body(`"authenticator":{"id":"aut41wnl0jzrilXNz5d7","methodType":"voice","enrollmentId":"sms4bvjioge7Sdu3p5d7"},` +
				sh(t, fxChallengeSMS, "select-authenticator-authenticate"))},
	)
	st := newTestState(s)
	tx, err := s.client().Proceed(context.Background(), st, Options{
		Step: "select-authenticator-authenticate", Authenticator: "phone_number", MethodType: "voice",
	})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, true, nil, challengeVoiceSteps()...))
	wantState(t, tx, st, topStateHandle(t, fxChallengeVoice))
}

// twoPhonesSelect is idx-02 with a second phone enrolled: a second "Phone"
// option right after the first, relating to a new enrollment with its own
// enrollmentId and masked number.
func twoPhonesSelect(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "fixtures", fxSelect))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	enrollments := doc["authenticatorEnrollments"].(map[string]any)
	list := enrollments["value"].([]any)
	enrollments["value"] = append(list, map[string]any{
		"profile": map[string]any{"phoneNumber": "+1 XXX-XXX-7788"},
		"type":    "phone", "key": "phone_number", "id": "sms2SECONDphone", "displayName": "Phone",
		"methods": []any{map[string]any{"type": "sms"}, map[string]any{"type": "voice"}},
	})
	field := doc["remediation"].(map[string]any)["value"].([]any)[0].(map[string]any)["value"].([]any)[0].(map[string]any)
	opts := field["options"].([]any)
	var second map[string]any
	copied, _ := json.Marshal(opts[2]) // the first phone
	if err := json.Unmarshal(copied, &second); err != nil {
		t.Fatal(err)
	}
	second["relatesTo"] = fmt.Sprintf("$.authenticatorEnrollments.value[%d]", len(list))
	for _, f := range second["value"].(map[string]any)["form"].(map[string]any)["value"].([]any) {
		if f := f.(map[string]any); f["name"] == "enrollmentId" {
			f["value"] = "sms2SECONDphone"
		}
	}
	field["options"] = append(opts[:3:3], append([]any{second}, opts[3:]...)...)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestTwoPhones: each phone is an option with the same Value and its own
// Authenticator (enrollment id, masked number); the enrollment id picks the
// second, the key the first.
func TestTwoPhones(t *testing.T) {
	twoPhones := twoPhonesSelect(t)
	shSelect := sh(t, fxSelect, "select-authenticator-authenticate")
	s := newReplayServer(t,
		introspectEx(twoPhones),
		introspectEx(twoPhones),
		exchange{path: "/idp/idx/challenge", accept: g3Accepts, fixture: fxVerifySMS,
			body: body(`"authenticator":{"id":"aut2h3fft10VeLDPD1d7","enrollmentId":"sms2SECONDphone"},` + shSelect)},
		introspectEx(twoPhones),
		exchange{path: "/idp/idx/challenge", accept: g3Accepts, fixture: fxVerifySMS,
			body: body(`"authenticator":{"id":"aut2h3fft10VeLDPD1d7","enrollmentId":"sms2h3goa8cfOEBYw1d7"},` + shSelect)},
	)
	c := s.client()
	ctx := context.Background()

	tx, err := c.Proceed(ctx, newTestState(s), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := selectStepG3()
	opts := want.Inputs[0].Options
	secondPhone := authOpt("Phone", &Authenticator{ID: "aut2h3fft10VeLDPD1d7", EnrollmentID: "sms2SECONDphone",
		Key: "phone_number", Type: "phone", DisplayName: "Phone", Methods: []string{"sms", "voice"},
		Profile: map[string]string{"phoneNumber": "+1 XXX-XXX-7788"}})
	want.Inputs[0].Options = append(opts[:3:3], append([]Option{secondPhone}, opts[3:]...)...)
	assertTx(t, tx, pending(true, false, nil, want))

	phones := tx.NextStep.Inputs[0].Options[2:4]
	if phones[0].Value != phones[1].Value || phones[0].Authenticator.EnrollmentID == phones[1].Authenticator.EnrollmentID {
		t.Fatalf("phones = %+v", phones)
	}
	for _, choice := range []string{phones[1].Authenticator.EnrollmentID, "phone_number"} {
		tx, err = c.Proceed(ctx, newTestState(s), Options{Authenticator: choice})
		if err != nil {
			t.Fatal(err)
		}
		assertTx(t, tx, pending(true, true, nil, verifySMSSteps()...))
	}
}

// TestUnknownRemediations: steps the SDK does not know are described
// generically (raw field paths, nested forms flattened) and posted only when
// Options.Step names them.
func TestUnknownRemediations(t *testing.T) {
	const enrollProfile = `{
	  "version": "1.0.0",
	  "stateHandle": "02PROFILE",
	  "remediation": {"type": "array", "value": [
	    {"rel": ["create-form"], "name": "enroll-profile", "href": "http://localhost:3000/idp/idx/enroll/new",
	     "method": "POST", "accepts": "application/json; okta-version=1.0.0",
	     "value": [
	       {"name": "userProfile", "form": {"value": [
	          {"name": "firstName", "label": "First name", "required": true, "minLength": 1, "maxLength": 50},
	          {"name": "email", "label": "Email", "required": true},
	          {"name": "newsletter", "type": "boolean", "label": "Send me news"}]}},
	       {"name": "locale", "label": "Language", "options": [{"label": "English", "value": "en"}, {"label": "Deutsch", "value": "de"}], "value": "en"},
	       {"name": "tenant", "value": "acme", "mutable": false, "visible": false},
	       {"name": "stateHandle", "required": true, "value": "02PROFILE", "visible": false, "mutable": false}]},
	    {"rel": ["create-form"], "name": "select-identify", "href": "http://localhost:3000/idp/idx/identify/select",
	     "value": [{"name": "stateHandle", "required": true, "value": "02PROFILE", "visible": false, "mutable": false}]}
	  ]},
	  "cancel": {"rel": ["create-form"], "name": "cancel", "href": "http://localhost:3000/idp/idx/cancel",
	     "value": [{"name": "stateHandle", "required": true, "value": "02PROFILE", "visible": false, "mutable": false}]}
	}`
	profileStep := NextStep{Name: "enroll-profile", Inputs: []Input{
		{Name: "userProfile.firstName", Label: "First name", Type: "string", Required: true},
		{Name: "userProfile.email", Label: "Email", Type: "string", Required: true},
		{Name: "userProfile.newsletter", Label: "Send me news", Type: "boolean"},
		{Name: "locale", Label: "Language", Type: "string", Options: []Option{{Label: "English", Value: "en"}, {Label: "Deutsch", Value: "de"}}},
	}}
	s := newReplayServer(t,
		// Unknown step first: PENDING with its inputs, nothing posted even
		// though a username is given.
		introspectEx(fxIntrospect),
		exchange{path: "/idp/idx/enroll", accept: g3Accepts, fixture: enrollProfile,
			body: body(sh(t, fxIntrospect, "select-enroll-profile"))},
		introspectEx(enrollProfile),
		introspectEx(enrollProfile),
		exchange{path: "/idp/idx/enroll/new", accept: g3Accepts, fixture: fxSelectEnroll,
			body: `{"userProfile":{"firstName":"Ada","email":"ada@example.com"},"locale":"en","tenant":"acme","stateHandle":"02PROFILE"}`},
	)
	c := s.client()
	ctx := context.Background()
	st := newTestState(s)

	// Naming a step the SDK does not know posts it (here: no inputs).
	tx, err := c.Proceed(ctx, st, Options{Step: "select-enroll-profile"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, profileStep, namedStep("select-identify")))

	// Without Step the unknown first step is only described.
	tx, err = c.Proceed(ctx, st, Options{Username: "ada", Values: map[string]any{"userProfile.firstName": "Ada"}})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, profileStep, namedStep("select-identify")))

	// With Step and Values it is posted; the server default of "locale" and
	// the immutable "tenant" are sent, the unset boolean is not.
	tx, err = c.Proceed(ctx, st, Options{Step: "enroll-profile", Values: map[string]any{
		"userProfile.firstName": "Ada", "userProfile.email": "ada@example.com",
	}})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, selectEnrollStepFull()))
}

// TestPasswordAsSeparateStep: an identifier-first org asks for the password
// in a challenge after selecting the password authenticator; the password
// given up front selects it (as auth-js adds authenticator okta_password) and
// answers the challenge with "password", not "verificationCode".
func TestPasswordAsSeparateStep(t *testing.T) {
	const identifyOnly = `{"version":"1.0.0","stateHandle":"02IDF","remediation":{"type":"array","value":[
	  {"rel":["create-form"],"name":"identify","href":"http://localhost:3000/idp/idx/identify","method":"POST",
	   "value":[{"name":"identifier","label":"Username","required":true},
	            {"name":"stateHandle","required":true,"value":"02IDF","visible":false,"mutable":false}]}]}}`
	const selectPassword = `{"version":"1.0.0","stateHandle":"02IDF","remediation":{"type":"array","value":[
	  {"rel":["create-form"],"name":"select-authenticator-authenticate","href":"http://localhost:3000/idp/idx/challenge","method":"POST",
	   "value":[{"name":"authenticator","type":"object","options":[
	      {"label":"Password","value":{"form":{"value":[{"name":"id","required":true,"value":"autPW","mutable":false},
	                                                    {"name":"methodType","required":false,"value":"password","mutable":false}]}},
	       "relatesTo":"$.authenticators.value[0]"}]},
	     {"name":"stateHandle","required":true,"value":"02IDF","visible":false,"mutable":false}]}]},
	  "authenticators":{"type":"array","value":[{"type":"password","key":"okta_password","id":"autPW","displayName":"Password","methods":[{"type":"password"}]}]}}`
	const challengePassword = `{"version":"1.0.0","stateHandle":"02IDF","remediation":{"type":"array","value":[
	  {"rel":["create-form"],"name":"challenge-authenticator","relatesTo":["$.currentAuthenticatorEnrollment"],
	   "href":"http://localhost:3000/idp/idx/challenge/answer","method":"POST",
	   "value":[{"name":"credentials","type":"object","required":true,"form":{"value":[{"name":"passcode","label":"Password","secret":true}]}},
	            {"name":"stateHandle","required":true,"value":"02IDF","visible":false,"mutable":false}]}]},
	  "currentAuthenticatorEnrollment":{"type":"object","value":{"type":"password","key":"okta_password","id":"lae1","displayName":"Password","methods":[{"type":"password"}]}},
	  "authenticators":{"type":"array","value":[{"type":"password","key":"okta_password","id":"autPW","displayName":"Password"}]}}`
	s := newReplayServer(t,
		introspectEx(identifyOnly),
		exchange{path: "/idp/idx/identify", accept: "application/ion+json", fixture: selectPassword,
			body: `{"identifier":"ada","stateHandle":"02IDF"}`},
		exchange{path: "/idp/idx/challenge", accept: "application/ion+json", fixture: challengePassword,
			body: `{"authenticator":{"id":"autPW","methodType":"password"},"stateHandle":"02IDF"}`},
		exchange{path: "/idp/idx/challenge/answer", accept: "application/ion+json", fixture: fxSuccess,
			body: `{"credentials":{"passcode":"pw"},"stateHandle":"02IDF"}`},
		introspectEx(challengePassword),
	)
	c := s.client()
	tx, err := c.Proceed(context.Background(), newTestState(s), Options{Username: "ada", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusSuccess, RequestSucceeded: true})

	tx, err = c.Proceed(context.Background(), newTestState(s), Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, false, nil, NextStep{
		Name: "challenge-authenticator", Type: "password",
		Inputs:        []Input{{Name: "password", Label: "Password", Type: "string", Required: true, Secret: true}},
		Authenticator: &Authenticator{ID: "autPW", EnrollmentID: "lae1", Key: "okta_password", Type: "password", DisplayName: "Password", Methods: []string{"password"}},
	}))
}

// TestProtocolFailures: what is not a user mistake is a Go error.
func TestProtocolFailures(t *testing.T) {
	introspect := `{"interactionHandle":"` + fixtureInteractionHandle + `"}`
	cases := []struct {
		name  string
		reply exchange
		is    []error
	}{
		{"unresolvable relatesTo", exchange{fixture: `{"version":"1.0.0","stateHandle":"x","remediation":{"type":"array","value":[
			{"rel":["create-form"],"name":"challenge-authenticator","relatesTo":["$.currentAuthenticatorEnrollment"],"href":"http://localhost:3000/idp/idx/challenge/answer","value":[]}]}}`},
			[]error{ErrProtocol, ErrUnresolvedRelatesTo}},
		{"option relatesTo out of range", exchange{fixture: `{"version":"1.0.0","remediation":{"type":"array","value":[
			{"rel":["create-form"],"name":"select-authenticator-authenticate","href":"http://localhost:3000/x","value":[
			  {"name":"authenticator","type":"object","options":[{"label":"Phone","value":{"form":{"value":[]}},"relatesTo":"$.authenticators.value[3]"}]}]}]},
			"authenticators":{"type":"array","value":[]}}`},
			[]error{ErrProtocol, ErrUnresolvedRelatesTo}},
		{"unknown version", exchange{fixture: `{"version":"2.0.0","remediation":{"type":"array","value":[]}}`}, []error{ErrProtocol}},
		{"no version", exchange{fixture: `{"remediation":{"type":"array","value":[]}}`}, []error{ErrProtocol}},
		{"malformed JSON", exchange{raw: `{"version":"1.0.0",`}, []error{ErrProtocol}},
		{"proxy error page", exchange{status: 502, raw: `<html>Bad gateway</html>`}, []error{ErrProtocol}},
		{"OAuth error body", exchange{status: 400, fixture: `{"error":"invalid_request","error_description":"bad handle"}`}, []error{ErrOAuth}},
		{"2xx with error", exchange{fixture: `{"version":"1.0.0","error":"server_error"}`}, []error{ErrOAuth}},
		{"remediation not a list", exchange{fixture: `{"version":"1.0.0","remediation":{"type":"array","value":{"name":"identify"}}}`}, []error{ErrProtocol}},
		{"field not an object", exchange{fixture: `{"version":"1.0.0","remediation":{"type":"array","value":[{"name":"identify","value":["identifier"]}]}}`}, []error{ErrProtocol}},
		{"relative href", exchange{fixture: `{"version":"1.0.0","remediation":{"type":"array","value":[
			{"rel":["create-form"],"name":"identify","href":"/idp/idx/identify","value":[{"name":"identifier","required":true}]}]}}`},
			[]error{ErrProtocol}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ex := tc.reply
			ex.path, ex.body = "/idp/idx/introspect", introspect
			s := newReplayServer(t, ex)
			_, err := s.client().Proceed(context.Background(), newTestState(s), Options{Username: "u"})
			for _, target := range tc.is {
				if !errors.Is(err, target) {
					t.Fatalf("err = %v, want errors.Is %v", err, target)
				}
			}
		})
	}
	t.Run("OAuth error detail", func(t *testing.T) {
		s := newReplayServer(t, exchange{path: "/idp/idx/introspect", body: introspect, status: 400,
			fixture: `{"error":"invalid_request","error_description":"bad handle"}`})
		_, err := s.client().Proceed(context.Background(), newTestState(s), Options{})
		var oe *OAuthError
		if !errors.As(err, &oe) || *oe != (OAuthError{Code: "invalid_request", Description: "bad handle", Status: 400}) {
			t.Fatalf("err = %#v", err)
		}
	})
	t.Run("network", func(t *testing.T) {
		s := newReplayServer(t)
		c := s.client()
		st := newTestState(s)
		s.srv.Close()
		_, err := c.Proceed(context.Background(), st, Options{})
		if !errors.Is(err, ErrNetwork) {
			t.Fatalf("err = %v, want ErrNetwork", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		s := newReplayServer(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := s.client().Proceed(ctx, newTestState(s), Options{})
		if !errors.Is(err, ErrNetwork) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want ErrNetwork and context.Canceled", err)
		}
	})
}

func TestInteractErrors(t *testing.T) {
	s := newReplayServer(t)
	s.interactStatus, s.interactFixture = 400, "oauth-interact-error-unauthorized-client.json"
	_, err := s.client().Authenticate(context.Background(), nil, Options{Username: "u"})
	var oe *OAuthError
	if !errors.Is(err, ErrOAuth) || !errors.As(err, &oe) || oe.Code != "unauthorized_client" || oe.Status != 400 ||
		!strings.HasPrefix(oe.Description, "The client is not authorized") {
		t.Fatalf("err = %v", err)
	}
}

func TestDiscoveryErrors(t *testing.T) {
	for name, mutate := range map[string]func(map[string]any){
		"issuer mismatch": func(d map[string]any) { d["issuer"] = "https://evil.example/oauth2/default" },
		"no S256":         func(d map[string]any) { d["code_challenge_methods_supported"] = []string{"plain"} },
		"no jwks_uri":     func(d map[string]any) { delete(d, "jwks_uri") },
	} {
		t.Run(name, func(t *testing.T) {
			s := newReplayServer(t)
			s.discoveryMutate = mutate
			_, err := s.client().Authenticate(context.Background(), nil, Options{})
			if !errors.Is(err, ErrDiscovery) {
				t.Fatalf("err = %v, want ErrDiscovery", err)
			}
			if len(s.interacts) != 0 {
				t.Fatal("interact was called despite a bad discovery document")
			}
		})
	}
}

func TestTokenEndpointError(t *testing.T) {
	s := newReplayServer(t, introspectEx(fxSuccess))
	s.tokenStatus, s.tokenFixture = 400, "oauth-token-error-invalid-grant-pkce.json"
	_, err := s.client().Proceed(context.Background(), newTestState(s), Options{})
	var oe *OAuthError
	if !errors.As(err, &oe) || *oe != (OAuthError{Code: "invalid_grant", Description: "PKCE verification failed.", Status: 400}) {
		t.Fatalf("err = %v", err)
	}
}

func TestUserInfoRejected(t *testing.T) {
	s := newReplayServer(t)
	_, err := s.client().UserInfo(context.Background(), "not-a-token")
	var oe *OAuthError
	if !errors.As(err, &oe) || *oe != (OAuthError{Code: "invalid_token", Description: "The access token is invalid.", Status: 401}) {
		t.Fatalf("err = %v", err)
	}
}

func TestRevokeConfidentialClient(t *testing.T) {
	s := newReplayServer(t)
	c, err := NewClient(Config{Issuer: s.issuer(), ClientID: "client:1", ClientSecret: "s3cr=t", RedirectURI: testRedirectURI, HTTPClient: s.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(context.Background(), "at", "access_token"); err != nil {
		t.Fatal(err)
	}
	// RFC 6749 2.3.1: id and secret are form-encoded before Basic encoding.
	if got := s.revokes[0].authorization; got != "Basic Y2xpZW50JTNBMTpzM2NyJTNEdA==" {
		t.Fatalf("Authorization = %q", got)
	}
	if s.revokes[0].contentType != "application/x-www-form-urlencoded" {
		t.Fatalf("Content-Type = %q", s.revokes[0].contentType)
	}
}

// TestTerminalStateRetention: like auth-js, a TERMINAL reply keeps the State
// unless it is a clean end (2xx, no actions, no ERROR message); a cancel whose
// reply offers nothing is TERMINAL, not CANCELED.
func TestTerminalStateRetention(t *testing.T) {
	const cleanEnd = `{"version":"1.0.0","messages":{"type":"array","value":[{"message":"Check your email","i18n":{"key":"idx.return.link"},"class":"INFO"}]}}`
	const errorEnd = `{"version":"1.0.0","stateHandle":"02END","messages":{"type":"array","value":[{"message":"Locked","i18n":{"key":"oie.locked"},"class":"ERROR"}]}}`
	s := newReplayServer(t,
		introspectEx(cleanEnd),
		introspectEx(errorEnd),
		introspectEx(fxChallengeSMS),
		exchange{path: "/idp/idx/cancel", accept: g3Accepts, fixture: cleanEnd, body: body(sh(t, fxChallengeSMS, "cancel"))},
	)
	c := s.client()
	ctx := context.Background()
	tx, err := c.Proceed(ctx, newTestState(s), Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusTerminal, RequestSucceeded: true,
		Messages: []Message{{Text: "Check your email", Key: "idx.return.link", Class: "INFO"}}})
	if tx.State != nil {
		t.Fatal("State kept after a clean TERMINAL")
	}

	tx, err = c.Proceed(ctx, newTestState(s), Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusTerminal, RequestSucceeded: true,
		Messages: []Message{{Text: "Locked", Key: "oie.locked", Class: "ERROR"}}})
	wantState(t, tx, newTestState(s), "02END")

	tx, err = c.Cancel(ctx, newTestState(s))
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, Transaction{Status: StatusTerminal, RequestSucceeded: true,
		Messages: []Message{{Text: "Check your email", Key: "idx.return.link", Class: "INFO"}}})
}
