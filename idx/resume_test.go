package idx

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// resumeClient is a Client that returns the interaction code instead of
// redeeming it, with no redirect URI: it only continues transactions.
func (s *replayServer) resumeClient() *Client {
	s.t.Helper()
	c, err := NewClient(Config{Issuer: s.issuer(), ClientID: testClientID, HTTPClient: s.srv.Client(), ReturnInteractionCode: true})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// TestResumeStateReturnsInteractionCode continues a transaction from its
// interaction handle alone, posts the code, and gets the interaction code
// back unredeemed: no token request is made.
func TestResumeStateReturnsInteractionCode(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxChallengeSMS),
		exchange{path: "/idp/idx/challenge/resend", accept: g3Accepts, fixture: fxChallengeSMS,
			body: body(sh(t, fxChallengeSMS, "currentAuthenticatorEnrollment.resend"))},
		introspectEx(fxChallengeSMS),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, fixture: fxSuccess,
			body: body(`"credentials":{"passcode":"123456"},` + sh(t, fxChallengeSMS, "challenge-authenticator"))},
	)
	c := s.resumeClient()
	ctx := context.Background()
	st := c.ResumeState(fixtureInteractionHandle)
	if st.CodeVerifier != "" || st.InteractionHandle != fixtureInteractionHandle || st.ClientID != testClientID || st.Issuer != s.issuer() {
		t.Fatalf("ResumeState = %+v", *st)
	}
	if strings.Contains(st.String(), fixtureInteractionHandle) {
		t.Fatalf("String() shows the handle: %s", st)
	}

	tx, err := c.Resend(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, pending(true, true, nil, challengeSMSSteps()...))
	if tx.State == nil || tx.State.CodeVerifier != "" || tx.State.InteractionHandle != fixtureInteractionHandle {
		t.Fatalf("State after resend = %+v", tx.State)
	}

	tx, err = c.Proceed(ctx, tx.State, Options{VerificationCode: "123456"})
	if err != nil {
		t.Fatal(err)
	}
	if tx.Status != StatusSuccess || tx.InteractionCode != fixtureInteractionCode || tx.Tokens != nil || tx.State != nil {
		t.Fatalf("after the code: status %s, code %q, tokens %v, state %v", tx.Status, tx.InteractionCode, tx.Tokens, tx.State)
	}
	if len(s.tokenReqs) != 0 || len(s.interacts) != 0 {
		t.Fatalf("token requests %d, interacts %d; want none", len(s.tokenReqs), len(s.interacts))
	}
	raw, err := json.Marshal(tx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), fixtureInteractionCode) {
		t.Fatalf("the interaction code is in the Transaction's JSON: %s", raw)
	}
}

// TestResumeStateCancel cancels a resumed transaction.
func TestResumeStateCancel(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxChallengeSMS),
		exchange{path: "/idp/idx/cancel", accept: g3Accepts, fixture: fxCancel, body: body(sh(t, fxChallengeSMS, "cancel"))},
	)
	c := s.resumeClient()
	tx, err := c.Cancel(context.Background(), c.ResumeState(fixtureInteractionHandle))
	if err != nil {
		t.Fatal(err)
	}
	assertTx(t, tx, offering(Transaction{Status: StatusCanceled, RequestSucceeded: true}))
}

// TestResumeStateNeedsReturnInteractionCode: a State without a verifier is
// no transaction for a Client that would redeem the code, and a Client
// without a redirect URI cannot start one.
func TestResumeStateNeedsReturnInteractionCode(t *testing.T) {
	s := newReplayServer(t)
	ctx := context.Background()
	normal := s.client()
	resumed := normal.ResumeState(fixtureInteractionHandle)
	if _, err := normal.Proceed(ctx, resumed, Options{}); !errors.Is(err, ErrNoTransaction) {
		t.Fatalf("Proceed with a verifier-less State on a redeeming Client: %v, want ErrNoTransaction", err)
	}
	if _, err := normal.Cancel(ctx, resumed); !errors.Is(err, ErrNoTransaction) {
		t.Fatalf("Cancel: %v, want ErrNoTransaction", err)
	}

	rc := s.resumeClient()
	if _, err := rc.Authenticate(ctx, nil, Options{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("Authenticate without a State or redirect URI: %v, want ErrConfig", err)
	}
	if _, err := rc.Proceed(ctx, rc.ResumeState(""), Options{}); !errors.Is(err, ErrNoTransaction) {
		t.Fatalf("Proceed with an empty handle: %v, want ErrNoTransaction", err)
	}
	// A State of another client id is not this Client's.
	other, err := NewClient(Config{Issuer: s.issuer(), ClientID: "other", ReturnInteractionCode: true, HTTPClient: s.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Proceed(ctx, other.ResumeState(fixtureInteractionHandle), Options{}); !errors.Is(err, ErrNoTransaction) {
		t.Fatalf("Proceed with another client's State: %v, want ErrNoTransaction", err)
	}
	if len(s.interacts) != 0 {
		t.Fatalf("interact was called %d times", len(s.interacts))
	}
	if _, err := NewClient(Config{Issuer: s.issuer(), ClientID: testClientID}); !errors.Is(err, ErrConfig) {
		t.Fatalf("NewClient without a redirect URI nor ReturnInteractionCode: %v, want ErrConfig", err)
	}
}

// TestReturnInteractionCodeWithOwnTransaction: a Client that starts its own
// transaction with ReturnInteractionCode stops at SUCCESS too, and its
// stored State still holds the verifier to redeem the code with.
func TestReturnInteractionCodeWithOwnTransaction(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxChallengeSMS),
		exchange{path: "/idp/idx/challenge/answer", accept: g3Accepts, fixture: fxSuccess,
			body: body(`"credentials":{"passcode":"123456"},` + sh(t, fxChallengeSMS, "challenge-authenticator"))},
	)
	c, err := NewClient(Config{Issuer: s.issuer(), ClientID: testClientID, RedirectURI: testRedirectURI, HTTPClient: s.srv.Client(), ReturnInteractionCode: true})
	if err != nil {
		t.Fatal(err)
	}
	st := newTestState(s)
	tx, err := c.Proceed(context.Background(), st, Options{VerificationCode: "123456"})
	if err != nil {
		t.Fatal(err)
	}
	if tx.Status != StatusSuccess || tx.InteractionCode != fixtureInteractionCode || tx.Tokens != nil {
		t.Fatalf("status %s, code %q, tokens %v", tx.Status, tx.InteractionCode, tx.Tokens)
	}
	if st.CodeVerifier == "" || len(s.tokenReqs) != 0 {
		t.Fatalf("verifier %q, token requests %d", st.CodeVerifier, len(s.tokenReqs))
	}
}
