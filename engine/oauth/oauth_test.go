package oauth_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

const (
	alice      = "alice@example.com"
	alicePhone = "+12015550123"
)

func getJSON(t *testing.T, u string, header http.Header) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &m)
	}
	return resp.StatusCode, resp.Header, m
}

func TestDiscoveryAndKeys(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	status, _, d := getJSON(t, h.Issuer+"/.well-known/openid-configuration", nil)
	if status != 200 || d["issuer"] != h.Issuer {
		t.Fatalf("discovery: %d issuer %v", status, d["issuer"])
	}
	for k, want := range map[string]string{
		"token_endpoint": "/v1/token", "userinfo_endpoint": "/v1/userinfo", "jwks_uri": "/v1/keys",
		"revocation_endpoint": "/v1/revoke", "end_session_endpoint": "/v1/logout",
	} {
		if d[k] != h.Issuer+want {
			t.Errorf("%s = %v", k, d[k])
		}
	}
	if !reflect.DeepEqual(d["code_challenge_methods_supported"], []any{"S256"}) {
		t.Errorf("code_challenge_methods_supported = %v", d["code_challenge_methods_supported"])
	}
	status, _, keys := getJSON(t, h.Issuer+"/v1/keys", nil)
	ks := keys["keys"].([]any)
	if status != 200 || len(ks) != 1 {
		t.Fatalf("keys: %d %v", status, keys)
	}
	k := ks[0].(map[string]any)
	if k["kty"] != "RSA" || k["alg"] != "RS256" || k["use"] != "sig" || k["kid"] == "" || k["e"] != "AQAB" {
		t.Errorf("key = %v", k)
	}
	if _, ok := k["d"]; ok {
		t.Fatal("the JWKS publishes a private key")
	}
}

// parseToken verifies raw against the engine's JWKS and returns its header and claims.
func parseToken(t *testing.T, h *enginetest.Harness, raw string) (jose.Header, map[string]any) {
	t.Helper()
	_, _, keys := getJSON(t, h.Issuer+"/v1/keys", nil)
	b, _ := json.Marshal(keys)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	found := set.Key(tok.Headers[0].KeyID)
	if len(found) != 1 {
		t.Fatalf("kid %q not in the JWKS", tok.Headers[0].KeyID)
	}
	var claims map[string]any
	if err := tok.Claims(found[0].Key, &claims); err != nil {
		t.Fatalf("signature: %v", err)
	}
	return tok.Headers[0], claims
}

