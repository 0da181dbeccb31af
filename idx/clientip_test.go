package idx

import (
	"context"
	"slices"
	"testing"
)

// TestClientIPReachesEveryRequest walks a sign-in against the loopback
// replay server with the end user's address on the context: discovery,
// interact, introspect, a remediation, an action, token, keys, userinfo,
// refresh and revoke must all arrive with X-Forwarded-For set to it, once.
func TestClientIPReachesEveryRequest(t *testing.T) {
	s := newReplayServer(t,
		introspectEx(fxIntrospect),
		exchange{path: "/idp/idx/identify", accept: g3Accepts, status: 401, fixture: fxWrongPassword,
			body: body(`"identifier":"tester@okta1.com","credentials":{"passcode":"wrong"},` + sh(t, fxIntrospect, "identify"))},
		introspectEx(fxChallengeSMS),
		exchange{path: "/idp/idx/cancel", accept: g3Accepts, fixture: fxCancel, body: body(sh(t, fxChallengeSMS, "cancel"))},
		introspectEx(fxSuccess),
	)
	c := s.client()
	ctx := WithClientIP(context.Background(), "203.0.113.7")

	if _, err := c.Authenticate(ctx, nil, Options{Username: "tester@okta1.com", Password: "wrong"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Cancel(ctx, newTestState(s)); err != nil {
		t.Fatal(err)
	}
	tx, err := c.Proceed(ctx, newTestState(s), Options{})
	if err != nil || tx.Status != StatusSuccess {
		t.Fatalf("Proceed to success: %v, %+v", err, tx)
	}
	if _, err := c.UserInfo(ctx, tx.Tokens.AccessToken); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(ctx, tx.Tokens.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if err := c.Revoke(ctx, tx.Tokens.RefreshToken, "refresh_token"); err != nil {
		t.Fatal(err)
	}

	s.mu.Lock()
	got := append([]forwardedFor(nil), s.forwarded...)
	s.mu.Unlock()
	var seen []string
	for _, f := range got {
		if !slices.Equal(f.values, []string{"203.0.113.7"}) {
			t.Errorf("%s arrived with X-Forwarded-For %q, want exactly [203.0.113.7]", f.request, f.values)
		}
		seen = append(seen, f.request)
	}
	for _, want := range []string{
		"GET /oauth2/default/.well-known/openid-configuration",
		"POST /oauth2/default/v1/interact",
		"POST /idp/idx/introspect",
		"POST /idp/idx/identify",
		"POST /idp/idx/cancel",
		"POST /oauth2/default/v1/token",
		"GET /oauth2/default/v1/keys",
		"GET /oauth2/default/v1/userinfo",
		"POST /oauth2/default/v1/revoke",
	} {
		if !slices.Contains(seen, want) {
			t.Errorf("no %s was made; requests: %v", want, seen)
		}
	}
}

// TestClientIPValues: only a bare IP address is sent, normalised; anything
// else leaves the context as it was, and without an address no header is
// sent at all.
func TestClientIPValues(t *testing.T) {
	s := newReplayServer(t)
	c := s.client()
	sent := func(ctx context.Context) []string {
		t.Helper()
		s.mu.Lock()
		s.forwarded = nil
		s.mu.Unlock()
		c.UserInfo(ctx, "any-token") // refused by the server; only the request matters
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.forwarded) != 1 {
			t.Fatalf("%d requests, want 1", len(s.forwarded))
		}
		return s.forwarded[0].values
	}
	bg := context.Background()
	if got := sent(bg); got != nil {
		t.Errorf("without WithClientIP: X-Forwarded-For %q, want none", got)
	}
	for in, want := range map[string]string{
		"198.51.100.23":        "198.51.100.23",
		" 2001:db8::1 ":        "2001:db8::1",
		"2001:DB8:0:0:0:0:0:2": "2001:db8::2",
		"::ffff:192.0.2.1":     "192.0.2.1",
		"fe80::1%eth0":         "fe80::1",
	} {
		if got := sent(WithClientIP(bg, in)); !slices.Equal(got, []string{want}) {
			t.Errorf("WithClientIP(%q): X-Forwarded-For %q, want [%s]", in, got, want)
		}
	}
	for _, bad := range []string{"", "203.0.113.7:443", "[2001:db8::1]:443", "example.com", "203.0.113.7, 10.0.0.1", "999.1.1.1", "203.0.113.7\r\nX-Evil: 1"} {
		if got := sent(WithClientIP(bg, bad)); got != nil {
			t.Errorf("WithClientIP(%q): X-Forwarded-For %q, want none", bad, got)
		}
		// An invalid value does not erase an address set before.
		if got := sent(WithClientIP(WithClientIP(bg, "192.0.2.9"), bad)); !slices.Equal(got, []string{"192.0.2.9"}) {
			t.Errorf("WithClientIP(valid) then (%q): X-Forwarded-For %q, want [192.0.2.9]", bad, got)
		}
	}
}
