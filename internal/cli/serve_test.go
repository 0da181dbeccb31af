package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
)

// TestShutdownFinishesInFlightRequests stops the server while a request is being
// served: the request must still get its whole answer.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "finished")
	})
	ctx, cancel := context.WithCancel(context.Background())
	backgroundStopped := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		served <- serveHTTP(ctx, ln, slow, slog.New(slog.DiscardHandler), func(ctx context.Context) {
			<-ctx.Done()
			close(backgroundStopped)
		})
	}()
	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			answer <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answer <- string(b)
	}()
	<-started
	cancel() // SIGTERM, as far as serveHTTP can tell
	if got := <-answer; got != "finished" {
		t.Errorf("in-flight request got %q", got)
	}
	if err := <-served; err != nil {
		t.Errorf("serveHTTP: %v", err)
	}
	select {
	case <-backgroundStopped:
	case <-time.After(5 * time.Second):
		t.Error("background work was not stopped")
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Error("the server still accepts requests after shutdown")
	}
}

func TestSenderForEachProvider(t *testing.T) {
	cfg := config.Defaults()
	for provider, want := range map[string]string{"outbox": "*messaging.DevOutbox", "twilio": "*twilio.Sender", "webhook": "*webhook.Sender"} {
		cfg.Messaging.Provider = provider
		cfg.Messaging.Twilio = config.Twilio{AccountSID: "AC00000000000000000000000000000000", AuthToken: "0123456789abcdef0123456789abcdef", From: "+12015550100", Timeout: time.Second}
		cfg.Messaging.Webhook = config.Webhook{URL: "https://gateway.example.com/sms", Secret: "0123456789abcdef", Timeout: time.Second}
		s, err := senderFor(cfg, env{stdout: io.Discard})
		if err != nil || fmt.Sprintf("%T", s) != want {
			t.Errorf("%s: %T %v, want %s", provider, s, err, want)
		}
	}
	cfg.Messaging.Provider = "carrier-pigeon"
	if _, err := senderFor(cfg, env{stdout: io.Discard}); err == nil {
		t.Error("an unknown provider was accepted")
	}
}
