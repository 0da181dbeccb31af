package mgmt_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/mgmt"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// backends runs test on SQLite and on PostgreSQL.
func backends(t *testing.T, test func(t *testing.T, o enginetest.Options)) {
	t.Run("sqlite", func(t *testing.T) { test(t, enginetest.Options{}) })
	t.Run("postgres", func(t *testing.T) { test(t, enginetest.Options{Database: enginetest.PostgresSchema(t)}) })
}

// api is an engine with the management API on.
type api struct {
	*enginetest.Harness
	t *testing.T
}

// start runs an engine with the management API on, its per-token limit perMinute
// and the per-IP limit of requests without a valid token perIP.
func start(t *testing.T, o enginetest.Options, perMinute, perIP int) *api {
	t.Helper()
	o.Configure = func(c *config.Config) {
		c.ManagementAPI.Enabled = true
		c.ManagementAPI.RateLimitPerMinute = perMinute
		c.RateLimits.RequestsPerIPPerMinute = perIP
	}
	return &api{Harness: enginetest.Start(t, o), t: t}
}

// token stores a new API token and returns it.
func (a *api) token(name string, readOnly bool) (token, id string) {
	a.t.Helper()
	token, hash := mgmt.NewToken()
	id = mgmt.NewTokenID()
	err := a.Store.CreateAPIToken(a.t.Context(), store.APIToken{ID: id, Name: name, TokenHash: hash, ReadOnly: readOnly,
		CreatedAt: time.Now().Truncate(time.Millisecond)})
	if err != nil {
		a.t.Fatal(err)
	}
	return token, id
}

