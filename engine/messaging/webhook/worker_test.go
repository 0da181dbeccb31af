package webhook_test

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/messaging"
	"github.com/gatehouse-id/gatehouse/engine/messaging/providertest"
)

// delivery runs the worker's delivery scenarios through a real webhook sender to
// the fake gateway, with a call.
var delivery = providertest.Delivery{
	Start: func(t *testing.T, timeout time.Duration) (providertest.Fake, messaging.Sender) {
		gw := providertest.NewGateway(t, testSecret)
		cfg := configFor(gw)
		cfg.Timeout = timeout
		return gw, newSender(t, cfg)
	},
	Message:    call(),
	ProviderID: "gw-1",
	Err503:     "webhook: HTTP 503",
	Err400:     "webhook: HTTP 400",
	ErrHang:    "webhook: POST failed",
	// Every attempt carries the message's id as its idempotency key, so that the
	// gateway can drop a retry of a message it already sent.
	CheckRequest: func(t *testing.T, req providertest.Request) {
		t.Helper()
		if key, want := req.Header.Get("Idempotency-Key"), call().ID; key != want {
			t.Errorf("Idempotency-Key = %q, want %s on every attempt", key, want)
		}
	},
}

func TestWorkerRetriesA503AndDeliversOnce(t *testing.T) { delivery.RetriesA503AndDeliversOnce(t) }

func TestWorkerGivesUpOnA400AtOnce(t *testing.T) { delivery.GivesUpOnA400AtOnce(t) }

func TestWorkerRetriesAHungRequest(t *testing.T) { delivery.RetriesAHungRequest(t) }
