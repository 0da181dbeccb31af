package idx

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/url"
	"strings"
)

// Redirect is a sign-in on the identity server's own pages (the OpenID Connect
// authorization code flow with PKCE) between the redirect and the callback. Keep
// it on the server, with the browser's session: whoever holds it and the code can
// finish the sign-in.
type Redirect struct {
	State        string `json:"st"`
	Nonce        string `json:"n"`
	CodeVerifier string `json:"cv"`
}

// String redacts the verifier so that logging a Redirect does not leak it.
func (r Redirect) String() string { return "idx.Redirect{CodeVerifier:" + redact(r.CodeVerifier) + "}" }

// AuthorizeURL starts a sign-in on the server's hosted pages: it returns the
// authorization endpoint URL (from discovery) to send the browser to, with the
// configured client, redirect URI and scopes, a fresh state and nonce, and an S256
// PKCE challenge; and the Redirect to keep for ExchangeCode. loginHint, if not
// empty, fills in the username there.
func (c *Client) AuthorizeURL(ctx context.Context, loginHint string) (string, *Redirect, error) {
	d, err := c.discover(ctx)
	if err != nil {
		return "", nil, err
	}
	if d.AuthorizationEndpoint == "" {
		return "", nil, protocolErrorf("the discovery document names no authorization_endpoint")
	}
	u, err := url.Parse(d.AuthorizationEndpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", nil, protocolErrorf("the authorization_endpoint %q is not an http(s) URL", d.AuthorizationEndpoint)
	}
	var rd Redirect
	for _, p := range []*string{&rd.State, &rd.Nonce} {
		if *p, err = randomToken(24); err != nil {
			return "", nil, err
		}
	}
	if rd.CodeVerifier, err = randomToken(48); err != nil {
		return "", nil, err
	}
	q := u.Query()
	q.Set("client_id", c.clientID)
	q.Set("redirect_uri", c.redirectURI)
	q.Set("response_type", "code")
	q.Set("scope", strings.Join(c.scopes, " "))
	q.Set("state", rd.State)
	q.Set("nonce", rd.Nonce)
	q.Set("code_challenge", pkceChallenge(rd.CodeVerifier))
	q.Set("code_challenge_method", "S256")
	if loginHint != "" {
		q.Set("login_hint", loginHint)
	}
	u.RawQuery = q.Encode()
	return u.String(), &rd, nil
}

// ExchangeCode finishes a sign-in started with AuthorizeURL from the query of the
// request that reached the redirect URI. It checks the state, and the issuer when
// the server names it (RFC 9207), redeems the code with the PKCE verifier, and
// verifies the ID token with the nonce. An error answer from the server (the user
// cancelled: access_denied) is an *OAuthError.
func (c *Client) ExchangeCode(ctx context.Context, rd *Redirect, callback url.Values) (*Tokens, error) {
	if rd == nil || rd.State == "" || rd.CodeVerifier == "" {
		return nil, fmt.Errorf("%w: no sign-in is waiting for this callback", ErrNoTransaction)
	}
	if subtle.ConstantTimeCompare([]byte(callback.Get("state")), []byte(rd.State)) != 1 {
		return nil, protocolErrorf("the callback's state does not match the sign-in's")
	}
	if iss := callback.Get("iss"); iss != "" && iss != c.issuer {
		return nil, protocolErrorf("the callback comes from issuer %q, not %q (RFC 9207)", iss, c.issuer)
	}
	if e := callback.Get("error"); e != "" {
		return nil, &OAuthError{Code: e, Description: callback.Get("error_description")}
	}
	code := callback.Get("code")
	if code == "" {
		return nil, protocolErrorf("the callback carries neither a code nor an error")
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {c.clientID},
		"redirect_uri":  {c.redirectURI},
		"code_verifier": {rd.CodeVerifier},
		"code":          {code},
	}
	if c.clientSecret != "" {
		form.Set("client_secret", c.clientSecret)
	}
	return c.requestTokens(ctx, form, rd.Nonce, true)
}
