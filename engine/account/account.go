// Package account is the only place users and their factors are created or
// changed: their profile, password, phones and authenticator apps, whether they may
// sign in, and their deletion. The command line (gatehouse users, the demo's
// seeding), the IDX server (registration, recovery, enrollment while signing in) and
// an account API all go through a Service, so that one set of rules holds
// everywhere: the login's form, the password rule (Policy), the phone number rules
// of sign-in, sealed authenticator-app secrets, and signing the user out everywhere
// (oauth.RevokeUserTokens) after every change that must.
//
// Errors are sentinels (errors.Is) or *PhoneNumberError (errors.As), which callers
// map to their own formats; the texts of the sentinels are sentences a person can
// act on. Reading users needs no Service: the store's Get* are enough.
package account

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/engine/authn"
	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/authn/totp"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/keyseal"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// PasswordPolicy describes what a password must be: what CheckPassword enforces,
// in the terms of the IDX protocol's password settings (settings.complexity), so
// that a form can tell the user before they submit.
type PasswordPolicy struct {
	// MinLength is the least number of characters (Unicode code points).
	MinLength int
	// MaxBytes is the most bytes of UTF-8 (password.MaxPasswordBytes): the work of
	// hashing one is bounded.
	MaxBytes int
	// The least number of lower-case letters, upper-case letters, digits and
	// symbols; 0: none required.
	MinLowerCase, MinUpperCase, MinNumber, MinSymbol int
	// ExcludeUsername: whether the password may not contain the login.
	ExcludeUsername bool
}

// Policy is the one password rule: at least 8 characters (NIST SP 800-63B
// 5.1.1.2) and at most password.MaxPasswordBytes bytes, with no composition rules.
var Policy = PasswordPolicy{MinLength: 8, MaxBytes: password.MaxPasswordBytes}

// MaxLoginBytes is the longest login, in bytes of UTF-8.
const MaxLoginBytes = 256

// Errors for input the Service refuses and for states that forbid a change.
var (
	ErrPasswordTooShort = fmt.Errorf("the password must have at least %d characters", Policy.MinLength)
	ErrPasswordTooLong  = fmt.Errorf("the password must have at most %d bytes", Policy.MaxBytes)

	ErrLoginEmpty   = errors.New("the login must not be empty")
	ErrLoginInvalid = fmt.Errorf("the login must be valid text of at most %d bytes", MaxLoginBytes)
	ErrLoginSpaces  = errors.New("the login must not contain spaces")
	ErrLoginTaken   = errors.New("a user with this login exists already")

	ErrUserNotFound = errors.New("no such user")
	ErrNoPassword   = errors.New("the user has no password")

	ErrNoPhoneMethod = errors.New("a phone needs SMS or voice (or both)")
	ErrPhoneTaken    = errors.New("the user already has this phone number")
	ErrNoSuchPhone   = errors.New("the user has no such phone")

	ErrTOTPEnrolled = errors.New("the user already has an authenticator app")
	ErrNoTOTP       = errors.New("the user has no authenticator app")
	// ErrTOTPUsed: the code is right but its time step was already accepted once
	// (CheckTOTP tells it apart; VerifyTOTP answers false).
	ErrTOTPUsed = errors.New("this authenticator-app code was already used")

	// ErrNotSignedOut comes with a change that was made, but after which the
	// user's tokens and sessions could not all be revoked; the error joined to it
	// says why. Retrying the revocation (oauth.RevokeUserTokens) completes it.
	ErrNotSignedOut = errors.New("the change was made, but the user could not be signed out everywhere")
)

// PhoneNumberError is a phone number the Service refuses: Err is
// phone.ErrInvalidNumber, phone.ErrRefusedNumber, phone.ErrNumberTooLong or
// phone.ErrRegionNotAllowed.
type PhoneNumberError struct {
	Input string // the number as given
	Err   error
}

func (e *PhoneNumberError) Error() string { return fmt.Sprintf("%q: %v", e.Input, e.Err) }
func (e *PhoneNumberError) Unwrap() error { return e.Err }

