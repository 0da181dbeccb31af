package mgmt

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// TokenPrefix starts every API token, so that a token found in a file or a log is
// recognisable (and secret scanners can be taught to find it). The rest is 32 random
// bytes, base64url: 256 bits.
const TokenPrefix = "gatehouse_"

// maxTokenLength bounds what is hashed and looked up: a real token is 53 characters.
const maxTokenLength = 200

// NewToken makes an API token and the hash the store keeps in its place
// (store.APIToken.TokenHash).
func NewToken() (token, hash string) {
	token = TokenPrefix + opaque.New(32)
	return token, HashToken(token)
}

// HashToken is the hash an API token is stored and looked up by: hex SHA-256.
func HashToken(token string) string { return opaque.Hash(token) }

// NewTokenID makes the id of a new API token, in the style of Okta's ("00T…").
func NewTokenID() string { return opaque.ID("00T") }

// errNoToken: the request has no valid token — none, another scheme, unknown or
// revoked. Which one is not told to the client.
var errNoToken = errors.New("mgmt: no valid API token")

// authenticate finds the valid token that header ("SSWS <token>") carries.
func (a *API) authenticate(ctx context.Context, header string) (store.APIToken, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(header), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "SSWS") || token == "" || len(token) > maxTokenLength {
		return store.APIToken{}, errNoToken
	}
	tok, err := a.o.Store.GetAPITokenByHash(ctx, HashToken(token))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !tok.RevokedAt.IsZero()) {
		return store.APIToken{}, errNoToken
	}
	return tok, err
}
