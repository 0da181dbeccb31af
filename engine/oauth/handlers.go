package oauth

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
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
		"introspection_endpoint":                                s.base + "/v1/introspect",
		"end_session_endpoint":                                  s.base + "/v1/logout",
		"response_types_supported":                              []string{"code"},
		"response_modes_supported":                              []string{"query", "form_post"},
		"grant_types_supported":                                 []string{config.GrantAuthorizationCode, config.GrantInteractionCode, config.GrantRefreshToken},
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
		"claims_supported": []string{"iss", "sub", "aud", "iat", "exp", "auth_time", "amr", "nonce", "at_hash", "sid",
			"name", "given_name", "family_name", "preferred_username", "locale", "updated_at",
			"email", "email_verified", "phone_number", "phone_number_verified"},
		"code_challenge_methods_supported": []string{"S256"},
		"request_parameter_supported":      false,
		"request_uri_parameter_supported":  false,
		"prompt_values_supported":          []string{"none", "login", "consent", "select_account"},
		// RFC 9207: every authorization response carries iss.
		"authorization_response_iss_parameter_supported": true,
		// OIDC Back-Channel Logout 1.0: logout tokens carry sid.
		"backchannel_logout_supported":         true,
		"backchannel_logout_session_supported": true,
		"frontchannel_logout_supported":        false,
	})
}

func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	// Short enough that a key added for rotation reaches clients before it signs.
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(s.keys.JWKS())
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
	case config.GrantAuthorizationCode:
		resp, e = s.authorizationCodeGrant(r.Context(), client, form)
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
// (docs/protocol.md): single use, short-lived, issued to this client, and bound to the
// PKCE challenge given at interact.
func (s *Server) interactionCodeGrant(ctx context.Context, client *clients.Client, form url.Values) (tokenResponse, *Error) {
	if !client.AllowsGrant(config.GrantInteractionCode) {
		return tokenResponse{}, &Error{http.StatusBadRequest, "unauthorized_client", "The client is not allowed the interaction_code grant."}
	}
	code := form.Get("interaction_code")
	if code == "" {
		return tokenResponse{}, invalidRequest("The interaction_code parameter is missing.")
	}
	if form.Get("code_verifier") == "" {
		// Every interact carries a challenge (PKCE is required there).
		return tokenResponse{}, invalidRequest("PKCE code verifier is required when the code challenge was given.")
	}
	return s.redeemCode(ctx, client, form, code, "", "The interaction code is invalid or has expired.")
}

// authorizationCodeGrant redeems the code /v1/authorize sent to the client's
// redirect URI (RFC 6749 4.1.3, RFC 7636 4.6): the redirect_uri must be the one the
// code was sent to, and the verifier must match the challenge when one was given.
func (s *Server) authorizationCodeGrant(ctx context.Context, client *clients.Client, form url.Values) (tokenResponse, *Error) {
	if !client.AllowsGrant(config.GrantAuthorizationCode) {
		return tokenResponse{}, &Error{http.StatusBadRequest, "unauthorized_client", "The client is not allowed the authorization_code grant."}
	}
	code := form.Get("code")
	if code == "" {
		return tokenResponse{}, invalidRequest("The code parameter is missing.")
	}
	if form.Get("redirect_uri") == "" {
		return tokenResponse{}, invalidRequest("The redirect_uri parameter is missing.")
	}
	return s.redeemCode(ctx, client, form, code, config.GrantAuthorizationCode, "The authorization code is invalid or has expired.")
}

