package oauth

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/keyseal"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
)

// Token minting, the costliest part of a sign-in after the password: two RS256
// signatures (access token and ID token) per token request.
//
//	go test -run '^$' -bench . ./engine/oauth/

func benchServer(b testing.TB) (*Server, Grant) {
	b.Helper()
	st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "gatehouse.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	now := time.Now()
	// The benchmarks' key (benchKeyDER) stored as the engine's first key, as
	// createFirstKey would store a new one.
	sealer := testSealer(b)
	der := benchKeyDER(b)
	priv, err := parseRSA(der)
	if err != nil {
		b.Fatal(err)
	}
	id := keyID(&priv.PublicKey)
	if err := st.CreateSigningKey(b.Context(), store.SigningKey{ID: id, Algorithm: "RS256",
		PrivateKey: sealer.Seal(der, keyseal.SigningKeyAD(id)), CreatedAt: now.Truncate(time.Millisecond)}); err != nil {
		b.Fatal(err)
	}
	keys, err := LoadKeySet(b.Context(), KeySetOptions{Store: st, Sealer: sealer, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := clients.NewRegistry([]config.Client{config.ClientDefaults(config.Client{
		ID: "bench-app", RedirectURIs: []string{"https://app.example.com/callback"},
		Grants: []string{config.GrantInteractionCode, config.GrantRefreshToken},
	})}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	client, err := reg.Lookup(b.Context(), "bench-app")
	if err != nil {
		b.Fatal(err)
	}
	s := New(Options{Issuer: "https://id.example.com/oauth2/default", Clients: reg, Store: st, Keys: keys,
		Now: time.Now, Log: slog.New(slog.DiscardHandler)})
	g := Grant{
		Client: client,
		User: store.User{ID: "00u0123456789abcdefg", Login: "alice@example.com", Email: "alice@example.com",
			GivenName: "Alice", FamilyName: "Anderson", Locale: "en-US", UpdatedAt: now},
		Phones:   []store.PhoneEnrollment{{ID: "sms0123456789abcdefg", Number: "+12015550123", SMS: true}},
		Scopes:   []string{"openid", "profile", "email", "phone", "offline_access"},
		Nonce:    "n-0S6_WzA2Mj",
		AuthTime: now, AMR: []string{"pwd", "sms", "mfa"},
	}
	return s, g
}

func BenchmarkMintAccessToken(b *testing.B) {
	s, g := benchServer(b)
	for b.Loop() {
		if _, err := s.mintAccessToken(g, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMintIDToken(b *testing.B) {
	s, g := benchServer(b)
	at, err := s.mintAccessToken(g, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.mintIDToken(g, at.Raw, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssue is the whole token response of a sign-in: both tokens and a
// refresh token stored.
func BenchmarkIssue(b *testing.B) {
	s, g := benchServer(b)
	for b.Loop() {
		t, err := s.record(b.Context(), g, "", "interaction_code", time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if _, e := s.sign(b.Context(), t); e != nil {
			b.Fatal(e)
		}
	}
}

// BenchmarkVerifyAccessToken is what userinfo checks before it answers.
func BenchmarkVerifyAccessToken(b *testing.B) {
	s, g := benchServer(b)
	at, err := s.mintAccessToken(g, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.verifyAccessToken(b.Context(), at.Raw, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
