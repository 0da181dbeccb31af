// Package throttle is the one rate limiter every limit of the engine goes through:
// password guesses, code sends, requests per client IP, open sign-ins. Its state is
// in the store, so every limit holds across engine nodes, and it reserves before the
// work it guards: an attempt is counted by the same statement that checks the budget
// (store.ThrottleStore.ReserveThrottles), so N parallel requests never get more than
// the budget, whatever their timing.
//
// Keys are typed: a Key is made only by this package's constructors, each naming
// what it counts, so two limits cannot share a key by accident and no caller builds
// key strings by hand. Personal subjects (logins, phone numbers, device tokens) are
// kept hashed.
//
// Windows are fixed: a key's window starts at its first unit and lasts the limit's
// Window; a burst at a window's end and another at the next window's start can
// together reach twice the budget in a short time, which every limit here allows
// for in its default.
package throttle

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// Kind is the family of a key: what it counts.
type Kind string

// The kinds of key. Each constructor below makes keys of one kind.
const (
	KindPasswordSource   Kind = "pw-src"     // password checks for one login from one source
	KindPasswordUnknown  Kind = "pw-unknown" // password checks for one login from every unknown source
	KindIdentifyOnTx     Kind = "idf-tx"     // username + password tries on one sign-in
	KindRequests         Kind = "ip-req"     // requests from one client IP to one endpoint group
	KindTransactionsIP   Kind = "tx-ip"      // sign-ins started from one client IP
	KindTransactionsAll  Kind = "tx-all"     // sign-ins started by everyone
	KindSendsOnTx        Kind = "send-tx"    // codes sent on one sign-in
	KindNumbersOnTx      Kind = "num-tx"     // distinct numbers tried on one sign-in
	KindNumberSeenOnTx   Kind = "num-seen"   // one number tried on one sign-in
	KindSendsToUser      Kind = "send-user"  // codes sent for one user
	KindUnverifiedOfUser Kind = "unv-user"   // codes one user had sent to numbers not yet theirs
	KindSendsFromIP      Kind = "send-ip"    // codes sent from one client IP
	KindUnverifiedFromIP Kind = "unv-ip"     // codes to numbers not yet verified, from one client IP
	KindSendsAll         Kind = "send-all"   // codes sent by the deployment
	KindOwnNumber        Kind = "num-own"    // codes to a user's own verified number
	KindUnverifiedNumber Kind = "num-unv"    // codes to a number from sign-ins of users it is not verified for
	KindSendInterval     Kind = "num-gap"    // the least time between codes to one number
	KindPhoneAttempts    Kind = "otp"        // wrong codes for one user; its lockout
	KindKnownSource      Kind = "known"      // a device or client IP that completed sign-in as a user
	KindAssertionID      Kind = "jwt-jti"    // a client assertion's jti, kept until the assertion expires
	KindRegistrationsIP  Kind = "reg-ip"     // self-service registrations tried from one client IP
	KindAPIToken         Kind = "api-token"  // management API requests made with one API token
	KindLimitLogged      Kind = "limit-log"  // a refused budget's window, once its violation is in the system log
)

// Key names one counter. The zero Key is not valid.
type Key struct {
	kind    Kind
	subject string
}

// String is the key as stored.
func (k Key) String() string { return string(k.kind) + "/" + k.subject }

// Kind is what the key counts.
func (k Key) Kind() Kind { return k.kind }

// digest is how personal subjects are kept: 128 bits of SHA-256, hex.
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

// PasswordFromSource counts password checks for login from one source (a device
// token or a client IP key; see Source).
func PasswordFromSource(login string, src Source) Key {
	return Key{KindPasswordSource, digest(login) + "/" + digest(string(src))}
}

// PasswordFromUnknownSources counts password checks for login from every source
// that has not completed a sign-in as its user, together.
func PasswordFromUnknownSources(login string) Key {
	return Key{KindPasswordUnknown, digest(login)}
}

