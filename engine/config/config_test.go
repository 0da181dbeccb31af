package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

const minimal = `
issuer: https://id.example.com/oauth2/default
database: sqlite:/tmp/x.db
clients:
  - id: app
    redirect_uris: [https://app.example.com/cb]
`

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Clients[0]
	if !reflect.DeepEqual(cl.Grants, []string{"interaction_code"}) || cl.AccessTokenTTL != time.Hour || !reflect.DeepEqual(cl.Scopes, []string{"openid", "profile", "email", "phone"}) {
		t.Errorf("client defaults: %+v", cl)
	}
	if c.Listen != "127.0.0.1:8080" || !c.SignOn.RequirePhone || c.Phone.CodeTTL != 5*time.Minute || c.Messaging.Provider != "outbox" || c.DevOutbox {
		t.Errorf("defaults: %+v", c)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"unknown top-level key":   {minimal + "colour: blue\n", `unknown key "colour" in the top level`},
		"unknown client key":      {strings.Replace(minimal, "    redirect_uris", "    redirect_uri: x\n    redirect_uris", 1), `unknown key "redirect_uri" in clients[0]`},
		"unknown nested key":      {minimal + "phone:\n  sms_enabled: true\n", `unknown key "sms_enabled" in phone`},
		"bad duration":            {minimal + "phone:\n  code_ttl: 2h\n", "phone.code_ttl: 2h0m0s is not between"},
		"weak hashing":            {minimal + "password_hashing:\n  memory_kib: 1024\n", "password_hashing: memory_kib 1024 is below the minimum"},
		"issuer with slash":       {strings.Replace(minimal, "default\n", "default/\n", 1), "issuer: must not end with a slash"},
		"issuer path":             {strings.Replace(minimal, "/oauth2/default", "/auth", 1), `issuer: path "/auth" must be empty or /oauth2/<name>`},
		"unknown scope":           {minimal + "    scopes: [openid, admin]\n", `clients[0].scopes[1]: "admin" is not one of`},
		"offline without refresh": {minimal + "    scopes: [openid, offline_access]\n", "clients[0].scopes: offline_access needs the refresh_token grant"},
		"short secret":            {minimal + "    secret: short\n", "clients[0].secret: at least 16 characters"},
		"missing env":             {minimal + "    secret_env: GATEHOUSE_TEST_UNSET_VAR\n", "clients[0].secret_env: environment variable GATEHOUSE_TEST_UNSET_VAR is not set"},
		"bad origin":              {minimal + "cors:\n  allowed_origins: [\"https://app.example.com/path\"]\n", "cors.allowed_origins[0]"},
		"bad provider":            {minimal + "messaging:\n  provider: carrier-pigeon\n", `messaging.provider: "carrier-pigeon" is not one of`},
		"bad region":              {minimal + "phone:\n  default_region: usa\n", "phone.default_region"},
		"wrong type":              {minimal + "phone:\n  sms: maybe\n", "cannot unmarshal"},
		"bad database":            {strings.Replace(minimal, "sqlite:/tmp/x.db", "mysql://x", 1), "database: unknown database URL scheme"},
		"registration, no way in": {minimal + "sign_on:\n  self_registration: true\n  phone_enrollment: admin_only\n", "sign_on.self_registration: a new account could never sign in"},
		"registration field":      {minimal + "sign_on:\n  registration_fields: [firstName, nickname]\n", `sign_on.registration_fields[1]: "nickname" is not one of`},
	}
	for name, c := range cases {
		_, err := Parse([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, c.want)
		}
	}
}

func TestAllErrorsAtOnce(t *testing.T) {
	_, err := Parse([]byte("issuer: nope\ndatabase: x.db\nlisten: nope\n"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"issuer:", "listen:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// TestEveryKeyDocumented keeps docs/configuration.md in step with Config: every YAML
// key path must appear in it as `path`, and every key the environment can set in
// a table row that names its variable: | `path` | `GATEHOUSE_…` |.
func TestEveryKeyDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			path := prefix + tag
			ft := f.Type
			switch {
			case ft.Kind() == reflect.Struct && ft != reflect.TypeOf(time.Duration(0)):
				walk(path+".", ft)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(path+"[].", ft.Elem())
			default:
				keys = append(keys, path)
			}
		}
	}
	walk("", reflect.TypeOf(Config{}))
	for _, k := range keys {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("docs/configuration.md does not document `%s`", k)
		}
	}
	if len(keys) < 40 {
		t.Errorf("found only %d keys; the walk is broken", len(keys))
	}
	envKeys := EnvKeys()
	for _, k := range envKeys {
		if row := "| `" + k + "` | `" + EnvName(k) + "` |"; !strings.Contains(string(doc), row) {
			t.Errorf("docs/configuration.md has no row %s", row)
		}
	}
	if len(envKeys) != len(keys)-len(walkClients(keys)) {
		t.Errorf("the environment sets %d keys of %d outside clients", len(envKeys), len(keys)-len(walkClients(keys)))
	}
}

