//go:build unix

package oktasdk

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/okta/okta-sdk-golang/v5/okta"
)

const testPassword = "a password long enough"

// newUser is the SDK's create request for login with a password.
func newUser(login, first, last string) okta.CreateUserRequest {
	profile := okta.NewUserProfile()
	profile.SetLogin(login)
	profile.SetEmail(login)
	profile.SetFirstName(first)
	profile.SetLastName(last)
	pw := okta.NewPasswordCredential()
	pw.SetValue(testPassword)
	creds := okta.NewUserCredentials()
	creds.SetPassword(*pw)
	return okta.CreateUserRequest{Profile: *profile, Credentials: creds}
}

// status reads the user's status through the SDK; "" once there is no user.
func status(t *testing.T, c *okta.APIClient, id string) string {
	t.Helper()
	u, resp, err := c.UserAPI.GetUser(context.Background(), id).Execute()
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return ""
	}
	if err != nil {
		t.Fatalf("GetUser(%s): %v", id, err)
	}
	return u.GetStatus()
}

// TestOktaSDKWrites: Okta's Go SDK creates users (active and staged), updates and
// replaces their profiles, runs the lifecycle operations, clears sessions,
// deactivates and deletes users (DELETE twice), and enrolls, activates (with the
// code from the dev outbox) and resets SMS and call factors, against a real
// `gatehouse serve`.
func TestOktaSDKWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gatehouse")
	}
	e := startEngine(t, 1000, nil)
	ctx := context.Background()
	token, _ := e.token("provisioning", false)
	c := e.client(t, token, 0, 5)

	t.Run("Users", func(t *testing.T) {
		// Active, with a password.
		ann, _, err := c.UserAPI.CreateUser(ctx).Body(newUser("ann@example.com", "Ann", "Lee")).Activate(true).Execute()
		if err != nil {
			t.Fatal(err)
		}
		if ann.GetStatus() != "ACTIVE" || ann.Profile.GetLogin() != "ann@example.com" || ann.Profile.GetFirstName() != "Ann" ||
			!ann.Activated.IsSet() || ann.Activated.Get() == nil || !ann.PasswordChanged.IsSet() || ann.Links == nil || ann.Links.Suspend == nil {
			t.Errorf("created: %+v", ann)
		}
		// Staged, then activated.
		sam, _, err := c.UserAPI.CreateUser(ctx).Body(newUser("sam@example.com", "Sam", "Ray")).Activate(false).Execute()
		if err != nil || sam.GetStatus() != "STAGED" || sam.Activated.Get() != nil {
			t.Fatalf("staged: %+v %v", sam, err)
		}
		if _, _, err := c.UserAPI.ActivateUser(ctx, sam.GetId()).SendEmail(false).Execute(); err != nil {
			t.Fatalf("ActivateUser: %v", err)
		}
		if got := status(t, c, sam.GetId()); got != "ACTIVE" {
			t.Errorf("activated: %s", got)
		}
		// A taken login: Okta's 400 with its cause.
		_, resp, err := c.UserAPI.CreateUser(ctx).Body(newUser("ANN@example.com", "A", "B")).Execute()
		code, body := apiError(t, "a taken login", resp, err)
		if code != http.StatusBadRequest || body.GetErrorCode() != "E0000001" || len(body.ErrorCauses) != 1 ||
			body.ErrorCauses[0].GetErrorSummary() != "login: An object with this field already exists in the current organization" {
			t.Errorf("a taken login: %d %+v", code, body)
		}

		// A partial update, then a replace of the user as read.
		change := okta.NewUserProfile()
		change.SetFirstName("Annie")
		updated, _, err := c.UserAPI.UpdateUser(ctx, ann.GetId()).User(okta.UpdateUserRequest{Profile: change}).Execute()
		if err != nil || updated.Profile.GetFirstName() != "Annie" || updated.Profile.GetLastName() != "Lee" || updated.Profile.GetEmail() != "ann@example.com" {
			t.Fatalf("UpdateUser: %+v %v", updated, err)
		}
		updated.Profile.SetLastName("Lee-Smith")
		updated.Profile.SetLocale("fr-CA")
		replaced, _, err := c.UserAPI.ReplaceUser(ctx, ann.GetId()).User(*updated).Execute()
		if err != nil || replaced.Profile.GetLastName() != "Lee-Smith" || replaced.Profile.GetLocale() != "fr-CA" || replaced.Profile.GetFirstName() != "Annie" {
			t.Fatalf("ReplaceUser: %+v %v", replaced, err)
		}

		// Lifecycle.
		if _, err := c.UserAPI.SuspendUser(ctx, ann.GetId()).Execute(); err != nil {
			t.Fatal(err)
		}
		if got := status(t, c, ann.GetId()); got != "SUSPENDED" {
			t.Errorf("suspended: %s", got)
		}
		suspended, _, err := c.UserAPI.ListUsers(ctx).Search(`status eq "SUSPENDED"`).Execute()
		if err != nil || !slices.Equal(logins(suspended), []string{"ann@example.com"}) {
			t.Errorf("search for suspended users: %q %v", logins(suspended), err)
		}
		if _, err := c.UserAPI.UnsuspendUser(ctx, ann.GetId()).Execute(); err != nil {
			t.Fatal(err)
		}
		expired, _, err := c.UserAPI.ExpirePassword(ctx, ann.GetId()).Execute()
		if err != nil || expired.GetStatus() != "PASSWORD_EXPIRED" {
			t.Fatalf("ExpirePassword: %+v %v", expired, err)
		}
		if _, err := c.UserAPI.UnlockUser(ctx, ann.GetId()).Execute(); err != nil {
			t.Errorf("UnlockUser: %v", err)
		}
		if _, err := c.UserAPI.RevokeUserSessions(ctx, ann.GetId()).OauthTokens(true).Execute(); err != nil {
			t.Errorf("RevokeUserSessions: %v", err)
		}
		if _, err := c.UserAPI.ResetFactors(ctx, ann.GetId()).Execute(); err != nil {
			t.Errorf("ResetFactors: %v", err)
		}
		_, resp, err = c.UserAPI.ActivateUser(ctx, sam.GetId()).SendEmail(false).Execute()
		if code, body := apiError(t, "activating an active user", resp, err); code != http.StatusForbidden || body.GetErrorCode() != "E0000016" {
			t.Errorf("activating an active user: %d %+v", code, body)
		}

		// Deactivate; DELETE deactivates an active user and deletes a deprovisioned one.
		if _, err := c.UserAPI.DeactivateUser(ctx, sam.GetId()).Execute(); err != nil {
			t.Fatal(err)
		}
		if got := status(t, c, sam.GetId()); got != "DEPROVISIONED" {
			t.Errorf("deactivated: %s", got)
		}
		for i, want := range []string{"DEPROVISIONED", ""} {
			if _, err := c.UserAPI.DeleteUser(ctx, ann.GetId()).Execute(); err != nil {
				t.Fatalf("DeleteUser %d: %v", i+1, err)
			}
			if got := status(t, c, ann.GetId()); got != want {
				t.Errorf("after DeleteUser %d: %q, want %q", i+1, got, want)
			}
		}
	})

	t.Run("Factors", func(t *testing.T) {
		u, _, err := c.UserAPI.CreateUser(ctx).Body(newUser("fay@example.com", "Fay", "Ng")).Execute()
		if err != nil {
			t.Fatal(err)
		}
		id := u.GetId()
		const smsNumber, callNumber = "+12015550181", "+12015550182"
		phoneFactor := func(factorType, number string) okta.ListFactors200ResponseInner {
			if factorType == "call" {
				return okta.UserFactorCallAsListFactors200ResponseInner(&okta.UserFactorCall{FactorType: "call", Provider: okta.PtrString("OKTA"),
					Profile: &okta.UserFactorCallProfile{PhoneNumber: okta.PtrString(number)}})
			}
			return okta.UserFactorSMSAsListFactors200ResponseInner(&okta.UserFactorSMS{FactorType: "sms", Provider: okta.PtrString("OKTA"),
				Profile: &okta.UserFactorSMSProfile{PhoneNumber: okta.PtrString(number)}})
		}

		// SMS with a code: pending, then activated with the code the phone got.
		enrolled, _, err := c.UserFactorAPI.EnrollFactor(ctx, id).Body(phoneFactor("sms", smsNumber)).Execute()
		if err != nil || enrolled.UserFactorSMS == nil {
			t.Fatalf("EnrollFactor sms: %+v %v", enrolled, err)
		}
		sms := enrolled.UserFactorSMS
		if sms.GetStatus() != "PENDING_ACTIVATION" || sms.Profile.GetPhoneNumber() != smsNumber {
			t.Errorf("a pending sms factor: %+v", sms)
		}
		code := e.latestCode(smsNumber)
		if code == "" {
			t.Fatal("no code was sent to the number")
		}
		_, resp, err := c.UserFactorAPI.ActivateFactor(ctx, id, sms.GetId()).Body(map[string]interface{}{"passCode": "000000"}).Execute()
		if status, body := apiError(t, "a wrong code", resp, err); status != http.StatusForbidden || body.GetErrorCode() != "E0000068" {
			t.Errorf("a wrong code: %d %+v", status, body)
		}
		active, _, err := c.UserFactorAPI.ActivateFactor(ctx, id, sms.GetId()).Body(map[string]interface{}{"passCode": code}).Execute()
		if err != nil || active.UserFactorSMS == nil || active.UserFactorSMS.GetStatus() != "ACTIVE" || active.UserFactorSMS.GetId() != sms.GetId() {
			t.Fatalf("ActivateFactor: %+v %v", active, err)
		}

		// A call factor at once, without a code.
		enrolled, _, err = c.UserFactorAPI.EnrollFactor(ctx, id).Body(phoneFactor("call", callNumber)).Activate(true).Execute()
		if err != nil || enrolled.UserFactorCall == nil || enrolled.UserFactorCall.GetStatus() != "ACTIVE" {
			t.Fatalf("EnrollFactor call with activate: %+v %v", enrolled, err)
		}
		if e.latestCode(callNumber) != "" {
			t.Error("a code was sent for a factor enrolled with activate=true")
		}
		callID := enrolled.UserFactorCall.GetId()
		// A number the rules refuse.
		_, resp, err = c.UserFactorAPI.EnrollFactor(ctx, id).Body(phoneFactor("sms", "+19005550100")).Execute()
		if status, body := apiError(t, "a premium-rate number", resp, err); status != http.StatusBadRequest || body.GetErrorCode() != "E0000001" {
			t.Errorf("a premium-rate number: %d %+v", status, body)
		}

		list, _, err := c.UserFactorAPI.ListFactors(ctx, id).Execute()
		if err != nil || len(list) != 2 || list[0].UserFactorSMS == nil || list[1].UserFactorCall == nil {
			t.Fatalf("ListFactors: %+v %v", list, err)
		}
		supported, _, err := c.UserFactorAPI.ListSupportedFactors(ctx, id).Execute()
		if err != nil || len(supported) < 2 || supported[0].GetFactorType() != "sms" || supported[0].GetStatus() != "ACTIVE" {
			t.Errorf("ListSupportedFactors: %+v %v", supported, err)
		}

		// Reset both.
		for _, fid := range []string{sms.GetId(), callID} {
			if _, err := c.UserFactorAPI.UnenrollFactor(ctx, id, fid).Execute(); err != nil {
				t.Fatalf("UnenrollFactor(%s): %v", fid, err)
			}
		}
		if list, _, err := c.UserFactorAPI.ListFactors(ctx, id).Execute(); err != nil || len(list) != 0 {
			t.Errorf("factors after the resets: %+v %v", list, err)
		}
	})
}
