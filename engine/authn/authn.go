// Package authn says what an authenticator is to the sign-in flow. Every factor a
// user can prove after the password — the phone (authn/phone), an authenticator
// app (authn/totp) — implements Authenticator, and the IDX server
// (engine/idxserver) drives all of them through it: it lists a user's enrollments,
// starts a challenge, checks an answer, enrolls a new one, and renders each from
// what the authenticator says of itself. Nothing in the flow names a particular
// authenticator, so adding one is a new package plus one line in engine.New
// (docs/architecture.md).
//
// What stays in the flow, shared by every authenticator: the order of the steps,
// the count of wrong answers per user and the lockout it leads to, and finishing
// the sign-in. What each authenticator owns: its enrollments, how a challenge is
// made and checked (codes, sending them and the limits on sending), what it asks
// for when enrolling, and how it appears to clients.
package authn

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatehouse-id/gatehouse/engine/throttle"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// Keys of the authenticators, as Okta names them; clients choose by key.
const (
	KeyPassword = "okta_password"
	KeyPhone    = "phone_number"
	KeyTOTP     = "google_otp"
)

// Message is a user-facing message with the i18n key clients translate it by.
type Message struct {
	Key    string
	Text   string
	Params []string
}

// Problem is a step an authenticator refused, as the flow should answer it: the
// current state with Message on Field (or on the whole form when Field is "").
type Problem struct {
	Status  int
	Message Message
	// Field is "" (the whole form), "passcode", or the name of an enrollment data
	// field ("phoneNumber").
	Field string
	// Limit is set when a rate limit refused the step: its headers are sent.
	Limit *throttle.Decision
}

func (p *Problem) Error() string { return p.Message.Text }

// Refuse is a Problem with a status and a message on the whole form.
func Refuse(status int, msg Message) *Problem { return &Problem{Status: status, Message: msg} }

// OnField is a 400 Problem with msg on one input.
func OnField(field string, msg Message) *Problem {
	return &Problem{Status: http.StatusBadRequest, Message: msg, Field: field}
}

// Answers Verify and FinishEnroll give for a passcode that is not accepted; both
// count toward the lockout.
var (
	// ErrWrongCode: the passcode is not the right one.
	ErrWrongCode = errors.New("authn: wrong code")
	// ErrCodeGone: the code expired, was replaced by a newer one or was voided.
	ErrCodeGone = errors.New("authn: code expired or replaced")
	// ErrCodeUsed: the passcode was right but was already used once.
	ErrCodeUsed = errors.New("authn: code already used")
)

// Enrollment is one of a user's enrollments, as clients are shown it.
type Enrollment struct {
	ID string
	// Methods are the ways it can be used now, in the order they are offered.
	Methods []string
	// Profile is what it shows of itself (a phone's masked number); may be nil.
	Profile map[string]string
	// Target is where its codes go (a phone's E.164 number), for Challenge; it is
	// never shown to clients. "" when the authenticator sends nothing.
	Target string
}

// DataField is an input enrolling asks for before the code step.
type DataField struct {
	Name, Label string
}

// Request is the sign-in a step belongs to.
type Request struct {
	TransactionID string
	// UserID is "" for a password recovery of a login that names no user: the
	// authenticator must answer as it would for a user, and send nothing.
	UserID string
	Login  string
	// IP is the key of the client's address for per-address limits.
	IP string
	// KnownSource reports whether the request comes from a device or address that
	// completed a sign-in as the user before.
	KnownSource func() (bool, error)
}

// Challenge is an open verification or enrollment, kept in the transaction
// between steps.
type Challenge struct {
	// ID is the one-time code's challenge; "" for authenticators without one.
	ID string
	// Data is kept in the transaction (the number being enrolled, a sealed secret).
	Data map[string]string
	// MessageID names the queued message that carries a code, for log lines.
	MessageID string
}

// Authenticator is a factor the flow can verify and enroll.
type Authenticator interface {
	// Key, Type and DisplayName are how clients know it ("phone_number", "phone",
	// "Phone").
	Key() string
	Type() string
	DisplayName() string
	// MethodLabel names a method for people ("SMS", "Voice call").
	MethodLabel(method string) string
	// EnrollMethods are the methods a new enrollment can use; none means it is not
	// offered for enrollment.
	EnrollMethods() []string
	// Enrollments lists the usable enrollments of the account (read once per
	// request with everything else a step needs), oldest first.
	Enrollments(acct store.Account) []Enrollment
	// Challenge starts proving enrollment e — one Enrollments listed for the
	// request's user — by method: a code sent, or nothing for an app. A *Problem
	// error is shown to the user.
	Challenge(ctx context.Context, req Request, e Enrollment, method string) (Challenge, error)
	// Verify checks passcode for the open challenge c. A right answer is used up:
	// it works once. Wrong answers are ErrWrongCode, ErrCodeGone or ErrCodeUsed.
	Verify(ctx context.Context, req Request, e Enrollment, c Challenge, passcode string) error
	// Sends reports whether a challenge sends something (a code by SMS or call):
	// the flow then asks how before starting one, and offers to send a new code
	// while it is open.
	Sends() bool

	// EnrollData lists what enrolling asks for before the code step; none goes
	// straight to it.
	EnrollData() []DataField
	// BeginEnroll starts enrolling by method with the data asked for. A *Problem
	// error is shown to the user (on a data field when it names one).
	BeginEnroll(ctx context.Context, req Request, method string, data map[string]string) (Challenge, error)
	// ContextualData is shown with the enrollment's code step (an app's QR code and
	// shared secret); nil for none.
	ContextualData(req Request, c Challenge) map[string]any
	// FinishEnroll checks passcode and stores the new enrollment; wrong answers as
	// for Verify.
	FinishEnroll(ctx context.Context, req Request, method string, c Challenge, passcode string) (Enrollment, error)

	// AMR is the RFC 8176 value a sign-in that used method proves ("sms", "otp").
	AMR(method string) string
}
