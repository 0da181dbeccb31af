package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// ClientAssertionType is the client_assertion_type of private_key_jwt (RFC 7523 2.2).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// AssertionAlgorithms are the signature algorithms a client assertion may use.
var AssertionAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

const (
	// maxAssertionLifetime bounds how far in the future an assertion's exp may be:
	// its jti is remembered until then, so a far one would be both a long-lived
	// credential and a long-lived row.
	maxAssertionLifetime = 10 * time.Minute
	// assertionLeeway allows for the client's clock being a little off.
	assertionLeeway = 30 * time.Second
	maxJTILength    = 256
)

// assertionClaims are the claims RFC 7523 3 requires of a client assertion.
type assertionClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ID        string           `json:"jti"`
}

// assertionSubject is the unverified subject of a client assertion, which names the
// client when the request has no client_id (RFC 7523 3: sub is the client_id). It
// only chooses which client's keys to verify the assertion with.
func assertionSubject(raw string) string {
	tok, err := jwt.ParseSigned(raw, AssertionAlgorithms)
	if err != nil {
		return ""
	}
	var c assertionClaims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return ""
	}
	return c.Subject
}

// verifyClientAssertion checks a private_key_jwt assertion (RFC 7523 3): signed
// with RS256 or ES256 by one of the client's keys, iss and sub the client's id, aud
// this server (its issuer, its token endpoint, or the endpoint called), exp present
// and at most 10 minutes ahead, and jti never seen before. The jti is remembered
// until exp, in the store, so a replay fails on every node.
func (s *Server) verifyClientAssertion(r *http.Request, c *clients.Client, raw string) *Error {
	fail := func(why string) *Error {
		return &Error{http.StatusUnauthorized, "invalid_client", "Client authentication failed: " + why}
	}
	tok, err := jwt.ParseSigned(raw, AssertionAlgorithms)
	if err != nil {
		return fail("the client_assertion is not a JWT signed with RS256 or ES256.")
	}
	hdr := tok.Headers[0]
	ctx := r.Context()
	keys, err := s.assertionKeys(ctx, c, hdr.KeyID)
	if err != nil {
		s.log.WarnContext(ctx, "client authentication: the client's keys could not be loaded", "client_id", c.ID, "err", err)
		return fail("the client's keys could not be loaded.")
	}
	var claims assertionClaims
	verified := false
	for _, k := range keys {
		if (hdr.KeyID != "" && k.KeyID != hdr.KeyID) || !keyFits(k, hdr.Algorithm) {
			continue
		}
		if tok.Claims(k.Key, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return fail("the client_assertion is not signed by a key registered for the client.")
	}
	now := s.now()
	switch {
	case claims.Issuer != c.ID || claims.Subject != c.ID:
		return fail("the client_assertion's iss and sub must both be the client_id.")
	case !slices.ContainsFunc(claims.Audience, s.acceptsAudience(r)):
		return fail("the client_assertion's aud must be the issuer or the token endpoint (" + s.base + "/v1/token).")
	case claims.Expiry == nil:
		return fail("the client_assertion has no exp.")
	case !now.Before(claims.Expiry.Time().Add(assertionLeeway)):
		return fail("the client_assertion has expired.")
	case claims.Expiry.Time().After(now.Add(maxAssertionLifetime + assertionLeeway)):
		return fail(fmt.Sprintf("the client_assertion's exp is more than %d minutes ahead.", int(maxAssertionLifetime/time.Minute)))
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(assertionLeeway)):
		return fail("the client_assertion is not valid yet (nbf).")
	case claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(assertionLeeway)):
		return fail("the client_assertion was issued in the future (iat).")
	case claims.ID == "" || len(claims.ID) > maxJTILength:
		return fail(fmt.Sprintf("the client_assertion needs a jti of at most %d characters.", maxJTILength))
	}
	err = s.limiter.UseOnce(ctx, throttle.AssertionID(c.ID, claims.ID), claims.Expiry.Time().Add(assertionLeeway))
	if errors.Is(err, throttle.ErrUsed) {
		s.log.WarnContext(ctx, "client authentication: a client assertion was replayed", "client_id", c.ID)
		return fail("the client_assertion was already used (jti).")
	}
	if err != nil {
		return s.serverError(ctx, "recording a client assertion", err)
	}
	return nil
}

