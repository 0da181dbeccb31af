// Package totp is the authenticator-app authenticator ("google_otp"): time-based
// one-time passwords (RFC 6238) as Google Authenticator and every app like it makes
// them — HMAC-SHA1, six digits, a new code every 30 seconds.
//
// The one-time-password arithmetic (HOTP, RFC 4226) and the key URI are
// github.com/pquerna/otp's, and the QR code is github.com/boombuler/barcode's; this
// package adds what a server needs around them: a secret of the recommended size,
// the clock skew it tolerates, refusal of a code already used (replay), and sealing
// of the secret for storage.
//
// A secret is 160 random bits (RFC 4226's recommendation), written in base32 (RFC
// 4648) upper case without padding: the 32 characters an app takes as its "key".
// Stored secrets are sealed with engine/keyseal, bound to their enrollment's row
// (keyseal.EnrollmentAD), so a copy of the database holds none in the clear.
package totp

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"strings"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/engine/keyseal"
)

// AuthenticatorKey is the authenticator's key in the IDX protocol and in
// store.Enrollment.Authenticator.
const AuthenticatorKey = "google_otp"

// The parameters of every code: what authenticator apps assume when a key URI
// does not say otherwise, and what KeyURI says.
const (
	Digits = 6
	Period = 30 * time.Second
	// Skew is how many time steps before and after the current one Verify
	// accepts, for clocks that differ and codes typed slowly: ±30 s.
	Skew = 1
	// SecretSize is the size of a new secret in bytes: 160 bits.
	SecretSize = 20
	// minSecretSize is the least a secret Verify accepts may decode to: RFC 4226
	// requires 128 bits.
	minSecretSize = 16
	// QRSize is the width and height of QRCodePNG's image in pixels.
	QRSize = 200
)

