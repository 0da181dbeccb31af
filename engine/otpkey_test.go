package engine_test

import (
	"encoding/base64"
	"path/filepath"
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// TestOTPKeyFromConfiguration: a one-time-code key the configuration gives (read
// by config.Load from secrets.otp_key_env or otp_key_file) is the one codes are
// kept under: sign-in works and no key is created in the database; without one, the
// database holds it.
func TestOTPKeyFromConfiguration(t *testing.T) {
	for name, key := range map[string]string{
		"given":     base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
		"not given": "",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			h := enginetest.Start(t, enginetest.Options{DataDir: dir, Configure: func(c *config.Config) { c.Secrets.OTPKey = key }})
			h.CreateUser(t, "otp@example.com", "+12015550142")
			if tokens := h.SignIn(t, "otp@example.com", "+12015550142", "sms"); tokens["access_token"] == nil {
				t.Fatalf("no access token: %v", tokens)
			}
			_, secrets, _ := rawKeyRows(t, filepath.Join(dir, "gatehouse.db"))
			if _, stored := secrets["otp-hmac-key"]; stored != (key == "") {
				t.Errorf("one-time-code key in the database: %v, want %v", stored, key == "")
			}
		})
	}
}
