package mgmt_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// factorList decodes a list of factors as "type:status:phoneNumber" and their ids.
func factorList(t *testing.T, r answer) (summary []string, ids []string) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("list of factors: %d %s", r.status, r.body)
	}
	var list []map[string]any
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatalf("list of factors: %v: %s", err, r.body)
	}
	summary = []string{}
	for _, f := range list {
		p, _ := f["profile"].(map[string]any)
		summary = append(summary, f["factorType"].(string)+":"+f["status"].(string)+":"+str(p["phoneNumber"])+str(p["credentialId"]))
		ids = append(ids, f["id"].(string))
	}
	return summary, ids
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func TestFactors(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		o.Configure = func(c *config.Config) {
			c.ManagementAPI.Enabled, c.ManagementAPI.RateLimitPerMinute = true, 1000
			c.SignOn.TOTP = true
		}
		a := &api{Harness: enginetest.Start(t, o), t: t}
		token, _ := a.token("provisioning", false)
		const number, other = "+12015550160", "+12015550161"
		u := a.CreateUser(t, "ann@example.com", number)
		base := "/api/v1/users/" + u.ID + "/factors"

		// A phone with SMS and voice is two factors.
		got, ids := factorList(t, a.get(base, token))
		if !slices.Equal(got, []string{"sms:ACTIVE:" + number, "call:ACTIVE:" + number}) || !strings.HasPrefix(ids[1], "clf") {
			t.Fatalf("factors: %q %q", got, ids)
		}
		one := a.get(base+"/"+ids[1], token).object(t, "one factor", http.StatusOK)
		if one["factorType"] != "call" || one["provider"] != "OKTA" || one["id"] != ids[1] || one["created"] == nil {
			t.Errorf("GET factor: %v", one)
		}
		// By login too.
		if byLogin, _ := factorList(t, a.get("/api/v1/users/ann@example.com/factors", token)); !slices.Equal(byLogin, got) {
			t.Errorf("factors by login: %q", byLogin)
		}
		var catalog []map[string]any
		if err := json.Unmarshal(a.get(base+"/catalog", token).body, &catalog); err != nil || len(catalog) != 3 {
			t.Fatalf("catalog: %v %v", catalog, err)
		}
		if catalog[0]["factorType"] != "sms" || catalog[0]["status"] != "ACTIVE" || catalog[2]["factorType"] != "token:software:totp" ||
			catalog[2]["provider"] != "GOOGLE" || catalog[2]["status"] != "NOT_SETUP" {
			t.Errorf("catalog: %v", catalog)
		}

		// Enrolling with a code: pending until the code comes back, under the id it keeps.
		enroll := func(query, factorType, phoneNumber string) answer {
			return a.send(http.MethodPost, base+query, token, map[string]any{"factorType": factorType, "provider": "OKTA",
				"profile": map[string]any{"phoneNumber": phoneNumber}})
		}
		pending := enroll("", "sms", "(201) 555-0161").object(t, "enroll sms", http.StatusOK)
		fid := pending["id"].(string)
		links := pending["_links"].(map[string]any)
		if pending["status"] != "PENDING_ACTIVATION" || str(pending["profile"].(map[string]any)["phoneNumber"]) != other ||
			links["activate"] == nil || links["resend"] == nil {
			t.Fatalf("a pending factor: %v", pending)
		}
		msgs := a.Outbox(t, other)
		if len(msgs) != 1 || msgs[0].Channel != "sms" || msgs[0].Code == "" {
			t.Fatalf("messages to the new number: %+v", msgs)
		}
		if got, _ := factorList(t, a.get(base, token)); !slices.Contains(got, "sms:PENDING_ACTIVATION:"+other) {
			t.Errorf("factors with a pending one: %q", got)
		}
		// A pending phone is no phone to sign in with.
		if phones, _ := a.Store.ListPhoneEnrollments(t.Context(), u.ID); len(phones) != 1 {
			t.Errorf("phones while one is pending: %+v", phones)
		}
		activate := func(code string) answer {
			return a.send(http.MethodPost, base+"/"+fid+"/lifecycle/activate", token, map[string]any{"passCode": code})
		}
		summary, causes := activate("000000").expectError(t, "a wrong code", http.StatusForbidden, "E0000068")
		if summary != "Invalid Passcode/Answer" || len(causes) != 1 {
			t.Errorf("a wrong code: %q %q", summary, causes)
		}
		a.send(http.MethodPost, base+"/"+fid+"/lifecycle/activate", token, `{"passCode":123456}`).
			expectError(t, "a passCode that is a number", http.StatusBadRequest, "E0000003")
		a.send(http.MethodPost, base+"/"+fid+"/lifecycle/activate", token, `{"code":"123456"}`).
			expectError(t, "a misspelt member", http.StatusBadRequest, "E0000003")
		activated := activate(msgs[0].Code).object(t, "activate", http.StatusOK)
		if activated["status"] != "ACTIVE" || activated["id"] != fid || activated["factorType"] != "sms" {
			t.Errorf("activated: %v", activated)
		}
		activate(msgs[0].Code).expectError(t, "activate an active factor", http.StatusBadRequest, "E0000001")
		got, _ = factorList(t, a.get(base, token))
		if !slices.Equal(got, []string{"sms:ACTIVE:" + number, "call:ACTIVE:" + number, "sms:ACTIVE:" + other}) {
			t.Errorf("factors after activation: %q", got)
		}

		// activate=true: active at once, and nothing is sent.
		const third = "+12015550162"
		call := enroll("?activate=true", "call", third).object(t, "enroll call at once", http.StatusOK)
		if call["status"] != "ACTIVE" || !strings.HasPrefix(call["id"].(string), "clf") || len(a.Outbox(t, third)) != 0 {
			t.Errorf("enrolled at once: %v; messages %d", call, len(a.Outbox(t, third)))
		}
		// A factor of that type on that number already is Okta's 400.
		_, causes = enroll("?activate=true", "call", third).expectError(t, "the same factor again", http.StatusBadRequest, "E0000001")
		if !slices.Equal(causes, []string{"A factor of this type is already set up."}) {
			t.Errorf("the same factor again: %q", causes)
		}

		// Sign-in's rules and budgets: number types, one code per 30 s to a number, and
		// so on.
		before := a.get(base, token).body
		const fresh = "+12015550163"
		for _, c := range []struct{ name, query, body, code, cause string }{
			{"premium-rate number", "", `{"factorType":"sms","profile":{"phoneNumber":"+19005550100"}}`, "E0000001", "premium-rate"},
			{"premium-rate number at once", "?activate=true", `{"factorType":"sms","profile":{"phoneNumber":"+19005550100"}}`, "E0000001", "premium-rate"},
			{"not a number", "", `{"factorType":"sms","profile":{"phoneNumber":"call me"}}`, "E0000001", "Invalid Phone Number."},
			{"no number", "", `{"factorType":"sms","profile":{}}`, "E0000001", "phoneNumber"},
			{"extension", "", `{"factorType":"call","profile":{"phoneNumber":"` + fresh + `","phoneExtension":"12"}}`, "E0000001", "phoneExtension"},
			{"another type", "", `{"factorType":"push","provider":"OKTA"}`, "E0000001", "push"},
			{"an app", "", `{"factorType":"token:software:totp","provider":"GOOGLE"}`, "E0000001", "add-totp"},
			{"another provider", "", `{"factorType":"sms","provider":"TWILIO","profile":{"phoneNumber":"` + fresh + `"}}`, "E0000001", "provider"},
			{"unknown member", "", `{"factorType":"sms","profile":{"phoneNumber":"` + fresh + `"},"x":1}`, "E0000003", "unknown field x"},
			{"wrong type", "", `{"factorType":["sms"]}`, "E0000003", "factorType must be a string"},
			{"activate not a boolean", "?activate=1", `{"factorType":"sms","profile":{"phoneNumber":"` + fresh + `"}}`, "E0000001", "activate"},
			{"oversized", "", `{"factorType":"sms","profile":{"phoneNumber":"` + strings.Repeat("1", 20<<10) + `"}}`, "E0000003", "larger than"},
		} {
			_, causes := a.send(http.MethodPost, base+c.query, token, c.body).expectError(t, c.name, http.StatusBadRequest, c.code)
			if !strings.Contains(strings.Join(causes, "\n"), c.cause) {
				t.Errorf("%s: causes %q, want %q", c.name, causes, c.cause)
			}
		}
		premium, err := a.Store.ListMessages(t.Context(), store.MessageFilter{To: "+19005550100"})
		if err != nil {
			t.Fatal(err)
		}
		if after := a.get(base, token).body; !bytes.Equal(after, before) || len(premium) != 0 || len(a.Outbox(t, fresh)) != 0 {
			t.Errorf("refused enrollments changed the factors or sent codes:\n%s\n%s", after, before)
		}
		p2 := enroll("", "call", fresh).object(t, "enroll call with a code", http.StatusOK)
		pid := p2["id"].(string)
		r := a.send(http.MethodPost, base+"/"+pid+"/resend", token, map[string]any{"factorType": "call", "provider": "OKTA"})
		r.expectError(t, "a new code at once", http.StatusTooManyRequests, "E0000047")
		if r.header.Get("Retry-After") == "" || r.header.Get("X-Rate-Limit-Limit") != "1" {
			t.Errorf("429 of a send too soon: Retry-After %q, X-Rate-Limit-Limit %q", r.header.Get("Retry-After"), r.header.Get("X-Rate-Limit-Limit"))
		}
		a.Clock.Advance(31 * time.Second)
		first := a.LatestCode(t, fresh)
		resent := a.send(http.MethodPost, base+"/"+pid+"/resend", token, map[string]any{"factorType": "call"}).object(t, "resend", http.StatusOK)
		if resent["id"] != pid || len(a.Outbox(t, fresh)) != 2 {
			t.Errorf("resend: %v, %d messages", resent, len(a.Outbox(t, fresh)))
		}
		// The code before stops working; the tries are counted, five in five minutes.
		a.send(http.MethodPost, base+"/"+pid+"/lifecycle/activate", token, map[string]any{"passCode": first}).
			expectError(t, "the replaced code", http.StatusForbidden, "E0000068")
		for range 4 {
			a.send(http.MethodPost, base+"/"+pid+"/lifecycle/activate", token, map[string]any{"passCode": "000000"}).
				expectError(t, "a wrong code", http.StatusForbidden, "E0000068")
		}
		a.send(http.MethodPost, base+"/"+pid+"/lifecycle/activate", token, map[string]any{"passCode": a.LatestCode(t, fresh)}).
			expectError(t, "a sixth try", http.StatusTooManyRequests, "E0000047")
		// The pending factor goes without signing the user out.
		tokens := a.SignIn(t, "ann@example.com", number, "sms")
		if r := a.send(http.MethodDelete, base+"/"+pid, token, nil); r.status != http.StatusNoContent {
			t.Fatalf("DELETE a pending factor: %d %s", r.status, r.body)
		}
		if !refreshes(t, a.Harness, tokens) {
			t.Error("removing a pending factor signed the user out")
		}

		// Resetting one method of the phone keeps the other, and signs out.
		if r := a.send(http.MethodDelete, base+"/"+ids[0], token, nil); r.status != http.StatusNoContent {
			t.Fatalf("DELETE the sms factor: %d %s", r.status, r.body)
		}
		if refreshes(t, a.Harness, tokens) {
			t.Error("the refresh token works after a factor was reset")
		}
		got, _ = factorList(t, a.get(base, token))
		if !slices.Equal(got, []string{"call:ACTIVE:" + number, "sms:ACTIVE:" + other, "call:ACTIVE:" + third}) {
			t.Errorf("after resetting the sms factor: %q", got)
		}
		a.send(http.MethodDelete, base+"/"+ids[0], token, nil).expectError(t, "DELETE it again", http.StatusNotFound, "E0000007")
		a.get(base+"/nope", token).expectError(t, "an unknown factor", http.StatusNotFound, "E0000007")
		a.get("/api/v1/users/nobody/factors", token).expectError(t, "an unknown user", http.StatusNotFound, "E0000007")

		// An authenticator app is listed and reset.
		if _, err := a.Engine.Accounts().AddTOTP(t.Context(), u.ID); err != nil {
			t.Fatal(err)
		}
		got, ids = factorList(t, a.get(base, token))
		if got[len(got)-1] != "token:software:totp:ACTIVE:ann@example.com" {
			t.Fatalf("factors with an app: %q", got)
		}
		if r := a.send(http.MethodDelete, base+"/"+ids[len(ids)-1], token, nil); r.status != http.StatusNoContent {
			t.Fatalf("DELETE the app: %d %s", r.status, r.body)
		}
		if apps, _ := a.Store.ListEnrollments(t.Context(), u.ID); len(apps) != 0 {
			t.Errorf("apps after DELETE: %+v", apps)
		}
	})
}

