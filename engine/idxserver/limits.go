package idxserver

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/clientip"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// Limits are the sign-in's abuse limits (docs/security.md explains each).
type Limits struct {
	// IdentifyPerTransaction bounds username + password tries on one sign-in.
	IdentifyPerTransaction int
	// PasswordPerSource bounds password checks for one login from one source (a
	// device, or a client IP without a device cookie): sign_on.max_password_failures
	// per sign_on.password_failure_window. Failures from a source that has signed in
	// as the user before do not share this budget with anyone else.
	PasswordPerSource throttle.Limit
	// PasswordUnknown bounds password checks for one login from every source that
	// has never completed a sign-in as its user, together.
	PasswordUnknown throttle.Limit
	// KnownSourceLifetime is how long a source stays known after a sign-in.
	KnownSourceLifetime time.Duration
	// TransactionsPerIP and TransactionsTotal bound the sign-ins started per
	// TransactionTTL, by one client IP and by everyone.
	TransactionsPerIP, TransactionsTotal int

	// RegistrationsPerIPPerHour bounds the registration profiles one client IP may
	// submit per hour.
	RegistrationsPerIPPerHour int
}

// deviceCookie is the browser's device token: a random value the engine hands
// out, by which a browser that completed a sign-in is recognised again (as Okta's
// device token). It carries no identity of its own.
// DeviceCookie is the device token cookie: the source a password guess comes from.
const DeviceCookie = "gh_device"

const deviceCookie = DeviceCookie

// source is who is asking, for the limits: the client IP key and, for a browser,
// its device token.
type source struct {
	ip     string // clientip.Key of the client address
	device string // the device cookie's value, or ""
	// newDevice is set when the request carried no valid device cookie and one was
	// set on the response.
	newDevice bool
}

// sources returns the request's client IP and device token, handing the browser a
// new device token if it has none.
func (s *Server) source(w http.ResponseWriter, r *http.Request) source {
	src := source{ip: clientip.Key(clientip.From(r.Context()))}
	if c, err := r.Cookie(deviceCookie); err == nil && validDeviceToken(c.Value) {
		src.device = c.Value
		return src
	}
	if w != nil {
		// A token this response already hands out (identify that completes the
		// sign-in asks twice) is the one to use.
		for _, sc := range w.Header().Values("Set-Cookie") {
			if v, ok := strings.CutPrefix(sc, deviceCookie+"="); ok {
				src.device, src.newDevice = strings.SplitN(v, ";", 2)[0], true
				return src
			}
		}
		src.device, src.newDevice = newDeviceToken(), true
		http.SetCookie(w, &http.Cookie{
			Name: deviceCookie, Value: src.device, Path: "/idp/idx/", MaxAge: int(s.limits.KnownSourceLifetime / time.Second),
			HttpOnly: true, Secure: s.secureCookies, SameSite: s.cookieSameSite(),
		})
	}
	return src
}

// cookieSameSite: a browser app on another site calls the IDX API with credentials,
// which needs SameSite=None — allowed only with Secure, so on an http:// issuer
// (development) the cookie is Lax and reaches the engine from same-site pages only.
func (s *Server) cookieSameSite() http.SameSite {
	if s.secureCookies {
		return http.SameSiteNoneMode
	}
	return http.SameSiteLaxMode
}

// passwordSources are what a password attempt is counted under: the device if the
// request has one, and the client IP.
func (src source) all() []throttle.Source {
	out := make([]throttle.Source, 0, 2)
	if src.device != "" && !src.newDevice {
		out = append(out, throttle.DeviceSource(src.device))
	}
	return append(out, throttle.IPSource(src.ip))
}

// known reports which of the request's sources completed a sign-in as userID: the
// device first. ok is false when none did.
func (s *Server) knownSource(ctx context.Context, userID string, src source) (throttle.Source, bool, error) {
	if userID == "" {
		return "", false, nil
	}
	for _, cand := range src.all() {
		known, err := s.limiter.Known(ctx, userID, cand)
		if err != nil || known {
			return cand, known, err
		}
	}
	return "", false, nil
}

// rememberSources marks the request's sources as known for the user who just
// completed a sign-in.
func (s *Server) rememberSources(ctx context.Context, userID string, src source) {
	srcs := []throttle.Source{throttle.IPSource(src.ip)}
	// Only a device token the client sent back is worth remembering: one handed
	// out on this response may be dropped (a server-side client keeps no cookies),
	// and remembering every such token would add a row per sign-in.
	if src.device != "" && !src.newDevice {
		srcs = append(srcs, throttle.DeviceSource(src.device))
	}
	for _, x := range srcs {
		if err := s.limiter.Remember(ctx, userID, x, s.limits.KnownSourceLifetime); err != nil {
			s.log.ErrorContext(ctx, "idx: remembering a sign-in's source", "err", err)
		}
	}
}

// limited answers 429 with the current state, msg, and the budget's headers.
func (s *Server) limited(w http.ResponseWriter, v *view, d throttle.Decision, msg Message) {
	d.WriteHeaders(w.Header(), s.now())
	s.fail(w, http.StatusTooManyRequests, v, msg)
}

// validDeviceToken accepts what newDeviceToken makes: 43 base64url characters.
func validDeviceToken(t string) bool {
	if len(t) != 43 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func newDeviceToken() string { return opaque.New(32) }
