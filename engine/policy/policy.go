// Package policy is the sign-on policy: what a sign-in needs once the password is
// proven, and which flows besides signing in the deployment offers.
package policy

// SignOn is the sign-on policy.
type SignOn struct {
	// RequireFactor asks for a second factor after the password: a code from a
	// phone or an authenticator app (sign_on.require_phone).
	RequireFactor bool
	// EnrollDuringSignIn lets a user without a second factor enroll one while
	// signing in (sign_on.phone_enrollment: sign_in).
	EnrollDuringSignIn bool
	// Recovery offers "forgot password" by a code to the user's phone
	// (sign_on.password_recovery).
	Recovery bool
	// Registration offers self-service registration (sign_on.self_registration)
	// with these profile fields besides the email address, which is the login.
	Registration       bool
	RegistrationFields []string
}

// Decision is what follows a verified password.
type Decision int

const (
	// Done: the user is signed in.
	Done Decision = iota
	// Verify: the user must prove one of their enrollments.
	Verify
	// Enroll: the user must enroll a factor first.
	Enroll
	// Deny: the policy needs a factor the user has not got and may not add.
	Deny
)

// AfterPassword decides the next step for a user with the given number of usable
// enrollments, when enrollable authenticators can be enrolled.
func (p SignOn) AfterPassword(enrollments, enrollable int) Decision {
	switch {
	case !p.RequireFactor:
		return Done
	case enrollments > 0:
		return Verify
	case p.EnrollDuringSignIn && enrollable > 0:
		return Enroll
	default:
		return Deny
	}
}

// AMR is the RFC 8176 list of methods a finished sign-in proved: the password, then
// the factor's value ("sms", "tel", "otp") and "mfa" when one was used.
func AMR(factor string) []string {
	if factor == "" {
		return []string{"pwd"}
	}
	return []string{"pwd", factor, "mfa"}
}
