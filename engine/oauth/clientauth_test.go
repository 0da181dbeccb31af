package oauth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

const clientSecret = "s3cret-s3cret-s3cret"

// keyPair is a client's signing key and its public JWK.
type keyPair struct {
	priv crypto.Signer
	alg  jose.SignatureAlgorithm
	kid  string
}

func newRSAKey(t *testing.T, kid string) keyPair {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{k, jose.RS256, kid}
}

func newECKey(t *testing.T, kid string) keyPair {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{k, jose.ES256, kid}
}

func jwksJSON(t *testing.T, keys ...keyPair) string {
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Use: "sig", Algorithm: string(k.alg)})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assertion signs claims with k, naming its kid if it has one.
func assertion(t *testing.T, k keyPair, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if k.kid != "" {
		opts = opts.WithHeader("kid", k.kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// freshClaims are the claims of a good assertion, with a new jti.
func freshClaims(clientID, aud string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": clientID, "sub": clientID, "aud": aud, "exp": now.Add(2 * time.Minute).Unix(),
		"iat": now.Unix(), "jti": opaque.New(16)}
}

// tokenRequest posts a token request with a bogus interaction code: a client that
// authenticates gets 400 invalid_grant, one that does not gets 401 invalid_client.
func tokenRequest(t *testing.T, h *enginetest.Harness, form url.Values, header http.Header) (int, map[string]any) {
	t.Helper()
	v := url.Values{"grant_type": {"interaction_code"}, "interaction_code": {"no-such-code"}, "code_verifier": {strings.Repeat("a", 43)}}
	for k, vals := range form {
		v[k] = vals
	}
	return post(t, h.Issuer+"/v1/token", v, header)
}

func post(t *testing.T, u string, form url.Values, header http.Header) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func basic(id, secret string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))}}
}

func authClient(id string, mod func(*config.Client)) config.Client {
	c := config.Client{ID: id, RedirectURIs: []string{enginetest.RedirectURI}}
	mod(&c)
	return config.ClientDefaults(c)
}

func TestClientMustUseItsRegisteredMethod(t *testing.T) {
	rsaKey := newRSAKey(t, "r1")
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) {
		c.Clients = append(c.Clients,
			authClient("basic-only", func(c *config.Client) {
				c.Secret, c.TokenEndpointAuthMethod = clientSecret, config.AuthClientSecretBasic
			}),
			authClient("post-only", func(c *config.Client) {
				c.Secret, c.TokenEndpointAuthMethod = clientSecret, config.AuthClientSecretPost
			}),
			authClient("either", func(c *config.Client) { c.Secret = clientSecret }),
			authClient("jwt", func(c *config.Client) {
				c.TokenEndpointAuthMethod, c.JWKS = config.AuthPrivateKeyJWT, config.JWKSet(jwksJSON(t, rsaKey))
			}),
			authClient("public", func(c *config.Client) { c.Public = true }),
		)
	}})
	tokenURL := h.Issuer + "/v1/token"
	jwtForm := func() url.Values {
		return url.Values{"client_id": {"jwt"}, "client_assertion_type": {oauth.ClientAssertionType},
			"client_assertion": {assertion(t, rsaKey, freshClaims("jwt", tokenURL))}}
	}
	cases := []struct {
		name   string
		form   url.Values
		header http.Header
		status int
		code   string
	}{
		{"basic client with basic", nil, basic("basic-only", clientSecret), 400, "invalid_grant"},
		{"basic client with post", url.Values{"client_id": {"basic-only"}, "client_secret": {clientSecret}}, nil, 401, "invalid_client"},
		{"basic client with nothing", url.Values{"client_id": {"basic-only"}}, nil, 401, "invalid_client"},
		{"basic client with a wrong secret", nil, basic("basic-only", "wrong-wrong-wrong-wrong"), 401, "invalid_client"},
		{"post client with post", url.Values{"client_id": {"post-only"}, "client_secret": {clientSecret}}, nil, 400, "invalid_grant"},
		{"post client with basic", nil, basic("post-only", clientSecret), 401, "invalid_client"},
		{"either with basic", nil, basic("either", clientSecret), 400, "invalid_grant"},
		{"either with post", url.Values{"client_id": {"either"}, "client_secret": {clientSecret}}, nil, 400, "invalid_grant"},
		{"either with nothing", url.Values{"client_id": {"either"}}, nil, 401, "invalid_client"},
		{"jwt client with an assertion", jwtForm(), nil, 400, "invalid_grant"},
		{"jwt client with a secret", url.Values{"client_id": {"jwt"}, "client_secret": {clientSecret}}, nil, 401, "invalid_client"},
		{"jwt client with nothing", url.Values{"client_id": {"jwt"}}, nil, 401, "invalid_client"},
		{"public client with its id", url.Values{"client_id": {"public"}}, nil, 400, "invalid_grant"},
		{"public client with its id as Basic", nil, http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("public"))}}, 400, "invalid_grant"},
		{"public client with a secret", url.Values{"client_id": {"public"}, "client_secret": {clientSecret}}, nil, 401, "invalid_client"},
		{"basic and post at once", url.Values{"client_secret": {clientSecret}}, basic("either", clientSecret), 400, "invalid_request"},
		{"secret and assertion at once", func() url.Values { v := jwtForm(); v.Set("client_secret", clientSecret); return v }(), nil, 400, "invalid_request"},
		{"unknown client", url.Values{"client_id": {"nobody"}, "client_secret": {clientSecret}}, nil, 401, "invalid_client"},
	}
	for _, c := range cases {
		status, body := tokenRequest(t, h, c.form, c.header)
		if status != c.status || body["error"] != c.code || body["error_description"] == "" {
			t.Errorf("%s: %d %v, want %d %s", c.name, status, body, c.status, c.code)
		}
	}
}

