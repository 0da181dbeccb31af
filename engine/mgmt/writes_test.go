package mgmt_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// send makes a request with a JSON body (a string is sent as it is) and the token.
func (a *api) send(method, path, token string, body any) answer {
	a.t.Helper()
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			a.t.Fatal(err)
		}
	}
	var r *bytes.Reader
	if raw != nil {
		r = bytes.NewReader(raw)
	}
	if r == nil {
		return a.do(method, path, "SSWS "+token, nil)
	}
	return a.do(method, path, "SSWS "+token, r, "Content-Type", "application/json")
}

// object decodes a JSON object answer, checking its status.
func (r answer) object(t *testing.T, what string, status int) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("%s: %v: %s", what, err, r.body)
	}
	return m
}

func profileOf(u map[string]any) map[string]any { return u["profile"].(map[string]any) }

// signInAnswer is the status of a sign-in's identify with login and pw, and the
// remediations it then offers.
func signInAnswer(t *testing.T, h *enginetest.Harness, login, pw string) (int, []string) {
	t.Helper()
	h.Clock.Advance(time.Minute)
	f := h.Interact(t)
	status, body := f.Identify(login, pw)
	return status, enginetest.RemediationNames(body)
}

// refreshes reports whether the refresh token still works.
func refreshes(t *testing.T, h *enginetest.Harness, tokens map[string]any) bool {
	t.Helper()
	rt, _ := tokens["refresh_token"].(string)
	if rt == "" {
		t.Fatal("the sign-in gave no refresh token")
	}
	status, body := h.PostForm(t, h.Issuer+"/v1/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {enginetest.ClientID}})
	if status == http.StatusOK {
		tokens["refresh_token"] = body["refresh_token"]
	}
	return status == http.StatusOK
}

func allLogins(t *testing.T, a *api, token string) []string {
	t.Helper()
	return userLogins(t, a.get("/api/v1/users", token))
}

func TestCreateUser(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		a := start(t, o, 1000, 50)
		token, _ := a.token("provisioning", false)
		const pw = "a long enough password"

		created := a.send(http.MethodPost, "/api/v1/users?activate=true", token, map[string]any{
			"profile":     map[string]any{"login": "Ann@Example.com", "email": "ann@example.com", "firstName": "Ann", "lastName": "Lee", "locale": "en-GB"},
			"credentials": map[string]any{"password": map[string]any{"value": pw}},
		}).object(t, "create active", http.StatusOK)
		p := profileOf(created)
		if created["status"] != "ACTIVE" || p["login"] != "ann@example.com" || p["firstName"] != "Ann" || p["locale"] != "en-GB" ||
			created["activated"] == nil || created["statusChanged"] == nil || created["passwordChanged"] == nil ||
			!strings.HasPrefix(created["id"].(string), "00u") {
			t.Errorf("created: %v", created)
		}
		if links := created["_links"].(map[string]any); links["suspend"] == nil || links["self"] == nil {
			t.Errorf("links of an active user: %v", links)
		}
		// It is what GET answers, and the password signs in.
		got := a.get("/api/v1/users/"+created["id"].(string), token).object(t, "get", http.StatusOK)
		if fmt.Sprint(got) != fmt.Sprint(created) {
			t.Errorf("GET after create:\n%v\n%v", got, created)
		}
		if status, names := signInAnswer(t, a.Harness, "ann@example.com", pw); status != http.StatusOK || len(names) == 0 {
			t.Errorf("signing in as the new user: %d %v", status, names)
		}

		// Staged: may not sign in, and the answer is a wrong password's.
		staged := a.send(http.MethodPost, "/api/v1/users?activate=false", token, map[string]any{
			"profile": map[string]any{"login": "sam@example.com"}, "credentials": map[string]any{"password": map[string]any{"value": pw}},
		}).object(t, "create staged", http.StatusOK)
		if staged["status"] != "STAGED" || staged["activated"] != nil || profileOf(staged)["email"] != "sam@example.com" {
			t.Errorf("staged: %v", staged)
		}
		if status, _ := signInAnswer(t, a.Harness, "sam@example.com", pw); status != http.StatusUnauthorized {
			t.Errorf("a staged user signing in: %d", status)
		}
		// Without a password, and with the password to change at the first sign-in.
		nopw := a.send(http.MethodPost, "/api/v1/users", token, map[string]any{"profile": map[string]any{"login": "nopw@example.com"}}).
			object(t, "create without a password", http.StatusOK)
		if _, has := nopw["credentials"].(map[string]any)["password"]; has || nopw["status"] != "ACTIVE" {
			t.Errorf("without a password: %v", nopw)
		}
		exp := a.send(http.MethodPost, "/api/v1/users?nextLogin=changePassword", token, map[string]any{
			"profile": map[string]any{"login": "exp@example.com"}, "credentials": map[string]any{"password": map[string]any{"value": pw}},
		}).object(t, "create with nextLogin", http.StatusOK)
		if exp["status"] != "PASSWORD_EXPIRED" {
			t.Errorf("nextLogin=changePassword: %v", exp["status"])
		}
		if status, names := signInAnswer(t, a.Harness, "exp@example.com", pw); status != http.StatusOK || !slices.Equal(names, []string{"reenroll-authenticator"}) {
			t.Errorf("signing in with a password to change: %d %v", status, names)
		}

		// A taken login, in any case: Okta's answer.
		summary, causes := a.send(http.MethodPost, "/api/v1/users", token, map[string]any{"profile": map[string]any{"login": "ANN@example.com"}}).
			expectError(t, "a taken login", http.StatusBadRequest, "E0000001")
		if summary != "Api validation failed: login" || !slices.Equal(causes, []string{"login: An object with this field already exists in the current organization"}) {
			t.Errorf("a taken login: %q %q", summary, causes)
		}

		before := allLogins(t, a, token)
		for _, c := range []struct {
			name, query string
			body        any
			code        string
			cause       string
		}{
			{"short password", "", `{"profile":{"login":"x@example.com"},"credentials":{"password":{"value":"short"}}}`, "E0000001", "password: Password requirements were not met"},
			{"no profile", "", `{}`, "E0000001", "profile"},
			{"empty login", "", `{"profile":{"login":""}}`, "E0000001", "login: The field cannot be left blank"},
			{"login with spaces", "", `{"profile":{"login":"a b@example.com"}}`, "E0000001", "login"},
			{"unknown member", "", `{"profile":{"login":"x@example.com"},"admin":true}`, "E0000003", `unknown field admin`},
			{"unknown profile attribute", "", `{"profile":{"login":"x@example.com","mobilePhone":"+12015550100"}}`, "E0000003", `unknown field mobilePhone`},
			{"login of the wrong type", "", `{"profile":{"login":5}}`, "E0000003", "profile.login must be a string, not number"},
			{"profile of the wrong type", "", `{"profile":[]}`, "E0000003", "profile must be an object, not array"},
			{"password of the wrong type", "", `{"profile":{"login":"x@example.com"},"credentials":{"password":{"value":true}}}`, "E0000003", "credentials.password.value must be a string"},
			{"not JSON", "", `{"profile":`, "E0000003", "ends before"},
			{"trailing data", "", `{"profile":{"login":"x@example.com"}} {}`, "E0000003", "after the JSON object"},
			{"an array", "", `[]`, "E0000003", "must be a JSON object"},
			{"oversized", "", `{"profile":{"login":"x@example.com","firstName":"` + strings.Repeat("a", 17<<10) + `"}}`, "E0000003", "larger than"},
			{"groups", "", `{"profile":{"login":"x@example.com"},"groupIds":["00g1"]}`, "E0000001", "groupIds"},
			{"recovery question", "", `{"profile":{"login":"x@example.com"},"credentials":{"recovery_question":{"question":"q","answer":"a"}}}`, "E0000001", "recovery"},
			{"password hash", "", `{"profile":{"login":"x@example.com"},"credentials":{"password":{"hash":{"algorithm":"BCRYPT"}}}}`, "E0000001", "hashes"},
			{"another provider", "", `{"profile":{"login":"x@example.com"},"credentials":{"provider":{"type":"LDAP","name":"corp"}}}`, "E0000001", "OKTA"},
			{"another user type", "", `{"profile":{"login":"x@example.com"},"type":{"id":"oty123"}}`, "E0000001", "type"},
			{"activate not a boolean", "?activate=yes", `{"profile":{"login":"x@example.com"}}`, "E0000001", "activate"},
			{"provider=true", "?provider=true", `{"profile":{"login":"x@example.com"}}`, "E0000001", "provider"},
			{"nextLogin staged", "?activate=false&nextLogin=changePassword", `{"profile":{"login":"x@example.com"},"credentials":{"password":{"value":"long enough"}}}`, "E0000001", "nextLogin"},
			{"nextLogin without a password", "?nextLogin=changePassword", `{"profile":{"login":"x@example.com"}}`, "E0000001", "password"},
			{"nextLogin unknown", "?nextLogin=later", `{"profile":{"login":"x@example.com"}}`, "E0000001", "nextLogin"},
		} {
			_, causes := a.send(http.MethodPost, "/api/v1/users"+c.query, token, c.body).expectError(t, c.name, http.StatusBadRequest, c.code)
			if !strings.Contains(strings.Join(causes, "\n"), c.cause) {
				t.Errorf("%s: causes %q, want one with %q", c.name, causes, c.cause)
			}
		}
		// A body that is not JSON by its Content-Type.
		r := a.do(http.MethodPost, "/api/v1/users", "SSWS "+token, strings.NewReader(`{"profile":{"login":"x@example.com"}}`), "Content-Type", "text/plain")
		r.expectError(t, "text/plain", http.StatusBadRequest, "E0000003")
		if after := allLogins(t, a, token); !slices.Equal(after, before) {
			t.Errorf("refused creates changed the users: %q, want %q", after, before)
		}
	})
}

