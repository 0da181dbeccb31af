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

func TestExampleFileLoads(t *testing.T) {
	t.Setenv("EXAMPLE_WEB_CLIENT_SECRET", "0123456789abcdef0123")
	c, err := Load("../../docs/gatehouse.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Clients[0].Secret != "0123456789abcdef0123" || c.Phone.SendInterval != 30*time.Second || c.PasswordHashing.MemoryKiB != 19456 {
		t.Errorf("loaded %+v", c)
	}
}

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
		"unknown client key":      {strings.Replace(minimal, "    redirect_uris", "    redirect_uri: x\n    redirect_uris", 1), `unknown key "redirect_uri" in a clients entry`},
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
		"no clients":              {"issuer: https://id.example.com\ndatabase: x.db\n", "clients: at least one client is needed"},
		"wrong type":              {minimal + "phone:\n  sms: maybe\n", "cannot unmarshal"},
		"bad database":            {strings.Replace(minimal, "sqlite:/tmp/x.db", "mysql://x", 1), "database: unknown database URL scheme"},
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
	for _, want := range []string{"issuer:", "listen:", "clients:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// TestEveryKeyDocumented keeps docs/configuration.md in step with Config: every YAML
// key path must appear in it as `path`.
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