// redeemCode redeems an interaction or authorization code for tokens: once, before
// it expires, by the client it was issued to, through the grant it was issued for,
// with the PKCE verifier of its challenge.
//
// The store work is one transaction (store.Atomic): the code consumed, its IDX
// transaction deleted, the user's account read, the refresh token and the
// system log's events written. The tokens are signed after it committed, so that
// the transaction does not hold its locks through RSA signing. A code whose user
// is gone or disabled is consumed all the same, and refused.
func (s *Server) redeemCode(ctx context.Context, client *clients.Client, form url.Values, code, grantType, unusable string) (tokenResponse, *Error) {
	verifier := form.Get("code_verifier")
	if len(code) > 256 {
		return tokenResponse{}, &Error{http.StatusBadRequest, "invalid_grant", unusable}
	}
	if verifier != "" && !verifierPattern.MatchString(verifier) {
		return tokenResponse{}, &Error{http.StatusBadRequest, "invalid_grant", "PKCE verification failed."}
	}
	redirectURI := form.Get("redirect_uri")
	now := s.now()
	var (
		missingVerifier bool
		refused         *Error // the code was consumed, but gets no tokens
		tokens          tokensToSign
	)
	err := s.store.Atomically(ctx, func(ctx context.Context) error {
		ic, err := s.store.UpdateInteractionCode(ctx, opaque.Hash(code), func(c store.InteractionCode) (store.InteractionCode, error) {
			if !c.UsedAt.IsZero() || !now.Before(c.ExpiresAt) || c.ClientID != client.ID || c.GrantType != grantType {
				return c, errCodeUnusable
			}
			if redirectURI != "" && redirectURI != c.RedirectURI {
				return c, errCodeUnusable
			}
			// A failed check leaves the code unused: guessing a 256-bit verifier is
			// hopeless, and consuming it would let anyone who saw the code cancel the
			// sign-in.
			switch {
			case c.CodeChallenge != "" && verifier == "":
				missingVerifier = true
				return c, errPKCE
			case c.CodeChallenge == "" && verifier != "":
				// A verifier for a code that had no challenge: someone mixed up two
				// sign-ins (RFC 9700 2.1.1 asks servers to refuse it).
				return c, errPKCE
			case c.CodeChallenge != "" && !pkceMatches(verifier, c.CodeChallenge):
				return c, errPKCE
			}
			c.UsedAt = now
			return c, nil
		})
		if err != nil {
			return err // nothing was written
		}
		// The transaction is finished; its handles now answer "session expired".
		if ic.TransactionID != "" {
			if err := s.store.DeleteTransaction(ctx, ic.TransactionID); err != nil && !errors.Is(err, store.ErrNotFound) {
				s.log.WarnContext(ctx, "token: deleting a finished transaction failed", "err", err)
			}
		}
		acct, err := s.store.GetAccount(ctx, ic.UserID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && acct.User.Disabled) {
			refused = userGone()
			return nil
		}
		if err != nil {
			return fmt.Errorf("loading the user: %w", err)
		}
		// The tokens' events belong to the sign-in that ended with the code.
		ctx = eventlog.WithSession(ctx, ic.TransactionID)
		tokens, err = s.record(ctx, Grant{Client: client, User: acct.User, Phones: acct.Phones, Scopes: ic.Scopes, Nonce: ic.Nonce,
			AuthTime: ic.AuthTime, AMR: ic.AMR, SessionID: ic.SessionID}, "", cmp.Or(grantType, config.GrantInteractionCode), now)
		return err
	})
	switch {
	case errors.Is(err, errPKCE) && missingVerifier:
		return tokenResponse{}, invalidRequest("PKCE code verifier is required when the code challenge was given.")
	case errors.Is(err, errPKCE):
		return tokenResponse{}, &Error{http.StatusBadRequest, "invalid_grant", "PKCE verification failed."}
	case errors.Is(err, store.ErrNotFound), errors.Is(err, errCodeUnusable):
		return tokenResponse{}, &Error{http.StatusBadRequest, "invalid_grant", unusable}
	case err != nil:
		return tokenResponse{}, s.serverError(ctx, "redeeming a code", err)
	case refused != nil:
		return tokenResponse{}, refused
	}
	return s.sign(ctx, tokens)
}

// userGone refuses tokens to a user deleted or disabled since they signed in.
func userGone() *Error {
	return &Error{http.StatusBadRequest, "invalid_grant", "The user is no longer allowed to sign in."}
}

// challengePattern is a base64url SHA-256 digest: 43 characters.
var challengePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// ValidChallenge reports whether s can be an S256 PKCE code challenge (RFC 7636
// 4.2): what /v1/interact and /v1/authorize accept.
func ValidChallenge(s string) bool { return challengePattern.MatchString(s) }

func pkceMatches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	computed := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(computed), []byte(challenge)) == 1
}

