package mgmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"

	"github.com/gatehouse-id/gatehouse/engine/account"
	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// The Users API's writes: create (POST /api/v1/users), update (POST and PUT
// /api/v1/users/{id}) and delete. Every change goes through the account package.

// userBody is a user as a create or update request carries it. The members Okta
// sets itself (id, status, the dates, _links, …) are accepted and ignored, as
// Okta ignores them, so that a user read from the API can be sent back changed
// (Okta's SDKs do so for a replace).
type userBody struct {
	Profile     *profileBody     `json:"profile"`
	Credentials *credentialsBody `json:"credentials"`
	Type        *userTypeBody    `json:"type"`
	GroupIDs    []string         `json:"groupIds"`
	RealmID     *string          `json:"realmId"`

	ID                    json.RawMessage `json:"id"`
	Status                json.RawMessage `json:"status"`
	TransitioningToStatus json.RawMessage `json:"transitioningToStatus"`
	Created               json.RawMessage `json:"created"`
	Activated             json.RawMessage `json:"activated"`
	StatusChanged         json.RawMessage `json:"statusChanged"`
	LastLogin             json.RawMessage `json:"lastLogin"`
	LastUpdated           json.RawMessage `json:"lastUpdated"`
	PasswordChanged       json.RawMessage `json:"passwordChanged"`
	Links                 json.RawMessage `json:"_links"`
	Embedded              json.RawMessage `json:"_embedded"`
}

// profileBody is the part of Okta's default profile Gatehouse keeps. Other
// attributes are unknown fields (400).
type profileBody struct {
	Login     optString `json:"login"`
	Email     optString `json:"email"`
	FirstName optString `json:"firstName"`
	LastName  optString `json:"lastName"`
	Locale    optString `json:"locale"`
}

type credentialsBody struct {
	Password         *passwordBody   `json:"password"`
	Provider         *providerBody   `json:"provider"`
	RecoveryQuestion json.RawMessage `json:"recovery_question"`
}

type passwordBody struct {
	Value optString       `json:"value"`
	Hash  json.RawMessage `json:"hash"`
	Hook  json.RawMessage `json:"hook"`
}

type providerBody struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

type userTypeBody struct {
	ID string `json:"id"`
}

// optString is a string member that may be absent (set false), null or a string.
type optString struct {
	set, null bool
	v         string
}

func (o *optString) UnmarshalJSON(b []byte) error {
	o.set, o.null, o.v = true, false, ""
	if string(b) == "null" {
		o.null = true
		return nil
	}
	if err := json.Unmarshal(b, &o.v); err != nil {
		// The decoder adds the member's path to this error (bodyProblem names it).
		return &json.UnmarshalTypeError{Value: jsonType(b), Type: reflect.TypeFor[string]()}
	}
	return nil
}

// jsonType names the JSON type of a value as encoding/json's errors do.
func jsonType(b []byte) string {
	switch b = bytes.TrimSpace(b); {
	case len(b) == 0:
		return "value"
	case b[0] == '{':
		return "object"
	case b[0] == '[':
		return "array"
	case b[0] == 't' || b[0] == 'f':
		return "bool"
	case b[0] == '"':
		return "string"
	}
	return "number"
}

// hasValue reports whether the member holds something other than null.
func hasValue(raw json.RawMessage) bool {
	return len(raw) > 0 && string(bytes.TrimSpace(raw)) != "null"
}

// checkBody refuses what a user body may say in Okta's API but Gatehouse does not
// serve: groups, realms, other user types, other credential providers, recovery
// questions, imported password hashes and password hooks. It answers 400 and
// returns false.
func checkBody(w http.ResponseWriter, b *userBody) bool {
	refuse := func(field, why string) bool {
		errValidation.write(w, field, field+": "+why)
		return false
	}
	switch {
	case len(b.GroupIDs) > 0:
		return refuse("groupIds", "groups are not served")
	case b.RealmID != nil && *b.RealmID != "":
		return refuse("realmId", "realms are not served")
	case b.Type != nil && b.Type.ID != "" && b.Type.ID != defaultUserTypeID:
		return refuse("type", "the only user type is "+defaultUserTypeID)
	}
	if c := b.Credentials; c != nil {
		switch {
		case hasValue(c.RecoveryQuestion):
			return refuse("recovery_question", "recovery questions are not served")
		case c.Provider != nil && (c.Provider.Type != "" && c.Provider.Type != "OKTA" || c.Provider.Name != "" && c.Provider.Name != "OKTA"):
			return refuse("provider", "the only credential provider is OKTA")
		case c.Password != nil && hasValue(c.Password.Hash):
			return refuse("password", "imported password hashes are not served")
		case c.Password != nil && hasValue(c.Password.Hook):
			return refuse("password", "password import hooks are not served")
		}
	}
	return true
}

