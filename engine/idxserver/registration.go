package idxserver

import (
	"errors"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/engine/account"
	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/metrics"
	"github.com/gatehouse-id/gatehouse/engine/policy"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// Self-service registration, as Okta runs it (docs/protocol.md, "Registration"):
// with sign_on.self_registration on, the identify state offers
// select-enroll-profile → enroll-profile (the email address, which becomes the
// login, and the configured profile fields) → select-authenticator-enroll (the
// password) → enroll-authenticator (the password) → the account exists; then a
// second factor is enrolled when the policy requires one → SUCCESS.
//
// A taken address answers registration.error.notUniqueWithinOrg, as Okta does:
// without email verification, answering it like a new one would create nothing
// and leave the person stuck. So that this cannot be used to list accounts at
// scale, every profile submitted counts toward a per-address budget first
// (rate_limits.registrations_per_ip_per_hour).

// The profile fields a registration may ask for besides the email address.
var registrationFieldLabels = map[string]string{
	"firstName": "First name",
	"lastName":  "Last name",
	"locale":    "Locale",
}

// maxProfileValue bounds a name or locale, in characters (Okta's limit for names).
const maxProfileValue = 50

func (s *Server) selectEnrollProfile(w http.ResponseWriter, r *http.Request, v *view, _ *request) {
	if s.advance(w, r.Context(), v, func(t *store.Transaction) {
		t.Step, t.Flow, t.Pending = store.StepEnrollProfile, store.FlowRegistration, nil
	}) {
		s.respond(w, http.StatusOK, v)
	}
}

// selectIdentify goes back from the registration form to signing in.
func (s *Server) selectIdentify(w http.ResponseWriter, r *http.Request, v *view, _ *request) {
	if s.advance(w, r.Context(), v, func(t *store.Transaction) {
		t.Step, t.Flow, t.Pending = store.StepIdentify, "", nil
	}) {
		s.respond(w, http.StatusOK, v)
	}
}

// enrollProfile checks the new account's profile and keeps it in the transaction
// until the password is set; nothing is stored before that.
func (s *Server) enrollProfile(w http.ResponseWriter, r *http.Request, v *view, req *request) {
	ctx := r.Context()
	profile := map[string]string{}
	{
		for k, val := range req.UserProfile {
			str, ok := val.(string)
			if _, known := registrationFieldLabels[k]; k != "email" && !known {
				s.fail(w, http.StatusBadRequest, v, msgProfileUnknown)
				return
			}
			if !ok {
				s.fail(w, http.StatusBadRequest, v, msgMalformed)
				return
			}
			profile[k] = strings.TrimSpace(str)
		}
	}
	bad := false
	for _, name := range s.profileFields() {
		val := profile[name]
		switch {
		case val == "":
			v.onField("userProfile."+name, msgFieldBlank)
			bad = true
		case utf8.RuneCountInString(val) > maxProfileValue && name != "email", len(val) > maxIdentifierLen:
			v.onField("userProfile."+name, msgFieldTooLong)
			bad = true
		case name == "email" && !validEmail(val):
			v.onField("userProfile.email", msgInvalidEmail)
			bad = true
		}
	}
	for name := range profile {
		if name != "email" && !slices.Contains(s.policy.RegistrationFields, name) {
			delete(profile, name) // a known field this deployment does not ask for
		}
	}
	if bad {
		s.respond(w, http.StatusBadRequest, v)
		return
	}
	src := s.source(w, r)
	d, err := s.limiter.Reserve(ctx, throttle.Request{Key: throttle.RegistrationsFromIP(src.ip),
		Limit: throttle.Limit{Max: s.limits.RegistrationsPerIPPerHour, Window: time.Hour}})
	if err != nil {
		s.serverError(ctx, w, "checking the registration limit", err)
		return
	}
	if !d.Allowed {
		s.log.WarnContext(ctx, "registration refused: per-address limit", logAttrs(v)...)
		s.metrics.RateLimited("registrations_per_ip")
		eventlog.RateLimited(ctx, s.limiter, d, "registrations_per_ip_per_hour")
		s.limited(w, v, d, msgTooManyRequests)
		return
	}
	login := strings.ToLower(profile["email"])
	profile["email"] = login
	if _, err := s.store.GetUserByLogin(ctx, login); err == nil {
		v.onField("userProfile.email", msgNotUniqueWithinOrg)
		s.respond(w, http.StatusBadRequest, v)
		return
	} else if !errors.Is(err, store.ErrNotFound) {
		s.serverError(ctx, w, "looking up the address", err)
		return
	}
	if s.advance(w, ctx, v, func(t *store.Transaction) {
		t.Step, t.Authenticator, t.Pending = store.StepSelectEnroll, "", profile
	}) {
		s.respond(w, http.StatusOK, v)
	}
}

// profileFields are the fields the registration form asks for, in order.
func (s *Server) profileFields() []string {
	return append([]string{"email"}, s.policy.RegistrationFields...)
}

// createAccount creates the new account with its first password (the account
// package: login rules, hashing, all or nothing) and goes on as after a sign-in's
// password: a second factor when the policy requires one.
func (s *Server) createAccount(w http.ResponseWriter, r *http.Request, v *view, pw string) {
	ctx := r.Context()
	now := s.now()
	p := v.tx.Pending
	u, err := s.accounts.Create(ctx, account.NewUser{Login: p["email"], Email: p["email"], GivenName: p["firstName"],
		FamilyName: p["lastName"], Locale: p["locale"], Password: pw})
	switch {
	case errors.Is(err, account.ErrLoginTaken):
		// Someone registered the address since the profile was checked.
		if s.advance(w, ctx, v, func(t *store.Transaction) {
			t.Step, t.Authenticator, t.Method = store.StepEnrollProfile, "", ""
		}) {
			v.onField("userProfile.email", msgNotUniqueWithinOrg)
			s.respond(w, http.StatusBadRequest, v)
		}
		return
	case errors.Is(err, password.ErrBusy):
		s.hashBusy(w, v)
		return
	case err != nil:
		s.serverError(ctx, w, "creating the account", err)
		return
	}
	s.log.InfoContext(ctx, "account registered", append(logAttrs(v), "user_id", u.ID)...)
	s.metrics.SignIn(metrics.SignInRegistered)
	s.setAccount(v, &store.Account{User: u}) // a new account has no factors yet
	// The account is created (hashed outside any transaction); the rest of the
	// step is one.
	s.step(w, r, func(w http.ResponseWriter, r *http.Request) { s.registered(w, r, v, u, now) })
}

// registered goes on from a new account as after a sign-in's password.
func (s *Server) registered(w http.ResponseWriter, r *http.Request, v *view, u store.User, now time.Time) {
	ctx := r.Context()
	if !s.policy.RequireFactor {
		if s.advance(w, ctx, v, func(t *store.Transaction) {
			t.UserID, t.AuthTime, t.AMR, t.Authenticator, t.Method = u.ID, now, policy.AMR(""), "", ""
		}) {
			s.complete(w, r, v, policy.AMR(""))
		}
		return
	}
	s.afterPassword(w, r, v, now)
}

// validEmail accepts a bare address (no display name, no angle brackets).
func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == "" && strings.Contains(s, "@")
}
