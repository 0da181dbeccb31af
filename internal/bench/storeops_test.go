package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine"
	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// wantSignInOps is what one IDX sign-in costs the store, per step, on the bench's
// own engine (every limit counted but out of reach): reads and writes as
// opcount.Counts defines them — a write is a write transaction or a statement
// that writes on its own. It changes when a step's store calls change; that is the
// point: update it, and say why in the commit.
var wantSignInOps = map[string]OpsPerFlow{
	// the request budget of the client's address, the sign-ins started from it and
	// in all (three throttle transactions); the transaction inserted
	"interact": {Reads: 0, Writes: 4},
	// the request budget; the transaction with its user, factors and message
	// (store.GetSignIn: one read, as on every IDX step below)
	"introspect": {Reads: 1, Writes: 1},
	// the budget; the account, the source and the password budgets in one write
	// before the hash, and the step (the transaction saved, its events) in one
	// after it; the transaction
	"identify": {Reads: 1, Writes: 3},
	// the budget, the step; the transaction
	"select_phone": {Reads: 1, Writes: 2},
	// the step: the lockout, the send budgets, the challenge with its outbox
	// message and the transaction saved, in one write; the transaction
	"choose_sms": {Reads: 1, Writes: 1},
	// the budget, the step: the code-attempt throttle, the challenge consumed, the
	// attempts reset, the SSO session, the interaction code, the transaction
	// saved and the source remembered, in one write; the transaction
	"answer": {Reads: 1, Writes: 2},
	// the budget; one transaction: the interaction code consumed, the transaction
	// deleted, the account read, the refresh token with the events (signing after)
	"token": {Reads: 0, Writes: 2},
	// the failure budget; the revocation check with the account (GetTokenAccount)
	"userinfo": {Reads: 2, Writes: 0},
}

// TestStoreOpsOfOneSignIn walks one IDX sign-in, as the bench does, against an
// engine whose handler counts store operations as the bench's own engine does
// (CountStoreOps), and checks the count of every step — the same on SQLite and
// on PostgreSQL, since both run the same SQL — and that the outbox worker's claim
// and mark of the code message land in the background.
func TestStoreOpsOfOneSignIn(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			database := ""
			if backend == "postgres" {
				database = enginetest.PostgresSchema(t)
			}
			testStoreOpsOfOneSignIn(t, database)
		})
	}
}

func testStoreOpsOfOneSignIn(t *testing.T, database string) {
	ctx := context.Background()
	counted := false
	h := enginetest.Start(t, enginetest.Options{
		Database:          database,
		UnreachableLimits: true, // as the bench's own engine
		Configure: func(c *config.Config) {
			c.Clients = append(c.Clients, config.ClientDefaults(config.Client{
				ID: benchClientID, RedirectURIs: []string{benchRedirectURI},
				Grants: []string{config.GrantInteractionCode, config.GrantRefreshToken},
				Scopes: []string{"openid", "profile", "email", "phone", "offline_access"},
			}))
		},
		Wrap: func(next http.Handler, st store.Store) http.Handler {
			var wrapped http.Handler
			wrapped, counted = CountStoreOps(next, st)
			return wrapped
		},
	})
	if !counted {
		t.Fatal("the engine's store does not count its operations")
	}
	// The bench's own handle on the database, as the bench process has: its
	// seeding and code lookups are not the engine's operations.
	own, err := engine.OpenStoreWith(ctx, h.Config.Database, engine.StoreOptions{Schema: store.SchemaRequire})
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	hash, err := password.HashWith(password.CheapParams, benchPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := seed(ctx, own, 1, hash, nil); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(h.URL)
	c := &client{server: u, origin: h.URL, oauthBase: oauth.BaseURL(h.Issuer), issuer: h.Issuer, flow: FlowIDX,
		clientID: benchClientID, redirectURI: benchRedirectURI, codes: storeCodes{own}}

	before, err := fetchStoreOps(ctx, h.URL)
	if err != nil {
		t.Fatal(err)
	}
	res := newWalker(c).signIn(ctx, 0)
	if res.failed {
		t.Fatalf("sign-in failed: %s", res.failure)
	}
	// The code message's delivery is the outbox worker's, after the step that
	// queued it: wait until the message is marked sent.
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs, err := own.ListMessages(ctx, store.MessageFilter{To: phoneNumber(0)})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 1 && msgs[0].Status == store.MessageSent {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the code message was not delivered: %+v", msgs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	after, err := fetchStoreOps(ctx, h.URL)
	if err != nil {
		t.Fatal(err)
	}

	requests := make([]float64, numSteps)
	for s := range numSteps {
		requests[s] = float64(res.requests[s])
	}
	got := storeOpsPerFlow(before, after, stepNames[:], requests, 1)
	var report strings.Builder
	for _, name := range stepNames {
		o, _ := got.Steps.step(name)
		fmt.Fprintf(&report, "%-13s reads %v writes %v statements %v requests %v\n", name, o.Reads, o.Writes, o.Statements, o.Requests)
		want := wantSignInOps[name]
		if o.Reads != want.Reads || o.Writes != want.Writes || o.Requests != 1 {
			t.Errorf("%s: %v reads, %v writes in %v requests; want %v reads, %v writes in 1", name, o.Reads, o.Writes, o.Requests, want.Reads, want.Writes)
		}
		if o.Statements < o.Reads+o.Writes {
			t.Errorf("%s: %v statements, fewer than its reads and writes", name, o.Statements)
		}
	}
	fmt.Fprintf(&report, "background    reads %v writes %v statements %v\n", got.Background.Reads, got.Background.Writes, got.Background.Statements)
	t.Logf("store operations of one sign-in:\n%s", report.String())
	// The step that queued the message claimed it for this node's worker, which
	// marked it sent (one write); the worker may have polled an empty outbox
	// besides (a write each).
	if got.Background.Writes < 1 {
		t.Errorf("background: %v writes, want the outbox worker's mark at least", got.Background.Writes)
	}
}
