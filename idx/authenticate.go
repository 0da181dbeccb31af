package idx

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Authenticate signs a user in with okta-auth-js's (legacy-mode) authenticate
// semantics. With a nil State, or one this Client did not create, it starts a
// transaction (discovery, PKCE S256, state and nonce, interact); it then
// introspects and posts every step the values in opts allow. It returns the
// Transaction to render, whose State the caller stores for the next call.
// With empty Options it only reports the current step.
//
// A Go error means the call itself failed (network, protocol, OAuth or token
// verification); the previously stored State stays valid and the call can be
// retried. Anything the user got wrong comes back as Messages on a PENDING or
// TERMINAL Transaction.
//
// A State from RecoverPassword or Register continues as a sign-in, as
// okta-auth-js's authenticate switches the stored flow.
func (c *Client) Authenticate(ctx context.Context, st *State, opts Options) (*Transaction, error) {
	if st.belongsTo(c) {
		st = st.clone()
		st.Flow = FlowAuthenticate
	} else {
		var err error
		if st, err = c.start(ctx); err != nil {
			return nil, err
		}
	}
	return c.advance(ctx, st, opts)
}

// Proceed continues a transaction with more values, exactly as Authenticate
// does, but never starts a new one: without a State from this Client it
// returns ErrNoTransaction (okta-auth-js's idx.proceed). It keeps the
// State's flow: a password reset or a registration goes on as
// RecoverPassword or Register would.
func (c *Client) Proceed(ctx context.Context, st *State, opts Options) (*Transaction, error) {
	if !st.belongsTo(c) {
		return nil, ErrNoTransaction
	}
	return c.advance(ctx, st.clone(), opts)
}

// Resend asks the server to send the current one-time code again
// (okta-auth-js's proceed({resend: true})). It returns ErrActionUnavailable
// when the server offers no resend action in the current state.
func (c *Client) Resend(ctx context.Context, st *State) (*Transaction, error) {
	if !st.belongsTo(c) {
		return nil, ErrNoTransaction
	}
	st = st.clone()
	resp, err := c.introspect(ctx, st)
	if err != nil {
		return nil, err
	}
	if !resp.succeeded || resp.interactionCode != "" {
		return c.finish(ctx, st, resp, false)
	}
	a := resp.action(isResendAction)
	if a == nil {
		return nil, fmt.Errorf("%w: the server offers no resend in this state", ErrActionUnavailable)
	}
	next, err := c.submit(ctx, st, a, actionBody(a))
	if err != nil {
		return nil, err
	}
	return c.finish(ctx, st, next, false)
}

// Cancel abandons the transaction at the server (okta-auth-js's
// idx.cancel). On success the status is CANCELED and Transaction.State is nil:
// the next Authenticate starts afresh.
func (c *Client) Cancel(ctx context.Context, st *State) (*Transaction, error) {
	if !st.belongsTo(c) {
		return nil, ErrNoTransaction
	}
	st = st.clone()
	resp, err := c.introspect(ctx, st)
	if err != nil {
		return nil, err
	}
	if !resp.succeeded {
		return c.finish(ctx, st, resp, false)
	}
	a := resp.action(func(name string) bool { return name == "cancel" })
	if a == nil {
		return nil, fmt.Errorf("%w: the server offers no cancel in this state", ErrActionUnavailable)
	}
	next, err := c.submit(ctx, st, a, actionBody(a))
	if err != nil {
		return nil, err
	}
	return c.finish(ctx, st, next, next.succeeded)
}

// advance is the common body of Authenticate and Proceed.
func (c *Client) advance(ctx context.Context, st *State, opts Options) (*Transaction, error) {
	resp, err := c.introspect(ctx, st)
	if err != nil {
		return nil, err
	}
	return c.continueWith(ctx, st, resp, opts)
}

// continueWith posts what opts allow from resp on, under the State's flow,
// and describes where that ends.
func (c *Client) continueWith(ctx context.Context, st *State, resp *idxResponse, opts Options) (*Transaction, error) {
	resp, err := c.remediate(ctx, st, resp, opts.values(), opts.Step)
	if err != nil {
		return nil, err
	}
	return c.finish(ctx, st, resp, false)
}

