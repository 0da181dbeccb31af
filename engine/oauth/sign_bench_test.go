package oauth

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Where the time of signing a token goes (docs/performance.md, "Where the signing
// time goes"): the RSA operation itself, with and without the key's precomputed CRT
// values, against the JSON and JWS encoding around it.
//
//	go test -run '^$' -bench 'Sign|Encode|Mint' -benchmem ./engine/oauth/

// benchKeyEnv names a file holding a PKCS #8 RSA key (DER) the benchmarks use
// instead of a new one. Key generation costs a different number of instructions
// each time (it searches for primes), so counting instructions per operation by
// running a benchmark at two iteration counts under valgrind needs one key for
// both runs (docs/performance.md shows how).
const benchKeyEnv = "GATEHOUSE_BENCH_RSA_KEY"

// benchKeyDER is the benchmarks' signing key, PKCS #8 DER: the key in the file
// benchKeyEnv names, or a new RSA-2048 key, the size the engine generates
// (createFirstKey).
func benchKeyDER(b testing.TB) []byte {
	b.Helper()
	if path := os.Getenv(benchKeyEnv); path != "" {
		der, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		return der
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		b.Fatal(err)
	}
	return der
}

// benchKey is the benchmarks' key, parsed as the engine parses its keys
// (parseRSA).
func benchKey(b testing.TB) *rsa.PrivateKey {
	b.Helper()
	parsed, err := parseRSA(benchKeyDER(b))
	if err != nil {
		b.Fatal(err)
	}
	return parsed
}

// withoutPrecomputed is key without its CRT values, as a key built from N, E, D
// and the primes alone would be.
func withoutPrecomputed(key *rsa.PrivateKey) *rsa.PrivateKey {
	return &rsa.PrivateKey{PublicKey: key.PublicKey, D: key.D, Primes: key.Primes}
}

// BenchmarkRSASign is the floor: one PKCS #1 v1.5 signature of a SHA-256 digest,
// the whole cryptographic cost of an RS256 token.
func BenchmarkRSASign(b *testing.B) {
	key := benchKey(b)
	digest := sha256.Sum256([]byte("header.payload"))
	for _, tc := range []struct {
		name string
		key  *rsa.PrivateKey
	}{{"precomputed", key}, {"not_precomputed", withoutPrecomputed(key)}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := rsa.SignPKCS1v15(rand.Reader, tc.key, crypto.SHA256, digest[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRSAVerify is what userinfo spends checking the access token's signature.
func BenchmarkRSAVerify(b *testing.B) {
	key := benchKey(b)
	digest := sha256.Sum256([]byte("header.payload"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJWSSign is go-jose's RS256 signer on a ready payload: the signature plus
// the protected header and the compact serialization.
func BenchmarkJWSSign(b *testing.B) {
	key := benchKey(b)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	s, g := benchServer(b)
	payload, err := json.Marshal(s.newAccessClaims(g, time.Now()))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		obj, err := signer.Sign(payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := obj.CompactSerialize(); err != nil {
			b.Fatal(err)
		}
	}
}

// hmacSigner signs with HS256: next to nothing, so that what remains of a token's
// cost is its encoding.
func hmacSigner(b *testing.B) jose.Signer {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: make([]byte, 32)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return signer
}

// BenchmarkEncodeAccessToken and BenchmarkEncodeIDToken are a token's encoding
// without the RSA operation (signed with HS256, a few hundred nanoseconds): through
// go-jose's JWT builder, which marshals the claims, decodes them into a map and
// marshals the map again, and with the claims marshalled once (signPayload).
func BenchmarkEncodeAccessToken(b *testing.B) {
	s, g := benchServer(b)
	signer := hmacSigner(b)
	now := time.Now()
	c := s.newAccessClaims(g, now)
	b.Run("jwt_builder", func(b *testing.B) {
		for b.Loop() {
			if _, err := jwt.Signed(signer).Claims(c).Serialize(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("marshal_once", func(b *testing.B) {
		for b.Loop() {
			if _, err := signPayload(signer, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkEncodeIDToken(b *testing.B) {
	s, g := benchServer(b)
	signer := hmacSigner(b)
	now := time.Now()
	claims := s.idTokenClaims(g, "access.token.value", now)
	b.Run("jwt_builder", func(b *testing.B) {
		for b.Loop() {
			if _, err := jwt.Signed(signer).Claims(claims).Serialize(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("marshal_once", func(b *testing.B) {
		for b.Loop() {
			if _, err := signPayload(signer, claims); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBase64Signature is the encoding of the signature alone, for scale.
func BenchmarkBase64Signature(b *testing.B) {
	sig := make([]byte, 256)
	for b.Loop() {
		_ = base64.RawURLEncoding.EncodeToString(sig)
	}
}
