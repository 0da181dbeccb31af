//go:build unix

package oktasdk

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/okta/okta-sdk-golang/v5/okta"
)

// perMinute is each token's budget in these tests: more than any subtest but the
// rate-limit one needs.
const perMinute = 30

var people = []person{
	{"alice@example.com", "Alice", "Archer", false},
	{"bob@example.com", "Bob", "Alison", false},
	{"carol@example.org", "Carol", "Baker", true},
	{"dan@example.com", "Dan", "Crane", false},
	{"erin@example.com", "Erin", "Drake", false},
	{"frank@example.net", "Frank", "Ali", false},
	{"grace@example.com", "Grace", "Evans", false},
}

// client is Okta's SDK configured for the engine and token, without its response
// cache (so every call reaches the engine), retrying a 429 at most retries times
// and waiting at most maxBackoff seconds before each retry.
func (e *engine) client(t *testing.T, token string, retries int32, maxBackoff int64) *okta.APIClient {
	t.Helper()
	cfg, err := okta.NewConfiguration(
		okta.WithOrgUrl(e.base), okta.WithToken(token), okta.WithCache(false),
		okta.WithRateLimitMaxRetries(retries), okta.WithRateLimitMaxBackOff(maxBackoff),
		okta.WithHttpClientPtr(&http.Client{Timeout: 2 * time.Minute}),
	)
	if err != nil {
		t.Fatal(err)
	}
	// v5.0.2 keeps only the host name of the org URL, dropping its port; the
	// configuration's Host is what requests go to.
	cfg.Host = e.addr
	return okta.NewAPIClient(cfg)
}

// apiError is the SDK's error: the HTTP status and Okta's error body.
func apiError(t *testing.T, what string, resp *okta.APIResponse, err error) (int, okta.Error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	var gerr *okta.GenericOpenAPIError
	if !errors.As(err, &gerr) || resp == nil || resp.Response == nil {
		t.Fatalf("%s: %T %v, want the SDK's API error with the response", what, err, err)
	}
	var body okta.Error
	if b := gerr.Body(); len(b) > 0 {
		if err := json.Unmarshal(b, &body); err != nil {
			t.Fatalf("%s: error body %q: %v", what, b, err)
		}
	}
	return resp.StatusCode, body
}

func logins(users []okta.User) []string {
	var out []string
	for _, u := range users {
		out = append(out, u.Profile.GetLogin())
	}
	return out
}

func TestOktaSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gatehouse")
	}
	e := startEngine(t, perMinute, people)
	var all, active []string
	for _, p := range people {
		all = append(all, p.login)
		if !p.disabled {
			active = append(active, p.login)
		}
	}
	slices.Sort(all)
	slices.Sort(active)
	ctx := context.Background()

	t.Run("RateLimit", func(t *testing.T) {
		t.Parallel()
		// This subtest waits for the budget's minute to end: it runs beside the others.
		token, _ := e.token("rate", true)
		noRetry := e.client(t, token, 0, 70)
		for i := range perMinute {
			if _, _, err := noRetry.UserAPI.ListUsers(ctx).Limit(1).Execute(); err != nil {
				t.Fatalf("request %d of %d: %v", i+1, perMinute, err)
			}
		}
		// Without retries the SDK gives up at once; it keeps no response to show.
		if _, _, err := noRetry.UserAPI.ListUsers(ctx).Limit(1).Execute(); err == nil || !strings.Contains(err.Error(), "too many requests") {
			t.Fatalf("a request over the budget: %v, want the SDK's too many requests", err)
		}
		// The 429 itself, and the SDK's own reading of it: Reset minus Date, plus a second.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.base+"/api/v1/users?limit=1", nil)
		req.Header.Set("Authorization", "SSWS "+token)
		raw, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body okta.Error
		decodeErr := json.NewDecoder(raw.Body).Decode(&body)
		raw.Body.Close()
		h := raw.Header
		if raw.StatusCode != http.StatusTooManyRequests || decodeErr != nil || body.GetErrorCode() != "E0000047" ||
			h.Get("X-Rate-Limit-Limit") != strconv.Itoa(perMinute) || h.Get("X-Rate-Limit-Remaining") != "0" {
			t.Errorf("over the budget: %d %+v %v, limit %q remaining %q", raw.StatusCode, body, decodeErr, h.Get("X-Rate-Limit-Limit"), h.Get("X-Rate-Limit-Remaining"))
		}
		wait, err := okta.Get429BackoffTime(raw)
		if err != nil || wait < 1 || wait > 62 {
			t.Fatalf("the SDK reads a wait of %ds from the 429 (%v), want 1 to 62", wait, err)
		}

		// With a retry allowed, the SDK waits that long and then gets its answer.
		retrying := e.client(t, token, 1, 70)
		start := time.Now()
		users, _, err := retrying.UserAPI.ListUsers(ctx).Limit(1).Execute()
		if err != nil || len(users) != 1 {
			t.Fatalf("a request the SDK retried after the 429: %v", err)
		}
		if waited := time.Since(start); waited < time.Duration(wait-2)*time.Second {
			t.Errorf("the SDK retried after %s, before the %ds the 429 asked for", waited, wait)
		}
	})

	t.Run("ListWithPaging", func(t *testing.T) {
		token, _ := e.token("paging", true)
		c := e.client(t, token, 0, 5)
		users, resp, err := c.UserAPI.ListUsers(ctx).Limit(3).Execute()
		if err != nil {
			t.Fatal(err)
		}
		got := logins(users)
		pages := 1
		for resp.HasNextPage() {
			var page []okta.User
			if resp, err = resp.Next(&page); err != nil {
				t.Fatalf("page %d: %v", pages+1, err)
			}
			if len(page) == 0 || len(page) > 3 {
				t.Fatalf("page %d has %d users", pages+1, len(page))
			}
			got = append(got, logins(page)...)
			if pages++; pages > len(all) {
				t.Fatal("the next links do not end")
			}
		}
		if !slices.Equal(got, all) || pages != 3 {
			t.Errorf("%d pages of 3: %q, want %q in 3 pages", pages, got, all)
		}

		// Search, filter and q, through the SDK's own parameters.
		search, _, err := c.UserAPI.ListUsers(ctx).Search(`profile.login eq "bob@example.com"`).Execute()
		if err != nil || !slices.Equal(logins(search), []string{"bob@example.com"}) {
			t.Errorf("search by login: %q %v", logins(search), err)
		}
		deprovisioned, _, err := c.UserAPI.ListUsers(ctx).Filter(`status eq "DEPROVISIONED"`).Execute()
		if err != nil || !slices.Equal(logins(deprovisioned), []string{"carol@example.org"}) || deprovisioned[0].GetStatus() != "DEPROVISIONED" {
			t.Errorf("filter by status: %q %v", logins(deprovisioned), err)
		}
		act, _, err := c.UserAPI.ListUsers(ctx).Search(`status eq "ACTIVE"`).Execute()
		if err != nil || !slices.Equal(logins(act), active) {
			t.Errorf("search by status: %q %v, want %q", logins(act), err, active)
		}
		q, _, err := c.UserAPI.ListUsers(ctx).Q("ali").Execute()
		if err != nil || !slices.Equal(logins(q), []string{"alice@example.com", "bob@example.com", "frank@example.net"}) {
			t.Errorf("q=ali: %q %v", logins(q), err)
		}
		_, resp, err = c.UserAPI.ListUsers(ctx).Search(`profile.email eq "bob@example.com"`).Execute()
		if status, body := apiError(t, "an unsupported search", resp, err); status != http.StatusBadRequest || body.GetErrorCode() != "E0000031" {
			t.Errorf("an unsupported search: %d %+v", status, body)
		}
	})

	t.Run("GetByIDAndLogin", func(t *testing.T) {
		token, _ := e.token("reader", true)
		c := e.client(t, token, 0, 5)
		id := e.userIDs["alice@example.com"]
		for _, key := range []string{id, "alice@example.com"} {
			u, _, err := c.UserAPI.GetUser(ctx, key).Execute()
			if err != nil {
				t.Fatalf("GetUser(%s): %v", key, err)
			}
			p := u.Profile
			if u.GetId() != id || u.GetStatus() != "ACTIVE" || p.GetLogin() != "alice@example.com" || p.GetEmail() != "alice@example.com" ||
				p.GetFirstName() != "Alice" || p.GetLastName() != "Archer" || u.Created == nil || u.Created.IsZero() ||
				!u.PasswordChanged.IsSet() || u.PasswordChanged.Get() == nil || u.Credentials.Provider.GetType() != "OKTA" ||
				u.Links == nil || u.Links.Self == nil || u.Links.Self.Href != e.base+"/api/v1/users/"+id {
				t.Errorf("GetUser(%s): %+v", key, u)
			}
		}
		_, resp, err := c.UserAPI.GetUser(ctx, "nobody@example.com").Execute()
		if status, body := apiError(t, "an unknown user", resp, err); status != http.StatusNotFound || body.GetErrorCode() != "E0000007" {
			t.Errorf("an unknown user: %d %+v", status, body)
		}
	})

	t.Run("RevokedToken", func(t *testing.T) {
		token, id := e.token("short-lived", false)
		c := e.client(t, token, 0, 5)
		if _, _, err := c.UserAPI.ListUsers(ctx).Execute(); err != nil {
			t.Fatalf("before the revocation: %v", err)
		}
		e.run("", "tokens", "--database", e.dsn, "revoke", id)
		_, resp, err := c.UserAPI.ListUsers(ctx).Execute()
		status, body := apiError(t, "a revoked token", resp, err)
		if status != http.StatusUnauthorized || body.GetErrorCode() != "E0000011" || body.GetErrorSummary() != "Invalid token provided" ||
			body.GetErrorLink() != "E0000011" || body.GetErrorId() == "" {
			t.Errorf("a revoked token: %d %+v", status, body)
		}
	})

	t.Run("ReadOnlyToken", func(t *testing.T) {
		token, _ := e.token("read-only", true)
		c := e.client(t, token, 0, 5)
		profile := okta.NewUserProfile()
		profile.SetLogin("new@example.com")
		profile.SetEmail("new@example.com")
		_, resp, err := c.UserAPI.CreateUser(ctx).Body(okta.CreateUserRequest{Profile: *profile}).Activate(false).Execute()
		if status, body := apiError(t, "a read-only token writing", resp, err); status != http.StatusForbidden || body.GetErrorCode() != "E0000006" {
			t.Errorf("a read-only token writing: %d %+v", status, body)
		}
		users, _, err := c.UserAPI.ListUsers(ctx).Execute()
		if err != nil || !slices.Equal(logins(users), all) {
			t.Errorf("users after the refused write: %q %v", logins(users), err)
		}
	})
}
