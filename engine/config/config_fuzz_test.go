package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// fuzzMinimal is the smallest file that loads.
const fuzzMinimal = `issuer: https://id.example.com/oauth2/default
database: sqlite:/tmp/x.db
clients:
  - id: app
    redirect_uris: [https://app.example.com/cb]
`

// FuzzParse feeds arbitrary files to Parse, seeded with the example configuration
// and every YAML block of the docs. Parse must not panic, must give the same
// answer twice, and must return either an error (and nothing else) or a
// configuration that validates, whose clients have their defaults filled in, and
// that survives being written back out (secrets in place of their *_env and *_file
// keys) and read again unchanged. Unknown keys are
// reported in the file's words, not with Go type names.
//
//	go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 30s ./engine/config/
func FuzzParse(f *testing.F) {
	f.Setenv("EXAMPLE_WEB_CLIENT_SECRET", "0123456789abcdef0123")
	for _, s := range configSeeds(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		c2, err2 := Parse(data)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) || !reflect.DeepEqual(c, c2) {
			t.Fatalf("Parse is not deterministic: %v / %v", err, err2)
		}
		if err != nil {
			if !reflect.DeepEqual(c, Config{}) {
				t.Fatalf("Parse returned a configuration with its error %v", err)
			}
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("Parse returned an empty error")
			}
			if strings.Contains(err.Error(), "not found in type") {
				t.Fatalf("an unknown key is reported with Go type names: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a configuration that does not validate: %v", err)
		}
		for i, cl := range c.Clients {
			if !reflect.DeepEqual(ClientDefaults(cl), cl) {
				t.Fatalf("clients[%d] lacks its defaults", i)
			}
		}
		// Written back out (with secrets given in place of their variables) and read
		// again, it is the same configuration.
		out := c
		out.Clients = append([]Client(nil), c.Clients...)
		for i := range out.Clients {
			out.Clients[i].SecretEnv, out.Clients[i].SecretFile = "", ""
		}
		out.Messaging.Twilio.AuthTokenEnv, out.Messaging.Twilio.AuthTokenFile = "", ""
		out.Messaging.Webhook.SecretEnv, out.Messaging.Webhook.SecretFile = "", ""
		out.DatabaseFile = ""
		text, err := yaml.Marshal(out)
		if err != nil {
			t.Fatalf("the configuration does not encode: %v", err)
		}
		back, err := Parse(text)
		if err != nil {
			t.Fatalf("the configuration, written out, does not load: %v\n%s", err, text)
		}
		// Compared as text: an empty list reads back as [] where it was nil.
		if again, err := yaml.Marshal(back); err != nil || string(again) != string(text) {
			t.Fatalf("the configuration changed on a round trip:\n%s\nthen\n%s", text, again)
		}
	})
}

// configSeeds are the example file, the docs' YAML blocks (on their own and on top
// of a minimal file) and hand-written files for each section.
func configSeeds(f *testing.F) []string {
	seeds := []string{"", fuzzMinimal, "---\n" + fuzzMinimal, fuzzMinimal + "colour: blue\n", "issuer: [\n", "- a\n- b\n",
		fuzzMinimal + "phone:\n  sms_enabled: true\n",
		fuzzMinimal + "phone: 5\n",
		fuzzMinimal + "sign_on:\n  phone_enrollment: maybe\n",
		fuzzMinimal + "sign_on:\n  phone_enrollment: false\n  transaction_ttl: 10m\n",
		fuzzMinimal + "phone:\n  code_ttl: 5\n  default_region: FR\n  max_attempts: 99\n",
		fuzzMinimal + "    secret_env: NOT_SET_ANYWHERE\n",
		fuzzMinimal + "    secret: short\n    grants: [interaction_code, refresh_token]\n    scopes: [openid, offline_access]\n",
		fuzzMinimal + "messaging:\n  provider: twilio\n  twilio:\n    account_sid: AC1\n    auth_token: t\n    from: \"+12015550123\"\n",
		fuzzMinimal + "messaging:\n  provider: webhook\n  webhook:\n    url: https://hooks.example.com/sms\n    secret: 0123456789abcdef\n",
		fuzzMinimal + "cors:\n  allowed_origins: [https://app.example.com, \"*\"]\n",
		fuzzMinimal + "password_hashing:\n  memory_kib: 1\n  iterations: 0\n  parallelism: 300\n",
		fuzzMinimal + "a: &x {b: *x}\n",
		"issuer: https://id.example.com\ndatabase: postgres://u:p@h/db\nclients: [{id: a, redirect_uris: ['http://127.0.0.1/cb']}]\n",
	}
	example, err := os.ReadFile(filepath.Join("..", "..", "docs", "gatehouse.example.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds, string(example))
	docs, _ := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	block := regexp.MustCompile("(?s)```ya?ml\n(.*?)```")
	for _, p := range docs {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, m := range block.FindAllStringSubmatch(string(data), -1) {
			seeds = append(seeds, m[1], fuzzMinimal+m[1])
		}
	}
	return seeds
}
