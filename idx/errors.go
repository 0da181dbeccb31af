package idx

import (
	"errors"
	"fmt"
	"net/http"
	"time"
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
	// the requested action (resend, cancel, a password reset or a
	// registration).
	ErrActionUnavailable = errors.New("idx: action not available")

	// ErrRecoveryUnavailable reports that RecoverPassword cannot start: the
	// server offers no password recovery in the current state (no recover
	// action). It is always wrapped together with ErrActionUnavailable.
	ErrRecoveryUnavailable = errors.New("idx: password recovery not available")

	// ErrRegistrationUnavailable reports that Register cannot start: the
	// server offers no self-service registration in the current state (no
	// select-enroll-profile). It is always wrapped together with
	// ErrActionUnavailable.
	ErrRegistrationUnavailable = errors.New("idx: registration not available")
)

// OAuthError is an OAuth 2.0 error response. It matches ErrOAuth with errors.Is.
type OAuthError struct {
	// Code is the "error" member, e.g. "invalid_grant".
	Code string
	// Description is the "error_description" member.
	Description string
	// Status is the HTTP status code of the response.
	Status int
	// RetryAfter is how long the server asked to wait before trying again,
	// for a 429 Too Many Requests (or 503) response: its Retry-After header
	// (seconds or an HTTP date), else Okta's X-Rate-Limit-Reset (unix
	// seconds, measured against the response's Date). Zero when the server
	// did not say, and for every other status.
	RetryAfter time.Duration
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
	// RetryAfter is the wait a 429 (or 503) response asked for, as in
	// OAuthError.RetryAfter; zero when it did not say.
	RetryAfter time.Duration
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("idx: unexpected HTTP %d (%s) from %s %s", e.Status, e.ContentType, e.Method, e.URL)
}

// Is makes errors.Is(err, ErrProtocol) true for every *HTTPError.
func (e *HTTPError) Is(target error) bool { return target == ErrProtocol }

// RateLimited reports whether err is the server's 429 Too Many Requests
// answer to a request that has no IDX form to show it on — interact, token,
// revoke, userinfo, or an IDX endpoint answering with a body that is not
// JSON — that is, an *OAuthError or *HTTPError with Status 429. wait is its
// RetryAfter: how long the server asked to wait, zero if it did not say.
//
// A 429 from an IDX endpoint with an IDX body is not an error: it comes back
// as a Transaction whose Messages say why and whose RetryAfter says how long
// to wait.
func RateLimited(err error) (wait time.Duration, ok bool) {
	var oe *OAuthError
	if errors.As(err, &oe) && oe.Status == http.StatusTooManyRequests {
		return oe.RetryAfter, true
	}
	var he *HTTPError
	if errors.As(err, &he) && he.Status == http.StatusTooManyRequests {
		return he.RetryAfter, true
	}
	return 0, false
}

// protocolErrorf builds an error wrapping ErrProtocol.
func protocolErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}
