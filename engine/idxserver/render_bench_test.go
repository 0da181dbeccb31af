package idxserver

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/authn"
	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/policy"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// Rendering IDX answers: building the response of each state of a sign-in and
// writing it as JSON, as every IDX request ends.
//
//	go test -run '^$' -bench . ./engine/idxserver/

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

func benchView(b *testing.B, step store.Step) (*Server, *view) {
	b.Helper()
	reg, err := clients.NewRegistry([]config.Client{config.ClientDefaults(config.Client{
		ID: "bench-app", Name: "Bench app", RedirectURIs: []string{"https://app.example.com/callback"},
	})}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	client, err := reg.Lookup(b.Context(), "bench-app")
	if err != nil {
		b.Fatal(err)
	}
	ph := phone.NewAuthenticator(phone.Options{SMS: true, Voice: true})
	s := New(Options{Issuer: "https://id.example.com/oauth2/default", Clients: reg, Now: time.Now,
		Policy: policy.SignOn{RequireFactor: true, EnrollDuringSignIn: true}, Authenticators: []authn.Authenticator{ph}})
	now := time.Now()
	v := &view{
		tx: store.Transaction{ID: "ftx0123456789abcdefg", Step: step, UserID: "00u0123456789abcdefg",
			AuthTime: now, EnrollmentID: "sms0123456789abcdefg", Method: "sms", Authenticator: authn.KeyPhone,
			ExpiresAt: now.Add(30 * time.Minute)},
		stateHandle: "02" + "Xq3v8PzvA5dK0yD7nR2cW9bT4hJ6mL1sE8uF0gH2iJk",
		client:      client,
		user: &store.User{ID: "00u0123456789abcdefg", Login: "alice@example.com", GivenName: "Alice",
			FamilyName: "Anderson", Locale: "en-US"},
		enrollments: []enrolled{{auth: ph, authID: s.authIDs[authn.KeyPhone], e: authn.Enrollment{ID: "sms0123456789abcdefg",
			Methods: []string{"sms", "voice"}, Profile: map[string]string{"phoneNumber": "+1 XXX-XXX-0123"}}}},
	}
	if step == store.StepIdentify {
		v.user, v.enrollments = nil, nil
	}
	return s, v
}

var benchSteps = []store.Step{store.StepIdentify, store.StepSelectAuthenticator, store.StepVerifyData, store.StepChallenge, store.StepSuccess}

// BenchmarkRender builds the response of each state.
func BenchmarkRender(b *testing.B) {
	for _, step := range benchSteps {
		b.Run(string(step), func(b *testing.B) {
			s, v := benchView(b, step)
			for b.Loop() {
				s.render(v)
			}
		})
	}
}

// BenchmarkRespond is rendering plus writing the JSON answer.
func BenchmarkRespond(b *testing.B) {
	for _, step := range benchSteps {
		b.Run(string(step), func(b *testing.B) {
			s, v := benchView(b, step)
			w := &discard{h: http.Header{}}
			for b.Loop() {
				s.respond(w, http.StatusOK, v)
			}
		})
	}
}
