package sso

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/idxserver"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// authRequest is a checked authorization request.
type authRequest struct {
	client       *clients.Client
	redirectURI  string
	responseMode string // "query" or "form_post"
	state        string
	nonce        string
	scopes       []string
	challenge    string
	prompt       []string
	maxAge       int // -1 when absent
	loginHint    string
}

// authError is an error answered by redirecting to the client (OIDC Core 3.1.2.6).
type authError struct{ code, description string }

// handleAuthorize starts or continues a sign-in for a client (OIDC Core 3.1.2). An
// unknown client or a redirect URI not registered for it gets an error page and is
// never redirected to (RFC 6749 4.1.2.1); every other error is a redirect with
// error, error_description, state and iss.
func (h *Handler) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	params, err := readParams(w, r)
	if err != "" {
		h.errorPage(w, http.StatusBadRequest, "The sign-in request is not valid", err)
		return
	}
	client, lerr := h.o.Clients.Lookup(r.Context(), params.Get("client_id"))
	if lerr != nil {
		h.errorPage(w, http.StatusBadRequest, "Unknown application",
			"The application that sent you here is not registered with this server. Go back to it and try again, or tell its owner.")
		return
	}
	redirectURI := params.Get("redirect_uri")
	if redirectURI == "" || !client.RedirectAllowed(redirectURI) {
		h.errorPage(w, http.StatusBadRequest, "The sign-in request is not valid",
			"The application asked to be answered at an address that is not registered for it, so this server will not send you there.")
		return
	}
	req, aerr := h.checkRequest(client, redirectURI, params)
	if aerr != nil {
		h.respondError(w, r, req, aerr.code, aerr.description)
		return
	}
	ctx := r.Context()
	now := h.o.Now()

	if sess, ok := h.usableSession(r, req, now); ok {
		h.issueFromSession(w, r, req, sess, now)
		return
	}
	if slices.Contains(req.prompt, "none") {
		h.respondError(w, r, req, "login_required", "The user is not signed in.")
		return
	}
	handle, refused, serr := h.o.Start(ctx, idxserver.Begin{
		Client: client, RedirectURI: redirectURI, Scopes: req.scopes, CodeChallenge: req.challenge,
		State: req.state, Nonce: req.nonce, GrantType: config.GrantAuthorizationCode, ResponseMode: req.responseMode,
	})
	if serr != nil {
		h.respondError(w, r, req, "server_error", "The server could not start the sign-in; try again.")
		return
	}
	if refused != nil {
		h.respondError(w, r, req, "temporarily_unavailable", "Too many sign-ins were started from this network; try again in a few minutes.")
		return
	}
	h.o.Pages(w, r, handle, client.ID, req.loginHint)
}

// readParams reads the request's parameters: the query of a GET, the form of a
// POST (OIDC Core 3.1.2.1). A parameter given twice is an error.
func readParams(w http.ResponseWriter, r *http.Request) (url.Values, string) {
	var params url.Values
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		if err := r.ParseForm(); err != nil {
			return nil, "The request could not be read (at most 16 KiB, application/x-www-form-urlencoded)."
		}
		params = r.PostForm
	} else {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, "The request's address could not be read."
		}
		params = q
	}
	for k, v := range params {
		if len(v) > 1 {
			return nil, "The parameter '" + oauth.Printable(k) + "' was given more than once."
		}
	}
	return params, ""
}

