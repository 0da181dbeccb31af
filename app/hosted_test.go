package app

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// allowCodeFlow gives the test client the authorization_code grant.
func allowCodeFlow(c *config.Config) {
	c.Clients[0].Grants = append(c.Clients[0].Grants, config.GrantAuthorizationCode)
}

var hostedCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestSignInOnTheHostedPage walks "Sign in on the identity server's page": the
// app sends the browser to the engine's /v1/authorize, the engine's pages sign
// the user in, and the browser comes back to the app's /login/callback with a
// code the app redeems — then the profile page shows the user.
func TestSignInOnTheHostedPage(t *testing.T) {
	ta := startApp(t, allowCodeFlow)
	ta.h.CreateUser(t, "hosted@example.com", "+12015550150")
	a := ta.agent(t)
	page := a.get(pathSignIn)
	expectPage(t, page, http.StatusOK, `action="/login/hosted"`, "Sign in on the identity server")
	r := a.post("/login/hosted", url.Values{formField: {hiddenToken(t, page)}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, ta.h.Issuer+"/v1/authorize?") {
		t.Fatalf("hosted sign-in: %d to %q, want a redirect to the authorization endpoint", r.status, r.location)
	}
	q, _ := url.Parse(r.location)
	for _, p := range []string{"state", "nonce", "code_challenge"} {
		if q.Query().Get(p) == "" {
			t.Errorf("the authorization request has no %s: %s", p, r.location)
		}
	}

	// The engine's pages, as the same browser (its cookie jar) sees them.
	engine := &http.Client{Jar: a.c.Jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), enginetest.RedirectURI) {
			return http.ErrUseLastResponse // back to the app: the test takes it from here
		}
		return nil
	}}
	fetch := func(req *http.Request) (*http.Response, string) {
		t.Helper()
		resp, err := engine.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		return resp, b.String()
	}
	get := func(u string) (*http.Response, string) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		return fetch(req)
	}
	submit := func(body, path string, form url.Values) (*http.Response, string) {
		t.Helper()
		m := hostedCSRF.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no CSRF token before %s:\n%s", path, body)
		}
		form.Set("csrf", html.UnescapeString(m[1]))
		req, _ := http.NewRequest(http.MethodPost, ta.h.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return fetch(req)
	}
	_, body := get(r.location)
	_, body = submit(body, "/signin/identify", url.Values{"username": {"hosted@example.com"}, "password": {enginetest.Password}})
	m := regexp.MustCompile(`name="authenticator" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no phone to choose:\n%s", body)
	}
	_, body = submit(body, "/signin/authenticator", url.Values{"authenticator": {html.UnescapeString(m[1])}})
	_, body = submit(body, "/signin/method", url.Values{"method": {"sms"}})
	_, body = submit(body, "/signin/code", url.Values{"code": {ta.h.LatestCode(t, "+12015550150")}})
	resp, _ := get(ta.h.URL + "/signin/done")
	back := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(back, enginetest.RedirectURI+"?") {
		t.Fatalf("end of the hosted sign-in: %d to %q, want the app's callback", resp.StatusCode, back)
	}

	profile := a.expectRedirect(a.get("/login/callback?"+strings.TrimPrefix(back, enginetest.RedirectURI+"?")), "/")
	expectPage(t, profile, http.StatusOK, "hosted@example.com")
	// The callback works once: a replay goes back to the profile, nothing else.
	a.expectRedirect(a.get("/login/callback?"+strings.TrimPrefix(back, enginetest.RedirectURI+"?")), "/")
}

// TestHostedCallbackRefusesAForgedState: a callback whose state is not the one the
// app sent (a login CSRF attempt) signs nobody in.
func TestHostedCallbackRefusesAForgedState(t *testing.T) {
	ta := startApp(t, allowCodeFlow)
	a := ta.agent(t)
	page := a.get(pathSignIn)
	a.post("/login/hosted", url.Values{formField: {hiddenToken(t, page)}})
	page = a.expectRedirect(a.get("/login/callback?code=attacker-code&state=attacker-state"), pathSignIn)
	expectPage(t, page, http.StatusOK, "We couldn&#39;t finish signing you in")
	if r := a.get("/"); r.status != http.StatusSeeOther || r.location != pathSignIn {
		t.Errorf("after a forged callback the profile answers %d %q, want the sign-in page", r.status, r.location)
	}
}

// TestHostedSignInCancelled: cancelling on the engine's page brings the user back
// to the app's sign-in page with a notice.
func TestHostedSignInCancelledAtTheEngine(t *testing.T) {
	ta := startApp(t, allowCodeFlow)
	a := ta.agent(t)
	page := a.get(pathSignIn)
	r := a.post("/login/hosted", url.Values{formField: {hiddenToken(t, page)}})
	q, _ := url.Parse(r.location)
	state := q.Query().Get("state")
	back := "error=access_denied&error_description=cancelled&iss=" + url.QueryEscape(ta.h.Issuer) + "&state=" + url.QueryEscape(state)
	page = a.expectRedirect(a.get("/login/callback?"+back), pathSignIn)
	expectPage(t, page, http.StatusOK, "The sign-in was cancelled.")
}
