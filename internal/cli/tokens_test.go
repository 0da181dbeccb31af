package cli

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// liveTokens are the tokens of one token response.
type liveTokens struct{ access, refresh string }

// tokenClient signs users in to a running engine and checks their tokens over HTTP,
// as an app and an API would.
type tokenClient struct {
	t *testing.T
	h *enginetest.Harness
}

func (c tokenClient) post(path string, form url.Values) (int, map[string]any) {
	c.t.Helper()
	return c.h.PostForm(c.t, c.h.Issuer+path, form)
}

// signIn signs login in with the password (the engine asks for nothing else).
func (c tokenClient) signIn(login string) liveTokens {
	c.t.Helper()
	f := c.h.Interact(c.t)
	enginetest.Expect(c.t, "identify "+login, http.StatusOK)(f.Identify(login, enginetest.Password))
	status, body := f.Redeem()
	if status != http.StatusOK {
		c.t.Fatalf("token for %s: %d %v", login, status, body)
	}
	return c.tokens(body)
}

func (c tokenClient) tokens(body map[string]any) liveTokens {
	c.t.Helper()
	lt := liveTokens{}
	lt.access, _ = body["access_token"].(string)
	lt.refresh, _ = body["refresh_token"].(string)
	if lt.access == "" || lt.refresh == "" {
		c.t.Fatalf("a token response without access and refresh tokens: %v", body)
	}
	return lt
}

func (c tokenClient) refresh(rt string) (int, map[string]any) {
	c.t.Helper()
	return c.post("/v1/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {enginetest.ClientID}, "refresh_token": {rt}})
}

// check fails the test unless lt's access token works at userinfo, and both its
// tokens are active at introspection, exactly when want says so; what names them.
func (c tokenClient) check(what string, lt liveTokens, want bool) {
	c.t.Helper()
	for kind, tok := range map[string]string{"access": lt.access, "refresh": lt.refresh} {
		if tok == "" {
			continue
		}
		status, body := c.post("/v1/introspect", url.Values{"client_id": {enginetest.ClientID}, "token": {tok}})
		if status != http.StatusOK || body["active"] != want {
			c.t.Errorf("%s: %s token introspected as %d %v, want active %v", what, kind, status, body, want)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, c.h.Issuer+"/v1/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+lt.access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if wantStatus := map[bool]int{true: 200, false: 401}[want]; resp.StatusCode != wantStatus {
		c.t.Errorf("%s: userinfo answered %d, want %d", what, resp.StatusCode, wantStatus)
	}
}

// TestUserChangesRevokeTokens: every users command that changes what a user signs
// in with, or whether they may, ends every token issued to them before it — the
// refresh tokens and the access tokens — and only theirs; a sign-in after it gets
// tokens that work.
func TestUserChangesRevokeTokens(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testUserChangesRevokeTokens(t, enginetest.Options{}) })
	t.Run("postgres", func(t *testing.T) {
		testUserChangesRevokeTokens(t, enginetest.Options{Database: enginetest.PostgresSchema(t)})
	})
}