// start opens a transaction: discovery (for the S256 check), PKCE, interact.
func (c *Client) start(ctx context.Context) (*State, error) {
	if c.redirectURI == "" {
		return nil, fmt.Errorf("%w: a redirect URI is required to start a transaction", ErrConfig)
	}
	d, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkPKCESupport(d); err != nil {
		return nil, err
	}
	verifier, err := randomToken(48) // 64 characters, within RFC 7636's 43..128
	if err != nil {
		return nil, err
	}
	oauthState, err := randomToken(32)
	if err != nil {
		return nil, err
	}
	nonce, err := randomToken(32)
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"client_id":             {c.clientID},
		"scope":                 {strings.Join(c.scopes, " ")},
		"redirect_uri":          {c.redirectURI},
		"code_challenge":        {pkceChallenge(verifier)},
		"code_challenge_method": {"S256"},
		"state":                 {oauthState},
		"nonce":                 {nonce},
	}
	if c.clientSecret != "" {
		form.Set("client_secret", c.clientSecret)
	}
	r, err := c.postForm(ctx, c.interactURL(), form, nil)
	if err != nil {
		return nil, err
	}
	if !r.ok() {
		return nil, oauthErrorFrom(http.MethodPost, c.interactURL(), r)
	}
	var ir struct {
		InteractionHandle string `json:"interaction_handle"`
	}
	if err := json.Unmarshal(r.body, &ir); err != nil || ir.InteractionHandle == "" {
		return nil, protocolErrorf("interact response has no interaction_handle")
	}
	return &State{
		Version:           stateFormatVersion,
		Issuer:            c.issuer,
		ClientID:          c.clientID,
		InteractionHandle: ir.InteractionHandle,
		CodeVerifier:      verifier,
		OAuthState:        oauthState,
		Nonce:             nonce,
	}, nil
}

// introspect fetches the transaction's current state, by interaction handle
// (or by state handle when the State has none).
func (c *Client) introspect(ctx context.Context, st *State) (*idxResponse, error) {
	body := map[string]string{"interactionHandle": st.InteractionHandle}
	if st.InteractionHandle == "" {
		body = map[string]string{"stateToken": st.StateHandle}
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, protocolErrorf("cannot encode introspect body: %v", err)
	}
	h := http.Header{}
	h.Set("Content-Type", idxMediaType)
	h.Set("Accept", idxMediaType)
	r, err := c.do(ctx, http.MethodPost, c.introspectURL, h, data)
	if err != nil {
		return nil, err
	}
	resp, err := parseIDXResponse(http.MethodPost, c.introspectURL, r)
	if err != nil {
		return nil, err
	}
	st.observe(resp)
	return resp, nil
}

// finish turns the final response of a call into a Transaction, applying
// okta-auth-js's status rules in order: no remediation and
// no interaction code → TERMINAL; a successful cancel → CANCELED; an
// interaction code → SUCCESS with verified tokens (or with the code itself
// under Config.ReturnInteractionCode); otherwise PENDING.
func (c *Client) finish(ctx context.Context, st *State, resp *idxResponse, canceled bool) (*Transaction, error) {
	tx := &Transaction{RequestSucceeded: resp.succeeded, Messages: collectMessages(resp), RetryAfter: resp.retryAfter,
		EnabledFeatures: enabledFeatures(resp)}
	code := ""
	if resp.succeeded {
		code = resp.interactionCode
	}
	switch {
	case code == "" && len(resp.remediations) == 0:
		tx.Status = StatusTerminal
		// Keep the State after an error so a later call can retry (e.g.
		// after a rate limit); a clean end (2xx, nothing left to do, no
		// error) releases it, as auth-js clears its storage.
		clean := resp.succeeded && len(resp.actions) == 0 && !hasErrorMessage(tx.Messages)
		if !clean {
			tx.State = st
		}
	case canceled:
		tx.Status = StatusCanceled
	case code != "" && c.returnCode:
		tx.Status = StatusSuccess
		tx.InteractionCode = code
	case code != "":
		tokens, err := c.exchangeInteractionCode(ctx, st, code)
		if err != nil {
			return nil, err
		}
		tx.Status = StatusSuccess
		tx.Tokens = tokens
	default:
		tx.Status = StatusPending
		tx.AvailableSteps = buildSteps(resp)
		if len(tx.AvailableSteps) > 0 {
			first := tx.AvailableSteps[0]
			tx.NextStep = &first
		}
		tx.State = st
	}
	return tx, nil
}
