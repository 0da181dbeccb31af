package main

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/messaging"
	"github.com/gatehouse-id/gatehouse/engine/messaging/webhook"
)

// TestReceivesGatehouseMessages: the engine's own webhook sender, with the right
// secret, gets its message printed and the id back; with another secret it is
// refused and nothing is printed.
func TestReceivesGatehouseMessages(t *testing.T) {
	var out strings.Builder
	srv := httptest.NewServer(handler([]byte("0123456789abcdef-secret"), &out, time.Now))
	defer srv.Close()
	msg := messaging.Outbound{ID: "msg1", To: "+12015550123", Channel: "sms", Body: "Your code is 123456", Code: "123456"}

	s, err := webhook.New(config.Webhook{URL: srv.URL, Secret: "0123456789abcdef-secret", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if id, err := s.Send(t.Context(), msg); err != nil || id != "msg1" {
		t.Errorf("send: %q %v", id, err)
	}
	if out.String() != "+12015550123 sms 123456\n" {
		t.Errorf("printed %q", out.String())
	}

	wrong, err := webhook.New(config.Webhook{URL: srv.URL, Secret: "another-secret-0123456789", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.Send(t.Context(), msg); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("send with a wrong secret: %v", err)
	}
	if strings.Count(out.String(), "\n") != 1 {
		t.Errorf("a refused message was printed: %q", out.String())
	}
}
