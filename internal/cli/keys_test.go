package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// kidOf is the kid in a JWT's header.
func kidOf(t *testing.T, jwt any) string {
	t.Helper()
	s, _ := jwt.(string)
	header, _, _ := strings.Cut(s, ".")
	raw, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.KID
}

func publishedKIDs(t *testing.T, h *enginetest.Harness) []string {
	t.Helper()
	resp, err := http.Get(h.Issuer + "/v1/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("JWKS Cache-Control %q: the publication delay assumes max-age=300", cc)
	}
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KID)
	}
	slices.Sort(kids)
	return kids
}

func userinfoStatus(t *testing.T, h *enginetest.Harness, accessToken any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.Issuer+"/v1/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+accessToken.(string))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

type keyRow struct {
	ID         string     `json:"id"`
	ActiveFrom time.Time  `json:"active_from"`
	RetireAt   *time.Time `json:"retire_at"`
	State      string     `json:"state"`
}

func TestKeysRotateOnARunningEngine(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) {
		c.Clients[0].AccessTokenTTL = 24 * time.Hour // tokens that outlive the publication delay by far
	}})
	const number = "+12015550123"
	h.CreateUser(t, "ann@example.com", number)
	first := h.SignIn(t, "ann@example.com", number, "sms")
	old := kidOf(t, first["access_token"])
	if got := publishedKIDs(t, h); !slices.Equal(got, []string{old}) {
		t.Fatalf("JWKS before rotation: %v, want [%s]", got, old)
	}

	rotatedAt := h.Clock.Now()
	r := run(t, "", "keys", "--database", h.Config.Database, "rotate")
	if r.code != 0 || !strings.Contains(r.stdout, "added signing key ") {
		t.Fatalf("keys rotate: %+v", r)
	}
	r = run(t, "", "keys", "--database", h.Config.Database, "list", "--json")
	var rows []keyRow
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rows) != nil || len(rows) != 2 {
		t.Fatalf("keys list: %+v", r)
	}
	if rows[0].ID != old || rows[0].State != oauth.KeyActive || rows[0].RetireAt == nil || rows[1].State != oauth.KeyNext {
		t.Errorf("keys list after rotate: %+v", rows)
	}
	next := rows[1].ID
	if d := rows[1].ActiveFrom.Sub(rotatedAt); d < 10*time.Minute-time.Second || d > 10*time.Minute+time.Minute {
		t.Errorf("the new key signs %s after the rotation, want keys.publish_before_use (10m)", d)
	}
	if r := run(t, "", "keys", "--database", h.Config.Database, "rotate"); r.code != 1 || !strings.Contains(r.stderr, "does not sign yet") {
		t.Errorf("a second rotate while the new key waits: %+v", r)
	}

	// Within a minute every node has reloaded: both keys are published, the old
	// one still signs.
	h.Clock.Advance(oauth.KeyReloadInterval + time.Second)
	want := []string{old, next}
	slices.Sort(want)
	if got := publishedKIDs(t, h); !slices.Equal(got, want) {
		t.Errorf("JWKS a minute after rotate: %v, want both %v", got, want)
	}
	if got := kidOf(t, h.SignIn(t, "ann@example.com", number, "sms")["access_token"]); got != old {
		t.Errorf("a token minted before the publication delay is signed by %s, want the old key %s", got, old)
	}

	// After the delay the new key signs; tokens of the old key still verify.
	h.Clock.Advance(rows[1].ActiveFrom.Sub(h.Clock.Now()) + time.Second)
	tokens := h.SignIn(t, "ann@example.com", number, "sms")
	if got, gotID := kidOf(t, tokens["access_token"]), kidOf(t, tokens["id_token"]); got != next || gotID != next {
		t.Errorf("tokens after the publication delay are signed by %s and %s, want the new key %s", got, gotID, next)
	}
	if s := userinfoStatus(t, h, tokens["access_token"]); s != http.StatusOK {
		t.Errorf("userinfo with a token of the new key: %d", s)
	}
	if s := userinfoStatus(t, h, first["access_token"]); s != http.StatusOK {
		t.Errorf("userinfo with a token of the old key after the rotation: %d", s)
	}
	h.Clock.Advance(23 * time.Hour)
	if s := userinfoStatus(t, h, first["access_token"]); s != http.StatusOK {
		t.Errorf("userinfo with a 24-hour token of the old key 23 h later: %d", s)
	}

	// Once retired the old key leaves the JWKS, and garbage collection deletes it.
	h.Clock.Advance(rows[0].RetireAt.Sub(h.Clock.Now()) + time.Second)
	if got := publishedKIDs(t, h); !slices.Equal(got, []string{next}) {
		t.Errorf("JWKS after the old key retired: %v, want [%s]", got, next)
	}
	res, err := h.Store.GarbageCollect(context.Background(), h.Clock.Now())
	if err != nil || res.SigningKeys != 1 {
		t.Errorf("garbage collection: %+v %v, want the retired key deleted", res, err)
	}
	r = run(t, "", "keys", "--database", h.Config.Database, "list")
	if r.code != 0 || strings.Contains(r.stdout, old) || !strings.Contains(r.stdout, next) {
		t.Errorf("keys list after GC: %+v", r)
	}
}

