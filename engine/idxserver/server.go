// Package idxserver speaks Okta Identity Engine's IDX interaction protocol for a
// password + phone sign-in (docs/protocol.md): interact, introspect,
// identify, challenge, answer, resend, credential enroll and cancel. One handler per
// remediation; each loads the transaction from the store, checks that its step allows
// the request, does the work, moves the transaction on, and renders the next state.
// Nothing is kept in memory between requests, so any node can serve any step.
package idxserver

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/account"
	"github.com/gatehouse-id/gatehouse/engine/authn"
	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/metrics"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/policy"
	"github.com/gatehouse-id/gatehouse/engine/sessions"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// Settings are the limits and lifetimes of the sign-in.
type Settings struct {
	TransactionTTL     time.Duration
	InteractionCodeTTL time.Duration
	// MaxAttempts wrong codes (of any authenticator) lock the user's factors for
	// Lockout.
	MaxAttempts int
	Lockout     time.Duration
	ProductName string
}

// Wakeable is the outbox worker, told when a message was queued.
type Wakeable interface{ Wake() }

// Options configure a Server.
type Options struct {
	Issuer  string
	Clients *clients.Registry
	Store   store.Store
	Hasher  *password.Hasher
	Policy  policy.SignOn
	// Authenticators are the factors users can verify and enroll, in the order
	// they are offered (engine.New registers them).
	Authenticators []authn.Authenticator
	Settings       Settings
	// Accounts creates the accounts registration makes and sets recovered
	// passwords: users change only through the account package.
	Accounts *account.Service
	Limits   Limits
	// Limiter keeps every limit's counters; New makes one over Store if nil.
	Limiter *throttle.Limiter
	// Sessions starts the SSO session of each completed sign-in.
	Sessions *sessions.Manager
	Now      func() time.Time
	Log      *slog.Logger
	Metrics  *metrics.Metrics // nil records nothing
}

// Server serves the IDX endpoints and interact.
type Server struct {
	issuer   string
	origin   string // scheme://host of the issuer; IDX lives at its root
	tokenURL string
	clients  *clients.Registry
	store    store.Store
	hasher   *password.Hasher
	policy   policy.SignOn
	settings Settings
	limits   Limits
	limiter  *throttle.Limiter
	// secureCookies: the issuer is https, so cookies are Secure.
	secureCookies bool
	sessions      *sessions.Manager
	now           func() time.Time
	log           *slog.Logger
	metrics       *metrics.Metrics
	auths         []authn.Authenticator
	accounts      *account.Service
	// authIDs are the authenticators' ids by key; passwordID the password's.
	authIDs    map[string]string
	passwordID string
}

// New returns a Server.
func New(o Options) *Server {
	u, _ := url.Parse(o.Issuer) // validated by config
	if o.Limiter == nil {
		o.Limiter = throttle.New(o.Store, o.Now)
	}
	s := &Server{
		limits: o.Limits, limiter: o.Limiter, secureCookies: u.Scheme == "https",
		issuer: o.Issuer, origin: u.Scheme + "://" + u.Host, tokenURL: oauth.BaseURL(o.Issuer) + "/v1/token",
		clients: o.Clients, store: o.Store, hasher: o.Hasher, policy: o.Policy, settings: o.Settings,
		sessions: o.Sessions, now: func() time.Time { return o.Now().Truncate(time.Millisecond) },
		log: o.Log, metrics: o.Metrics, auths: o.Authenticators, accounts: o.Accounts,
		authIDs: map[string]string{}, passwordID: authenticatorID(o.Issuer, authn.KeyPassword),
	}
	for _, a := range o.Authenticators {
		s.authIDs[a.Key()] = authenticatorID(o.Issuer, a.Key())
	}
	return s
}

// authenticatorID gives an authenticator an id in Okta's style ("aut" + 17
// characters) that is the same on every node of one deployment and differs between
// deployments. (The phone's seed is "phone", as before authenticators had keys, so
// that ids clients saw stay the same.)
func authenticatorID(issuer, key string) string {
	if key == authn.KeyPhone {
		key = "phone"
	}
	return derivedID("aut", issuer+"|authenticator|"+key)
}

// authenticator returns the authenticator with key, or nil.
func (s *Server) authenticator(key string) authn.Authenticator {
	for _, a := range s.auths {
		if a.Key() == key {
			return a
		}
	}
	return nil
}