func rawHeader(t *testing.T, raw string) map[string]any {
	t.Helper()
	seg, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	var m map[string]any
	if err := json.Unmarshal(seg, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTokensCarryTheClaimsClientsCheck(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	user := h.CreateUser(t, alice, alicePhone)
	tokens := h.SignIn(t, alice, alicePhone, "sms")
	idToken := tokens["id_token"].(string)
	hdr := rawHeader(t, idToken)
	if len(hdr) != 2 || hdr["alg"] != "RS256" || hdr["kid"] == nil {
		t.Errorf("ID token header = %v, want exactly alg and kid", hdr)
	}
	_, c := parseToken(t, h, idToken)
	if c["iss"] != h.Issuer || c["aud"] != enginetest.ClientID || c["sub"] != user.ID || c["nonce"] != "n-456" {
		t.Errorf("iss/aud/sub/nonce = %v/%v/%v/%v", c["iss"], c["aud"], c["sub"], c["nonce"])
	}
	if !reflect.DeepEqual(c["amr"], []any{"pwd", "sms", "mfa"}) {
		t.Errorf("amr = %v", c["amr"])
	}
	iat, exp, authTime := c["iat"].(float64), c["exp"].(float64), c["auth_time"].(float64)
	if exp-iat != 3600 || authTime > iat || float64(time.Now().Unix())-iat > 5 {
		t.Errorf("iat %v exp %v auth_time %v", iat, exp, authTime)
	}
	sum := sha256.Sum256([]byte(tokens["access_token"].(string)))
	if c["at_hash"] != base64.RawURLEncoding.EncodeToString(sum[:16]) {
		t.Errorf("at_hash = %v", c["at_hash"])
	}
	if c["email"] != alice || c["phone_number"] != alicePhone || c["preferred_username"] != alice {
		t.Errorf("profile claims = %v", c)
	}
	if hdr := rawHeader(t, tokens["access_token"].(string)); len(hdr) != 2 {
		t.Errorf("access token header = %v", hdr)
	}
	_, at := parseToken(t, h, tokens["access_token"].(string))
	if at["cid"] != enginetest.ClientID || at["uid"] != user.ID || at["iss"] != h.Issuer {
		t.Errorf("access token claims = %v", at)
	}
	if tokens["scope"] != "openid profile email phone offline_access" {
		t.Errorf("scope = %v", tokens["scope"])
	}
}

func TestUserInfo(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	user := h.CreateUser(t, alice, alicePhone)
	tokens := h.SignIn(t, alice, alicePhone, "voice")
	status, _, info := getJSON(t, h.Issuer+"/v1/userinfo", http.Header{"Authorization": {"Bearer " + tokens["access_token"].(string)}})
	if status != 200 || info["sub"] != user.ID || info["email"] != alice || info["name"] != "Test User" {
		t.Fatalf("userinfo: %d %v", status, info)
	}
	status, hdr, body := getJSON(t, h.Issuer+"/v1/userinfo", http.Header{"Authorization": {"Bearer not-a-token"}})
	if status != 401 || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) || body["error"] != "invalid_token" {
		t.Errorf("bad token: %d %q %v", status, hdr.Get("WWW-Authenticate"), body)
	}
	status, _, _ = getJSON(t, h.Issuer+"/v1/userinfo", nil)
	if status != 401 {
		t.Errorf("no token: %d", status)
	}
	h.Clock.Advance(time.Hour + time.Second)
	status, _, _ = getJSON(t, h.Issuer+"/v1/userinfo", http.Header{"Authorization": {"Bearer " + tokens["access_token"].(string)}})
	if status != 401 {
		t.Errorf("expired token: %d", status)
	}
}

func TestInteractionCodeIsSingleUseBoundToPKCEAndShortLived(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	h.CreateUser(t, alice, alicePhone)
	signIn := func() *enginetest.Flow {
		f := h.Interact(t)
		enginetest.Expect(t, "identify", 200)(f.Identify(alice, enginetest.Password))
		enginetest.Expect(t, "select", 200)(f.ChoosePhone())
		enginetest.Expect(t, "method", 200)(f.ChooseMethod("sms"))
		enginetest.Expect(t, "answer", 200)(f.Answer(h.LatestCode(t, alicePhone)))
		return f
	}
	f := signIn()
	redeem := func(verifier string, extra url.Values) (int, map[string]any) {
		form := url.Values{"grant_type": {"interaction_code"}, "client_id": {enginetest.ClientID}, "interaction_code": {f.InteractionCode()}, "code_verifier": {verifier}}
		for k, v := range extra {
			form[k] = v
		}
		return h.PostForm(t, h.Issuer+"/v1/token", form)
	}
	status, body := redeem(enginetest.NewPKCE().Verifier, nil)
	if status != 400 || body["error"] != "invalid_grant" || body["error_description"] != "PKCE verification failed." {
		t.Errorf("wrong verifier: %d %v", status, body)
	}
	status, body = redeem(f.PKCE.Verifier, url.Values{"redirect_uri": {"http://127.0.0.1:3000/elsewhere"}})
	if status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("other redirect_uri: %d %v", status, body)
	}
	// The Go IDX SDK's RedeemInteractionCode sends everything in the query string and
	// no redirect_uri.
	q := url.Values{"grant_type": {"interaction_code"}, "client_id": {enginetest.ClientID}, "interaction_code": {f.InteractionCode()}, "code_verifier": {f.PKCE.Verifier}}
	resp, err := http.Post(h.Issuer+"/v1/token?"+q.Encode(), "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("query-string redemption: %d cache %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	status, body = redeem(f.PKCE.Verifier, nil)
	if status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("second redemption: %d %v", status, body)
	}

	h.Clock.Advance(31 * time.Second) // the send interval
	f = signIn()
	h.Clock.Advance(61 * time.Second)
	status, body = redeem(f.PKCE.Verifier, nil)
	if status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("code after 61 s: %d %v", status, body)
	}
}

func TestInteractionCodeIsBoundToItsClient(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) {
		c.Clients = append(c.Clients, config.ClientDefaults(config.Client{ID: "other-app", RedirectURIs: []string{enginetest.RedirectURI}}))
	}})
	h.CreateUser(t, alice, alicePhone)
	f := h.Interact(t)
	f.Identify(alice, enginetest.Password)
	f.ChoosePhone()
	f.ChooseMethod("sms")
	enginetest.Expect(t, "answer", 200)(f.Answer(h.LatestCode(t, alicePhone)))
	status, body := h.PostForm(t, h.Issuer+"/v1/token", url.Values{"grant_type": {"interaction_code"}, "client_id": {"other-app"}, "interaction_code": {f.InteractionCode()}, "code_verifier": {f.PKCE.Verifier}})
	if status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("another client's code: %d %v", status, body)
	}
	enginetest.Expect(t, "own client", 200)(f.Redeem())
}