func TestUpdateUser(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		a := start(t, o, 1000, 50)
		token, _ := a.token("provisioning", false)
		u := a.CreateUser(t, "ann@example.com", "+12015550140")
		a.CreateUser(t, "bob@example.com", "")
		path := "/api/v1/users/" + u.ID

		// POST changes the attributes given, null clears one.
		got := a.send(http.MethodPost, path, token, `{"profile":{"firstName":"Annie","locale":"fr-CA"}}`).object(t, "partial update", http.StatusOK)
		p := profileOf(got)
		if p["firstName"] != "Annie" || p["lastName"] != "User" || p["email"] != "ann@example.com" || p["locale"] != "fr-CA" {
			t.Errorf("after a partial update: %v", p)
		}
		got = a.send(http.MethodPost, path, token, `{"profile":{"locale":null}}`).object(t, "clear locale", http.StatusOK)
		if p := profileOf(got); p["locale"] != nil || p["firstName"] != "Annie" {
			t.Errorf("after clearing locale: %v", p)
		}

		// PUT replaces the profile: what is left out is cleared. A user read from the
		// API can be sent back as it is, with its read-only members.
		read := a.get(path, token).object(t, "get", http.StatusOK)
		profileOf(read)["lastName"] = "Lee"
		delete(profileOf(read), "firstName")
		got = a.send(http.MethodPut, path, token, read).object(t, "replace", http.StatusOK)
		if p := profileOf(got); p["lastName"] != "Lee" || p["firstName"] != nil || p["email"] != "ann@example.com" || p["login"] != "ann@example.com" {
			t.Errorf("after a replace: %v", p)
		}
		stored, _ := a.Store.GetUser(t.Context(), u.ID)
		if stored.GivenName != "" || stored.FamilyName != "Lee" {
			t.Errorf("stored after a replace: %+v", stored)
		}

		// A new login, any case; a taken one is refused.
		got = a.send(http.MethodPost, path, token, `{"profile":{"login":"Ann.Lee@Example.com"}}`).object(t, "new login", http.StatusOK)
		if profileOf(got)["login"] != "ann.lee@example.com" {
			t.Errorf("new login: %v", profileOf(got)["login"])
		}
		before := a.get(path, token).body
		for _, c := range []struct {
			name, method, body, code, cause string
		}{
			{"taken login", http.MethodPost, `{"profile":{"login":"BOB@example.com","firstName":"X"}}`, "E0000001", "already exists"},
			{"null login", http.MethodPost, `{"profile":{"login":null}}`, "E0000001", "login"},
			{"replace without a login", http.MethodPut, `{"profile":{"firstName":"X"}}`, "E0000001", "login"},
			{"replace without a profile", http.MethodPut, `{}`, "E0000001", "profile"},
			{"short password", http.MethodPost, `{"profile":{"firstName":"X"},"credentials":{"password":{"value":"short"}}}`, "E0000001", "password"},
			{"unknown attribute", http.MethodPost, `{"profile":{"nickName":"X"}}`, "E0000003", "nickName"},
			{"wrong type", http.MethodPost, `{"profile":{"email":["x"]}}`, "E0000003", "profile.email"},
			{"groups", http.MethodPut, `{"profile":{"login":"x@example.com"},"groupIds":["00g1"]}`, "E0000001", "groupIds"},
		} {
			_, causes := a.send(c.method, path, token, c.body).expectError(t, c.name, http.StatusBadRequest, c.code)
			if !strings.Contains(strings.Join(causes, "\n"), c.cause) {
				t.Errorf("%s: causes %q, want %q", c.name, causes, c.cause)
			}
		}
		if after := a.get(path, token).body; !bytes.Equal(after, before) {
			t.Errorf("refused updates changed the user:\n%s\n%s", after, before)
		}

		// A new password: it signs in, and the user is signed out everywhere.
		tokens := a.SignIn(t, "ann.lee@example.com", "+12015550140", "sms")
		a.Clock.Advance(time.Minute)
		a.send(http.MethodPost, path, token, `{"credentials":{"password":{"value":"the new password"}}}`).object(t, "set password", http.StatusOK)
		if refreshes(t, a.Harness, tokens) {
			t.Error("the refresh token works after the password was set")
		}
		if status, _ := signInAnswer(t, a.Harness, "ann.lee@example.com", "the new password"); status != http.StatusOK {
			t.Errorf("the new password: %d", status)
		}
		if status, _ := signInAnswer(t, a.Harness, "ann.lee@example.com", enginetest.Password); status != http.StatusUnauthorized {
			t.Errorf("the old password: %d", status)
		}
		a.send(http.MethodPost, "/api/v1/users/nobody@example.com", token, `{"profile":{"firstName":"X"}}`).
			expectError(t, "an unknown user", http.StatusNotFound, "E0000007")
	})
}

