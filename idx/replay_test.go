package idx

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// The replay server serves Okta's recorded responses (testdata/fixtures,
// described in its README) over loopback HTTP. IDX calls
// follow a script: each request must match the next scripted exchange (path,
// headers, exact JSON body) and gets the scripted fixture back. The OAuth
// endpoints are real enough to exercise the SDK: discovery (the recorded
// document, re-pointed at the server), a JWKS and tokens minted with a fresh
// RSA key, PKCE checking, userinfo and revoke.

const (
	recordedOrigin = "http://localhost:3000"
	// fixtureInteractionHandle is the handle in oauth-interact.json.
	fixtureInteractionHandle = "XW54hgROw9SbFCGdREsFBU5ytY6-imGdwtywkY-eJ14"
	testClientID             = "0oaCLIENT"
	testRedirectURI          = "http://app.example/callback"
	testKID                  = "replay-key-1"
	testSubject              = "00u1egri51r4PYyfE1d7"

	g3Accepts  = "application/json; okta-version=1.0.0"
	oldAccepts = "application/vnd.okta.v1+json"
)

// exchange is one scripted IDX request and its reply.
type exchange struct {
	path    string            // request path, e.g. "/idp/idx/identify"
	body    string            // exact expected JSON body (compared as JSON values)
	accept  string            // expected Accept header of a remediation post
	status  int               // reply status; 0 means 200
	fixture string            // file in testdata/fixtures, or inline JSON if it starts with "{"
	raw     string            // reply body used verbatim when set (non-JSON replies)
	header  map[string]string // reply headers, e.g. Retry-After
}

// introspectEx is the introspect exchange for the fixture interaction handle.
func introspectEx(fixture string) exchange {
	return exchange{
		path:    "/idp/idx/introspect",
		body:    `{"interactionHandle":"` + fixtureInteractionHandle + `"}`,
		fixture: fixture,
	}
}

type replayServer struct {
	t   *testing.T
	srv *httptest.Server
	key *rsa.PrivateKey // signs all tokens; published in the JWKS as kid
	kid string

	mu        sync.Mutex
	script    []exchange
	pos       int
	problems  []string
	interacts []url.Values
	tokenReqs []url.Values
	revokes   []recordedRequest
	userinfos []string       // Authorization headers
	forwarded []forwardedFor // every request's X-Forwarded-For, in order
	challenge string         // code_challenge of the last interact
	nonce     string         // nonce of the last interact
	issued    []string       // access tokens issued
	refresh   int            // refresh tokens issued

	// Knobs for negative tests.
	interactStatus  int
	interactFixture string
	interactRaw     string            // non-JSON interact reply body when set
	interactHeader  map[string]string // interact reply headers
	tokenStatus     int
	tokenFixture    string
	mutateIDToken   func(claims map[string]any)
	idTokenKey      *rsa.PrivateKey                    // signs ID tokens instead of key when set
	idTokenKID      string                             // kid header of ID tokens when set
	idTokenOverride func(claims map[string]any) string // replaces the ID token when set
	keysStatus      int                                // non-zero: the keys endpoint fails with it
	keysRequests    int
	discoveryMutate func(doc map[string]any)
}

// forwardedFor is the X-Forwarded-For header one request arrived with.
type forwardedFor struct {
	request string   // e.g. "POST /idp/idx/introspect"
	values  []string // every X-Forwarded-For header line; nil if none
}

type recordedRequest struct {
	form          url.Values
	authorization string
	contentType   string
}

func newReplayServer(t *testing.T, script ...exchange) *replayServer {
	t.Helper()
	s := &replayServer{t: t, key: sharedSigningKey(t), kid: testKID, script: script}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.srv.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.problems {
			t.Errorf("replay server: %s", p)
		}
		if s.pos != len(s.script) {
			t.Errorf("replay server: %d scripted exchanges were not requested, next: %s", len(s.script)-s.pos, s.script[s.pos].path)
		}
	})
	return s
}

var (
	signingKeyOnce sync.Once
	signingKey     *rsa.PrivateKey
	signingKeyErr  error
)

// sharedSigningKey is generated once per test binary: RSA key generation is
// the slowest part of a replay server, and every server may use the same key.
func sharedSigningKey(t *testing.T) *rsa.PrivateKey {
	signingKeyOnce.Do(func() { signingKey, signingKeyErr = rsa.GenerateKey(rand.Reader, 2048) })
	if signingKeyErr != nil {
		t.Fatal(signingKeyErr)
	}
	return signingKey
}

func (s *replayServer) issuer() string { return s.srv.URL + "/oauth2/default" }

