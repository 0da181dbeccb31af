package idxserver_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/enginetest"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

type rawAnswer struct {
	status int
	ctype  string
	body   map[string]any
	raw    []byte
}

func postRaw(t testing.TB, url, contentType string, body []byte) rawAnswer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := rawAnswer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func TestMalformedRequestsGetIDXErrorsAndChangeNothing(t *testing.T) {
	h, _ := start(t)
	f := h.Interact(t)
	sh := f.StateHandle
	cases := []struct {
		name, ctype, body string
		status            int
		keepsState        bool // the answer carries the current state (stateHandle was readable)
	}{
		{"not JSON", "application/json", "{nope", 400, false},
		{"wrong type with readable stateHandle", "application/json", `{"identifier": 42, "stateHandle": "` + sh + `"}`, 400, true},
		{"credentials not an object", "application/json", `{"identifier": "a", "credentials": "pw", "stateHandle": "` + sh + `"}`, 400, true},
		{"trailing data", "application/json", `{"stateHandle": "` + sh + `"} {}`, 400, false},
		{"a JSON array", "application/json", `[]`, 400, false},
		{"form encoded", "application/x-www-form-urlencoded", "identifier=a", 415, false},
		{"other okta-version", "application/json; okta-version=2.0.0", `{"stateHandle": "` + sh + `"}`, 415, false},
		{"too large", "application/json", `{"identifier": "` + strings.Repeat("a", 20000) + `"}`, 413, false},
	}
	for _, c := range cases {
		a := postRaw(t, h.URL+"/idp/idx/identify", c.ctype, []byte(c.body))
		if a.status != c.status || a.body["version"] != "1.0.0" || a.ctype != "application/json; okta-version=1.0.0" {
			t.Errorf("%s: %d %q %s", c.name, a.status, a.ctype, a.raw)
			continue
		}
		if _, both := a.body["error_description"]; both {
			t.Errorf("%s: an IDX error must not look like an OAuth error: %s", c.name, a.raw)
		}
		if c.keepsState != (a.body["remediation"] != nil) {
			t.Errorf("%s: remediation present = %v, want %v", c.name, a.body["remediation"] != nil, c.keepsState)
		}
		if len(enginetest.MessageKeys(a.body)) == 0 {
			t.Errorf("%s: no message", c.name)
		}
	}
	// Nothing changed: the transaction is still at IDENTIFY and signs in normally.
	status, body := f.Introspect(map[string]any{"stateToken": sh})
	want(t, "introspect", 200, status, body)
	if !reflect.DeepEqual(enginetest.RemediationNames(body), []string{"identify"}) {
		t.Errorf("state after bad input = %v", enginetest.RemediationNames(body))
	}
	status, body = f.Identify(alice, enginetest.Password)
	want(t, "identify after bad input", 200, status, body)
}

func TestCORSForBrowserClients(t *testing.T) {
	h, _ := start(t)
	preflight := func(origin, path string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, h.URL+path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type, x-okta-user-agent-extended")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/idp/idx/introspect", "/idp/idx/identify", "/oauth2/default/v1/interact", "/oauth2/default/v1/token", "/oauth2/default/v1/keys"} {
		resp := preflight(enginetest.AppOrigin, path)
		if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != enginetest.AppOrigin ||
			resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
			!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "X-Okta-User-Agent-Extended") {
			t.Errorf("preflight %s: %d %v", path, resp.StatusCode, resp.Header)
		}
	}
	if resp := preflight("http://evil.example", "/idp/idx/introspect"); resp.StatusCode != 403 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from an unknown origin: %d %v", resp.StatusCode, resp.Header)
	}
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/idp/idx/introspect", strings.NewReader(`{}`))
	req.Header.Set("Origin", enginetest.AppOrigin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != enginetest.AppOrigin || resp.Header.Get("Access-Control-Expose-Headers") != "WWW-Authenticate" {
		t.Errorf("actual request CORS headers: %v", resp.Header)
	}
}

func TestSecretsNeverReachTheLogs(t *testing.T) {
	var logs testenv.SyncBuffer
	h := enginetest.Start(t, enginetest.Options{Logs: &logs})
	h.CreateUser(t, alice, alicePhone)
	f := h.Interact(t)
	f.Identify(alice, "a wrong password")
	f.Identify(alice, enginetest.Password)
	f.ChoosePhone()
	f.ChooseMethod("sms")
	code := h.LatestCode(t, alicePhone)
	f.Answer("999999")
	f.Answer(code)
	ic := f.InteractionCode()
	status, tokens := f.Redeem()
	want(t, "token", 200, status, tokens)
	out := logs.String()
	if !strings.Contains(out, "sign-in succeeded") {
		t.Fatalf("the logs do not show the flow at all:\n%s", out)
	}
	for name, secret := range map[string]string{
		"password": enginetest.Password, "wrong password": "a wrong password", "code": code,
		"state handle": f.StateHandle, "interaction handle": f.InteractionHandle, "interaction code": ic,
		"PKCE verifier": f.PKCE.Verifier, "access token": tokens["access_token"].(string),
		"refresh token": tokens["refresh_token"].(string), "ID token": tokens["id_token"].(string),
	} {
		if strings.Contains(out, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}

// FuzzIDXEndpoints posts arbitrary bodies to every IDX endpoint of a live engine and
// checks that none answers with a server error or anything but an IDX body.
// "STATE" in an input is replaced by a live stateHandle so the fuzzer reaches the
// handlers past the transaction lookup.
func FuzzIDXEndpoints(f *testing.F) {
	// The fuzzer is one client sending far more than the per-IP limits allow;
	// raise them so that its inputs reach the handlers.
	h := enginetest.Start(f, enginetest.Options{Configure: enginetest.NoRequestLimits})
	h.CreateUser(f, alice, alicePhone)
	paths := []string{"/idp/idx/introspect", "/idp/idx/identify", "/idp/idx/challenge", "/idp/idx/challenge/answer",
		"/idp/idx/challenge/resend", "/idp/idx/credential/enroll", "/idp/idx/cancel"}
	seeds := []string{
		`{"stateHandle":"STATE","identifier":"alice@example.com","credentials":{"passcode":"x"}}`,
		`{"stateHandle":"STATE","authenticator":{"id":"aut1","enrollmentId":"e","methodType":"sms"}}`,
		`{"stateHandle":"STATE","authenticator":{"id":"aut1","methodType":"voice","phoneNumber":"+12015550100"}}`,
		`{"stateHandle":"STATE","credentials":{"passcode":"123456"}}`,
		`{"interactionHandle":"x"}`, `{"stateToken":"STATE"}`, `{"stateHandle":null}`, `{"credentials":[1,2]}`, `null`, ``,
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	var once sync.Once
	var stateHandle string
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		once.Do(func() { stateHandle = h.Interact(t).StateHandle })
		body = bytes.ReplaceAll(body, []byte("STATE"), []byte(stateHandle))
		a := postRaw(t, h.URL+paths[int(which)%len(paths)], "application/json", body)
		if a.status >= 500 {
			t.Fatalf("%s answered %d to %q: %s", paths[int(which)%len(paths)], a.status, body, a.raw)
		}
		if a.body["version"] != "1.0.0" {
			t.Fatalf("not an IDX body: %d %s", a.status, a.raw)
		}
	})
}
