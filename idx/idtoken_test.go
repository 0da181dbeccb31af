package idx

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// redeem runs a transaction that is already at SUCCESS, so the SDK exchanges
// the interaction code and verifies the ID token the replay server minted.
func redeem(t *testing.T, s *replayServer) (*Transaction, error) {
	t.Helper()
	s.expect(introspectEx(fxSuccess))
	return s.client().Proceed(context.Background(), newTestState(s), Options{})
}

// unsignedJWT builds a compact JWT with the given header, claims and
// signature function, for algorithm-confusion tests.
func unsignedJWT(header, claims map[string]any, sign func(input []byte) []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(input)))
}

func TestIDTokenVerification(t *testing.T) {
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cases := []struct {
		name  string
		setup func(s *replayServer)
		valid bool
	}{
		{"valid", func(s *replayServer) {}, true},
		{"expired within clock skew", func(s *replayServer) {
			s.mutateIDToken = func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() }
		}, true},
		{"several audiences with azp", func(s *replayServer) {
			s.mutateIDToken = func(c map[string]any) { c["aud"] = []string{testClientID, "api"}; c["azp"] = testClientID }
		}, true},
		{"wrong issuer", func(s *replayServer) {
			s.mutateIDToken = func(c map[string]any) { c["iss"] = "https://evil.example/oauth2/default" }
		}, false},
		{"issuer with trailing slash", func(s *replayServer) {
			s.mutateIDToken = func(c map[string]any) { c["iss"] = s.issuer() + "/" }
		}, false},
		{"wrong audience", func(s *replayServer) {
			s.mutateIDToken = func(c map[string]any) { c["aud"] = "0oaOTHER" }
		}, false},
		{"several audiences without azp", func(s *replayServer) {
			s.mutateIDToken = func(c map[string]any) { c["aud"] = []string{testClientID, "api"} }
		}, false},
		{"expired", func(s *replayServer) {
			s.mutateIDToken = func(c map[string]any) {
				c["iat"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
			}
		}, false},
		{"issued in the future", func(s *replayServer) {
			s.mutateIDToken = func(c map[string]any) { c["iat"] = now.Add(time.Hour).Unix() }
		}, false},
		{"no exp", func(s *replayServer) {
			s.mutateIDToken = func(c map[string]any) { delete(c, "exp") }
		}, false},
		{"no iat", func(s *replayServer) {
			s.mutateIDToken = func(c map[string]any) { delete(c, "iat") }
		}, false},
		{"wrong nonce", func(s *replayServer) {
			s.mutateIDToken = func(c map[string]any) { c["nonce"] = "someone-else" }
		}, false},
		{"no nonce", func(s *replayServer) {
			s.mutateIDToken = func(c map[string]any) { delete(c, "nonce") }
		}, false},
		{"wrong at_hash", func(s *replayServer) {
			s.mutateIDToken = func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" }
		}, false},
		{"bad signature", func(s *replayServer) { s.idTokenKey = otherKey }, false},
		{"unknown kid", func(s *replayServer) { s.idTokenKID = "rotated-away" }, false},
		{"alg none", func(s *replayServer) {
			s.idTokenOverride = func(c map[string]any) string {
				return unsignedJWT(map[string]any{"alg": "none", "kid": testKID}, c, func([]byte) []byte { return nil })
			}
		}, false},
		{"HS256 keyed with the public key", func(s *replayServer) {
			s.idTokenOverride = func(c map[string]any) string {
				pub := x509.MarshalPKCS1PublicKey(&s.key.PublicKey)
				return unsignedJWT(map[string]any{"alg": "HS256", "kid": testKID}, c, func(in []byte) []byte {
					m := hmac.New(sha256.New, pub)
					m.Write(in)
					return m.Sum(nil)
				})
			}
		}, false},
		{"no kid", func(s *replayServer) {
			s.idTokenOverride = func(c map[string]any) string {
				return unsignedJWT(map[string]any{"alg": "RS256"}, c, func(in []byte) []byte {
					sum := sha256.Sum256(in)
					sig, _ := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
					return sig
				})
			}
		}, false},
		{"garbage", func(s *replayServer) {
			s.idTokenOverride = func(map[string]any) string { return "not.a.jwt" }
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newReplayServer(t)
			tc.setup(s)
			tx, err := redeem(t, s)
			if tc.valid {
				if err != nil {
					t.Fatalf("err = %v, want a verified token", err)
				}
				if tx.Status != StatusSuccess || tx.Tokens.IDTokenClaims["sub"] != testSubject {
					t.Fatalf("tx = %+v", tx)
				}
				return
			}
			if !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("err = %v, want ErrTokenInvalid", err)
			}
		})
	}
}

func TestMissingIDToken(t *testing.T) {
	s := newReplayServer(t)
	s.idTokenOverride = func(map[string]any) string { return "" }
	if _, err := redeem(t, s); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("err = %v, want ErrTokenInvalid (openid requested, no id_token)", err)
	}
}

func TestJWKSFailure(t *testing.T) {
	s := newReplayServer(t)
	s.keysStatus = 503
	if _, err := redeem(t, s); !errors.Is(err, ErrDiscovery) {
		t.Fatalf("err = %v, want ErrDiscovery", err)
	}
}

// TestJWKSCachedAndRotated: keys are fetched once; a token signed by a new
// key (new kid) triggers one refetch, limited by jwksMinRefetch.
func TestJWKSCachedAndRotated(t *testing.T) {
	s := newReplayServer(t)
	c := s.client()
	ctx := context.Background()
	for range 2 {
		s.expect(introspectEx(fxSuccess))
		if _, err := c.Proceed(ctx, newTestState(s), Options{}); err != nil {
			t.Fatal(err)
		}
	}
	if s.keysRequests != 1 {
		t.Fatalf("keys fetched %d times, want once", s.keysRequests)
	}

	newKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.key, s.kid = newKey, "replay-key-2"
	s.mu.Unlock()

	// Within jwksMinRefetch of the last fetch an unknown kid is refused
	// without asking the server again.
	s.expect(introspectEx(fxSuccess))
	if _, err := c.Proceed(ctx, newTestState(s), Options{}); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("err = %v, want ErrTokenInvalid", err)
	}
	if s.keysRequests != 1 {
		t.Fatalf("keys fetched %d times, want once", s.keysRequests)
	}

	old := jwksMinRefetch
	jwksMinRefetch = 0
	t.Cleanup(func() { jwksMinRefetch = old })
	s.expect(introspectEx(fxSuccess))
	if _, err := c.Proceed(ctx, newTestState(s), Options{}); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if s.keysRequests != 2 {
		t.Fatalf("keys fetched %d times, want twice", s.keysRequests)
	}
}
