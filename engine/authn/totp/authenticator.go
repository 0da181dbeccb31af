package totp

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/authn"
	"github.com/gatehouse-id/gatehouse/engine/keyseal"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// Method is the authenticator app's one method, as Okta names it.
const Method = "otp"

// Options configure the authenticator app.
type Options struct {
	// Store lists the users' enrollments.
	Store store.EnrollmentStore
	// Sealer seals the secret of an enrollment in progress, which the transaction
	// carries until the first code is right.
	Sealer *keyseal.Sealer
	// Issuer names the deployment in the user's app (product_name).
	Issuer string
	// Enroll stores a new enrollment for a secret the user proved, with lastUsed
	// the step of the code that proved it; Verify checks a code of the user's
	// enrollment and records its step (nil for a right code, ErrUsed for a right
	// one already used). Both are the account package's (account.EnrollTOTP,
	// account.VerifyTOTP): users' factors change only there.
	Enroll func(ctx context.Context, userID, secret string, lastUsed int64) error
	Verify func(ctx context.Context, userID, code string) error
	Now    func() time.Time
}

// ErrUsed is what Options.Verify answers for a right code already used once.
var ErrUsed = errors.New("totp: code already used")

// Authenticator is the authenticator app as the sign-in flow drives it
// (authn.Authenticator): an enrollment is a secret shared with the user's app, a
// challenge sends nothing, and a code is accepted once — a code of a time step at
// or before the last one accepted is refused as used.
type Authenticator struct{ o Options }

var _ authn.Authenticator = (*Authenticator)(nil)

// NewAuthenticator returns the authenticator app.
func NewAuthenticator(o Options) *Authenticator {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Authenticator{o: o}
}

func (a *Authenticator) Key() string                   { return AuthenticatorKey }
func (a *Authenticator) Type() string                  { return "app" }
func (a *Authenticator) DisplayName() string           { return "Google Authenticator" }
func (a *Authenticator) MethodLabel(string) string     { return "Enter a code" }
func (a *Authenticator) EnrollMethods() []string       { return []string{Method} }
func (a *Authenticator) Sends() bool                   { return false }
func (a *Authenticator) AMR(string) string             { return "otp" }
func (a *Authenticator) EnrollData() []authn.DataField { return nil }

// Enrollments lists the user's app (at most one).
func (a *Authenticator) Enrollments(acct store.Account) []authn.Enrollment {
	var out []authn.Enrollment
	for _, e := range acct.Enrollments {
		if e.Authenticator == AuthenticatorKey {
			out = append(out, authn.Enrollment{ID: e.ID, Methods: []string{Method}})
		}
	}
	return out
}

// Challenge sends nothing: the code is on the user's app.
func (a *Authenticator) Challenge(context.Context, authn.Request, authn.Enrollment, string) (authn.Challenge, error) {
	return authn.Challenge{}, nil
}

// Verify checks a code of the user's app, once.
func (a *Authenticator) Verify(ctx context.Context, req authn.Request, _ authn.Enrollment, _ authn.Challenge, passcode string) error {
	if req.UserID == "" {
		return authn.ErrWrongCode
	}
	switch err := a.o.Verify(ctx, req.UserID, passcode); {
	case errors.Is(err, ErrUsed):
		return authn.ErrCodeUsed
	case err != nil:
		return err
	}
	return nil
}

// pendingSecret is where the transaction keeps the secret being enrolled, sealed
// and bound to the transaction.
const pendingSecret = "totp_secret"

// BeginEnroll makes a fresh secret for the user to add to their app.
func (a *Authenticator) BeginEnroll(_ context.Context, req authn.Request, method string, _ map[string]string) (authn.Challenge, error) {
	if method != Method {
		return authn.Challenge{}, authn.Refuse(http.StatusBadRequest, authn.Message{Key: "gatehouse.method.unavailable",
			Text: "This authenticator cannot be used that way. Choose another method."})
	}
	secret, err := NewSecret()
	if err != nil {
		return authn.Challenge{}, err
	}
	sealed := Seal(a.o.Sealer, secret, keyseal.TransactionAD(req.TransactionID))
	return authn.Challenge{Data: map[string]string{pendingSecret: base64.RawURLEncoding.EncodeToString(sealed)}}, nil
}

// secretOf opens the secret a transaction is enrolling.
func (a *Authenticator) secretOf(req authn.Request, c authn.Challenge) (string, error) {
	sealed, err := base64.RawURLEncoding.DecodeString(c.Data[pendingSecret])
	if err != nil || len(sealed) == 0 {
		return "", authn.ErrCodeGone
	}
	return Open(a.o.Sealer, sealed, keyseal.TransactionAD(req.TransactionID))
}

// ContextualData shows the secret being enrolled as Okta does: a QR code of its
// key URI and the secret itself, for typing in.
func (a *Authenticator) ContextualData(req authn.Request, c authn.Challenge) map[string]any {
	secret, err := a.secretOf(req, c)
	if err != nil {
		return nil
	}
	uri, err := KeyURI(secret, a.o.Issuer, req.Login)
	if err != nil {
		return nil
	}
	qr, err := QRCodeDataURI(uri)
	if err != nil {
		return nil
	}
	return map[string]any{
		"qrcode":       map[string]string{"method": "embedded", "href": qr, "type": "image/png"},
		"sharedSecret": secret,
	}
}

// FinishEnroll stores the enrollment once a code of the new secret is right.
func (a *Authenticator) FinishEnroll(ctx context.Context, req authn.Request, _ string, c authn.Challenge, passcode string) (authn.Enrollment, error) {
	secret, err := a.secretOf(req, c)
	if err != nil {
		return authn.Enrollment{}, err
	}
	step, ok := Verify(secret, passcode, a.o.Now(), -1)
	if !ok {
		return authn.Enrollment{}, authn.ErrWrongCode
	}
	if err := a.o.Enroll(ctx, req.UserID, secret, step); err != nil {
		return authn.Enrollment{}, err
	}
	return authn.Enrollment{Methods: []string{Method}}, nil
}
