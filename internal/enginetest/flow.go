package enginetest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Flow walks one IDX transaction over HTTP the way a client does: it posts to the
// hrefs of the last good response with its stateHandle.
type Flow struct {
	t                 testing.TB
	h                 *Harness
	PKCE              PKCE
	InteractionHandle string
	StateHandle       string
	// Last is the last response body; Status its HTTP status.
	Last   map[string]any
	Status int
	// ClientIP, when set, is sent as X-Forwarded-For: the engine under test trusts
	// the test as its proxy, so each Flow can be a client of its own.
	ClientIP string
	// Cookies, when set, keeps the engine's cookies (the device token) as a
	// browser does.
	Cookies http.CookieJar
	// Header is the last response's headers.
	Header http.Header
	// ClientID and RedirectURI are the client the flow signs in for (ClientID and
	// RedirectURI of the package unless InteractFor chose another).
	ClientID, RedirectURI string
	// good is the last 2xx response: where forms are taken from, as okta-auth-js does.
	good map[string]any
}

// Client is a client InteractFor signs in for, and what it adds to its interact
// request (credentials, for instance).
type Client struct {
	ID, RedirectURI string
	Form            url.Values
	Header          http.Header
}

// InteractFor starts a sign-in for client c, as Interact does for ClientID.
func (h *Harness) InteractFor(t testing.TB, c Client, scopes ...string) *Flow {
	t.Helper()
	f, status, body := h.interact(t, c, scopes)
	if status != http.StatusOK {
		t.Fatalf("interact: %d %v", status, body)
	}
	f.Introspect(map[string]any{"interactionHandle": f.InteractionHandle})
	if f.Status != http.StatusOK {
		t.Fatalf("introspect: %d %v", f.Status, f.Last)
	}
	return f
}

// TryInteractFor posts the interact request of InteractFor and returns the answer.
func (h *Harness) TryInteractFor(t testing.TB, c Client, scopes ...string) (int, map[string]any) {
	t.Helper()
	_, status, body := h.interact(t, c, scopes)
	return status, body
}

func (h *Harness) interact(t testing.TB, c Client, scopes []string) (*Flow, int, map[string]any) {
	if len(scopes) == 0 {
		scopes = []string{"openid", "profile", "email"}
	}
	f := &Flow{t: t, h: h, PKCE: NewPKCE(), ClientID: c.ID, RedirectURI: c.RedirectURI}
	form := url.Values{
		"client_id": {c.ID}, "redirect_uri": {c.RedirectURI}, "scope": {strings.Join(scopes, " ")},
		"code_challenge": {f.PKCE.Challenge}, "code_challenge_method": {"S256"},
	}
	for k, v := range c.Form {
		form[k] = v
	}
	req, _ := http.NewRequest(http.MethodPost, h.Issuer+"/v1/interact", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range c.Header {
		req.Header[k] = v
	}
	f.Status, f.Last = f.do(req)
	f.InteractionHandle, _ = f.Last["interaction_handle"].(string)
	return f, f.Status, f.Last
}

// Interact starts a sign-in for ClientID with the given scopes (default openid
// profile email phone offline_access) and introspects it.
func (h *Harness) Interact(t testing.TB, scopes ...string) *Flow {
	t.Helper()
	return h.InteractAs(t, "", nil, scopes...)
}

// InteractAs is Interact for a client at clientIP (sent as X-Forwarded-For; empty
// means the test's own address) keeping cookies in jar (nil: none, as a server-side
// client).
func (h *Harness) InteractAs(t testing.TB, clientIP string, jar http.CookieJar, scopes ...string) *Flow {
	t.Helper()
	if len(scopes) == 0 {
		scopes = []string{"openid", "profile", "email", "phone", "offline_access"}
	}
	f := &Flow{t: t, h: h, PKCE: NewPKCE(), ClientIP: clientIP, Cookies: jar, ClientID: ClientID, RedirectURI: RedirectURI}
	status, body := f.postForm(h.Issuer+"/v1/interact", url.Values{
		"client_id": {ClientID}, "redirect_uri": {RedirectURI}, "scope": {strings.Join(scopes, " ")},
		"code_challenge": {f.PKCE.Challenge}, "code_challenge_method": {"S256"},
		"state": {"st-123"}, "nonce": {"n-456"},
	})
	if status != http.StatusOK {
		t.Fatalf("interact: %d %v", status, body)
	}
	f.InteractionHandle, _ = body["interaction_handle"].(string)
	f.Introspect(map[string]any{"interactionHandle": f.InteractionHandle})
	if f.Status != http.StatusOK {
		t.Fatalf("introspect: %d %v", f.Status, f.Last)
	}
	return f
}

// TryInteract starts a sign-in as InteractAs does but returns the answer instead of
// failing the test on an error.
func (h *Harness) TryInteract(t testing.TB, clientIP string) (int, map[string]any) {
	f := &Flow{t: t, h: h, PKCE: NewPKCE(), ClientIP: clientIP}
	return f.postForm(h.Issuer+"/v1/interact", url.Values{
		"client_id": {ClientID}, "redirect_uri": {RedirectURI}, "scope": {"openid"},
		"code_challenge": {f.PKCE.Challenge}, "code_challenge_method": {"S256"},
	})
}

func (f *Flow) postForm(u string, form url.Values) (int, map[string]any) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	f.Status, f.Last = f.do(req)
	return f.Status, f.Last
}

