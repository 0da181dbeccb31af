package hosted

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/idx"
)

// cookieName is the browser's only state for the pages: sealed, HttpOnly,
// SameSite=Lax, sent to /signin and below only.
const (
	cookieName = "gh_signin"
	cookiePath = "/signin"
	// sealPrefix versions the sealed format; it is also the AEAD's additional
	// data, with the cookie name, so a value sealed for another purpose under
	// the same key does not open here.
	sealPrefix = "v1."
	// maxCookieBytes bounds what is opened: a real cookie is a few hundred bytes.
	maxCookieBytes = 3072
)

// signIn is what the sealed cookie holds: the transaction it drives and the
// little the pages remember between requests. Nothing in it is shown in a URL.
type signIn struct {
	// ID is random per sign-in; CSRF tokens are bound to it.
	ID string `json:"id"`
	// Handle is the IDX interaction handle (a secret: it drives the transaction).
	Handle   string `json:"ih"`
	ClientID string `json:"cid"`
	// LoginHint prefills the username until the user types one.
	LoginHint string `json:"lh,omitempty"`
	// Username is what the user typed on the sign-in page (the username of
	// a password reset, the email address of a new account).
	Username string `json:"u,omitempty"`
	// Flow is the SDK flow the transaction is in: a sign-in (empty), a
	// password reset or a registration. The SDK's resumed State does not
	// carry it, so the pages keep it.
	Flow idx.Flow `json:"f,omitempty"`
	// Choose is set while the user picks another way to verify from a code
	// or data step: the name of the select step offered beside it, which
	// the choice must name for the SDK to re-select.
	Choose string `json:"ch,omitempty"`
	// Method is how the current code was sent: "sms" or "voice".
	Method string `json:"m,omitempty"`
	// PhoneMethods are the delivery methods the phone being verified offers,
	// so the code page can offer the other one.
	PhoneMethods []string `json:"pm,omitempty"`
	// SentAt is when the last code was sent (unix seconds).
	SentAt int64 `json:"sa,omitempty"`
	// WaitUntil is when the engine allows another code (unix seconds): its
	// Retry-After after it refused one.
	WaitUntil int64 `json:"wu,omitempty"`
	// Notice is shown once on the next page.
	Notice *notice `json:"n,omitempty"`
	// Ended is set when the sign-in ended without success (cancel, a
	// transaction gone for good): /signin/done then calls Abort with it.
	Ended *ending `json:"e,omitempty"`
}

// notice is a one-time message for the next page.
type notice struct {
	Kind string `json:"k"` // "info" or "error"
	Text string `json:"t"`
}

// ending is how a sign-in ended without success, for Abort.
type ending struct {
	Code        string `json:"c"`
	Description string `json:"d"`
}

// cookieJar seals and opens the cookie and signs CSRF tokens, with keys
// derived from Options.CookieKey (one for each purpose).
type cookieJar struct {
	aead    cipher.AEAD
	csrfKey []byte
	secure  bool
}

func newCookieJar(key []byte, secure bool) (*cookieJar, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("hosted: the cookie key must be at least 32 bytes, not %d", len(key))
	}
	encKey, err := hkdf.Key(sha256.New, key, nil, "gatehouse hosted sign-in cookie v1", 32)
	if err != nil {
		return nil, err
	}
	csrfKey, err := hkdf.Key(sha256.New, key, nil, "gatehouse hosted sign-in csrf v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(encKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &cookieJar{aead: aead, csrfKey: csrfKey, secure: secure}, nil
}

var errNoSignIn = errors.New("hosted: no usable sign-in cookie")

func additionalData() []byte { return []byte(sealPrefix + cookieName) }

// seal encrypts and authenticates s (AES-256-GCM, random nonce).
func (j *cookieJar) seal(s *signIn) (string, error) {
	plain, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, j.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return sealPrefix + base64.RawURLEncoding.EncodeToString(j.aead.Seal(nonce, nonce, plain, additionalData())), nil
}

// open reverses seal; anything altered, foreign or malformed is errNoSignIn.
func (j *cookieJar) open(v string) (*signIn, error) {
	if len(v) > maxCookieBytes || len(v) < len(sealPrefix) || v[:len(sealPrefix)] != sealPrefix {
		return nil, errNoSignIn
	}
	data, err := base64.RawURLEncoding.DecodeString(v[len(sealPrefix):])
	n := j.aead.NonceSize()
	if err != nil || len(data) < n+j.aead.Overhead() {
		return nil, errNoSignIn
	}
	plain, err := j.aead.Open(nil, data[:n], data[n:], additionalData())
	if err != nil {
		return nil, errNoSignIn
	}
	var s signIn
	if err := json.Unmarshal(plain, &s); err != nil || s.ID == "" || s.Handle == "" || s.ClientID == "" {
		return nil, errNoSignIn
	}
	return &s, nil
}

// read returns the request's sign-in, or errNoSignIn.
func (j *cookieJar) read(r *http.Request) (*signIn, error) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, errNoSignIn
	}
	return j.open(c.Value)
}

// write sets the sealed cookie for s.
func (j *cookieJar) write(w http.ResponseWriter, s *signIn) error {
	v, err := j.seal(s)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: v, Path: cookiePath, HttpOnly: true, Secure: j.secure, SameSite: http.SameSiteLaxMode})
	return nil
}

// clear deletes the cookie.
func (j *cookieJar) clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: cookiePath, MaxAge: -1, HttpOnly: true, Secure: j.secure, SameSite: http.SameSiteLaxMode})
}

// csrfToken is the token every form of sign-in s carries: an HMAC of its
// random id, so it is worthless with any other cookie.
func (j *cookieJar) csrfToken(s *signIn) string {
	m := hmac.New(sha256.New, j.csrfKey)
	m.Write([]byte("csrf\x00" + s.ID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validCSRF reports whether the posted token belongs to sign-in s.
func (j *cookieJar) validCSRF(s *signIn, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(j.csrfToken(s)))
}

// newID returns a random identifier for a sign-in.
func newID() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// unix converts a stored time.
func unix(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}