// acceptsAudience reports which aud values name this server: the issuer, the token
// endpoint (RFC 7523 3), and the URL of the endpoint called (revocation,
// introspection).
func (s *Server) acceptsAudience(r *http.Request) func(string) bool {
	called := s.origin + r.URL.Path
	return func(aud string) bool {
		return aud == s.issuer || aud == s.base+"/v1/token" || aud == called
	}
}

// keyFits reports whether k can verify a signature made with alg.
func keyFits(k jose.JSONWebKey, alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch k.Key.(type) {
	case *rsa.PublicKey:
		return alg == string(jose.RS256)
	case *ecdsa.PublicKey:
		return alg == string(jose.ES256)
	}
	return false
}

// assertionKeys returns the keys registered with c, or those at its jwks_uri.
func (s *Server) assertionKeys(ctx context.Context, c *clients.Client, kid string) ([]jose.JSONWebKey, error) {
	if len(c.JWKS) > 0 {
		return c.JWKS, nil
	}
	if c.JWKSURI == "" {
		return nil, errors.New("no keys registered")
	}
	return s.jwks.keys(ctx, c.JWKSURI, kid)
}

// ---- key sets fetched from clients' jwks_uri ----

const (
	jwksFetchTimeout = 5 * time.Second
	// jwksMaxBytes bounds a fetched key set.
	jwksMaxBytes = 64 << 10
	// jwksFresh is how long a fetched key set is used without asking again.
	jwksFresh = 5 * time.Minute
	// jwksRefetchGap is the least time between two fetches of one URL prompted by
	// an unknown key id: a client that rotated its key is seen quickly, and a
	// stream of made-up key ids cannot make the engine hammer the client's server.
	jwksRefetchGap = 30 * time.Second
	maxJWKSURIs    = 1024
)

// jwksCache keeps the key sets fetched from clients' jwks_uri.
type jwksCache struct {
	client *http.Client
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*jwksEntry
}

type jwksEntry struct {
	mu        sync.Mutex // held while fetching, so one URL is fetched once at a time
	keys      []jose.JSONWebKey
	fetchedAt time.Time // of keys
	triedAt   time.Time // of the last fetch, successful or not
	err       error     // of the last fetch
}

func newJWKSCache(client *http.Client, now func() time.Time) *jwksCache {
	if client == nil {
		client = &http.Client{Timeout: jwksFetchTimeout}
	}
	return &jwksCache{client: client, now: now, entries: map[string]*jwksEntry{}}
}

// keys returns the key set at uri: from the cache while it is fresh (5 minutes) and
// knows kid (or kid is empty), else fetched again — but never twice within 30
// seconds, so neither made-up key ids nor a dead jwks_uri make every request wait
// for a fetch. When a fetch fails, keys fetched before are used, however old.
func (j *jwksCache) keys(ctx context.Context, uri, kid string) ([]jose.JSONWebKey, error) {
	j.mu.Lock()
	e, ok := j.entries[uri]
	if !ok {
		if len(j.entries) >= maxJWKSURIs {
			clear(j.entries)
		}
		e = &jwksEntry{}
		j.entries[uri] = e
	}
	j.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := j.now()
	known := kid == "" || slices.ContainsFunc(e.keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid })
	fresh := !e.fetchedAt.IsZero() && now.Sub(e.fetchedAt) < jwksFresh
	if fresh && known {
		return e.keys, nil
	}
	if !e.triedAt.IsZero() && now.Sub(e.triedAt) < jwksRefetchGap {
		// Asked very recently: answer with what there is rather than ask again.
		if e.keys != nil {
			return e.keys, nil
		}
		return nil, e.err
	}
	e.triedAt = now
	keys, err := j.fetch(ctx, uri)
	if err != nil {
		e.err = err
		if e.keys != nil {
			return e.keys, nil
		}
		return nil, err
	}
	e.keys, e.fetchedAt, e.err = keys, now, nil
	return keys, nil
}

func (j *jwksCache) fetch(ctx context.Context, uri string) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", uri, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: HTTP %d", uri, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", uri, err)
	}
	if len(body) > jwksMaxBytes {
		return nil, fmt.Errorf("fetching %s: the key set is over %d KiB", uri, jwksMaxBytes>>10)
	}
	keys, err := config.ParseClientJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", uri, err)
	}
	return keys, nil
}