// answer is an HTTP answer with its body.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// oktaError decodes the body as Okta's error and checks its shape: every field
// present, errorLink the code, an errorId, errorCauses a list.
func (r answer) oktaError(t *testing.T) (code, summary string, causes []string) {
	t.Helper()
	var e map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	var id, link string
	var cs []struct {
		Summary string `json:"errorSummary"`
	}
	for k, v := range map[string]any{"errorCode": &code, "errorSummary": &summary, "errorLink": &link, "errorId": &id, "errorCauses": &cs} {
		raw, ok := e[k]
		if !ok {
			t.Fatalf("error body %s has no %s", r.body, k)
		}
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("error body %s: %s: %v", r.body, k, err)
		}
	}
	if len(e) != 5 || link != code || !strings.HasPrefix(id, "oae") || cs == nil || !strings.HasPrefix(code, "E0000") {
		t.Errorf("not Okta's error shape: %s", r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
	for _, c := range cs {
		causes = append(causes, c.Summary)
	}
	return code, summary, causes
}

// expectError checks that r is status with Okta's error code.
func (r answer) expectError(t *testing.T, what string, status int, code string) (summary string, causes []string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	got, summary, causes := r.oktaError(t)
	if got != code {
		t.Errorf("%s: errorCode %s, want %s (%s)", what, got, code, summary)
	}
	return summary, causes
}

// do sends a request; auth is the whole Authorization header ("" for none).
func (a *api) do(method, path, auth string, body io.Reader, header ...string) answer {
	a.t.Helper()
	req, err := http.NewRequestWithContext(a.t.Context(), method, a.URL+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func (a *api) get(path, token string) answer { return a.do(http.MethodGet, path, "SSWS "+token, nil) }

// checkRateHeaders checks Okta's rate-limit headers against limit and remaining,
// with a reset within the next minute of the engine's clock.
func (a *api) checkRateHeaders(what string, r answer, limit, remaining int) {
	a.t.Helper()
	if got := r.header.Get("X-Rate-Limit-Limit"); got != strconv.Itoa(limit) {
		a.t.Errorf("%s: X-Rate-Limit-Limit %q, want %d", what, got, limit)
	}
	if remaining >= 0 {
		if got := r.header.Get("X-Rate-Limit-Remaining"); got != strconv.Itoa(remaining) {
			a.t.Errorf("%s: X-Rate-Limit-Remaining %q, want %d", what, got, remaining)
		}
	}
	reset, err := strconv.ParseInt(r.header.Get("X-Rate-Limit-Reset"), 10, 64)
	now := a.Clock.Now().Unix()
	if err != nil || reset < now-1 || reset > now+61 {
		a.t.Errorf("%s: X-Rate-Limit-Reset %q, want epoch seconds within a minute of %d", what, r.header.Get("X-Rate-Limit-Reset"), now)
	}
}

func TestAuthentication(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		a := start(t, o, 100, 50)
		full, fullID := a.token("provisioning", false)
		readOnly, _ := a.token("reports", true)

		for name, auth := range map[string]string{
			"no header":         "",
			"bearer":            "Bearer " + full,
			"basic":             "Basic " + full,
			"scheme only":       "SSWS",
			"wrong token":       "SSWS " + mgmt.TokenPrefix + opaque.New(32),
			"token with suffix": "SSWS " + full + "x",
			"huge":              "SSWS " + strings.Repeat("a", 10_000),
		} {
			r := a.do(http.MethodGet, "/api/v1/users", auth, nil)
			summary, _ := r.expectError(t, name, http.StatusUnauthorized, "E0000011")
			if summary != "Invalid token provided" {
				t.Errorf("%s: errorSummary %q", name, summary)
			}
			a.checkRateHeaders(name, r, 50, -1)
		}
		// The scheme is matched whatever its case, as Okta's.
		if r := a.do(http.MethodGet, "/api/v1/users", "ssws "+full, nil); r.status != http.StatusOK {
			t.Errorf("lower-case ssws: %d %s", r.status, r.body)
		}

		r := a.get("/api/v1/users", full)
		if r.status != http.StatusOK {
			t.Fatalf("GET /api/v1/users: %d %s", r.status, r.body)
		}
		a.checkRateHeaders("a valid request", r, 100, 98)
		if r.header.Get("X-Okta-Request-Id") == "" {
			t.Error("no X-Okta-Request-Id")
		}
		if tok, err := a.Store.GetAPIToken(t.Context(), fullID); err != nil || tok.LastUsedAt.IsZero() {
			t.Errorf("the token's last use was not recorded: %+v %v", tok, err)
		}

		// A read-only token reads, and may not write, whatever the endpoint.
		if r := a.get("/api/v1/users", readOnly); r.status != http.StatusOK {
			t.Errorf("read-only GET: %d %s", r.status, r.body)
		}
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			r := a.do(m, "/api/v1/users", "SSWS "+readOnly, strings.NewReader(`{"profile":{"login":"x@example.com"}}`))
			a.checkRateHeaders("read-only "+m, r, 100, -1)
			r.expectError(t, "read-only "+m, http.StatusForbidden, "E0000006")
		}
		// A full token gets Okta's 405 from an endpoint that does not take the method.
		r = a.do(http.MethodPut, "/api/v1/users", "SSWS "+full, strings.NewReader(`{}`))
		r.expectError(t, "PUT /api/v1/users", http.StatusMethodNotAllowed, "E0000022")
		if allow := r.header.Get("Allow"); allow != "GET, HEAD, POST" {
			t.Errorf("405 Allow %q", allow)
		}
		// Unknown paths: the token first, then Okta's 404.
		for _, p := range []string{"/api/v1/groups", "/api/v1/users/x/factors", "/api/v1", "/api/v1/"} {
			a.do(http.MethodGet, p, "", nil).expectError(t, p+" without a token", http.StatusUnauthorized, "E0000011")
			r := a.get(p, full)
			r.expectError(t, p, http.StatusNotFound, "E0000007")
			a.checkRateHeaders(p, r, 100, -1)
		}

		// A revoked token is refused at once, on its next request.
		if _, err := a.Store.RevokeAPIToken(t.Context(), fullID, time.Now()); err != nil {
			t.Fatal(err)
		}
		a.get("/api/v1/users", full).expectError(t, "revoked token", http.StatusUnauthorized, "E0000011")
		if r := a.get("/api/v1/users", readOnly); r.status != http.StatusOK {
			t.Errorf("the other token after a revocation: %d", r.status)
		}
	})
}

