package mgmt

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// users is Okta's Users API (/api/v1/users): its reads here, its writes in
// userwrites.go, the lifecycle operations and sessions in lifecycle.go.
type users struct{ a *API }

func (u *users) routes() []route {
	return []route{
		{"GET /api/v1/users", u.list},
		{"POST /api/v1/users", u.create},
		{"GET /api/v1/users/{idOrLogin}", u.get},
		{"POST /api/v1/users/{idOrLogin}", u.update},
		{"PUT /api/v1/users/{idOrLogin}", u.replace},
		{"DELETE /api/v1/users/{idOrLogin}", u.delete},
		{"POST /api/v1/users/{idOrLogin}/lifecycle/{operation}", u.lifecycle},
		{"DELETE /api/v1/users/{idOrLogin}/sessions", u.clearSessions},
	}
}

// statusLockedOut is the status shown for an active user whose factors are locked
// after too many wrong codes; the store's states are store.UserStatus.
const statusLockedOut = "LOCKED_OUT"

// Paging of GET /api/v1/users, as Okta's.
const (
	defaultUserLimit = 200
	maxUserLimit     = 200
)

// defaultUserTypeID is the id of the one user type Gatehouse has, shown as the
// user's type.
const defaultUserTypeID = "otyDefault0000000000"

// list is GET /api/v1/users: users in login order, a page of limit at a time,
// filtered by q (the start of login, email, first or last name), search or filter
// (parseUserFilter). The next page's link carries an opaque cursor (after).
func (u *users) list(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	limit := defaultUserLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			errValidation.write(w, "limit", "limit must be a whole number from 1 to 200")
			return
		}
		limit = min(n, maxUserLimit)
	}
	after := ""
	if s := q.Get("after"); s != "" {
		login, ok := decodeCursor(s)
		if !ok {
			errValidation.write(w, "after", "after must be a cursor from a Link header of this API")
			return
		}
		after = login
	}
	for _, unsupported := range []string{"sortBy", "sortOrder"} {
		if q.Has(unsupported) {
			errBadSearch.write(w, "", unsupported+" is not supported: users are listed by login")
			return
		}
	}
	var given []string
	for _, k := range []string{"q", "search", "filter"} {
		if q.Get(k) != "" {
			given = append(given, k)
		}
	}
	if len(given) > 1 {
		errBadSearch.write(w, "", "use one of q, search and filter, not "+strings.Join(given, " and "))
		return
	}
	var f userFilter
	for _, k := range []string{"search", "filter"} {
		if expr := q.Get(k); expr != "" {
			var err error
			if f, err = parseUserFilter(expr); err != nil {
				errBadSearch.write(w, "", k+": "+err.Error())
				return
			}
		}
	}
	prefix := q.Get("q")
	if len(prefix) > 256 {
		errValidation.write(w, "q", "q must be at most 256 bytes")
		return
	}

	ctx := r.Context()
	var page []store.User
	if f.login != nil {
		// One login at most: look it up rather than scan.
		user, err := u.a.o.Store.GetUserByLogin(ctx, normalizeLogin(*f.login))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			u.a.internal(w, r, "listing users", err)
			return
		case user.Login > after && (f.status == "" || f.status == user.State()):
			page = []store.User{user}
		}
	} else {
		var err error
		page, err = u.a.o.Store.ListUsers(ctx, store.ListUsersOptions{AfterLogin: after, Limit: limit + 1, Prefix: prefix, Status: f.status})
		if err != nil {
			u.a.internal(w, r, "listing users", err)
			return
		}
	}
	more := len(page) > limit
	page = page[:min(len(page), limit)]

	out := make([]userJSON, 0, len(page))
	for _, user := range page {
		uj, err := u.describe(r, user)
		if err != nil {
			u.a.internal(w, r, "listing users", err)
			return
		}
		out = append(out, uj)
	}
	self := url.Values{"limit": {strconv.Itoa(limit)}}
	for _, k := range []string{"after", "q", "search", "filter"} {
		if v := q.Get(k); v != "" {
			self.Set(k, v)
		}
	}
	w.Header().Add("Link", link(u.a.o.BaseURL+"/api/v1/users?"+self.Encode(), "self"))
	if more {
		next := url.Values{}
		for k, v := range self {
			next[k] = v
		}
		next.Set("after", encodeCursor(page[len(page)-1].Login))
		w.Header().Add("Link", link(u.a.o.BaseURL+"/api/v1/users?"+next.Encode(), "next"))
	}
	writeJSON(w, http.StatusOK, out)
}