func walkClients(keys []string) []string {
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(k, "clients[]") || strings.HasPrefix(k, "system_log.event_hooks[]") {
			out = append(out, k)
		}
	}
	return out
}

func TestParseDatabase(t *testing.T) {
	for in, want := range map[string][2]string{
		"sqlite:/var/db/g.db":              {"sqlite", "/var/db/g.db"},
		"data/g.db":                        {"sqlite", "data/g.db"},
		"postgres://u@h/db?sslmode=verify": {"postgres", "postgres://u@h/db?sslmode=verify"},
		"postgresql://u@h/db":              {"postgres", "postgresql://u@h/db"},
	} {
		d, tgt, err := ParseDatabase(in)
		if err != nil || d != want[0] || tgt != want[1] {
			t.Errorf("ParseDatabase(%q) = %q %q %v", in, d, tgt, err)
		}
	}
}

func TestNoConfiguredClientsIsAllowed(t *testing.T) {
	// Clients may all live in the database ("gatehouse clients add").
	c, err := Parse([]byte("issuer: https://id.example.com\ndatabase: x.db\n"))
	if err != nil || len(c.Clients) != 0 {
		t.Errorf("Parse without clients: %v %+v", err, c.Clients)
	}
}

// testRSAJWK and testECJWK are public keys in JWK form; testPrivateJWK is not.
var testRSAJWK = `{"kty":"RSA","kid":"r1","n":"` + testRSAModulus + `","e":"AQAB"}`

const (
	testECJWK      = `{"kty":"EC","kid":"e1","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`
	testPrivateJWK = `{"kty":"EC","kid":"e2","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}`
)

// testRSAModulus is a 2048-bit modulus (any odd number of that size will do for parsing).
var testRSAModulus = strings.Repeat("3", 341) + "w"

func TestClientAuthKeys(t *testing.T) {
	t.Setenv("GATEHOUSE_TEST_CLIENT_SECRET", "0123456789abcdef0123")
	ok := map[string]string{
		"public flag":      "    public: true\n",
		"basic":            "    secret: 0123456789abcdef\n    token_endpoint_auth_method: client_secret_basic\n",
		"post from env":    "    secret_env: GATEHOUSE_TEST_CLIENT_SECRET\n    token_endpoint_auth_method: client_secret_post\n",
		"jwks as mapping":  "    token_endpoint_auth_method: private_key_jwt\n    jwks:\n      keys:\n        - " + testECJWK + "\n",
		"jwks as JSON":     "    token_endpoint_auth_method: private_key_jwt\n    jwks: '{\"keys\":[" + testRSAJWK + "]}'\n",
		"jwks_uri":         "    token_endpoint_auth_method: private_key_jwt\n    jwks_uri: https://app.example.com/jwks\n",
		"loopback jwks":    "    token_endpoint_auth_method: private_key_jwt\n    jwks_uri: http://127.0.0.1:8000/jwks\n",
		"back-channel uri": "    backchannel_logout_uri: https://app.example.com/logout/backchannel?x=1\n",
	}
	for name, extra := range ok {
		c, err := Parse([]byte(minimal + extra))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if name == "jwks as mapping" {
			if keys, err := ParseClientJWKS([]byte(c.Clients[0].JWKS)); err != nil || len(keys) != 1 || keys[0].KeyID != "e1" {
				t.Errorf("jwks from a mapping: %v %v (%s)", keys, err, c.Clients[0].JWKS)
			}
		}
	}
	bad := map[string]struct{ extra, want string }{
		"unknown method":          {"    token_endpoint_auth_method: tls_client_auth\n", `clients[0].token_endpoint_auth_method: "tls_client_auth" is not one of`},
		"public with secret":      {"    public: true\n    secret: 0123456789abcdef\n", "clients[0].secret: a public client has no secret"},
		"public with basic":       {"    public: true\n    token_endpoint_auth_method: client_secret_basic\n", "clients[0].token_endpoint_auth_method: a public client authenticates with none"},
		"basic without secret":    {"    token_endpoint_auth_method: client_secret_basic\n", "clients[0].secret: required with token_endpoint_auth_method client_secret_basic"},
		"none with secret":        {"    token_endpoint_auth_method: none\n    secret: 0123456789abcdef\n", "clients[0].secret: unused with token_endpoint_auth_method none"},
		"jwt without keys":        {"    token_endpoint_auth_method: private_key_jwt\n", "private_key_jwt needs the client's public keys"},
		"jwt with secret":         {"    token_endpoint_auth_method: private_key_jwt\n    jwks_uri: https://a.example/j\n    secret: 0123456789abcdef\n", "clients[0].secret: unused with token_endpoint_auth_method private_key_jwt"},
		"jwt with both key kinds": {"    token_endpoint_auth_method: private_key_jwt\n    jwks_uri: https://a.example/j\n    jwks: '{\"keys\":[" + testECJWK + "]}'\n", "clients[0].jwks: give jwks or jwks_uri, not both"},
		"keys without jwt":        {"    jwks_uri: https://a.example/j\n", "clients[0].jwks_uri: keys are only used with token_endpoint_auth_method private_key_jwt"},
		"http jwks_uri":           {"    token_endpoint_auth_method: private_key_jwt\n    jwks_uri: http://keys.example.com/j\n", "clients[0].jwks_uri: \"http://keys.example.com/j\" must be https"},
		"private key in jwks":     {"    token_endpoint_auth_method: private_key_jwt\n    jwks: '{\"keys\":[" + testPrivateJWK + "]}'\n", "clients[0].jwks: keys[0] is a private key"},
		"no usable key":           {"    token_endpoint_auth_method: private_key_jwt\n    jwks: '{\"keys\":[]}'\n", "clients[0].jwks: no key for signatures"},
		"jwks not JSON":           {"    token_endpoint_auth_method: private_key_jwt\n    jwks: 'keys'\n", "clients[0].jwks: not a JSON Web Key Set"},
		"jwks as a list":          {"    token_endpoint_auth_method: private_key_jwt\n    jwks: [1]\n", "jwks: write the key set as a mapping"},
		"bad back-channel uri":    {"    backchannel_logout_uri: /logout\n", "clients[0].backchannel_logout_uri: \"/logout\" is not an absolute http(s) URL"},
		"twice":                   {"  - id: app\n    redirect_uris: [https://app.example.com/cb]\n", `clients[1].id: "app" is listed twice`},
	}
	for name, c := range bad {
		_, err := Parse([]byte(minimal + c.extra))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, c.want)
		}
	}
}

