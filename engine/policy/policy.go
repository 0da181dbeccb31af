// Package policy decides what a sign-in still needs once the password is proven: a
// phone code from an enrolled phone, enrolling a phone first, or nothing.
package policy

import (
	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// SignOn is the sign-on policy.
type SignOn struct {
	RequirePhone    bool // a phone code is needed after the password
	PhoneEnrollment bool // a user without a phone may enroll one while signing in
	SMS, Voice      bool // delivery methods the deployment offers
}

// Decision is what follows a verified password.
type Decision int

const (
	// Done: the user is signed in.
	Done Decision = iota
	// VerifyPhone: the user must prove one of their phones.
	VerifyPhone
	// EnrollPhone: the user must add a phone and prove it.
	EnrollPhone
	// Deny: the policy needs a phone the user has not got and may not add.
	Deny
)

// AfterPassword decides the next step for a user with the given phones.
func (p SignOn) AfterPassword(phones []store.PhoneEnrollment) Decision {
	switch {
	case !p.RequirePhone:
		return Done
	case len(p.UsablePhones(phones)) > 0:
		return VerifyPhone
	case p.PhoneEnrollment:
		return EnrollPhone
	default:
		return Deny
	}
}

// UsablePhones keeps the phones that can receive a code by a method the deployment
// offers.
func (p SignOn) UsablePhones(phones []store.PhoneEnrollment) []store.PhoneEnrollment {
	var out []store.PhoneEnrollment
	for _, e := range phones {
		if len(p.Methods(e)) > 0 {
			out = append(out, e)
		}
	}
	return out
}

// Methods lists how a code can reach e, in the order they are offered: SMS first.
func (p SignOn) Methods(e store.PhoneEnrollment) []string {
	var m []string
	if p.SMS && e.SMS {
		m = append(m, phone.SMS)
	}
	if p.Voice && e.Voice {
		m = append(m, phone.Voice)
	}
	return m
}

// EnrollMethods lists the methods offered when enrolling a new phone.
func (p SignOn) EnrollMethods() []string {
	return p.Methods(store.PhoneEnrollment{SMS: true, Voice: true})
}

// AMR is the RFC 8176 list of methods a finished sign-in proved: the password, then
// "sms" for a texted code or "tel" for a code read out in a call, and "mfa" when
// both factors were used.
func AMR(phoneMethod string) []string {
	switch phoneMethod {
	case phone.SMS:
		return []string{"pwd", "sms", "mfa"}
	case phone.Voice:
		return []string{"pwd", "tel", "mfa"}
	default:
		return []string{"pwd"}
	}
}
