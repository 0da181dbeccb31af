package twilio_test

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/messaging"
	"github.com/gatehouse-id/gatehouse/engine/messaging/providertest"
)

// delivery runs the worker's delivery scenarios through a real Twilio sender to
// the fake Twilio, with an SMS.
var delivery = providertest.Delivery{
	Start: func(t *testing.T, timeout time.Duration) (providertest.Fake, messaging.Sender) {
		fake := providertest.NewTwilio(t)
		cfg := configFor(fake)
		cfg.Timeout = timeout
		return fake, newSender(t, cfg)
	},
	Message: smsTo(testTo),
	// The SID of the first message the fake creates.
	ProviderID: "SM00000000000000000000000000000001",
	Err503:     "HTTP 503",
	Err400:     "HTTP 400: Twilio error 21211",
	ErrHang:    "deadline exceeded",
}

func TestWorkerRetriesA503AndDeliversOnce(t *testing.T) { delivery.RetriesA503AndDeliversOnce(t) }

func TestWorkerGivesUpOnA400AtOnce(t *testing.T) { delivery.GivesUpOnA400AtOnce(t) }

func TestWorkerRetriesAHungRequest(t *testing.T) { delivery.RetriesAHungRequest(t) }
