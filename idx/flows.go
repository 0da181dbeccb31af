package idx

import (
	"context"
	"fmt"
)

// Flow names what a transaction is for. It is recorded in the State, so that
// Proceed continues with the same rules as the call that started it
// (okta-auth-js keeps its flow in transaction storage the same way).
type Flow string

// The flows.
const (
	// FlowAuthenticate (the zero value) is a sign-in, started by
	// Authenticate. States stored before flows existed are sign-ins.
	FlowAuthenticate Flow = ""
	// FlowRecoverPassword is a password reset, started by RecoverPassword.
	FlowRecoverPassword Flow = "recoverPassword"
	// FlowRegister is a self-service registration, started by Register.
	FlowRegister Flow = "register"
)

// Feature is something the server offers in the current state, as
// okta-auth-js's IdxFeature: an application shows "Forgot password?" or
// "Create account" only when Transaction.EnabledFeatures lists it.
type Feature string

// The features.
const (
	// FeaturePasswordRecovery: the server offers to reset the password
	// (a recover action on the current authenticator); RecoverPassword
	// can start.
	FeaturePasswordRecovery Feature = "recover-password"
	// FeatureRegistration: the server offers self-service registration
	// (a select-enroll-profile remediation); Register can start.
	FeatureRegistration Feature = "enroll-profile"
)

// The remediation and action names the flows use.
const (
	stepSelectEnrollProfile = "select-enroll-profile"
	stepEnrollProfile       = "enroll-profile"
	stepIdentifyRecovery    = "identify-recovery"
	stepResetAuthenticator  = "reset-authenticator"
	// stepReenrollAuthenticator asks for a new password in a sign-in whose
	// password has expired; it takes NewPassword like reset-authenticator.
	stepReenrollAuthenticator = "reenroll-authenticator"

	actionRecover           = "currentAuthenticator-recover"
	actionEnrollmentRecover = "currentAuthenticatorEnrollment-recover"
)

// flowSpec is what a flow lets the remediation loop do on its own.
type flowSpec struct {
	// known are the remediations posted automatically when the values
	// answer them (okta-auth-js's remediators of the flow, less those this
	// package does not support: polling, Okta Verify channels, skip,
	// re-enrollment, identity providers).
	known map[string]bool
	// always are known remediations posted even though no value applies to
	// them, at most once per call (select-enroll-profile, which asks for
	// nothing: choosing to register is the call itself).
	always map[string]bool
	// actions are posted, in this order, whenever the current response
	// offers them, at most once per call each — before any remediation, as
	// okta-auth-js runs a flow's actions.
	actions []string
	// impliedPassword: a Password given without an Authenticator chooses
	// the password authenticator in a select step (okta-auth-js's
	// authenticate; registration needs it to set the password).
	impliedPassword bool
}

// signInSteps are the steps of okta-auth-js's authenticate flow that this
// package supports (password and one-time codes).
var signInSteps = map[string]bool{
	"identify":                          true,
	"select-authenticator-authenticate": true,
	"select-authenticator-enroll":       true,
	"authenticator-verification-data":   true,
	"authenticator-enrollment-data":     true,
	"challenge-authenticator":           true,
	"enroll-authenticator":              true,
	stepReenrollAuthenticator:           true,
}

var flowSpecs = map[Flow]flowSpec{
	FlowAuthenticate: {known: signInSteps, impliedPassword: true},
	FlowRecoverPassword: {
		known: map[string]bool{
			"identify":                          true,
			stepIdentifyRecovery:                true,
			"select-authenticator-authenticate": true,
			"select-authenticator-enroll":       true,
			"authenticator-verification-data":   true,
			"authenticator-enrollment-data":     true,
			"challenge-authenticator":           true,
			// okta-auth-js's recovery flow stops with an error where a
			// server asks to enroll a factor after the reset; this
			// package carries on as a sign-in would.
			"enroll-authenticator": true,
			stepResetAuthenticator: true,
		},
		actions: []string{actionRecover, actionEnrollmentRecover},
	},
	FlowRegister: {
		known: map[string]bool{
			stepSelectEnrollProfile:         true,
			stepEnrollProfile:               true,
			"select-authenticator-enroll":   true,
			"authenticator-enrollment-data": true,
			"enroll-authenticator":          true,
		},
		always:          map[string]bool{stepSelectEnrollProfile: true},
		impliedPassword: true,
	},
}

// spec returns the rules of the State's flow; an unknown flow (a State
// written by a newer version) is treated as a sign-in.
func (s *State) spec() flowSpec {
	if f, ok := flowSpecs[s.Flow]; ok {
		return f
	}
	return flowSpecs[FlowAuthenticate]
}

