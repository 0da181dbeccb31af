package oauth

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TestSignPayloadMakesTheBuildersTokens checks that signing the claims marshalled
// once (signPayload) makes, byte for byte, the tokens go-jose's JWT builder made
// from the same claims — RS256 signatures are deterministic, so equal bytes mean
// equal header, claims and signature — and that they verify with the published key
// and carry the claims they were made from. The user's names hold what JSON
// encoders escape differently if at all: <, >, &, U+2028, quotes, non-ASCII.
func TestSignPayloadMakesTheBuildersTokens(t *testing.T) {
	s, g := benchServer(t)
	now := time.Now()
	g.User.GivenName = `Zoë <b>&"x"` + "\u2028"
	g.User.FamilyName = "Ōtsuka & Søn </script>"
	signer := s.keys.Signer()
	builder := func(claims any) string {
		t.Helper()
		raw, err := jwt.Signed(signer).Claims(claims).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	once := func(claims any) string {
		t.Helper()
		raw, err := signPayload(signer, claims)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}

	for _, variant := range []struct {
		name string
		g    func(Grant) Grant
	}{
		{"session and family", func(g Grant) Grant { g.SessionID, g.FamilyID = "102sessionid", "family1"; return g }},
		{"neither, no nonce, no phone scope", func(g Grant) Grant {
			g.Nonce, g.Scopes = "", []string{"openid", "profile", "email"}
			return g
		}},
	} {
		g := variant.g(g)
		ac := s.newAccessClaims(g, now)
		at := once(ac)
		if want := builder(ac); at != want {
			t.Fatalf("%s: access token differs from the builder's:\n%s\n%s", variant.name, at, want)
		}
		got, err := s.verifyAccessToken(t.Context(), at, now)
		if err != nil {
			t.Fatalf("%s: the access token does not verify: %v", variant.name, err)
		}
		if !reflect.DeepEqual(got, ac) {
			t.Errorf("%s: access token claims %+v, want %+v", variant.name, got, ac)
		}

		idc := s.idTokenClaims(g, at, now)
		id := once(idc)
		if want := builder(idc); id != want {
			t.Fatalf("%s: ID token differs from the builder's:\n%s\n%s", variant.name, id, want)
		}
		tok, err := jwt.ParseSigned(id, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		key, ok := s.keys.PublicKey(t.Context(), tok.Headers[0].KeyID, now)
		if !ok {
			t.Fatal("the ID token's kid is not published")
		}
		var claims map[string]any
		if err := tok.Claims(key, &claims); err != nil {
			t.Fatalf("%s: the ID token does not verify: %v", variant.name, err)
		}
		// The claims as a client decodes them: through JSON.
		want := map[string]any{}
		raw, _ := json.Marshal(idc)
		_ = json.Unmarshal(raw, &want)
		if !maps.EqualFunc(claims, want, func(a, b any) bool { return reflect.DeepEqual(a, b) }) {
			t.Errorf("%s: ID token claims\n%v\nwant\n%v", variant.name, claims, want)
		}
		if claims["given_name"] != g.User.GivenName {
			t.Errorf("given_name %q, want %q", claims["given_name"], g.User.GivenName)
		}
	}

	// The logout token, with its nested events claim.
	lt, err := s.LogoutToken("app", g.User.ID, "102sid")
	if err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(lt, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := s.keys.PublicKey(t.Context(), jws.Signatures[0].Header.KeyID, now)
	payload, err := jws.Verify(key)
	if err != nil {
		t.Fatalf("the logout token does not verify: %v", err)
	}
	var claims map[string]any
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber() // iat and exp as they were, not as float64
	if err := dec.Decode(&claims); err != nil {
		t.Fatal(err)
	}
	for k, v := range claims {
		if n, ok := v.(json.Number); ok {
			claims[k], _ = n.Int64()
		}
	}
	if want := builder(claims); lt != want {
		t.Errorf("logout token differs from the builder's:\n%s\n%s", lt, want)
	}
}

// TestKeysArePrecomputed checks the signing key carries its CRT values even when
// the stored key was encoded without them: signing without them costs about twice
// as much (BenchmarkRSASign).
func TestKeysArePrecomputed(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(&rsa.PrivateKey{PublicKey: key.PublicKey, D: key.D, Primes: key.Primes})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := parseRSA(der)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Precomputed.Dp == nil || parsed.Precomputed.Dq == nil || parsed.Precomputed.Qinv == nil {
		t.Error("the parsed signing key has no CRT values")
	}
}
