// Package oauth serves the OAuth 2.0 and OpenID Connect endpoints of one
// authorization server: discovery, keys, token (interaction_code and refresh_token
// grants), userinfo, revocation, introspection and logout. The interact endpoint,
// which starts an IDX transaction, lives with the IDX protocol in package idxserver.
package oauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/metrics"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// Server is the OAuth 2.0 / OIDC side of the engine.
type Server struct {
	issuer  string
	base    string // OAuth base URL: issuer if it holds /oauth2, else issuer + /oauth2
	clients *clients.Registry
	store   store.Store
	keys    *KeySet
	now     func() time.Time
	log     *slog.Logger
	metrics *metrics.Metrics
	origin  string // scheme://host[:port] of the issuer
	limiter *throttle.Limiter
	jwks    *jwksCache
}

// Options configure a Server.
type Options struct {
	Issuer  string
	Clients *clients.Registry
	Store   store.Store
	Keys    *KeySet
	Now     func() time.Time
	Log     *slog.Logger
	Metrics *metrics.Metrics // nil records nothing
	// JWKSClient fetches private_key_jwt clients' key sets from their jwks_uri;
	// nil means a client with a 5-second timeout.
	JWKSClient *http.Client
}

// New returns a Server.
func New(o Options) *Server {
	origin := o.Issuer
	if u, err := url.Parse(o.Issuer); err == nil {
		origin = u.Scheme + "://" + u.Host
	}
	return &Server{
		issuer: o.Issuer, base: BaseURL(o.Issuer), clients: o.Clients, store: o.Store,
		keys: o.Keys, now: o.Now, log: o.Log, metrics: o.Metrics,
		origin: origin, limiter: throttle.New(o.Store, o.Now), jwks: newJWKSCache(o.JWKSClient, o.Now),
	}
}

// BaseURL is where the OAuth endpoints of issuer live, derived as every client
// derives it (docs/protocol.md).
func BaseURL(issuer string) string {
	if strings.Contains(issuer, "/oauth2") {
		return issuer
	}
	return issuer + "/oauth2"
}

// Path returns the path part of an absolute URL.
func Path(abs string) string {
	u, err := url.Parse(abs)
	if err != nil {
		return "/"
	}
	return u.Path
}

// Register adds the endpoints to mux.
func (s *Server) Register(mux *http.ServeMux) {
	issuerPath := Path(s.issuer)
	base := Path(s.base)
	mux.HandleFunc("GET "+issuerPath+"/.well-known/openid-configuration", s.handleDiscovery)
	mux.HandleFunc("GET "+issuerPath+"/.well-known/oauth-authorization-server", s.handleDiscovery)
	mux.HandleFunc("GET "+base+"/v1/keys", s.handleKeys)
	mux.HandleFunc("POST "+base+"/v1/token", s.handleToken)
	mux.HandleFunc("GET "+base+"/v1/userinfo", s.handleUserInfo)
	mux.HandleFunc("POST "+base+"/v1/userinfo", s.handleUserInfo)
	mux.HandleFunc("POST "+base+"/v1/revoke", s.handleRevoke)
	mux.HandleFunc("POST "+base+"/v1/introspect", s.handleIntrospect)
}

// ---- OAuth error responses (RFC 6749 5.2) ----

// Error is an OAuth error: the code and description clients show.
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// WriteError writes e in the OAuth JSON shape. Both members are always present:
// okta-auth-js needs both to build an OAuthError.
func WriteError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if e.Status == http.StatusUnauthorized && e.Code == "invalid_client" {
		h.Set("WWW-Authenticate", `Basic realm="gatehouse"`)
	}
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": e.Code, "error_description": e.Description})
}