// Deps are what a Service works with.
type Deps struct {
	Store store.Store
	// Hasher hashes new passwords. Only Create with a password and SetPassword
	// need it; without one they fail.
	Hasher *password.Hasher
	// Sealer seals authenticator-app secrets. Only the TOTP methods need it;
	// without one they fail.
	Sealer *keyseal.Sealer
	// PhoneRules are the deployment's countries (phone.allowed_regions and
	// blocked_regions), applied on top of the number types sign-in refuses.
	PhoneRules phone.Rules
	// DefaultRegion is the country of numbers given without +country code
	// (phone.default_region); "" means US.
	DefaultRegion string
	// ProductName names the issuer in authenticator apps (product_name); ""
	// means Gatehouse.
	ProductName string
	// Now is the clock; nil means time.Now. Times are stored to the millisecond.
	Now func() time.Time
}

// Service creates and changes users and their factors.
type Service struct {
	d Deps
}

// New returns a Service; d.Store is required.
func New(d Deps) (*Service, error) {
	if d.Store == nil {
		return nil, errors.New("account: Deps.Store is required")
	}
	if d.DefaultRegion == "" {
		d.DefaultRegion = "US"
	}
	if d.ProductName == "" {
		d.ProductName = "Gatehouse"
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{d: d}, nil
}

func (s *Service) now() time.Time { return s.d.Now().UTC().Truncate(time.Millisecond) }

// Check enforces the policy's length rules (the composition rules Policy sets are
// zero): ErrPasswordTooShort or ErrPasswordTooLong.
func (p PasswordPolicy) Check(pw string) error {
	if utf8.RuneCountInString(pw) < p.MinLength {
		return ErrPasswordTooShort
	}
	if len(pw) > p.MaxBytes {
		return ErrPasswordTooLong
	}
	return nil
}

// CheckPassword is Policy.Check: whether pw may become a password.
func (s *Service) CheckPassword(pw string) error { return Policy.Check(pw) }

// NormalizeLogin is the form logins are stored and looked up in: without
// surrounding space, lower-case.
func NormalizeLogin(login string) string { return strings.ToLower(strings.TrimSpace(login)) }

// ParseLogin normalises (NormalizeLogin) and checks (CheckLogin) a login as
// given. Invalid UTF-8 is refused before lower-casing, which would turn it into
// U+FFFD.
func ParseLogin(raw string) (string, error) {
	if !utf8.ValidString(raw) {
		return "", ErrLoginInvalid
	}
	login := NormalizeLogin(raw)
	return login, CheckLogin(login)
}

// CheckLogin checks a normalised login: not empty, valid UTF-8 of at most
// MaxLoginBytes bytes, no spaces.
func CheckLogin(login string) error {
	switch {
	case login == "":
		return ErrLoginEmpty
	case len(login) > MaxLoginBytes || !utf8.ValidString(login):
		return ErrLoginInvalid
	case strings.ContainsAny(login, " \t\r\n"):
		return ErrLoginSpaces
	}
	return nil
}

// NewUser is a user to create.
type NewUser struct {
	Login      string // read by ParseLogin
	Email      string // "" means the login, when it contains an @
	GivenName  string
	FamilyName string
	Locale     string // BCP 47, optional
	// Password is the user's first password, checked against Policy; "" creates
	// the user without one.
	Password string
	// Phone, when not empty, is enrolled for SMS and voice codes: a number as
	// typed, read as DefaultRegion's when it has no +country code, under the rules
	// of sign-in.
	Phone string
	// Status is the new user's state: "" or store.UserActive, store.UserStaged
	// (created, not yet activated: may not sign in), or store.UserPasswordExpired
	// (must choose a new password at the first sign-in; needs Password).
	Status store.UserStatus
}

// Create creates a user, with their password and phone, all or nothing. The login
// must be free (ErrLoginTaken).
func (s *Service) Create(ctx context.Context, n NewUser) (store.User, error) {
	login, err := ParseLogin(n.Login)
	if err != nil {
		return store.User{}, err
	}
	email := n.Email
	if email == "" && strings.Contains(login, "@") {
		email = login
	}
	var e164 string
	if n.Phone != "" {
		if e164, err = s.parsePhone(n.Phone, ""); err != nil {
			return store.User{}, err
		}
	}
	status := cmp.Or(n.Status, store.UserActive)
	switch {
	case status == store.UserPasswordExpired && n.Password == "":
		return store.User{}, ErrNoPassword
	case status != store.UserActive && status != store.UserStaged && status != store.UserPasswordExpired:
		return store.User{}, fmt.Errorf("account: a user cannot be created %s", status)
	}
	var hash string
	if n.Password != "" {
		if err := Policy.Check(n.Password); err != nil {
			return store.User{}, err
		}
		if hash, err = s.hash(ctx, n.Password); err != nil {
			return store.User{}, err
		}
	}
	now := s.now()
	rec := store.UserRecord{User: store.User{ID: opaque.ID("00u"), Login: login, Email: email, GivenName: n.GivenName,
		FamilyName: n.FamilyName, Locale: n.Locale, CreatedAt: now, UpdatedAt: now}}
	rec.User.Status, rec.User.Disabled, rec.User.StatusChangedAt = status, status.RefusesSignIn(), now
	if !status.RefusesSignIn() {
		rec.User.ActivatedAt = now
	}
	if hash != "" {
		rec.Password = &store.PasswordCredential{UserID: rec.User.ID, Hash: hash, UpdatedAt: now}
	}
	if e164 != "" {
		rec.Phones = []store.PhoneEnrollment{{ID: opaque.ID("sms"), UserID: rec.User.ID, Number: e164, SMS: true, Voice: true, CreatedAt: now}}
	}
	if err := s.d.Store.ImportUsers(createdEvents(ctx, rec), []store.UserRecord{rec}); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return store.User{}, ErrLoginTaken
		}
		return store.User{}, err
	}
	return rec.User, nil
}

