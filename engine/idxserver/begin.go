package idxserver

import (
	"context"
	"strings"

	"github.com/gatehouse-id/gatehouse/engine/clientip"
	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/metrics"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// Begin is a sign-in to start, as /v1/interact or /v1/authorize checked it.
type Begin struct {
	Client        *clients.Client
	RedirectURI   string
	Scopes        []string
	CodeChallenge string // S256; may be empty only for an authorization_code sign-in of a confidential client
	State, Nonce  string
	// GrantType is "" for an IDX sign-in (interaction_code) and
	// "authorization_code" for one /v1/authorize started for the hosted pages.
	GrantType    string
	ResponseMode string
}

// Start stores a transaction at IDENTIFY and returns its interaction handle. Every
// open sign-in is a row until it expires, so the sign-ins one client IP (from ctx)
// and everyone together may start per transaction lifetime are capped first: refused
// is the decision when a cap is reached, and nothing is stored.
func (s *Server) Start(ctx context.Context, b Begin) (handle string, refused *throttle.Decision, err error) {
	ip := clientip.Key(clientip.From(ctx))
	for _, c := range []struct {
		key   throttle.Key
		max   int
		limit string
	}{
		{throttle.TransactionsFromIP(ip), s.limits.TransactionsPerIP, "transactions_per_ip"},
		{throttle.AllTransactions(), s.limits.TransactionsTotal, "transactions_total"},
	} {
		d, err := s.limiter.Take(ctx, c.key, throttle.Limit{Max: c.max, Window: s.settings.TransactionTTL})
		if err != nil {
			s.log.ErrorContext(ctx, "interact: checking the sign-in limits", "err", err)
			return "", nil, err
		}
		if !d.Allowed {
			s.log.WarnContext(ctx, "interact refused: too many open sign-ins", "limit", c.limit, "client_id", b.Client.ID)
			s.metrics.RateLimited(c.limit)
			eventlog.RateLimited(ctx, s.limiter, d, c.limit)
			return "", &d, nil
		}
	}

	handle = opaque.New(32)
	now := s.now()
	tx := store.Transaction{
		ID:                    opaque.ID("ftx"),
		InteractionHandleHash: opaque.Hash(handle),
		StateHandleHash:       opaque.Hash(stateHandleFor(handle)),
		ClientID:              b.Client.ID,
		RedirectURI:           b.RedirectURI,
		Scopes:                b.Scopes,
		CodeChallenge:         b.CodeChallenge,
		State:                 b.State,
		Nonce:                 b.Nonce,
		GrantType:             b.GrantType,
		ResponseMode:          b.ResponseMode,
		Step:                  store.StepIdentify,
		CreatedAt:             now,
		UpdatedAt:             now,
		ExpiresAt:             now.Add(s.settings.TransactionTTL),
	}
	started := eventlog.Event{Type: eventlog.TypeSignInStarted, Result: store.OutcomeAllow, Reason: "sign-in started",
		SessionID: tx.ID, Targets: []store.LogTarget{eventlog.App(b.Client.ID, b.Client.Name)},
		Debug: map[string]string{"requestedScopes": strings.Join(b.Scopes, " "), "grantType": b.GrantType}}
	if err := s.store.CreateTransaction(eventlog.Attach(ctx, started), tx); err != nil {
		s.log.ErrorContext(ctx, "interact: storing the transaction", "err", err)
		return "", nil, err
	}
	s.log.InfoContext(ctx, "sign-in started", "transaction", tx.ID, "client_id", b.Client.ID)
	s.metrics.SignIn(metrics.SignInStarted)
	return handle, nil, nil
}
