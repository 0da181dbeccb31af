package idx

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps at least one of
// them, so callers branch with errors.Is; details travel in the wrapped text or
// in the typed errors below (errors.As).
//
// Mistakes made by the end user — wrong password, wrong code, invalid phone
// number, rate limits, an expired session — are not Go errors: they come back
// as Messages on a Transaction.
var (
	// ErrConfig reports an unusable Config passed to NewClient.
	ErrConfig = errors.New("idx: invalid configuration")

	// ErrDiscovery reports that the OpenID discovery document or the JWKS
	// could not be fetched or does not describe the configured issuer.
	ErrDiscovery = errors.New("idx: discovery failed")

	// ErrNetwork reports a transport failure: the request could not be sent
	// or the response could not be read (DNS, TCP, TLS, timeouts, a
	// cancelled context). The underlying error is wrapped as well.
	ErrNetwork = errors.New("idx: network error")

	// ErrProtocol reports a response that does not follow the IDX or OAuth
	// wire contract: malformed JSON, an unknown IDX version, a relative href,
	// an unexpected HTTP status without a recognisable body.
	ErrProtocol = errors.New("idx: protocol error")

	// ErrUnresolvedRelatesTo reports a relatesTo path in an IDX response that
	// points at nothing. It is always wrapped together with ErrProtocol.
	ErrUnresolvedRelatesTo = errors.New("idx: cannot resolve relatesTo")

	// ErrOAuth reports an OAuth error response ({"error", "error_description"})
	// from interact, token, revoke or userinfo. Use errors.As with
	// *OAuthError for the code and description.
	ErrOAuth = errors.New("idx: oauth error")

	// ErrTokenInvalid reports an ID token that failed verification
	// (signature, kid, algorithm, iss, aud, exp, iat, nonce, at_hash), or a
	// token response that lacks a token it must contain.
	ErrTokenInvalid = errors.New("idx: invalid token")

	// ErrNoTransaction reports that Proceed, Resend or Cancel was called
	// without a State from a transaction this Client started.
	ErrNoTransaction = errors.New("idx: no transaction in progress")

	// ErrActionUnavailable reports that the server does not currently offer
	// the requested action (resend or cancel).
	ErrActionUnavailable = errors.New("idx: action not available")
)

// OAuthError is an OAuth 2.0 error response. It matches ErrOAuth with errors.Is.
type OAuthError struct {
	// Code is the "error" member, e.g. "invalid_grant".
	Code string
	// Description is the "error_description" member.
	Description string
	// Status is the HTTP status code of the response.
	Status int
}

func (e *OAuthError) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("idx: oauth error %q (HTTP %d)", e.Code, e.Status)
	}
	return fmt.Sprintf("idx: oauth error %q: %s (HTTP %d)", e.Code, e.Description, e.Status)
}

// Is makes errors.Is(err, ErrOAuth) true for every *OAuthError.
func (e *OAuthError) Is(target error) bool { return target == ErrOAuth }

// HTTPError is an HTTP response whose status was unexpected and whose body
// was neither an IDX state nor an OAuth error (for example an HTML page from a
// proxy). It matches ErrProtocol with errors.Is.
type HTTPError struct {
	// Method and URL identify the request.
	Method, URL string
	// Status is the HTTP status code.
	Status int
	// ContentType is the response's Content-Type header.
	ContentType string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("idx: unexpected HTTP %d (%s) from %s %s", e.Status, e.ContentType, e.Method, e.URL)
}

// Is makes errors.Is(err, ErrProtocol) true for every *HTTPError.
func (e *HTTPError) Is(target error) bool { return target == ErrProtocol }

// protocolErrorf builds an error wrapping ErrProtocol.
func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}
