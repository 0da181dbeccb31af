package app

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// fakeIssuer is an IDX issuer on loopback that answers with Okta's recorded
// responses (the SDK's fixtures in idx/testdata/fixtures), for the pages the
// engine does not serve yet: password reset, registration, authenticator
// apps. Its IDX endpoints follow routes: from the transaction's current
// state (a fixture), a POST to a path answers with the next one. The OAuth
// side is real enough for the SDK: discovery, a JWKS, interact, PKCE-checked
// tokens signed with a fresh key, userinfo and revoke.
type fakeIssuer struct {
	t   testing.TB
	srv *httptest.Server
	key *rsa.PrivateKey

	mu        sync.Mutex
	start     string               // the state interact begins with
	state     string               // the transaction's current state
	routes    map[string]fakeReply // "<state> <path>" → reply
	posts     []fakePost           // every IDX request but introspect
	interacts int
	challenge string // code_challenge of the last interact
	nonce     string
	claims    map[string]any // the user's claims in the ID token and userinfo
}

// fakeReply is the answer to an IDX post: a fixture, with a status.
type fakeReply struct {
	status  int    // 0 means 200
	fixture string // a file of idx/testdata/fixtures, or inline JSON
}

// fakePost is one IDX request the fake received.
type fakePost struct {
	path string
	body map[string]any
}

const fakeClientID = "0oaFAKEAPP"

// Fixtures of the SDK this package's tests serve.
const (
	fxIdentify         = "idx-01-introspect-identify.json"
	fxSelectPhone      = "idx-02-identify-select-authenticator-authenticate.json"
	fxVerifySMS        = "idx-03-challenge-authenticator-verification-data-phone-sms.json"
	fxChallengeSMS     = "idx-04-challenge-challenge-authenticator-phone-sms.json"
	fxSuccess          = "idx-05-challenge-answer-success-with-interaction-code.json"
	fxRecover          = "recovery-registration-totp/recover-identify-recovery.json"
	fxReset            = "recovery-registration-totp/reset-authenticator-password.json"
	fxProfile          = "recovery-registration-totp/select-enroll-profile-enroll-profile.json"
	fxSelectPassword   = "recovery-registration-totp/select-authenticator-enroll-password.json"
	fxEnrollPassword   = "recovery-registration-totp/enroll-authenticator-password.json"
	fxSelectPhoneOrApp = "recovery-registration-totp/select-authenticator-enroll-phone-or-google.json"
	fxEnrollApp        = "recovery-registration-totp/enroll-authenticator-google-otp.json"
	fxEnrollAppWrong   = "recovery-registration-totp/error-enroll-google-invalid-otp.json"
	fxChallengeApp     = "recovery-registration-totp/challenge-google-otp.json"
	fxChallengeAppUsed = "recovery-registration-totp/error-challenge-google-otp-used-passcode.json"
)

func newFakeIssuer(t testing.TB) *fakeIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIssuer{t: t, key: key, start: fxIdentify, routes: map[string]fakeReply{},
		claims: map[string]any{"sub": "00uFAKEUSER", "email": "ada@example.com", "name": "Ada Lovelace"}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIssuer) issuer() string { return f.srv.URL + "/oauth2/default" }

// on adds a route: in state from, a POST to path answers with reply; a 2xx
// reply becomes the current state.
func (f *fakeIssuer) on(from, path string, reply fakeReply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[from+" "+path] = reply
}

// lastPost returns the last IDX post to path.
func (f *fakeIssuer) lastPost(path string) map[string]any {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.posts) - 1; i >= 0; i-- {
		if f.posts[i].path == path {
			return f.posts[i].body
		}
	}
	f.t.Fatalf("nothing was posted to %s", path)
	return nil
}

func (f *fakeIssuer) current() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

// body reads a fixture, its hrefs pointed at the fake.
func (f *fakeIssuer) body(fixture string) []byte {
	data := []byte(fixture)
	if !strings.HasPrefix(fixture, "{") {
		var err error
		if data, err = os.ReadFile(filepath.Join("..", "idx", "testdata", "fixtures", fixture)); err != nil {
			f.t.Errorf("fake issuer: %v", err)
		}
	}
	return bytes.ReplaceAll(data, []byte("http://localhost:3000"), []byte(f.srv.URL))
}

