package oauth_test

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// The token endpoint does its store work in one transaction and signs after it
// commits; these tests hold it to what the grants promised before.

// onBothDatabases runs test on SQLite and on PostgreSQL, where concurrent requests
// really overlap in the database.
func onBothDatabases(t *testing.T, test func(t *testing.T, database string)) {
	t.Run("sqlite", func(t *testing.T) { test(t, "") })
	t.Run("postgres", func(t *testing.T) { test(t, enginetest.PostgresSchema(t)) })
}

// concurrently posts form to the token endpoint n times at once and returns the
// answers.
func concurrently(t *testing.T, h *enginetest.Harness, n int, form url.Values) (statuses []int, bodies []map[string]any) {
	t.Helper()
	statuses, bodies = make([]int, n), make([]map[string]any, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			statuses[i], bodies[i] = h.PostForm(t, h.Issuer+"/v1/token", form)
		})
	}
	close(start)
	wg.Wait()
	return statuses, bodies
}

// TestConcurrentRedeemsAndRefreshesIssueOnce: of requests racing with one code or
// one refresh token, one gets tokens; the others get invalid_grant, and the
// refresh tokens' race revokes the family (a rotated token was presented again).
func TestConcurrentRedeemsAndRefreshesIssueOnce(t *testing.T) {
	onBothDatabases(t, func(t *testing.T, database string) {
		h := startPasswordOnly(t, enginetest.Options{Database: database})
		h.CreateUser(t, alice, alicePhone)
		f := h.Interact(t)
		enginetest.Expect(t, "identify", http.StatusOK)(f.Identify(alice, enginetest.Password))
		const n = 6
		statuses, bodies := concurrently(t, h, n, url.Values{"grant_type": {"interaction_code"}, "client_id": {enginetest.ClientID},
			"interaction_code": {f.InteractionCode()}, "code_verifier": {f.PKCE.Verifier}})
		var tokens map[string]any
		for i, status := range statuses {
			switch {
			case status == http.StatusOK && tokens == nil:
				tokens = bodies[i]
			case status == http.StatusBadRequest && bodies[i]["error"] == "invalid_grant":
			default:
				t.Errorf("redeem %d: %d %v", i, status, bodies[i])
			}
		}
		if tokens == nil {
			t.Fatalf("no redemption of %d got tokens: %v %v", n, statuses, bodies)
		}
		ts := tokensOf(t, tokens)

		statuses, bodies = concurrently(t, h, n, url.Values{"grant_type": {"refresh_token"}, "client_id": {enginetest.ClientID},
			"refresh_token": {ts.refresh}})
		var rotated map[string]any
		for i, status := range statuses {
			switch {
			case status == http.StatusOK && rotated == nil:
				rotated = bodies[i]
			case status == http.StatusBadRequest && bodies[i]["error_description"] == "The refresh token is invalid or expired.":
			default:
				t.Errorf("refresh %d: %d %v", i, status, bodies[i])
			}
		}
		if rotated == nil {
			t.Fatalf("no refresh of %d got tokens: %v %v", n, statuses, bodies)
		}
		// The losers presented a rotated token: the family is revoked, the winner's
		// new tokens with it.
		checkLive(t, h, "the tokens of a family whose token was presented twice", tokensOf(t, rotated), false)
	})
}

// TestADisabledUsersCodeIsUsedUp: a code whose user was disabled after signing in
// gets no tokens, and is used up: enabling the user again does not revive it.
func TestADisabledUsersCodeIsUsedUp(t *testing.T) {
	h := startPasswordOnly(t, enginetest.Options{})
	u := h.CreateUser(t, alice, alicePhone)
	f := h.Interact(t)
	enginetest.Expect(t, "identify", http.StatusOK)(f.Identify(alice, enginetest.Password))
	setDisabled := func(disabled bool) {
		t.Helper()
		if _, err := h.Store.UpdateUser(context.Background(), u.ID, func(u store.User) (store.User, error) {
			u.Disabled = disabled
			return u, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	setDisabled(true)
	status, body := f.Redeem()
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" || body["error_description"] != "The user is no longer allowed to sign in." {
		t.Errorf("a disabled user's code: %d %v", status, body)
	}
	setDisabled(false)
	status, body = f.Redeem()
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" || body["error_description"] != "The interaction code is invalid or has expired." {
		t.Errorf("the code again, the user enabled: %d %v", status, body)
	}
}

// TestTheGrantEventsNameTheTokensIssued: the access token's event, written before
// the token is signed, names the jti the client's token carries; the refresh
// token's names the family its rfid claim carries.
func TestTheGrantEventsNameTheTokensIssued(t *testing.T) {
	h := startPasswordOnly(t, enginetest.Options{})
	h.CreateUser(t, alice, alicePhone)
	ts := tokensOf(t, signIn(t, h, alice))
	_, claims := parseToken(t, h, ts.access)
	jti, _ := claims["jti"].(string)
	family, _ := claims["rfid"].(string)
	if jti == "" || family == "" {
		t.Fatalf("an access token without jti or rfid: %v", claims)
	}
	for typ, id := range map[string]string{eventlog.TypeGrantAccessToken: jti, eventlog.TypeGrantRefreshToken: family} {
		events, err := h.Store.ListEvents(context.Background(), store.EventQuery{Filter: &store.EventFilter{Op: store.EventAnd, Terms: []store.EventFilter{
			{Op: store.EventEq, Field: store.EventFieldType, Value: typ},
			{Op: store.EventEq, Field: store.EventFieldTargetID, Value: id},
		}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) != 1 {
			t.Errorf("%d %s events naming %s, want 1", len(events), typ, id)
		}
	}
}