func invalidRequest(desc string) *Error {
	return &Error{http.StatusBadRequest, "invalid_request", desc}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ---- form parsing and client authentication ----

// maxFormBytes bounds token, revoke and interact bodies; real ones are under 4 KiB.
const maxFormBytes = 16 << 10

// ReadForm parses the query and a form-encoded body together — the Go IDX SDK sends
// token parameters in the query string (docs/protocol.md) — and refuses any parameter
// given twice (RFC 6749 3.2). A body over 16 KiB is drained (see DrainBody) and
// refused with 413.
func ReadForm(w http.ResponseWriter, r *http.Request) (url.Values, *Error) {
	body := r.Body
	r.Body = http.MaxBytesReader(w, body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			DrainBody(body)
			w.Header().Set("Connection", "close")
			return nil, &Error{http.StatusRequestEntityTooLarge, "invalid_request", "The request body is too large (at most 16 KiB)."}
		}
		return nil, invalidRequest("The request body could not be read as a form (at most 16 KiB, application/x-www-form-urlencoded).")
	}
	// The first repeated parameter in sorted order, so that the answer does not
	// depend on map iteration order.
	dup, repeated := "", false
	for k, v := range r.Form {
		if len(v) > 1 && (!repeated || k < dup) {
			dup, repeated = k, true
		}
	}
	if repeated {
		return nil, invalidRequest("The parameter '" + sanitize(dup) + "' was given more than once.")
	}
	return r.Form, nil
}

// maxDrainBytes bounds how much of a refused request body is read and thrown away.
const maxDrainBytes = 8 << 20

// DrainBody reads and discards the rest of a request body the engine refuses
// (at most 8 MiB; the server's read timeout bounds the time), and reports whether
// it reached the end. Call it before writing the answer: a server that answers and
// closes while the client is still sending makes the client's TCP stack see a reset,
// and most clients then report the reset instead of the answer. Answers to such
// requests should carry Connection: close, so the connection is not reused.
func DrainBody(body io.Reader) bool {
	if body == nil {
		return true
	}
	_, err := io.CopyN(io.Discard, body, maxDrainBytes+1)
	return errors.Is(err, io.EOF)
}

// WriteMethodNotAllowed answers, in the OAuth error shape, a request whose method
// the endpoint does not serve; allow lists the methods it does, for the Allow header.
func WriteMethodNotAllowed(w http.ResponseWriter, method string, allow []string) {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	WriteError(w, &Error{http.StatusMethodNotAllowed, "invalid_request",
		"The endpoint does not support the " + sanitize(method) + " method; use " + strings.Join(allow, " or ") + "."})
}

// WriteNotFound answers, in the OAuth error shape, a request for a path that is no
// endpoint of the engine.
func WriteNotFound(w http.ResponseWriter) {
	WriteError(w, &Error{http.StatusNotFound, "not_found", "There is no endpoint at this path."})
}

// sanitize keeps client-supplied names in error descriptions short and printable.
// Printable keeps the printable ASCII of s but quotes and backslashes, at most 40
// bytes: what is safe to quote back from a client's request in an error message.
func Printable(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == '\'' || r == '"' || r == '\\' || r > 0x7e {
			return -1
		}
		return r
	}, s)
}