func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	if s.d.Hasher == nil {
		return "", errors.New("account: no password hasher (Deps.Hasher)")
	}
	return s.d.Hasher.Hash(ctx, pw)
}

// ProfileChange says which profile fields UpdateProfile changes: nil ones stay.
type ProfileChange struct {
	Login, Email, GivenName, FamilyName, Locale *string
}

// UpdateProfile changes the user's profile as ch says. A new login is normalised
// and checked, and must be free (ErrLoginTaken). The user stays signed in.
func (s *Service) UpdateProfile(ctx context.Context, userID string, ch ProfileChange) (store.User, error) {
	var login string
	if ch.Login != nil {
		var err error
		if login, err = ParseLogin(*ch.Login); err != nil {
			return store.User{}, err
		}
	}
	now := s.now()
	u, err := s.d.Store.UpdateUser(recorded(ctx, eventlog.TypeUserUpdate, userID, profileChanged(ch)), userID, func(u store.User) (store.User, error) {
		if ch.Login != nil {
			u.Login = login
		}
		for _, f := range []struct {
			to   *string
			from *string
		}{{&u.Email, ch.Email}, {&u.GivenName, ch.GivenName}, {&u.FamilyName, ch.FamilyName}, {&u.Locale, ch.Locale}} {
			if f.from != nil {
				*f.to = *f.from
			}
		}
		u.UpdatedAt = now
		return u, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return u, ErrUserNotFound
	case errors.Is(err, store.ErrAlreadyExists):
		return u, ErrLoginTaken
	}
	return u, err
}

// SetPassword checks pw against Policy, stores its hash as the user's password
// and then signs the user out everywhere (oauth.RevokeUserTokens): their tokens are
// revoked and their sessions end. It returns how many live refresh tokens were
// revoked.
func (s *Service) SetPassword(ctx context.Context, userID, pw string) (revoked int64, err error) {
	if err := Policy.Check(pw); err != nil {
		return 0, err
	}
	hash, err := s.hash(ctx, pw)
	if err != nil {
		return 0, err
	}
	err = s.d.Store.SetPassword(recorded(ctx, eventlog.TypeUserPassword, userID, nil), store.PasswordCredential{UserID: userID, Hash: hash, UpdatedAt: s.now()})
	if errors.Is(err, store.ErrNotFound) {
		return 0, ErrUserNotFound
	} else if err != nil {
		return 0, err
	}
	if err := s.unexpire(ctx, userID); err != nil {
		return 0, err
	}
	return s.signOut(ctx, userID)
}

// signOut revokes every token of the user issued until now and ends their
// sessions.
func (s *Service) signOut(ctx context.Context, userID string) (int64, error) {
	n, err := oauth.RevokeUserTokens(ctx, s.d.Store, userID, s.now())
	if err != nil {
		return 0, errors.Join(ErrNotSignedOut, err)
	}
	return n, nil
}

// SignOut revokes every token issued to the user until now and ends their
// sessions, changing nothing else; it returns how many live refresh tokens it
// revoked.
func (s *Service) SignOut(ctx context.Context, userID string) (int64, error) {
	n, err := oauth.RevokeUserTokens(ctx, s.d.Store, userID, s.now())
	return n, err
}

// Disable stops the user from signing in — they are deprovisioned, whatever
// their state — and signs them out everywhere; it returns how many live refresh
// tokens were revoked.
func (s *Service) Disable(ctx context.Context, userID string) (revoked int64, err error) {
	if _, err := s.transition(ctx, userID, "disable", store.UserDeprovisioned, nil); err != nil {
		return 0, err
	}
	return s.signOut(ctx, userID)
}

// Enable lets a user who may not sign in (staged, suspended, deprovisioned) sign
// in again: they are active. Tokens revoked before stay revoked.
func (s *Service) Enable(ctx context.Context, userID string) error {
	_, err := s.transition(ctx, userID, "enable", store.UserActive, func(from store.UserStatus) bool {
		return from.RefusesSignIn()
	})
	var te *TransitionError
	if errors.As(err, &te) {
		return nil // already allowed to sign in
	}
	return err
}

// Delete signs the user out everywhere and deletes them with their password,
// phones, authenticator apps, refresh tokens and open sign-ins. The tokens are
// revoked first: access tokens already out are refused from then on, and those of
// a sign-in finishing during the delete die with the user.
func (s *Service) Delete(ctx context.Context, userID string) error {
	if err := s.exists(ctx, userID); err != nil {
		return err
	}
	if _, err := oauth.RevokeUserTokens(ctx, s.d.Store, userID, s.now()); err != nil {
		return err
	}
	err := s.d.Store.DeleteUser(recorded(ctx, eventlog.TypeUserDelete, userID, nil), userID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrUserNotFound
	}
	return err
}

// exists returns ErrUserNotFound if there is no such user.
func (s *Service) exists(ctx context.Context, userID string) error {
	_, err := s.d.Store.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrUserNotFound
	}
	return err
}