// newPassword is the password a body sets, "" for none: credentials.password.value.
// {} (how a user read from the API shows a password) sets none.
func (b *userBody) newPassword() string {
	if b.Credentials == nil || b.Credentials.Password == nil {
		return ""
	}
	return b.Credentials.Password.Value.v
}

// boolParam reads a true/false query parameter, def when absent; anything else
// answers 400 and returns false.
func boolParam(w http.ResponseWriter, q url.Values, name string, def bool) (value, ok bool) {
	if !q.Has(name) {
		return def, true
	}
	switch strings.ToLower(q.Get(name)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	errValidation.write(w, name, name+" must be true or false")
	return false, false
}

// create is POST /api/v1/users: a user with a profile and optionally a password,
// active (activate=true, the default: it may sign in at once), staged
// (activate=false) or with the password to be changed at the first sign-in
// (nextLogin=changePassword).
func (u *users) create(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	activate, ok := boolParam(w, q, "activate", true)
	if !ok {
		return
	}
	provider, ok := boolParam(w, q, "provider", false)
	if !ok {
		return
	}
	if provider {
		errValidation.write(w, "provider", "provider=true (users of another identity provider) is not served")
		return
	}
	status := store.UserActive
	switch q.Get("nextLogin") {
	case "":
	case "changePassword":
		if !activate {
			errValidation.write(w, "nextLogin", "nextLogin=changePassword needs activate=true")
			return
		}
		status = store.UserPasswordExpired
	default:
		errValidation.write(w, "nextLogin", "nextLogin is changePassword or absent")
		return
	}
	if !activate {
		status = store.UserStaged
	}
	var body userBody
	if !decodeBody(w, r, &body) || !checkBody(w, &body) {
		return
	}
	if body.Profile == nil {
		errValidation.write(w, "profile", "profile: the profile is required")
		return
	}
	p := body.Profile
	user, err := u.a.o.Accounts.Create(r.Context(), account.NewUser{Login: p.Login.v, Email: p.Email.v, GivenName: p.FirstName.v,
		FamilyName: p.LastName.v, Locale: p.Locale.v, Password: body.newPassword(), Status: status})
	if !u.a.accountError(w, r, err, "creating a user") {
		return
	}
	u.a.o.Log.InfoContext(r.Context(), "management API: user created", "user_id", user.ID, "status", user.State(), "api_token", c.token.ID)
	u.writeUser(w, r, http.StatusOK, user)
}

// update is POST /api/v1/users/{idOrLogin}: the profile attributes given change
// (null clears one), the others stay; credentials.password.value sets the password.
func (u *users) update(w http.ResponseWriter, r *http.Request, c *call) { u.change(w, r, c, false) }

// replace is PUT /api/v1/users/{idOrLogin}: the profile becomes the one given,
// attributes left out cleared; credentials.password.value sets the password.
func (u *users) replace(w http.ResponseWriter, r *http.Request, c *call) { u.change(w, r, c, true) }

func (u *users) change(w http.ResponseWriter, r *http.Request, c *call, full bool) {
	user, ok := u.a.findUser(w, r)
	if !ok {
		return
	}
	var body userBody
	if !decodeBody(w, r, &body) || !checkBody(w, &body) {
		return
	}
	ctx := r.Context()
	var ch account.ProfileChange
	if p := body.Profile; p != nil {
		for _, f := range []struct {
			to   **string
			from optString
		}{{&ch.Login, p.Login}, {&ch.Email, p.Email}, {&ch.GivenName, p.FirstName}, {&ch.FamilyName, p.LastName}, {&ch.Locale, p.Locale}} {
			if full || f.from.set {
				v := f.from.v
				*f.to = &v
			}
		}
		if full && !p.Login.set || p.Login.null {
			errValidation.write(w, "login", "login: The field cannot be left blank")
			return
		}
	} else if full {
		errValidation.write(w, "profile", "profile: the profile is required")
		return
	}
	// Every check before any change: a refused request changes nothing.
	if ch.Login != nil {
		if _, err := account.ParseLogin(*ch.Login); !u.a.accountError(w, r, err, "") {
			return
		}
	}
	pw := body.newPassword()
	if pw != "" {
		if !u.a.accountError(w, r, account.Policy.Check(pw), "") {
			return
		}
	}
	if body.Profile != nil {
		var err error
		if user, err = u.a.o.Accounts.UpdateProfile(ctx, user.ID, ch); !u.a.accountError(w, r, err, "updating a user") {
			return
		}
	}
	if pw != "" {
		if _, err := u.a.o.Accounts.SetPassword(ctx, user.ID, pw); !u.a.accountError(w, r, err, "setting a password") {
			return
		}
		var err error
		if user, err = u.a.o.Store.GetUser(ctx, user.ID); !u.a.accountError(w, r, err, "reading a user") {
			return
		}
	}
	u.a.o.Log.InfoContext(ctx, "management API: user updated", "user_id", user.ID, "password_set", pw != "", "api_token", c.token.ID)
	u.writeUser(w, r, http.StatusOK, user)
}

// delete is DELETE /api/v1/users/{idOrLogin}, as Okta's: a user who is not
// deprovisioned is deactivated (and signed out); a deprovisioned one is deleted
// with everything that is theirs. Both answer 204.
func (u *users) delete(w http.ResponseWriter, r *http.Request, c *call) {
	user, ok := u.a.findUser(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if user.State() == store.UserDeprovisioned {
		if err := u.a.o.Accounts.Delete(ctx, user.ID); !u.a.accountError(w, r, err, "deleting a user") {
			return
		}
		u.a.o.Log.InfoContext(ctx, "management API: user deleted", "user_id", user.ID, "api_token", c.token.ID)
	} else {
		_, n, err := u.a.o.Accounts.Deactivate(ctx, user.ID)
		var te *account.TransitionError
		if errors.As(err, &te) {
			err = nil // deprovisioned meanwhile: what was asked
		}
		if !u.a.accountError(w, r, err, "deactivating a user") {
			return
		}
		u.a.o.Log.InfoContext(ctx, "management API: user deactivated", "user_id", user.ID, "refresh_tokens_revoked", n, "api_token", c.token.ID)
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// accountError answers err of the account package in Okta's shape, logging
// (with doing) what is not the client's mistake; it returns true when err is nil
// and nothing was answered.
func (a *API) accountError(w http.ResponseWriter, r *http.Request, err error, doing string) bool {
	var te *account.TransitionError
	var pe *account.PhoneNumberError
	switch {
	case err == nil:
		return true
	case errors.Is(err, account.ErrLoginTaken):
		errValidation.write(w, "login", "login: An object with this field already exists in the current organization")
	case errors.Is(err, account.ErrLoginEmpty):
		errValidation.write(w, "login", "login: The field cannot be left blank")
	case errors.Is(err, account.ErrLoginInvalid), errors.Is(err, account.ErrLoginSpaces):
		errValidation.write(w, "login", "login: "+err.Error())
	case errors.Is(err, account.ErrPasswordTooShort), errors.Is(err, account.ErrPasswordTooLong):
		errValidation.write(w, "password", "password: Password requirements were not met. Password requirements: at least 8 characters, at most 1024 bytes.")
	case errors.Is(err, account.ErrNoPassword):
		errValidation.write(w, "password", "password: the user has no password")
	case errors.Is(err, account.ErrUserNotFound), errors.Is(err, store.ErrNotFound):
		errNotFound.write(w, quoted(r.PathValue("idOrLogin"))+" (User)")
	case errors.Is(err, account.ErrNoSuchFactor):
		errNotFound.write(w, quoted(r.PathValue("factorId"))+" (UserFactor)")
	case errors.Is(err, account.ErrPhoneTaken), errors.Is(err, account.ErrTOTPEnrolled):
		errValidation.write(w, "factorEnrollRequest", "A factor of this type is already set up.")
	case errors.As(err, &pe):
		errValidation.write(w, "factorEnrollRequest", "phoneNumber: "+phoneProblem(pe))
	case errors.As(err, &te):
		errValidation.write(w, "user", te.Error())
	case errors.Is(err, password.ErrBusy):
		// The password hashing queue is full: a moment later it will not be.
		w.Header().Set("Retry-After", "1")
		errTooMany.write(w, "")
	default:
		a.internal(w, r, doing, err)
	}
	return false
}

// noBody reads the body of an operation that takes none: empty, or an empty
// object ({}). Anything else answers 400 and returns false.
func noBody(w http.ResponseWriter, r *http.Request) bool {
	if r.Body == nil {
		return true
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		errBadBody.write(w, "", bodyProblem(err))
		return false
	}
	if s := bytes.TrimSpace(b); len(s) > 0 && string(bytes.Join(bytes.Fields(s), nil)) != "{}" {
		errBadBody.write(w, "", "this operation takes no body")
		return false
	}
	return true
}
