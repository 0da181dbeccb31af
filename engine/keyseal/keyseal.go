// Package keyseal keeps the engine's private keys and server secrets encrypted at
// rest. Every value is sealed with AES-256-GCM under a key-encryption key (KEK) that
// lives outside the database — in a file or an environment variable — so that a copy
// of the database (a backup, a dump, a read through SQL injection) holds no usable
// key material.
//
// A sealed value is
//
//	"GHS" version(1 byte) nonce(12 bytes) ciphertext||tag
//
// The associated data is the 4-byte prefix followed by the row's identity (a signing
// key's id, a secret's name), so a sealed value copied into another row does not
// open there. The version byte lets the format change later: a reader that meets an
// unknown version says so instead of misreading it.
package keyseal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KEKSize is the size of a key-encryption key: 32 bytes, for AES-256.
const KEKSize = 32

// magic starts every sealed value; version1 follows it.
const (
	magic    = "GHS"
	version1 = 0x01
)

// ErrWrongKEK means a sealed value did not open: it was sealed under another
// key-encryption key, or it was changed or moved to another row.
var ErrWrongKEK = errors.New("it does not open with this key-encryption key (a different KEK, or the row was altered)")

// Sealer seals and opens values under one KEK.
type Sealer struct {
	aead cipher.AEAD
	// Source says where the KEK came from ("keys.encryption_key_file /etc/…"), for
	// error messages. It never holds key material.
	Source string
}

// New returns a Sealer for a 32-byte KEK.
func New(kek []byte, source string) (*Sealer, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("a key-encryption key is %d bytes, not %d", KEKSize, len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead, Source: source}, nil
}

// IsSealed reports whether b is in the sealed format (of any version).
func IsSealed(b []byte) bool {
	return len(b) >= len(magic)+1 && string(b[:len(magic)]) == magic
}

// SigningKeyAD, SecretAD, EnrollmentAD and TransactionAD are the row identities
// sealed values are bound to: a signing key, a server secret, an authenticator
// enrollment's secret (store.Enrollment), and a value an IDX transaction carries in
// its Pending data (the secret of an enrollment not yet confirmed).
func SigningKeyAD(id string) string  { return "signing_keys/" + id }
func SecretAD(name string) string    { return "secrets/" + name }
func EnrollmentAD(id string) string  { return "enrollments/" + id }
func TransactionAD(id string) string { return "transactions/" + id }

// Seal encrypts plaintext for the row named rowAD (see SigningKeyAD and the others).
func (s *Sealer) Seal(plaintext []byte, rowAD string) []byte {
	header := []byte{magic[0], magic[1], magic[2], version1}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	out := make([]byte, 0, len(header)+len(nonce)+len(plaintext)+s.aead.Overhead())
	out = append(out, header...)
	out = append(out, nonce...)
	return s.aead.Seal(out, nonce, plaintext, associatedData(header, rowAD))
}

// Open decrypts a value Seal made for the same row. It fails with ErrWrongKEK when
// the value does not authenticate, and with another error when it is not sealed or
// is of a version this build does not know.
func (s *Sealer) Open(sealed []byte, rowAD string) ([]byte, error) {
	if !IsSealed(sealed) {
		return nil, errors.New("the value is not sealed")
	}
	header := sealed[:len(magic)+1]
	if v := header[len(magic)]; v != version1 {
		return nil, fmt.Errorf("sealed with format version %d, which this build does not know; upgrade gatehouse", v)
	}
	rest := sealed[len(header):]
	if len(rest) < s.aead.NonceSize()+s.aead.Overhead() {
		return nil, errors.New("the sealed value is truncated")
	}
	nonce, ct := rest[:s.aead.NonceSize()], rest[s.aead.NonceSize():]
	plain, err := s.aead.Open(nil, nonce, ct, associatedData(header, rowAD))
	if err != nil {
		return nil, ErrWrongKEK
	}
	return plain, nil
}

func associatedData(header []byte, rowAD string) []byte {
	return append(bytes.Clone(header), rowAD...)
}

// GenerateKEK returns a new random KEK, base64-encoded with a newline: what a KEK
// file or environment variable holds.
func GenerateKEK() string {
	kek := make([]byte, KEKSize)
	if _, err := rand.Read(kek); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(kek) + "\n"
}

// ParseKEK reads a KEK from its text form: 32 bytes in standard base64, with
// surrounding white space ignored. The error never repeats the text.
func ParseKEK(text []byte) ([]byte, error) {
	s := strings.TrimSpace(string(text))
	kek, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64 (make one with: gatehouse keys generate-kek)")
	}
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("holds %d bytes, not %d (make one with: gatehouse keys generate-kek)", len(kek), KEKSize)
	}
	return kek, nil
}
