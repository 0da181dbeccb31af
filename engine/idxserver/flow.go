package idxserver

import (
	"context"
	"net/http"

	"github.com/gatehouse-id/gatehouse/engine/authn"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// The IDX flow as one table: for every state of a transaction (store.Step), the
// remediations its response offers; for every remediation, the endpoint it posts
// to, how it renders and the handler that does it. A request is accepted only as
// a remediation its transaction's state offers now — the dispatcher looks the
// handler up in this table — so what a response offers and what the next request
// may do cannot drift apart (TestFlowTable walks every state and checks both ways).
//
// docs/protocol.md describes each remediation on the wire; docs/architecture.md
// shows the states as a diagram.

// remediation is one thing a response may offer and a request may do.
type remediation struct {
	name string
	path string
	// place is where the response carries it: in remediation.value (placeForm),
	// as the cancel action, or as an action of the current authenticator (resend,
	// recover).
	place place
	// when reports whether the state offers it to this transaction (a flow the
	// configuration turned off, an authenticator that cannot resend); nil is always.
	when func(s *Server, v *view) bool
	// form renders it; nil for actions, which carry the state handle only.
	form func(s *Server, v *view) Form
	// handle does it.
	handle func(s *Server, w http.ResponseWriter, r *http.Request, v *view, req *request)
	// hashes reports whether handle hashes a password for v. The dispatcher runs
	// every other handler in one database transaction (Server.step); one that
	// hashes runs its own around the hash, which must not hold the transaction's
	// locks for its tens of milliseconds.
	hashes func(v *view) bool
}

func always(*view) bool { return true }

// settingPassword: the step's authenticator is the password (a registration's
// first password, posted as enroll-authenticator).
func settingPassword(v *view) bool { return v.tx.Authenticator == authn.KeyPassword }

type place int

const (
	placeForm place = iota
	placeCancel
	placeResend
	placeRecover
)

// state is one row of the table.
type state struct {
	offers []*remediation
	// decorate adds what the state shows besides its remediations: the
	// authenticators, the current one, the user's enrollments.
	decorate func(s *Server, v *view, r *Response)
}

// The IDX endpoints.
const (
	pathIdentify       = "/idp/idx/identify"
	pathIdentifySelect = "/idp/idx/identify/select"
	pathEnrollProfile  = "/idp/idx/enroll"
	pathEnrollNew      = "/idp/idx/enroll/new"
	pathRecover        = "/idp/idx/recover"
	pathChallenge      = "/idp/idx/challenge"
	pathAnswer         = "/idp/idx/challenge/answer"
	pathResend         = "/idp/idx/challenge/resend"
	pathEnroll         = "/idp/idx/credential/enroll"
	pathCancel         = "/idp/idx/cancel"
)

// paths are every remediation endpoint, for Register.
var paths = []string{pathIdentify, pathIdentifySelect, pathEnrollProfile, pathEnrollNew, pathRecover,
	pathChallenge, pathAnswer, pathResend, pathEnroll, pathCancel}

// The remediations. They are variables set in init, since their handlers render
// responses, which read the table.
var (
	remIdentify, remIdentifyRecovery, remSelectEnrollProfile, remEnrollProfile, remSelectIdentify *remediation
	remSelectAuthenticate, remVerificationData, remChallenge                                      *remediation
	remSelectEnroll, remEnrollmentData, remEnrollAuthenticator, remResetAuthenticator             *remediation
	remReenrollAuthenticator                                                                      *remediation
	remRecover, remResend, remCancel                                                              *remediation
)

// flow is the table: state → what it offers, in the order responses list it.
var flow map[store.Step]state

func init() {
	remIdentify = &remediation{name: "identify", path: pathIdentify, form: (*Server).identifyForm, handle: (*Server).identify, hashes: always}
	remIdentifyRecovery = &remediation{name: "identify-recovery", path: pathIdentify, form: (*Server).identifyRecoveryForm, handle: (*Server).identifyRecovery}
	remSelectEnrollProfile = &remediation{name: "select-enroll-profile", path: pathEnrollProfile, when: registrationOn,
		form: (*Server).selectEnrollProfileForm, handle: (*Server).selectEnrollProfile}
	remEnrollProfile = &remediation{name: "enroll-profile", path: pathEnrollNew, form: (*Server).enrollProfileForm, handle: (*Server).enrollProfile}
	remSelectIdentify = &remediation{name: "select-identify", path: pathIdentifySelect, form: (*Server).selectIdentifyForm, handle: (*Server).selectIdentify}
	remSelectAuthenticate = &remediation{name: "select-authenticator-authenticate", path: pathChallenge, form: (*Server).selectAuthenticatorForm, handle: (*Server).challenge}
	remVerificationData = &remediation{name: "authenticator-verification-data", path: pathChallenge, form: (*Server).verificationDataForm, handle: (*Server).challenge}
	remChallenge = &remediation{name: "challenge-authenticator", path: pathAnswer, form: (*Server).challengeForm, handle: (*Server).answer, hashes: settingPassword}
	remSelectEnroll = &remediation{name: "select-authenticator-enroll", path: pathEnroll, form: (*Server).selectEnrollForm, handle: (*Server).enroll}
	remEnrollmentData = &remediation{name: "authenticator-enrollment-data", path: pathEnroll, form: (*Server).enrollmentDataForm, handle: (*Server).enroll}
	remEnrollAuthenticator = &remediation{name: "enroll-authenticator", path: pathAnswer, form: (*Server).enrollCodeForm, handle: (*Server).answer, hashes: settingPassword}
	remResetAuthenticator = &remediation{name: "reset-authenticator", path: pathAnswer, form: (*Server).resetForm, handle: (*Server).setNewPassword, hashes: always}
	remReenrollAuthenticator = &remediation{name: "reenroll-authenticator", path: pathAnswer, form: (*Server).reenrollForm, handle: (*Server).setNewPassword, hashes: always}
	remRecover = &remediation{name: "recover", path: pathRecover, place: placeRecover, when: recoveryOn, handle: (*Server).recover}
	remResend = &remediation{name: "resend", path: pathResend, place: placeResend, when: resendable, handle: (*Server).resend}
	remCancel = &remediation{name: "cancel", path: pathCancel, place: placeCancel, handle: (*Server).cancel}

	flow = map[store.Step]state{
		store.StepIdentify: {
			offers:   []*remediation{remIdentify, remSelectEnrollProfile, remRecover, remCancel},
			decorate: (*Server).decorateIdentify,
		},
		store.StepIdentifyRecovery: {offers: []*remediation{remIdentifyRecovery, remCancel}},
		store.StepEnrollProfile:    {offers: []*remediation{remEnrollProfile, remSelectIdentify, remCancel}},
		store.StepSelectAuthenticator: {
			offers:   []*remediation{remSelectAuthenticate, remCancel},
			decorate: (*Server).decorateSelectAuthenticator,
		},
		store.StepVerifyData: {
			offers:   []*remediation{remVerificationData, remSelectAuthenticate, remCancel},
			decorate: (*Server).decorateChallenge,
		},
		store.StepChallenge: {
			offers:   []*remediation{remChallenge, remSelectAuthenticate, remResend, remCancel},
			decorate: (*Server).decorateChallenge,
		},
		store.StepSelectEnroll: {
			offers:   []*remediation{remSelectEnroll, remCancel},
			decorate: (*Server).decorateSelectEnroll,
		},
		store.StepEnrollData: {
			offers:   []*remediation{remEnrollmentData, remSelectEnroll, remCancel},
			decorate: (*Server).decorateEnroll,
		},
		store.StepEnrollChallenge: {
			offers:   []*remediation{remEnrollAuthenticator, remSelectEnroll, remResend, remCancel},
			decorate: (*Server).decorateEnroll,
		},
		store.StepResetPassword: {
			offers:   []*remediation{remResetAuthenticator, remCancel},
			decorate: (*Server).decorateReset,
		},
		store.StepPasswordExpired: {
			offers:   []*remediation{remReenrollAuthenticator, remCancel},
			decorate: (*Server).decorateReset,
		},
		store.StepSuccess: {offers: []*remediation{remCancel}},
	}
}

func registrationOn(s *Server, v *view) bool { return s.policy.Registration }
func recoveryOn(s *Server, v *view) bool     { return s.policy.Recovery }

// resendable: the authenticator in play sends codes.
func resendable(s *Server, v *view) bool {
	a := s.authenticator(v.tx.Authenticator)
	return a != nil && a.Sends()
}

// offered lists the remediations the transaction's state offers now.
func (s *Server) offered(v *view) []*remediation {
	st := flow[v.tx.Step]
	out := make([]*remediation, 0, len(st.offers))
	for _, rem := range st.offers {
		if rem.when == nil || rem.when(s, v) {
			out = append(out, rem)
		}
	}
	return out
}

// serve answers one endpoint: it loads the transaction and hands the request to
// the remediation its state offers at that endpoint, if any.
func (s *Server) serve(path string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req request
		v := s.begin(w, r, &req)
		if v == nil {
			return
		}
		r = r.WithContext(s.eventScope(r.Context(), v))
		for _, rem := range s.offered(v) {
			if rem.path != path {
				continue
			}
			if rem.hashes != nil && rem.hashes(v) {
				rem.handle(s, w, r, v, &req)
				return
			}
			s.step(w, r, func(w http.ResponseWriter, r *http.Request) { rem.handle(s, w, r, v, &req) })
			return
		}
		switch {
		case v.tx.Step == store.StepSuccess:
			// Finished sign-ins only offer their interaction code: the answer shows it
			// again, with a message saying why the request was refused.
			s.fail(w, http.StatusBadRequest, v, msgSignInFinished)
		case path == pathResend:
			s.fail(w, http.StatusBadRequest, v, msgNothingToResend)
		default:
			s.fail(w, http.StatusBadRequest, v, msgStepUnavailable)
		}
	}
}

// eventScope is ctx for the system log events of a request on v's sign-in: they
// carry its transaction id (externalSessionId) and, once known, its user as actor.
func (s *Server) eventScope(ctx context.Context, v *view) context.Context {
	ctx = eventlog.WithSession(ctx, v.tx.ID)
	if v.user != nil {
		ctx = eventlog.WithActor(ctx, eventlog.User(*v.user))
	} else if login := v.tx.Pending["login"]; login != "" {
		ctx = eventlog.WithActor(ctx, eventlog.UnknownUser(login)) // a recovery's login
	}
	return ctx
}