// PhoneOptions are how a phone may receive codes, and how its number is read.
type PhoneOptions struct {
	SMS, Voice bool // at least one (ErrNoPhoneMethod)
	// Region is the country of a number given without +country code; "" means
	// Deps.DefaultRegion.
	Region string
}

// ParsePhone reads a phone number as AddPhone does — under sign-in's rules, as a
// number of region ("" for DefaultRegion) when it has no +country code — and
// returns it in E.164, or a *PhoneNumberError: for checking a number before
// asking for more.
func (s *Service) ParsePhone(input, region string) (string, error) {
	return s.parsePhone(input, region)
}

// parsePhone applies sign-in's number rules (phone.Rules.Parse) to input.
func (s *Service) parsePhone(input, region string) (string, error) {
	if region == "" {
		region = s.d.DefaultRegion
	}
	e164, err := s.d.PhoneRules.Parse(input, strings.ToUpper(region))
	if err != nil {
		return "", &PhoneNumberError{Input: input, Err: err}
	}
	return e164, nil
}

// AddPhone enrolls a phone number for the user, checked by the same rules as a
// number enrolled while signing in (*PhoneNumberError), once per user
// (ErrPhoneTaken).
func (s *Service) AddPhone(ctx context.Context, userID, number string, o PhoneOptions) (store.PhoneEnrollment, error) {
	if !o.SMS && !o.Voice {
		return store.PhoneEnrollment{}, ErrNoPhoneMethod
	}
	e164, err := s.parsePhone(number, o.Region)
	if err != nil {
		return store.PhoneEnrollment{}, err
	}
	e := store.PhoneEnrollment{ID: opaque.ID("sms"), UserID: userID, Number: e164, SMS: o.SMS, Voice: o.Voice, CreatedAt: s.now()}
	switch err := s.d.Store.CreatePhoneEnrollment(recorded(ctx, eventlog.TypeFactorActivate, userID, nil, phoneTarget(e)), e); {
	case errors.Is(err, store.ErrAlreadyExists):
		return e, ErrPhoneTaken
	case errors.Is(err, store.ErrNotFound):
		return e, ErrUserNotFound
	case err != nil:
		return e, err
	}
	return e, nil
}