// TestSessionsMeUntouched: the browser's session endpoint under /api/v1 answers as
// it does with the API off, whatever Authorization says.
func TestSessionsMeUntouched(t *testing.T) {
	off := enginetest.Start(t, enginetest.Options{})
	on := start(t, enginetest.Options{}, 100, 50)
	token, _ := on.token("t", true)
	offAPI := &api{Harness: off, t: t}
	for _, m := range []string{http.MethodDelete, http.MethodGet, http.MethodPost} {
		for _, auth := range []string{"", "SSWS " + token} {
			want := offAPI.do(m, "/api/v1/sessions/me", auth, nil)
			got := on.do(m, "/api/v1/sessions/me", auth, nil)
			if got.status != want.status || string(got.body) != string(want.body) || got.header.Get("Allow") != want.header.Get("Allow") {
				t.Errorf("%s /api/v1/sessions/me (auth %t): %d %s, want %d %s as with the API off", m, auth != "", got.status, got.body, want.status, want.body)
			}
			if got.header.Get("X-Rate-Limit-Limit") != "" {
				t.Errorf("%s /api/v1/sessions/me was counted by the management API", m)
			}
		}
	}
	// Off, the API's paths do not exist and tokens are no use.
	r := offAPI.do(http.MethodGet, "/api/v1/users", "SSWS "+token, nil)
	if r.status != http.StatusNotFound || strings.Contains(string(r.body), "E0000") {
		t.Errorf("GET /api/v1/users with the API off: %d %s", r.status, r.body)
	}
	// No CORS for the API: its tokens do not belong in browsers.
	pre := on.do(http.MethodOptions, "/api/v1/users", "", nil, "Origin", enginetest.AppOrigin, "Access-Control-Request-Method", "GET",
		"Access-Control-Request-Headers", "Authorization")
	if pre.status != http.StatusForbidden || pre.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("CORS preflight of /api/v1/users: %d, Access-Control-Allow-Origin %q", pre.status, pre.header.Get("Access-Control-Allow-Origin"))
	}
	pre = on.do(http.MethodOptions, "/api/v1/sessions/me", "", nil, "Origin", enginetest.AppOrigin, "Access-Control-Request-Method", "DELETE")
	if pre.status != http.StatusNoContent {
		t.Errorf("CORS preflight of /api/v1/sessions/me: %d", pre.status)
	}
}

// TestRateLimit: a token's budget is counted before the request is served, so that
// parallel requests never get more than it, on one node or across two; the 429
// carries Okta's headers and Date.
func TestRateLimit(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		const limit = 6
		if o.Database == "" {
			o.Database = "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
		}
		a := start(t, o, limit, 10)
		b := start(t, o, limit, 10) // a second node on the same database
		token, _ := a.token("busy", true)

		const n = 3 * limit
		answers := make([]answer, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				node := a
				if i%2 == 1 {
					node = b
				}
				answers[i] = node.get("/api/v1/users?limit=1", token)
			})
		}
		wg.Wait()
		var ok, limited int
		var remaining []int
		for i, r := range answers {
			switch r.status {
			case http.StatusOK:
				ok++
				n, _ := strconv.Atoi(r.header.Get("X-Rate-Limit-Remaining"))
				remaining = append(remaining, n)
				a.checkRateHeaders("admitted", r, limit, -1)
			case http.StatusTooManyRequests:
				limited++
				summary, _ := r.expectError(t, "over the limit", http.StatusTooManyRequests, "E0000047")
				if !strings.Contains(summary, "rate limit") {
					t.Errorf("429 summary %q", summary)
				}
				a.checkRateHeaders("refused", r, limit, 0)
				date, err := http.ParseTime(r.header.Get("Date"))
				if err != nil || date.Sub(a.Clock.Now()).Abs() > 2*time.Second {
					t.Errorf("429 Date %q: %v", r.header.Get("Date"), err)
				}
				reset, _ := strconv.ParseInt(r.header.Get("X-Rate-Limit-Reset"), 10, 64)
				if wait := reset - date.Unix(); err == nil && (wait < 0 || wait > 60) {
					t.Errorf("429: Reset - Date = %ds, want 0 to 60", wait)
				}
			default:
				t.Errorf("request %d: %d %s", i, r.status, r.body)
			}
		}
		slices.Sort(remaining)
		if ok != limit || limited != n-limit || !slices.Equal(remaining, []int{0, 1, 2, 3, 4, 5}) {
			t.Errorf("%d parallel requests on two nodes: %d admitted (remaining %v), %d refused; want %d admitted (5…0)", n, ok, remaining, limited, limit)
		}
		// Another token has its own budget.
		other, _ := a.token("other", true)
		if r := b.get("/api/v1/users", other); r.status != http.StatusOK {
			t.Errorf("another token: %d", r.status)
		}

		// Requests without a valid token are counted per client IP.
		var codes []int
		for range 12 {
			codes = append(codes, a.do(http.MethodGet, "/api/v1/users", "SSWS nope", nil, "X-Forwarded-For", "192.0.2.7").status)
		}
		want := append(slices.Repeat([]int{401}, 10), 429, 429)
		if !slices.Equal(codes, want) {
			t.Errorf("12 requests with a wrong token: %v, want %v", codes, want)
		}
		if r := a.do(http.MethodGet, "/api/v1/users", "SSWS nope", nil, "X-Forwarded-For", "192.0.2.8"); r.status != http.StatusUnauthorized {
			t.Errorf("a wrong token from another address: %d", r.status)
		}
	})
}

