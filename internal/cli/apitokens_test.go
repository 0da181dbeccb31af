package cli

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/mgmt"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// A token made with the CLI works at a running engine's management API at once;
// revoked with the CLI, it stops working at once; list shows both, never a secret.
func TestTokensCommands(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			opts := enginetest.Options{Configure: func(c *config.Config) { c.ManagementAPI.Enabled = true }}
			if backend == "postgres" {
				opts.Database = enginetest.PostgresSchema(t)
			}
			h := enginetest.Start(t, opts)
			db := h.Config.Database
			get := func(token string) int {
				t.Helper()
				req, _ := http.NewRequest(http.MethodGet, h.URL+"/api/v1/users", nil)
				req.Header.Set("Authorization", "SSWS "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}

			r := run(t, "", "tokens", "--database", db, "create", "--name", "provisioning script")
			token := lastLine(r.stdout)
			m := regexp.MustCompile(`^created API token (00T\S+) \(provisioning script, read-write\)\n`).FindStringSubmatch(r.stdout)
			if r.code != 0 || m == nil || !strings.HasPrefix(token, mgmt.TokenPrefix) || len(token) != len(mgmt.TokenPrefix)+43 ||
				!strings.Contains(r.stderr, "shown only this once") || strings.Contains(r.stderr, token) {
				t.Fatalf("create: %+v", r)
			}
			id := m[1]
			ro := run(t, "", "tokens", "--database", db, "create", "--name", "reports", "--read-only")
			if ro.code != 0 || !strings.Contains(ro.stdout, "(reports, read-only)") || lastLine(ro.stdout) == token {
				t.Fatalf("create --read-only: %+v", ro)
			}
			st := openTestStore(t, db)
			rec, err := st.GetAPIToken(t.Context(), id)
			if err != nil || rec.TokenHash != mgmt.HashToken(token) || rec.ReadOnly || rec.Name != "provisioning script" {
				t.Fatalf("stored token: %+v %v; want the token's hash only", rec, err)
			}

			if code := get(token); code != http.StatusOK {
				t.Fatalf("GET /api/v1/users with the new token: %d", code)
			}
			l := run(t, "", "tokens", "--database", db, "list")
			if l.code != 0 || !strings.Contains(l.stdout, id) || !strings.Contains(l.stdout, "read-only") ||
				strings.Contains(l.stdout, token) || strings.Contains(l.stdout, rec.TokenHash) || strings.Count(l.stdout, "never") != 1 {
				t.Errorf("list (one token used, one never): %+v", l)
			}

			if r := run(t, "", "tokens", "--database", db, "revoke", id); r.code != 0 || !strings.Contains(r.stdout, "revoked API token "+id) {
				t.Fatalf("revoke: %+v", r)
			}
			if code := get(token); code != http.StatusUnauthorized {
				t.Errorf("GET /api/v1/users with the revoked token: %d", code)
			}
			if code := get(lastLine(ro.stdout)); code != http.StatusOK {
				t.Errorf("the other token after the revocation: %d", code)
			}
			if r := run(t, "", "tokens", "--database", db, "revoke", id); r.code != 0 || !strings.Contains(r.stdout, "already revoked") {
				t.Errorf("revoke again: %+v", r)
			}

			j := run(t, "", "tokens", "--database", db, "list", "--json")
			var listed []map[string]any
			if j.code != 0 || json.Unmarshal([]byte(j.stdout), &listed) != nil || len(listed) != 2 {
				t.Fatalf("list --json: %+v", j)
			}
			if listed[0]["id"] != id || listed[0]["revoked_at"] == nil || listed[0]["last_used_at"] == nil || listed[1]["read_only"] != true ||
				listed[1]["revoked_at"] != nil || strings.Contains(j.stdout, token) || strings.Contains(j.stdout, rec.TokenHash) {
				t.Errorf("list --json: %s", j.stdout)
			}
		})
	}
}

func TestTokensCommandErrors(t *testing.T) {
	dir := t.TempDir()
	db := "sqlite:" + filepath.Join(dir, "g.db")
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	writeFile(t, cfgPath, "issuer: https://id.example.com\ndatabase: "+db+"\n")
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no name", []string{"create"}, 1, "--name is required"},
		{"blank name", []string{"create", "--name", "  "}, 1, "--name is required"},
		{"control character", []string{"create", "--name", "a\x1b[2Jb"}, 1, "control characters"},
		{"long name", []string{"create", "--name", strings.Repeat("n", 101)}, 1, "at most 100 characters"},
		{"unknown id", []string{"revoke", "00Tnope"}, 1, `no API token "00Tnope"`},
		{"no id", []string{"revoke"}, 2, "tokens revoke ID"},
		{"unknown command", []string{"rotate"}, 2, `unknown command "rotate"`},
	} {
		args := append([]string{"tokens", "--database", db}, c.args...)
		if r := run(t, "", args...); r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: %+v, want exit %d saying %q", c.name, r, c.code, c.want)
		}
	}
	if r := run(t, "", "tokens", "--database", db, "list"); r.code != 0 || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("list after the refused commands: %+v, want only the header", r)
	}
	// With a configuration whose API is off, create says so.
	r := run(t, "", "tokens", "--config", cfgPath, "create", "--name", "later")
	if r.code != 0 || !strings.Contains(r.stderr, "management_api.enabled is off") {
		t.Errorf("create with the API off: %+v", r)
	}
	if r := run(t, "", "tokens", "create", "--name", "x"); r.code != 2 {
		t.Errorf("neither --config nor --database: %+v", r)
	}
}