// EnrollPhone stores a phone the user proved while signing in (the phone
// authenticator's enrollment): AddPhone with these methods, where a number the
// user has already is not an error.
func (s *Service) EnrollPhone(ctx context.Context, userID, number string, sms, voice bool) error {
	_, err := s.AddPhone(ctx, userID, number, PhoneOptions{SMS: sms, Voice: voice})
	if errors.Is(err, ErrPhoneTaken) {
		return nil
	}
	return err
}

// RemovePhone removes the user's phone named by which — its enrollment id, or its
// number as stored or as typed (read as DefaultRegion's without +country code) —
// and signs the user out everywhere. A number stored before the rules refused its
// kind stays removable. It returns the phone removed and how many live refresh
// tokens were revoked; ErrNoSuchPhone if none matches.
func (s *Service) RemovePhone(ctx context.Context, userID, which string) (store.PhoneEnrollment, int64, error) {
	phones, err := s.d.Store.ListPhoneEnrollments(ctx, userID)
	if err != nil {
		return store.PhoneEnrollment{}, 0, err
	}
	e164, _ := phone.ParseNumber(which, s.d.DefaultRegion)
	for _, p := range phones {
		if p.ID == which || p.Number == strings.TrimSpace(which) || (e164 != "" && p.Number == e164) {
			if err := s.d.Store.DeletePhoneEnrollment(recorded(ctx, eventlog.TypeFactorDeactivate, userID, nil, phoneTarget(p)), p.ID); err != nil {
				if errors.Is(err, store.ErrNotFound) { // removed meanwhile
					return store.PhoneEnrollment{}, 0, ErrNoSuchPhone
				}
				return store.PhoneEnrollment{}, 0, err
			}
			n, err := s.signOut(ctx, userID)
			return p, n, err
		}
	}
	return store.PhoneEnrollment{}, 0, ErrNoSuchPhone
}

// TOTPEnrollment is an authenticator app just enrolled, with what the user needs
// to add it to the app: the secret is shown once and then kept only sealed.
type TOTPEnrollment struct {
	Enrollment store.Enrollment // as stored: Secret is sealed
	Key        totp.Key         // the secret in base32, the key URI, the QR code
}

// AddTOTP enrolls an authenticator app for the user with a fresh secret
// (totp.NewKey, issuer ProductName and account the login), stored sealed. A user
// has at most one (ErrTOTPEnrolled).
func (s *Service) AddTOTP(ctx context.Context, userID string) (TOTPEnrollment, error) {
	if s.d.Sealer == nil {
		return TOTPEnrollment{}, errors.New("account: no key-encryption key (Deps.Sealer) to seal the secret with")
	}
	u, err := s.d.Store.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return TOTPEnrollment{}, ErrUserNotFound
	}
	if err != nil {
		return TOTPEnrollment{}, err
	}
	if _, err := s.findTOTP(ctx, userID); err == nil {
		return TOTPEnrollment{}, ErrTOTPEnrolled
	} else if !errors.Is(err, ErrNoTOTP) {
		return TOTPEnrollment{}, err
	}
	key, err := totp.NewKey(s.d.ProductName, u.Login)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	e, err := s.EnrollTOTP(ctx, userID, key.Secret, 0)
	if err != nil {
		return TOTPEnrollment{}, err
	}
	return TOTPEnrollment{Enrollment: e, Key: key}, nil
}

