package idx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestDeriveURLs(t *testing.T) {
	cases := []struct{ issuer, oauthBase, introspect string }{
		{"https://id.example.com/oauth2/default", "https://id.example.com/oauth2/default", "https://id.example.com/idp/idx/introspect"},
		{"https://id.example.com", "https://id.example.com/oauth2", "https://id.example.com/idp/idx/introspect"},
		{"https://id.example.com/oauth2", "https://id.example.com/oauth2", "https://id.example.com/idp/idx/introspect"},
		{"https://id.example.com/tenant/oauth2/aus1", "https://id.example.com/tenant/oauth2/aus1", "https://id.example.com/tenant/idp/idx/introspect"},
		{"http://127.0.0.1:8080/oauth2/default", "http://127.0.0.1:8080/oauth2/default", "http://127.0.0.1:8080/idp/idx/introspect"},
	}
	for _, tc := range cases {
		c, err := NewClient(Config{Issuer: tc.issuer + "/", ClientID: "c", RedirectURI: "r"})
		if err != nil {
			t.Fatal(err)
		}
		if c.issuer != tc.issuer || c.oauthBase != tc.oauthBase || c.introspectURL != tc.introspect {
			t.Errorf("%s: issuer %q, base %q, introspect %q; want %q, %q", tc.issuer, c.issuer, c.oauthBase, c.introspectURL, tc.oauthBase, tc.introspect)
		}
		if c.tokenURL() != tc.oauthBase+"/v1/token" || c.interactURL() != tc.oauthBase+"/v1/interact" ||
			c.userinfoURL() != tc.oauthBase+"/v1/userinfo" || c.revokeURL() != tc.oauthBase+"/v1/revoke" {
			t.Errorf("%s: OAuth endpoints not under %s", tc.issuer, tc.oauthBase)
		}
	}
}

func TestNewClientValidation(t *testing.T) {
	valid := Config{Issuer: "https://id.example.com/oauth2/default", ClientID: "c", RedirectURI: "https://app/cb"}
	c, err := NewClient(valid)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.scopes, []string{"openid", "email"}) || c.clockSkew != defaultClockSkew || c.httpClient == nil {
		t.Fatalf("defaults: scopes %v skew %v", c.scopes, c.clockSkew)
	}
	for name, mutate := range map[string]func(*Config){
		"no issuer":       func(c *Config) { c.Issuer = "" },
		"relative issuer": func(c *Config) { c.Issuer = "/oauth2/default" },
		"ftp issuer":      func(c *Config) { c.Issuer = "ftp://id.example.com" },
		"issuer query":    func(c *Config) { c.Issuer = "https://id.example.com?x=1" },
		"no client id":    func(c *Config) { c.ClientID = "" },
		"no redirect":     func(c *Config) { c.RedirectURI = "" },
		"bad scope":       func(c *Config) { c.Scopes = []string{"openid email"} },
	} {
		cfg := valid
		mutate(&cfg)
		if _, err := NewClient(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
}

func TestStateSerialization(t *testing.T) {
	st := State{
		Version: 1, Issuer: "https://id.example.com/oauth2/default", ClientID: "0oaCLIENT",
		InteractionHandle: "XW54hgROw9SbFCGdREsFBU5ytY6-imGdwtywkY-eJ14",
		CodeVerifier:      strings.Repeat("v", 64), OAuthState: strings.Repeat("s", 43), Nonce: strings.Repeat("n", 43),
		StateHandle: "02tKwcMNRmwEsDoe_HuMZYf5m-lg3kFugYKrcTWOL3",
	}
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 512 {
		t.Errorf("State JSON is %d bytes, want it cookie-sized", len(data))
	}
	var back State
	if err := json.Unmarshal(data, &back); err != nil || back != st {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, v := range []any{st, &st} {
			out := fmt.Sprintf(format, v)
			if strings.Contains(out, st.CodeVerifier) || strings.Contains(out, st.InteractionHandle) {
				t.Errorf("fmt %s leaks a secret: %s", format, out)
			}
		}
	}
}

// TestTransactionJSONHasNoSecrets: a Transaction can be sent to a browser.
func TestTransactionJSONHasNoSecrets(t *testing.T) {
	tx := Transaction{
		Status: StatusSuccess,
		State:  &State{CodeVerifier: "VERIFIER", InteractionHandle: "HANDLE"},
		Tokens: &Tokens{AccessToken: "ACCESS", IDToken: "IDTOKEN", RefreshToken: "REFRESH"},
	}
	data, _ := json.Marshal(tx)
	for _, secret := range []string{"VERIFIER", "HANDLE", "ACCESS", "IDTOKEN", "REFRESH"} {
		if strings.Contains(string(data), secret) {
			t.Errorf("Transaction JSON contains %s: %s", secret, data)
		}
	}
}

// TestForeignState: a State from another client configuration is no
// transaction: Authenticate starts a new one, Proceed/Resend/Cancel refuse.
func TestForeignState(t *testing.T) {
	s := newReplayServer(t, introspectEx(fxIntrospect))
	c := s.client()
	foreign := newTestState(s)
	foreign.ClientID = "0oaOTHER"
	ctx := context.Background()
	if _, err := c.Proceed(ctx, foreign, Options{}); !errors.Is(err, ErrNoTransaction) {
		t.Fatalf("Proceed: %v", err)
	}
	if _, err := c.Resend(ctx, foreign); !errors.Is(err, ErrNoTransaction) {
		t.Fatalf("Resend: %v", err)
	}
	if _, err := c.Proceed(ctx, nil, Options{}); !errors.Is(err, ErrNoTransaction) {
		t.Fatalf("Proceed(nil): %v", err)
	}
	tx, err := c.Authenticate(ctx, foreign, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.interacts) != 1 || tx.State.ClientID != testClientID || tx.State.CodeVerifier == foreign.CodeVerifier {
		t.Fatalf("Authenticate did not start a new transaction: %d interacts", len(s.interacts))
	}
	if foreign.ClientID != "0oaOTHER" || foreign.StateHandle != "" {
		t.Fatal("the caller's State was modified")
	}
}

func TestParsePath(t *testing.T) {
	valid := map[string][]pathToken{
		"$.authenticatorEnrollments.value[2]": {{name: "authenticatorEnrollments"}, {name: "value"}, {index: 2, isIndex: true}},
		"$.currentAuthenticatorEnrollment":    {{name: "currentAuthenticatorEnrollment"}},
		"authenticatorChallenge":              {{name: "authenticatorChallenge"}},
		"$.a[0][1].b":                         {{name: "a"}, {index: 0, isIndex: true}, {index: 1, isIndex: true}, {name: "b"}},
	}
	for p, want := range valid {
		got, ok := parsePath(p)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("parsePath(%q) = %v, %v; want %v", p, got, ok, want)
		}
	}
	for _, p := range []string{"", "$", "$.", "$..a", "a.", "a[", "a[]", "a[-1]", "a[x]", "[0]", "a b", "a[99999999999999999999]",
		strings.Repeat("a.", 40) + "a"} {
		if toks, ok := parsePath(p); ok {
			t.Errorf("parsePath(%q) = %v, want rejection", p, toks)
		}
	}
}

