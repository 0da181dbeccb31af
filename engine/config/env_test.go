package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeTemp writes content to a file in a fresh directory and returns its path.
func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEnvironmentOverridesFile: a GATEHOUSE_* variable sets its key over the
// file's value, for every kind of key; lists are comma-separated.
func TestEnvironmentOverridesFile(t *testing.T) {
	path := writeTemp(t, "g.yaml", minimal+"sign_on:\n  session_lifetime: 12h\nrate_limits:\n  gc_interval: 5m\n")
	for name, value := range map[string]string{
		"GATEHOUSE_SIGN_ON_SESSION_LIFETIME":            "24h",
		"GATEHOUSE_RATE_LIMITS_GC_INTERVAL":             "1m",
		"GATEHOUSE_DATABASE":                            "postgres://gatehouse:pw@db.internal/gatehouse",
		"GATEHOUSE_KEYS_ENCRYPTION_KEY_FILE":            "/run/secrets/kek",
		"GATEHOUSE_CORS_ALLOWED_ORIGINS":                "https://a.example.com, https://b.example.com,",
		"GATEHOUSE_PHONE_SMS":                           "false",
		"GATEHOUSE_SIGN_ON_PHONE_ENROLLMENT":            "admin_only",
		"GATEHOUSE_PASSWORD_HASHING_PARALLELISM":        "2",
		"GATEHOUSE_PASSWORD_HASHING_MEMORY_KIB":         "65536",
		"GATEHOUSE_RATE_LIMITS_HASH_QUEUE_SHARE":        "0.5",
		"GATEHOUSE_SERVER_TRUSTED_PROXIES":              "10.0.0.0/8",
		"GATEHOUSE_LISTEN":                              "127.0.0.1:9999",
		"GATEHOUSE_ALLOW_INSECURE_DEVELOPMENT_SETTINGS": "true",
		"GATEHOUSE_LOG_LEVEL":                           "", // empty: ignored
	} {
		t.Setenv(name, value)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]any{
		"session_lifetime":   {c.SignOn.SessionLifetime, 24 * time.Hour},
		"gc_interval":        {c.RateLimits.GCInterval, time.Minute},
		"database":           {c.Database, "postgres://gatehouse:pw@db.internal/gatehouse"},
		"encryption_key":     {c.Keys.EncryptionKeyFile, "/run/secrets/kek"},
		"allowed_origins":    {c.CORS.AllowedOrigins, []string{"https://a.example.com", "https://b.example.com"}},
		"sms":                {c.Phone.SMS, false},
		"phone_enrollment":   {c.SignOn.PhoneEnrollment, EnrollAdminOnly},
		"parallelism":        {c.PasswordHashing.Parallelism, uint8(2)},
		"memory_kib":         {c.PasswordHashing.MemoryKiB, uint32(65536)},
		"hash_queue_share":   {c.RateLimits.HashQueueShare, 0.5},
		"trusted_proxies":    {c.Server.TrustedProxies, []string{"10.0.0.0/8"}},
		"listen":             {c.Listen, "127.0.0.1:9999"},
		"allow_insecure":     {c.AllowInsecureDevelopmentSettings, true},
		"log_level":          {c.LogLevel, "info"},
		"untouched key":      {c.Phone.CodeTTL, 5 * time.Minute},
		"clients, file only": {c.Clients[0].ID, "app"},
	}
	for name, w := range want {
		if !reflect.DeepEqual(w[0], w[1]) {
			t.Errorf("%s = %#v, want %#v", name, w[0], w[1])
		}
	}
}