// authenticatorByID returns the authenticator a client named by id, or nil.
func (s *Server) authenticatorByID(id string) authn.Authenticator {
	for _, a := range s.auths {
		if s.authIDs[a.Key()] == id {
			return a
		}
	}
	return nil
}

// enrollable lists the authenticators a user may enroll while signing in.
func (s *Server) enrollable() []authn.Authenticator {
	var out []authn.Authenticator
	for _, a := range s.auths {
		if len(a.EnrollMethods()) > 0 {
			out = append(out, a)
		}
	}
	return out
}

// userEnrollments lists the account's usable enrollments of every authenticator.
func (s *Server) userEnrollments(acct *store.Account) []enrolled {
	if acct == nil {
		return nil
	}
	var out []enrolled
	for _, a := range s.auths {
		for _, e := range a.Enrollments(*acct) {
			out = append(out, enrolled{auth: a, authID: s.authIDs[a.Key()], e: e})
		}
	}
	return out
}

// Register adds the IDX endpoints and interact to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+oauth.Path(oauth.BaseURL(s.issuer))+"/v1/interact", s.handleInteract)
	mux.HandleFunc("POST /idp/idx/introspect", s.handleIntrospect)
	for _, p := range paths {
		mux.HandleFunc("POST "+p, s.serve(p))
	}
}

// ---- request decoding ----

// maxBodyBytes bounds IDX request bodies; real ones are under 1 KiB.
const maxBodyBytes = 16 << 10

var errUnsupportedMedia = errors.New("unsupported media type")

// checkMediaType accepts the JSON types docs/protocol.md lists, with okta-version
// 1.0.0 or none. A missing Content-Type is refused too: a cross-origin request
// without one (or with a form or text/plain type) is a "simple request" that
// browsers send without a CORS preflight, so only a JSON type guarantees that the
// engine's CORS policy was consulted first. okta-auth-js, the Sign-In Widget and the
// Go SDK in idx/ always send a JSON type.
func checkMediaType(header string) error {
	mt, params, err := mime.ParseMediaType(header)
	if err != nil {
		return errUnsupportedMedia
	}
	switch mt {
	case "application/json", "application/ion+json", "application/vnd.okta.v1+json":
	default:
		return errUnsupportedMedia
	}
	if v, ok := params["okta-version"]; ok && v != idxVersion {
		return errUnsupportedMedia
	}
	return nil
}

// decodeJSON reads one JSON object into dst. Unknown members are ignored — clients
// send extras such as rememberMe — but wrong types and trailing data are errors.
func decodeJSON(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(dst); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// readBody reads a capped JSON body, answering for the client if it cannot. A body
// that is refused unread (wrong media type) or is too large is drained first, so
// the client gets the answer instead of a reset connection (oauth.DrainBody).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if err := checkMediaType(r.Header.Get("Content-Type")); err != nil {
		if !oauth.DrainBody(r.Body) {
			w.Header().Set("Connection", "close")
		}
		s.write(w, http.StatusUnsupportedMediaType, bareResponse(msgUnsupportedMedia))
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			oauth.DrainBody(r.Body)
			w.Header().Set("Connection", "close")
			s.write(w, http.StatusRequestEntityTooLarge, bareResponse(msgTooLarge))
			return nil, false
		}
		// The client stopped sending or went silent past the read timeout; it
		// will most likely not read this.
		w.Header().Set("Connection", "close")
		s.write(w, http.StatusBadRequest, bareResponse(msgMalformed))
		return nil, false
	}
	return body, true
}

// stateHandleOnly pulls the stateHandle out of a body that failed to decode as a
// whole, so a malformed request can still be answered with the current state.
type stateHandleOnly struct {
	StateHandle string `json:"stateHandle"`
}

// begin decodes the body into dst (whose StateHandle is returned by handle) and loads
// the transaction. On failure it has answered and returns nil.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, dst interface{ handle() string }) *view {
	body, ok := s.readBody(w, r)
	if !ok {
		return nil
	}
	if err := decodeJSON(body, dst); err != nil {
		var only stateHandleOnly
		if json.Unmarshal(body, &only) == nil && only.StateHandle != "" {
			if v := s.load(w, r.Context(), only.StateHandle); v != nil {
				v.messages = []Message{msgMalformed}
				s.respond(w, http.StatusBadRequest, v)
			}
			return nil
		}
		s.write(w, http.StatusBadRequest, bareResponse(msgMalformed))
		return nil
	}
	if dst.handle() == "" {
		s.write(w, http.StatusUnauthorized, expiredResponse())
		return nil
	}
	return s.load(w, r.Context(), dst.handle())
}

