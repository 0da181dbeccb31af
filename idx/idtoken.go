package idx

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// jwksMinRefetch limits how often an unknown kid triggers a JWKS refetch, so
// tokens with random kids cannot make the client hammer the keys endpoint.
var jwksMinRefetch = time.Minute

// jwksCache holds the issuer's signing keys.
type jwksCache struct {
	keys      map[string]*rsa.PublicKey // by kid; only RS256 signing keys
	fetchedAt time.Time
}

// verifyIDToken checks an ID token: RS256 signature by the
// JWKS key whose kid matches, iss equal to the configured issuer, aud
// containing the client id (and azp equal to it when there are several
// audiences), exp and iat present and within the clock skew, nonce equal to
// the one sent (when nonce is not empty) and at_hash matching the access
// token when present. It returns all claims.
func (c *Client) verifyIDToken(ctx context.Context, raw, nonce, accessToken string) (map[string]any, error) {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrTokenInvalid, fmt.Sprintf(format, args...))
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, invalid("cannot parse ID token: %v", err)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return nil, invalid("ID token header has no kid")
	}
	key, err := c.signingKey(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return nil, err
	}
	var std jwt.Claims
	var all map[string]any
	if err := tok.Claims(key, &std, &all); err != nil {
		return nil, invalid("ID token signature: %v", err)
	}
	if std.Expiry == nil || std.IssuedAt == nil {
		return nil, invalid("ID token lacks exp or iat")
	}
	expected := jwt.Expected{Issuer: c.issuer, AnyAudience: jwt.Audience{c.clientID}, Time: time.Now()}
	if err := std.ValidateWithLeeway(expected, c.clockSkew); err != nil {
		return nil, invalid("ID token claims: %v", err)
	}
	if len(std.Audience) > 1 {
		if azp, _ := all["azp"].(string); azp != c.clientID {
			return nil, invalid("ID token has several audiences and azp is not the client id")
		}
	}
	if nonce != "" {
		got, _ := all["nonce"].(string)
		if subtle.ConstantTimeCompare([]byte(got), []byte(nonce)) != 1 {
			return nil, invalid("ID token nonce does not match the transaction's")
		}
	}
	if atHash, ok := all["at_hash"]; ok && accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		want := base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
		if s, _ := atHash.(string); s != want {
			return nil, invalid("ID token at_hash does not match the access token")
		}
	}
	return all, nil
}

// signingKey returns the RS256 key with the given kid, fetching the JWKS on
// first use and again (at most once per jwksMinRefetch) when the kid is
// unknown, so that key rotation is picked up.
func (c *Client) signingKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	c.mu.Lock()
	key, known := c.jwks.keys[kid]
	stale := c.jwks.keys == nil || time.Since(c.jwks.fetchedAt) >= jwksMinRefetch
	c.mu.Unlock()
	if known {
		return key, nil
	}
	if !stale {
		return nil, fmt.Errorf("%w: no signing key with kid %q", ErrTokenInvalid, kid)
	}
	keys, err := c.fetchJWKS(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.jwks.keys, c.jwks.fetchedAt = keys, time.Now()
	c.mu.Unlock()
	if key, ok := keys[kid]; ok {
		return key, nil
	}
	return nil, fmt.Errorf("%w: no signing key with kid %q", ErrTokenInvalid, kid)
}

// fetchJWKS downloads jwks_uri and keeps the RSA keys usable for RS256
// signatures (use absent or "sig", alg absent or "RS256"). A key that does not
// parse is skipped rather than failing the whole set.
func (c *Client) fetchJWKS(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	d, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Accept", "application/json")
	r, err := c.do(ctx, http.MethodGet, d.JWKSURI, h, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDiscovery, err)
	}
	if r.status != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s returned HTTP %d", ErrDiscovery, d.JWKSURI, r.status)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(r.body, &set); err != nil {
		return nil, fmt.Errorf("%w: malformed JWKS: %v", ErrDiscovery, err)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) != nil || k.KeyID == "" || !k.IsPublic() {
			continue
		}
		if (k.Use != "" && k.Use != "sig") || (k.Algorithm != "" && k.Algorithm != string(jose.RS256)) {
			continue
		}
		if pub, ok := k.Key.(*rsa.PublicKey); ok {
			if _, dup := keys[k.KeyID]; !dup {
				keys[k.KeyID] = pub
			}
		}
	}
	return keys, nil
}
