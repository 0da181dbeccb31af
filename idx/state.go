package idx

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// stateFormatVersion is written into every State so a future format change
// can recognise (and refuse or migrate) states stored by this version.
const stateFormatVersion = 1

// State is what an application stores between HTTP requests to continue a
// sign-in: a few hundred bytes of JSON (encoding/json), suitable for a
// server-side session or an encrypted cookie. Treat it as opaque.
//
// SECURITY: State contains the PKCE code verifier and the interaction handle.
// Whoever holds both can drive the transaction and redeem its interaction
// code once the user has proven their factors, so State must never reach the
// browser in clear: keep it in a server-side session, or encrypt and
// authenticate it before putting it in a cookie (Seal and OpenState do that
// with AES-256-GCM). It deliberately holds
// nothing else of value — no password, no one-time code, no token, no
// interaction code — and fmt prints it with the secrets redacted.
//
// Only the interaction handle, not the last IDX response, is kept: every call
// re-introspects to get the server's current state (as okta-idx-golang does),
// which costs one request per call but keeps State small enough for a cookie
// and always in step with the server, whichever application instance or
// browser tab made the previous call. okta-auth-js instead stores the last
// response (tens of kilobytes) to save that request.
type State struct {
	// Version is the State format version.
	Version int `json:"v"`
	// Issuer and ClientID bind the State to the Client that created it; a
	// State from another configuration is treated as no transaction.
	Issuer   string `json:"iss"`
	ClientID string `json:"cid"`
	// InteractionHandle identifies the transaction at the IDX server.
	InteractionHandle string `json:"ih"`
	// CodeVerifier is the PKCE verifier whose S256 challenge was sent to
	// interact; it is needed to redeem the interaction code.
	CodeVerifier string `json:"cv"`
	// OAuthState is the OAuth "state" sent to interact.
	OAuthState string `json:"st"`
	// Nonce was sent to interact and must come back in the ID token.
	Nonce string `json:"n"`
	// StateHandle is the stateHandle of the last successful (2xx) IDX
	// response. It is used to introspect when there is no interaction handle.
	StateHandle string `json:"sh,omitempty"`
	// Flow is what the transaction is for: a sign-in (empty), a password
	// reset or a registration. Proceed follows its rules.
	Flow Flow `json:"f,omitempty"`
}

// String redacts the secrets so that logging a State does not leak them.
func (s State) String() string {
	return fmt.Sprintf("idx.State{Issuer:%q ClientID:%q InteractionHandle:%s CodeVerifier:%s}",
		s.Issuer, s.ClientID, redact(s.InteractionHandle), redact(s.CodeVerifier))
}

// GoString redacts the secrets for %#v as well.
func (s State) GoString() string { return s.String() }

func redact(v string) string {
	if v == "" {
		return `""`
	}
	return "[redacted]"
}

// belongsTo reports whether s is a usable State created by c. A State
// without a code verifier (ResumeState) is usable only by a Client that
// returns the interaction code instead of redeeming it.
func (s *State) belongsTo(c *Client) bool {
	return s != nil && s.Version == stateFormatVersion && s.Issuer == c.issuer && s.ClientID == c.clientID &&
		(s.InteractionHandle != "" || s.StateHandle != "") && (s.CodeVerifier != "" || c.returnCode)
}

// ResumeState returns a State that continues the transaction of an
// interaction handle obtained elsewhere: from a server that called interact
// itself and keeps the PKCE verifier, e.g. an authorization endpoint handing
// its sign-in to pages built on this package. It holds no code verifier,
// OAuth state or nonce, so only a Client with Config.ReturnInteractionCode
// accepts it (any other answers ErrNoTransaction), and its SUCCESS carries
// the interaction code for the holder of the verifier to redeem. Pass it to
// Proceed, Resend or Cancel like a stored State; Authenticate with it never
// starts a new transaction unless the handle is empty. The handle is a
// secret: store the State as carefully as any other.
func (c *Client) ResumeState(interactionHandle string) *State {
	return &State{Version: stateFormatVersion, Issuer: c.issuer, ClientID: c.clientID, InteractionHandle: interactionHandle}
}

// observe records the stateHandle of a successful (2xx) IDX response; error
// replies are not recorded, as auth-js does not store them.
func (s *State) observe(r *idxResponse) {
	if r.succeeded && r.stateHandle != "" {
		s.StateHandle = r.stateHandle
	}
}

// clone returns a copy so the caller's State is never modified.
func (s *State) clone() *State {
	cp := *s
	return &cp
}

// randomToken returns n random bytes, base64url-encoded without padding.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("idx: reading random bytes: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// pkceChallenge is the S256 code challenge of a verifier (RFC 7636 4.2).
func pkceChallenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// sealVersion prefixes sealed States so the format can evolve.
const sealVersion = "v1."

// Seal encrypts and authenticates the State with AES-256-GCM under a 32-byte
// key, for applications that keep it in a cookie rather than a server-side
// session. The result is URL- and cookie-safe. Every application instance
// that serves the sign-in needs the same key; rotate it like any session key.
func (s *State) Seal(key []byte) (string, error) {
	aead, err := stateAEAD(key)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("idx: encoding State: %w", err)
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("idx: reading random bytes: %w", err)
	}
	sealed := aead.Seal(nonce, nonce, plain, []byte(sealVersion))
	return sealVersion + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// OpenState reverses Seal. A value that was not sealed with key, was
// altered, or does not decode returns an error matching ErrNoTransaction:
// the application should then start a new sign-in.
func OpenState(key []byte, sealed string) (*State, error) {
	aead, err := stateAEAD(key)
	if err != nil {
		return nil, err
	}
	fail := func(why string) (*State, error) {
		return nil, fmt.Errorf("%w: sealed State %s", ErrNoTransaction, why)
	}
	if len(sealed) < len(sealVersion) || sealed[:len(sealVersion)] != sealVersion {
		return fail("has an unknown format")
	}
	data, err := base64.RawURLEncoding.DecodeString(sealed[len(sealVersion):])
	if err != nil || len(data) < aead.NonceSize() {
		return fail("is malformed")
	}
	plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(sealVersion))
	if err != nil {
		return fail("does not authenticate")
	}
	var st State
	if err := json.Unmarshal(plain, &st); err != nil {
		return fail("does not decode")
	}
	return &st, nil
}

func stateAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("%w: State sealing key must be 32 bytes, got %d", ErrConfig, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return cipher.NewGCM(block)
}