// IdentifyOnTransaction counts username + password tries on one sign-in.
func IdentifyOnTransaction(txID string) Key { return Key{KindIdentifyOnTx, txID} }

// Requests counts requests from one client IP key to one group of endpoints.
func Requests(group, ip string) Key { return Key{KindRequests, group + "/" + ip} }

// TransactionsFromIP counts sign-ins started from one client IP key.
func TransactionsFromIP(ip string) Key { return Key{KindTransactionsIP, ip} }

// AllTransactions counts sign-ins started by every client.
func AllTransactions() Key { return Key{KindTransactionsAll, "all"} }

// SendsOnTransaction counts codes sent on one sign-in, first and resends.
func SendsOnTransaction(txID string) Key { return Key{KindSendsOnTx, txID} }

// NumbersOnTransaction counts the distinct numbers tried on one sign-in.
func NumbersOnTransaction(txID string) Key { return Key{KindNumbersOnTx, txID} }

// NumberSeenOnTransaction marks a number as already tried on a sign-in.
func NumberSeenOnTransaction(txID, number string) Key {
	return Key{KindNumberSeenOnTx, txID + "/" + digest(number)}
}

// SendsForUser counts codes sent for one user.
func SendsForUser(userID string) Key { return Key{KindSendsToUser, userID} }

// UnverifiedSendsForUser counts codes one user had sent to numbers they have not
// verified (enrollment).
func UnverifiedSendsForUser(userID string) Key { return Key{KindUnverifiedOfUser, userID} }

// SendsFromIP counts codes sent from one client IP key.
func SendsFromIP(ip string) Key { return Key{KindSendsFromIP, ip} }

// UnverifiedSendsFromIP counts codes to numbers not yet verified, from one client IP key.
func UnverifiedSendsFromIP(ip string) Key { return Key{KindUnverifiedFromIP, ip} }

// AllSends counts every code the deployment sends: the circuit breaker.
func AllSends() Key { return Key{KindSendsAll, "all"} }

// OwnNumber counts codes to a number its user has verified, for that user only:
// nothing another account does touches it.
func OwnNumber(userID, number string) Key { return Key{KindOwnNumber, userID + "/" + digest(number)} }

// UnverifiedNumber counts codes to a number from sign-ins of users who have not
// verified it.
func UnverifiedNumber(number string) Key { return Key{KindUnverifiedNumber, digest(number)} }

// SendGap spaces out codes counted under a number key (OwnNumber or
// UnverifiedNumber): with a limit of 1 per interval, one code per interval.
func SendGap(number Key) Key {
	return Key{KindSendInterval, string(number.kind) + "/" + number.subject}
}

// RegistrationsFromIP counts self-service registration attempts from one client IP.
func RegistrationsFromIP(ip string) Key { return Key{KindRegistrationsIP, ip} }

// PhoneAttempts counts one user's wrong codes and holds the phone factor's lockout.
func PhoneAttempts(userID string) Key { return Key{KindPhoneAttempts, userID} }

// Source is where a password attempt comes from: a browser's device token, or a
// client IP key. Make one with DeviceSource or IPSource.
type Source string

// DeviceSource is the source of a browser that holds the device cookie token.
func DeviceSource(token string) Source { return Source("dt:" + token) }

// IPSource is the source of a client without a device cookie.
func IPSource(ipKey string) Source { return Source("ip:" + ipKey) }

// KnownSource marks src as having completed a sign-in as userID.
func KnownSource(userID string, src Source) Key {
	return Key{KindKnownSource, userID + "/" + digest(string(src))}
}

// AssertionID is the jti of a client's JWT assertion (RFC 7523), which may be used
// once.
func AssertionID(clientID, jti string) Key {
	return Key{KindAssertionID, digest(clientID) + "/" + digest(jti)}
}

// APIToken counts the management API requests made with one API token (by its id).
func APIToken(tokenID string) Key { return Key{KindAPIToken, tokenID} }

