package conformance

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// base is the suite's "now": a fixed instant, so failures reproduce, with a non-zero
// millisecond part, so a backend that keeps only seconds fails.
var base = time.Date(2031, time.May, 17, 9, 30, 15, 123_000_000, time.UTC)

// at is base moved by d.
func at(d time.Duration) time.Time { return base.Add(d) }

// errFn is what the suite's Update* functions return to refuse an update.
var errFn = errors.New("conformance: update refused by fn")

// checkEqual reports every field in which got differs from want.
func checkEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	var diffs []string
	diff(reflect.ValueOf(want), reflect.ValueOf(got), what, &diffs)
	if len(diffs) > 0 {
		t.Errorf("%s is not as expected:\n  %s", what, strings.Join(diffs, "\n  "))
	}
}

var timeType = reflect.TypeFor[time.Time]()

// diff appends to out a line for every difference between want and got, by path.
// Times are equal when they are the same instant and got is in UTC; nil and empty
// slices are equal, and so are nil and empty maps.
func diff(want, got reflect.Value, path string, out *[]string) {
	if want.Type() == timeType {
		w, g := want.Interface().(time.Time), got.Interface().(time.Time)
		switch {
		case !g.Equal(w):
			*out = append(*out, fmt.Sprintf("%s: got %v, want %v", path, g, w))
		case g.Location() != time.UTC:
			*out = append(*out, fmt.Sprintf("%s: got %v, want it in UTC", path, g))
		}
		return
	}
	switch want.Kind() {
	case reflect.Struct:
		for i := range want.NumField() {
			diff(want.Field(i), got.Field(i), path+"."+want.Type().Field(i).Name, out)
		}
	case reflect.Slice:
		if want.Len() != got.Len() {
			*out = append(*out, fmt.Sprintf("%s: got %d elements %v, want %d %v", path, got.Len(), got, want.Len(), want))
			return
		}
		for i := range want.Len() {
			diff(want.Index(i), got.Index(i), fmt.Sprintf("%s[%d]", path, i), out)
		}
	case reflect.Map:
		if want.Len() != got.Len() {
			*out = append(*out, fmt.Sprintf("%s: got %d entries %v, want %d %v", path, got.Len(), got, want.Len(), want))
			return
		}
		for _, k := range want.MapKeys() {
			g := got.MapIndex(k)
			if !g.IsValid() {
				*out = append(*out, fmt.Sprintf("%s[%v]: missing, want %v", path, k, want.MapIndex(k)))
				continue
			}
			diff(want.MapIndex(k), g, fmt.Sprintf("%s[%v]", path, k), out)
		}
	case reflect.Pointer:
		if want.IsNil() != got.IsNil() {
			*out = append(*out, fmt.Sprintf("%s: got %v, want %v", path, got, want))
			return
		}
		if !want.IsNil() {
			diff(want.Elem(), got.Elem(), path, out)
		}
	default:
		if !reflect.DeepEqual(want.Interface(), got.Interface()) {
			*out = append(*out, fmt.Sprintf("%s: got %#v, want %#v", path, got.Interface(), want.Interface()))
		}
	}
}

// mustOK stops the test if err is not nil.
func mustOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// checkErrIs reports err unless errors.Is(err, target).
func checkErrIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// checkRefused checks the result of an Update* whose function changed the record's
// key: an error, and not one of the sentinels, which would mean something else.
func checkRefused(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: changing the key was accepted", what)
	} else if errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: got %v; the record exists, the change should be refused", what, err)
	}
}

// checkFnErr checks that an Update* returned exactly the error its function returned.
func checkFnErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != errFn { // store.go promises the error unchanged, not merely wrapped
		t.Errorf("%s: got error %v, want the function's own error %v", what, err, errFn)
	}
}

// notCalled is an Update* function that fails the test if it is called.
func notCalled[T any](t *testing.T) func(T) (T, error) {
	return func(v T) (T, error) {
		t.Errorf("update function called with %+v for a record that does not exist", v)
		return v, errFn
	}
}

// concurrency is how many goroutines the concurrency tests run at once.
const concurrency = 24

// runConcurrently calls f(0) … f(n-1) each on its own goroutine, released together so
// that the calls overlap as much as possible, and waits for them.
func runConcurrently(n int, f func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	for i := range n {
		done.Go(func() {
			ready.Done()
			<-start
			f(i)
		})
	}
	ready.Wait()
	close(start)
	done.Wait()
}

// ---- fixtures: every field set, to a value that tells it apart ----

