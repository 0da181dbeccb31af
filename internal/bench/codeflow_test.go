package bench

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

const (
	testPublicWebClient = "bench-spa"
	testPublicRedirect  = "http://127.0.0.1:3001/cb"
	testNarrowClient    = "bench-narrow"
)

// codeFlowEngine is an engine with the bench's confidential web client (secret
// returned) and a public one allowed the authorization code grant, and users
// seeded as the bench seeds them.
func codeFlowEngine(t *testing.T, users int) (*enginetest.Harness, string) {
	t.Helper()
	secret := clients.NewSecret()
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) {
		scopes := []string{"openid", "profile", "email", "phone", "offline_access"}
		c.Clients = append(c.Clients,
			config.ClientDefaults(config.Client{ID: benchWebClientID, Secret: secret, RedirectURIs: []string{benchWebRedirectURI},
				Grants: []string{config.GrantAuthorizationCode, config.GrantRefreshToken}, Scopes: scopes}),
			config.ClientDefaults(config.Client{ID: testPublicWebClient, RedirectURIs: []string{testPublicRedirect},
				Grants: []string{config.GrantAuthorizationCode, config.GrantRefreshToken}, Scopes: scopes}),
			// allowed fewer scopes than the bench asks for
			config.ClientDefaults(config.Client{ID: testNarrowClient, RedirectURIs: []string{testPublicRedirect},
				Grants: []string{config.GrantAuthorizationCode}, Scopes: []string{"openid"}}),
		)
	}})
	hash, err := password.HashWith(password.CheapParams, benchPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := seed(context.Background(), h.Store, users, hash, nil); err != nil {
		t.Fatal(err)
	}
	return h, secret
}

func codeClient(h *enginetest.Harness, id, secret, redirect string) *client {
	u, _ := url.Parse(h.URL)
	return &client{server: u, origin: h.URL, oauthBase: oauth.BaseURL(h.Issuer), issuer: h.Issuer, flow: FlowCode,
		clientID: id, clientSecret: secret, redirectURI: redirect, codes: storeCodes{h.Store}}
}

// TestCodeFlowSignsInThroughThePages walks whole sign-ins of the authorization
// code flow against a real engine: every page step is measured, and each sign-in
// goes through the pages (a fresh browser), so the second user is not handed the
// first one's session.
func TestCodeFlowSignsInThroughThePages(t *testing.T) {
	h, secret := codeFlowEngine(t, 4)
	for _, c := range []*client{
		codeClient(h, benchWebClientID, secret, benchWebRedirectURI), // client_secret_basic
		codeClient(h, testPublicWebClient, "", testPublicRedirect),   // public, PKCE only
	} {
		w := newWalker(c)
		users := []int{0, 1}
		if c.clientSecret == "" {
			users = []int{2, 3} // one code per number per 30 s: other users than the first client's
		}
		for _, user := range users {
			res := w.signIn(context.Background(), user)
			if res.failed {
				t.Fatalf("%s, user %d: %s", c.clientID, user, res.failure)
			}
			for s := range numPageSteps {
				if res.steps[s] <= 0 {
					t.Errorf("%s, user %d: step %s not measured", c.clientID, user, s)
				}
			}
			if res.codeLookup <= 0 {
				t.Errorf("%s: the code lookup is not measured", c.clientID)
			}
		}
	}
}

// TestCodeFlowReportsWhereItFailed checks that a sign-in the engine refuses is
// counted as an error of the step it failed at, keyed by what was seen.
func TestCodeFlowReportsWhereItFailed(t *testing.T) {
	h, secret := codeFlowEngine(t, 1)
	cases := []struct {
		name string
		c    *client
		user int
		want string
	}{
		{"unknown user", codeClient(h, benchWebClientID, secret, benchWebRedirectURI), 5,
			`identify: HTTP 422 "Sign in" instead of the choice of authenticator`},
		{"wrong secret", codeClient(h, benchWebClientID, clients.NewSecret(), benchWebRedirectURI), 0,
			"token: HTTP 401 (invalid_client)"},
		{"scope not allowed", codeClient(h, testNarrowClient, "", testPublicRedirect), 0, "authorize: the app got error invalid_scope"},
		{"unregistered redirect URI", codeClient(h, benchWebClientID, secret, "http://127.0.0.1/elsewhere"), 0,
			`authorize: HTTP 400 "The sign-in request is not valid" instead of a redirect to /signin`},
	}
	for _, tc := range cases {
		res := newWalker(tc.c).signIn(context.Background(), tc.user)
		if !res.failed || res.failure != tc.want {
			t.Errorf("%s: failed %v with %q, want %q", tc.name, res.failed, res.failure, tc.want)
		}
	}
}

func TestPageJarKeepsCookiesAsABrowser(t *testing.T) {
	var j pageJar
	now := time.Now()
	set := func(line string) {
		t.Helper()
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatal(err)
		}
		j.set(c, now)
	}
	set("gh_signin=one; Path=/signin; HttpOnly; SameSite=Lax")
	set("gh_device=dev; Path=/; Max-Age=3600")
	set(`q="a b"; Path=/`)
	cases := map[string]string{
		"/signin":                      `gh_signin=one; gh_device=dev; q="a b"`,
		"/signin/identify":             `gh_signin=one; gh_device=dev; q="a b"`,
		"/signinx":                     `gh_device=dev; q="a b"`,
		"/oauth2/default/v1/authorize": `gh_device=dev; q="a b"`,
	}
	for path, want := range cases {
		if got := j.header(path); got != want {
			t.Errorf("%s: Cookie %q, want %q", path, got, want)
		}
	}
	set("gh_signin=two; Path=/signin")
	set("q=; Path=/; Max-Age=0") // Max-Age=0 clears, as -1 does
	set("gh_device=; Path=/; Max-Age=-1")
	set("other=x; Path=/elsewhere")
	if got, want := j.header("/signin/done"), "gh_signin=two"; got != want {
		t.Errorf("after replacing and clearing: %q, want %q", got, want)
	}
	set("gh_signin=; Path=/signin; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
	if got := j.header("/signin"); got != "" {
		t.Errorf("an expired cookie is still sent: %q", got)
	}
}
