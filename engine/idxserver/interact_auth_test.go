package idxserver_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// TestInteractConfidentialClientAuth: a confidential client authenticates at
// /v1/interact with its secret in the form or in an HTTP Basic header (as
// okta-idx-golang and most OAuth libraries send it); anything else is refused.
func TestInteractConfidentialClientAuth(t *testing.T) {
	const id, secret = "web-app", "web-app-secret/with+odd=chars"
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) {
		c.Clients = append(c.Clients, config.ClientDefaults(config.Client{
			ID: id, Secret: secret, RedirectURIs: []string{enginetest.RedirectURI},
			Grants: []string{config.GrantInteractionCode},
		}))
	}})
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(user)+":"+url.QueryEscape(pass)))
	}
	cases := []struct {
		name, header string
		form         url.Values
		status       int
		err          string
	}{
		{"secret in the form", "", url.Values{"client_id": {id}, "client_secret": {secret}}, 200, ""},
		{"Basic, client_id in the form too", basic(id, secret), url.Values{"client_id": {id}}, 200, ""},
		{"Basic alone", basic(id, secret), url.Values{}, 200, ""},
		{"Basic, wrong secret", basic(id, "not-the-secret-at-all"), url.Values{"client_id": {id}}, 401, "invalid_client"},
		{"no secret", "", url.Values{"client_id": {id}}, 401, "invalid_client"},
		{"Basic and a form secret", basic(id, secret), url.Values{"client_id": {id}, "client_secret": {secret}}, 400, "invalid_request"},
		{"Basic for another client_id", basic(id, secret), url.Values{"client_id": {enginetest.ClientID}}, 400, "invalid_request"},
		{"malformed Basic", "Basic %%%", url.Values{"client_id": {id}}, 401, "invalid_client"},
	}
	for _, tc := range cases {
		form := tc.form
		form.Set("scope", "openid")
		form.Set("redirect_uri", enginetest.RedirectURI)
		form.Set("code_challenge", strings.Repeat("A", 43))
		form.Set("code_challenge_method", "S256")
		form.Set("state", "st")
		req, _ := http.NewRequest(http.MethodPost, h.Issuer+"/v1/interact", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error  string `json:"error"`
			Handle string `json:"interaction_handle"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		switch {
		case resp.StatusCode != tc.status || body.Error != tc.err:
			t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, body.Error, tc.status, tc.err)
		case tc.status == 200 && body.Handle == "":
			t.Errorf("%s: no interaction_handle", tc.name)
		case tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "":
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
	}
}