func newUser(id, login string) store.User {
	return store.User{
		ID:         id,
		Login:      login,
		Email:      login + "@example.com",
		GivenName:  "Given " + id,
		FamilyName: "Family " + id,
		Locale:     "en-GB",
		Disabled:   true,
		Status:     store.UserSuspended,
		// Set apart from the other times, so that a column mix-up shows.
		StatusChangedAt: at(-36 * time.Hour),
		ActivatedAt:     at(-47 * time.Hour),
		CreatedAt:       at(-48 * time.Hour),
		UpdatedAt:       at(-24 * time.Hour),
	}
}

func newPhone(id, userID, number string, createdAt time.Time) store.PhoneEnrollment {
	return store.PhoneEnrollment{ID: id, UserID: userID, Number: number, SMS: true, Voice: true, CreatedAt: createdAt}
}

func newTransaction(id string) store.Transaction {
	return store.Transaction{
		ID:                    id,
		InteractionHandleHash: "ih-" + id,
		StateHandleHash:       "sh-" + id,
		ClientID:              "client-" + id,
		RedirectURI:           "https://app.example.com/callback/" + id,
		Scopes:                []string{"openid", "profile", "offline_access"},
		CodeChallenge:         "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		State:                 "state-" + id,
		Nonce:                 "nonce-" + id,
		GrantType:             "authorization_code",
		ResponseMode:          "form_post",
		Step:                  store.StepChallenge,
		UserID:                "00u-" + id,
		AuthTime:              at(-2 * time.Minute),
		AMR:                   []string{"pwd", "sms"},
		EnrollmentID:          "sms-" + id,
		Method:                "voice",
		PendingPhone:          "+15555550100",
		ChallengeID:           "ch-" + id,
		LastSentAt:            at(-time.Minute),
		InteractionCodeHash:   "ic-" + id,
		Flow:                  store.FlowRegistration,
		Authenticator:         "google_otp",
		Pending: map[string]string{"given_name": "Zoë \"Z\" O'Brien", "totp_secret": "R0hTAXNlYWxlZA==", "empty": "",
			"tx": id, "line\nbreak": "<&>\u2028"},
		CreatedAt: at(-5 * time.Minute),
		UpdatedAt: at(-30 * time.Second),
		ExpiresAt: at(10 * time.Minute),
		Revision:  0,
	}
}

func newChallenge(id, transactionID string) store.Challenge {
	return store.Challenge{
		ID:            id,
		TransactionID: transactionID,
		UserID:        "00u-" + transactionID,
		Phone:         "+15555550111",
		Method:        "sms",
		CodeMAC:       []byte{0x00, 0xff, 0x10, byte(len(id))},
		CreatedAt:     at(-time.Minute),
		ExpiresAt:     at(4 * time.Minute),
	}
}

func newMessage(id, challengeID, to string) store.Message {
	return store.Message{
		ID:            id,
		ChallengeID:   challengeID,
		TransactionID: "tx-" + id,
		UserID:        "00u-" + id,
		To:            to,
		Channel:       "sms",
		Body:          "Your code is 123456 (" + id + ")",
		Code:          "123456",
		Status:        store.MessagePending,
		Attempts:      0,
		NextAttemptAt: at(-time.Second),
		CreatedAt:     at(-2 * time.Second),
	}
}

func newInteractionCode(hash string) store.InteractionCode {
	return store.InteractionCode{
		CodeHash:      hash,
		TransactionID: "tx-" + hash,
		ClientID:      "client-" + hash,
		RedirectURI:   "https://app.example.com/cb",
		CodeChallenge: "challenge-" + hash,
		UserID:        "00u-" + hash,
		Scopes:        []string{"openid", "email"},
		Nonce:         "nonce-" + hash,
		SessionID:     "102sess-" + hash,
		GrantType:     "authorization_code",
		AuthTime:      at(-time.Minute),
		AMR:           []string{"pwd", "sms"},
		CreatedAt:     at(-10 * time.Second),
		ExpiresAt:     at(50 * time.Second),
	}
}

func newRefreshToken(hash, family string) store.RefreshToken {
	return store.RefreshToken{
		TokenHash: hash,
		FamilyID:  family,
		ClientID:  "client-" + family,
		UserID:    "00u-" + family,
		SessionID: "sess-" + family,
		Scopes:    []string{"openid", "offline_access"},
		AuthTime:  at(-time.Hour),
		AMR:       []string{"pwd"},
		CreatedAt: at(-time.Minute),
		ExpiresAt: at(30 * 24 * time.Hour),
	}
}