func testUserChangesRevokeTokens(t *testing.T, o enginetest.Options) {
	o.Configure = func(c *config.Config) { c.SignOn.RequirePhone = false }
	h := enginetest.Start(t, o)
	c := tokenClient{t, h}
	db := h.Config.Database
	const bystander = "bystander@example.com"
	h.CreateUser(t, bystander, "+12015550150")
	untouched := c.signIn(bystander)

	cases := []struct {
		name  string
		stdin string
		args  []string // after "users --database DB"; LOGIN stands for the user's login
		out   string   // what stdout must say
		// before, when not nil, runs before the first sign-in
		before func(t *testing.T, login string)
		// then, when not nil, runs after the command and before the new sign-in
		then func(t *testing.T, login string)
	}{
		{name: "revoke-tokens", args: []string{"revoke-tokens", "LOGIN"}, out: "revoked 2 refresh tokens of LOGIN"},
		{name: "set-password", stdin: enginetest.Password + "\n", args: []string{"set-password", "LOGIN", "--password-stdin"},
			out: "password set for LOGIN\nrevoked 2 refresh tokens of LOGIN"},
		{name: "remove-phone", args: []string{"remove-phone", "LOGIN", "+12015550151"}, out: "removed +12015550151 from LOGIN\nrevoked 2 refresh tokens of LOGIN"},
		{name: "remove-totp", args: []string{"remove-totp", "LOGIN"}, out: "from LOGIN\nrevoked 2 refresh tokens of LOGIN",
			before: func(t *testing.T, login string) { addTOTP(t, h, login) }},
		{name: "reset-factors", args: []string{"reset-factors", "LOGIN"},
			out:    "removed 1 phone and 1 authenticator app from LOGIN; the password is kept\nrevoked 2 refresh tokens of LOGIN",
			before: func(t *testing.T, login string) { addTOTP(t, h, login) }},
		{name: "disable", args: []string{"disable", "LOGIN"}, out: "disabled LOGIN\nrevoked 2 refresh tokens of LOGIN",
			then: func(t *testing.T, login string) {
				f := h.Interact(t)
				if status, body := f.Identify(login, enginetest.Password); status == http.StatusOK {
					t.Errorf("a disabled user signed in: %v", body)
				}
				// Enabling the user again does not bring their old tokens back.
				if r := run(t, "", "users", "--database", db, "enable", login); r.code != 0 {
					t.Fatalf("enable: %+v", r)
				}
			}},
		{name: "suspend", args: []string{"suspend", "LOGIN"}, out: "suspended LOGIN\nrevoked 2 refresh tokens of LOGIN",
			then: func(t *testing.T, login string) {
				f := h.Interact(t)
				if status, body := f.Identify(login, enginetest.Password); status != http.StatusUnauthorized {
					t.Errorf("a suspended user signed in: %d %v", status, body)
				}
				if r := run(t, "", "users", "--database", db, "suspend", login); r.code != 1 || !strings.Contains(r.stderr, "cannot suspend a user who is suspended") {
					t.Errorf("suspend twice: %+v", r)
				}
				if r := run(t, "", "users", "--database", db, "unsuspend", login); r.code != 0 || !strings.Contains(r.stdout, "unsuspended "+login) {
					t.Fatalf("unsuspend: %+v", r)
				}
			}},
		{name: "delete", args: []string{"delete", "LOGIN"}, out: "deleted LOGIN with their password, phones and tokens",
			then: func(t *testing.T, login string) {
				// Someone else gets the login: their sign-in works, the old tokens do not.
				if r := run(t, enginetest.Password+"\n", "users", "--database", db, "create", login, "--password-stdin"); r.code != 0 {
					t.Fatalf("create again: %+v", r)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tokenClient{t, h}
			login := tc.name + "@example.com"
			h.CreateUser(t, login, "+12015550151")
			if tc.before != nil {
				tc.before(t, login)
			}
			first := c.signIn(login)
			status, body := c.refresh(first.refresh)
			if status != http.StatusOK {
				t.Fatalf("refresh: %d %v", status, body)
			}
			rotated := c.tokens(body)
			other := c.signIn(login) // a second app, or device
			c.check("before "+tc.name, rotated, true)

			args := usersArgs(h, tc.args...)
			for i, a := range args {
				args[i] = strings.ReplaceAll(a, "LOGIN", login)
			}
			r := run(t, tc.stdin, args...)
			if want := strings.ReplaceAll(tc.out, "LOGIN", login); r.code != 0 || !strings.Contains(r.stdout, want) {
				t.Fatalf("%s: %+v; want stdout with %q", tc.name, r, want)
			}
			if tc.then != nil {
				tc.then(t, login)
			}

			c.check("the first access token after "+tc.name, liveTokens{access: first.access}, false)
			c.check("the rotated tokens after "+tc.name, rotated, false)
			c.check("the other sign-in's tokens after "+tc.name, other, false)
			for _, rt := range []string{rotated.refresh, other.refresh} {
				if status, body := c.refresh(rt); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
					t.Errorf("refresh with a token issued before %s: %d %v", tc.name, status, body)
				}
			}
			c.check("another user's tokens after "+tc.name, untouched, true)

			again := c.signIn(login)
			c.check("a sign-in after "+tc.name, again, true)
		})
	}
}

func TestRevokeTokensCommandErrors(t *testing.T) {
	db := "sqlite:" + t.TempDir() + "/g.db"
	if r := run(t, "", "users", "--database", db, "revoke-tokens", "nobody@example.com"); r.code != 1 || !strings.Contains(r.stderr, `no user "nobody@example.com"`) {
		t.Errorf("unknown user: %+v", r)
	}
	if r := run(t, "", "users", "--database", db, "revoke-tokens"); r.code != 2 {
		t.Errorf("no login: %+v", r)
	}
	if r := run(t, "s3cret-password\n", "users", "--database", db, "create", "eve@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	if r := run(t, "", "users", "--database", db, "revoke-tokens", "EVE@example.com"); r.code != 0 || r.stdout != "revoked 0 refresh tokens of eve@example.com, and every access token issued to them until now\n" {
		t.Errorf("a user without tokens: %+v", r)
	}
}
