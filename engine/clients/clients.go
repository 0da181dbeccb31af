// Package clients holds the OAuth 2.0 clients — those of the configuration file and
// those registered in the database with "gatehouse clients add" — and answers the
// questions every endpoint asks about them.
package clients

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// Client is one client, from the configuration or the database.
type Client struct {
	ID                     string
	Name                   string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Grants                 []string
	Scopes                 []string
	AccessTokenTTL         time.Duration
	IDTokenTTL             time.Duration
	RefreshTokenTTL        time.Duration
	// AuthMethod is the registered token_endpoint_auth_method: client_secret_basic,
	// client_secret_post, private_key_jwt or none. It is empty for a client with a
	// secret and no registered method, which may use either secret method.
	AuthMethod string
	// JWKSURI and JWKS are where a private_key_jwt client's public keys come from:
	// a URL to fetch them from, or the keys registered with the client (nil if none).
	JWKSURI              string
	JWKS                 []jose.JSONWebKey
	BackchannelLogoutURI string
	// FromConfig is true for a client of the configuration file.
	FromConfig bool

	// secretHash is the SHA-256 of the secret; hasSecret says there is one.
	secretHash [sha256.Size]byte
	hasSecret  bool
}

// Public reports whether the client has no credentials and relies on PKCE alone.
func (c *Client) Public() bool { return c.AuthMethod == config.AuthNone }

// Confidential reports whether the client must authenticate where tokens are issued.
func (c *Client) Confidential() bool { return !c.Public() }

// HasSecret reports whether the client has a secret.
func (c *Client) HasSecret() bool { return c.hasSecret }

// AllowsAuthMethod reports whether the client may authenticate with method.
func (c *Client) AllowsAuthMethod(method string) bool {
	if c.AuthMethod == "" {
		return method == config.AuthClientSecretBasic || method == config.AuthClientSecretPost
	}
	return method == c.AuthMethod
}

// AuthMethodDescription says in words how the client must authenticate.
func (c *Client) AuthMethodDescription() string {
	if c.AuthMethod == "" {
		return config.AuthClientSecretBasic + " or " + config.AuthClientSecretPost
	}
	return c.AuthMethod
}

// CheckSecret reports, in constant time, whether secret is the client's. A client
// without a secret never passes.
func (c *Client) CheckSecret(secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], c.secretHash[:]) == 1 && c.hasSecret
}

// AllowsGrant reports whether the client may use grant.
func (c *Client) AllowsGrant(grant string) bool { return slices.Contains(c.Grants, grant) }

// AllowsScope reports whether the client may ask for scope.
func (c *Client) AllowsScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// RedirectAllowed reports whether uri is registered, compared exactly (RFC 9700 4.1.3).
func (c *Client) RedirectAllowed(uri string) bool { return slices.Contains(c.RedirectURIs, uri) }

// PostLogoutRedirectAllowed reports whether uri is a registered post-logout target.
func (c *Client) PostLogoutRedirectAllowed(uri string) bool {
	return slices.Contains(c.PostLogoutRedirectURIs, uri)
}

// ---- secrets ----

// secretHashPrefix names the hash in store.Client.SecretHash.
const secretHashPrefix = "sha256:"

// NewSecret returns a fresh client secret: 32 random bytes, base64url (43 characters).
func NewSecret() string { return opaque.New(32) }

// HashSecret is what the store keeps for secret (store.Client.SecretHash): its
// SHA-256. That is safe only for high-entropy random secrets — those of NewSecret,
// or supplied ones that pass CheckSuppliedSecret.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return secretHashPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// MinSuppliedSecretLen is the least length of a secret an operator supplies.
const MinSuppliedSecretLen = 32

// CheckSuppliedSecret refuses a secret an operator supplies that does not look like
// the output of a random generator: shorter than 32 characters, made of fewer than
// 12 different characters, or holding spaces or control characters. It cannot prove
// randomness; it turns away passwords and placeholders, which the unsalted hash the
// store keeps would not protect.
func CheckSuppliedSecret(secret string) error {
	if len(secret) < MinSuppliedSecretLen {
		return fmt.Errorf("the secret must be at least %d characters of random text (for example from `openssl rand -base64 32`); it has %d", MinSuppliedSecretLen, len(secret))
	}
	distinct := map[rune]bool{}
	for _, r := range secret {
		if r <= ' ' || r == 0x7f {
			return errors.New("the secret must not contain spaces or control characters")
		}
		distinct[r] = true
	}
	if len(distinct) < 12 {
		return errors.New("the secret does not look random (fewer than 12 different characters); use a generated one, for example from `openssl rand -base64 32`")
	}
	return nil
}

func parseSecretHash(h string) ([sha256.Size]byte, bool, error) {
	var sum [sha256.Size]byte
	if h == "" {
		return sum, false, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(h, secretHashPrefix))
	if !strings.HasPrefix(h, secretHashPrefix) || err != nil || len(raw) != sha256.Size {
		return sum, false, errors.New("unreadable secret hash")
	}
	copy(sum[:], raw)
	return sum, true, nil
}

// ---- conversions ----