// TestFactorSendLimits: codes sent for enrollments through the API spend the
// budgets of sign-in's, on the same counters: here, the per-user budget of codes
// to numbers that are not the user's, part spent by an enrollment while signing in.
func TestFactorSendLimits(t *testing.T) {
	a := start(t, enginetest.Options{}, 1000, 50)
	token, _ := a.token("provisioning", false)
	u := a.CreateUser(t, "ann@example.com", "")
	base := "/api/v1/users/" + u.ID + "/factors"
	limit := a.Config.Phone.MaxUnverifiedSendsPerUserPerDay

	// One code to a new number while signing in.
	f := a.Interact(t)
	enginetest.Expect(t, "identify", http.StatusOK)(f.Identify("ann@example.com", enginetest.Password))
	var phoneID string
	for _, o := range f.Remediation("select-authenticator-enroll")["value"].([]any)[0].(map[string]any)["options"].([]any) {
		o := o.(map[string]any)
		if o["label"] == "Phone" {
			phoneID = o["value"].(map[string]any)["form"].(map[string]any)["value"].([]any)[0].(map[string]any)["value"].(string)
		}
	}
	enginetest.Expect(t, "enrollment data", http.StatusOK)(f.Submit("select-authenticator-enroll", map[string]any{
		"authenticator": map[string]any{"id": phoneID, "methodType": "sms", "phoneNumber": "+12015550169"}}))
	if len(a.Outbox(t, "+12015550169")) != 1 {
		t.Fatal("no code for the enrollment while signing in")
	}

	var sent []string
	for i := range limit {
		method := []string{"sms", "call"}[i%2]
		number := "+1201555017" + string(rune('0'+i))
		r := a.send(http.MethodPost, base, token, map[string]any{"factorType": method, "profile": map[string]any{"phoneNumber": number}})
		if i < limit-1 {
			r.object(t, "enrollment "+number, http.StatusOK)
			sent = append(sent, number)
			continue
		}
		r.expectError(t, "one over the budget", http.StatusTooManyRequests, "E0000047")
		if got := r.header.Get("X-Rate-Limit-Limit"); got != strconv.Itoa(limit) {
			t.Errorf("the refusal's budget: %s, want the per-user %d", got, limit)
		}
		if len(a.Outbox(t, number)) != 0 {
			t.Error("a code was sent over the budget")
		}
	}
	for _, n := range sent {
		if len(a.Outbox(t, n)) != 1 {
			t.Errorf("%s got %d codes", n, len(a.Outbox(t, n)))
		}
	}
	if list, _ := a.Store.ListPendingPhones(t.Context(), u.ID); len(list) != len(sent) {
		t.Errorf("pending phones: %+v", list)
	}
}