// EnrollTOTP stores an authenticator app for the user with a secret they already
// have (the IDX enrollment, once they typed a code of it), sealed, with lastUsed
// the step of that code (0 for none) so that it cannot be used again. A user has
// at most one (ErrTOTPEnrolled).
func (s *Service) EnrollTOTP(ctx context.Context, userID, secret string, lastUsed int64) (store.Enrollment, error) {
	if s.d.Sealer == nil {
		return store.Enrollment{}, errors.New("account: no key-encryption key (Deps.Sealer) to seal the secret with")
	}
	if err := totp.CheckSecret(secret); err != nil {
		return store.Enrollment{}, err
	}
	id := opaque.ID("uft")
	e := store.Enrollment{ID: id, UserID: userID, Authenticator: totp.AuthenticatorKey,
		Secret: totp.Seal(s.d.Sealer, secret, keyseal.EnrollmentAD(id)), LastUsed: lastUsed, CreatedAt: s.now()}
	switch err := s.d.Store.CreateEnrollment(recorded(ctx, eventlog.TypeFactorActivate, userID, nil, enrollmentTarget(e)), e); {
	case errors.Is(err, store.ErrAlreadyExists):
		return store.Enrollment{}, ErrTOTPEnrolled
	case errors.Is(err, store.ErrNotFound):
		return store.Enrollment{}, ErrUserNotFound
	case err != nil:
		return store.Enrollment{}, err
	}
	return e, nil
}

// VerifyTOTP checks a code of the user's authenticator app (totp.Verify) and, if
// it is right, records its time step so that it is not accepted again — atomically
// on every node: of two sign-ins racing with one code, one wins. ErrNoTOTP if the
// user has none; a wrong or used code is (false, nil).
func (s *Service) VerifyTOTP(ctx context.Context, userID, code string) (bool, error) {
	ok, err := s.verifyTOTP(ctx, userID, code)
	if errors.Is(err, ErrTOTPUsed) {
		return false, nil
	}
	return ok, err
}

// verifyTOTP is VerifyTOTP telling a used code (ErrTOTPUsed) from a wrong one.
func (s *Service) verifyTOTP(ctx context.Context, userID, code string) (bool, error) {
	if s.d.Sealer == nil {
		return false, errors.New("account: no key-encryption key (Deps.Sealer) to open the secret with")
	}
	e, err := s.findTOTP(ctx, userID)
	if err != nil {
		return false, err
	}
	errRefused := errors.New("refused")
	now := s.d.Now()
	_, err = s.d.Store.UpdateEnrollment(ctx, e.ID, func(e store.Enrollment) (store.Enrollment, error) {
		secret, err := totp.Open(s.d.Sealer, e.Secret, keyseal.EnrollmentAD(e.ID))
		if err != nil {
			return e, s.d.Sealer.OpenError("the authenticator app of user "+e.UserID, err)
		}
		step, ok := totp.Verify(secret, code, now, e.LastUsed)
		if !ok {
			if _, ever := totp.Verify(secret, code, now, -1); ever {
				return e, ErrTOTPUsed
			}
			return e, errRefused
		}
		e.LastUsed = step
		return e, nil
	})
	switch {
	case err == errRefused:
		return false, nil
	case errors.Is(err, ErrTOTPUsed):
		return false, err
	case errors.Is(err, store.ErrNotFound): // removed meanwhile
		return false, ErrNoTOTP
	case err != nil:
		return false, err
	}
	return true, nil
}

// EnrollTOTPSecret is EnrollTOTP for the authenticator app's enrollment while
// signing in (totp.Options.Enroll).
func (s *Service) EnrollTOTPSecret(ctx context.Context, userID, secret string, lastUsed int64) error {
	_, err := s.EnrollTOTP(ctx, userID, secret, lastUsed)
	return err
}

