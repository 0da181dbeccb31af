package idxserver_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// expirePassword expires the user's password through the account service, as
// the management API's expire_password does.
func expirePassword(t *testing.T, h *enginetest.Harness, userID string) {
	t.Helper()
	if _, err := h.Engine.Accounts().ExpirePassword(t.Context(), userID); err != nil {
		t.Fatal(err)
	}
}

// TestExpiredPassword: the right password of a user whose password expired leads
// to reenroll-authenticator, as Okta's; the new password follows the password
// rule, ends every session and token of the user, makes them active, and the
// sign-in goes on to the second factor as after any right password.
func TestExpiredPassword(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		h := enginetest.Start(t, o)
		user := h.CreateUser(t, alice, alicePhone)
		before := h.SignIn(t, alice, alicePhone, "sms")
		h.Clock.Advance(time.Minute) // past the interval between codes to one number
		expirePassword(t, h, user.ID)

		// A wrong password is still a wrong password: nothing says it expired.
		f := h.Interact(t)
		wrong := h.Interact(t)
		status, body := wrong.Identify(alice, "not the password")
		if status != http.StatusUnauthorized || !slices.Equal(enginetest.MessageKeys(body), []string{"errors.E0000004"}) {
			t.Fatalf("a wrong password: %d %v", status, body)
		}

		enginetest.Expect(t, "identify", http.StatusOK)(f.Identify(alice, enginetest.Password))
		if names := enginetest.RemediationNames(f.Last); !slices.Equal(names, []string{"reenroll-authenticator"}) {
			t.Fatalf("after an expired password's right password: %v", names)
		}
		rem := f.Remediation("reenroll-authenticator")
		if u, _ := url.Parse(rem["href"].(string)); u == nil || u.Path != "/idp/idx/challenge/answer" {
			t.Errorf("reenroll-authenticator posts to %v", rem["href"])
		}
		cur := f.Last["currentAuthenticator"].(map[string]any)["value"].(map[string]any)
		complexity, _ := cur["settings"].(map[string]any)["complexity"].(map[string]any)
		if cur["key"] != "okta_password" || complexity["minLength"] != float64(8) {
			t.Errorf("currentAuthenticator: %v", cur)
		}
		if id := f.Last["user"].(map[string]any)["value"].(map[string]any)["id"]; id != user.ID {
			t.Errorf("user %v, want %s", id, user.ID)
		}

		// The password rule holds; nothing changes on a refusal.
		status, body = f.Submit("reenroll-authenticator", map[string]any{"credentials": map[string]any{"passcode": "short"}})
		if status != http.StatusBadRequest || !strings.Contains(shape(t, body), "password.passwordRequirementsNotMet") {
			t.Fatalf("a short new password: %d %v", status, body)
		}
		if u, _ := h.Store.GetUser(t.Context(), user.ID); u.State() != store.UserPasswordExpired {
			t.Fatalf("after a refused new password the user is %s", u.State())
		}

		const newPassword = "a brand new passphrase"
		enginetest.Expect(t, "reenroll-authenticator", http.StatusOK)(
			f.Submit("reenroll-authenticator", map[string]any{"credentials": map[string]any{"passcode": newPassword}}))
		if names := enginetest.RemediationNames(f.Last); !slices.Contains(names, "select-authenticator-authenticate") {
			t.Fatalf("after the new password: %v, want the second factor", names)
		}
		if u, _ := h.Store.GetUser(t.Context(), user.ID); u.State() != store.UserActive || u.Disabled {
			t.Errorf("after the new password the user is %s (disabled %t)", u.State(), u.Disabled)
		}
		enginetest.Expect(t, "choose phone", http.StatusOK)(f.ChoosePhone())
		enginetest.Expect(t, "choose sms", http.StatusOK)(f.ChooseMethod("sms"))
		enginetest.Expect(t, "answer", http.StatusOK)(f.Answer(h.LatestCode(t, alicePhone)))
		if status, tokens := f.Redeem(); status != http.StatusOK || tokens["access_token"] == nil {
			t.Fatalf("redeem: %d %v", status, tokens)
		}

		// The refresh token of the sign-in before is revoked.
		status, _ = h.PostForm(t, h.Issuer+"/v1/token", url.Values{"grant_type": {"refresh_token"},
			"refresh_token": {before["refresh_token"].(string)}, "client_id": {enginetest.ClientID}})
		if before["refresh_token"] == nil || status != http.StatusBadRequest {
			t.Errorf("the refresh token from before the new password: %d", status)
		}
		// The old password no longer works; the new one does, with no second change.
		h.Clock.Advance(time.Minute)
		g := h.Interact(t)
		if status, _ := g.Identify(alice, enginetest.Password); status != http.StatusUnauthorized {
			t.Errorf("the old password: %d", status)
		}
		g = h.Interact(t)
		enginetest.Expect(t, "identify with the new password", http.StatusOK)(g.Identify(alice, newPassword))
		if names := enginetest.RemediationNames(g.Last); !slices.Contains(names, "select-authenticator-authenticate") {
			t.Errorf("a sign-in with the new password: %v", names)
		}
	})
}

// TestStatusesRefuseSignIn: staged, suspended and deprovisioned users get the
// answer of a wrong password, whatever they type, and no code in a recovery.
func TestStatusesRefuseSignIn(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		h := enginetest.Start(t, o)
		accounts := h.Engine.Accounts()
		unknown := h.Interact(t)
		status, want := unknown.Identify("nobody@example.com", enginetest.Password)
		if status != http.StatusUnauthorized {
			t.Fatalf("an unknown user: %d %v", status, want)
		}
		for i, st := range []store.UserStatus{store.UserStaged, store.UserSuspended, store.UserDeprovisioned} {
			login, number := strings.ToLower(string(st))+"@example.com", "+1201555017"+string(rune('1'+i))
			u := h.CreateUser(t, login, number)
			var err error
			switch st {
			case store.UserStaged:
				_, err = h.Store.UpdateUser(t.Context(), u.ID, func(u store.User) (store.User, error) {
					u.SetStatus(store.UserStaged, time.Now())
					return u, nil
				})
			case store.UserSuspended:
				_, _, err = accounts.Suspend(t.Context(), u.ID)
			case store.UserDeprovisioned:
				_, _, err = accounts.Deactivate(t.Context(), u.ID)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, pw := range []string{enginetest.Password, "not the password"} {
				f := h.Interact(t)
				status, body := f.Identify(login, pw)
				if status != http.StatusUnauthorized || shape(t, body) != shape(t, want) {
					t.Errorf("%s user, password %q: %d\n got %s\nwant %s", st, pw, status, shape(t, body), shape(t, want))
				}
			}
			h.Clock.Advance(time.Minute)
			recoverTo(t, h, login)
			if msgs := h.Outbox(t, number); len(msgs) != 0 {
				t.Errorf("a recovery of a %s user sent %d codes", st, len(msgs))
			}
		}
	})
}
