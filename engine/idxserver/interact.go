package idxserver

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// handleInteract starts a sign-in (docs/protocol.md): it checks the client, redirect
// URI, scopes and PKCE challenge, stores a transaction at IDENTIFY, and returns the
// interaction handle. Errors are OAuth errors, not IDX states.
func (s *Server) handleInteract(w http.ResponseWriter, r *http.Request) {
	form, e := oauth.ReadForm(w, r)
	if e != nil {
		oauth.WriteError(w, e)
		return
	}
	// Like Okta, interact needs the client_id alone: the client authenticates where
	// tokens are issued. okta-idx-golang and the in-repo SDK send the secret here
	// too (HTTP Basic or client_secret); one that is sent must be right.
	id, secret := form.Get("client_id"), form.Get("client_secret")
	user, pass, basic, e := oauth.BasicCredentials(r)
	if e != nil {
		oauth.WriteError(w, e)
		return
	}
	if basic {
		if secret != "" || (id != "" && id != user) {
			oauth.WriteError(w, &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "Use one client authentication method, not two."})
			return
		}
		id, secret = user, pass
	}
	if id == "" {
		oauth.WriteError(w, &oauth.Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: "The client_id parameter is missing."})
		return
	}
	client, err := s.clients.Lookup(r.Context(), id)
	if errors.Is(err, clients.ErrUnknownClient) {
		oauth.WriteError(w, &oauth.Error{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "Invalid value for 'client_id' parameter."})
		return
	}
	if err != nil {
		s.log.ErrorContext(r.Context(), "interact: looking up the client", "err", err)
		oauth.WriteError(w, &oauth.Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "The server could not start the sign-in; try again."})
		return
	}
	if secret != "" && !client.CheckSecret(secret) {
		oauth.WriteError(w, &oauth.Error{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "Client authentication failed."})
		return
	}
	bad := func(code, desc string) {
		oauth.WriteError(w, &oauth.Error{Status: http.StatusBadRequest, Code: code, Description: desc})
	}
	if !client.AllowsGrant(config.GrantInteractionCode) {
		bad("unauthorized_client", "The client is not authorized to use the provided grant type. Configured grant types: "+strings.Join(client.Grants, ", ")+".")
		return
	}
	redirectURI := form.Get("redirect_uri")
	if redirectURI == "" {
		bad("invalid_request", "The redirect_uri parameter is missing.")
		return
	}
	if !client.RedirectAllowed(redirectURI) {
		bad("invalid_request", "The 'redirect_uri' parameter must be a Login redirect URI in the client app settings.")
		return
	}
	scopes := strings.Fields(form.Get("scope"))
	if len(scopes) == 0 {
		bad("invalid_scope", "The scope parameter is missing; ask for at least 'openid'.")
		return
	}
	for _, sc := range scopes {
		if !client.AllowsScope(sc) {
			bad("invalid_scope", "The requested scope is invalid, unknown, or malformed: '"+scopeForMessage(sc)+"'.")
			return
		}
	}
	scopes = slices.Compact(scopes)
	if m := form.Get("code_challenge_method"); m != "S256" {
		if m == "" {
			bad("invalid_request", "PKCE is required: send code_challenge and code_challenge_method=S256.")
		} else {
			bad("invalid_request", "The code_challenge_method must be S256.")
		}
		return
	}
	challenge := form.Get("code_challenge")
	if !oauth.ValidChallenge(challenge) {
		bad("invalid_request", "The code_challenge must be the base64url SHA-256 of the verifier (43 characters).")
		return
	}
	for _, p := range []string{"activation_token", "recovery_token"} {
		if form.Get(p) != "" {
			bad("invalid_request", "The '"+p+"' parameter is not supported by this server.")
			return
		}
	}
	state, nonce := form.Get("state"), form.Get("nonce")
	if len(state) > 512 || len(nonce) > 512 {
		bad("invalid_request", "The state and nonce parameters may be at most 512 characters.")
		return
	}

	handle, refused, err := s.Start(r.Context(), Begin{Client: client, RedirectURI: redirectURI, Scopes: scopes,
		CodeChallenge: challenge, State: state, Nonce: nonce})
	if err != nil {
		oauth.WriteError(w, &oauth.Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "The server could not start the sign-in; try again."})
		return
	}
	if refused != nil {
		throttle.WriteTooManyRequests(w, *refused, s.now())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`{"interaction_handle":"` + handle + `"}` + "\n"))
}

func scopeForMessage(s string) string { return oauth.Printable(s) }

// ---- introspect ----

type introspectRequest struct {
	InteractionHandle string `json:"interactionHandle"`
	StateToken        string `json:"stateToken"`
	StateHandle       string `json:"stateHandle"`
}

// handleIntrospect returns the transaction's current state at any time until it
// expires (docs/protocol.md): the Go IDX SDK introspects before every step.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	var req introspectRequest
	if err := decodeJSON(body, &req); err != nil {
		s.write(w, http.StatusBadRequest, bareResponse(msgMalformed))
		return
	}
	ctx := r.Context()
	switch {
	case req.InteractionHandle != "" && len(req.InteractionHandle) <= 256:
		// A transaction's state handle is derived from its interaction handle
		// (begin.go) and never changes, so the one read by state handle finds it.
		if v := s.load(w, ctx, stateHandleFor(req.InteractionHandle)); v != nil {
			s.respond(w, http.StatusOK, v)
		}
	case req.StateToken != "" || req.StateHandle != "":
		h := req.StateToken
		if h == "" {
			h = req.StateHandle
		}
		if v := s.load(w, ctx, h); v != nil {
			s.respond(w, http.StatusOK, v)
		}
	default:
		s.write(w, http.StatusUnauthorized, expiredResponse())
	}
}