// CheckTOTP is VerifyTOTP for the authenticator app's sign-in (totp.Options.Verify):
// nil for a right code, totp.ErrUsed for one already used, authn.ErrWrongCode
// for a wrong one or when the user has no app.
func (s *Service) CheckTOTP(ctx context.Context, userID, code string) error {
	ok, err := s.verifyTOTP(ctx, userID, code)
	switch {
	case errors.Is(err, ErrTOTPUsed):
		return totp.ErrUsed
	case errors.Is(err, ErrNoTOTP), err == nil && !ok:
		return authn.ErrWrongCode
	}
	return err
}

// findTOTP returns the user's authenticator-app enrollment, or ErrNoTOTP.
func (s *Service) findTOTP(ctx context.Context, userID string) (store.Enrollment, error) {
	list, err := s.d.Store.ListEnrollments(ctx, userID)
	if err != nil {
		return store.Enrollment{}, err
	}
	for _, e := range list {
		if e.Authenticator == totp.AuthenticatorKey {
			return e, nil
		}
	}
	return store.Enrollment{}, ErrNoTOTP
}

// RemoveTOTP removes the user's authenticator app and signs them out everywhere.
// It returns the enrollment removed and how many live refresh tokens were revoked;
// ErrNoTOTP if they have none.
func (s *Service) RemoveTOTP(ctx context.Context, userID string) (store.Enrollment, int64, error) {
	e, err := s.findTOTP(ctx, userID)
	if err != nil {
		return e, 0, err
	}
	if err := s.d.Store.DeleteEnrollment(recorded(ctx, eventlog.TypeFactorDeactivate, userID, nil, enrollmentTarget(e)), e.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) { // removed meanwhile
			return e, 0, ErrNoTOTP
		}
		return e, 0, err
	}
	n, err := s.signOut(ctx, userID)
	return e, n, err
}

// Reset is what ResetFactors removed.
type Reset struct {
	Phones      []store.PhoneEnrollment
	Enrollments []store.Enrollment
	// Pending are the phones that waited for their first code.
	Pending []store.PendingPhone
	// Revoked counts the live refresh tokens revoked.
	Revoked int64
}

// ResetFactors removes every phone and every other enrollment (authenticator apps)
// of the user, keeping their password, and signs them out everywhere: their next
// sign-in enrolls factors anew, as a new user's does.
func (s *Service) ResetFactors(ctx context.Context, userID string) (Reset, error) {
	var r Reset
	if err := s.exists(ctx, userID); err != nil {
		return r, err
	}
	err := s.removeFactors(ctx, userID, &r)
	if len(r.Phones)+len(r.Enrollments)+len(r.Pending) == 0 && err != nil {
		return r, err
	}
	// Whatever was removed, the user is signed out, even if not everything was.
	n, serr := s.signOut(ctx, userID)
	r.Revoked = n
	return r, errors.Join(err, serr)
}

func (s *Service) removeFactors(ctx context.Context, userID string, r *Reset) error {
	phones, err := s.d.Store.ListPhoneEnrollments(ctx, userID)
	if err != nil {
		return err
	}
	for _, p := range phones {
		if err := s.d.Store.DeletePhoneEnrollment(recorded(ctx, eventlog.TypeFactorDeactivate, userID, nil, phoneTarget(p)), p.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		r.Phones = append(r.Phones, p)
	}
	enrollments, err := s.d.Store.ListEnrollments(ctx, userID)
	if err != nil {
		return err
	}
	for _, e := range enrollments {
		if err := s.d.Store.DeleteEnrollment(recorded(ctx, eventlog.TypeFactorDeactivate, userID, nil, enrollmentTarget(e)), e.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		r.Enrollments = append(r.Enrollments, e)
	}
	pending, err := s.d.Store.ListPendingPhones(ctx, userID)
	if err != nil {
		return err
	}
	for _, p := range pending {
		if err := s.d.Store.DeletePendingPhone(ctx, p.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		r.Pending = append(r.Pending, p)
	}
	return nil
}
