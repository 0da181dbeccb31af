package cli

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// lastLine is the last line of out: where add and rotate-secret print a secret.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestClientsCommands(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "g.db")
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	writeFile(t, cfgPath, "issuer: https://id.example.com\ndatabase: "+db+"\nclients:\n  - id: from-config\n    redirect_uris: [https://cfg.example.com/cb]\n")

	r := run(t, "", "clients", "--database", db, "add", "web", "--name", "Web app", "--redirect-uri", "https://app.example.com/cb",
		"--redirect-uri", "http://127.0.0.1:3000/cb", "--grant", "authorization_code", "--grant", "refresh_token",
		"--post-logout-redirect-uri", "https://app.example.com/")
	secret := lastLine(r.stdout)
	if r.code != 0 || !strings.Contains(r.stdout, "added client web (confidential") || len(secret) != 43 || !strings.Contains(r.stderr, "shown only this once") {
		t.Fatalf("add: %+v", r)
	}
	st := openTestStore(t, db)
	rec, err := st.GetClient(t.Context(), "web")
	if err != nil || rec.SecretHash != clients.HashSecret(secret) || strings.Contains(rec.SecretHash, secret) {
		t.Fatalf("stored client: %+v %v; want the secret's hash only", rec, err)
	}
	if strings.Join(rec.Scopes, " ") != "openid profile email offline_access" || len(rec.RedirectURIs) != 2 || rec.Name != "Web app" {
		t.Errorf("stored client: %+v", rec)
	}

	cases := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"duplicate", "", []string{"add", "web", "--redirect-uri", "https://a.example/cb"}, `a client "web" exists already`},
		{"config clash", "", []string{"--config", cfgPath, "add", "from-config", "--redirect-uri", "https://a.example/cb"}, `client "from-config" is defined in ` + cfgPath},
		{"bad redirect", "", []string{"add", "x", "--redirect-uri", "https://a.example/cb#frag"}, `--redirect-uri[0]: "https://a.example/cb#frag" must not carry a fragment`},
		{"no redirect", "", []string{"add", "x"}, "--redirect-uri: at least one is needed"},
		{"bad grant", "", []string{"add", "x", "--redirect-uri", "https://a.example/cb", "--grant", "password"}, `--grant[0]: "password" is not one of`},
		{"offline without refresh", "", []string{"add", "x", "--redirect-uri", "https://a.example/cb", "--scope", "openid", "--scope", "offline_access"}, "offline_access needs the refresh_token grant"},
		{"bad id", "", []string{"add", "x y", "--redirect-uri", "https://a.example/cb"}, "may only hold letters"},
		{"public with secret method", "", []string{"add", "x", "--public", "--auth-method", "client_secret_post", "--redirect-uri", "https://a.example/cb"}, "a public client authenticates with none"},
		{"unknown method", "", []string{"add", "x", "--auth-method", "tls_client_auth", "--redirect-uri", "https://a.example/cb"}, `"tls_client_auth" is not one of`},
		{"jwt without keys", "", []string{"add", "x", "--auth-method", "private_key_jwt", "--redirect-uri", "https://a.example/cb"}, "private_key_jwt needs the client's public keys"},
		{"weak supplied secret", "password\n", []string{"add", "x", "--secret-stdin", "--redirect-uri", "https://a.example/cb"}, "at least 32 characters"},
		{"secret for a public client", "0123456789abcdef0123456789abcdef\n", []string{"add", "x", "--public", "--secret-stdin", "--redirect-uri", "https://a.example/cb"}, "has no secret"},
	}
	for _, c := range cases {
		args := append([]string{"clients"}, c.args...)
		if c.args[0] != "--config" {
			args = append([]string{"clients", "--database", db}, c.args...)
		}
		if r := run(t, c.stdin, args...); r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: %+v, want exit 1 saying %q", c.name, r, c.want)
		}
	}
	if _, err := st.GetClient(t.Context(), "x"); err == nil {
		t.Error("a refused add stored the client")
	}

	own := "Zq8w1Xe4Rt7Yu0Io3Pa6Sd9Fg2Hj5Kl8Zx"
	r = run(t, own+"\n", "clients", "--database", db, "add", "svc", "--secret-stdin", "--auth-method", "client_secret_post", "--grant", "interaction_code", "--redirect-uri", "https://svc.example/cb")
	if r.code != 0 || strings.Contains(r.stdout, own) || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("add with --secret-stdin: %+v; the supplied secret must not be printed", r)
	}
	if rec, _ := st.GetClient(t.Context(), "svc"); rec.SecretHash != clients.HashSecret(own) || rec.TokenEndpointAuthMethod != "client_secret_post" {
		t.Errorf("client with a supplied secret: %+v", rec)
	}
	r = run(t, "", "clients", "--database", db, "add", "spa", "--public", "--redirect-uri", "http://localhost:5173/cb")
	if r.code != 0 || !strings.Contains(r.stdout, "added client spa (public, none)") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("add --public: %+v", r)
	}
	r = run(t, "", "clients", "--database", db, "add", "keys", "--jwks-uri", "https://keys.example/jwks.json", "--redirect-uri", "https://k.example/cb", "--backchannel-logout-uri", "https://k.example/logout")
	if r.code != 0 || !strings.Contains(r.stdout, "(confidential, private_key_jwt)") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("add --jwks-uri: %+v", r)
	}

	r = run(t, "", "clients", "--config", cfgPath, "list")
	for _, want := range []string{"from-config", "config", "web", "Web app", "client_secret_basic or client_secret_post", "authorization_code,refresh_token", "spa", "public", "keys", "private_key_jwt"} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("list: %+v, want it to show %q", r, want)
		}
	}
	r = run(t, "", "clients", "--database", db, "list", "--json")
	var listed []clientJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &listed) != nil || len(listed) != 4 || listed[0].ID != "keys" || listed[3].ID != "web" {
		t.Errorf("list --json: %+v", r)
	}
	r = run(t, "", "clients", "--database", db, "show", "keys", "--json")
	var shown clientJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &shown) != nil || shown.JWKSURI != "https://keys.example/jwks.json" ||
		shown.BackchannelLogoutURI != "https://k.example/logout" || shown.HasSecret || shown.Public {
		t.Errorf("show --json: %+v", r)
	}
	r = run(t, "", "clients", "--database", db, "show", "web")
	if r.code != 0 || !strings.Contains(r.stdout, "https://app.example.com/") || strings.Contains(r.stdout, secret) || strings.Contains(r.stdout, rec.SecretHash) {
		t.Errorf("show: %+v; want the client without its secret or hash", r)
	}
	if r := run(t, "", "clients", "--config", cfgPath, "show", "from-config"); r.code != 0 || !strings.Contains(r.stdout, "config") {
		t.Errorf("show of a configured client: %+v", r)
	}

	r = run(t, "", "clients", "--database", db, "rotate-secret", "web")
	rotated := lastLine(r.stdout)
	if r.code != 0 || len(rotated) != 43 || rotated == secret {
		t.Fatalf("rotate-secret: %+v", r)
	}
	if rec, _ := st.GetClient(t.Context(), "web"); rec.SecretHash != clients.HashSecret(rotated) {
		t.Error("rotate-secret did not store the new secret's hash")
	}
	if r := run(t, "", "clients", "--database", db, "rotate-secret", "spa"); r.code != 1 || !strings.Contains(r.stderr, "has no secret") {
		t.Errorf("rotate-secret of a public client: %+v", r)
	}
	if r := run(t, "", "clients", "--config", cfgPath, "rotate-secret", "from-config"); r.code != 1 || !strings.Contains(r.stderr, "change its secret there") {
		t.Errorf("rotate-secret of a configured client: %+v", r)
	}
	if r := run(t, "", "clients", "--config", cfgPath, "remove", "from-config"); r.code != 1 || !strings.Contains(r.stderr, "remove it there") {
		t.Errorf("remove of a configured client: %+v", r)
	}
	if r := run(t, "", "clients", "--database", db, "remove", "web"); r.code != 0 || !strings.Contains(r.stdout, "removed client web") {
		t.Errorf("remove: %+v", r)
	}
	if r := run(t, "", "clients", "--database", db, "show", "web"); r.code != 1 || !strings.Contains(r.stderr, `no client "web"`) {
		t.Errorf("show after remove: %+v", r)
	}
	if r := run(t, "", "clients", "--database", db, "remove", "web"); r.code != 1 || !strings.Contains(r.stderr, `no client "web" in the database`) {
		t.Errorf("remove twice: %+v", r)
	}
	if r := run(t, "", "clients", "list"); r.code != 2 {
		t.Errorf("no database: %+v", r)
	}
	if r := run(t, "", "clients", "--database", db, "frobnicate"); r.code != 2 {
		t.Errorf("unknown command: %+v", r)
	}
}

