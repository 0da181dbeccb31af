package oauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
)

// bearerFuzz is an OAuth server over SQLite with a user and tokens of every kind
// the userinfo endpoint and logout's id_token_hint may be shown.
type bearerFuzz struct {
	s      *Server
	user   store.User
	ghost  string // a user id tokens were minted for but that does not exist
	tokens map[string]string
	// minted are the canonical forms of every token this server signed.
	minted map[string]bool
	// valid are the claims of the access tokens that verify (the valid one, the
	// revoked one and the ghost's), by canonical form.
	valid map[string]accessClaims
	// accessClaims are the claims of the one token userinfo must accept.
	accessClaims accessClaims
}

const bearerFuzzIssuer = "https://id.example.com/oauth2/default"

func startBearerFuzz(f *testing.F) *bearerFuzz {
	f.Helper()
	ctx := context.Background()
	dir, err := os.MkdirTemp("/dev/shm", "gatehouse-fuzz-")
	if err != nil {
		dir = f.TempDir()
	} else {
		f.Cleanup(func() { os.RemoveAll(dir) })
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	now := time.Now().Truncate(time.Second)
	// A 1024-bit key keeps signing and verifying cheap; nothing checked here
	// depends on the key size.
	signing, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(signing)
	if err != nil {
		f.Fatal(err)
	}
	if err := st.CreateSigningKey(ctx, store.SigningKey{ID: keyID(&signing.PublicKey), Algorithm: "RS256", PrivateKey: der, CreatedAt: now}); err != nil {
		f.Fatal(err)
	}
	keys, err := LoadKeySet(ctx, st, now)
	if err != nil {
		f.Fatal(err)
	}
	reg, err := clients.NewRegistry([]config.Client{config.ClientDefaults(config.Client{
		ID: "fuzz-app", RedirectURIs: []string{"https://app.example.com/callback"},
		Grants: []string{config.GrantInteractionCode, config.GrantRefreshToken},
		Scopes: config.KnownScopes,
	})}, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	client, err := reg.Lookup(ctx, "fuzz-app")
	if err != nil {
		f.Fatal(err)
	}
	b := &bearerFuzz{
		s: New(Options{Issuer: bearerFuzzIssuer, Clients: reg, Store: st, Keys: keys,
			Now: func() time.Time { return now }, Log: slog.New(slog.DiscardHandler)}),
		user:  store.User{ID: "00ufuzz0000000000001", Login: "alice@example.com", Email: "alice@example.com", GivenName: "Alice", CreatedAt: now, UpdatedAt: now},
		ghost: "00ufuzz0000000000002", tokens: map[string]string{}, minted: map[string]bool{}, valid: map[string]accessClaims{},
	}
	if err := st.CreateUser(ctx, b.user); err != nil {
		f.Fatal(err)
	}
	if err := st.CreatePhoneEnrollment(ctx, store.PhoneEnrollment{ID: "smsfuzz", UserID: b.user.ID, Number: "+12015550123", SMS: true, CreatedAt: now}); err != nil {
		f.Fatal(err)
	}
	grant := Grant{Client: client, User: b.user, Phones: nil, Scopes: config.KnownScopes, Nonce: "n-1", AuthTime: now, AMR: []string{"pwd", "sms", "mfa"}}
	mint := func(name string, g Grant, at time.Time) mintedToken {
		tok, err := b.s.mintAccessToken(g, at)
		if err != nil {
			f.Fatal(err)
		}
		b.tokens[name] = tok.Raw
		b.minted[canonicalJWS(tok.Raw)] = true
		return tok
	}
	at := mint("@AT", grant, now)
	id, err := b.s.mintIDToken(grant, at.Raw, now)
	if err != nil {
		f.Fatal(err)
	}
	b.tokens["@ID"], b.minted[canonicalJWS(id)] = id, true
	mint("@EXP", grant, now.Add(-2*time.Hour))
	revoked := mint("@REV", grant, now)
	if err := st.RevokeAccessToken(ctx, revoked.JTI, revoked.Expiry); err != nil {
		f.Fatal(err)
	}
	ghost := grant
	ghost.User.ID = b.ghost
	mint("@GHOST", ghost, now)
	for _, name := range []string{"@AT", "@REV", "@GHOST"} {
		c, err := b.s.verifyAccessToken(ctx, b.tokens[name], now)
		if err != nil {
			f.Fatalf("the minted token %s does not verify: %v", name, err)
		}
		b.valid[canonicalJWS(b.tokens[name])] = c
	}
	b.accessClaims = b.valid[canonicalJWS(at.Raw)]

	// A token with the right kid signed by another key, and the valid token's
	// claims under alg none and HS256 (keyed with the public modulus).
	other, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	kid := keys.signKID
	forger, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: other, KeyID: kid}}, nil)
	if err != nil {
		f.Fatal(err)
	}
	if b.tokens["@FORGED"], err = jwt.Signed(forger).Claims(b.accessClaims).Serialize(); err != nil {
		f.Fatal(err)
	}
	payload := strings.Split(at.Raw, ".")[1]
	b.tokens["@NONE"] = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+kid+`"}`)) + "." + payload + "."
	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: keys.public[kid].N.Bytes()}, (&jose.SignerOptions{}).WithHeader("kid", kid))
	if err != nil {
		f.Fatal(err)
	}
	if b.tokens["@HS256"], err = jwt.Signed(hs).Claims(b.accessClaims).Serialize(); err != nil {
		f.Fatal(err)
	}
	return b
}