// get is GET /api/v1/users/{idOrLogin}: one user, by id or else by login.
func (u *users) get(w http.ResponseWriter, r *http.Request, c *call) {
	user, ok := u.a.findUser(w, r)
	if !ok {
		return
	}
	u.writeUser(w, r, http.StatusOK, user)
}

// findUser finds the user the path's {idOrLogin} names, by id or else by login;
// when there is none (404) or it fails (500) it has answered and returns false.
func (a *API) findUser(w http.ResponseWriter, r *http.Request) (store.User, bool) {
	key := r.PathValue("idOrLogin")
	ctx := r.Context()
	user, err := a.o.Store.GetUser(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		user, err = a.o.Store.GetUserByLogin(ctx, normalizeLogin(key))
	}
	if errors.Is(err, store.ErrNotFound) {
		errNotFound.write(w, quoted(key)+" (User)")
		return user, false
	}
	if err != nil {
		a.internal(w, r, "reading a user", err)
		return user, false
	}
	return user, true
}

// writeUser answers with the user in Okta's shape.
func (u *users) writeUser(w http.ResponseWriter, r *http.Request, status int, user store.User) {
	uj, err := u.describe(r, user)
	if err != nil {
		u.a.internal(w, r, "reading a user", err)
		return
	}
	writeJSON(w, status, uj)
}

