package idx

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a Client. Issuer and ClientID are required, and
// RedirectURI unless ReturnInteractionCode is set.
type Config struct {
	// Issuer is the OAuth issuer, e.g. "https://id.example.com/oauth2/default"
	// (a custom authorization server) or "https://id.example.com" (the org
	// server). A trailing slash is removed. It must equal the "issuer" of the
	// discovery document and the "iss" of every ID token.
	Issuer string
	// ClientID is the registered OAuth client id.
	ClientID string
	// ClientSecret is set for confidential clients only; it is sent to
	// interact, token and revoke. Leave empty for public clients.
	ClientSecret string
	// RedirectURI is the redirect URI registered for the client; the
	// interaction is bound to it. A Client with ReturnInteractionCode that
	// only continues transactions started elsewhere (ResumeState) may leave
	// it empty; starting a transaction then fails with ErrConfig.
	RedirectURI string
	// Scopes requested at interact. Defaults to openid and email, as
	// okta-auth-js does. Add offline_access to receive a refresh token.
	Scopes []string
	// HTTPClient sends every request. Defaults to a client with a 30 second
	// timeout. Cancel individual calls through their context.
	HTTPClient *http.Client
	// ClockSkew is the tolerance applied to the ID token's exp and iat.
	// Defaults to 5 minutes (okta-auth-js's default).
	ClockSkew time.Duration
	// ReturnInteractionCode stops a sign-in at SUCCESS with the interaction
	// code in Transaction.InteractionCode instead of exchanging it for
	// tokens: whoever holds the PKCE verifier redeems it, e.g. an
	// authorization server that hands its sign-in to pages built on this
	// package. Such a Client also accepts States without a code verifier,
	// made by ResumeState.
	ReturnInteractionCode bool
}

// Client walks the IDX protocol for one OAuth client. It is safe for
// concurrent use; the per-user progress lives in State values, not in the
// Client, so one Client serves every user of an application.
type Client struct {
	issuer       string
	clientID     string
	clientSecret string
	redirectURI  string
	scopes       []string
	httpClient   *http.Client
	clockSkew    time.Duration
	returnCode   bool

	// Derived endpoints, see deriveURLs.
	oauthBase     string
	introspectURL string

	mu        sync.Mutex
	discovery *discoveryDocument // nil until fetched successfully
	jwks      *jwksCache
}

const (
	defaultClockSkew = 5 * time.Minute
	defaultTimeout   = 30 * time.Second
	// maxBodyBytes bounds every response body read. Real IDX responses are
	// tens of kilobytes.
	maxBodyBytes = 4 << 20
	// idxMediaType is what introspect sends and accepts (auth-js and the Go SDK).
	idxMediaType = "application/ion+json; okta-version=1.0.0"
	userAgent    = "gatehouse-idx-go/1"
)

// NewClient validates cfg and returns a Client. It makes no network calls:
// discovery and keys are fetched on first use and then cached.
func NewClient(cfg Config) (*Client, error) {
	issuer := strings.TrimRight(cfg.Issuer, "/")
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: issuer %q must be an absolute http(s) URL without query or fragment", ErrConfig, cfg.Issuer)
	}
	if cfg.ClientID == "" {
		return nil, fmt.Errorf("%w: client id is required", ErrConfig)
	}
	if cfg.RedirectURI == "" && !cfg.ReturnInteractionCode {
		return nil, fmt.Errorf("%w: redirect URI is required", ErrConfig)
	}
	scopes := append([]string(nil), cfg.Scopes...)
	if len(scopes) == 0 {
		scopes = []string{"openid", "email"}
	}
	for _, s := range scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return nil, fmt.Errorf("%w: invalid scope %q", ErrConfig, s)
		}
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: defaultTimeout}
	}
	skew := cfg.ClockSkew
	if skew <= 0 {
		skew = defaultClockSkew
	}
	c := &Client{
		issuer:       issuer,
		clientID:     cfg.ClientID,
		clientSecret: cfg.ClientSecret,
		redirectURI:  cfg.RedirectURI,
		scopes:       scopes,
		httpClient:   hc,
		clockSkew:    skew,
		returnCode:   cfg.ReturnInteractionCode,
		jwks:         &jwksCache{},
	}
	c.oauthBase, c.introspectURL = deriveURLs(issuer)
	return c, nil
}