func TestRefreshRotatesAndReuseRevokesTheFamily(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	h.CreateUser(t, alice, alicePhone)
	tokens := h.SignIn(t, alice, alicePhone, "sms")
	refresh := func(rt string) (int, map[string]any) {
		return h.PostForm(t, h.Issuer+"/v1/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {enginetest.ClientID}, "refresh_token": {rt}, "scope": {"openid profile email phone offline_access"}})
	}
	rt1 := tokens["refresh_token"].(string)
	status, second := refresh(rt1)
	if status != 200 || second["refresh_token"] == rt1 || second["id_token"] == nil {
		t.Fatalf("refresh: %d %v", status, second)
	}
	_, c := parseToken(t, h, second["id_token"].(string))
	if _, ok := c["nonce"]; ok {
		t.Error("a refreshed ID token carries the sign-in nonce")
	}
	// Reusing the rotated token is refused with the description okta-auth-js looks for,
	// and takes the newer token down with it.
	status, body := refresh(rt1)
	if status != 400 || body["error"] != "invalid_grant" || body["error_description"] != "The refresh token is invalid or expired." {
		t.Errorf("reuse: %d %v", status, body)
	}
	status, body = refresh(second["refresh_token"].(string))
	if status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("family member after reuse: %d %v", status, body)
	}
	status, body = refresh("unknown")
	if status != 400 || body["error_description"] != "The refresh token is invalid or expired." {
		t.Errorf("unknown: %d %v", status, body)
	}
}

func TestRevokeAnswersEmptyAndRevokes(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	h.CreateUser(t, alice, alicePhone)
	tokens := h.SignIn(t, alice, alicePhone, "sms")
	revoke := func(token, hint string, basic bool) *http.Response {
		form := url.Values{"token": {token}, "token_type_hint": {hint}}
		req, _ := http.NewRequest(http.MethodPost, h.Issuer+"/v1/revoke", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if basic {
			// okta-auth-js: base64(client_id), no colon, for public clients.
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(enginetest.ClientID)))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := revoke(tokens["access_token"].(string), "access_token", true)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(raw) != 0 || strings.Contains(resp.Header.Get("Content-Type"), "json") {
		t.Errorf("revoke: %d %q content-type %q", resp.StatusCode, raw, resp.Header.Get("Content-Type"))
	}
	status, _, _ := getJSON(t, h.Issuer+"/v1/userinfo", http.Header{"Authorization": {"Bearer " + tokens["access_token"].(string)}})
	if status != 401 {
		t.Errorf("userinfo with a revoked access token: %d", status)
	}
	resp = revoke(tokens["refresh_token"].(string), "refresh_token", false) // the Go SDK sends no client auth
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("revoke refresh: %d", resp.StatusCode)
	}
	status, body := h.PostForm(t, h.Issuer+"/v1/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {enginetest.ClientID}, "refresh_token": {tokens["refresh_token"].(string)}})
	if status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("refresh after revoke: %d %v", status, body)
	}
	resp = revoke("never-issued", "", true)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("unknown token: %d", resp.StatusCode)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) {
		c.Clients = append(c.Clients, config.ClientDefaults(config.Client{ID: "confidential", Secret: "s3cret-s3cret-s3cret", RedirectURIs: []string{enginetest.RedirectURI}}))
	}})
	cases := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"no client", url.Values{"grant_type": {"interaction_code"}}, 400, "invalid_request"},
		{"unknown client", url.Values{"grant_type": {"interaction_code"}, "client_id": {"nope"}}, 401, "invalid_client"},
		{"confidential without secret", url.Values{"grant_type": {"interaction_code"}, "client_id": {"confidential"}}, 401, "invalid_client"},
		{"confidential wrong secret", url.Values{"grant_type": {"interaction_code"}, "client_id": {"confidential"}, "client_secret": {"wrong-wrong-wrong-wrong"}}, 401, "invalid_client"},
		{"unsupported grant", url.Values{"grant_type": {"password"}, "client_id": {enginetest.ClientID}}, 400, "unsupported_grant_type"},
		{"no grant", url.Values{"client_id": {enginetest.ClientID}}, 400, "invalid_request"},
		{"refresh grant not allowed", url.Values{"grant_type": {"refresh_token"}, "client_id": {"confidential"}, "client_secret": {"s3cret-s3cret-s3cret"}, "refresh_token": {"x"}}, 400, "unauthorized_client"},
		{"no verifier", url.Values{"grant_type": {"interaction_code"}, "client_id": {enginetest.ClientID}, "interaction_code": {"x"}}, 400, "invalid_request"},
		{"unknown code", url.Values{"grant_type": {"interaction_code"}, "client_id": {enginetest.ClientID}, "interaction_code": {"x"}, "code_verifier": {strings.Repeat("a", 43)}}, 400, "invalid_grant"},
		{"duplicate parameter", url.Values{"grant_type": {"interaction_code", "interaction_code"}, "client_id": {enginetest.ClientID}}, 400, "invalid_request"},
	}
	for _, c := range cases {
		status, body := h.PostForm(t, h.Issuer+"/v1/token", c.form)
		if status != c.status || body["error"] != c.code || body["error_description"] == "" {
			t.Errorf("%s: %d %v, want %d %s", c.name, status, body, c.status, c.code)
		}
	}
}

