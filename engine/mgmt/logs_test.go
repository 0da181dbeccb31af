package mgmt_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/gatehouse-id/gatehouse/engine/account"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// logEvent is the part of a LogEvent the tests read, decoded from the API's JSON.
type logEvent struct {
	UUID      string `json:"uuid"`
	Published string `json:"published"`
	EventType string `json:"eventType"`
	Version   string `json:"version"`
	Severity  string `json:"severity"`
	Actor     struct {
		ID, Type, AlternateID, DisplayName string
	} `json:"actor"`
	Client struct {
		IPAddress string `json:"ipAddress"`
		UserAgent struct {
			RawUserAgent string `json:"rawUserAgent"`
		} `json:"userAgent"`
	} `json:"client"`
	Outcome struct {
		Result string `json:"result"`
		Reason string `json:"reason"`
	} `json:"outcome"`
	Target []struct {
		ID, Type, AlternateID, DisplayName string
	} `json:"target"`
	Transaction struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"transaction"`
	AuthenticationContext struct {
		ExternalSessionID string `json:"externalSessionId"`
	} `json:"authenticationContext"`
	DebugContext struct {
		DebugData map[string]string `json:"debugData"`
	} `json:"debugContext"`
}

func (e logEvent) String() string {
	return e.EventType + " " + e.Outcome.Result
}

// logs reads one page of GET /api/v1/logs?query.
func (a *api) logs(token string, query url.Values) ([]logEvent, answer) {
	a.t.Helper()
	r := a.get("/api/v1/logs?"+query.Encode(), token)
	if r.status != http.StatusOK {
		a.t.Fatalf("GET /api/v1/logs?%s: %d %s", query.Encode(), r.status, r.body)
	}
	var events []logEvent
	if err := json.Unmarshal(r.body, &events); err != nil {
		a.t.Fatalf("GET /api/v1/logs: %v: %s", err, r.body)
	}
	return events, r
}

// waitForEvent polls the log until an event matching filter is there.
func (a *api) waitForEvent(token, filter string) logEvent {
	a.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		events, _ := a.logs(token, url.Values{"filter": {filter}})
		if len(events) > 0 {
			return events[0]
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("no event matches %s", filter)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSignInEventsInTheSystemLog signs a user in through the IDX flow, with a wrong
// password and a wrong code on the way, redeems the code for tokens, and finds each
// step's event in GET /api/v1/logs, in order, all with the sign-in's
// externalSessionId; then checks that nothing secret reached the log.
func TestSignInEventsInTheSystemLog(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		a := start(t, o, 1000, 300)
		token, tokenID := a.token("auditor", true)
		const number = "+14155550123"
		user := a.CreateUser(t, "alice@example.com", number)

		f := a.Interact(t)
		enginetest.Expect(t, "wrong password", http.StatusUnauthorized)(f.Identify("alice@example.com", "not the password"))
		enginetest.Expect(t, "identify", http.StatusOK)(f.Identify("alice@example.com", enginetest.Password))
		enginetest.Expect(t, "select phone", http.StatusOK)(f.ChoosePhone())
		enginetest.Expect(t, "choose sms", http.StatusOK)(f.ChooseMethod("sms"))
		code := a.LatestCode(t, number)
		enginetest.Expect(t, "wrong code", http.StatusUnauthorized)(f.Answer("12345"))
		enginetest.Expect(t, "answer", http.StatusOK)(f.Answer(code))
		status, tokens := f.Redeem()
		if status != http.StatusOK {
			t.Fatalf("token: %d %v", status, tokens)
		}

		started := a.waitForEvent(token, `eventType eq "policy.evaluate_sign_on"`)
		session := started.AuthenticationContext.ExternalSessionID
		if !strings.HasPrefix(session, "ftx") {
			t.Fatalf("the sign-in's externalSessionId is %q", session)
		}
		// The code's delivery is the outbox's, recorded when the worker is done.
		delivered := a.waitForEvent(token, `eventType eq "system.sms.send_factor_verify_message" and outcome.result eq "SUCCESS"`)

		events, _ := a.logs(token, url.Values{"filter": {`authenticationContext.externalSessionId eq "` + session + `"`}})
		var web []string
		sentAt, deliveredAt := -1, -1
		for i, e := range events {
			if e.AuthenticationContext.ExternalSessionID != session {
				t.Errorf("event %s of another sign-in: %q", e, e.AuthenticationContext.ExternalSessionID)
			}
			if e.Version != "0" || e.UUID == "" || e.Published == "" {
				t.Errorf("event %s: version %q uuid %q published %q", e, e.Version, e.UUID, e.Published)
			}
			if e.Transaction.Type == "JOB" {
				deliveredAt = i
				continue
			}
			if e.Transaction.Type != "WEB" || e.Transaction.ID == "" {
				t.Errorf("event %s: transaction %+v", e, e.Transaction)
			}
			if e.Client.IPAddress != "127.0.0.1" || e.Client.UserAgent.RawUserAgent == "" {
				t.Errorf("event %s: client %+v", e, e.Client)
			}
			if e.EventType == "system.sms.send_factor_verify_message" {
				sentAt = i
			}
			web = append(web, e.String())
		}
		want := []string{
			"policy.evaluate_sign_on ALLOW",
			"user.session.start FAILURE",
			"user.session.start SUCCESS",
			"system.sms.send_factor_verify_message ALLOW",
			"user.authentication.auth_via_mfa FAILURE",
			"user.authentication.auth_via_mfa SUCCESS",
			"app.oauth2.token.grant.access_token SUCCESS",
			"app.oauth2.token.grant.id_token SUCCESS",
			"app.oauth2.token.grant.refresh_token SUCCESS",
		}
		if !slices.Equal(web, want) {
			t.Fatalf("the sign-in's events:\n  %s\nwant\n  %s", strings.Join(web, "\n  "), strings.Join(want, "\n  "))
		}
		if deliveredAt < sentAt || delivered.UUID != events[deliveredAt].UUID {
			t.Errorf("the delivery event (at %d) does not follow the send (at %d)", deliveredAt, sentAt)
		}
		byType := map[string]logEvent{}
		for _, e := range events {
			byType[e.String()] = e
		}
		for _, k := range want[2:] {
			if e := byType[k]; e.Actor.ID != user.ID || e.Actor.Type != "User" || e.Actor.AlternateID != "alice@example.com" && e.Actor.AlternateID != "" {
				t.Errorf("%s: actor %+v, want the user", k, e.Actor)
			}
		}
		if got := byType["user.session.start FAILURE"]; got.Outcome.Reason != "INVALID_CREDENTIALS" || got.Severity != "WARN" {
			t.Errorf("wrong password: %+v", got.Outcome)
		}
		if got := byType["system.sms.send_factor_verify_message ALLOW"].DebugContext.DebugData["phoneNumber"]; got != "+1 XXX-XXX-0123" {
			t.Errorf("the number in the send event: %q, want it masked", got)
		}
		if byType["user.authentication.auth_via_mfa FAILURE"].Transaction.ID == byType["user.authentication.auth_via_mfa SUCCESS"].Transaction.ID {
			t.Error("two requests share a transaction id")
		}
		if got := byType["policy.evaluate_sign_on ALLOW"].Target; len(got) != 1 || got[0].ID != enginetest.ClientID {
			t.Errorf("sign-in started: targets %+v, want the app", got)
		}

		// The auditor's own token is in the log: used (once), and a request without
		// one refused.
		a.do(http.MethodGet, "/api/v1/logs", "SSWS nope", nil)
		used, _ := a.logs(token, url.Values{"filter": {`eventType eq "system.api_token.authenticate"`}})
		var outcomes []string
		for _, e := range used {
			outcomes = append(outcomes, e.Outcome.Result)
			if e.Outcome.Result == "SUCCESS" && (e.Actor.ID != tokenID || e.Actor.Type != "ApiToken") {
				t.Errorf("token use: actor %+v", e.Actor)
			}
		}
		if !slices.Equal(outcomes, []string{"SUCCESS", "FAILURE"}) {
			t.Errorf("API token events: %v, want one use and one refusal", outcomes)
		}

		// Nothing secret in the whole log.
		_, all := a.logs(token, url.Values{"limit": {"1000"}})
		secrets := map[string]string{
			"the password": enginetest.Password, "the wrong password": "not the password", "the API token": token,
			"the phone number": number, "the phone number's digits": strings.TrimPrefix(number, "+"),
			"the interaction handle": f.InteractionHandle, "the state handle": f.StateHandle, "the PKCE verifier": f.PKCE.Verifier,
		}
		for _, k := range []string{"access_token", "id_token", "refresh_token"} {
			secrets["the "+k] = tokens[k].(string)
		}
		for what, secret := range secrets {
			if secret == "" {
				t.Fatalf("%s is empty", what)
			}
			if strings.Contains(string(all.body), secret) {
				t.Errorf("%s is in the system log", what)
			}
		}
		for what, c := range map[string]string{"the code": code, "the wrong code": "12345"} {
			if regexp.MustCompile(`[^0-9A-Za-z]` + c + `[^0-9A-Za-z]`).Match(all.body) {
				t.Errorf("%s is in the system log", what)
			}
		}
	})
}

// TestFailedWritesLeaveNoEvent: a change refused, or failing in the database,
// leaves no event behind.
func TestFailedWritesLeaveNoEvent(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		a := start(t, o, 1000, 300)
		token, _ := a.token("auditor", true)
		ctx := t.Context()
		accounts := a.Engine.Accounts()

		// A taken login and a phone the user has already: refused, not recorded.
		u, err := accounts.Create(ctx, account.NewUser{Login: "bob@example.com", Password: enginetest.Password, Phone: "+14155550188"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := accounts.Create(ctx, account.NewUser{Login: "BOB@example.com"}); err != account.ErrLoginTaken {
			t.Fatalf("second create: %v", err)
		}
		if _, err := accounts.AddPhone(ctx, u.ID, "+14155550188", account.PhoneOptions{SMS: true}); err != account.ErrPhoneTaken {
			t.Fatalf("second phone: %v", err)
		}
		if _, _, err := accounts.RemovePhone(ctx, u.ID, "+14155550199"); err != account.ErrNoSuchPhone {
			t.Fatalf("removing a phone the user does not have: %v", err)
		}
		events, _ := a.logs(token, url.Values{"filter": {`target.id eq "` + u.ID + `"`}})
		var got []string
		for _, e := range events {
			got = append(got, e.String())
		}
		want := []string{"user.lifecycle.create SUCCESS", "user.mfa.factor.activate SUCCESS"}
		if !slices.Equal(got, want) {
			t.Errorf("events about the user: %v, want %v", got, want)
		}

		// One right code answered twice at once: one use, one event.
		f := a.Interact(t)
		enginetest.Expect(t, "identify", http.StatusOK)(f.Identify("bob@example.com", enginetest.Password))
		enginetest.Expect(t, "select phone", http.StatusOK)(f.ChoosePhone())
		enginetest.Expect(t, "choose sms", http.StatusOK)(f.ChooseMethod("sms"))
		code := a.LatestCode(t, "+14155550188")
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i := range statuses {
			wg.Go(func() {
				body, _ := json.Marshal(map[string]any{"credentials": map[string]any{"passcode": code}, "stateHandle": f.StateHandle})
				resp, err := http.Post(a.URL+"/idp/idx/challenge/answer", "application/json", strings.NewReader(string(body)))
				if err == nil {
					statuses[i] = resp.StatusCode
					resp.Body.Close()
				}
			})
		}
		wg.Wait()
		mfa, _ := a.logs(token, url.Values{"filter": {`eventType eq "user.authentication.auth_via_mfa" and outcome.result eq "SUCCESS"`}})
		if len(mfa) != 1 {
			t.Errorf("one code answered twice (%v): %d successes in the log, want 1", statuses, len(mfa))
		}

		// The database refuses refresh tokens: the token endpoint fails, and no
		// token is in the log as granted.
		injectFailure(t, a.Config.Database)
		a.Clock.Advance(time.Minute) // past the least time between two codes to one number
		f = a.Interact(t)
		enginetest.Expect(t, "identify", http.StatusOK)(f.Identify("bob@example.com", enginetest.Password))
		enginetest.Expect(t, "select phone", http.StatusOK)(f.ChoosePhone())
		enginetest.Expect(t, "choose sms", http.StatusOK)(f.ChooseMethod("sms"))
		enginetest.Expect(t, "answer", http.StatusOK)(f.Answer(a.LatestCode(t, "+14155550188")))
		if status, body := f.Redeem(); status != http.StatusInternalServerError {
			t.Fatalf("token with refresh tokens refused by the database: %d %v", status, body)
		}
		grants, _ := a.logs(token, url.Values{"filter": {`eventType eq "app.oauth2.token.grant.access_token" or eventType eq "app.oauth2.token.grant.refresh_token"`}})
		if len(grants) != 0 {
			t.Errorf("grants recorded although the database refused the tokens: %v", grants)
		}
	})
}

// injectFailure makes the database refuse every new refresh token, with a trigger.
func injectFailure(t *testing.T, database string) {
	t.Helper()
	driver, target, err := config.ParseDatabase(database)
	if err != nil {
		t.Fatal(err)
	}
	var db *sql.DB
	var stmts []string
	switch driver {
	case "postgres":
		db, err = sql.Open("pgx", target)
		stmts = []string{
			`CREATE FUNCTION injected_failure() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$`,
			`CREATE TRIGGER injected_failure BEFORE INSERT ON refresh_tokens FOR EACH ROW EXECUTE FUNCTION injected_failure()`,
		}
	default:
		db, err = sql.Open("sqlite", "file:"+target+"?_pragma=busy_timeout(10000)")
		stmts = []string{`CREATE TRIGGER injected_failure BEFORE INSERT ON refresh_tokens BEGIN SELECT RAISE(ABORT, 'injected failure'); END`}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("injecting a failure: %v", err)
		}
	}
}

// TestLogsQuery: paging with Link headers both ways, since and until, keywords,
// and Okta's 400 for every malformed parameter, which changes nothing.
func TestLogsQuery(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		a := start(t, o, 1000, 300)
		token, _ := a.token("auditor", true)
		// Events of their own, a minute back, seven of them in one millisecond.
		base := a.Clock.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
		var appended []store.LogEvent
		for i := range 12 {
			e := store.LogEvent{UUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Published: base.Add(time.Duration(max(i-5, 0)) * time.Millisecond),
				EventType: "test.event", Version: "0", Severity: "INFO", DisplayMessage: fmt.Sprintf("Event number %d", i),
				Outcome: store.LogOutcome{Result: "SUCCESS"}}
			if i%3 == 0 {
				e.Outcome.Result = "FAILURE"
				e.DisplayMessage += " Special_Word"
			}
			appended = append(appended, e)
		}
		if err := a.Store.AppendEvents(t.Context(), appended, nil); err != nil {
			t.Fatal(err)
		}
		since := base.Format(time.RFC3339Nano)
		until := base.Add(time.Second).Format(time.RFC3339Nano)
		uuidsOf := func(events []logEvent) []string {
			var out []string
			for _, e := range events {
				out = append(out, e.UUID)
			}
			return out
		}
		var want []string
		for _, e := range appended {
			want = append(want, e.UUID)
		}

		for _, order := range []string{"ASCENDING", "DESCENDING"} {
			var got []string
			next := "/api/v1/logs?" + url.Values{"since": {since}, "until": {until}, "limit": {"5"}, "sortOrder": {order}}.Encode()
			for pages := 0; next != ""; pages++ {
				if pages > 5 {
					t.Fatalf("%s: too many pages", order)
				}
				r := a.get(strings.TrimPrefix(next, a.URL), token)
				if r.status != http.StatusOK {
					t.Fatalf("%s: %s: %d %s", order, next, r.status, r.body)
				}
				var events []logEvent
				if err := json.Unmarshal(r.body, &events); err != nil {
					t.Fatal(err)
				}
				got = append(got, uuidsOf(events)...)
				next = links(t, r)["next"]
			}
			w := slices.Clone(want)
			if order == "DESCENDING" {
				slices.Reverse(w)
			}
			if !slices.Equal(got, w) {
				t.Errorf("%s pages:\n got %v\nwant %v", order, got, w)
			}
		}

		events, _ := a.logs(token, url.Values{"since": {base.Add(5 * time.Millisecond).Format(time.RFC3339Nano)}, "until": {base.Add(7 * time.Millisecond).Format(time.RFC3339Nano)}})
		// Events 0 to 5 are at base, then one a millisecond: 10 at +5ms, 11 at +6ms.
		if got := uuidsOf(events); !slices.Equal(got, want[10:12]) {
			t.Errorf("since/until: %v, want %v", got, want[10:12])
		}
		events, _ = a.logs(token, url.Values{"since": {since}, "q": {"special_word number"}})
		if got := uuidsOf(events); !slices.Equal(got, []string{want[0], want[3], want[6], want[9]}) {
			t.Errorf("q: %v", got)
		}
		events, _ = a.logs(token, url.Values{"since": {since}, "filter": {`eventType eq "test.event" and outcome.result eq "FAILURE"`}})
		if got := uuidsOf(events); !slices.Equal(got, []string{want[0], want[3], want[6], want[9]}) {
			t.Errorf("filter: %v", got)
		}
		// Without since, the last seven days.
		events, _ = a.logs(token, url.Values{"filter": {`eventType eq "test.event"`}})
		if len(events) != 12 {
			t.Errorf("without since: %d events", len(events))
		}

		for _, c := range []struct {
			query url.Values
			code  string
		}{
			{url.Values{"filter": {`eventType eq "x" or 1=1`}}, "E0000031"},
			{url.Values{"filter": {`eventType eq "x"; DROP TABLE system_log; --`}}, "E0000031"},
			{url.Values{"filter": {`eventType eq "x' OR '1'='1"`}}, ""}, // a value, matched as one: no event
			{url.Values{"filter": {`published gt "2020-01-01T00:00:00Z"`}}, "E0000031"},
			{url.Values{"filter": {`eventType sw "user"`}}, "E0000031"},
			{url.Values{"filter": {`(eventType eq "x"`}}, "E0000031"},
			{url.Values{"filter": {strings.Repeat("x", 2000)}}, "E0000031"},
			{url.Values{"q": {strings.Repeat("a ", 11)}}, "E0000031"},
			{url.Values{"q": {strings.Repeat("a", 41)}}, "E0000031"},
			{url.Values{"after": {"nope"}}, "E0000001"},
			{url.Values{"after": {"MTcwMDAwMDAwMDAwMC4w"}}, "E0000001"},   // "1700000000000.0"
			{url.Values{"after": {"LTEuNQ"}}, "E0000001"},                 // "-1.5"
			{url.Values{"after": {"MDEyMy40"}}, "E0000001"},               // "0123.4": not the one encoding
			{url.Values{"after": {"MTcwMDAwMDAwMDAwMC41=="}}, "E0000001"}, // padded
			{url.Values{"after": {strings.Repeat("A", 100)}}, "E0000001"},
			{url.Values{"since": {"yesterday"}}, "E0000001"},
			{url.Values{"since": {until}, "until": {since}}, "E0000001"},
			{url.Values{"limit": {"0"}}, "E0000001"},
			{url.Values{"limit": {"ten"}}, "E0000001"},
			{url.Values{"sortOrder": {"RANDOM"}}, "E0000001"},
		} {
			r := a.get("/api/v1/logs?"+c.query.Encode(), token)
			if c.code == "" {
				if r.status != http.StatusOK || string(r.body) != "[]\n" {
					t.Errorf("%v: %d %s", c.query, r.status, r.body)
				}
				continue
			}
			r.expectError(t, c.query.Encode(), http.StatusBadRequest, c.code)
		}
		// The log is as it was.
		events, _ = a.logs(token, url.Values{"since": {since}, "filter": {`eventType eq "test.event"`}, "limit": {"1000"}})
		if len(events) != 12 {
			t.Errorf("after the bad requests: %d events", len(events))
		}
	})
}

// TestRateLimitViolationRecordedOnce: a token over its budget is refused each
// time, and the violation is in the log once for the window.
func TestRateLimitViolationRecordedOnce(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		a := start(t, o, 2, 300)
		busy, busyID := a.token("busy", true)
		auditor, _ := a.token("auditor", true)
		for i := range 5 {
			r := a.get("/api/v1/users", busy)
			if want := map[bool]int{true: 200, false: 429}[i < 2]; r.status != want {
				t.Fatalf("request %d: %d, want %d", i, r.status, want)
			}
		}
		events, _ := a.logs(auditor, url.Values{"filter": {`eventType eq "system.org.rate_limit.violation"`}})
		if len(events) != 1 || events[0].Actor.ID != busyID || events[0].Outcome.Result != "DENY" ||
			events[0].DebugContext.DebugData["limit"] != "management_api.rate_limit_per_minute" {
			t.Errorf("rate limit violations: %+v", events)
		}
	})
}

// enrollOptionID is the id of the Phone option of select-authenticator-enroll.
func enrollOptionID(t *testing.T, f *enginetest.Flow) string {
	t.Helper()
	for _, fld := range f.Remediation("select-authenticator-enroll")["value"].([]any) {
		fm := fld.(map[string]any)
		if fm["name"] != "authenticator" {
			continue
		}
		for _, o := range fm["options"].([]any) {
			o := o.(map[string]any)
			if o["label"] != "Phone" {
				continue
			}
			for _, v := range o["value"].(map[string]any)["form"].(map[string]any)["value"].([]any) {
				if v := v.(map[string]any); v["name"] == "id" {
					return v["value"].(string)
				}
			}
		}
	}
	t.Fatal("no Phone option to enroll")
	return ""
}

// TestEnrollAndLockEvents: a phone enrolled while signing in is in the log
// (masked), and so is the lockout after too many wrong codes, with each wrong code.
func TestEnrollAndLockEvents(t *testing.T) {
	a := start(t, enginetest.Options{}, 1000, 300)
	token, _ := a.token("auditor", true)
	user := a.CreateUser(t, "frank@example.com", "")
	const number = "+14155550177"

	f := a.Interact(t)
	enginetest.Expect(t, "identify", http.StatusOK)(f.Identify("frank@example.com", enginetest.Password))
	enginetest.Expect(t, "choose phone", http.StatusOK)(f.Submit("select-authenticator-enroll", map[string]any{"authenticator": map[string]any{
		"id": enrollOptionID(t, f), "methodType": "sms", "phoneNumber": number}}))
	enginetest.Expect(t, "code", http.StatusOK)(f.Answer(a.LatestCode(t, number)))
	activated := a.waitForEvent(token, `eventType eq "user.mfa.factor.activate"`)
	if activated.AuthenticationContext.ExternalSessionID == "" || activated.Actor.ID != user.ID || len(activated.Target) != 2 ||
		activated.Target[0].ID != user.ID || activated.Target[1].Type != "AuthenticatorEnrollment" || activated.Target[1].ID == "" {
		t.Errorf("factor activated: %+v", activated)
	}
	_, all := a.logs(token, url.Values{"limit": {"1000"}})
	if strings.Contains(string(all.body), strings.TrimPrefix(number, "+")) {
		t.Error("the enrolled number is in the log")
	}

	a.Clock.Advance(time.Minute)
	g := a.Interact(t)
	enginetest.Expect(t, "identify", http.StatusOK)(g.Identify("frank@example.com", enginetest.Password))
	enginetest.Expect(t, "select phone", http.StatusOK)(g.ChoosePhone())
	enginetest.Expect(t, "choose sms", http.StatusOK)(g.ChooseMethod("sms"))
	max := a.Config.Phone.MaxAttempts
	for i := range max {
		status, _ := g.Answer("12345")
		if want := map[bool]int{true: http.StatusUnauthorized, false: http.StatusTooManyRequests}[i < max-1]; status != want {
			t.Fatalf("wrong code %d: %d, want %d", i+1, status, want)
		}
	}
	locks, _ := a.logs(token, url.Values{"filter": {`eventType eq "user.account.lock"`}})
	failures, _ := a.logs(token, url.Values{"filter": {`eventType eq "user.authentication.auth_via_mfa" and outcome.result eq "FAILURE"`}})
	if len(locks) != 1 || locks[0].Actor.ID != user.ID || len(failures) != max ||
		locks[0].AuthenticationContext.ExternalSessionID != failures[max-1].AuthenticationContext.ExternalSessionID ||
		locks[0].Transaction.ID != failures[max-1].Transaction.ID {
		t.Errorf("lock %+v after %d wrong codes in the log", locks, len(failures))
	}
}

// TestRetention: garbage collection deletes events older than
// system_log.retention and keeps the others.
func TestRetention(t *testing.T) {
	o := enginetest.Options{Configure: func(c *config.Config) {
		c.ManagementAPI.Enabled = true
		c.SystemLog.Retention = 30 * 24 * time.Hour
	}}
	a := &api{Harness: enginetest.Start(t, o), t: t}
	token, _ := a.token("auditor", true)
	now := a.Clock.Now().UTC().Truncate(time.Millisecond)
	var events []store.LogEvent
	for i, age := range []time.Duration{31 * 24 * time.Hour, 30*24*time.Hour + time.Second, 29 * 24 * time.Hour} {
		events = append(events, store.LogEvent{UUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Published: now.Add(-age),
			EventType: "test.event", Version: "0", Severity: "INFO", Outcome: store.LogOutcome{Result: "SUCCESS"}})
	}
	if err := a.Store.AppendEvents(t.Context(), events, nil); err != nil {
		t.Fatal(err)
	}
	a.Engine.CollectGarbage(t.Context())
	got, _ := a.logs(token, url.Values{"since": {now.Add(-40 * 24 * time.Hour).Format(time.RFC3339)}, "filter": {`eventType eq "test.event"`}})
	if len(got) != 1 || got[0].UUID != events[2].UUID {
		t.Errorf("after garbage collection: %v", got)
	}
}