func TestPrivateKeyJWTAssertions(t *testing.T) {
	key, other := newRSAKey(t, "k1"), newRSAKey(t, "k1")
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) {
		c.Clients = append(c.Clients,
			authClient("jwt", func(c *config.Client) {
				c.TokenEndpointAuthMethod, c.JWKS = config.AuthPrivateKeyJWT, config.JWKSet(jwksJSON(t, key))
			}),
			authClient("jwt2", func(c *config.Client) {
				c.TokenEndpointAuthMethod, c.JWKS = config.AuthPrivateKeyJWT, config.JWKSet(jwksJSON(t, other))
			}))
	}})
	tokenURL := h.Issuer + "/v1/token"
	form := func(raw string) url.Values {
		return url.Values{"client_id": {"jwt"}, "client_assertion_type": {oauth.ClientAssertionType}, "client_assertion": {raw}}
	}
	with := func(change func(map[string]any)) string {
		c := freshClaims("jwt", tokenURL)
		change(c)
		return assertion(t, key, c)
	}
	accepted := func(what string, f url.Values, header http.Header) {
		t.Helper()
		if status, body := tokenRequest(t, h, f, header); status != 400 || body["error"] != "invalid_grant" {
			t.Errorf("%s: %d %v, want the client authenticated (400 invalid_grant)", what, status, body)
		}
	}
	refused := func(what string, f url.Values, wantText string) {
		t.Helper()
		status, body := tokenRequest(t, h, f, nil)
		desc, _ := body["error_description"].(string)
		if status != 401 || body["error"] != "invalid_client" || !strings.Contains(desc, wantText) {
			t.Errorf("%s: %d %v, want 401 invalid_client saying %q", what, status, body, wantText)
		}
	}

	good := with(func(map[string]any) {})
	accepted("a good assertion", form(good), nil)
	refused("the same assertion again", form(good), "already used")
	accepted("aud the issuer", form(with(func(c map[string]any) { c["aud"] = h.Issuer })), nil)
	accepted("aud a list holding the token endpoint", form(with(func(c map[string]any) { c["aud"] = []string{"https://elsewhere.example", tokenURL} })), nil)
	noID := form(with(func(map[string]any) {}))
	noID.Del("client_id")
	accepted("no client_id: the subject names the client", noID, nil)
	// RFC 7523 3 lets the key id be left out.
	unnamed := key
	unnamed.kid = ""
	accepted("no kid", form(assertion(t, unnamed, freshClaims("jwt", tokenURL))), nil)

	refused("wrong aud", form(with(func(c map[string]any) { c["aud"] = "https://elsewhere.example/token" })), "aud")
	refused("expired", form(with(func(c map[string]any) { c["exp"] = time.Now().Add(-2 * time.Minute).Unix() })), "expired")
	refused("exp far ahead", form(with(func(c map[string]any) { c["exp"] = time.Now().Add(time.Hour).Unix() })), "more than 10 minutes")
	refused("no exp", form(with(func(c map[string]any) { delete(c, "exp") })), "no exp")
	refused("no jti", form(with(func(c map[string]any) { delete(c, "jti") })), "jti")
	refused("nbf ahead", form(with(func(c map[string]any) { c["nbf"] = time.Now().Add(5 * time.Minute).Unix() })), "nbf")
	refused("iss not the client", form(with(func(c map[string]any) { c["iss"] = "someone" })), "iss and sub")
	refused("sub not the client", form(with(func(c map[string]any) { c["sub"] = "jwt2" })), "iss and sub")
	refused("signed by another key with the same kid", form(assertion(t, other, freshClaims("jwt", tokenURL))), "not signed by a key")
	refused("another client's assertion under this client_id", form(assertion(t, other, freshClaims("jwt2", tokenURL))), "not signed by a key")
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("k", 32))}, nil)
	hsRaw, _ := jwt.Signed(hs).Claims(freshClaims("jwt", tokenURL)).Serialize()
	refused("HS256", form(hsRaw), "RS256 or ES256")
	refused("not a JWT", form("garbage"), "not a JWT")
	wrongType := form(good)
	wrongType.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
	refused("wrong assertion type", wrongType, "client_assertion_type")

	// The revocation endpoint authenticates the same way; aud may name it.
	revokeURL := h.Issuer + "/v1/revoke"
	f := form(assertion(t, key, freshClaims("jwt", revokeURL)))
	f.Set("token", "never-issued")
	if status, body := post(t, revokeURL, f, nil); status != 200 {
		t.Errorf("revoke with an assertion: %d %v", status, body)
	}
	f = form(assertion(t, other, freshClaims("jwt", revokeURL)))
	f.Set("token", "never-issued")
	if status, body := post(t, revokeURL, f, nil); status != 401 || body["error"] != "invalid_client" {
		t.Errorf("revoke with a bad assertion: %d %v", status, body)
	}
}