// seed stores users for the listing tests and returns their logins in order.
func seed(t *testing.T, st store.Store) []string {
	t.Helper()
	now := time.Now().Truncate(time.Millisecond)
	people := []struct {
		login, given, family string
		disabled, password   bool
	}{
		{"alice@example.com", "Alice", "Archer", false, true},
		{"bob@example.com", "Bob", "Alison", false, true},
		{"carol@example.org", "Carol", "Baker", true, true},
		{"dan@example.com", "Dan", "Crane", false, false},
		{"erin@example.com", "Erin", "Drake", false, true},
		{"frank@example.net", "Frank", "Ali", false, true},
		{"grace@example.com", "", "", false, true},
	}
	var records []store.UserRecord
	var logins []string
	for i, p := range people {
		u := store.User{ID: fmt.Sprintf("00u%02dseed", i), Login: p.login, Email: p.login, GivenName: p.given, FamilyName: p.family,
			Disabled: p.disabled, CreatedAt: now.Add(-time.Hour), UpdatedAt: now}
		rec := store.UserRecord{User: u}
		if p.password {
			rec.Password = &store.PasswordCredential{UserID: u.ID, Hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", UpdatedAt: now.Add(-time.Minute)}
		}
		records = append(records, rec)
		logins = append(logins, p.login)
	}
	if err := st.ImportUsers(t.Context(), records); err != nil {
		t.Fatal(err)
	}
	return logins
}

// userLogins decodes a list of users and returns their logins.
func userLogins(t *testing.T, r answer) []string {
	t.Helper()
	var users []struct {
		Profile struct {
			Login string `json:"login"`
		} `json:"profile"`
	}
	if err := json.Unmarshal(r.body, &users); err != nil {
		t.Fatalf("a list of users: %v: %s", err, r.body)
	}
	logins := []string{}
	for _, u := range users {
		logins = append(logins, u.Profile.Login)
	}
	return logins
}

var linkPattern = regexp.MustCompile(`^<([^>]+)>; rel="(self|next)"$`)

// links reads the Link headers, one per relation as Okta sends them.
func links(t *testing.T, r answer) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, v := range r.header.Values("Link") {
		m := linkPattern.FindStringSubmatch(v)
		if m == nil {
			t.Fatalf("Link header %q is not <url>; rel=\"self|next\"", v)
		}
		if _, dup := out[m[2]]; dup {
			t.Fatalf("two Link headers with rel=%q", m[2])
		}
		out[m[2]] = m[1]
	}
	if out["self"] == "" {
		t.Errorf("no self link in %q", r.header.Values("Link"))
	}
	return out
}