// A client added with the CLI is used by an engine that is already running on the
// same database; rotating its secret and removing it reach the engine within the
// registry's cache time.
func TestClientAddedByTheCLIIsLive(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			opts := enginetest.Options{Configure: func(c *config.Config) { c.SignOn.RequirePhone = false }}
			if backend == "postgres" {
				opts.Database = enginetest.PostgresSchema(t)
			}
			h := enginetest.Start(t, opts)
			h.CreateUser(t, "alice@example.com", "")
			db := h.Config.Database
			web := enginetest.Client{ID: "web", RedirectURI: enginetest.RedirectURI}

			if status, body := h.TryInteractFor(t, web); status != 401 || body["error"] != "invalid_client" {
				t.Fatalf("interact before the client exists: %d %v", status, body)
			}
			r := run(t, "", "clients", "--database", db, "add", "web", "--grant", "interaction_code", "--redirect-uri", enginetest.RedirectURI)
			if r.code != 0 {
				t.Fatalf("add: %+v", r)
			}
			secret := lastLine(r.stdout)
			basic := func(s string) http.Header {
				return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("web:"+url.QueryEscape(s)))}}
			}
			signIn := func() *enginetest.Flow {
				f := h.InteractFor(t, web)
				enginetest.Expect(t, "identify", 200)(f.Identify("alice@example.com", enginetest.Password))
				return f
			}
			f := signIn()
			if status, tokens := f.RedeemWith(nil, basic(secret)); status != 200 || tokens["id_token"] == nil {
				t.Fatalf("token for the client the CLI added: %d %v", status, tokens)
			}

			r = run(t, "", "clients", "--database", db, "rotate-secret", "web")
			if r.code != 0 {
				t.Fatalf("rotate-secret: %+v", r)
			}
			rotated := lastLine(r.stdout)
			h.Clock.Advance(clients.CacheTTL)
			f = signIn()
			if status, body := f.RedeemWith(nil, basic(secret)); status != 401 || body["error"] != "invalid_client" {
				t.Errorf("token with the old secret after rotation: %d %v", status, body)
			}
			if status, tokens := f.RedeemWith(nil, basic(rotated)); status != 200 || tokens["access_token"] == nil {
				t.Errorf("token with the new secret: %d %v", status, tokens)
			}

			if r := run(t, "", "clients", "--database", db, "remove", "web"); r.code != 0 {
				t.Fatalf("remove: %+v", r)
			}
			h.Clock.Advance(clients.CacheTTL)
			if status, body := h.TryInteractFor(t, web); status != 401 || body["error"] != "invalid_client" {
				t.Errorf("interact after remove: %d %v", status, body)
			}
		})
	}
}