// TestEnvironmentProblems: a variable that cannot be read names the key and the
// variable; a value out of range says which variable set it.
func TestEnvironmentProblems(t *testing.T) {
	t.Setenv("GATEHOUSE_RATE_LIMITS_GC_INTERVAL", "soon")
	t.Setenv("GATEHOUSE_PHONE_SMS", "maybe")
	t.Setenv("GATEHOUSE_PHONE_MAX_ATTEMPTS", "five")
	t.Setenv("GATEHOUSE_PASSWORD_HASHING_PARALLELISM", "300")
	t.Setenv("GATEHOUSE_SIGN_ON_PHONE_ENROLLMENT", "sometimes")
	t.Setenv("GATEHOUSE_PHONE_CODE_TTL", "2h")
	t.Setenv("GATEHOUSE_CORS_ALLOWED_ORIGINS", "https://ok.example.com,https://app.example.com/path")
	_, err := Parse([]byte(minimal))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`rate_limits.gc_interval: GATEHOUSE_RATE_LIMITS_GC_INTERVAL: "soon" is not a duration such as 90s, 5m or 1h30m`,
		`phone.sms: GATEHOUSE_PHONE_SMS: "maybe" is not true or false`,
		`phone.max_attempts: GATEHOUSE_PHONE_MAX_ATTEMPTS: "five" is not a whole number`,
		`password_hashing.parallelism: GATEHOUSE_PASSWORD_HASHING_PARALLELISM: "300" is not a whole number from 0 to 255`,
		`sign_on.phone_enrollment: GATEHOUSE_SIGN_ON_PHONE_ENROLLMENT: "sometimes" is not one of sign_in, admin_only`,
		`phone.code_ttl: 2h0m0s is not between 30s and 30m0s (set by GATEHOUSE_PHONE_CODE_TTL)`,
		`cors.allowed_origins[1]: "https://app.example.com/path" must be scheme://host[:port] only (set by GATEHOUSE_CORS_ALLOWED_ORIGINS)`,
	} {
		if !strings.Contains(err.Error(), want+"\n") && !strings.HasSuffix(err.Error(), want) {
			t.Errorf("no line %q in:\n%v", want, err)
		}
	}
}

// TestEnvNames: every key outside the clients list has a variable, no two keys
// share one, and the clients list has none.
func TestEnvNames(t *testing.T) {
	keys := EnvKeys()
	seen := map[string]string{}
	for _, k := range keys {
		name := EnvName(k)
		if other, ok := seen[name]; ok {
			t.Errorf("%s and %s are both %s", k, other, name)
		}
		seen[name] = k
		if strings.HasPrefix(k, "clients") {
			t.Errorf("%s can be set from the environment; clients are file-only", k)
		}
	}
	for _, want := range []string{"GATEHOUSE_SIGN_ON_SESSION_LIFETIME", "GATEHOUSE_RATE_LIMITS_GC_INTERVAL", "GATEHOUSE_DATABASE", "GATEHOUSE_MESSAGING_WEBHOOK_SECRET_FILE"} {
		if _, ok := seen[want]; !ok {
			t.Errorf("no key is set by %s", want)
		}
	}
}