func TestListUsers(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		a := start(t, o, 1000, 50)
		token, _ := a.token("reader", true)
		all := seed(t, a.Store)

		// Pages of 3, following the next links as Okta's SDKs do.
		var got []string
		next := "/api/v1/users?limit=3"
		for pages := 0; next != ""; pages++ {
			if pages > len(all) {
				t.Fatal("the next links do not end")
			}
			r := a.get(next, token)
			if r.status != http.StatusOK {
				t.Fatalf("GET %s: %d %s", next, r.status, r.body)
			}
			page := userLogins(t, r)
			if len(page) > 3 || len(page) == 0 {
				t.Fatalf("GET %s: %d users", next, len(page))
			}
			got = append(got, page...)
			l := links(t, r)
			if !strings.HasPrefix(l["self"], a.URL+"/api/v1/users?") {
				t.Errorf("self link %q is not on the issuer's origin", l["self"])
			}
			next = ""
			if n := l["next"]; n != "" {
				if !strings.HasPrefix(n, a.URL+"/api/v1/users?") || !strings.Contains(n, "limit=3") {
					t.Errorf("next link %q", n)
				}
				next = strings.TrimPrefix(n, a.URL)
			}
		}
		if !slices.Equal(got, all) {
			t.Errorf("paging by 3: %q, want %q", got, all)
		}

		// Limits: 200 by default and at most; a page that holds everything has no next.
		for query, want := range map[string]string{"": "limit=200", "?limit=500": "limit=200", "?limit=7": "limit=7"} {
			r := a.get("/api/v1/users"+query, token)
			l := links(t, r)
			if !slices.Equal(userLogins(t, r), all) || !strings.Contains(l["self"], want) || l["next"] != "" {
				t.Errorf("GET /api/v1/users%s: %q, links %v", query, userLogins(t, r), l)
			}
		}

		// Bad paging parameters.
		for _, q := range []string{"limit=0", "limit=-1", "limit=abc", "limit=1.5", "after=%25%25", "after=!!!",
			"after=" + url.QueryEscape("QUxJQ0U"), "after=" + strings.Repeat("A", 400), "after=00u00seed", "after=" + url.QueryEscape("YWxpY2VAZXhhbXBsZS5jb20\n"), "after=AA", "q=" + strings.Repeat("a", 300)} {
			r := a.get("/api/v1/users?"+q, token)
			r.expectError(t, q, http.StatusBadRequest, "E0000001")
		}

		// q: the start of login, email, first or last name, any case of ASCII letters.
		for q, want := range map[string][]string{
			"ali":             {"alice@example.com", "bob@example.com", "frank@example.net"},
			"ALI":             {"alice@example.com", "bob@example.com", "frank@example.net"},
			"carol@":          {"carol@example.org"},
			"example.com":     {},
			"%":               {},
			"d":               {"dan@example.com", "erin@example.com"},
			"bob@example.com": {"bob@example.com"},
		} {
			r := a.get("/api/v1/users?q="+url.QueryEscape(q), token)
			if got := userLogins(t, r); !slices.Equal(got, want) {
				t.Errorf("q=%s: %q, want %q", q, got, want)
			}
		}
		// q with paging.
		r := a.get("/api/v1/users?q=ali&limit=2", token)
		l := links(t, r)
		if got := userLogins(t, r); !slices.Equal(got, []string{"alice@example.com", "bob@example.com"}) || !strings.Contains(l["next"], "q=ali") {
			t.Errorf("q=ali&limit=2: %q, links %v", got, l)
		}
		if got := userLogins(t, a.get(strings.TrimPrefix(l["next"], a.URL), token)); !slices.Equal(got, []string{"frank@example.net"}) {
			t.Errorf("q=ali, second page: %q", got)
		}

		// search and filter.
		active := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == "carol@example.org" })
		for expr, want := range map[string][]string{
			`profile.login eq "bob@example.com"`:                                 {"bob@example.com"},
			`profile.login eq "BOB@example.com"`:                                 {"bob@example.com"},
			`profile.login eq "nobody@example.com"`:                              {},
			`status eq "DEPROVISIONED"`:                                          {"carol@example.org"},
			`status eq "ACTIVE"`:                                                 active,
			`status eq "ACTIVE" and profile.login eq "carol@example.org"`:        {},
			`profile.login eq "carol@example.org" AND status EQ "DEPROVISIONED"`: {"carol@example.org"},
		} {
			for _, param := range []string{"search", "filter"} {
				r := a.get("/api/v1/users?"+param+"="+url.QueryEscape(expr), token)
				if r.status != http.StatusOK {
					t.Errorf("%s=%s: %d %s", param, expr, r.status, r.body)
					continue
				}
				if got := userLogins(t, r); !slices.Equal(got, want) {
					t.Errorf("%s=%s: %q, want %q", param, expr, got, want)
				}
			}
		}
		r = a.get("/api/v1/users?limit=2&search="+url.QueryEscape(`status eq "ACTIVE"`), token)
		if l := links(t, r); !strings.Contains(l["next"], "search=") || !slices.Equal(userLogins(t, r), active[:2]) {
			t.Errorf("search with paging: %q, links %v", userLogins(t, r), l)
		}

		for _, bad := range []string{
			`profile.email eq "bob@example.com"`,
			`status eq "LOCKED_OUT"`,
			`status eq "suspended"`,
			`status eq ACTIVE`,
			`profile.login sw "a"`,
			`profile.login eq "a" or status eq "ACTIVE"`,
			`profile.login eq "a" and`,
			`profile.login eq "a`,
			`status eq "ACTIVE" and status eq "ACTIVE"`,
			`"; DROP TABLE users; --`,
			`profile.login eq "a"; DELETE FROM users`,
			`profile.login eq "x" or 1=1`,
			`status eq "ACTIVE" "x"`,
			`status eq "ACTIVE" and "x"`,
			`profile.login eq "a\x"`,
			strings.Repeat(`status eq "ACTIVE" and `, 100) + `status eq "ACTIVE"`,
		} {
			a.get("/api/v1/users?search="+url.QueryEscape(bad), token).expectError(t, "search "+bad, http.StatusBadRequest, "E0000031")
		}
		for _, q := range []string{"q=a&search=" + url.QueryEscape(`status eq "ACTIVE"`), "sortBy=profile.lastName", "sortOrder=desc"} {
			a.get("/api/v1/users?"+q, token).expectError(t, q, http.StatusBadRequest, "E0000031")
		}
		// Nothing the refused requests asked changed anything.
		if got := userLogins(t, a.get("/api/v1/users", token)); !slices.Equal(got, all) {
			t.Errorf("users after the refused requests: %q", got)
		}
	})
}

