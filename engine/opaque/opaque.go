// Package opaque makes the random strings the engine hands out (handles, codes,
// tokens, ids) and the hashes it stores in their place.
package opaque

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// New returns n random bytes from crypto/rand, base64url-encoded without padding.
// n = 32 gives 256 bits, which is what every handle and token here uses.
func New(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+ crashes the
	// program rather than return an error), so there is no error to handle.
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ID returns a prefixed random identifier such as "00u" + 17 characters, in the style
// of Okta's object ids: letters and digits only, 101 random bits.
func ID(prefix string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	const n = 17
	b := make([]byte, n)
	_, _ = rand.Read(b)
	out := make([]byte, 0, len(prefix)+n)
	out = append(out, prefix...)
	for _, c := range b {
		// 256 is not a multiple of 62; rejection-free modulo skews the distribution
		// slightly, which is harmless for identifiers (they are not secrets).
		out = append(out, alphabet[int(c)%len(alphabet)])
	}
	return string(out)
}

// Hash is the lookup key stored for a secret value: hex SHA-256. Secrets here carry
// 256 random bits, so an unsalted fast hash is enough to make a stolen table useless.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Derive computes a secret that follows from another: base64url(HMAC-SHA256(key,
// label)). The engine derives a transaction's state handle from its interaction
// handle, and its interaction code from its state handle, so that it can answer with
// them again without ever storing them.
func Derive(key, label string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(label))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