func TestSystemLog(t *testing.T) {
	dir := t.TempDir()
	secret := dir + "/hook-secret"
	if err := os.WriteFile(secret, []byte("a hook secret that is long\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hook := func(lines string) string { return minimal + "system_log:\n  event_hooks:\n" + lines }
	c, err := Parse([]byte(hook("    - name: siem\n      url: https://siem.example.com/h?token=abc\n      secret_file: " + secret +
		"\n      event_types: [user.session.start]\n    - name: local\n      url: http://127.0.0.1:9000/h\n      secret_file: " + secret + "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if c.SystemLog.Retention != 90*24*time.Hour || len(c.SystemLog.EventHooks) != 2 || c.SystemLog.EventHooks[0].Secret != "a hook secret that is long" {
		t.Errorf("system_log: %+v", c.SystemLog)
	}
	t.Setenv("GATEHOUSE_SYSTEM_LOG_RETENTION", "720h")
	if c, err := Parse([]byte(minimal)); err != nil || c.SystemLog.Retention != 720*time.Hour {
		t.Errorf("retention from the environment: %v %v", c.SystemLog.Retention, err)
	}
	t.Setenv("GATEHOUSE_SYSTEM_LOG_RETENTION", "")
	for name, c := range map[string]struct{ yaml, want string }{
		"plain http":     {hook("    - name: a\n      url: http://siem.example.com/h?token=abc\n      secret_file: " + secret + "\n"), "system_log.event_hooks[0].url: must be https"},
		"no secret":      {hook("    - name: a\n      url: https://siem.example.com/h\n"), "system_log.event_hooks[0]: secret_env or secret_file is required"},
		"plain secret":   {hook("    - name: a\n      url: https://siem.example.com/h\n      secret: in-the-file-0123456789\n"), `unknown key "secret"`},
		"missing env":    {hook("    - name: a\n      url: https://siem.example.com/h\n      secret_env: GATEHOUSE_TEST_UNSET_VAR\n"), "system_log.event_hooks[0].secret_env: environment variable GATEHOUSE_TEST_UNSET_VAR is not set"},
		"bad name":       {hook("    - name: a b\n      url: https://siem.example.com/h\n      secret_file: " + secret + "\n"), "system_log.event_hooks[0].name"},
		"same name":      {hook("    - name: a\n      url: https://a.example.com/h\n      secret_file: " + secret + "\n    - name: a\n      url: https://b.example.com/h\n      secret_file: " + secret + "\n"), `system_log.event_hooks[1].name: "a" is used twice`},
		"bad event type": {hook("    - name: a\n      url: https://siem.example.com/h\n      secret_file: " + secret + "\n      event_types: [\"DROP TABLE\"]\n"), "system_log.event_hooks[0].event_types[0]"},
		"not a URL":      {hook("    - name: a\n      url: siem\n      secret_file: " + secret + "\n"), "system_log.event_hooks[0].url: not an absolute https URL"},
		"short":          {minimal + "system_log:\n  retention: 1h\n", "system_log.retention"},
	} {
		_, err := Parse([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "token=abc") {
			t.Errorf("%s: the error repeats the URL: %v", name, err)
		}
	}
	// A plain-http hook elsewhere only with the insecure development settings.
	if _, err := Parse([]byte(hook("    - name: a\n      url: http://siem.example.com/h\n      secret_file: "+secret+"\n") + "allow_insecure_development_settings: true\n")); err != nil {
		t.Errorf("plain http with allow_insecure_development_settings: %v", err)
	}
}