// enabledFeatures lists what a response offers to start (okta-auth-js's
// getEnabledFeatures, for the features this package supports).
func enabledFeatures(resp *idxResponse) []Feature {
	var out []Feature
	if resp.action(isRecoverAction) != nil {
		out = append(out, FeaturePasswordRecovery)
	}
	if resp.remediation(stepSelectEnrollProfile) != nil {
		out = append(out, FeatureRegistration)
	}
	return out
}

func isRecoverAction(name string) bool {
	return name == actionRecover || name == actionEnrollmentRecover
}

// remediation returns the remediation named name, if offered.
func (r *idxResponse) remediation(name string) *form {
	for _, rem := range r.remediations {
		if rem.Name == name {
			return rem
		}
	}
	return nil
}

// RecoverPassword resets a forgotten password with okta-auth-js's
// idx.recoverPassword semantics. With a nil State, or one this Client did
// not create, it starts a transaction; with a stored State it continues it.
//
// Whenever the current response offers the recover action of the current
// authenticator (currentAuthenticator.value.recover, or that of
// currentAuthenticatorEnrollment), it is posted first — at most once per
// call for each of the two, as okta-auth-js runs a flow's actions. Then the
// recovery steps are posted as far as opts allows: identify-recovery
// (Username), select-authenticator-authenticate (Authenticator, e.g.
// "phone_number"; MethodType "sms" or "voice"),
// authenticator-verification-data (MethodType), challenge-authenticator
// (VerificationCode), and reset-authenticator (NewPassword), whose
// NextStep.Authenticator.PasswordPolicy holds the rules the new password must
// meet. SUCCESS carries verified tokens, as with Authenticate.
//
// The State records the flow: Proceed, Resend and Cancel continue a
// password reset like this method does.
//
// Starting a reset — a new transaction, or one that was a sign-in or a
// registration — needs a response that offers it (a recover action, or
// identify-recovery already); otherwise the error matches
// ErrRecoveryUnavailable (and ErrActionUnavailable) and nothing was posted.
func (c *Client) RecoverPassword(ctx context.Context, st *State, opts Options) (*Transaction, error) {
	return c.startFlow(ctx, st, opts, FlowRecoverPassword)
}

// Register signs a new user up with okta-auth-js's idx.register semantics.
// With a nil State, or one this Client did not create, it starts a
// transaction; with a stored State it continues it.
//
// It posts select-enroll-profile (the choice to register), then
// enroll-profile once every profile attribute the server requires is in
// opts.Profile (or opts.Values by the input's name, e.g.
// "userProfile.email"), then select-authenticator-enroll and
// enroll-authenticator for the password (opts.Password, which chooses the
// password authenticator by itself), then any further enrollment the server
// requires — a phone (Authenticator "phone_number", PhoneNumber,
// MethodType, VerificationCode) or an authenticator app (Authenticator
// "google_otp", whose enroll-authenticator step shows the QR code and shared
// secret on NextStep.Authenticator, then VerificationCode) — as Authenticate
// does. A field the server refuses (an email already registered) comes back
// as a PENDING transaction whose input carries the message.
//
// Starting a registration — a new transaction, or one that was a sign-in or
// a password reset — needs select-enroll-profile in the current response
// (okta-auth-js checks enabledFeatures); otherwise the error matches
// ErrRegistrationUnavailable (and ErrActionUnavailable) and nothing was
// posted.
func (c *Client) Register(ctx context.Context, st *State, opts Options) (*Transaction, error) {
	return c.startFlow(ctx, st, opts, FlowRegister)
}

// startFlow is the common body of RecoverPassword and Register.
func (c *Client) startFlow(ctx context.Context, st *State, opts Options, flow Flow) (*Transaction, error) {
	if st.belongsTo(c) {
		st = st.clone()
	} else {
		var err error
		if st, err = c.start(ctx); err != nil {
			return nil, err
		}
	}
	resp, err := c.introspect(ctx, st)
	if err != nil {
		return nil, err
	}
	if st.Flow != flow && resp.succeeded && resp.interactionCode == "" && len(resp.remediations) > 0 {
		switch flow {
		case FlowRecoverPassword:
			if resp.action(isRecoverAction) == nil && resp.remediation(stepIdentifyRecovery) == nil {
				return nil, fmt.Errorf("%w: %w: the server offers no password recovery in this state", ErrRecoveryUnavailable, ErrActionUnavailable)
			}
		case FlowRegister:
			if resp.remediation(stepSelectEnrollProfile) == nil && resp.remediation(stepEnrollProfile) == nil {
				return nil, fmt.Errorf("%w: %w: the server offers no registration in this state", ErrRegistrationUnavailable, ErrActionUnavailable)
			}
		}
	}
	st.Flow = flow
	return c.continueWith(ctx, st, resp, opts)
}