// normalizeLogin is a login as stored: trimmed and lower-case.
func normalizeLogin(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// userJSON is Okta's User object.
type userJSON struct {
	ID              string          `json:"id"`
	Status          string          `json:"status"`
	Created         stamp           `json:"created"`
	Activated       stamp           `json:"activated"`
	StatusChanged   stamp           `json:"statusChanged"`
	LastLogin       stamp           `json:"lastLogin"`
	LastUpdated     stamp           `json:"lastUpdated"`
	PasswordChanged stamp           `json:"passwordChanged"`
	Type            userTypeJSON    `json:"type"`
	Profile         profileJSON     `json:"profile"`
	Credentials     credentialsJSON `json:"credentials"`
	Links           map[string]href `json:"_links"`
}

type userTypeJSON struct {
	ID string `json:"id"`
}

// profileJSON is the part of Okta's default profile Gatehouse keeps; attributes
// without a value are null, as Okta sends them.
type profileJSON struct {
	Login     string   `json:"login"`
	Email     nullable `json:"email"`
	FirstName nullable `json:"firstName"`
	LastName  nullable `json:"lastName"`
	Locale    nullable `json:"locale"`
}

type credentialsJSON struct {
	// Password is {} for a user with a password (Okta never shows more of it) and
	// absent otherwise.
	Password *struct{}    `json:"password,omitempty"`
	Provider providerJSON `json:"provider"`
}

type providerJSON struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

type href struct {
	Href string `json:"href"`
	// Method is the one method a lifecycle link takes, as Okta shows it.
	Method string `json:"method,omitempty"`
}

// describe is user in Okta's shape. activated is when the user last became
// active, or for users from before that was recorded, the creation time of a user
// who may sign in; statusChanged is null where it was not recorded; lastLogin is
// not recorded. An active user whose factors are locked after wrong codes is
// LOCKED_OUT.
func (u *users) describe(r *http.Request, user store.User) (userJSON, error) {
	state := user.State()
	uj := userJSON{
		ID: user.ID, Status: string(state),
		Created: stamp(user.CreatedAt), LastUpdated: stamp(user.UpdatedAt),
		Activated: stamp(user.ActivatedAt), StatusChanged: stamp(user.StatusChangedAt),
		Type: userTypeJSON{ID: defaultUserTypeID},
		Profile: profileJSON{
			Login: user.Login, Email: nullable(user.Email),
			FirstName: nullable(user.GivenName), LastName: nullable(user.FamilyName), Locale: nullable(user.Locale),
		},
		Credentials: credentialsJSON{Provider: providerJSON{Type: "OKTA", Name: "OKTA"}},
	}
	if user.ActivatedAt.IsZero() && !state.RefusesSignIn() {
		uj.Activated = stamp(user.CreatedAt)
	}
	if user.UpdatedAt.IsZero() {
		uj.LastUpdated = stamp(user.CreatedAt)
	}
	ctx := r.Context()
	if !state.RefusesSignIn() {
		until, err := u.a.o.Accounts.LockedUntil(ctx, user.ID)
		if err != nil {
			return uj, err
		}
		if !until.IsZero() {
			uj.Status = statusLockedOut
		}
	}
	pw, err := u.a.o.Store.GetPassword(ctx, user.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return uj, err
	default:
		uj.PasswordChanged = stamp(pw.UpdatedAt)
		uj.Credentials.Password = &struct{}{}
	}
	uj.Links = u.links(user.ID, uj.Status, uj.Credentials.Password != nil)
	return uj, nil
}

// links are the user's _links: self, and the lifecycle operations its status
// allows, as Okta lists them.
func (u *users) links(id, status string, hasPassword bool) map[string]href {
	self := u.a.o.BaseURL + "/api/v1/users/" + url.PathEscape(id)
	l := map[string]href{"self": {Href: self}}
	add := func(rel, operation string) {
		l[rel] = href{Href: self + "/lifecycle/" + operation, Method: http.MethodPost}
	}
	switch store.UserStatus(status) {
	case store.UserStaged:
		add("activate", "activate")
	case store.UserDeprovisioned:
		add("activate", "activate")
		return l
	case store.UserSuspended:
		add("unsuspend", "unsuspend")
	case store.UserActive:
		add("suspend", "suspend")
	}
	if status == statusLockedOut {
		add("unlock", "unlock")
	}
	if hasPassword && (status == string(store.UserActive) || status == string(store.UserPasswordExpired) || status == statusLockedOut) {
		add("expirePassword", "expire_password")
	}
	add("resetFactors", "reset_factors")
	add("deactivate", "deactivate")
	return l
}

// stamp is a time in Okta's format (UTC, milliseconds); the zero time is null.
type stamp time.Time

func (s stamp) MarshalJSON() ([]byte, error) {
	t := time.Time(s)
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
}

// nullable is a string that is null when empty.
type nullable string

func (n nullable) MarshalJSON() ([]byte, error) {
	if n == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(n))
}

// link is one Link header value, as Okta sends one per relation.
func link(target, rel string) string { return "<" + target + `>; rel="` + rel + `"` }

// The cursor (after) is the last login of the page before, base64url-encoded: an
// opaque string to clients, which get it from the next link. It is checked, not
// signed: it only says where a listing the caller may read in full starts.
func encodeCursor(login string) string { return base64.RawURLEncoding.EncodeToString([]byte(login)) }

func decodeCursor(s string) (string, bool) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	login := string(b)
	// Only the one encoding of a stored-form login (the decoder would also skip
	// line breaks).
	if err != nil || login == "" || len(login) > 256 || !utf8.ValidString(login) || login != normalizeLogin(login) ||
		strings.ContainsFunc(login, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) || encodeCursor(login) != s {
		return "", false
	}
	return login, true
}

// internal answers 500 and logs why.
func (a *API) internal(w http.ResponseWriter, r *http.Request, doing string, err error) {
	a.o.Log.ErrorContext(r.Context(), "management API: "+doing, "err", err)
	errInternal.write(w, "")
}