// load finds the transaction for stateHandle with what rendering needs — its
// user, their factors, its code's delivery — in one read (store.GetSignIn),
// answering "session expired" when there is none or it expired.
func (s *Server) load(w http.ResponseWriter, ctx context.Context, stateHandle string) *view {
	if len(stateHandle) > 256 {
		s.write(w, http.StatusUnauthorized, expiredResponse())
		return nil
	}
	in, err := s.store.GetSignIn(ctx, opaque.Hash(stateHandle))
	return s.loadView(w, ctx, in, err, stateHandle)
}

func (s *Server) loadView(w http.ResponseWriter, ctx context.Context, in store.SignIn, err error, stateHandle string) *view {
	tx := in.Transaction
	if errors.Is(err, store.ErrNotFound) || (err == nil && !s.now().Before(tx.ExpiresAt)) {
		s.write(w, http.StatusUnauthorized, expiredResponse())
		return nil
	}
	if err != nil {
		s.serverError(ctx, w, "loading a transaction", err)
		return nil
	}
	client, err := s.clients.Lookup(ctx, tx.ClientID)
	if errors.Is(err, clients.ErrUnknownClient) {
		// The client was removed mid-sign-in.
		s.write(w, http.StatusUnauthorized, expiredResponse())
		return nil
	}
	if err != nil {
		s.serverError(ctx, w, "loading the transaction's client", err)
		return nil
	}
	if tx.Authenticator == "" && stepHasAuthenticator(tx.Step) {
		// Written by a release from before authenticators: only the phone existed.
		tx.Authenticator = authn.KeyPhone
		if tx.PendingPhone != "" && tx.Pending == nil {
			tx.Pending = map[string]string{"phoneNumber": tx.PendingPhone}
		}
	}
	v := &view{tx: tx, stateHandle: stateHandle, client: client}
	if (tx.Step == store.StepChallenge || tx.Step == store.StepEnrollChallenge) && tx.ChallengeID != "" && s.sends(tx.Authenticator) &&
		in.MessageStatus == store.MessageFailed {
		// A code that could not be delivered is the user's business: say so on the
		// next poll or answer instead of leaving them waiting.
		v.messages = append(v.messages, msgDeliveryFailed)
	}
	if tx.Flow == store.FlowRecovery && tx.Step != store.StepSuccess {
		v.enrollments = s.recoveryEnrollments(v)
	}
	if tx.UserID != "" {
		if in.Account == nil {
			s.write(w, http.StatusUnauthorized, expiredResponse()) // the user was deleted
			return nil
		}
		s.setAccount(v, in.Account)
	}
	return v
}

// setAccount makes acct the view's user, with their enrollments (in a recovery,
// the recovery's own stay: they say nothing of the user's).
func (s *Server) setAccount(v *view, acct *store.Account) {
	v.account, v.user = acct, &acct.User
	if v.tx.Flow == store.FlowRecovery && v.tx.Step != store.StepSuccess {
		return
	}
	v.enrollments = s.userEnrollments(acct)
}

// loadUser reads the transaction's user and their factors again, after a change.
func (s *Server) loadUser(ctx context.Context, v *view) error {
	acct, err := s.store.GetAccount(ctx, v.tx.UserID)
	if err != nil {
		return err
	}
	s.setAccount(v, &acct)
	return nil
}

// stepHasAuthenticator: the step works with one authenticator.
func stepHasAuthenticator(st store.Step) bool {
	switch st {
	case store.StepVerifyData, store.StepChallenge, store.StepEnrollData, store.StepEnrollChallenge:
		return true
	}
	return false
}

// sends reports whether the authenticator with key sends codes.
func (s *Server) sends(key string) bool {
	a := s.authenticator(key)
	return a != nil && a.Sends()
}

// ---- one transaction per step ----

// errStepFailed rolls a step back: its answer was a server error.
var errStepFailed = errors.New("idx: the step failed")

