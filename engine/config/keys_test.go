package config

import (
	"strings"
	"testing"
	"time"
)

func TestKeysSection(t *testing.T) {
	const pg = "database: postgres://gatehouse@db/gatehouse\n"
	t.Setenv("TEST_KEK_SET", "c29tZXRoaW5n")
	for _, tc := range []struct {
		name, extra, wantErr string
	}{
		{"sqlite needs nothing", "", ""},
		{"postgres without a KEK", pg, "gatehouse keys generate-kek > /etc/gatehouse/kek && chmod 600"},
		{"postgres with a file", pg + "keys:\n  encryption_key_file: /etc/gatehouse/kek\n", ""},
		{"postgres with an env", pg + "keys:\n  encryption_key_env: TEST_KEK_SET\n", ""},
		{"both", "keys:\n  encryption_key_file: /k\n  encryption_key_env: TEST_KEK_SET\n", "not both"},
		{"env unset", "keys:\n  encryption_key_env: TEST_KEK_NOT_SET_ANYWHERE\n", "TEST_KEK_NOT_SET_ANYWHERE is not set"},
		{"delay shorter than the JWKS cache", "keys:\n  publish_before_use: 5m\n", "keys.publish_before_use"},
		{"delay of a day", "keys:\n  publish_before_use: 24h\n", ""},
	} {
		text := minimal + tc.extra
		if strings.HasPrefix(tc.extra, "database:") {
			text = strings.Replace(minimal, "database: sqlite:/tmp/x.db\n", "", 1) + tc.extra
		}
		c, err := Parse([]byte(text))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
		case tc.name == "sqlite needs nothing" && c.Keys.PublishBeforeUse != 10*time.Minute:
			t.Errorf("default publish_before_use %s, want 10m", c.Keys.PublishBeforeUse)
		}
	}
}