func TestLifecycle(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		a := start(t, o, 1000, 50)
		token, _ := a.token("provisioning", false)
		const number = "+12015550141"
		u := a.CreateUser(t, "ann@example.com", number)
		path := "/api/v1/users/" + u.ID
		status := func() string {
			t.Helper()
			return a.get(path, token).object(t, "get", http.StatusOK)["status"].(string)
		}
		op := func(name string) answer { return a.send(http.MethodPost, path+"/lifecycle/"+name, token, nil) }
		ok := func(name string) {
			t.Helper()
			if r := op(name); r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != "{}" {
				t.Fatalf("%s: %d %s", name, r.status, r.body)
			}
		}

		// Suspending signs the user out and refuses sign-in; unsuspending allows it.
		tokens := a.SignIn(t, "ann@example.com", number, "sms")
		ok("suspend")
		if status() != "SUSPENDED" || refreshes(t, a.Harness, tokens) {
			t.Errorf("suspended: %s; refresh works", status())
		}
		if s, _ := signInAnswer(t, a.Harness, "ann@example.com", enginetest.Password); s != http.StatusUnauthorized {
			t.Errorf("a suspended user signing in: %d", s)
		}
		if got := userLogins(t, a.get("/api/v1/users?search="+url.QueryEscape(`status eq "SUSPENDED"`), token)); !slices.Equal(got, []string{"ann@example.com"}) {
			t.Errorf("search for suspended users: %q", got)
		}
		op("suspend").expectError(t, "suspend twice", http.StatusBadRequest, "E0000001")
		op("unlock").expectError(t, "unlock a suspended user", http.StatusForbidden, "E0000032")
		op("activate").expectError(t, "activate a suspended user", http.StatusBadRequest, "E0000001")
		ok("unsuspend")
		if status() != "ACTIVE" {
			t.Errorf("unsuspended: %s", status())
		}
		op("unsuspend").expectError(t, "unsuspend an active user", http.StatusBadRequest, "E0000001")
		op("activate").expectError(t, "activate an active user", http.StatusForbidden, "E0000016")

		// An expired password: the user object comes back.
		exp := op("expire_password").object(t, "expire_password", http.StatusOK)
		if exp["status"] != "PASSWORD_EXPIRED" {
			t.Errorf("expire_password: %v", exp)
		}
		if s, names := signInAnswer(t, a.Harness, "ann@example.com", enginetest.Password); s != http.StatusOK || !slices.Equal(names, []string{"reenroll-authenticator"}) {
			t.Errorf("signing in after expire_password: %d %v", s, names)
		}
		a.send(http.MethodPost, path, token, map[string]any{"credentials": map[string]any{"password": map[string]any{"value": enginetest.Password}}}).
			object(t, "set password", http.StatusOK)
		if status() != "ACTIVE" {
			t.Errorf("after a new password: %s", status())
		}

		// Locked out after wrong codes: LOCKED_OUT, with an unlock link; unlock ends it.
		now := a.Clock.Now()
		if _, err := a.Store.UpdateThrottle(t.Context(), throttle.PhoneAttempts(u.ID).String(), func(t store.Throttle) (store.Throttle, error) {
			t.Count, t.BlockedUntil, t.ExpiresAt = 5, now.Add(time.Hour), now.Add(2*time.Hour)
			return t, nil
		}); err != nil {
			t.Fatal(err)
		}
		locked := a.get(path, token).object(t, "locked", http.StatusOK)
		if locked["status"] != "LOCKED_OUT" || locked["_links"].(map[string]any)["unlock"] == nil {
			t.Errorf("a locked-out user: %v", locked)
		}
		ok("unlock")
		if status() != "ACTIVE" {
			t.Errorf("after unlock: %s", status())
		}

		// reset_factors removes the phone and signs out.
		tokens = a.SignIn(t, "ann@example.com", number, "sms")
		ok("reset_factors")
		if phones, _ := a.Store.ListPhoneEnrollments(t.Context(), u.ID); len(phones) != 0 || refreshes(t, a.Harness, tokens) {
			t.Errorf("after reset_factors: %d phones; refresh works", len(phones))
		}

		// Clearing sessions revokes the tokens and changes nothing else.
		if err := a.Store.CreatePhoneEnrollment(t.Context(), store.PhoneEnrollment{ID: "smsAnnAgain", UserID: u.ID, Number: number, SMS: true, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		a.Clock.Advance(time.Minute)
		tokens = a.SignIn(t, "ann@example.com", number, "sms")
		if r := a.send(http.MethodDelete, path+"/sessions", token, nil); r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Errorf("DELETE sessions: %d %s", r.status, r.body)
		}
		if refreshes(t, a.Harness, tokens) || status() != "ACTIVE" {
			t.Errorf("after DELETE sessions: refresh works or status %s", status())
		}

		// Bad input changes nothing.
		op("reactivate").expectError(t, "an unknown operation", http.StatusNotFound, "E0000007")
		a.send(http.MethodPost, path+"/lifecycle/suspend", token, `{"reason":"x"}`).expectError(t, "a body", http.StatusBadRequest, "E0000003")
		a.send(http.MethodPost, path+"/lifecycle/suspend?sendEmail=maybe", token, nil).expectError(t, "sendEmail", http.StatusBadRequest, "E0000001")
		a.send(http.MethodPost, "/api/v1/users/nobody/lifecycle/suspend", token, nil).expectError(t, "an unknown user", http.StatusNotFound, "E0000007")
		if status() != "ACTIVE" {
			t.Errorf("after refused operations: %s", status())
		}

		// Deactivate, activate, and DELETE twice: deactivated, then gone.
		ok("deactivate")
		if status() != "DEPROVISIONED" {
			t.Errorf("deactivated: %s", status())
		}
		op("deactivate").expectError(t, "deactivate twice", http.StatusBadRequest, "E0000001")
		ok("activate")
		if status() != "ACTIVE" {
			t.Errorf("activated: %s", status())
		}
		for i, want := range []string{"DEPROVISIONED", ""} {
			if r := a.send(http.MethodDelete, path, token, nil); r.status != http.StatusNoContent {
				t.Fatalf("DELETE %d: %d %s", i+1, r.status, r.body)
			}
			if want == "" {
				a.get(path, token).expectError(t, "after the second DELETE", http.StatusNotFound, "E0000007")
			} else if status() != want {
				t.Errorf("after the first DELETE: %s", status())
			}
		}
		if _, err := a.Store.GetUser(t.Context(), u.ID); err == nil {
			t.Error("the user is still stored")
		}
		a.send(http.MethodDelete, path, token, nil).expectError(t, "a third DELETE", http.StatusNotFound, "E0000007")
	})
}