func TestParseBearerChallenge(t *testing.T) {
	code, desc := parseBearerChallenge(`Bearer authorization_uri="http://x/authorize", realm="http://x", scope="openid", error="invalid_token", error_description="The access token is invalid.", resource="/api/v1/users/me"`)
	if code != "invalid_token" || desc != "The access token is invalid." {
		t.Fatalf("got %q, %q", code, desc)
	}
	if code, _ := parseBearerChallenge(`Basic realm="x"`); code != "" {
		t.Fatalf("Basic parsed as Bearer: %q", code)
	}
}

func TestSealState(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	st := &State{Version: 1, Issuer: "https://id.example.com", ClientID: "c", InteractionHandle: "IH", CodeVerifier: "VERIFIER", Nonce: "n"}
	sealed, err := st.Seal(key)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "VERIFIER") || strings.ContainsAny(sealed, "+/=;, ") {
		t.Fatalf("sealed State is not opaque and cookie-safe: %s", sealed)
	}
	back, err := OpenState(key, sealed)
	if err != nil || *back != *st {
		t.Fatalf("OpenState = %+v, %v", back, err)
	}
	again, _ := st.Seal(key)
	if again == sealed {
		t.Fatal("two seals of the same State are equal: nonce reuse")
	}
	tampered := []byte(sealed)
	tampered[len(tampered)-3] ^= 1
	otherKey := []byte("fedcba9876543210fedcba9876543210")
	for name, try := range map[string]func() (*State, error){
		"tampered":  func() (*State, error) { return OpenState(key, string(tampered)) },
		"other key": func() (*State, error) { return OpenState(otherKey, sealed) },
		"garbage":   func() (*State, error) { return OpenState(key, "v1.!!!") },
		"empty":     func() (*State, error) { return OpenState(key, "") },
		"clear":     func() (*State, error) { return OpenState(key, `{"v":1}`) },
	} {
		if _, err := try(); !errors.Is(err, ErrNoTransaction) {
			t.Errorf("%s: err = %v, want ErrNoTransaction", name, err)
		}
	}
	if _, err := st.Seal(key[:16]); !errors.Is(err, ErrConfig) {
		t.Errorf("short key: err = %v, want ErrConfig", err)
	}
}