// refreshTokenDescription is the exact text okta-auth-js looks for before it drops a
// stored refresh token (docs/protocol.md).
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
	requested := strings.Fields(form.Get("scope"))
	now := s.now()
	invalid := &Error{http.StatusBadRequest, "invalid_grant", refreshTokenDescription}
	// One store transaction, as for a code (redeemCode): the token marked used (or
	// its family revoked), its revocation and its user checked, the new refresh
	// token and the events written; the tokens are signed after the commit. A
	// token refused after it was marked used stays used.
	var (
		refused *Error
		tokens  tokensToSign
	)
	err := s.store.Atomically(ctx, func(ctx context.Context) error {
		var family, owner string
		old, err := s.store.UpdateRefreshToken(ctx, opaque.Hash(raw), func(t store.RefreshToken) (store.RefreshToken, error) {
			family, owner = t.FamilyID, t.UserID
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
			s.log.WarnContext(ctx, "token: a rotated refresh token was presented again; revoking its family", "client_id", client.ID, "family", family)
			reused := revokeEvent(client.ID, client.Name, owner, store.LogTarget{ID: family, Type: "refresh_token", DisplayName: "Refresh Token"},
				"a rotated refresh token was presented again: its family is revoked")
			// As of now, not of the request's start: the request that won a race
			// with this one may have issued its tokens in between, and the
			// revocation must cover them.
			at := s.now()
			if at.Before(now) {
				at = now
			}
			if _, err := revokeTokens(eventlog.Attach(ctx, reused), s.store, store.RevokeFamily, family, at); err != nil {
				return fmt.Errorf("revoking a refresh token family: %w", err)
			}
			refused = invalid
			return nil
		case errors.Is(err, store.ErrNotFound), errors.Is(err, errCodeUnusable):
			refused = invalid
			return nil
		case err != nil:
			return fmt.Errorf("using a refresh token: %w", err)
		}
		scopes := old.Scopes
		if len(requested) > 0 {
			for _, sc := range requested {
				if !slices.Contains(old.Scopes, sc) {
					refused = &Error{http.StatusBadRequest, "invalid_scope", "The scope '" + sanitize(sc) + "' was not granted to this refresh token."}
					return nil
				}
			}
			scopes = requested
		}
		// A revocation of its user, session or family that committed after this
		// token was stored but missed it (it was being created then) still covers
		// it; so does its user's deletion or disabling.
		acct, err := s.tokenAccount(ctx, refreshTokenRef(old))
		if errors.Is(err, errInvalidToken) {
			refused = invalid
			return nil
		}
		if err != nil {
			return fmt.Errorf("checking a refresh token's revocation and user: %w", err)
		}
		tokens, err = s.record(ctx, Grant{Client: client, User: acct.User, Phones: acct.Phones, Scopes: scopes, AuthTime: old.AuthTime,
			AMR: old.AMR, SessionID: old.SessionID}, old.FamilyID, config.GrantRefreshToken, now)
		return err
	})
	switch {
	case err != nil:
		return tokenResponse{}, s.serverError(ctx, "refreshing tokens", err)
	case refused != nil:
		return tokenResponse{}, refused
	}
	return s.sign(ctx, tokens)
}

// tokensToSign is a token response whose store work is done — the refresh token
// stored, the tokens recorded in the system log — and whose tokens are still to
// be signed.
type tokensToSign struct {
	grant   Grant
	access  accessClaims
	refresh string // the new refresh token's value; "" for none
	now     time.Time
}

// record does the store work of a token response for g, in the store transaction
// of ctx if there is one. family continues a refresh-token family, or is empty to
// start one. When a refresh token is issued, the access token carries its family
// (rfid), so that revoking the family ends the access token too. Each token is in
// the system log before the client gets it: its event is written with the refresh
// token, or alone when there is none. The claims are fixed here (the events name
// the access token by its jti); sign signs them.
func (s *Server) record(ctx context.Context, g Grant, family, grantType string, now time.Time) (tokensToSign, error) {
	withRefresh := slices.Contains(g.Scopes, "offline_access") && g.Client.AllowsGrant(config.GrantRefreshToken)
	if withRefresh && family == "" {
		family = opaque.New(16)
	}
	g.FamilyID = family // also when a refresh narrows the scopes and drops offline_access
	t := tokensToSign{grant: g, access: s.newAccessClaims(g, now), now: now}
	at := mintedToken{JTI: t.access.JTI, Expiry: now.Add(g.Client.AccessTokenTTL)}
	evs := grantEvents(g, at, slices.Contains(g.Scopes, "openid"), withRefresh, grantType)
	if !withRefresh {
		if err := eventlog.Append(ctx, s.store, evs...); err != nil {
			return t, fmt.Errorf("recording the tokens in the system log: %w", err)
		}
		return t, nil
	}
	raw := opaque.New(32)
	rt := store.RefreshToken{
		TokenHash: opaque.Hash(raw), FamilyID: family, ClientID: g.Client.ID, UserID: g.User.ID, SessionID: g.SessionID,
		Scopes: g.Scopes, AuthTime: g.AuthTime, AMR: g.AMR, CreatedAt: now,
		ExpiresAt: now.Add(g.Client.RefreshTokenTTL),
	}
	if err := s.store.CreateRefreshToken(eventlog.Attach(ctx, evs...), rt); err != nil {
		return t, fmt.Errorf("storing a refresh token: %w", err)
	}
	t.refresh = raw
	return t, nil
}

