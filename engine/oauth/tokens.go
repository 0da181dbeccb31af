package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// Grant is what a token response is minted from: an interaction code or a refresh
// token carries one.
type Grant struct {
	Client   *clients.Client
	User     store.User
	Phones   []store.PhoneEnrollment
	Scopes   []string
	Nonce    string // only for the first ID token of a sign-in
	AuthTime time.Time
	AMR      []string
	// SessionID is the SSO session the sign-in belongs to, if any: tokens carry it
	// as sid, refresh tokens keep it, and RevokeTokens(RevokeSession) ends them.
	SessionID string
	// FamilyID is the refresh-token family the tokens belong to; issue sets it when
	// it issues or rotates a refresh token. Access tokens carry it as rfid.
	FamilyID string
}

// accessClaims are the claims of a JWT access token, named as Okta names them, and
// three of the engine's own (docs/protocol.md, "Tokens"): sid, the SSO session;
// rfid, the refresh-token family; iat_ms, the issue instant in milliseconds.
//
// The fields are in the order of their JSON names, so that the claims marshal in
// the order go-jose's JWT builder, which signed them before signPayload did, wrote
// them (it sorted them): tokens are byte for byte what they were.
type accessClaims struct {
	Audience  string   `json:"aud"`
	AuthTime  int64    `json:"auth_time"`
	ClientID  string   `json:"cid"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	IssuedMs  int64    `json:"iat_ms,omitempty"`
	Issuer    string   `json:"iss"`
	JTI       string   `json:"jti"`
	FamilyID  string   `json:"rfid,omitempty"`
	Scopes    []string `json:"scp"`
	SessionID string   `json:"sid,omitempty"`
	Subject   string   `json:"sub"`
	UserID    string   `json:"uid"`
	Ver       int      `json:"ver"`
}

// issuedAt is when the token was issued, to the millisecond, for revocation checks:
// a revocation made at instant R covers the tokens issued at or before R. iat has
// whole seconds only, which cannot tell a token issued just before a revocation from
// one issued just after it in the same second; iat_ms can. A token without a usable
// iat_ms counts as issued at the start of its iat second, so a revocation later in
// that second covers it.
func (c accessClaims) issuedAt() time.Time {
	if c.IssuedMs >= c.IssuedAt*1000 && c.IssuedMs < (c.IssuedAt+1)*1000 {
		return time.UnixMilli(c.IssuedMs)
	}
	return time.Unix(c.IssuedAt, 0)
}

// ref is what the store checks revocation by.
func (c accessClaims) ref() store.AccessTokenRef {
	return store.AccessTokenRef{JTI: c.JTI, UserID: c.UserID, SessionID: c.SessionID, FamilyID: c.FamilyID, IssuedAt: c.issuedAt()}
}

// mintedToken is a signed access token with what revocation needs to know of it.
type mintedToken struct {
	Raw    string
	JTI    string
	Expiry time.Time
}

func (s *Server) mintAccessToken(g Grant, now time.Time) (mintedToken, error) {
	return s.signAccessClaims(s.newAccessClaims(g, now))
}

// signAccessClaims signs an access token's claims.
func (s *Server) signAccessClaims(c accessClaims) (mintedToken, error) {
	raw, err := signPayload(s.keys.Signer(), c)
	if err != nil {
		return mintedToken{}, err
	}
	return mintedToken{Raw: raw, JTI: c.JTI, Expiry: time.Unix(c.Expiry, 0)}, nil
}

// newAccessClaims are the claims of an access token of grant g issued at now.
func (s *Server) newAccessClaims(g Grant, now time.Time) accessClaims {
	return accessClaims{
		Ver: 1, JTI: "AT." + opaque.New(16), Issuer: s.issuer, Audience: s.issuer,
		IssuedAt: now.Unix(), Expiry: now.Add(g.Client.AccessTokenTTL).Unix(), ClientID: g.Client.ID, UserID: g.User.ID,
		Scopes: g.Scopes, AuthTime: g.AuthTime.Unix(), Subject: g.User.ID,
		SessionID: g.SessionID, FamilyID: g.FamilyID, IssuedMs: now.UnixMilli(),
	}
}

func (s *Server) mintIDToken(g Grant, accessToken string, now time.Time) (string, error) {
	return signPayload(s.keys.Signer(), s.idTokenClaims(g, accessToken, now))
}

// idTokenClaims are the claims of the ID token that goes with accessToken.
func (s *Server) idTokenClaims(g Grant, accessToken string, now time.Time) map[string]any {
	claims := map[string]any{
		"ver":       1,
		"jti":       "ID." + opaque.New(16),
		"iss":       s.issuer,
		"aud":       g.Client.ID, // a string: okta-jwt-verifier-golang refuses an array
		"sub":       g.User.ID,
		"iat":       now.Unix(),
		"exp":       now.Add(g.Client.IDTokenTTL).Unix(),
		"auth_time": g.AuthTime.Unix(),
		"amr":       g.AMR,
		"idp":       s.issuer,
		"at_hash":   atHash(accessToken),
	}
	if g.Nonce != "" {
		claims["nonce"] = g.Nonce
	}
	if g.SessionID != "" {
		claims["sid"] = g.SessionID // OIDC Front- and Back-Channel Logout
	}
	for k, v := range profileClaims(g.User, g.Phones, g.Scopes) {
		claims[k] = v
	}
	return claims
}

// signPayload signs claims as a JWT (JWS compact serialization, through go-jose)
// with the claims marshalled once. go-jose's JWT builder (jwt.Signed(…).Claims)
// marshals the claims, decodes them into a map and marshals that map again — a
// second and third encoding of the same claims for every token. claims must
// marshal with their members in the order of their names (a map does; a struct
// must declare its fields so, as accessClaims does) for the token to be what the
// builder made. The header is still go-jose's own ({"alg":"RS256","kid":…}).
func signPayload(signer jose.Signer, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// atHash is the OIDC at_hash: base64url of the left half of SHA-256 of the token.
func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// profileClaims are the standard claims the granted scopes release (OIDC Core 5.4).
func profileClaims(u store.User, phones []store.PhoneEnrollment, scopes []string) map[string]any {
	c := map[string]any{}
	if slices.Contains(scopes, "profile") {
		name := u.GivenName
		if u.FamilyName != "" {
			if name != "" {
				name += " "
			}
			name += u.FamilyName
		}
		if name == "" {
			name = u.Login
		}
		c["name"] = name
		c["preferred_username"] = u.Login
		if u.GivenName != "" {
			c["given_name"] = u.GivenName
		}
		if u.FamilyName != "" {
			c["family_name"] = u.FamilyName
		}
		if u.Locale != "" {
			c["locale"] = u.Locale
		}
		c["updated_at"] = u.UpdatedAt.Unix()
	}
	if slices.Contains(scopes, "email") && u.Email != "" {
		c["email"] = u.Email
		// Addresses are set by operators, not proven by the user: say so.
		c["email_verified"] = false
	}
	if slices.Contains(scopes, "phone") && len(phones) > 0 {
		c["phone_number"] = phones[0].Number
		c["phone_number_verified"] = true // a code sent to it was entered
	}
	return c
}

var errInvalidToken = errors.New("invalid token")

// verifyAccessToken checks an access token's signature, issuer and expiry.
func (s *Server) verifyAccessToken(ctx context.Context, raw string, now time.Time) (accessClaims, error) {
	var c accessClaims
	if len(raw) > 8192 {
		return c, errInvalidToken
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return c, errInvalidToken
	}
	key, ok := s.keys.PublicKey(ctx, tok.Headers[0].KeyID, now)
	if !ok {
		return c, errInvalidToken
	}
	if err := tok.Claims(key, &c); err != nil {
		return c, errInvalidToken
	}
	if c.Issuer != s.issuer || c.Audience != s.issuer || c.Ver != 1 || c.JTI == "" || c.UserID == "" {
		return c, errInvalidToken
	}
	if now.Unix() >= c.Expiry {
		return c, errInvalidToken
	}
	return c, nil
}

// idTokenHintClaims reads an ID token given back to us (logout): signature and
// issuer must hold; expiry does not matter, as OIDC RP-Initiated Logout allows.
func (s *Server) idTokenHintClaims(ctx context.Context, raw string, now time.Time) (aud, sub string, err error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(tok.Headers) != 1 {
		return "", "", errInvalidToken
	}
	key, ok := s.keys.PublicKey(ctx, tok.Headers[0].KeyID, now)
	if !ok {
		return "", "", errInvalidToken
	}
	var c struct {
		Issuer   string `json:"iss"`
		Audience string `json:"aud"`
		Subject  string `json:"sub"`
	}
	if err := tok.Claims(key, &c); err != nil || c.Issuer != s.issuer {
		return "", "", errInvalidToken
	}
	return c.Audience, c.Subject, nil
}
