package sqlite_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
)

// Run with:
//
//	go test -run '^$' -bench . -benchtime 1x ./engine/store/sqlite/   (import: one run)
//	go test -run '^$' -bench 'Get|Update' ./engine/store/sqlite/       (hot lookups)

var benchTime = time.Date(2030, 1, 2, 3, 4, 5, 678_000_000, time.UTC)

// scatter maps 0…n-1 onto itself in a scrambled order (n and the multiplier are
// coprime), so that imported ids and logins arrive in no particular index order, as
// real ones do, rather than in the order that suits a b-tree best.
func scatter(i, n int) int { return int((uint64(i)*2654435761 + 12345) % uint64(n)) }

// importRecord is user i of n, with a password hash and one phone.
func importRecord(i, n int) store.UserRecord {
	k := scatter(i, n)
	id := fmt.Sprintf("00u%016x", uint64(k)*0x9e3779b97f4a7c15)
	return store.UserRecord{
		User: store.User{ID: id, Login: fmt.Sprintf("user%07d@example.com", k), Email: fmt.Sprintf("user%07d@example.com", k),
			GivenName: "Given", FamilyName: "Family", Locale: "en", CreatedAt: benchTime, UpdatedAt: benchTime},
		Password: &store.PasswordCredential{UserID: id, UpdatedAt: benchTime,
			Hash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$" + fmt.Sprintf("%043d", k)},
		Phones: []store.PhoneEnrollment{{ID: fmt.Sprintf("sms%016x", k), UserID: id,
			Number: fmt.Sprintf("+1555%07d", k), SMS: true, CreatedAt: benchTime}},
	}
}

// BenchmarkImportUsers seeds a new database with users, each with a password and a
// phone, in ImportUsers calls of 10,000 — as a seeding tool reading a file would —
// and reports the time for the lot. The 1M case is the requirement: well under two
// minutes on two cores. OneCall imports the million in a single call, that is one
// database transaction.
func BenchmarkImportUsers(b *testing.B) {
	b.Run("100k", func(b *testing.B) { benchmarkImport(b, 100_000, 10_000) })
	b.Run("1M", func(b *testing.B) { benchmarkImport(b, 1_000_000, 10_000) })
	b.Run("1M-100kPerCall", func(b *testing.B) { benchmarkImport(b, 1_000_000, 100_000) })
	b.Run("1M-OneCall", func(b *testing.B) { benchmarkImport(b, 1_000_000, 1_000_000) })
}

func benchmarkImport(b *testing.B, total, perCall int) {
	for b.Loop() {
		b.StopTimer()
		s := openTemp(b)
		b.StartTimer()
		start := time.Now()
		for first := 0; first < total; first += perCall {
			records := make([]store.UserRecord, 0, perCall)
			for i := first; i < first+perCall; i++ {
				records = append(records, importRecord(i, total))
			}
			if err := s.ImportUsers(b.Context(), records); err != nil {
				b.Fatalf("ImportUsers: %v", err)
			}
		}
		elapsed := time.Since(start)
		b.StopTimer()
		b.ReportMetric(elapsed.Seconds(), "s/import")
		b.ReportMetric(float64(total)/elapsed.Seconds(), "users/s")
		lastLogin := fmt.Sprintf("user%07d@example.com", total-1)
		if users, err := s.ListUsers(b.Context(), store.ListUsersOptions{AfterLogin: lastLogin}); err != nil || len(users) != 0 {
			b.Fatalf("users after the last login: %v %v", users, err)
		}
		last, err := s.GetUserByLogin(b.Context(), lastLogin)
		if err != nil {
			b.Fatalf("the last user was not imported: %v", err)
		}
		if _, err := s.GetPassword(b.Context(), last.ID); err != nil {
			b.Fatalf("the last user's password was not imported: %v", err)
		}
		if phones, err := s.ListPhoneEnrollments(b.Context(), last.ID); err != nil || len(phones) != 1 {
			b.Fatalf("the last user's phone was not imported: %v %v", phones, err)
		}
		b.StartTimer()
	}
}

// seeded opens a store holding users users (with passwords and phones), one
// transaction per user, and a throttle.
func seeded(b *testing.B, users int) *sqlite.Store {
	b.Helper()
	s := openTemp(b)
	records := make([]store.UserRecord, 0, users)
	for i := range users {
		records = append(records, importRecord(i, users))
	}
	if err := s.ImportUsers(b.Context(), records); err != nil {
		b.Fatal(err)
	}
	for i := range users {
		tx := store.Transaction{ID: fmt.Sprintf("tx%07d", i), InteractionHandleHash: fmt.Sprintf("ih%07d", i),
			StateHandleHash: fmt.Sprintf("sh%07d", i), ClientID: "client", Scopes: []string{"openid", "profile"},
			Step: store.StepChallenge, UserID: records[i].User.ID, AMR: []string{"pwd"},
			CreatedAt: benchTime, UpdatedAt: benchTime, ExpiresAt: benchTime.Add(time.Hour)}
		if err := s.CreateTransaction(b.Context(), tx); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

const benchUsers = 10_000

func BenchmarkGetUserByLogin(b *testing.B) {
	s := seeded(b, benchUsers)
	i := 0
	for b.Loop() {
		login := fmt.Sprintf("user%07d@example.com", i%benchUsers)
		if _, err := s.GetUserByLogin(b.Context(), login); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGetTransactionByStateHandle(b *testing.B) {
	s := seeded(b, benchUsers)
	i := 0
	for b.Loop() {
		if _, err := s.GetTransactionByStateHandle(b.Context(), fmt.Sprintf("sh%07d", i%benchUsers)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkUpdateTransaction(b *testing.B) {
	s := seeded(b, benchUsers)
	i := 0
	for b.Loop() {
		_, err := s.UpdateTransaction(b.Context(), fmt.Sprintf("tx%07d", i%benchUsers), func(t store.Transaction) (store.Transaction, error) {
			t.Step = store.StepSuccess
			t.UpdatedAt = t.UpdatedAt.Add(time.Millisecond)
			return t, nil
		})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkUpdateThrottle(b *testing.B) {
	s := seeded(b, 1)
	i := 0
	for b.Loop() {
		// A few hundred keys: most updates find the row, some create it.
		_, err := s.UpdateThrottle(b.Context(), fmt.Sprintf("ip:192.0.2.%d", i%256), func(t store.Throttle) (store.Throttle, error) {
			t.Count++
			t.LastAt = benchTime
			t.ExpiresAt = benchTime.Add(time.Hour)
			return t, nil
		})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkGetUserByLoginParallel measures lookups from several goroutines at once,
// which the read pool serves side by side.
func BenchmarkGetUserByLoginParallel(b *testing.B) {
	s := seeded(b, benchUsers)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.GetUserByLogin(b.Context(), fmt.Sprintf("user%07d@example.com", i%benchUsers)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkLoadUser is what every IDX step after the password and every token and
// userinfo request reads: the user and their phones.
func BenchmarkLoadUser(b *testing.B) {
	s := seeded(b, benchUsers)
	i := 0
	for b.Loop() {
		r := importRecord(i%benchUsers, benchUsers)
		if _, err := s.GetUser(b.Context(), r.User.ID); err != nil {
			b.Fatal(err)
		}
		if phones, err := s.ListPhoneEnrollments(b.Context(), r.User.ID); err != nil || len(phones) != 1 {
			b.Fatal(phones, err)
		}
		i++
	}
}
