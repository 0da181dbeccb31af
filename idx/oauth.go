package idx

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// tokenResponse is a successful reply of the token endpoint.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	Scope        string `json:"scope"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
}

// exchangeInteractionCode redeems the interaction code at {OAuth base}/v1/token
// as okta-auth-js does and verifies the ID token against the
// nonce sent at interact.
func (c *Client) exchangeInteractionCode(ctx context.Context, st *State, code string) (*Tokens, error) {
	form := url.Values{
		"grant_type":       {"interaction_code"},
		"client_id":        {c.clientID},
		"redirect_uri":     {c.redirectURI},
		"code_verifier":    {st.CodeVerifier},
		"interaction_code": {code},
	}
	if c.clientSecret != "" {
		form.Set("client_secret", c.clientSecret)
	}
	return c.requestTokens(ctx, form, st.Nonce, true)
}

// Refresh exchanges a refresh token for new tokens (grant_type=refresh_token,
// with the configured scopes, as okta-auth-js sends the scopes stored with the
// token). A returned ID token is verified except for its nonce, which belongs
// to the original sign-in. If the server does not rotate the refresh token,
// the one passed in is returned in Tokens.RefreshToken.
func (c *Client) Refresh(ctx context.Context, refreshToken string) (*Tokens, error) {
	if refreshToken == "" {
		return nil, fmt.Errorf("%w: empty refresh token", ErrTokenInvalid)
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {c.clientID},
		"refresh_token": {refreshToken},
		"scope":         {strings.Join(c.scopes, " ")},
	}
	if c.clientSecret != "" {
		form.Set("client_secret", c.clientSecret)
	}
	t, err := c.requestTokens(ctx, form, "", false)
	if err != nil {
		return nil, err
	}
	if t.RefreshToken == "" {
		t.RefreshToken = refreshToken
	}
	return t, nil
}

// requestTokens posts a token request and verifies the result. wantIDToken
// makes a missing ID token an error when openid was requested.
func (c *Client) requestTokens(ctx context.Context, form url.Values, nonce string, wantIDToken bool) (*Tokens, error) {
	r, err := c.postForm(ctx, c.tokenURL(), form, nil)
	if err != nil {
		return nil, err
	}
	if !r.ok() {
		return nil, oauthErrorFrom(http.MethodPost, c.tokenURL(), r)
	}
	var tr tokenResponse
	if err := json.Unmarshal(r.body, &tr); err != nil {
		return nil, protocolErrorf("malformed token response: %v", err)
	}
	if tr.AccessToken == "" {
		return nil, fmt.Errorf("%w: token response has no access_token", ErrTokenInvalid)
	}
	if tr.IDToken == "" && wantIDToken && c.requestsOpenID() {
		return nil, fmt.Errorf("%w: openid was requested but no id_token was returned", ErrTokenInvalid)
	}
	t := &Tokens{
		TokenType:    tr.TokenType,
		AccessToken:  tr.AccessToken,
		IDToken:      tr.IDToken,
		RefreshToken: tr.RefreshToken,
		Scopes:       strings.Fields(tr.Scope),
	}
	if tr.ExpiresIn > 0 {
		t.ExpiresAt = time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	if len(t.Scopes) == 0 {
		t.Scopes = append([]string(nil), c.scopes...)
	}
	if tr.IDToken != "" {
		claims, err := c.verifyIDToken(ctx, tr.IDToken, nonce, tr.AccessToken)
		if err != nil {
			return nil, err
		}
		t.IDTokenClaims = claims
	}
	return t, nil
}

func (c *Client) requestsOpenID() bool {
	for _, s := range c.scopes {
		if s == "openid" {
			return true
		}
	}
	return false
}

// UserInfo returns the claims of {OAuth base}/v1/userinfo for an access token.
// A rejected token is an *OAuthError built from the WWW-Authenticate header
// (e.g. Code "invalid_token").
func (c *Client) UserInfo(ctx context.Context, accessToken string) (map[string]any, error) {
	h := http.Header{}
	h.Set("Accept", "application/json")
	h.Set("Authorization", "Bearer "+accessToken)
	u := c.userinfoURL()
	r, err := c.do(ctx, http.MethodGet, u, h, nil)
	if err != nil {
		return nil, err
	}
	if !r.ok() {
		if code, desc := parseBearerChallenge(r.header.Get("WWW-Authenticate")); code != "" {
			return nil, &OAuthError{Code: code, Description: desc, Status: r.status, RetryAfter: retryAfter(r)}
		}
		return nil, oauthErrorFrom(http.MethodGet, u, r)
	}
	var claims map[string]any
	if err := json.Unmarshal(r.body, &claims); err != nil || claims == nil {
		return nil, protocolErrorf("userinfo response is not a JSON object")
	}
	return claims, nil
}

// parseBearerChallenge extracts error and error_description from a
// `Bearer error="...", error_description="..."` challenge.
func parseBearerChallenge(h string) (code, desc string) {
	scheme, params, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", ""
	}
	for params != "" {
		params = strings.TrimLeft(params, " ,")
		name, rest, ok := strings.Cut(params, "=")
		if !ok {
			break
		}
		name = strings.TrimSpace(name)
		var value string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				break
			}
			value, params = rest[1:1+end], rest[2+end:]
		} else {
			value, params, _ = strings.Cut(rest, ",")
		}
		switch name {
		case "error":
			code = value
		case "error_description":
			desc = value
		}
	}
	return code, desc
}

// Revoke revokes an access or refresh token at {OAuth base}/v1/revoke.
// tokenTypeHint is "access_token", "refresh_token" or empty. Confidential
// clients authenticate with HTTP Basic; public clients send client_id.
func (c *Client) Revoke(ctx context.Context, token, tokenTypeHint string) error {
	form := url.Values{"token": {token}, "client_id": {c.clientID}}
	if tokenTypeHint != "" {
		form.Set("token_type_hint", tokenTypeHint)
	}
	var extra http.Header
	if c.clientSecret != "" {
		extra = http.Header{}
		creds := url.QueryEscape(c.clientID) + ":" + url.QueryEscape(c.clientSecret)
		extra.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(creds)))
	}
	u := c.revokeURL()
	r, err := c.postForm(ctx, u, form, extra)
	if err != nil {
		return err
	}
	if !r.ok() {
		return oauthErrorFrom(http.MethodPost, u, r)
	}
	return nil
}
