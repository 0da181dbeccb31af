package oauth

import (
	"time"

	"context"
	"github.com/gatehouse-id/gatehouse/engine/opaque"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// HintClaims are what logout reads from an id_token_hint.
type HintClaims struct {
	Audience  string // the client the ID token was issued to
	Subject   string // the user
	SessionID string // the SSO session ("sid"), if the token names one
}

// IDTokenHint verifies that raw is an ID token this server signed (with a key it
// still publishes) for its issuer. Expiry is not checked: OIDC RP-Initiated Logout
// accepts an expired ID token as the hint.
func (s *Server) IDTokenHint(ctx context.Context, raw string) (HintClaims, error) {
	if len(raw) > 8192 {
		return HintClaims{}, errInvalidToken
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return HintClaims{}, errInvalidToken
	}
	key, ok := s.keys.PublicKey(ctx, tok.Headers[0].KeyID, s.now())
	if !ok {
		return HintClaims{}, errInvalidToken
	}
	var c struct {
		Issuer    string `json:"iss"`
		Audience  string `json:"aud"`
		Subject   string `json:"sub"`
		SessionID string `json:"sid"`
	}
	if err := tok.Claims(key, &c); err != nil || c.Issuer != s.issuer || c.Audience == "" {
		return HintClaims{}, errInvalidToken
	}
	return HintClaims{Audience: c.Audience, Subject: c.Subject, SessionID: c.SessionID}, nil
}

// Issuer is the issuer URL, byte-equal to the "iss" of every token.
func (s *Server) Issuer() string { return s.issuer }

// Base is the URL the OAuth endpoints live under.
func (s *Server) Base() string { return s.base }

// backchannelLogoutEvent is the member of a logout token's events claim that makes
// it one (OIDC Back-Channel Logout 1.0, section 2.4).
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// LogoutToken signs a logout token telling clientID that the user's session sid
// ended. It carries no nonce, so that it can never pass for an ID token.
func (s *Server) LogoutToken(clientID, userID, sid string) (string, error) {
	now := s.now()
	claims := map[string]any{
		"iss":    s.issuer,
		"aud":    clientID,
		"iat":    now.Unix(),
		"exp":    now.Add(10 * time.Minute).Unix(), // the outbox retries for a while
		"jti":    opaque.New(16),
		"sub":    userID,
		"sid":    sid,
		"events": map[string]any{backchannelLogoutEvent: map[string]any{}},
	}
	return signPayload(s.keys.Signer(), claims)
}
