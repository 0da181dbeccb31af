package config_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// TestExampleFileLoads: docs/gatehouse.example.yaml loads once its secrets exist
// (its /run/secrets files are made in a temporary directory, its variable set),
// uses a real provider over https, and holds no secret itself.
func TestExampleFileLoads(t *testing.T) {
	c := enginetest.LoadExampleConfig(t)
	if c.Clients[0].Secret != "0123456789abcdef0123" || c.Phone.SendInterval != 30*time.Second || c.PasswordHashing.MemoryKiB != 19456 {
		t.Errorf("loaded %+v", c)
	}
	if c.Messaging.Provider != "webhook" || !strings.HasPrefix(c.Messaging.Webhook.URL, "https://") ||
		c.Messaging.Webhook.Secret != "example-webhook-secret-0123456789" || c.Secrets.OTPKey == "" || c.DevOutbox {
		t.Errorf("messaging %+v, OTP key set %v, dev outbox %v", c.Messaging, c.Secrets.OTPKey != "", c.DevOutbox)
	}
	text, err := os.ReadFile("../../docs/gatehouse.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^\s*(secret|auth_token|database_dsn):`).Find(text); m != nil {
		t.Errorf("the example holds a secret itself: %q", m)
	}
}