// do sends req as this Flow's client and decodes the JSON answer.
func (f *Flow) do(req *http.Request) (int, map[string]any) {
	if f.ClientIP != "" {
		req.Header.Set("X-Forwarded-For", f.ClientIP)
	}
	c := &http.Client{Jar: f.Cookies}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	f.Header = resp.Header
	return decode(f.t, resp)
}

// PostForm posts a form and decodes a JSON answer.
func (h *Harness) PostForm(t testing.TB, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, resp)
}

func decode(t testing.TB, resp *http.Response) (int, map[string]any) {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: response is not JSON (%v): %q", resp.Request.Method, resp.Request.URL.Path, err, raw)
		}
	}
	return resp.StatusCode, m
}

// PostJSON posts body as IDX JSON to u and records the answer.
func (f *Flow) PostJSON(u string, body map[string]any) (int, map[string]any) {
	f.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json; okta-version=1.0.0")
	req.Header.Set("Accept", "application/json; okta-version=1.0.0")
	f.Status, f.Last = f.do(req)
	if f.Status/100 == 2 {
		f.good = f.Last
		if sh, ok := f.Last["stateHandle"].(string); ok {
			f.StateHandle = sh
		}
	}
	return f.Status, f.Last
}

// Introspect posts to /idp/idx/introspect.
func (f *Flow) Introspect(body map[string]any) (int, map[string]any) {
	f.t.Helper()
	return f.PostJSON(f.h.URL+"/idp/idx/introspect", body)
}

// Remediation returns the remediation called name in the last good response.
func (f *Flow) Remediation(name string) map[string]any {
	f.t.Helper()
	for _, r := range RemediationNames(f.good) {
		if r == name {
			return FindRemediation(f.good, name)
		}
	}
	f.t.Fatalf("no remediation %q in the last good response (have %v)", name, RemediationNames(f.good))
	return nil
}

// Submit posts body (plus the stateHandle) to the remediation called name.
func (f *Flow) Submit(name string, body map[string]any) (int, map[string]any) {
	f.t.Helper()
	rem := f.Remediation(name)
	if body == nil {
		body = map[string]any{}
	}
	body["stateHandle"] = f.StateHandle
	return f.PostJSON(rem["href"].(string), body)
}

// Action posts the stateHandle to a top-level or nested action href (cancel, resend).
func (f *Flow) Action(path string) (int, map[string]any) {
	f.t.Helper()
	return f.PostJSON(f.h.URL+path, map[string]any{"stateHandle": f.StateHandle})
}

// Identify submits username and password.
func (f *Flow) Identify(username, password string) (int, map[string]any) {
	f.t.Helper()
	return f.Submit("identify", map[string]any{"identifier": username, "credentials": map[string]any{"passcode": password}})
}

// ChoosePhone selects the first phone option (without a method).
func (f *Flow) ChoosePhone() (int, map[string]any) {
	f.t.Helper()
	id, enr := f.PhoneOption()
	return f.Submit("select-authenticator-authenticate", map[string]any{"authenticator": map[string]any{"id": id, "enrollmentId": enr}})
}

// ChooseMethod submits the verification-data step with method (sms or voice).
func (f *Flow) ChooseMethod(method string) (int, map[string]any) {
	f.t.Helper()
	id, enr := f.PhoneOption()
	return f.Submit("authenticator-verification-data", map[string]any{"authenticator": map[string]any{"id": id, "enrollmentId": enr, "methodType": method}})
}

// ChooseMethodFirst selects the first phone option of
// select-authenticator-authenticate with method at once (no verification-data step).
func (f *Flow) ChooseMethodFirst(method string) (int, map[string]any) {
	f.t.Helper()
	id, enr := f.PhoneOption()
	return f.Submit("select-authenticator-authenticate", map[string]any{"authenticator": map[string]any{"id": id, "enrollmentId": enr, "methodType": method}})
}

// Answer submits a code.
func (f *Flow) Answer(code string) (int, map[string]any) {
	f.t.Helper()
	return f.PostJSON(f.h.URL+"/idp/idx/challenge/answer", map[string]any{"credentials": map[string]any{"passcode": code}, "stateHandle": f.StateHandle})
}