// checkRequest checks everything but the client and redirect URI. The returned
// request carries what an error redirect needs even on error.
func (h *Handler) checkRequest(client *clients.Client, redirectURI string, p url.Values) (authRequest, *authError) {
	req := authRequest{client: client, redirectURI: redirectURI, responseMode: "query", state: p.Get("state"), maxAge: -1}
	bad := func(code, desc string) (authRequest, *authError) { return req, &authError{code, desc} }
	switch m := p.Get("response_mode"); m {
	case "", "query":
	case "form_post":
		req.responseMode = m
	default:
		return bad("invalid_request", "The response_mode must be query or form_post.")
	}
	if len(req.state) > 1024 {
		req.state = ""
		return bad("invalid_request", "The state parameter may be at most 1024 characters.")
	}
	if p.Get("request") != "" {
		return bad("request_not_supported", "Request objects are not supported.")
	}
	if p.Get("request_uri") != "" {
		return bad("request_uri_not_supported", "The request_uri parameter is not supported.")
	}
	switch rt := p.Get("response_type"); rt {
	case "code":
	case "":
		return bad("invalid_request", "The response_type parameter is missing.")
	default:
		return bad("unsupported_response_type", "Only response_type=code is supported.")
	}
	if !client.AllowsGrant(config.GrantAuthorizationCode) {
		return bad("unauthorized_client", "The client is not allowed the authorization code flow.")
	}
	req.scopes = strings.Fields(p.Get("scope"))
	if !slices.Contains(req.scopes, "openid") {
		return bad("invalid_scope", "The scope parameter must include openid.")
	}
	for _, sc := range req.scopes {
		if !client.AllowsScope(sc) {
			return bad("invalid_scope", "The requested scope is invalid, unknown, or malformed: '"+oauth.Printable(sc)+"'.")
		}
	}
	slices.Sort(req.scopes)
	req.scopes = slices.Compact(req.scopes)
	req.nonce = p.Get("nonce")
	if len(req.nonce) > 512 {
		return bad("invalid_request", "The nonce parameter may be at most 512 characters.")
	}
	req.challenge = p.Get("code_challenge")
	switch m := p.Get("code_challenge_method"); {
	case req.challenge == "" && m != "":
		return bad("invalid_request", "The code_challenge_method was given without a code_challenge.")
	case req.challenge == "" && client.Public():
		return bad("invalid_request", "PKCE is required for this client: send code_challenge and code_challenge_method=S256.")
	case req.challenge != "" && m != "S256":
		return bad("invalid_request", "The code_challenge_method must be S256.")
	case req.challenge != "" && !oauth.ValidChallenge(req.challenge):
		return bad("invalid_request", "The code_challenge must be the base64url SHA-256 of the verifier (43 characters).")
	}
	req.prompt = strings.Fields(p.Get("prompt"))
	for _, v := range req.prompt {
		switch v {
		case "none", "login", "consent", "select_account":
		default:
			return bad("invalid_request", "The prompt value '"+oauth.Printable(v)+"' is not supported.")
		}
	}
	if slices.Contains(req.prompt, "none") && len(req.prompt) > 1 {
		return bad("invalid_request", "prompt=none cannot be combined with other values.")
	}
	if ma := p.Get("max_age"); ma != "" {
		n, err := strconv.Atoi(ma)
		if err != nil || n < 0 {
			return bad("invalid_request", "The max_age parameter must be a non-negative number of seconds.")
		}
		req.maxAge = n
	}
	req.loginHint = p.Get("login_hint")
	if len(req.loginHint) > 256 {
		return bad("invalid_request", "The login_hint parameter may be at most 256 characters.")
	}
	return req, nil
}

// usableSession returns the browser's session if it may stand in for a sign-in for
// req: live, its user still allowed in, recent enough for max_age, proven strongly
// enough for the policy, and neither prompt=login nor mfa_every_sign_in in force.
func (h *Handler) usableSession(r *http.Request, req authRequest, now time.Time) (store.Session, bool) {
	if h.o.MFAEverySignIn || slices.Contains(req.prompt, "login") {
		return store.Session{}, false
	}
	sess, ok, err := h.o.Sessions.Current(r)
	if err != nil {
		h.o.Log.ErrorContext(r.Context(), "authorize: reading the session", "err", err)
		return store.Session{}, false
	}
	if !ok {
		return store.Session{}, false
	}
	if req.maxAge >= 0 && now.Sub(sess.AuthTime) > time.Duration(req.maxAge)*time.Second {
		return store.Session{}, false
	}
	if h.o.RequirePhone && !slices.Contains(sess.AMR, "mfa") {
		return store.Session{}, false
	}
	u, err := h.o.Store.GetUser(r.Context(), sess.UserID)
	if err != nil || u.Disabled {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			h.o.Log.ErrorContext(r.Context(), "authorize: loading the session's user", "err", err)
		}
		return store.Session{}, false
	}
	return sess, true
}