// TestSecretFiles: every secret can be read from a file, without its trailing
// newline; the DSN too.
func TestSecretFiles(t *testing.T) {
	client := writeTemp(t, "client", "client-secret-0123456789\n")
	token := writeTemp(t, "token", "twilio-token-0123456789\r\n")
	hook := writeTemp(t, "hook", "webhook-secret-0123456789")
	otp := writeTemp(t, "otp", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n")
	dsn := writeTemp(t, "dsn", "postgres://gatehouse:s3cr3t@db/gatehouse?sslmode=verify-full\n")
	text := strings.Replace(minimal, "database: sqlite:/tmp/x.db\n", "database_file: "+dsn+"\n", 1) +
		"    secret_file: " + client + "\n" +
		"keys:\n  encryption_key_file: /etc/gatehouse/kek\n" +
		"secrets:\n  otp_key_file: " + otp + "\n" +
		"messaging:\n  provider: twilio\n  twilio:\n    account_sid: AC0123\n    from: \"+12015550100\"\n    auth_token_file: " + token + "\n" +
		"  webhook:\n    secret_file: " + hook + "\n"
	c, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][2]string{
		"client":  {c.Clients[0].Secret, "client-secret-0123456789"},
		"twilio":  {c.Messaging.Twilio.AuthToken, "twilio-token-0123456789"},
		"webhook": {c.Messaging.Webhook.Secret, "webhook-secret-0123456789"},
		"otp":     {c.Secrets.OTPKey, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="},
		"dsn":     {c.Database, "postgres://gatehouse:s3cr3t@db/gatehouse?sslmode=verify-full"},
	} {
		if got[0] != got[1] {
			t.Errorf("%s: %q, want %q", name, got[0], got[1])
		}
	}
	// The environment may name the file instead, replacing the form the file used.
	t.Setenv("GATEHOUSE_MESSAGING_TWILIO_AUTH_TOKEN_FILE", hook)
	t.Setenv("GATEHOUSE_CLIENTS_0_SECRET", "ignored: clients are file-only")
	withEnv := strings.Replace(text, "auth_token_file: "+token, "auth_token_env: GATEHOUSE_TEST_UNSET_TOKEN", 1)
	if c, err := Parse([]byte(withEnv)); err != nil || c.Messaging.Twilio.AuthToken != "webhook-secret-0123456789" || c.Clients[0].Secret != "client-secret-0123456789" {
		t.Errorf("auth_token_file from the environment: %v %q", err, c.Messaging.Twilio.AuthToken)
	}
}

// TestSecretFileProblems: a secret file that is missing, a directory, empty or
// given beside another form is an error naming the key and the path, and never
// the content.
func TestSecretFileProblems(t *testing.T) {
	dir := t.TempDir()
	empty := writeTemp(t, "empty", "\n")
	secret := writeTemp(t, "secret", "do-not-print-this-secret-value\n")
	cases := map[string]struct{ extra, want string }{
		"missing":   {"    secret_file: " + filepath.Join(dir, "nope") + "\n", "clients[0].secret_file: cannot read " + filepath.Join(dir, "nope") + ": no such file or directory"},
		"directory": {"    secret_file: " + dir + "\n", "clients[0].secret_file: cannot read " + dir + ": is a directory"},
		"empty":     {"    secret_file: " + empty + "\n", "clients[0].secret_file: " + empty + " is empty"},
		"two forms": {"    secret: 0123456789abcdef\n    secret_file: " + secret + "\n", "clients[0].secret: set only one of secret, secret_env, secret_file, not secret and secret_file"},
		"database":  {"database_file: " + filepath.Join(dir, "dsn") + "\n", "database_file: cannot read " + filepath.Join(dir, "dsn")},
		"dsn twice": {"database_file: " + secret + "\n", "database: set only one of database, database_file, not database and database_file"},
		"otp":       {"secrets:\n  otp_key_file: " + secret + "\n", "secrets.otp_key_file: the one-time-code key must hold at least 32 bytes, base64-encoded"},
		"webhook":   {"messaging:\n  provider: webhook\n  webhook:\n    url: https://gw.example.com\n    secret_file: " + filepath.Join(dir, "hook") + "\n", "messaging.webhook.secret_file: cannot read " + filepath.Join(dir, "hook")},
	}
	for name, c := range cases {
		text := minimal + c.extra
		if name == "database" {
			text = strings.Replace(minimal, "database: sqlite:/tmp/x.db\n", "", 1) + c.extra
		}
		_, err := Parse([]byte(text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "do-not-print") {
			t.Errorf("%s: the error shows the secret: %v", name, err)
		}
	}
}

// TestEveryProblemAtOnce: an unknown key, a value of the wrong type, a duration
// out of range, one that does not parse and a missing variable are all reported
// in one run, in the file's order, then the secrets', then the values'.
func TestEveryProblemAtOnce(t *testing.T) {
	path := writeTemp(t, "g.yaml", minimal+
		"    secret_env: GATEHOUSE_TEST_UNSET_VAR\n"+
		"colour: blue\n"+
		"phone:\n  code_ttl: 2h\n  lockout: a while\n  sms_enabled: true\n"+
		"sign_on:\n  require_phone: perhaps\n")
	_, err := Load(path)
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		"config " + path + `: line 8: unknown key "colour" in the top level`,
		"config " + path + `: line 12: unknown key "sms_enabled" in phone`,
		"config " + path + ": line 11: phone.lockout: cannot unmarshal !!str `a while` into a duration such as 90s, 5m or 1h30m",
		"config " + path + ": line 14: sign_on.require_phone: cannot unmarshal !!str `perhaps` into bool",
		"config " + path + ": clients[0].secret_env: environment variable GATEHOUSE_TEST_UNSET_VAR is not set",
		"config " + path + ": phone.code_ttl: 2h0m0s is not between 30s and 30m0s",
	}
	if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestScopes: the users and keys commands need the database, keys and password
// hashing, not the messaging or client secrets; the clients command needs the
// clients' secrets too. Unknown keys stop every command.
func TestScopes(t *testing.T) {
	base := minimal + "    secret_env: GATEHOUSE_TEST_UNSET_CLIENT\n" +
		"messaging:\n  provider: webhook\n  webhook:\n    url: https://gw.example.com/sms\n    secret_env: GATEHOUSE_TEST_UNSET_HOOK\n" +
		"secrets:\n  otp_key_env: GATEHOUSE_TEST_UNSET_OTP\n" +
		"rate_limits:\n  gc_interval: nope\n"
	if _, err := ParseFor([]byte(base), ForAdmin); err != nil {
		t.Errorf("ForAdmin: %v", err)
	}
	_, err := ParseFor([]byte(base), ForClients)
	if err == nil || strings.Count(err.Error(), "\n") != 0 || !strings.Contains(err.Error(), "clients[0].secret_env") {
		t.Errorf("ForClients: %v, want the client secret alone", err)
	}
	_, err = ParseFor([]byte(base), ForServe)
	for _, want := range []string{"clients[0].secret_env", "messaging.webhook.secret_env", "secrets.otp_key_env", "rate_limits.gc_interval"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ForServe: %v, want %s", err, want)
		}
	}
	for name, extra := range map[string]string{
		"unknown key":     "colour: blue\n",
		"weak hashing":    "password_hashing:\n  memory_kib: 1024\n",
		"bad database":    "keys:\n  encryption_key_env: GATEHOUSE_TEST_UNSET_KEK\n",
		"bad region":      "phone:\n  default_region: usa\n",
		"dsn file absent": "database_file: /nonexistent/dsn\n",
	} {
		if _, err := ParseFor([]byte(base+extra), ForAdmin); err == nil {
			t.Errorf("ForAdmin accepted a file with a %s", name)
		}
	}
}

// TestUnusedEnv: a misspelt GATEHOUSE_* variable is reported; a key's variable, a
// variable an *_env key names and other variables are not.
func TestUnusedEnv(t *testing.T) {
	c, err := Parse([]byte(minimal + "    secret: 0123456789abcdef\n"))
	if err != nil {
		t.Fatal(err)
	}
	c.Clients[0].SecretEnv = "GATEHOUSE_WEB_SECRET"
	got := UnusedEnv([]string{"GATEHOUSE_SIGNON_SESSION_LIFETIME=24h", "GATEHOUSE_SIGN_ON_SESSION_LIFETIME=24h",
		"GATEHOUSE_WEB_SECRET=x", "HOME=/root", "GATEHOUSE_CLIENTS=x"}, c)
	if want := []string{"GATEHOUSE_CLIENTS", "GATEHOUSE_SIGNON_SESSION_LIFETIME"}; !slices.Equal(got, want) {
		t.Errorf("UnusedEnv = %q, want %q", got, want)
	}
}