func sanitize(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

// AuthenticateClient finds the calling client and checks that it authenticated
// with its registered method (see clients.Client.AuthMethod), and no other:
//
//   - client_secret_basic: HTTP Basic (RFC 6749 2.3.1);
//   - client_secret_post: client_id and client_secret in the form;
//   - private_key_jwt: client_assertion_type and a client_assertion JWT (RFC 7523
//     2.2, checked by verifyClientAssertion);
//   - none: client_id alone, in the form or as HTTP Basic without a password (as
//     okta-auth-js sends it for public clients).
//
// Failures are invalid_client (401); a request mixing two methods is
// invalid_request. required=false allows an anonymous caller (revocation from the
// Go IDX SDK); then the returned client is nil.
func (s *Server) AuthenticateClient(r *http.Request, form url.Values, required bool) (*clients.Client, *Error) {
	cr, e := presentedCredentials(r, form)
	if e != nil {
		return nil, e
	}
	if cr.id == "" && cr.method == config.AuthPrivateKeyJWT {
		cr.id = assertionSubject(cr.assertion)
	}
	if cr.id == "" {
		switch {
		case cr.method != config.AuthNone:
			return nil, &Error{http.StatusUnauthorized, "invalid_client", "Client authentication failed: the client is not named."}
		case required:
			return nil, invalidRequest("The client_id parameter is missing.")
		}
		return nil, nil
	}
	failed := &Error{http.StatusUnauthorized, "invalid_client", "Client authentication failed."}
	c, err := s.clients.Lookup(r.Context(), cr.id)
	if errors.Is(err, clients.ErrUnknownClient) {
		return nil, failed
	}
	if err != nil {
		return nil, s.serverError(r.Context(), "looking up a client", err)
	}
	if c.Public() {
		switch cr.method {
		case config.AuthNone:
			return c, nil
		case config.AuthClientSecretPost:
			return nil, &Error{http.StatusUnauthorized, "invalid_client", "This client is public and must not send a client_secret."}
		default:
			return nil, &Error{http.StatusUnauthorized, "invalid_client", "This client is public and authenticates with its client_id alone."}
		}
	}
	if !c.AllowsAuthMethod(cr.method) {
		return nil, &Error{http.StatusUnauthorized, "invalid_client", "Client authentication failed: this client authenticates with " + c.AuthMethodDescription() + "."}
	}
	switch cr.method {
	case config.AuthClientSecretBasic, config.AuthClientSecretPost:
		if !c.CheckSecret(cr.secret) {
			return nil, failed
		}
	case config.AuthPrivateKeyJWT:
		if e := s.verifyClientAssertion(r, c, cr.assertion); e != nil {
			return nil, e
		}
	default:
		return nil, failed
	}
	return c, nil
}

// credentials are what a request presents to authenticate its client.
type credentials struct {
	id        string
	method    string // the token_endpoint_auth_method they amount to
	secret    string
	assertion string
}

// presentedCredentials reads the client's credentials from the Authorization header
// and the form, refusing a request that uses two methods at once.
func presentedCredentials(r *http.Request, form url.Values) (credentials, *Error) {
	formID, formSecret := form.Get("client_id"), form.Get("client_secret")
	assertionType, assertion := form.Get("client_assertion_type"), form.Get("client_assertion")
	twoMethods := invalidRequest("Use one client authentication method, not two.")
	user, pass, basic, e := BasicCredentials(r)
	if e != nil {
		return credentials{}, e
	}
	switch {
	case basic:
		if formSecret != "" || assertion != "" || assertionType != "" || (formID != "" && formID != user) {
			return credentials{}, twoMethods
		}
		if pass == "" {
			return credentials{id: user, method: config.AuthNone}, nil
		}
		return credentials{id: user, method: config.AuthClientSecretBasic, secret: pass}, nil
	case assertion != "" || assertionType != "":
		if formSecret != "" {
			return credentials{}, twoMethods
		}
		if assertionType != ClientAssertionType {
			return credentials{}, &Error{http.StatusUnauthorized, "invalid_client", "The client_assertion_type must be " + ClientAssertionType + "."}
		}
		if assertion == "" {
			return credentials{}, &Error{http.StatusUnauthorized, "invalid_client", "The client_assertion parameter is missing."}
		}
		return credentials{id: formID, method: config.AuthPrivateKeyJWT, assertion: assertion}, nil
	case formSecret != "":
		return credentials{id: formID, method: config.AuthClientSecretPost, secret: formSecret}, nil
	}
	return credentials{id: formID, method: config.AuthNone}, nil
}

// BasicCredentials reads HTTP Basic authentication (RFC 6749 2.3.1: both parts
// form-urlencoded). ok is false without a Basic Authorization header; a malformed
// one is invalid_client.
func BasicCredentials(r *http.Request) (user, pass string, ok bool, e *Error) {
	scheme, rest, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Basic") {
		return "", "", false, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return "", "", false, &Error{http.StatusUnauthorized, "invalid_client", "The Basic authorization header is malformed."}
	}
	user, pass, _ = strings.Cut(string(raw), ":")
	if u, err := url.QueryUnescape(user); err == nil {
		user = u
	}
	if p, err := url.QueryUnescape(pass); err == nil {
		pass = p
	}
	return user, pass, true, nil
}
