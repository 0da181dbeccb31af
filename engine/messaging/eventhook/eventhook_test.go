package eventhook_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/messaging/eventhook"
	"github.com/gatehouse-id/gatehouse/engine/messaging/webhook"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

const secret = "a hook secret of some length"

// receiver is an event hook endpoint on loopback that refuses its first
// deliveries and records what it got.
type receiver struct {
	mu        sync.Mutex
	refuse    int  // deliveries to answer 503 first
	echoWrong bool // answer the verification with another value
	log       []string
	bodies    [][]byte
	badSig    int
	delivered chan struct{}
	verified  chan struct{}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		rc.log = append(rc.log, "verify")
		challenge := r.Header.Get(eventhook.VerificationHeader)
		if rc.echoWrong {
			challenge += "x"
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"verification": challenge})
		select {
		case rc.verified <- struct{}{}:
		default:
		}
	case http.MethodPost:
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get(eventhook.SignatureHeader) != webhook.Sign([]byte(secret), r.Header.Get(eventhook.TimestampHeader), body) {
			rc.badSig++
		}
		rc.bodies = append(rc.bodies, body)
		if rc.refuse > 0 {
			rc.refuse--
			rc.log = append(rc.log, "refused")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rc.log = append(rc.log, "delivered")
		w.WriteHeader(http.StatusNoContent)
		close(rc.delivered)
	}
}

func startWithHook(t *testing.T, rc *receiver, o enginetest.Options) *enginetest.Harness {
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	o.Configure = func(c *config.Config) {
		c.SystemLog.EventHooks = []config.EventHook{{Name: "siem", URL: srv.URL + "/hooks/gatehouse", Secret: secret,
			EventTypes: []string{eventlog.TypeSessionStart}}}
	}
	return enginetest.Start(t, o)
}

// TestDeliveryRetriedAfterRefusal: a failed sign-in reaches the hook, verified
// first, signed, and delivered again after the endpoint refused it.
func TestDeliveryRetriedAfterRefusal(t *testing.T) {
	for name, o := range map[string]func(t *testing.T) enginetest.Options{
		"sqlite": func(*testing.T) enginetest.Options { return enginetest.Options{} },
		"postgres": func(t *testing.T) enginetest.Options {
			return enginetest.Options{Database: enginetest.PostgresSchema(t)}
		},
	} {
		t.Run(name, func(t *testing.T) {
			rc := &receiver{refuse: 1, delivered: make(chan struct{}), verified: make(chan struct{}, 1)}
			h := startWithHook(t, rc, o(t))
			h.CreateUser(t, "carol@example.com", "")
			f := h.Interact(t)
			enginetest.Expect(t, "wrong password", http.StatusUnauthorized)(f.Identify("carol@example.com", "wrong password!"))
			select {
			case <-rc.delivered:
			case <-time.After(20 * time.Second):
				t.Fatalf("not delivered; the receiver saw %v", rc.log)
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			if strings.Join(rc.log, " ") != "verify refused delivered" {
				t.Errorf("the receiver saw %v, want a verification, a refused delivery, and the delivery again", rc.log)
			}
			if rc.badSig != 0 {
				t.Errorf("%d deliveries with a wrong signature", rc.badSig)
			}
			var first, second eventlog.Envelope
			if json.Unmarshal(rc.bodies[0], &first) != nil || json.Unmarshal(rc.bodies[1], &second) != nil {
				t.Fatalf("bodies %s", rc.bodies)
			}
			if first.EventID != second.EventID || first.EventType != "com.okta.event_hook" || len(second.Data.Events) != 1 {
				t.Fatalf("deliveries %+v and %+v", first, second)
			}
			e := second.Data.Events[0]
			if e.EventType != eventlog.TypeSessionStart || e.Outcome.Result != store.OutcomeFailure || e.Actor.AlternateID != "carol@example.com" {
				t.Errorf("delivered event %+v", e)
			}
			if strings.Contains(string(rc.bodies[1]), "wrong password!") {
				t.Error("the password reached the hook")
			}
		})
	}
}

// TestUnverifiedHookGetsNothing: an endpoint that does not echo the challenge is
// asked again, and never sent events.
func TestUnverifiedHookGetsNothing(t *testing.T) {
	rc := &receiver{echoWrong: true, delivered: make(chan struct{}), verified: make(chan struct{}, 1)}
	h := startWithHook(t, rc, enginetest.Options{})
	h.CreateUser(t, "dave@example.com", "")
	f := h.Interact(t)
	enginetest.Expect(t, "wrong password", http.StatusUnauthorized)(f.Identify("dave@example.com", "wrong password!"))
	for range 2 {
		select {
		case <-rc.verified:
		case <-time.After(20 * time.Second):
			t.Fatalf("no verification request; the receiver saw %v", rc.log)
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, l := range rc.log {
		if l != "verify" {
			t.Errorf("the unverified endpoint saw %v", rc.log)
			break
		}
	}
}
