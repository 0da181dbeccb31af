package oauth_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// FuzzFormEndpoints posts arbitrary form bodies and query strings to the form-reading
// endpoints of a live engine (interact, token, revoke) and checks that every answer
// is either a success or an OAuth error with both members — never a server error.
func FuzzFormEndpoints(f *testing.F) {
	// The fuzzer is one client sending far more than the per-IP limits allow;
	// raise them so that its inputs reach the handlers.
	h := enginetest.Start(f, enginetest.Options{Configure: enginetest.NoRequestLimits})
	paths := []string{"/v1/interact", "/v1/token", "/v1/revoke"}
	f.Add(uint8(0), "", "client_id=test-app&redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Flogin%2Fcallback&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256")
	f.Add(uint8(1), "grant_type=interaction_code", "client_id=test-app&interaction_code=x&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
	f.Add(uint8(1), "", "grant_type=refresh_token&client_id=test-app&refresh_token=x&scope=openid%20openid")
	f.Add(uint8(2), "", "token=a.b.c&token_type_hint=access_token")
	f.Add(uint8(1), "client_id=%zz", "client_id=a&client_id=b")
	f.Fuzz(func(t *testing.T, which uint8, query, body string) {
		path := paths[int(which)%len(paths)]
		for _, c := range []byte(query) {
			if c <= ' ' || c >= 0x7f || c == '#' {
				return // not a request target an HTTP client can send; net/http refuses it before any handler
			}
		}
		req, err := http.NewRequest(http.MethodPost, h.Issuer+path+"?"+query, strings.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("%s answered %d: %s", path, resp.StatusCode, raw)
		}
		if resp.StatusCode >= 400 {
			var e map[string]string
			if json.Unmarshal(raw, &e) != nil || e["error"] == "" || e["error_description"] == "" {
				t.Fatalf("%s answered %d without an OAuth error body: %s", path, resp.StatusCode, raw)
			}
		}
	})
}