// issueFromSession answers with a code for the session's user, without a page.
func (h *Handler) issueFromSession(w http.ResponseWriter, r *http.Request, req authRequest, sess store.Session, now time.Time) {
	ctx := r.Context()
	sess, err := h.o.Sessions.Use(ctx, sess.ID, req.client.ID)
	if err != nil {
		h.o.Log.ErrorContext(ctx, "authorize: using the session", "err", err)
		h.respondError(w, r, req, "server_error", "The server could not complete the sign-in; try again.")
		return
	}
	code := opaque.New(32)
	ic := store.InteractionCode{
		CodeHash: opaque.Hash(code), ClientID: req.client.ID, RedirectURI: req.redirectURI,
		CodeChallenge: req.challenge, UserID: sess.UserID, Scopes: req.scopes, Nonce: req.nonce,
		AuthTime: sess.AuthTime, AMR: sess.AMR, CreatedAt: now, ExpiresAt: now.Add(h.o.CodeTTL),
		SessionID: sess.ID, GrantType: config.GrantAuthorizationCode,
	}
	if err := h.o.Store.CreateInteractionCode(ctx, ic); err != nil {
		h.o.Log.ErrorContext(ctx, "authorize: storing a code", "err", err)
		h.respondError(w, r, req, "server_error", "The server could not complete the sign-in; try again.")
		return
	}
	h.o.Log.InfoContext(ctx, "signed in from the session", "client_id", req.client.ID, "session", sess.ID)
	h.respond(w, r, req.redirectURI, req.responseMode, url.Values{"code": {code}, "state": optional(req.state)})
}

// Complete finishes a hosted sign-in: the IDX transaction ended with
// interactionCode, which is the authorization code the client redeems.
func (h *Handler) Complete(w http.ResponseWriter, r *http.Request, interactionCode string) {
	ctx := r.Context()
	ic, err := h.o.Store.GetInteractionCode(ctx, opaque.Hash(interactionCode))
	if err == nil && ic.GrantType != config.GrantAuthorizationCode {
		err = store.ErrNotFound
	}
	var tx store.Transaction
	if err == nil {
		tx, err = h.o.Store.GetTransaction(ctx, ic.TransactionID)
	}
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			h.o.Log.ErrorContext(ctx, "authorize: finishing a hosted sign-in", "err", err)
		}
		h.errorPage(w, http.StatusBadRequest, "This sign-in has ended",
			"The sign-in was already finished or has expired. Go back to the application and sign in again.")
		return
	}
	h.respond(w, r, ic.RedirectURI, tx.ResponseMode, url.Values{"code": {interactionCode}, "state": optional(tx.State)})
}

// Abort ends a hosted sign-in without one: the user cancelled, or the transaction
// is gone. The client hears errorCode (access_denied, login_required, …).
func (h *Handler) Abort(w http.ResponseWriter, r *http.Request, interactionHandle, errorCode, description string) {
	tx, err := h.o.Store.GetTransactionByInteractionHandle(r.Context(), opaque.Hash(interactionHandle))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			h.o.Log.ErrorContext(r.Context(), "authorize: aborting a hosted sign-in", "err", err)
		}
		h.errorPage(w, http.StatusBadRequest, "This sign-in has ended",
			"The sign-in has expired. Go back to the application and sign in again.")
		return
	}
	if err := h.o.Store.DeleteTransaction(r.Context(), tx.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		h.o.Log.WarnContext(r.Context(), "authorize: deleting an abandoned transaction", "err", err)
	}
	h.respond(w, r, tx.RedirectURI, tx.ResponseMode, url.Values{
		"error": {errorCode}, "error_description": {description}, "state": optional(tx.State)})
}

func optional(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}