// sign signs the tokens record prepared: the access token, and the ID token when
// openid was granted.
func (s *Server) sign(ctx context.Context, t tokensToSign) (tokenResponse, *Error) {
	g := t.grant
	at, err := s.signAccessClaims(t.access)
	if err != nil {
		return tokenResponse{}, s.serverError(ctx, "signing an access token", err)
	}
	resp := tokenResponse{TokenType: "Bearer", ExpiresIn: int(g.Client.AccessTokenTTL / time.Second), AccessToken: at.Raw,
		Scope: strings.Join(g.Scopes, " "), RefreshToken: t.refresh}
	if slices.Contains(g.Scopes, "openid") {
		if resp.IDToken, err = s.mintIDToken(g, at.Raw, t.now); err != nil {
			return tokenResponse{}, s.serverError(ctx, "signing an ID token", err)
		}
	}
	return resp, nil
}

// grantEvents record the tokens of one token response, one event each; they name
// the tokens by id (the access token's jti, the refresh token's family), never by
// value.
func grantEvents(g Grant, at mintedToken, idToken, refresh bool, grantType string) []eventlog.Event {
	app := eventlog.App(g.Client.ID, g.Client.Name)
	debug := map[string]string{"grantType": grantType, "grantedScopes": strings.Join(g.Scopes, " ")}
	ev := func(typ string, token store.LogTarget) eventlog.Event {
		return eventlog.Event{Type: typ, Result: store.OutcomeSuccess, Actor: eventlog.User(g.User),
			Targets: []store.LogTarget{token, app}, Debug: debug}
	}
	evs := []eventlog.Event{ev(eventlog.TypeGrantAccessToken, store.LogTarget{ID: at.JTI, Type: "access_token", DisplayName: "Access Token",
		DetailEntry: map[string]string{"expires": at.Expiry.UTC().Format(time.RFC3339)}})}
	if idToken {
		evs = append(evs, ev(eventlog.TypeGrantIDToken, store.LogTarget{Type: "id_token", DisplayName: "ID Token"}))
	}
	if refresh {
		evs = append(evs, ev(eventlog.TypeGrantRefreshToken, store.LogTarget{ID: g.FamilyID, Type: "refresh_token", DisplayName: "Refresh Token"}))
	}
	return evs
}

// revokeEvent records tokens revoked: token names them by id, never by value.
func revokeEvent(clientID, clientName, userID string, token store.LogTarget, reason string) eventlog.Event {
	ev := eventlog.Event{Type: eventlog.TypeTokenRevoke, Result: store.OutcomeSuccess, Reason: reason,
		Targets: []store.LogTarget{token, eventlog.App(clientID, clientName)}}
	if userID != "" {
		ev.Actor = eventlog.UserRef(userID, "")
	}
	return ev
}

func (s *Server) serverError(ctx context.Context, doing string, err error) *Error {
	s.log.ErrorContext(ctx, "oauth: "+doing, "err", err)
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
	claims, acct, err := s.activeAccessToken(ctx, raw, s.now())
	if err != nil {
		if !errors.Is(err, errInvalidToken) && !errors.Is(err, store.ErrNotFound) {
			s.log.ErrorContext(ctx, "userinfo: store", "err", err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error", "error_description": "The server could not complete the request; try again."})
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="The access token is invalid."`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "The access token is invalid."})
		return
	}
	out := profileClaims(acct.User, acct.Phones, claims.Scopes)
	out["sub"] = acct.User.ID
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

// handleRevoke revokes a refresh token (with its family and the family's access
// tokens) or an access token. It
// answers 200 with an empty body and no JSON content type, also for unknown tokens:
// okta-auth-js treats an empty body labelled JSON as a failure (docs/protocol.md).
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
			ev := revokeEvent(claims.ClientID, "", claims.UserID, store.LogTarget{ID: claims.JTI, Type: "access_token", DisplayName: "Access Token"},
				"revoked by the client")
			if err := s.store.RevokeAccessToken(eventlog.Attach(ctx, ev), claims.JTI, time.Unix(claims.Expiry, 0)); err != nil {
				WriteError(w, s.serverError(r.Context(), "revoking an access token", err))
				return
			}
		}
	} else if len(token) <= 256 {
		rt, err := s.store.GetRefreshToken(ctx, opaque.Hash(token))
		if err == nil && (client == nil || client.ID == rt.ClientID) {
			// The whole family goes, with the access tokens issued from it.
			ev := revokeEvent(rt.ClientID, "", rt.UserID, store.LogTarget{ID: rt.FamilyID, Type: "refresh_token", DisplayName: "Refresh Token"},
				"revoked by the client")
			if _, err := revokeTokens(eventlog.Attach(ctx, ev), s.store, store.RevokeFamily, rt.FamilyID, now); err != nil {
				WriteError(w, s.serverError(r.Context(), "revoking a refresh token", err))
				return
			}
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			WriteError(w, s.serverError(r.Context(), "looking up a refresh token", err))
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