// step runs fn — one step's store work and its answer — in one database
// transaction (store.Atomic): what fn's store calls write commits together, or
// nothing does. fn answers into a buffer, which reaches the client only once the
// transaction has committed, so a client never sees a state the database does not
// hold. A server error (5xx) rolls the step back.
func (s *Server) step(w http.ResponseWriter, r *http.Request, fn func(w http.ResponseWriter, r *http.Request)) {
	buf := &stepAnswer{header: w.Header().Clone()}
	err := s.store.Atomically(r.Context(), func(ctx context.Context) error {
		fn(buf, r.WithContext(ctx))
		if buf.status >= 500 {
			return errStepFailed
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStepFailed) {
		s.serverError(r.Context(), w, "committing a step", err)
		return
	}
	buf.copyTo(w)
}

// stepAnswer is an answer held back until its step has committed.
type stepAnswer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *stepAnswer) Header() http.Header { return a.header }

func (a *stepAnswer) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}

func (a *stepAnswer) Write(p []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	return a.body.Write(p)
}

// copyTo sends the answer: its header replaces w's (it began as a copy of it).
func (a *stepAnswer) copyTo(w http.ResponseWriter) {
	h := w.Header()
	for k := range h {
		delete(h, k)
	}
	for k, v := range a.header {
		h[k] = v
	}
	w.WriteHeader(cmp.Or(a.status, http.StatusOK))
	_, _ = w.Write(a.body.Bytes())
}

// ---- responses ----

func (s *Server) respond(w http.ResponseWriter, status int, v *view) {
	s.write(w, status, s.render(v))
}

func (s *Server) write(w http.ResponseWriter, status int, resp Response) {
	h := w.Header()
	h.Set("Content-Type", responseType)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(resp)
}

func (s *Server) serverError(ctx context.Context, w http.ResponseWriter, doing string, err error) {
	s.log.ErrorContext(ctx, "idx: "+doing, "err", err)
	s.write(w, http.StatusInternalServerError, bareResponse(msgServerError))
}

// fail answers with the current state and a global message.
func (s *Server) fail(w http.ResponseWriter, status int, v *view, msg Message) {
	v.messages = append(v.messages, msg)
	s.respond(w, status, v)
}

// errConflict: another request moved the transaction on between load and update.
var errConflict = errors.New("transaction changed concurrently")

// advance applies change to the loaded transaction if nobody else changed it since,
// slides its expiry, and updates v. It answers the client itself on failure.
func (s *Server) advance(w http.ResponseWriter, ctx context.Context, v *view, change func(*store.Transaction)) bool {
	loaded := v.tx.Revision
	return s.advanceIf(w, ctx, v, func(t store.Transaction) bool { return t.Revision == loaded }, change)
}

// advanceIf is advance with its own test of whether the transaction may still change:
// finishing a sign-in only needs it to be at the same step, since the code that
// finished it has already been consumed.
func (s *Server) advanceIf(w http.ResponseWriter, ctx context.Context, v *view, unchanged func(store.Transaction) bool, change func(*store.Transaction)) bool {
	now := s.now()
	tx, err := s.store.UpdateTransaction(ctx, v.tx.ID, func(t store.Transaction) (store.Transaction, error) {
		if !unchanged(t) {
			return t, errConflict
		}
		change(&t)
		t.UpdatedAt = now
		if t.Step != store.StepSuccess {
			t.ExpiresAt = now.Add(s.settings.TransactionTTL)
		}
		return t, nil
	})
	switch {
	case errors.Is(err, errConflict):
		if cur, err := s.store.GetTransaction(ctx, v.tx.ID); err == nil {
			v.tx = cur
		}
		s.fail(w, http.StatusConflict, v, msgConflict)
		return false
	case errors.Is(err, store.ErrNotFound):
		s.write(w, http.StatusUnauthorized, expiredResponse())
		return false
	case err != nil:
		s.serverError(ctx, w, "updating a transaction", err)
		return false
	}
	v.tx = tx
	return true
}

// logAttrs are the attributes every sign-in log line carries; never a handle,
// password, code or token.
func logAttrs(v *view) []any {
	attrs := []any{"transaction", v.tx.ID, "client_id", v.tx.ClientID}
	if v.tx.UserID != "" {
		attrs = append(attrs, "user_id", v.tx.UserID)
	}
	return attrs
}

func trimmed(s string) string { return strings.TrimSpace(s) }
