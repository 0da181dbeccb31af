// Package clients holds the OAuth 2.0 clients from the configuration and answers the
// questions every endpoint asks about them.
package clients

import (
	"crypto/subtle"
	"errors"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
)

// Client is one configured client.
type Client struct {
	ID                     string
	Name                   string
	secret                 string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Grants                 []string
	Scopes                 []string
	AccessTokenTTL         time.Duration
	IDTokenTTL             time.Duration
	RefreshTokenTTL        time.Duration
}

// Confidential reports whether the client has a secret and must present it.
func (c *Client) Confidential() bool { return c.secret != "" }

// CheckSecret compares secret with the client's in constant time. A public client
// passes only with an empty secret.
func (c *Client) CheckSecret(secret string) bool {
	if c.secret == "" {
		return secret == ""
	}
	return subtle.ConstantTimeCompare([]byte(c.secret), []byte(secret)) == 1
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

// Registry looks clients up by id.
type Registry struct {
	byID map[string]*Client
}

// ErrUnknownClient is returned for an id that is not configured.
var ErrUnknownClient = errors.New("unknown client")

// NewRegistry builds a registry from validated configuration.
func NewRegistry(cfg []config.Client) *Registry {
	r := &Registry{byID: make(map[string]*Client, len(cfg))}
	for _, c := range cfg {
		c = config.ClientDefaults(c)
		r.byID[c.ID] = &Client{
			ID: c.ID, Name: c.Name, secret: c.Secret,
			RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
			Grants: c.Grants, Scopes: c.Scopes,
			AccessTokenTTL: c.AccessTokenTTL, IDTokenTTL: c.IDTokenTTL, RefreshTokenTTL: c.RefreshTokenTTL,
		}
	}
	return r
}

// Lookup returns the client with id or ErrUnknownClient.
func (r *Registry) Lookup(id string) (*Client, error) {
	if c, ok := r.byID[id]; ok {
		return c, nil
	}
	return nil, ErrUnknownClient
}