// TestReadOnlyTokenWrites: a read-only token gets 403 on every write endpoint,
// before anything is looked at, and changes nothing.
func TestReadOnlyTokenWrites(t *testing.T) {
	a := start(t, enginetest.Options{}, 1000, 50)
	token, _ := a.token("reports", true)
	u := a.CreateUser(t, "ann@example.com", "+12015550142")
	before := a.get("/api/v1/users/"+u.ID, token).body
	factorsBefore := a.get("/api/v1/users/"+u.ID+"/factors", token).body
	p := "/api/v1/users/" + u.ID
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, "/api/v1/users", `{"profile":{"login":"x@example.com"}}`},
		{http.MethodPost, p, `{"profile":{"firstName":"X"}}`},
		{http.MethodPut, p, `{"profile":{"login":"x@example.com"}}`},
		{http.MethodDelete, p, ""},
		{http.MethodDelete, p + "/sessions", ""},
		{http.MethodPost, p + "/lifecycle/suspend", ""},
		{http.MethodPost, p + "/lifecycle/deactivate", ""},
		{http.MethodPost, p + "/lifecycle/expire_password", ""},
		{http.MethodPost, p + "/lifecycle/reset_factors", ""},
		{http.MethodPost, p + "/factors?activate=true", `{"factorType":"call","provider":"OKTA","profile":{"phoneNumber":"+12015550143"}}`},
		{http.MethodDelete, p + "/factors/x", ""},
		{http.MethodPost, p + "/factors/x/lifecycle/activate", `{"passCode":"123456"}`},
	} {
		a.send(c.method, c.path, token, c.body).expectError(t, "read-only "+c.method+" "+c.path, http.StatusForbidden, "E0000006")
	}
	if after := a.get("/api/v1/users/"+u.ID, token).body; !bytes.Equal(after, before) {
		t.Errorf("the user changed:\n%s\n%s", after, before)
	}
	if after := a.get("/api/v1/users/"+u.ID+"/factors", token).body; !bytes.Equal(after, factorsBefore) {
		t.Errorf("the factors changed:\n%s\n%s", after, factorsBefore)
	}
	if got := allLogins(t, a, token); !slices.Equal(got, []string{"ann@example.com"}) {
		t.Errorf("users: %q", got)
	}
}