// jwksServer serves a key set that the test can change, counting fetches.
type jwksServer struct {
	mu      sync.Mutex
	body    string
	fetches int
	srv     *httptest.Server
}

func newJWKSServer(t *testing.T, body string) *jwksServer {
	s := &jwksServer{body: body}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fetches++
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(s.body))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) set(body string) {
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

func (s *jwksServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

func TestPrivateKeyJWTWithJWKSURI(t *testing.T) {
	first, second := newECKey(t, "ec-1"), newECKey(t, "ec-2")
	keys := newJWKSServer(t, jwksJSON(t, first))
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) {
		c.SignOn.RequirePhone = false
		c.Clients = append(c.Clients, authClient("svc", func(c *config.Client) {
			c.TokenEndpointAuthMethod, c.JWKSURI = config.AuthPrivateKeyJWT, keys.srv.URL+"/jwks.json"
			c.Grants = []string{config.GrantInteractionCode, config.GrantRefreshToken}
			c.Scopes = []string{"openid", "email", "offline_access"}
		}))
	}})
	h.CreateUser(t, alice, alicePhone)
	tokenURL := h.Issuer + "/v1/token"
	creds := func(k keyPair) url.Values {
		return url.Values{"client_id": {"svc"}, "client_assertion_type": {oauth.ClientAssertionType},
			"client_assertion": {assertion(t, k, freshClaims("svc", tokenURL))}}
	}

	// A whole sign-in ends in tokens for the client that proves its key.
	f := h.InteractFor(t, enginetest.Client{ID: "svc", RedirectURI: enginetest.RedirectURI}, "openid", "email", "offline_access")
	enginetest.Expect(t, "identify", 200)(f.Identify(alice, enginetest.Password))
	status, tokens := f.RedeemWith(creds(first), nil)
	if status != 200 || tokens["access_token"] == nil || tokens["refresh_token"] == nil {
		t.Fatalf("token with an ES256 assertion: %d %v", status, tokens)
	}
	status, body := post(t, tokenURL, func() url.Values {
		v := creds(first)
		v.Set("grant_type", "refresh_token")
		v.Set("refresh_token", tokens["refresh_token"].(string))
		return v
	}(), nil)
	if status != 200 {
		t.Errorf("refresh with an assertion: %d %v", status, body)
	}
	if n := keys.count(); n != 1 {
		t.Errorf("the key set was fetched %d times for two assertions, want once (cached)", n)
	}

	// The client rotates its key: an assertion naming the new kid makes the engine
	// fetch the set again (at most every 30 seconds), once, however many such
	// assertions come.
	keys.set(jwksJSON(t, first, second))
	h.Clock.Advance(31 * time.Second)
	if status, body := tokenRequest(t, h, creds(second), nil); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("assertion signed by the rotated-in key: %d %v", status, body)
	}
	if n := keys.count(); n != 2 {
		t.Errorf("after an unknown kid: %d fetches, want 2", n)
	}
	unknown := newECKey(t, "ec-unknown")
	for range 3 {
		if status, _ := tokenRequest(t, h, creds(unknown), nil); status != 401 {
			t.Errorf("assertion by an unregistered key: %d", status)
		}
	}
	if n := keys.count(); n != 2 {
		t.Errorf("unknown kids right after a fetch made %d fetches, want none more (2)", n)
	}
	// After 30 seconds an unknown kid may fetch again; the new set lacks the old key.
	keys.set(jwksJSON(t, second))
	h.Clock.Advance(31 * time.Second)
	if status, _ := tokenRequest(t, h, creds(unknown), nil); status != 401 {
		t.Errorf("assertion by an unregistered key: %d", status)
	}
	if status, _ := tokenRequest(t, h, creds(first), nil); status != 401 {
		t.Errorf("assertion by a key the client removed: %d", status)
	}
	if n := keys.count(); n != 3 {
		t.Errorf("an unknown kid 31 s later: %d fetches, want 3", n)
	}
}