// LimitLogged marks the current window of the budget k as recorded in the system
// log (a rate-limit violation), so that it is recorded once per window.
func LimitLogged(k Key) Key { return Key{KindLimitLogged, string(k.kind) + "/" + digest(k.subject)} }

// Limit is a budget: at most Max units per Window.
type Limit struct {
	Max    int
	Window time.Duration
}

// Request asks for units (0 means 1) of key under limit.
type Request struct {
	Key   Key
	Limit Limit
	Units int
}

// Decision is the answer to a reservation.
type Decision struct {
	// Allowed: every request fitted and was counted.
	Allowed bool
	// Refused is the key whose budget ran out, when not Allowed; with several, the
	// one that frees up last.
	Refused Key
	// Limit, Remaining and Reset describe the budget the client should heed: the
	// refused one, or, when allowed, the one with the fewest units left.
	Limit, Remaining int
	Reset            time.Time
	// Counts are each request's count in its window after the reservation, in the
	// order of the requests (when not Allowed, what it would have been).
	Counts []int
}

// RetryAfter is how long to wait before the refused budget has room again: at least
// one second.
func (d Decision) RetryAfter(now time.Time) time.Duration {
	w := d.Reset.Sub(now)
	return max(time.Duration(math.Ceil(w.Seconds()))*time.Second, time.Second)
}

// WriteHeaders sets Okta's rate-limit headers — X-Rate-Limit-Limit,
// X-Rate-Limit-Remaining and X-Rate-Limit-Reset (unix seconds) — and, when the
// request was refused, Retry-After in seconds.
func (d Decision) WriteHeaders(h http.Header, now time.Time) {
	if d.Limit == 0 {
		return
	}
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(d.Limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(max(d.Remaining, 0)))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(d.Reset.Unix(), 10))
	if !d.Allowed {
		h.Set("Retry-After", strconv.Itoa(int(d.RetryAfter(now)/time.Second)))
	}
}

// Limiter reserves units of budgets kept in the store.
type Limiter struct {
	store store.ThrottleStore
	now   func() time.Time

	mu     sync.Mutex
	leases map[string]*lease
}

// New returns a Limiter over st.
func New(st store.ThrottleStore, now func() time.Time) *Limiter {
	return &Limiter{store: st, now: now, leases: map[string]*lease{}}
}

// Reserve counts every request at once, or none of them: if any budget has no room,
// nothing is counted and the decision says which key refused.
func (l *Limiter) Reserve(ctx context.Context, reqs ...Request) (Decision, error) {
	if len(reqs) == 0 {
		return Decision{Allowed: true}, nil
	}
	now := l.now()
	rs := make([]store.ThrottleReservation, len(reqs))
	for i, r := range reqs {
		rs[i] = store.ThrottleReservation{Key: r.Key.String(), Units: max(r.Units, 1), Max: r.Limit.Max, Window: r.Limit.Window}
	}
	res, err := l.store.ReserveThrottles(ctx, now, rs)
	if err != nil {
		return Decision{}, err
	}
	d := Decision{Allowed: true}
	counts := make([]int, len(res))
	for i, r := range res {
		counts[i] = r.Count
		reset := r.WindowStart.Add(reqs[i].Limit.Window)
		remaining := reqs[i].Limit.Max - r.Count
		switch {
		case !r.Admitted && (d.Allowed || reset.After(d.Reset)):
			d = Decision{Refused: reqs[i].Key, Limit: reqs[i].Limit.Max, Remaining: 0, Reset: reset}
		case d.Allowed && (d.Limit == 0 || remaining < d.Remaining):
			d = Decision{Allowed: true, Limit: reqs[i].Limit.Max, Remaining: remaining, Reset: reset}
		}
	}
	d.Counts = counts
	return d, nil
}

// Reset forgets the counters of keys.
func (l *Limiter) Reset(ctx context.Context, keys ...Key) error {
	for _, k := range keys {
		if err := l.store.DeleteThrottle(ctx, k.String()); err != nil {
			return err
		}
	}
	return nil
}