func TestInteractErrors(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	good := func() url.Values {
		return url.Values{"client_id": {enginetest.ClientID}, "redirect_uri": {enginetest.RedirectURI}, "scope": {"openid email"},
			"code_challenge": {enginetest.NewPKCE().Challenge}, "code_challenge_method": {"S256"}, "state": {"s"}}
	}
	status, body := h.PostForm(t, h.Issuer+"/v1/interact", good())
	if status != 200 || body["interaction_handle"] == "" {
		t.Fatalf("good interact: %d %v", status, body)
	}
	cases := map[string]struct {
		change func(url.Values)
		status int
		code   string
	}{
		"unknown client":   {func(v url.Values) { v.Set("client_id", "nope") }, 401, "invalid_client"},
		"other redirect":   {func(v url.Values) { v.Set("redirect_uri", "http://evil.example/cb") }, 400, "invalid_request"},
		"no PKCE":          {func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }, 400, "invalid_request"},
		"plain PKCE":       {func(v url.Values) { v.Set("code_challenge_method", "plain") }, 400, "invalid_request"},
		"short challenge":  {func(v url.Values) { v.Set("code_challenge", "abc") }, 400, "invalid_request"},
		"unknown scope":    {func(v url.Values) { v.Set("scope", "openid admin") }, 400, "invalid_scope"},
		"activation token": {func(v url.Values) { v.Set("activation_token", "x") }, 400, "invalid_request"},
		"no scope":         {func(v url.Values) { v.Del("scope") }, 400, "invalid_scope"},
		"public w/ secret": {func(v url.Values) { v.Set("client_secret", "guess") }, 401, "invalid_client"},
	}
	for name, c := range cases {
		v := good()
		c.change(v)
		status, body := h.PostForm(t, h.Issuer+"/v1/interact", v)
		if status != c.status || body["error"] != c.code {
			t.Errorf("%s: %d %v, want %d %s", name, status, body, c.status, c.code)
		}
	}
}

func TestInteractRefusesClientsWithoutTheGrant(t *testing.T) {
	// Every configured client must have interaction_code, so the refusal is checked
	// through configuration validation.
	cfg := enginetest.Config("http://127.0.0.1:1", t.TempDir())
	cfg.Clients[0].Grants = []string{"refresh_token"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "must include interaction_code") {
		t.Errorf("Validate = %v", err)
	}
}

func TestLogout(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	h.CreateUser(t, alice, alicePhone)
	tokens := h.SignIn(t, alice, alicePhone, "sms")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(q url.Values) *http.Response {
		resp, err := noFollow.Get(h.Issuer + "/v1/logout?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := get(url.Values{"id_token_hint": {tokens["id_token"].(string)}, "post_logout_redirect_uri": {enginetest.AppOrigin + "/"}, "state": {"xyz"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != enginetest.AppOrigin+"/?state=xyz" {
		t.Errorf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = get(url.Values{"id_token_hint": {tokens["id_token"].(string)}, "post_logout_redirect_uri": {"http://evil.example/"}})
	if resp.StatusCode != 400 {
		t.Errorf("unregistered target: %d", resp.StatusCode)
	}
	resp = get(url.Values{"id_token_hint": {"forged.token.here"}, "post_logout_redirect_uri": {enginetest.AppOrigin + "/"}})
	if resp.StatusCode != 400 {
		t.Errorf("forged hint: %d", resp.StatusCode)
	}
	resp = get(nil)
	if resp.StatusCode != 200 {
		t.Errorf("plain logout: %d", resp.StatusCode)
	}
}
