//go:build unix

package rp

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-id/gatehouse/idx"
)

// TestInteractWithBasicAuth signs alice in through the IDX API as a confidential
// server-side client that authenticates the way okta-idx-golang does: client_id in
// the form of /v1/interact and /v1/token, and its secret in an HTTP Basic
// Authorization header (RFC 6749 2.3.1), never in the form. The IDX steps are the
// repository's SDK; a transport under it moves the secret from the form into the
// header. A wrong secret in the header is refused at interact.
func TestInteractWithBasicAuth(t *testing.T) {
	skipShort(t, false)
	gatehouseBin(t)
	ctx := testContext(t)
	const clientID, secret = "idx-web-app", "idx-web-app-secret/0123456789+"
	const redirectURI = "http://127.0.0.1:8080/login/callback"
	e := startEngine(t, ctx, rpClient{id: clientID, secret: secret, redirectURI: redirectURI,
		grants: []string{"interaction_code", "refresh_token"}})

	basic := &basicAuthTransport{clientID: clientID, next: http.DefaultTransport}
	client, err := idx.NewClient(idx.Config{
		Issuer: e.issuer, ClientID: clientID, ClientSecret: secret, RedirectURI: redirectURI,
		Scopes:     []string{"openid", "email", "offline_access"},
		HTTPClient: &http.Client{Transport: basic},
	})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := client.Authenticate(ctx, nil, idx.Options{Username: userLogin, Password: userPassword, Authenticator: "phone_number", MethodType: "sms"})
	if err != nil || tx.NextStep == nil || tx.NextStep.Name != "challenge-authenticator" {
		t.Fatalf("to the code step: %+v %v", tx, err)
	}
	tx, err = client.Authenticate(ctx, tx.State, idx.Options{VerificationCode: e.waitCode(t, ctx, 0)})
	if err != nil || tx.Status != idx.StatusSuccess || tx.Tokens == nil {
		t.Fatalf("the code: %+v %v", tx, err)
	}
	if sub := tx.Tokens.IDTokenClaims["sub"]; sub != e.userID {
		t.Errorf("ID token sub = %v, want %s", sub, e.userID)
	}
	if tx.Tokens.RefreshToken == "" {
		t.Error("no refresh token for offline_access")
	}
	if got := strings.Join(basic.used(), " "); got != "/oauth2/default/v1/interact /oauth2/default/v1/token" {
		t.Errorf("requests that carried the secret in a Basic header: %q, want interact and token", got)
	}

	// A wrong secret in the header is refused at interact. (Sending none there is
	// allowed, as at Okta: a confidential client authenticates at the token endpoint.)
	form := url.Values{"client_id": {clientID}, "scope": {"openid"}, "redirect_uri": {redirectURI},
		"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}, "state": {"s"}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.issuer+"/v1/interact", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, "not-the-secret-0123456789")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Error string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || body.Error != "invalid_client" {
		t.Errorf("interact with a wrong secret: %s %q, want 401 invalid_client", resp.Status, body.Error)
	}
}

// basicAuthTransport moves client_secret out of the form of interact and token
// requests into an HTTP Basic Authorization header, leaving client_id in the form.
type basicAuthTransport struct {
	clientID string
	next     http.RoundTripper

	mu    sync.Mutex
	paths []string
}

func (b *basicAuthTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || !(strings.HasSuffix(r.URL.Path, "/v1/interact") || strings.HasSuffix(r.URL.Path, "/v1/token")) {
		return b.next.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	secret := form.Get("client_secret")
	form.Del("client_secret")
	encoded := []byte(form.Encode())
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(encoded))
	r.ContentLength = int64(len(encoded))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(encoded)), nil }
	if secret != "" {
		// RFC 6749 2.3.1: both parts form-encoded before base64.
		r.SetBasicAuth(url.QueryEscape(b.clientID), url.QueryEscape(secret))
		b.mu.Lock()
		b.paths = append(b.paths, r.URL.Path)
		b.mu.Unlock()
	}
	return b.next.RoundTrip(r)
}

func (b *basicAuthTransport) used() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.paths...)
}