// canonicalJWS is a compact JWS with each part decoded and encoded again, so that
// encodings of the same bytes (base64 with different unused trailing bits) compare
// equal. Anything that does not decode is returned unchanged.
func canonicalJWS(raw string) string {
	parts := strings.Split(raw, ".")
	for i, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			return raw
		}
		parts[i] = base64.RawURLEncoding.EncodeToString(b)
	}
	return strings.Join(parts, ".")
}

// FuzzBearerToken sends arbitrary Authorization headers to the userinfo handler
// and checks the two decoders behind it, and logout's id_token_hint decoder, on
// the extracted token. Placeholders in the header stand for real tokens: @AT a
// valid access token, @ID an ID token, @EXP an expired and @REV a revoked access
// token, @GHOST one for a user who does not exist, @FORGED the valid claims signed
// by another key under the right kid, @NONE and @HS256 the valid claims with alg
// none and HS256. It checks:
//   - userinfo answers 200 or 401, never a 5xx; a 401 is an OAuth error
//     (invalid_request without a bearer token, invalid_token with a bad one) with a
//     Bearer WWW-Authenticate challenge; a 200 is the token's user;
//   - the extracted token is trimmed and non-empty;
//   - a token verifies as an access token only if it is, byte for byte after
//     base64 decoding, an unexpired access token this server signed, and then with
//     that token's claims; userinfo answers 200 for exactly the valid one; an ID
//     token hint is accepted only if it is one of the tokens this server signed;
//   - everything is deterministic: a second call gives the same answer.
//
// Run it with
//
//	go test -run '^$' -fuzz '^FuzzBearerToken$' -fuzztime 1m ./engine/oauth/
func FuzzBearerToken(f *testing.F) {
	b := startBearerFuzz(f)
	for _, seed := range []string{
		"Bearer @AT", "bearer @AT", "BEARER   @AT  ", "Bearer\t@AT", "Bearer @ID", "Bearer @EXP", "Bearer @REV", "Bearer @GHOST",
		"Bearer @FORGED", "Bearer @NONE", "Bearer @HS256", "Bearer @AT.x", "Bearer @AT @AT", "Bearer ", "Bearer", "",
		"Basic dGVzdC1hcHA6", "Bearer a.b.c", "Bearer ..", "Bearer e30.e30.", "DPoP @AT", "Bearer " + strings.Repeat("A", 9000),
		"Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.e30.AAAA", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.",
	} {
		f.Add(uint8(0), seed)
		f.Add(uint8(1), seed)
	}
	// The tokens of the recorded token response: another issuer's, under a kid
	// this server does not know (which makes it look for new keys).
	data, err := os.ReadFile(filepath.Join("..", "..", "idx", "testdata", "fixtures", "oauth-token-interaction-code.json"))
	if err != nil {
		f.Fatal(err)
	}
	var recorded map[string]any
	if err := json.Unmarshal(data, &recorded); err != nil {
		f.Fatal(err)
	}
	for _, k := range []string{"access_token", "id_token"} {
		if tok, ok := recorded[k].(string); ok {
			f.Add(uint8(0), "Bearer "+tok)
		}
	}
	ctx := context.Background()
	now := b.s.now()
	placeholders := make([]string, 0, 2*len(b.tokens))
	for _, name := range []string{"@FORGED", "@GHOST", "@HS256", "@NONE", "@EXP", "@REV", "@ID", "@AT"} {
		placeholders = append(placeholders, name, b.tokens[name])
	}
	replacer := strings.NewReplacer(placeholders...)
	f.Fuzz(func(t *testing.T, method uint8, header string) {
		for i := 0; i < len(header); i++ {
			if c := header[i]; (c < ' ' && c != '\t') || c == 0x7f {
				return // not a header value net/http would pass on
			}
		}
		header = replacer.Replace(header)
		m := []string{http.MethodGet, http.MethodPost}[method%2]
		req := httptest.NewRequest(m, "/oauth2/default/v1/userinfo", nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}

		tok, ok := bearerToken(req)
		if ok && (tok == "" || tok != strings.TrimSpace(tok) || !strings.Contains(header, tok)) {
			t.Fatalf("bearerToken(%q) = %q", header, tok)
		}
		var claims accessClaims
		var verr error = errInvalidToken
		if ok {
			claims, verr = b.s.verifyAccessToken(ctx, tok, now)
			claims2, verr2 := b.s.verifyAccessToken(ctx, tok, now)
			if verr != verr2 || !reflect.DeepEqual(claims, claims2) {
				t.Fatalf("verifyAccessToken(%q) is not deterministic", tok)
			}
			if want, minted := b.valid[canonicalJWS(tok)]; verr == nil && (!minted || !reflect.DeepEqual(claims, want)) {
				t.Fatalf("verifyAccessToken accepted %q with claims %+v", tok, claims)
			}
			if aud, sub, err := b.s.idTokenHintClaims(ctx, tok, now); err == nil {
				if !b.minted[canonicalJWS(tok)] || !slices.Contains([]string{b.user.ID, b.ghost}, sub) || !slices.Contains([]string{"fuzz-app", bearerFuzzIssuer}, aud) {
					t.Fatalf("idTokenHintClaims accepted %q as aud %q sub %q", tok, aud, sub)
				}
			}
		}

		status, wwwAuth, body := serveUserInfo(b.s, req)
		if s2, w2, b2 := serveUserInfo(b.s, req); s2 != status || w2 != wwwAuth || b2 != body {
			t.Fatalf("userinfo with %q is not deterministic: %d %s then %d %s", header, status, body, s2, b2)
		}
		var resp map[string]any
		if err := json.Unmarshal([]byte(body), &resp); err != nil {
			t.Fatalf("userinfo with %q: %d, not JSON: %q", header, status, body)
		}
		switch status {
		case http.StatusOK:
			if verr != nil || canonicalJWS(tok) != canonicalJWS(b.tokens["@AT"]) || resp["sub"] != b.user.ID {
				t.Fatalf("userinfo accepted %q: %s", header, body)
			}
		case http.StatusUnauthorized:
			want := "invalid_token"
			if !ok {
				want = "invalid_request"
			}
			if resp["error"] != want || resp["error_description"] == "" || !strings.HasPrefix(wwwAuth, "Bearer ") {
				t.Fatalf("userinfo with %q: 401 %q WWW-Authenticate %q (want error %s)", header, body, wwwAuth, want)
			}
			if ok && canonicalJWS(tok) == canonicalJWS(b.tokens["@AT"]) {
				t.Fatalf("userinfo refused the valid token in %q: %s", header, body)
			}
		default:
			t.Fatalf("userinfo with %q answered %d: %s", header, status, body)
		}
	})
}

func serveUserInfo(s *Server, req *http.Request) (int, string, string) {
	rec := httptest.NewRecorder()
	s.handleUserInfo(rec, req)
	return rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body.String()
}
