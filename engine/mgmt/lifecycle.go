package mgmt

import (
	"errors"
	"net/http"

	"github.com/gatehouse-id/gatehouse/engine/account"
)

// The Users API's lifecycle operations (POST /api/v1/users/{id}/lifecycle/…) and
// DELETE /api/v1/users/{id}/sessions, through the account package's methods of
// the same names, which the command line uses too.

// emptyObject is the body of Okta's answers that carry nothing: {}.
var emptyObject = struct{}{}

// lifecycle is POST /api/v1/users/{idOrLogin}/lifecycle/{operation}.
func (u *users) lifecycle(w http.ResponseWriter, r *http.Request, c *call) {
	op := r.PathValue("operation")
	switch op {
	case "activate", "deactivate", "suspend", "unsuspend", "unlock", "expire_password", "reset_factors":
	default:
		errNotFound.write(w, "no such endpoint (ApiEndpoint)")
		return
	}
	user, ok := u.a.findUser(w, r)
	if !ok || !noBody(w, r) {
		return
	}
	q := r.URL.Query()
	if _, ok := boolParam(w, q, "sendEmail", false); !ok {
		return
	}
	ctx, accounts := r.Context(), u.a.o.Accounts
	var err error
	var revoked int64
	switch op {
	case "activate":
		_, err = accounts.Activate(ctx, user.ID)
	case "deactivate":
		_, revoked, err = accounts.Deactivate(ctx, user.ID)
	case "suspend":
		_, revoked, err = accounts.Suspend(ctx, user.ID)
	case "unsuspend":
		_, err = accounts.Unsuspend(ctx, user.ID)
	case "unlock":
		// Okta unlocks users who may sign in; an unlocked one stays as it is.
		if st := user.State(); st.RefusesSignIn() {
			errNoUnlock.write(w, "", "the user is "+string(st))
			return
		}
		_, err = accounts.Unlock(ctx, user.ID)
	case "expire_password":
		if tp, ok := boolParam(w, q, "tempPassword", false); !ok {
			return
		} else if tp {
			errValidation.write(w, "tempPassword", "temporary passwords are not served")
			return
		}
		user, err = accounts.ExpirePassword(ctx, user.ID)
	case "reset_factors":
		var reset account.Reset
		reset, err = accounts.ResetFactors(ctx, user.ID)
		revoked = reset.Revoked
	}
	var te *account.TransitionError
	switch {
	case errors.As(err, &te) && op == "activate" && !te.From.RefusesSignIn():
		errAlreadyActive.write(w, "")
		return
	case errors.As(err, &te):
		errValidation.write(w, "user", te.Error())
		return
	case !u.a.accountError(w, r, err, "the "+op+" lifecycle operation"):
		return
	}
	u.a.o.Log.InfoContext(ctx, "management API: user lifecycle operation", "operation", op, "user_id", user.ID,
		"refresh_tokens_revoked", revoked, "api_token", c.token.ID)
	if op == "expire_password" {
		u.writeUser(w, r, http.StatusOK, user)
		return
	}
	// activate answers Okta's activation token object, empty: Gatehouse sends no
	// activation emails and has no activation links.
	writeJSON(w, http.StatusOK, emptyObject)
}

// clearSessions is DELETE /api/v1/users/{idOrLogin}/sessions: the user's SSO
// sessions end and every token issued to them is revoked (oauthTokens or not).
func (u *users) clearSessions(w http.ResponseWriter, r *http.Request, c *call) {
	user, ok := u.a.findUser(w, r)
	if !ok {
		return
	}
	if _, ok := boolParam(w, r.URL.Query(), "oauthTokens", false); !ok {
		return
	}
	n, err := u.a.o.Accounts.SignOut(r.Context(), user.ID)
	if !u.a.accountError(w, r, err, "ending a user's sessions") {
		return
	}
	u.a.o.Log.InfoContext(r.Context(), "management API: user signed out everywhere", "user_id", user.ID,
		"refresh_tokens_revoked", n, "api_token", c.token.ID)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
