package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/postgres"
)

// The same hot paths as the SQLite benchmarks, for comparison:
//
//	go test -run '^$' -bench . ./engine/store/postgres/

var benchTime = time.Date(2030, 1, 2, 3, 4, 5, 678_000_000, time.UTC)

const benchUsers = 10_000

func benchRecord(i int) store.UserRecord {
	id := fmt.Sprintf("00u%016x", uint64(i)*0x9e3779b97f4a7c15)
	return store.UserRecord{
		User: store.User{ID: id, Login: fmt.Sprintf("user%07d@example.com", i), Email: "e", CreatedAt: benchTime, UpdatedAt: benchTime},
		Password: &store.PasswordCredential{UserID: id, UpdatedAt: benchTime,
			Hash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$" + fmt.Sprintf("%043d", i)},
		Phones: []store.PhoneEnrollment{{ID: fmt.Sprintf("sms%016x", i), UserID: id, Number: fmt.Sprintf("+1555%07d", i), SMS: true, CreatedAt: benchTime}},
	}
}

func seeded(b *testing.B) *postgres.Store {
	s := open(b, newSchema(b))
	records := make([]store.UserRecord, 0, benchUsers)
	for i := range benchUsers {
		records = append(records, benchRecord(i))
	}
	if err := s.ImportUsers(b.Context(), records); err != nil {
		b.Fatal(err)
	}
	for i := range benchUsers {
		tx := store.Transaction{ID: fmt.Sprintf("tx%07d", i), InteractionHandleHash: fmt.Sprintf("ih%07d", i),
			StateHandleHash: fmt.Sprintf("sh%07d", i), ClientID: "client", Scopes: []string{"openid"},
			Step: store.StepChallenge, AMR: []string{"pwd"}, CreatedAt: benchTime, UpdatedAt: benchTime, ExpiresAt: benchTime.Add(time.Hour)}
		if err := s.CreateTransaction(b.Context(), tx); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func BenchmarkImportUsers100k(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		s := open(b, newSchema(b))
		records := make([]store.UserRecord, 0, 100_000)
		for i := range 100_000 {
			records = append(records, benchRecord(i))
		}
		b.StartTimer()
		if err := s.ImportUsers(b.Context(), records); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetUserByLogin(b *testing.B) {
	s := seeded(b)
	i := 0
	for b.Loop() {
		if _, err := s.GetUserByLogin(b.Context(), fmt.Sprintf("user%07d@example.com", i%benchUsers)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGetTransactionByStateHandle(b *testing.B) {
	s := seeded(b)
	i := 0
	for b.Loop() {
		if _, err := s.GetTransactionByStateHandle(b.Context(), fmt.Sprintf("sh%07d", i%benchUsers)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkUpdateTransaction(b *testing.B) {
	s := seeded(b)
	i := 0
	for b.Loop() {
		_, err := s.UpdateTransaction(b.Context(), fmt.Sprintf("tx%07d", i%benchUsers), func(t store.Transaction) (store.Transaction, error) {
			t.Step = store.StepSuccess
			return t, nil
		})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkUpdateThrottle(b *testing.B) {
	s := open(b, newSchema(b))
	i := 0
	for b.Loop() {
		_, err := s.UpdateThrottle(b.Context(), fmt.Sprintf("ip:192.0.2.%d", i%256), func(t store.Throttle) (store.Throttle, error) {
			t.Count++
			t.ExpiresAt = benchTime.Add(time.Hour)
			return t, nil
		})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}