var (
	// ErrBadSecret: the secret is not base32 of at least 128 bits.
	ErrBadSecret = errors.New("totp: the secret is not base32 of at least 128 bits")
	// ErrBadLabel: KeyURI's issuer or account is empty, or the issuer contains a
	// colon, which apps read as the end of the issuer.
	ErrBadLabel = errors.New("totp: the issuer and the account must not be empty, and the issuer must not contain ':'")
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

var codeOpts = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewSecret returns a fresh secret: SecretSize bytes from crypto/rand in base32
// without padding (32 characters).
func NewSecret() (string, error) {
	b := make([]byte, SecretSize)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return b32.EncodeToString(b), nil
}

// decodeSecret checks secret (as NewSecret makes it; lower case and padding are
// tolerated, as apps do) and returns it in the form pquerna/otp reads.
func decodeSecret(secret string) (string, error) {
	s := strings.ToUpper(strings.TrimRight(strings.TrimSpace(secret), "="))
	b, err := b32.DecodeString(s)
	if err != nil || len(b) < minSecretSize {
		return "", ErrBadSecret
	}
	return s, nil
}

// CheckSecret returns ErrBadSecret unless secret is base32 (padding and lower case
// tolerated) of at least 128 bits.
func CheckSecret(secret string) error {
	_, err := decodeSecret(secret)
	return err
}

// KeyURI returns the otpauth:// key URI of secret (the format Google
// Authenticator defines), which an app reads from a QR code or a link:
// otpauth://totp/ISSUER:ACCOUNT?algorithm=SHA1&digits=6&issuer=ISSUER&period=30&secret=SECRET.
// issuer is the product's name and account the user's login: the app shows both.
func KeyURI(secret, issuer, account string) (string, error) {
	s, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	if strings.TrimSpace(issuer) == "" || strings.TrimSpace(account) == "" || strings.Contains(issuer, ":") {
		return "", ErrBadLabel
	}
	raw, _ := b32.DecodeString(s)
	key, err := pqtotp.Generate(pqtotp.GenerateOpts{Issuer: issuer, AccountName: account, Secret: raw,
		Period: uint(Period / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", err
	}
	return key.URL(), nil
}

// QRCodePNG draws uri as a QR code (error correction level M) in a QRSize×QRSize
// PNG, black on white, with the quiet zone of at least four modules scanners need.
func QRCodePNG(uri string) ([]byte, error) {
	code, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		return nil, err
	}
	modules := code.Bounds().Dx()
	scale := QRSize / (modules + 8) // 4 modules of white on each side
	if scale < 1 {
		return nil, errors.New("totp: the key URI is too long for a QR code of this size")
	}
	scaled, err := barcode.Scale(code, scale*modules, scale*modules)
	if err != nil {
		return nil, err
	}
	canvas := image.NewGray(image.Rect(0, 0, QRSize, QRSize))
	draw.Draw(canvas, canvas.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	offset := (QRSize - scale*modules) / 2
	draw.Draw(canvas, image.Rect(offset, offset, offset+scale*modules, offset+scale*modules), scaled, scaled.Bounds().Min, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, canvas); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// QRCodeDataURI is QRCodePNG as a data: URI (data:image/png;base64,…), for an
// <img src> or the IDX protocol's contextualData.qrcode.href.
func QRCodeDataURI(uri string) (string, error) {
	b, err := QRCodePNG(uri)
	if err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(b), nil
}

// Key is what a user needs to add an enrollment to their app.
type Key struct {
	Secret string // base32, for typing in
	URI    string // the otpauth:// key URI
	QRCode string // the URI as a QR code, a data:image/png;base64 URI
}

// NewKey makes a fresh secret with its key URI and QR code (see KeyURI).
func NewKey(issuer, account string) (Key, error) {
	secret, err := NewSecret()
	if err != nil {
		return Key{}, err
	}
	uri, err := KeyURI(secret, issuer, account)
	if err != nil {
		return Key{}, err
	}
	qrURI, err := QRCodeDataURI(uri)
	if err != nil {
		return Key{}, err
	}
	return Key{Secret: secret, URI: uri, QRCode: qrURI}, nil
}

// Step is the time step t falls in: Unix seconds divided by the period. Steps
// before 1970 are negative.
func Step(t time.Time) int64 {
	sec := t.Unix()
	p := int64(Period / time.Second)
	if sec < 0 {
		return (sec - p + 1) / p
	}
	return sec / p
}

// Code returns the code of secret for a time step (Step); for tests and tools.
func Code(secret string, step int64) (string, error) {
	s, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	if step < 0 {
		return "", errors.New("totp: negative time step")
	}
	return hotp.GenerateCodeCustom(s, uint64(step), codeOpts)
}

// maxCodeInput bounds what Verify reads, so that normalising a huge input costs
// nothing.
const maxCodeInput = 32

// normalizeCode removes the spaces, tabs and dashes people type or paste into
// codes ("123 456", as apps show them).
func normalizeCode(code string) (string, bool) {
	if len(code) > maxCodeInput {
		return "", false
	}
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, code)
	if len(code) != Digits {
		return "", false
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return "", false
		}
	}
	return code, true
}

// Verify checks code against secret at now: it accepts the code of the current
// time step or of Skew steps either side, but never of a step at or below lastUsed
// — the highest step accepted before, which the caller keeps
// (store.Enrollment.LastUsed, 0 for none) and replaces with the step returned, so
// that a code works once. Spaces and dashes in code are ignored; anything but
// Digits digits then is refused, as is a secret that is not base32 of at least 128
// bits. The comparison takes the same time whichever digits are wrong, and every
// candidate step is computed whether or not an earlier one matched.
//
// When the code matches more than one step (a one-in-a-million chance for two
// neighbours), the highest is returned.
func Verify(secret, code string, now time.Time, lastUsed int64) (step int64, ok bool) {
	given, valid := normalizeCode(code)
	if !valid {
		return 0, false
	}
	s, err := decodeSecret(secret)
	if err != nil {
		return 0, false
	}
	current := Step(now)
	for candidate := current - Skew; candidate <= current+Skew; candidate++ {
		if candidate < 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(s, uint64(candidate), codeOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(given)) == 1 && candidate > lastUsed {
			step, ok = candidate, true
		}
	}
	return step, ok
}

// Seal seals secret for the row rowAD: keyseal.EnrollmentAD(id) for an
// enrollment's, keyseal.TransactionAD(id) for one an IDX transaction carries until
// the user confirms it.
func Seal(s *keyseal.Sealer, secret, rowAD string) []byte {
	return s.Seal([]byte(secret), rowAD)
}

// Open opens what Seal sealed for the same row, and checks it is a secret.
func Open(s *keyseal.Sealer, sealed []byte, rowAD string) (string, error) {
	b, err := s.Open(sealed, rowAD)
	if err != nil {
		return "", err
	}
	secret := string(b)
	if err := CheckSecret(secret); err != nil {
		return "", err
	}
	return secret, nil
}
