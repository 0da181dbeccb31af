package account

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// Factors one method at a time, as Okta's Factors API shows them: a phone that
// takes SMS and voice codes is two factors, "sms" and "call". Each has an id of its
// own: the phone's id for SMS, and for voice the same with "clf" in place of its
// "sms" prefix (PhoneFactorID). A phone an operator enrolls without proving it
// first waits as a store.PendingPhone, under the id it will keep, until its code
// comes back (ActivatePendingPhone).

// ErrNoSuchFactor: the user has no factor with that id.
var ErrNoSuchFactor = errors.New("the user has no such factor")

// PhoneFactorID is the factor id of phone p's method (phone.SMS or phone.Voice).
func PhoneFactorID(p store.PhoneEnrollment, method string) string {
	if method == phone.Voice {
		return voicePrefix + strings.TrimPrefix(p.ID, smsPrefix)
	}
	return p.ID
}

const (
	smsPrefix   = "sms"
	voicePrefix = "clf"
)

// PhoneFactor is one method of one of the user's phones.
type PhoneFactor struct {
	Phone  store.PhoneEnrollment
	Method string // phone.SMS or phone.Voice
}

// ID is the factor's id (PhoneFactorID).
func (f PhoneFactor) ID() string { return PhoneFactorID(f.Phone, f.Method) }