// deriveURLs computes the OAuth base and the introspect URL from the issuer
// exactly as okta-auth-js does: the OAuth base is the issuer
// if it contains "/oauth2", else issuer+"/oauth2"; introspect is the issuer cut
// at the first "/oauth2", plus "/idp/idx/introspect".
func deriveURLs(issuer string) (oauthBase, introspect string) {
	oauthBase = issuer
	if !strings.Contains(issuer, "/oauth2") {
		oauthBase = issuer + "/oauth2"
	}
	root, _, _ := strings.Cut(issuer, "/oauth2")
	return oauthBase, root + "/idp/idx/introspect"
}

func (c *Client) interactURL() string { return c.oauthBase + "/v1/interact" }
func (c *Client) tokenURL() string    { return c.oauthBase + "/v1/token" }
func (c *Client) userinfoURL() string { return c.oauthBase + "/v1/userinfo" }
func (c *Client) revokeURL() string   { return c.oauthBase + "/v1/revoke" }

// httpResponse is a fully read HTTP response.
type httpResponse struct {
	status      int
	contentType string
	header      http.Header
	body        []byte
}

func (r *httpResponse) ok() bool { return r.status >= 200 && r.status < 300 }

// do sends one request and reads the whole (bounded) body. Transport failures
// wrap ErrNetwork; an oversized body wraps ErrProtocol.
func (c *Client) do(ctx context.Context, method, rawURL string, header http.Header, body []byte) (*httpResponse, error) {
	var rdr io.Reader
	if body != nil {
		rdr = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rdr)
	if err != nil {
		return nil, protocolErrorf("cannot build %s %s: %v", method, rawURL, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", userAgent)
	if ip, ok := clientIPFrom(ctx); ok {
		req.Header.Set("X-Forwarded-For", ip)
	}
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrNetwork, method, redactURL(rawURL), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s %s: %w", ErrNetwork, method, redactURL(rawURL), err)
	}
	if len(data) > maxBodyBytes {
		return nil, protocolErrorf("response from %s %s exceeds %d bytes", method, redactURL(rawURL), maxBodyBytes)
	}
	return &httpResponse{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), header: resp.Header, body: data}, nil
}

// redactURL drops the query string, which can carry codes or tokens, from URLs
// placed in error messages.
func redactURL(raw string) string {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return raw[:i]
	}
	return raw
}

// postForm sends an application/x-www-form-urlencoded POST expecting JSON.
func (c *Client) postForm(ctx context.Context, rawURL string, form url.Values, extra http.Header) (*httpResponse, error) {
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("Accept", "application/json")
	for k, vs := range extra {
		h[k] = vs
	}
	return c.do(ctx, http.MethodPost, rawURL, h, []byte(form.Encode()))
}

// oauthErrorFrom turns a non-2xx OAuth response into an error: *OAuthError if
// the body carries an OAuth "error", else *HTTPError.
func oauthErrorFrom(method, rawURL string, r *httpResponse) error {
	var e struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if json.Unmarshal(r.body, &e) == nil && e.Error != "" {
		return &OAuthError{Code: e.Error, Description: e.ErrorDescription, Status: r.status, RetryAfter: retryAfter(r)}
	}
	return httpErrorFrom(method, rawURL, r)
}

// httpErrorFrom describes a non-2xx response whose body is of no use.
func httpErrorFrom(method, rawURL string, r *httpResponse) *HTTPError {
	return &HTTPError{Method: method, URL: redactURL(rawURL), Status: r.status, ContentType: r.contentType, RetryAfter: retryAfter(r)}
}

