package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// Seeded users are numbered 0…N-1. Everything about user i follows from i, so the
// clients need no list of users and a database seeded once can be recognised.

// benchPassword is every seeded user's password: one argon2id hash serves them all,
// since hashing a million passwords would take hours and verifying one costs the
// same whichever password it is.
const benchPassword = "gatehouse-bench-password"

// maxUsers is how many distinct phone numbers phoneNumber can make.
const maxUsers = 8_000_000

// userID is user i's id: "00u" and 17 characters, like the engine's own ids.
func userID(i int) string { return fmt.Sprintf("00ubench%012d", i) }

// userLogin is user i's sign-in name.
func userLogin(i int) string { return fmt.Sprintf("user%07d@bench.gatehouse.test", i) }

// phoneNumber is user i's phone in E.164: New Jersey's area code 201 with exchanges
// 200 to 999 and every line number, which libphonenumber accepts as valid US numbers
// (TestPhoneNumbersAreValid checks each exchange). That is 8 million numbers.
func phoneNumber(i int) string {
	return fmt.Sprintf("+1201%03d%04d", 200+i/10_000, i%10_000)
}

// enrollmentID is the id of user i's phone enrollment.
func enrollmentID(i int) string { return fmt.Sprintf("smsbench%012d", i) }

// seedBatch is how many users one ImportUsers call gets: one database transaction
// each. Bigger calls are faster per user (see the store's ImportUsers); this size
// seeds a million users in about 10 s on SQLite while keeping the records in memory
// to a batch at a time.
const seedBatch = 100_000

// seed imports users 0…n-1, each with the password hash and one phone for SMS and
// voice. Users are generated in id order, which the store's b-trees take fastest.
// progress, if set, is told how many users are in after each call.
func seed(ctx context.Context, st store.UserStore, n int, hash string, progress func(done int)) error {
	now := time.Now().UTC().Truncate(time.Millisecond)
	for first := 0; first < n; first += seedBatch {
		last := min(first+seedBatch, n)
		records := make([]store.UserRecord, 0, last-first)
		for i := first; i < last; i++ {
			id := userID(i)
			records = append(records, store.UserRecord{
				User: store.User{ID: id, Login: userLogin(i), Email: userLogin(i), GivenName: "Bench",
					FamilyName: fmt.Sprintf("User %d", i), Locale: "en-US", CreatedAt: now, UpdatedAt: now},
				Password: &store.PasswordCredential{UserID: id, Hash: hash, UpdatedAt: now},
				Phones: []store.PhoneEnrollment{{ID: enrollmentID(i), UserID: id, Number: phoneNumber(i),
					SMS: true, Voice: true, CreatedAt: now}},
			})
		}
		if err := st.ImportUsers(ctx, records); err != nil {
			return fmt.Errorf("seeding users %d to %d: %w", first, last-1, err)
		}
		if progress != nil {
			progress(last)
		}
	}
	return nil
}

// seededAlready reports whether st holds exactly the bench users 0…n-1 (the first
// and the last exist, the next does not), so that a running engine's database is
// seeded only once. A database with some other number of bench users is an error:
// mixing runs of different sizes would make the results hard to read.
func seededAlready(ctx context.Context, st store.UserStore, n int) (bool, error) {
	exists := func(i int) (bool, error) {
		_, err := st.GetUserByLogin(ctx, userLogin(i))
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	first, err := exists(0)
	if err != nil || !first {
		return false, err
	}
	last, err := exists(n - 1)
	if err != nil {
		return false, err
	}
	next, err := exists(n)
	if err != nil {
		return false, err
	}
	if !last || next {
		return false, fmt.Errorf("the database holds bench users, but not exactly %d of them; use a fresh database", n)
	}
	return true, nil
}

// userOrder maps the slots clients take in turn onto users, scattered over the whole
// range so that consecutive sign-ins touch different parts of the indexes, as real
// ones do, rather than walking them in order. It is a bijection on 0…n-1: the
// multiplier is a prime, and n is checked to be no multiple of it.
type userOrder struct{ n uint64 }

const scatterPrime = 2_654_435_761

func newUserOrder(n int) userOrder {
	if n%scatterPrime == 0 { // far beyond maxUsers; kept so the bijection is never in doubt
		panic("bench: user count is a multiple of the scatter prime")
	}
	return userOrder{n: uint64(n)}
}

func (o userOrder) user(slot uint64) int {
	return int((slot%o.n*scatterPrime + 12_345) % o.n)
}