func TestGetUser(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		a := start(t, o, 1000, 50)
		token, _ := a.token("reader", true)
		seed(t, a.Store)
		stored, err := a.Store.GetUserByLogin(t.Context(), "alice@example.com")
		if err != nil {
			t.Fatal(err)
		}
		pw, err := a.Store.GetPassword(t.Context(), stored.ID)
		if err != nil {
			t.Fatal(err)
		}
		okta := func(tm time.Time) string { return tm.UTC().Format("2006-01-02T15:04:05.000Z") }
		want := fmt.Sprintf(`{"id":%q,"status":"ACTIVE","created":%q,"activated":%q,"statusChanged":null,"lastLogin":null,`+
			`"lastUpdated":%q,"passwordChanged":%q,"type":{"id":"otyDefault0000000000"},`+
			`"profile":{"login":"alice@example.com","email":"alice@example.com","firstName":"Alice","lastName":"Archer","locale":null},`+
			`"credentials":{"password":{},"provider":{"type":"OKTA","name":"OKTA"}},"_links":{`+
			`"deactivate":{"href":"%[6]s/lifecycle/deactivate","method":"POST"},`+
			`"expirePassword":{"href":"%[6]s/lifecycle/expire_password","method":"POST"},`+
			`"resetFactors":{"href":"%[6]s/lifecycle/reset_factors","method":"POST"},`+
			`"self":{"href":"%[6]s"},"suspend":{"href":"%[6]s/lifecycle/suspend","method":"POST"}}}`,
			stored.ID, okta(stored.CreatedAt), okta(stored.CreatedAt), okta(stored.UpdatedAt), okta(pw.UpdatedAt),
			a.URL+"/api/v1/users/"+stored.ID)
		for _, key := range []string{stored.ID, "alice@example.com", "Alice@Example.com", url.PathEscape("alice@example.com")} {
			r := a.get("/api/v1/users/"+key, token)
			if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != want {
				t.Errorf("GET /api/v1/users/%s: %d\n got %s\nwant %s", key, r.status, r.body, want)
			}
		}
		// A user in the list looks the same.
		list := a.get("/api/v1/users?search="+url.QueryEscape(`profile.login eq "alice@example.com"`), token)
		if strings.TrimSpace(string(list.body)) != "["+want+"]" {
			t.Errorf("alice in a list: %s", list.body)
		}

		// A deprovisioned user, a user without a password, a user without names.
		for login, check := range map[string]func(map[string]any) bool{
			"carol@example.org": func(u map[string]any) bool { return u["status"] == "DEPROVISIONED" && u["activated"] == nil },
			"dan@example.com": func(u map[string]any) bool {
				c := u["credentials"].(map[string]any)
				_, has := c["password"]
				return !has && u["passwordChanged"] == nil && u["status"] == "ACTIVE"
			},
			"grace@example.com": func(u map[string]any) bool {
				p := u["profile"].(map[string]any)
				v, has := p["firstName"]
				return has && v == nil && p["lastName"] == nil
			},
		} {
			r := a.get("/api/v1/users/"+login, token)
			var u map[string]any
			if err := json.Unmarshal(r.body, &u); err != nil || r.status != http.StatusOK || !check(u) {
				t.Errorf("GET /api/v1/users/%s: %d %s", login, r.status, r.body)
			}
		}

		for _, key := range []string{"nobody@example.com", "00u000000000", url.PathEscape(`"'<>`)} {
			summary, _ := a.get("/api/v1/users/"+key, token).expectError(t, key, http.StatusNotFound, "E0000007")
			if !strings.HasSuffix(summary, "(User)") {
				t.Errorf("404 summary %q", summary)
			}
		}
	})
}