// client returns an SDK client configured for the replay server.
func (s *replayServer) client(scopes ...string) *Client {
	s.t.Helper()
	c, err := NewClient(Config{
		Issuer:      s.issuer(),
		ClientID:    testClientID,
		RedirectURI: testRedirectURI,
		Scopes:      scopes,
		HTTPClient:  s.srv.Client(),
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// expect appends exchanges to the script.
func (s *replayServer) expect(ex ...exchange) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, ex...)
}

func (s *replayServer) problem(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

// fixture reads a recorded response, pointing its hrefs at this server.
func (s *replayServer) fixture(name string) []byte {
	if strings.HasPrefix(name, "{") {
		return []byte(strings.ReplaceAll(name, recordedOrigin, s.srv.URL))
	}
	data, err := os.ReadFile(filepath.Join("testdata", "fixtures", name))
	if err != nil {
		s.problem("fixture %s: %v", name, err)
		return nil
	}
	return bytes.ReplaceAll(data, []byte(recordedOrigin), []byte(s.srv.URL))
}

func (s *replayServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.forwarded = append(s.forwarded, forwardedFor{request: r.Method + " " + r.URL.Path, values: r.Header.Values("X-Forwarded-For")})
	s.mu.Unlock()
	switch {
	case r.URL.Path == "/oauth2/default/.well-known/openid-configuration" && r.Method == http.MethodGet:
		s.serveDiscovery(w)
	case r.URL.Path == "/oauth2/default/v1/keys" && r.Method == http.MethodGet:
		s.mu.Lock()
		s.keysRequests++
		status := s.keysStatus
		s.mu.Unlock()
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		writeJSON(w, http.StatusOK, s.jwks())
	case r.URL.Path == "/oauth2/default/v1/interact" && r.Method == http.MethodPost:
		s.serveInteract(w, r, body)
	case r.URL.Path == "/oauth2/default/v1/token" && r.Method == http.MethodPost:
		s.serveToken(w, r, body)
	case r.URL.Path == "/oauth2/default/v1/userinfo" && r.Method == http.MethodGet:
		s.serveUserInfo(w, r)
	case r.URL.Path == "/oauth2/default/v1/revoke" && r.Method == http.MethodPost:
		form, _ := url.ParseQuery(string(body))
		s.mu.Lock()
		s.revokes = append(s.revokes, recordedRequest{form: form, authorization: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type")})
		s.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	case strings.HasPrefix(r.URL.Path, "/idp/idx/"):
		s.serveIDX(w, r, body)
	default:
		s.problem("unexpected request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	}
}

func (s *replayServer) serveIDX(w http.ResponseWriter, r *http.Request, body []byte) {
	s.mu.Lock()
	if s.pos >= len(s.script) {
		s.mu.Unlock()
		s.problem("unscripted IDX request %s %s %s", r.Method, r.URL.Path, body)
		http.Error(w, "unscripted", http.StatusInternalServerError)
		return
	}
	ex := s.script[s.pos]
	s.pos++
	s.mu.Unlock()

	if r.Method != http.MethodPost || r.URL.Path != ex.path {
		s.problem("exchange %d: got %s %s, want POST %s", s.pos, r.Method, r.URL.Path, ex.path)
	}
	wantCT, wantAccept := "application/json", ex.accept
	if ex.path == "/idp/idx/introspect" {
		wantCT, wantAccept = idxMediaType, idxMediaType
	}
	if got := r.Header.Get("Content-Type"); got != wantCT {
		s.problem("exchange %d (%s): Content-Type %q, want %q", s.pos, ex.path, got, wantCT)
	}
	if got := r.Header.Get("Accept"); got != wantAccept {
		s.problem("exchange %d (%s): Accept %q, want %q", s.pos, ex.path, got, wantAccept)
	}
	if !jsonEqual(body, []byte(ex.body)) {
		s.problem("exchange %d (%s): body\n  got  %s\n  want %s", s.pos, ex.path, body, ex.body)
	}
	status := ex.status
	if status == 0 {
		status = http.StatusOK
	}
	for k, v := range ex.header {
		w.Header().Set(k, v)
	}
	if ex.raw != "" {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		io.WriteString(w, ex.raw)
		return
	}
	w.Header().Set("Content-Type", "application/json; okta-version=1.0.0")
	w.WriteHeader(status)
	w.Write(s.fixture(ex.fixture))
}

func (s *replayServer) serveDiscovery(w http.ResponseWriter) {
	var doc map[string]any
	if err := json.Unmarshal(s.fixture("oauth-well-known-openid-configuration.json"), &doc); err != nil {
		s.problem("discovery fixture: %v", err)
	}
	if s.discoveryMutate != nil {
		s.discoveryMutate(doc)
	}
	writeJSON(w, http.StatusOK, doc)
}

func (s *replayServer) jwks() jose.JSONWebKeySet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &s.key.PublicKey, KeyID: s.kid, Algorithm: string(jose.RS256), Use: "sig",
	}}}
}

func (s *replayServer) serveInteract(w http.ResponseWriter, r *http.Request, body []byte) {
	form, _ := url.ParseQuery(string(body))
	s.mu.Lock()
	s.interacts = append(s.interacts, form)
	s.challenge, s.nonce = form.Get("code_challenge"), form.Get("nonce")
	status, fixture, raw := s.interactStatus, s.interactFixture, s.interactRaw
	for k, v := range s.interactHeader {
		w.Header().Set(k, v)
	}
	s.mu.Unlock()
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		s.problem("interact Content-Type %q", ct)
	}
	if status == 0 {
		status, fixture = http.StatusOK, "oauth-interact.json"
	}
	if raw != "" {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		io.WriteString(w, raw)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(s.fixture(fixture))
}

func (s *replayServer) serveToken(w http.ResponseWriter, r *http.Request, body []byte) {
	form, _ := url.ParseQuery(string(body))
	s.mu.Lock()
	s.tokenReqs = append(s.tokenReqs, form)
	status, fixture := s.tokenStatus, s.tokenFixture
	challenge := s.challenge
	s.mu.Unlock()
	if status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(s.fixture(fixture))
		return
	}
	switch form.Get("grant_type") {
	case "interaction_code":
		sum := sha256.Sum256([]byte(form.Get("code_verifier")))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed."})
			return
		}
	case "refresh_token":
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "unsupported"})
		return
	}
	writeJSON(w, http.StatusOK, s.mintTokens(form.Get("grant_type") == "interaction_code"))
}