// FromConfig makes a Client of a configuration entry, validated and with its
// defaults and secret resolved.
func FromConfig(c config.Client) (*Client, error) {
	c = config.ClientDefaults(c)
	cl := &Client{
		ID: c.ID, Name: c.Name,
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		Grants: c.Grants, Scopes: c.Scopes,
		AccessTokenTTL: c.AccessTokenTTL, IDTokenTTL: c.IDTokenTTL, RefreshTokenTTL: c.RefreshTokenTTL,
		AuthMethod: authMethod(c.TokenEndpointAuthMethod, c.Public, c.Secret != "", c.JWKSURI != "" || c.JWKS != ""),
		JWKSURI:    c.JWKSURI, BackchannelLogoutURI: c.BackchannelLogoutURI, FromConfig: true,
	}
	if c.Secret != "" {
		cl.secretHash, cl.hasSecret = sha256.Sum256([]byte(c.Secret)), true
	}
	if c.JWKS != "" {
		keys, err := config.ParseClientJWKS([]byte(c.JWKS))
		if err != nil {
			return nil, fmt.Errorf("client %s: jwks: %w", c.ID, err)
		}
		cl.JWKS = keys
	}
	return cl, nil
}

// FromStore makes a Client of a database record.
func FromStore(c store.Client) (*Client, error) {
	cl := &Client{
		ID: c.ID, Name: c.Name,
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		Grants: c.Grants, Scopes: c.Scopes,
		AccessTokenTTL: c.AccessTokenTTL, IDTokenTTL: c.IDTokenTTL, RefreshTokenTTL: c.RefreshTokenTTL,
		AuthMethod: authMethod(c.TokenEndpointAuthMethod, c.Public, c.SecretHash != "", c.JWKSURI != "" || c.JWKS != ""),
		JWKSURI:    c.JWKSURI, BackchannelLogoutURI: c.BackchannelLogoutURI,
	}
	var err error
	if cl.secretHash, cl.hasSecret, err = parseSecretHash(c.SecretHash); err != nil {
		return nil, fmt.Errorf("client %s: %w", c.ID, err)
	}
	if c.JWKS != "" {
		if cl.JWKS, err = config.ParseClientJWKS([]byte(c.JWKS)); err != nil {
			return nil, fmt.Errorf("client %s: jwks: %w", c.ID, err)
		}
	}
	return cl, nil
}

// authMethod is the method a client registered, with the one it implies when it
// registered none: none for a client without credentials.
func authMethod(registered string, public, hasSecret, hasKeys bool) string {
	if registered == "" && (public || (!hasSecret && !hasKeys)) {
		return config.AuthNone
	}
	return registered
}

// ---- registry ----

// Registry looks clients up by id: first among the configured clients, then in the
// database. Database clients are cached for CacheTTL, so a client added with the CLI
// is found at once (nothing negative is cached), while a removed client, a rotated
// secret or another change takes effect on each node within CacheTTL.
type Registry struct {
	byID  map[string]*Client
	store store.ClientStore // nil: configured clients only
	now   func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	client  *Client
	expires time.Time
}

// CacheTTL is how long a database client is used before it is read again.
const CacheTTL = 5 * time.Second

// maxCached bounds the cache; past it, it is emptied and refilled.
const maxCached = 1024

// ErrUnknownClient is returned for an id that is neither configured nor registered.
var ErrUnknownClient = errors.New("unknown client")

// NewRegistry builds a registry of validated configured clients and, if st is not
// nil, the clients registered in the database. now is the clock (nil: time.Now).
func NewRegistry(cfg []config.Client, st store.ClientStore, now func() time.Time) (*Registry, error) {
	if now == nil {
		now = time.Now
	}
	r := &Registry{byID: make(map[string]*Client, len(cfg)), store: st, now: now, cache: map[string]cached{}}
	for _, c := range cfg {
		cl, err := FromConfig(c)
		if err != nil {
			return nil, err
		}
		r.byID[c.ID] = cl
	}
	return r, nil
}

// Configured reports whether id is a client of the configuration file.
func (r *Registry) Configured(id string) bool {
	_, ok := r.byID[id]
	return ok
}

// Lookup returns the client with id or ErrUnknownClient. A configured client wins
// over a database client with the same id. Other errors are the database's.
func (r *Registry) Lookup(ctx context.Context, id string) (*Client, error) {
	if c, ok := r.byID[id]; ok {
		return c, nil
	}
	if r.store == nil || id == "" || len(id) > 128 {
		return nil, ErrUnknownClient
	}
	now := r.now()
	r.mu.Lock()
	e, ok := r.cache[id]
	r.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.client, nil
	}
	rec, err := r.store.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		r.mu.Lock()
		delete(r.cache, id)
		r.mu.Unlock()
		return nil, ErrUnknownClient
	}
	if err != nil {
		return nil, fmt.Errorf("clients: loading %s: %w", id, err)
	}
	c, err := FromStore(rec)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if len(r.cache) >= maxCached {
		clear(r.cache)
	}
	r.cache[id] = cached{client: c, expires: now.Add(CacheTTL)}
	r.mu.Unlock()
	return c, nil
}
