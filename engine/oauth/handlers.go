package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// handleDiscovery serves OpenID Connect Discovery 1.0. okta-auth-js reads issuer,
// jwks_uri and code_challenge_methods_supported; the rest is for other libraries.
func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                                s.issuer,
		"authorization_endpoint":                                s.base + "/v1/authorize",
		"token_endpoint":                                        s.base + "/v1/token",
		"userinfo_endpoint":                                     s.base + "/v1/userinfo",
		"jwks_uri":                                              s.base + "/v1/keys",
		"revocation_endpoint":                                   s.base + "/v1/revoke",
		"end_session_endpoint":                                  s.base + "/v1/logout",
		"response_types_supported":                              []string{"code"},
		"response_modes_supported":                              []string{"query"},
		"grant_types_supported":                                 []string{config.GrantInteractionCode, config.GrantRefreshToken},
		"subject_types_supported":                               []string{"public"},
		"id_token_signing_alg_values_supported":                 []string{"RS256"},
		"scopes_supported":                                      config.KnownScopes,
		"token_endpoint_auth_methods_supported":                 config.AuthMethods,
		"token_endpoint_auth_signing_alg_values_supported":      AssertionAlgorithms,
		"revocation_endpoint_auth_methods_supported":            config.AuthMethods,
		"revocation_endpoint_auth_signing_alg_values_supported": AssertionAlgorithms,
		// The same client authentication serves introspection (AuthenticateClient).
		"introspection_endpoint_auth_methods_supported":            config.AuthMethods,
		"introspection_endpoint_auth_signing_alg_values_supported": AssertionAlgorithms,
		"claims_supported": []string{"iss", "sub", "aud", "iat", "exp", "auth_time", "amr", "nonce", "at_hash",
			"name", "given_name", "family_name", "preferred_username", "locale", "updated_at",
			"email", "email_verified", "phone_number", "phone_number_verified"},
		"code_challenge_methods_supported": []string{"S256"},
		"request_parameter_supported":      false,
	})
}

func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	// Short enough that a key added for rotation reaches clients before it signs.
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(s.keys.JWKS())
}

// handleAuthorize exists because discovery must name an authorization endpoint; this
// engine signs people in only through the interaction code flow.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	WriteError(w, &Error{http.StatusBadRequest, "unsupported_response_type",
		"This server signs users in with the interaction code flow (POST /v1/interact); the redirect flow is not offered."})
}

// ---- token endpoint ----

type tokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	Scope        string `json:"scope"`
	IDToken      string `json:"id_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	form, e := ReadForm(w, r)
	if e != nil {
		WriteError(w, e)
		return
	}
	client, e := s.AuthenticateClient(r, form, true)
	if e != nil {
		WriteError(w, e)
		return
	}
	var resp tokenResponse
	switch gt := form.Get("grant_type"); gt {
	case config.GrantInteractionCode:
		resp, e = s.interactionCodeGrant(r.Context(), client, form)
	case config.GrantRefreshToken:
		resp, e = s.refreshTokenGrant(r.Context(), client, form)
	case "":
		e = invalidRequest("The grant_type parameter is missing.")
	default:
		e = &Error{http.StatusBadRequest, "unsupported_grant_type", "The grant type '" + sanitize(gt) + "' is not supported."}
	}
	if e != nil {
		WriteError(w, e)
		return
	}
	s.metrics.TokensIssued(form.Get("grant_type"))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

var verifierPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

var (
	errCodeUnusable = errors.New("interaction code unusable")
	errPKCE         = errors.New("pkce mismatch")
)

// interactionCodeGrant redeems the code a finished IDX transaction produced
// (PROTOCOL.md 4.4): single use, short-lived, issued to this client, and bound to the
// PKCE challenge given at interact.
func (s *Server) interactionCodeGrant(ctx context.Context, client *clients.Client, form url.Values) (tokenResponse, *Error) {
	if !client.AllowsGrant(config.GrantInteractionCode) {
		return tokenResponse{}, &Error{http.StatusBadRequest, "unauthorized_client", "The client is not allowed the interaction_code grant."}
	}
	code, verifier := form.Get("interaction_code"), form.Get("code_verifier")
	if code == "" {
		return tokenResponse{}, invalidRequest("The interaction_code parameter is missing.")
	}
	if verifier == "" {
		return tokenResponse{}, invalidRequest("PKCE code verifier is required when the code challenge was given.")
	}
	if !verifierPattern.MatchString(verifier) {
		return tokenResponse{}, &Error{http.StatusBadRequest, "invalid_grant", "PKCE verification failed."}
	}
	redirectURI := form.Get("redirect_uri")
	now := s.now()
	ic, err := s.store.UpdateInteractionCode(ctx, opaque.Hash(code), func(c store.InteractionCode) (store.InteractionCode, error) {
		if !c.UsedAt.IsZero() || !now.Before(c.ExpiresAt) || c.ClientID != client.ID {
			return c, errCodeUnusable
		}
		if redirectURI != "" && redirectURI != c.RedirectURI {
			return c, errCodeUnusable
		}
		// A failed check leaves the code unused: guessing a 256-bit verifier is
		// hopeless, and consuming it would let anyone who saw the code cancel the
		// sign-in.
		if !pkceMatches(verifier, c.CodeChallenge) {
			return c, errPKCE
		}
		c.UsedAt = now
		return c, nil
	})
	switch {
	case errors.Is(err, errPKCE):
		return tokenResponse{}, &Error{http.StatusBadRequest, "invalid_grant", "PKCE verification failed."}
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errCodeUnusable):
		return tokenResponse{}, &Error{http.StatusBadRequest, "invalid_grant", "The interaction code is invalid or has expired."}
	case err != nil:
		return tokenResponse{}, s.serverError("redeeming an interaction code", err)
	}
	// The transaction is finished; its handles now answer "session expired".
	if err := s.store.DeleteTransaction(ctx, ic.TransactionID); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("token: deleting a finished transaction failed", "err", err)
	}
	user, phones, e := s.loadSubject(ctx, ic.UserID)
	if e != nil {
		return tokenResponse{}, e
	}
	return s.issue(ctx, Grant{Client: client, User: user, Phones: phones, Scopes: ic.Scopes, Nonce: ic.Nonce, AuthTime: ic.AuthTime, AMR: ic.AMR}, "", now)
}

func pkceMatches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	computed := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(computed), []byte(challenge)) == 1
}

// refreshTokenDescription is the exact text okta-auth-js looks for before it drops a
// stored refresh token (PROTOCOL.md 4.4).
const refreshTokenDescription = "The refresh token is invalid or expired."

var errRefreshReused = errors.New("refresh token reused")

// refreshTokenGrant exchanges a refresh token for new tokens and a new refresh token
// (rotation). Presenting a token that was already exchanged revokes its whole family:
// one of the two presenters holds a stolen copy (RFC 9700 4.14.2).
func (s *Server) refreshTokenGrant(ctx context.Context, client *clients.Client, form url.Values) (tokenResponse, *Error) {
	if !client.AllowsGrant(config.GrantRefreshToken) {
		return tokenResponse{}, &Error{http.StatusBadRequest, "unauthorized_client", "The client is not allowed the refresh_token grant."}
	}
	raw := form.Get("refresh_token")
	if raw == "" {
		return tokenResponse{}, invalidRequest("The refresh_token parameter is missing.")
	}
	now := s.now()
	invalid := &Error{http.StatusBadRequest, "invalid_grant", refreshTokenDescription}
	var family string
	old, err := s.store.UpdateRefreshToken(ctx, opaque.Hash(raw), func(t store.RefreshToken) (store.RefreshToken, error) {
		family = t.FamilyID
		switch {
		case t.ClientID != client.ID, !t.RevokedAt.IsZero(), !now.Before(t.ExpiresAt):
			return t, errCodeUnusable
		case !t.UsedAt.IsZero():
			return t, errRefreshReused
		}
		t.UsedAt = now
		return t, nil
	})
	switch {
	case errors.Is(err, errRefreshReused):
		s.log.Warn("token: a rotated refresh token was presented again; revoking its family", "client_id", client.ID, "family", family)
		if err := s.store.RevokeRefreshTokenFamily(ctx, family, now); err != nil {
			return tokenResponse{}, s.serverError("revoking a refresh token family", err)
		}
		return tokenResponse{}, invalid
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errCodeUnusable):
		return tokenResponse{}, invalid
	case err != nil:
		return tokenResponse{}, s.serverError("using a refresh token", err)
	}
	scopes := old.Scopes
	if requested := strings.Fields(form.Get("scope")); len(requested) > 0 {
		for _, sc := range requested {
			if !slices.Contains(old.Scopes, sc) {
				return tokenResponse{}, &Error{http.StatusBadRequest, "invalid_scope", "The scope '" + sanitize(sc) + "' was not granted to this refresh token."}
			}
		}
		scopes = requested
	}
	user, phones, e := s.loadSubject(ctx, old.UserID)
	if e != nil {
		return tokenResponse{}, invalid
	}
	return s.issue(ctx, Grant{Client: client, User: user, Phones: phones, Scopes: scopes, AuthTime: old.AuthTime, AMR: old.AMR}, old.FamilyID, now)
}

// loadSubject loads the user tokens are for; a deleted or disabled user gets none.
func (s *Server) loadSubject(ctx context.Context, userID string) (store.User, []store.PhoneEnrollment, *Error) {
	u, err := s.store.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return u, nil, &Error{http.StatusBadRequest, "invalid_grant", "The user is no longer allowed to sign in."}
	}
	if err != nil {
		return u, nil, s.serverError("loading a user", err)
	}
	phones, err := s.store.ListPhoneEnrollments(ctx, userID)
	if err != nil {
		return u, nil, s.serverError("loading phones", err)
	}
	return u, phones, nil
}

// issue mints the token response for g. family continues a refresh-token family, or
// is empty to start one.
func (s *Server) issue(ctx context.Context, g Grant, family string, now time.Time) (tokenResponse, *Error) {
	at, err := s.mintAccessToken(g, now)
	if err != nil {
		return tokenResponse{}, s.serverError("signing an access token", err)
	}
	resp := tokenResponse{TokenType: "Bearer", ExpiresIn: int(g.Client.AccessTokenTTL / time.Second), AccessToken: at.Raw, Scope: strings.Join(g.Scopes, " ")}
	if slices.Contains(g.Scopes, "openid") {
		if resp.IDToken, err = s.mintIDToken(g, at.Raw, now); err != nil {
			return tokenResponse{}, s.serverError("signing an ID token", err)
		}
	}
	if slices.Contains(g.Scopes, "offline_access") && g.Client.AllowsGrant(config.GrantRefreshToken) {
		raw := opaque.New(32)
		if family == "" {
			family = opaque.New(16)
		}
		rt := store.RefreshToken{
			TokenHash: opaque.Hash(raw), FamilyID: family, ClientID: g.Client.ID, UserID: g.User.ID,
			Scopes: g.Scopes, AuthTime: g.AuthTime, AMR: g.AMR, CreatedAt: now,
			ExpiresAt: now.Add(g.Client.RefreshTokenTTL),
		}
		if err := s.store.CreateRefreshToken(ctx, rt); err != nil {
			return tokenResponse{}, s.serverError("storing a refresh token", err)
		}
		resp.RefreshToken = raw
	}
	return resp, nil
}

func (s *Server) serverError(doing string, err error) *Error {
	s.log.Error("oauth: "+doing, "err", err)
	return &Error{http.StatusInternalServerError, "server_error", "The server could not complete the request; try again."}
}

// ---- userinfo ----

func (s *Server) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	raw, ok := bearerToken(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_request", "error_description": "The access token is missing."})
		return
	}
	ctx := r.Context()
	now := s.now()
	claims, err := s.verifyAccessToken(ctx, raw, now)
	if err == nil {
		var revoked bool
		revoked, err = s.store.IsAccessTokenRevoked(ctx, claims.JTI)
		if err == nil && revoked {
			err = errInvalidToken
		}
	}
	var user store.User
	var phones []store.PhoneEnrollment
	if err == nil {
		user, err = s.store.GetUser(ctx, claims.UserID)
		if err == nil && user.Disabled {
			err = errInvalidToken
		}
	}
	if err == nil && slices.Contains(claims.Scopes, "phone") {
		phones, err = s.store.ListPhoneEnrollments(ctx, claims.UserID)
	}
	if err != nil {
		if !errors.Is(err, errInvalidToken) && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("userinfo: store", "err", err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error", "error_description": "The server could not complete the request; try again."})
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="The access token is invalid."`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "The access token is invalid."})
		return
	}
	out := profileClaims(user, phones, claims.Scopes)
	out["sub"] = user.ID
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// ---- revocation (RFC 7009) ----