// PhoneFactors lists the user's phones as factors: each phone's SMS, then its
// voice, in the order of the phones (oldest first).
func (s *Service) PhoneFactors(ctx context.Context, userID string) ([]PhoneFactor, error) {
	phones, err := s.d.Store.ListPhoneEnrollments(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []PhoneFactor
	for _, p := range phones {
		if p.SMS {
			out = append(out, PhoneFactor{Phone: p, Method: phone.SMS})
		}
		if p.Voice {
			out = append(out, PhoneFactor{Phone: p, Method: phone.Voice})
		}
	}
	return out, nil
}

// FindPhoneFactor finds the user's phone factor with id factorID, or returns
// ErrNoSuchFactor.
func (s *Service) FindPhoneFactor(ctx context.Context, userID, factorID string) (PhoneFactor, error) {
	list, err := s.PhoneFactors(ctx, userID)
	if err != nil {
		return PhoneFactor{}, err
	}
	for _, f := range list {
		if f.ID() == factorID {
			return f, nil
		}
	}
	return PhoneFactor{}, ErrNoSuchFactor
}

// AddPhoneMethod enrolls number for the user's codes by method (phone.SMS or
// phone.Voice), under the rules of AddPhone: the user's phone with that number
// takes the method too, or a new phone is enrolled for it alone. A number the user
// has for that method already is ErrPhoneTaken. It returns the phone as stored.
func (s *Service) AddPhoneMethod(ctx context.Context, userID, number, method string) (store.PhoneEnrollment, error) {
	if method != phone.SMS && method != phone.Voice {
		return store.PhoneEnrollment{}, ErrNoPhoneMethod
	}
	e164, err := s.parsePhone(number, "")
	if err != nil {
		return store.PhoneEnrollment{}, err
	}
	phones, err := s.d.Store.ListPhoneEnrollments(ctx, userID)
	if err != nil {
		return store.PhoneEnrollment{}, err
	}
	for _, p := range phones {
		if p.Number != e164 {
			continue
		}
		if (method == phone.SMS && p.SMS) || (method == phone.Voice && p.Voice) {
			return p, ErrPhoneTaken
		}
		p, err := s.d.Store.UpdatePhoneEnrollment(ctx, p.ID, func(p store.PhoneEnrollment) (store.PhoneEnrollment, error) {
			p.SMS, p.Voice = p.SMS || method == phone.SMS, p.Voice || method == phone.Voice
			return p, nil
		})
		if !errors.Is(err, store.ErrNotFound) { // else removed meanwhile: enroll it anew
			return p, err
		}
	}
	return s.AddPhone(ctx, userID, e164, PhoneOptions{SMS: method == phone.SMS, Voice: method == phone.Voice})
}

// RemovePhoneFactor removes one method of one of the user's phones (the factor
// factorID), and the phone with it when it has no other, then signs the user out
// everywhere. It returns the factor removed and how many live refresh tokens were
// revoked; ErrNoSuchFactor if the user has no such factor.
func (s *Service) RemovePhoneFactor(ctx context.Context, userID, factorID string) (PhoneFactor, int64, error) {
	f, err := s.FindPhoneFactor(ctx, userID, factorID)
	if err != nil {
		return f, 0, err
	}
	p := f.Phone
	if (f.Method == phone.SMS && p.Voice) || (f.Method == phone.Voice && p.SMS) {
		_, err = s.d.Store.UpdatePhoneEnrollment(ctx, p.ID, func(p store.PhoneEnrollment) (store.PhoneEnrollment, error) {
			if f.Method == phone.SMS {
				p.SMS = false
			} else {
				p.Voice = false
			}
			if !p.SMS && !p.Voice {
				return p, errUnchanged // the other method went meanwhile
			}
			return p, nil
		})
		if errors.Is(err, errUnchanged) {
			err = s.d.Store.DeletePhoneEnrollment(ctx, p.ID)
		}
	} else {
		err = s.d.Store.DeletePhoneEnrollment(ctx, p.ID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return f, 0, ErrNoSuchFactor
	}
	if err != nil {
		return f, 0, err
	}
	n, err := s.signOut(ctx, userID)
	return f, n, err
}

// ---- phones waiting for their first code ----

// SendCode sends an enrollment code by method to number, an E.164 number being
// enrolled for the user as the factor factorID, under every rule and budget of a
// code sent while signing in (phone.Authenticator.SendEnrollmentCode), and returns
// the challenge's id. verified says whether the number is one of the user's
// phones already (by another method).
type SendCode func(ctx context.Context, factorID, number, method string, verified bool) (challengeID string, err error)

// CheckCode checks, and uses up, the code of challengeID sent for the factor
// factorID (phone.Authenticator.CheckEnrollmentCode).
type CheckCode func(ctx context.Context, factorID, challengeID, code string) error

// BeginPhoneEnrollment enrolls number for the user's codes by method without
// proof yet: a code is sent to it (send) and the phone waits, as a pending phone,
// for ActivatePendingPhone. A user has at most one pending phone per method: one
// waiting already takes the new number and code, and keeps its id. A number the
// user has for that method already is ErrPhoneTaken; one the rules refuse a
// *PhoneNumberError. send's errors (a refused number, a spent budget) come back
// unchanged, with nothing stored.
func (s *Service) BeginPhoneEnrollment(ctx context.Context, userID, number, method string, send SendCode) (store.PendingPhone, error) {
	if method != phone.SMS && method != phone.Voice {
		return store.PendingPhone{}, ErrNoPhoneMethod
	}
	e164, err := s.parsePhone(number, "")
	if err != nil {
		return store.PendingPhone{}, err
	}
	if err := s.exists(ctx, userID); err != nil {
		return store.PendingPhone{}, err
	}
	phones, err := s.d.Store.ListPhoneEnrollments(ctx, userID)
	if err != nil {
		return store.PendingPhone{}, err
	}
	// The factor's id: the one waiting already, or the id this method of the
	// user's phone with the number has, or a new one.
	var id string
	verified := false
	for _, p := range phones {
		if p.Number == e164 {
			if (method == phone.SMS && p.SMS) || (method == phone.Voice && p.Voice) {
				return store.PendingPhone{}, ErrPhoneTaken
			}
			id, verified = PhoneFactorID(p, method), true
		}
	}
	pending, err := s.d.Store.ListPendingPhones(ctx, userID)
	if err != nil {
		return store.PendingPhone{}, err
	}
	var waiting *store.PendingPhone
	for i := range pending {
		if pending[i].Method == method {
			waiting = &pending[i]
			if !verified {
				id = waiting.ID
			}
		}
	}
	if id == "" {
		id = opaque.ID(smsPrefix)
		if method == phone.Voice {
			id = voicePrefix + strings.TrimPrefix(id, smsPrefix)
		}
	}
	challengeID, err := send(ctx, id, e164, method, verified)
	if err != nil {
		return store.PendingPhone{}, err
	}
	now := s.now()
	p := store.PendingPhone{ID: id, UserID: userID, Number: e164, Method: method, ChallengeID: challengeID, CreatedAt: now, UpdatedAt: now}
	if waiting != nil {
		if waiting.ID != id {
			// Another number's factor id: the waiting phone goes, this one comes.
			if err := s.d.Store.DeletePendingPhone(ctx, waiting.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return p, err
			}
		} else {
			return s.d.Store.UpdatePendingPhone(ctx, id, func(w store.PendingPhone) (store.PendingPhone, error) {
				w.Number, w.ChallengeID, w.UpdatedAt = e164, challengeID, now
				return w, nil
			})
		}
	}
	switch err := s.d.Store.CreatePendingPhone(ctx, p); {
	case errors.Is(err, store.ErrNotFound):
		return p, ErrUserNotFound
	case err != nil:
		return p, err
	}
	return p, nil
}

// PendingPhones lists the user's phones that wait for their first code.
func (s *Service) PendingPhones(ctx context.Context, userID string) ([]store.PendingPhone, error) {
	return s.d.Store.ListPendingPhones(ctx, userID)
}

// findPending is the user's pending phone factorID, or ErrNoSuchFactor.
func (s *Service) findPending(ctx context.Context, userID, factorID string) (store.PendingPhone, error) {
	p, err := s.d.Store.GetPendingPhone(ctx, factorID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && p.UserID != userID) {
		return store.PendingPhone{}, ErrNoSuchFactor
	}
	return p, err
}

// ActivatePendingPhone checks the code of the user's pending phone factorID
// (check: a wrong or spent code is its error, and nothing changes) and then
// enrolls the phone for its method, under the same factor id. It returns the
// phone as stored; ErrNoSuchFactor if no phone of the user waits under that id.
func (s *Service) ActivatePendingPhone(ctx context.Context, userID, factorID, code string, check CheckCode) (store.PhoneEnrollment, error) {
	p, err := s.findPending(ctx, userID, factorID)
	if err != nil {
		return store.PhoneEnrollment{}, err
	}
	if err := check(ctx, p.ID, p.ChallengeID, code); err != nil {
		return store.PhoneEnrollment{}, err
	}
	e, err := s.enrollProven(ctx, p)
	if err != nil {
		return e, err
	}
	if err := s.d.Store.DeletePendingPhone(ctx, p.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return e, err
	}
	return e, nil
}

// enrollProven stores a pending phone whose code came back: as a method of the
// user's phone with its number, or as a new phone whose factor of that method
// keeps the pending phone's id. A number the user has for the method meanwhile is
// not an error.
func (s *Service) enrollProven(ctx context.Context, p store.PendingPhone) (store.PhoneEnrollment, error) {
	phones, err := s.d.Store.ListPhoneEnrollments(ctx, p.UserID)
	if err != nil {
		return store.PhoneEnrollment{}, err
	}
	sms, voice := p.Method == phone.SMS, p.Method == phone.Voice
	for _, e := range phones {
		if e.Number == p.Number {
			return s.d.Store.UpdatePhoneEnrollment(ctx, e.ID, func(e store.PhoneEnrollment) (store.PhoneEnrollment, error) {
				e.SMS, e.Voice = e.SMS || sms, e.Voice || voice
				return e, nil
			})
		}
	}
	e := store.PhoneEnrollment{ID: smsPrefix + strings.TrimPrefix(strings.TrimPrefix(p.ID, voicePrefix), smsPrefix),
		UserID: p.UserID, Number: p.Number, SMS: sms, Voice: voice, CreatedAt: s.now()}
	switch err := s.d.Store.CreatePhoneEnrollment(ctx, e); {
	case errors.Is(err, store.ErrNotFound):
		return e, ErrUserNotFound
	case errors.Is(err, store.ErrAlreadyExists):
		// The id is taken (by another user's phone, or the number came meanwhile):
		// a new id; the factor's changes.
		e.ID = opaque.ID(smsPrefix)
		if err := s.d.Store.CreatePhoneEnrollment(ctx, e); err != nil {
			return e, err
		}
	case err != nil:
		return e, err
	}
	return e, nil
}

// RemovePendingPhone removes the user's pending phone factorID, or returns
// ErrNoSuchFactor. The user stays signed in: nothing they could sign in with
// changed.
func (s *Service) RemovePendingPhone(ctx context.Context, userID, factorID string) (store.PendingPhone, error) {
	p, err := s.findPending(ctx, userID, factorID)
	if err != nil {
		return p, err
	}
	if err := s.d.Store.DeletePendingPhone(ctx, p.ID); errors.Is(err, store.ErrNotFound) {
		return p, ErrNoSuchFactor
	} else if err != nil {
		return p, err
	}
	return p, nil
}

// PendingPhone is the user's pending phone factorID, or ErrNoSuchFactor.
func (s *Service) PendingPhone(ctx context.Context, userID, factorID string) (store.PendingPhone, error) {
	return s.findPending(ctx, userID, factorID)
}