// mintTokens issues an access token, an ID token (with the interact nonce on
// the interaction_code grant) and a refresh token.
func (s *replayServer) mintTokens(withNonce bool) map[string]any {
	s.mu.Lock()
	nonce := s.nonce
	s.refresh++
	refresh := fmt.Sprintf("refresh-%d", s.refresh)
	s.mu.Unlock()
	now := time.Now()
	s.mu.Lock()
	signKey, signKID := s.key, s.kid
	s.mu.Unlock()
	access := s.sign(signKey, signKID, map[string]any{
		"ver": 1, "iss": s.issuer(), "aud": "api://default", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"cid": testClientID, "uid": testSubject, "scp": []string{"openid", "email"}, "sub": "tester@example.com",
		"jti": fmt.Sprintf("AT.%d", now.UnixNano()),
	})
	sum := sha256.Sum256([]byte(access))
	claims := map[string]any{
		"ver": 1, "sub": testSubject, "iss": s.issuer(), "aud": testClientID,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "auth_time": now.Unix(),
		"amr": []string{"pwd", "sms", "mfa"}, "email": "tester@example.com",
		"at_hash": base64.RawURLEncoding.EncodeToString(sum[:16]),
	}
	if withNonce {
		claims["nonce"] = nonce
	}
	key, kid := signKey, signKID
	s.mu.Lock()
	override := s.idTokenOverride
	if s.mutateIDToken != nil {
		s.mutateIDToken(claims)
	}
	if s.idTokenKey != nil {
		key = s.idTokenKey
	}
	if s.idTokenKID != "" {
		kid = s.idTokenKID
	}
	s.issued = append(s.issued, access)
	s.mu.Unlock()
	idToken := s.sign(key, kid, claims)
	if override != nil {
		idToken = override(claims)
	}
	return map[string]any{
		"token_type":    "Bearer",
		"expires_in":    3600,
		"access_token":  access,
		"scope":         "openid email offline_access",
		"id_token":      idToken,
		"refresh_token": refresh,
	}
}

func (s *replayServer) sign(key *rsa.PrivateKey, kid string, claims map[string]any) string {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		s.problem("signer: %v", err)
		return ""
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		s.problem("sign: %v", err)
	}
	return tok
}

func (s *replayServer) serveUserInfo(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	s.mu.Lock()
	s.userinfos = append(s.userinfos, auth)
	valid := false
	for _, at := range s.issued {
		if auth == "Bearer "+at {
			valid = true
		}
	}
	s.mu.Unlock()
	if !valid {
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="x", error="invalid_token", error_description="The access token is invalid."`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sub": testSubject, "email": "tester@example.com", "email_verified": true})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// jsonEqual compares two JSON documents as values.
func jsonEqual(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// assertTx compares a Transaction with the expected one, field by field
// except Tokens and State, which tests check separately.
func assertTx(t *testing.T, got *Transaction, want Transaction) {
	t.Helper()
	if got == nil {
		t.Fatalf("transaction is nil")
	}
	g := *got
	g.Tokens, g.State = nil, nil
	if !reflect.DeepEqual(g, want) {
		gj, _ := json.MarshalIndent(g, "", "  ")
		wj, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("transaction mismatch\n--- got\n%s\n--- want\n%s", gj, wj)
	}
}