// handleRevoke revokes a refresh token (with its family) or an access token. It
// answers 200 with an empty body and no JSON content type, also for unknown tokens:
// okta-auth-js treats an empty body labelled JSON as a failure (PROTOCOL.md 4.6).
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
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
	token := form.Get("token")
	if token == "" {
		WriteError(w, invalidRequest("The token parameter is missing."))
		return
	}
	ctx, now := r.Context(), s.now()
	// Access tokens are JWTs and refresh tokens are not, so the shape decides; the
	// hint (RFC 7009 2.1) is only a hint.
	if strings.Count(token, ".") == 2 {
		claims, err := s.verifyAccessToken(ctx, token, now)
		if err == nil && (client == nil || client.ID == claims.ClientID) {
			if err := s.store.RevokeAccessToken(ctx, claims.JTI, time.Unix(claims.Expiry, 0)); err != nil {
				WriteError(w, s.serverError("revoking an access token", err))
				return
			}
		}
	} else if len(token) <= 256 {
		rt, err := s.store.GetRefreshToken(ctx, opaque.Hash(token))
		if err == nil && (client == nil || client.ID == rt.ClientID) {
			if err := s.store.RevokeRefreshTokenFamily(ctx, rt.FamilyID, now); err != nil {
				WriteError(w, s.serverError("revoking a refresh token", err))
				return
			}
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			WriteError(w, s.serverError("looking up a refresh token", err))
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// ---- logout (OIDC RP-Initiated Logout 1.0) ----

var logoutPage = template.Must(template.New("logout").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem">
<h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>`))

// handleLogout ends the sign-in at the engine and sends the browser back to the app.
// The engine keeps no browser session of its own (sign-in state lives in IDX
// transactions, which finish when their code is redeemed), so there is nothing to
// end here beyond checking the redirect target.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	target := q.Get("post_logout_redirect_uri")
	clientID := q.Get("client_id")
	if hint := q.Get("id_token_hint"); hint != "" {
		aud, _, err := s.idTokenHintClaims(r.Context(), hint, s.now())
		if err != nil || (clientID != "" && clientID != aud) {
			s.logoutError(w, "The id_token_hint is not a token this server issued.")
			return
		}
		clientID = aud
	}
	w.Header().Set("Cache-Control", "no-store")
	if target == "" {
		s.renderLogout(w, http.StatusOK, "Signed out", "You have been signed out. You can close this window.")
		return
	}
	c, err := s.clients.Lookup(r.Context(), clientID)
	if err != nil || !c.PostLogoutRedirectAllowed(target) {
		s.logoutError(w, "The post_logout_redirect_uri is not registered for this client.")
		return
	}
	u, _ := url.Parse(target) // validated when the client was configured
	if st := q.Get("state"); st != "" {
		v := u.Query()
		v.Set("state", st)
		u.RawQuery = v.Encode()
	}
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (s *Server) logoutError(w http.ResponseWriter, text string) {
	s.renderLogout(w, http.StatusBadRequest, "Sign-out request refused", text)
}

func (s *Server) renderLogout(w http.ResponseWriter, status int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = logoutPage.Execute(w, struct{ Title, Text string }{title, text})
}
