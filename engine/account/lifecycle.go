package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// The lifecycle of a user, as Okta's: a user is created active or staged; staged
// and deprovisioned users are activated; active users are suspended (and
// unsuspended), have their password expired (the next sign-in asks for a new one)
// or are deactivated (deprovisioned). Staged, suspended and deprovisioned users
// may not sign in (store.UserStatus.RefusesSignIn): the IDX server answers them as
// it answers a wrong password. Each change that stops a user signing in also signs
// them out everywhere.

// TransitionError is a lifecycle operation the user's state does not allow.
type TransitionError struct {
	Op   string           // "activate", "suspend", …
	From store.UserStatus // the user's state
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("cannot %s a user who is %s", e.Op, strings.ToLower(strings.ReplaceAll(string(e.From), "_", " ")))
}

// transition moves the user to state to, if allowed says the state they are in
// allows it (nil: any state); otherwise it returns a *TransitionError and changes
// nothing. It returns the user as stored.
func (s *Service) transition(ctx context.Context, userID, op string, to store.UserStatus, allowed func(from store.UserStatus) bool) (store.User, error) {
	now := s.now()
	typ, ok := transitionEvents[op]
	if !ok {
		typ = eventlog.TypeUserUpdate
	}
	u, err := s.d.Store.UpdateUser(recorded(ctx, typ, userID, map[string]string{"status": string(to)}), userID, func(u store.User) (store.User, error) {
		if from := u.State(); allowed != nil && !allowed(from) {
			return u, &TransitionError{Op: op, From: from}
		}
		u.SetStatus(to, now)
		u.UpdatedAt = now
		return u, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return u, ErrUserNotFound
	}
	return u, err
}

// transitionEvents are the system log's event types of the lifecycle operations;
// the event commits with the change (recorded).
var transitionEvents = map[string]string{
	"activate": eventlog.TypeUserActivate, "enable": eventlog.TypeUserActivate,
	"deactivate": eventlog.TypeUserDeactivate, "disable": eventlog.TypeUserDeactivate,
	"suspend": eventlog.TypeUserSuspend, "unsuspend": eventlog.TypeUserUnsuspend,
	"expire the password of": eventlog.TypeUserExpirePass,
}

// Activate lets a staged or deprovisioned user sign in: they become active.
func (s *Service) Activate(ctx context.Context, userID string) (store.User, error) {
	return s.transition(ctx, userID, "activate", store.UserActive, func(from store.UserStatus) bool {
		return from == store.UserStaged || from == store.UserDeprovisioned
	})
}

// Deactivate deprovisions a user who is not already deprovisioned and signs them
// out everywhere; it returns how many live refresh tokens were revoked. Their
// password and factors stay, for a later Activate.
func (s *Service) Deactivate(ctx context.Context, userID string) (store.User, int64, error) {
	u, err := s.transition(ctx, userID, "deactivate", store.UserDeprovisioned, func(from store.UserStatus) bool {
		return from != store.UserDeprovisioned
	})
	if err != nil {
		return u, 0, err
	}
	n, err := s.signOut(ctx, userID)
	return u, n, err
}

// Suspend stops an active user signing in until Unsuspend, and signs them out
// everywhere; it returns how many live refresh tokens were revoked.
func (s *Service) Suspend(ctx context.Context, userID string) (store.User, int64, error) {
	u, err := s.transition(ctx, userID, "suspend", store.UserSuspended, func(from store.UserStatus) bool {
		return from == store.UserActive
	})
	if err != nil {
		return u, 0, err
	}
	n, err := s.signOut(ctx, userID)
	return u, n, err
}

// Unsuspend lets a suspended user sign in again.
func (s *Service) Unsuspend(ctx context.Context, userID string) (store.User, error) {
	return s.transition(ctx, userID, "unsuspend", store.UserActive, func(from store.UserStatus) bool {
		return from == store.UserSuspended
	})
}

// ExpirePassword makes an active user choose a new password at their next
// sign-in, once they have given the current one (ErrNoPassword if they have
// none). It does not sign them out: SignOut does.
func (s *Service) ExpirePassword(ctx context.Context, userID string) (store.User, error) {
	if _, err := s.d.Store.GetPassword(ctx, userID); errors.Is(err, store.ErrNotFound) {
		if err := s.exists(ctx, userID); err != nil {
			return store.User{}, err
		}
		return store.User{}, ErrNoPassword
	} else if err != nil {
		return store.User{}, err
	}
	return s.transition(ctx, userID, "expire the password of", store.UserPasswordExpired, func(from store.UserStatus) bool {
		return from == store.UserActive || from == store.UserPasswordExpired
	})
}

// unexpire makes a user whose password had expired active, once they have a new
// one (SetPassword).
func (s *Service) unexpire(ctx context.Context, userID string) error {
	now := s.now()
	_, err := s.d.Store.UpdateUser(ctx, userID, func(u store.User) (store.User, error) {
		if u.State() != store.UserPasswordExpired {
			return u, errUnchanged
		}
		u.SetStatus(store.UserActive, now)
		u.UpdatedAt = now
		return u, nil
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	if errors.Is(err, store.ErrNotFound) {
		return ErrUserNotFound
	}
	return err
}

// errUnchanged: an update's function found nothing to change.
var errUnchanged = errors.New("account: nothing to change")

// Unlocked is what Unlock cleared.
type Unlocked struct {
	// PasswordCounters are the password-check counters of the login, from every
	// source.
	PasswordCounters int64
	// PhoneLockouts is 1 if the counter of wrong codes (and its lockout) was
	// cleared, else 0.
	PhoneLockouts int64
}

// Unlock clears the user's lockouts: the password-check counters of their login
// (from every source) and the counter of wrong codes with the factor lockout it
// sets. It does not raise the per-address or per-number limits, nor change the
// user's state.
func (s *Service) Unlock(ctx context.Context, userID string) (Unlocked, error) {
	u, err := s.d.Store.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return Unlocked{}, ErrUserNotFound
	}
	if err != nil {
		return Unlocked{}, err
	}
	var r Unlocked
	if r.PasswordCounters, err = throttle.New(s.d.Store, s.d.Now).ResetPasswordChecks(ctx, u.Login); err != nil {
		return r, err
	}
	r.PhoneLockouts, err = s.d.Store.DeleteThrottles(recorded(ctx, eventlog.TypeUnlock, u.ID, nil), throttle.PhoneAttempts(u.ID).String())
	return r, err
}

// LockedUntil is when the lockout of the user's factors after too many wrong
// codes ends; the zero time if they are not locked out.
func (s *Service) LockedUntil(ctx context.Context, userID string) (time.Time, error) {
	t, err := s.d.Store.GetThrottle(ctx, throttle.PhoneAttempts(userID).String())
	if errors.Is(err, store.ErrNotFound) || (err == nil && !s.d.Now().Before(t.BlockedUntil)) {
		return time.Time{}, nil
	}
	return t.BlockedUntil, err
}