func (f *fakeIssuer) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	switch p := r.URL.Path; {
	case p == "/oauth2/default/.well-known/openid-configuration":
		iss := f.issuer()
		fakeJSON(w, http.StatusOK, map[string]any{"issuer": iss, "jwks_uri": iss + "/v1/keys",
			"authorization_endpoint": iss + "/v1/authorize", "token_endpoint": iss + "/v1/token",
			"code_challenge_methods_supported": []string{"S256"}})
	case p == "/oauth2/default/v1/keys":
		fakeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &f.key.PublicKey, KeyID: "fake-1", Algorithm: "RS256", Use: "sig"}}})
	case p == "/oauth2/default/v1/interact":
		form, _ := url.ParseQuery(string(raw))
		f.mu.Lock()
		f.interacts++
		f.state, f.challenge, f.nonce = f.start, form.Get("code_challenge"), form.Get("nonce")
		f.mu.Unlock()
		fakeJSON(w, http.StatusOK, map[string]string{"interaction_handle": "fake-interaction"})
	case p == "/idp/idx/introspect":
		w.Header().Set("Content-Type", "application/ion+json; okta-version=1.0.0")
		w.Write(f.body(f.current()))
	case strings.HasPrefix(p, "/idp/idx/"):
		var body map[string]any
		json.Unmarshal(raw, &body)
		f.mu.Lock()
		f.posts = append(f.posts, fakePost{path: p, body: body})
		reply, ok := f.routes[f.state+" "+p]
		if ok && (reply.status == 0 || reply.status < 300) {
			f.state = reply.fixture
		}
		state := f.state
		f.mu.Unlock()
		if !ok {
			f.t.Errorf("fake issuer: no route for POST %s in state %s", p, state)
			http.Error(w, "no route", http.StatusInternalServerError)
			return
		}
		status := reply.status
		if status == 0 {
			status = http.StatusOK
		}
		w.Header().Set("Content-Type", "application/ion+json; okta-version=1.0.0")
		w.WriteHeader(status)
		w.Write(f.body(reply.fixture))
	case p == "/oauth2/default/v1/token":
		f.token(w, raw)
	case p == "/oauth2/default/v1/userinfo":
		f.mu.Lock()
		claims := f.claims
		f.mu.Unlock()
		fakeJSON(w, http.StatusOK, claims)
	case p == "/oauth2/default/v1/revoke":
		w.WriteHeader(http.StatusOK)
	default:
		http.NotFound(w, r)
	}
}

// token redeems the interaction code of the success fixture, checking PKCE.
func (f *fakeIssuer) token(w http.ResponseWriter, raw []byte) {
	form, _ := url.ParseQuery(string(raw))
	f.mu.Lock()
	challenge, nonce, claims := f.challenge, f.nonce, f.claims
	f.mu.Unlock()
	sum := sha256.Sum256([]byte(form.Get("code_verifier")))
	if form.Get("grant_type") != "interaction_code" || base64.RawURLEncoding.EncodeToString(sum[:]) != challenge {
		fakeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed."})
		return
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: f.key}, (&jose.SignerOptions{}).WithHeader("kid", "fake-1"))
	if err != nil {
		f.t.Errorf("fake issuer: %v", err)
		return
	}
	now := time.Now()
	access, _ := jwt.Signed(signer).Claims(map[string]any{"iss": f.issuer(), "aud": "api://default", "sub": claims["sub"],
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "cid": fakeClientID}).Serialize()
	idClaims := map[string]any{"iss": f.issuer(), "aud": fakeClientID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"nonce": nonce, "amr": []string{"pwd", "otp", "mfa"}}
	for k, v := range claims {
		idClaims[k] = v
	}
	idToken, _ := jwt.Signed(signer).Claims(idClaims).Serialize()
	fakeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 3600, "access_token": access,
		"id_token": idToken, "scope": "openid profile email"})
}

func fakeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// appOn starts the app in front of the fake issuer.
func appOn(t testing.TB, f *fakeIssuer) *testApp {
	t.Helper()
	store := NewMemorySessionStore(0)
	handler, err := New(Config{Issuer: f.issuer(), ClientID: fakeClientID, RedirectURI: "http://127.0.0.1/login/callback",
		Scopes: []string{"openid", "profile", "email"}, Sessions: store, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return &testApp{url: srv.URL, store: store}
}

// fieldValue returns a recorded post's value at a dotted path.
func fieldValue(body map[string]any, path string) any {
	var cur any = body
	for _, k := range strings.Split(path, ".") {
		m, _ := cur.(map[string]any)
		cur = m[k]
	}
	return cur
}

func (f *fakeIssuer) String() string {
	return fmt.Sprintf("fake issuer at %s in %s", f.srv.URL, f.current())
}