// ResetPasswordChecks forgets login's password-check counters from every source.
func (l *Limiter) ResetPasswordChecks(ctx context.Context, login string) (int64, error) {
	a, err := l.store.DeleteThrottles(ctx, string(KindPasswordSource)+"/"+digest(login)+"/")
	if err != nil {
		return a, err
	}
	b, err := l.store.DeleteThrottles(ctx, PasswordFromUnknownSources(login).String())
	return a + b, err
}

// Count reads a key's counter in its current window: its count and when the window
// ends. A key never counted, or whose window has ended, reads as 0.
func (l *Limiter) Count(ctx context.Context, k Key, limit Limit) (int, time.Time, error) {
	t, err := l.store.GetThrottle(ctx, k.String())
	if err != nil {
		if err == store.ErrNotFound {
			return 0, time.Time{}, nil
		}
		return 0, time.Time{}, err
	}
	end := t.WindowStart.Add(limit.Window)
	if t.WindowStart.IsZero() || !l.now().Before(end) {
		return 0, time.Time{}, nil
	}
	return t.Count, end, nil
}

// Remember marks src as known for userID until lifetime from now. A source already
// known for more than half a lifetime ahead is left as it is, so that a user signing
// in every day costs a read, not a write.
func (l *Limiter) Remember(ctx context.Context, userID string, src Source, lifetime time.Duration) error {
	now := l.now()
	key := KnownSource(userID, src).String()
	if t, err := l.store.GetThrottle(ctx, key); err == nil && t.ExpiresAt.After(now.Add(lifetime/2)) {
		return nil
	}
	_, err := l.store.UpdateThrottle(ctx, key, func(t store.Throttle) (store.Throttle, error) {
		t.Count = 1
		if t.WindowStart.IsZero() {
			t.WindowStart = now
		}
		t.LastAt, t.ExpiresAt = now, now.Add(lifetime)
		return t, nil
	})
	return err
}

// ErrUsed is UseOnce's answer for a key used before.
var ErrUsed = errors.New("throttle: already used")

// UseOnce records k as used until expires, or returns ErrUsed if it was already
// used and that use has not expired. Of concurrent callers with one key (on any
// node) exactly one succeeds.
func (l *Limiter) UseOnce(ctx context.Context, k Key, expires time.Time) error {
	now := l.now()
	_, err := l.store.UpdateThrottle(ctx, k.String(), func(t store.Throttle) (store.Throttle, error) {
		if t.Count > 0 && now.Before(t.ExpiresAt) {
			return t, ErrUsed
		}
		t.Count, t.WindowStart, t.LastAt, t.ExpiresAt = 1, now, now, expires
		return t, nil
	})
	return err
}

// Known reports whether any of srcs completed a sign-in as userID within its lifetime.
func (l *Limiter) Known(ctx context.Context, userID string, srcs ...Source) (bool, error) {
	now := l.now()
	for _, src := range srcs {
		t, err := l.store.GetThrottle(ctx, KnownSource(userID, src).String())
		if err == store.ErrNotFound {
			continue
		}
		if err != nil {
			return false, err
		}
		if now.Before(t.ExpiresAt) {
			return true, nil
		}
	}
	return false, nil
}

// WriteTooManyRequests answers 429 as Okta answers an API rate limit: error
// E0000047 in Okta's error shape, with the budget's headers.
func WriteTooManyRequests(w http.ResponseWriter, d Decision, now time.Time) {
	d.WriteHeaders(w.Header(), now)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write([]byte(`{"errorCode":"E0000047","errorSummary":"API call exceeded rate limit due to too many requests.","errorLink":"E0000047","errorId":"` +
		errorID() + `","errorCauses":[]}` + "\n"))
}

// errorID is a random id for one error answer, as Okta gives each.
func errorID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "oae" + hex.EncodeToString(b[:])[:22]
}
