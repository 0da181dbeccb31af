package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// handleIntrospect is OAuth 2.0 Token Introspection (RFC 7662). The caller must be
// a registered client: a confidential one with its secret, a public one by its id.
// Who may learn what:
//
//   - a confidential client may introspect the access tokens of any client (it is
//     typically an API checking the tokens callers present; an access token's
//     claims are readable by whoever holds it anyway), and only its own refresh
//     tokens;
//   - a public client may introspect only tokens issued to itself.
//
// A token the caller may not introspect is answered as an unknown one would be,
// {"active": false}, as is anything expired, revoked (by jti, or by a revocation of
// its user, session or refresh-token family), malformed, or belonging to a deleted
// or disabled user. Only a request that cannot be answered at all gets an OAuth
// error: no client authentication or a wrong secret (401 invalid_client), no token
// parameter (400 invalid_request).
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	form, e := ReadForm(w, r)
	if e != nil {
		WriteError(w, e)
		return
	}
	client, e := s.AuthenticateClient(r, form, false)
	if e != nil {
		WriteError(w, e)
		return
	}
	if client == nil {
		WriteError(w, &Error{http.StatusUnauthorized, "invalid_client", "Client authentication is required to introspect a token."})
		return
	}
	token := form.Get("token")
	if token == "" {
		WriteError(w, invalidRequest("The token parameter is missing."))
		return
	}
	// token_type_hint is only a hint (RFC 7662 2.1): access tokens are JWTs and
	// refresh tokens are not, so the token's shape decides, whatever the hint says.
	var resp map[string]any
	var err error
	if strings.Count(token, ".") == 2 {
		resp, err = s.introspectAccessToken(r.Context(), client, token, s.now())
	} else {
		resp, err = s.introspectRefreshToken(r.Context(), client, token, s.now())
	}
	if err != nil {
		WriteError(w, s.serverError(r.Context(), "introspecting a token", err))
		return
	}
	if resp == nil {
		resp = map[string]any{"active": false}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

// introspectAccessToken answers for a JWT access token; nil means inactive.
func (s *Server) introspectAccessToken(ctx context.Context, client *clients.Client, raw string, now time.Time) (map[string]any, error) {
	claims, acct, err := s.activeAccessToken(ctx, raw, now)
	if errors.Is(err, errInvalidToken) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !client.Confidential() && claims.ClientID != client.ID {
		return nil, nil
	}
	return map[string]any{
		"active":     true,
		"token_type": "Bearer",
		"scope":      strings.Join(claims.Scopes, " "),
		"client_id":  claims.ClientID,
		"username":   acct.User.Login,
		"exp":        claims.Expiry,
		"iat":        claims.IssuedAt,
		"sub":        claims.Subject,
		"aud":        claims.Audience,
		"iss":        claims.Issuer,
		"jti":        claims.JTI,
		"uid":        claims.UserID,
	}, nil
}

// maxRefreshTokenLen bounds what is hashed and looked up; ours are 43 characters.
const maxRefreshTokenLen = 256

// introspectRefreshToken answers for a refresh token; nil means inactive. A refresh
// token is active while it is unused (not yet rotated), unrevoked and unexpired.
func (s *Server) introspectRefreshToken(ctx context.Context, client *clients.Client, raw string, now time.Time) (map[string]any, error) {
	if len(raw) > maxRefreshTokenLen {
		return nil, nil
	}
	rt, err := s.store.GetRefreshToken(ctx, opaque.Hash(raw))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if rt.ClientID != client.ID || !rt.UsedAt.IsZero() || !rt.RevokedAt.IsZero() || !now.Before(rt.ExpiresAt) {
		return nil, nil
	}
	acct, err := s.tokenAccount(ctx, refreshTokenRef(rt))
	if errors.Is(err, errInvalidToken) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{
		"active":     true,
		"token_type": "refresh_token",
		"scope":      strings.Join(rt.Scopes, " "),
		"client_id":  rt.ClientID,
		"username":   acct.User.Login,
		"exp":        rt.ExpiresAt.Unix(),
		"iat":        rt.CreatedAt.Unix(),
		"sub":        rt.UserID,
		"aud":        s.issuer,
		"iss":        s.issuer,
		"uid":        rt.UserID,
	}, nil
}