// PhoneOption returns the authenticator id and enrollment id of the first phone
// option of select-authenticator-authenticate in the last good response.
func (f *Flow) PhoneOption() (id, enrollmentID string) {
	f.t.Helper()
	rem := FindRemediation(f.good, "select-authenticator-authenticate")
	if rem == nil {
		f.t.Fatalf("no select-authenticator-authenticate in %v", RemediationNames(f.good))
	}
	for _, fld := range rem["value"].([]any) {
		fm := fld.(map[string]any)
		if fm["name"] != "authenticator" {
			continue
		}
		opt := fm["options"].([]any)[0].(map[string]any)
		for _, of := range opt["value"].(map[string]any)["form"].(map[string]any)["value"].([]any) {
			m := of.(map[string]any)
			switch m["name"] {
			case "id":
				id = m["value"].(string)
			case "enrollmentId":
				enrollmentID = m["value"].(string)
			}
		}
	}
	return id, enrollmentID
}

// InteractionCode is the code in successWithInteractionCode of the last response.
func (f *Flow) InteractionCode() string {
	f.t.Helper()
	s, ok := f.Last["successWithInteractionCode"].(map[string]any)
	if !ok {
		f.t.Fatalf("no successWithInteractionCode in %v", f.Last)
	}
	for _, v := range s["value"].([]any) {
		m := v.(map[string]any)
		if m["name"] == "interaction_code" {
			return m["value"].(string)
		}
	}
	f.t.Fatal("no interaction_code field")
	return ""
}

// Redeem exchanges the interaction code for tokens.
func (f *Flow) Redeem() (int, map[string]any) {
	f.t.Helper()
	return f.RedeemWith(nil, nil)
}

// RedeemWith exchanges the interaction code for tokens with form and header added
// to the request (a client's credentials). A client_id of "" in form leaves the
// client_id out.
func (f *Flow) RedeemWith(form url.Values, header http.Header) (int, map[string]any) {
	f.t.Helper()
	v := url.Values{
		"grant_type": {"interaction_code"}, "client_id": {f.ClientID}, "interaction_code": {f.InteractionCode()},
		"code_verifier": {f.PKCE.Verifier}, "redirect_uri": {f.RedirectURI},
	}
	for k, vals := range form {
		v[k] = vals
	}
	if v.Get("client_id") == "" {
		v.Del("client_id")
	}
	req, _ := http.NewRequest(http.MethodPost, f.h.Issuer+"/v1/token", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vals := range header {
		req.Header[k] = vals
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	return decode(f.t, resp)
}

// SignIn walks the whole SMS flow for login and returns the token response.
func (h *Harness) SignIn(t testing.TB, login, number, method string) map[string]any {
	t.Helper()
	f := h.Interact(t)
	Expect(t, "identify", http.StatusOK)(f.Identify(login, Password))
	Expect(t, "select phone", http.StatusOK)(f.ChoosePhone())
	Expect(t, "choose "+method, http.StatusOK)(f.ChooseMethod(method))
	Expect(t, "answer", http.StatusOK)(f.Answer(h.LatestCode(t, number)))
	status, tokens := f.Redeem()
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
	return tokens
}

// Expect returns a check that a call answered with status want:
// Expect(t, "identify", 200)(f.Identify(…)).
func Expect(t testing.TB, what string, want int) func(int, map[string]any) {
	return func(status int, body map[string]any) {
		t.Helper()
		if status != want {
			t.Fatalf("%s: status %d, want %d; body %v", what, status, want, body)
		}
	}
}

// RemediationNames lists the remediation names of an IDX response, in order.
func RemediationNames(resp map[string]any) []string {
	rem, ok := resp["remediation"].(map[string]any)
	if !ok {
		return nil
	}
	var names []string
	for _, r := range rem["value"].([]any) {
		names = append(names, r.(map[string]any)["name"].(string))
	}
	return names
}

// FindRemediation returns the remediation called name, or nil.
func FindRemediation(resp map[string]any, name string) map[string]any {
	rem, ok := resp["remediation"].(map[string]any)
	if !ok {
		return nil
	}
	for _, r := range rem["value"].([]any) {
		if m := r.(map[string]any); m["name"] == name {
			return m
		}
	}
	return nil
}

// MessageKeys lists the i18n keys of the global messages of resp.
func MessageKeys(resp map[string]any) []string {
	msgs, ok := resp["messages"].(map[string]any)
	if !ok {
		return nil
	}
	var keys []string
	for _, m := range msgs["value"].([]any) {
		keys = append(keys, m.(map[string]any)["i18n"].(map[string]any)["key"].(string))
	}
	return keys
}