func TestPrivateKeyJWTWithAnUnreachableJWKSURI(t *testing.T) {
	key := newECKey(t, "k")
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) {
		c.Clients = append(c.Clients, authClient("svc", func(c *config.Client) {
			c.TokenEndpointAuthMethod, c.JWKSURI = config.AuthPrivateKeyJWT, dead.URL+"/jwks"
		}))
	}})
	f := url.Values{"client_id": {"svc"}, "client_assertion_type": {oauth.ClientAssertionType},
		"client_assertion": {assertion(t, key, freshClaims("svc", h.Issuer+"/v1/token"))}}
	status, body := tokenRequest(t, h, f, nil)
	if status != 401 || body["error"] != "invalid_client" || !strings.Contains(body["error_description"].(string), "keys could not be loaded") {
		t.Errorf("unreachable jwks_uri: %d %v", status, body)
	}
}

func TestDiscoveryListsTheClientAuthMethods(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	_, _, d := getJSON(t, h.Issuer+"/.well-known/openid-configuration", nil)
	methods := []any{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
	algs := []any{"RS256", "ES256"}
	for _, k := range []string{"token_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported"} {
		if !reflect.DeepEqual(d[k], methods) {
			t.Errorf("%s = %v, want %v", k, d[k], methods)
		}
	}
	for _, k := range []string{"token_endpoint_auth_signing_alg_values_supported", "revocation_endpoint_auth_signing_alg_values_supported", "introspection_endpoint_auth_signing_alg_values_supported"} {
		if !reflect.DeepEqual(d[k], algs) {
			t.Errorf("%s = %v, want %v", k, d[k], algs)
		}
	}
}

// Like Okta, /v1/interact takes the client_id alone, and a confidential client
// authenticates where tokens are issued; credentials sent at interact anyway (as
// okta-idx-golang sends HTTP Basic) must be right.
func TestConfidentialClientAuthenticatesAtTheTokenEndpoint(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) {
		c.SignOn.RequirePhone = false
		c.Clients = append(c.Clients, authClient("web", func(c *config.Client) {
			c.Secret, c.TokenEndpointAuthMethod = clientSecret, config.AuthClientSecretBasic
		}))
	}})
	h.CreateUser(t, alice, alicePhone)
	web := enginetest.Client{ID: "web", RedirectURI: enginetest.RedirectURI}

	f := h.InteractFor(t, web)
	if f.InteractionHandle == "" {
		t.Fatal("no interaction handle")
	}
	enginetest.Expect(t, "identify", 200)(f.Identify(alice, enginetest.Password))
	status, body := f.RedeemWith(nil, nil)
	if status != 401 || body["error"] != "invalid_client" {
		t.Errorf("token without the secret: %d %v, want 401 invalid_client", status, body)
	}
	status, tokens := f.RedeemWith(url.Values{"client_id": {""}}, basic("web", clientSecret))
	if status != 200 || tokens["access_token"] == nil || tokens["id_token"] == nil {
		t.Errorf("token with HTTP Basic: %d %v", status, tokens)
	}

	for _, c := range []struct {
		name   string
		form   url.Values
		header http.Header
		status int
		code   string
	}{
		{"right secret as Basic", url.Values{"client_id": nil}, basic("web", clientSecret), 200, ""},
		{"right secret as Basic with the client_id", nil, basic("web", clientSecret), 200, ""},
		{"right client_secret", url.Values{"client_secret": {clientSecret}}, nil, 200, ""},
		{"wrong secret as Basic", url.Values{"client_id": nil}, basic("web", "wrong-wrong-wrong-wrong"), 401, "invalid_client"},
		{"wrong client_secret", url.Values{"client_secret": {"wrong-wrong-wrong-wrong"}}, nil, 401, "invalid_client"},
		{"Basic naming another client", nil, basic(enginetest.ClientID, clientSecret), 400, "invalid_request"},
		{"Basic and client_secret", url.Values{"client_secret": {clientSecret}}, basic("web", clientSecret), 400, "invalid_request"},
	} {
		status, body := h.TryInteractFor(t, enginetest.Client{ID: "web", RedirectURI: enginetest.RedirectURI, Form: c.form, Header: c.header})
		if status != c.status || (c.code != "" && body["error"] != c.code) || (c.code == "" && body["interaction_handle"] == nil) {
			t.Errorf("interact with %s: %d %v, want %d %s", c.name, status, body, c.status, c.code)
		}
	}
}