func TestKeysGenerateKEKAndConfig(t *testing.T) {
	r := run(t, "", "keys", "generate-kek")
	if r.code != 0 || len(strings.TrimSpace(r.stdout)) != 44 {
		t.Fatalf("generate-kek: %+v", r)
	}
	dir := t.TempDir()
	kek := filepath.Join(dir, "kek")
	if err := os.WriteFile(kek, []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "g.db")
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	yaml := "issuer: http://127.0.0.1:8080\ndatabase: sqlite:" + db + "\nkeys:\n  encryption_key_file: " + kek + "\n  publish_before_use: 15m\n" +
		"clients:\n  - id: app\n    redirect_uris: [http://127.0.0.1:3000/cb]\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	// No key yet: rotate says to start the engine first.
	if r := run(t, "", "keys", "--config", cfgPath, "rotate"); r.code != 1 || !strings.Contains(r.stderr, "start the engine once") {
		t.Errorf("rotate on an empty database: %+v", r)
	}
	if _, err := os.Stat(db + ".kek"); err == nil {
		t.Errorf("a default KEK file was created although the configuration names one")
	}
	// After a start, rotate seals the new key with the configured KEK and waits
	// the configured publish_before_use.
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := engine.OpenStore(context.Background(), cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := engine.New(context.Background(), cfg, engine.Deps{Store: st}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	before := time.Now()
	if r := run(t, "", "keys", "--config", cfgPath, "rotate"); r.code != 0 {
		t.Fatalf("rotate: %+v", r)
	}
	r = run(t, "", "keys", "--config", cfgPath, "list", "--json")
	var rows []keyRow
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rows) != nil || len(rows) != 2 {
		t.Fatalf("keys list: %+v", r)
	}
	if d := rows[1].ActiveFrom.Sub(before); d < 15*time.Minute-time.Second || d > 16*time.Minute {
		t.Errorf("with publish_before_use 15m the new key signs %s after the rotation", d)
	}
	// The wrong KEK cannot add a key.
	other := filepath.Join(dir, "other.kek")
	if err := os.WriteFile(other, []byte(run(t, "", "keys", "generate-kek").stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, "", "keys", "--database", "sqlite:"+db, "--encryption-key-file", other, "rotate")
	if r.code != 1 || !strings.Contains(r.stderr, "key-encryption key") {
		t.Errorf("rotate with another KEK: %+v", r)
	}
	if r := run(t, "", "keys", "--database", "sqlite:"+db); r.code != 2 {
		t.Errorf("keys without a command: %+v", r)
	}
}

func TestStartWarnsAboutALooseDatabaseFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	cfg := config.Defaults()
	cfg.Database = "sqlite:" + path
	st, err := openStore(context.Background(), cfg, newLogger(&logs, "info", true))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), path+" has mode 0640") {
		t.Errorf("logs: %s", logs.String())
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o640 {
		t.Errorf("the file's mode was changed to %04o", info.Mode().Perm())
	}
}