// maxRetryAfter bounds the wait read from a response, so that a server's
// absurd value cannot overflow a time.Duration.
const maxRetryAfter = 24 * time.Hour

// retryAfter is how long a 429 or 503 response asks the client to wait: its
// Retry-After header (delay-seconds or an HTTP date, RFC 9110 10.2.3), else,
// for a 429, Okta's X-Rate-Limit-Reset (the unix time at which the limit
// resets). Times are measured against the response's Date header when it has
// one, so the application's clock does not need to agree with the server's.
// Zero means the response did not say (or asked for no wait); other
// statuses always give zero.
func retryAfter(r *httpResponse) time.Duration {
	if r.status != http.StatusTooManyRequests && r.status != http.StatusServiceUnavailable {
		return 0
	}
	now := time.Now()
	if d, err := http.ParseTime(r.header.Get("Date")); err == nil {
		now = d
	}
	until := func(t time.Time) time.Duration { return min(max(t.Sub(now), 0), maxRetryAfter) }
	if v := strings.TrimSpace(r.header.Get("Retry-After")); v != "" {
		secs, err := strconv.ParseUint(v, 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			return maxRetryAfter
		}
		if err == nil {
			return time.Duration(min(secs, uint64(maxRetryAfter/time.Second))) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return until(t)
		}
	}
	if r.status == http.StatusTooManyRequests {
		if reset, err := strconv.ParseInt(strings.TrimSpace(r.header.Get("X-Rate-Limit-Reset")), 10, 64); err == nil && reset > 0 {
			if reset > now.Unix()+int64(maxRetryAfter/time.Second) {
				return maxRetryAfter
			}
			return until(time.Unix(reset, 0))
		}
	}
	return 0
}

// discoveryDocument holds the discovery members this package reads.
type discoveryDocument struct {
	Issuer                        string   `json:"issuer"`
	JWKSURI                       string   `json:"jwks_uri"`
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
	AuthorizationEndpoint         string   `json:"authorization_endpoint"`
}

// discover returns the cached discovery document, fetching it on first use.
// Failures are not cached, so a later call retries.
func (c *Client) discover(ctx context.Context) (*discoveryDocument, error) {
	c.mu.Lock()
	d := c.discovery
	c.mu.Unlock()
	if d != nil {
		return d, nil
	}
	u := c.issuer + "/.well-known/openid-configuration"
	h := http.Header{}
	h.Set("Accept", "application/json")
	r, err := c.do(ctx, http.MethodGet, u, h, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDiscovery, err)
	}
	if r.status != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s returned HTTP %d", ErrDiscovery, u, r.status)
	}
	var doc discoveryDocument
	if err := json.Unmarshal(r.body, &doc); err != nil {
		return nil, fmt.Errorf("%w: malformed document from %s: %v", ErrDiscovery, u, err)
	}
	if doc.Issuer != c.issuer {
		return nil, fmt.Errorf("%w: document issuer %q differs from configured issuer %q", ErrDiscovery, doc.Issuer, c.issuer)
	}
	if ju, err := url.Parse(doc.JWKSURI); err != nil || !ju.IsAbs() || (ju.Scheme != "https" && ju.Scheme != "http") {
		return nil, fmt.Errorf("%w: jwks_uri %q is not an absolute http(s) URL", ErrDiscovery, doc.JWKSURI)
	}
	c.mu.Lock()
	if c.discovery == nil {
		c.discovery = &doc
	}
	d = c.discovery
	c.mu.Unlock()
	return d, nil
}

// checkPKCESupport refuses to start an interaction with a server that does not
// advertise S256, as okta-auth-js does before interact.
func checkPKCESupport(d *discoveryDocument) error {
	for _, m := range d.CodeChallengeMethodsSupported {
		if m == "S256" {
			return nil
		}
	}
	return fmt.Errorf("%w: code_challenge_methods_supported does not include S256", ErrDiscovery)
}
