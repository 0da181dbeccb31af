package engine_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/base64"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/engine"
	"github.com/gatehouse-id/gatehouse/engine/keyseal"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// legacyDatabase writes a database as a release from before sealing left it: the
// schema of migration 0001 only, with the signing key and the one-time-code key in
// the clear. It returns the key's id.
func legacyDatabase(t *testing.T, path string, otpKey []byte) string {
	t.Helper()
	schema, err := os.ReadFile(filepath.Join("store", "sqlite", "migrations", "0001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := (&jose.JSONWebKey{Key: &priv.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	for _, stmt := range []struct {
		q    string
		args []any
	}{
		{string(schema), nil},
		{`CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`, nil},
		{`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', ?)`, []any{time.Now().UnixMilli()}},
		{`INSERT INTO signing_keys (id, algorithm, private_key, created_at) VALUES (?, 'RS256', ?, ?)`, []any{kid, der, time.Now().Add(-time.Hour).UnixMilli()}},
		{`INSERT INTO secrets (name, value) VALUES ('otp-hmac-key', ?), ('first-signing-key', ?)`, []any{otpKey, der}},
	} {
		if _, err := db.Exec(stmt.q, stmt.args...); err != nil {
			t.Fatalf("building the legacy database: %v", err)
		}
	}
	return kid
}

func rawKeyRows(t *testing.T, path string) (keys map[string][]byte, secrets map[string][]byte, sealed map[string]bool) {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keys, secrets, sealed = map[string][]byte{}, map[string][]byte{}, map[string]bool{}
	rows, err := db.Query(`SELECT id, private_key FROM signing_keys`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var v []byte
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		keys[id] = v
	}
	rows.Close()
	rows, err = db.Query(`SELECT name, value, sealed FROM secrets`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var v []byte
		var s bool
		if err := rows.Scan(&name, &v, &s); err != nil {
			t.Fatal(err)
		}
		secrets[name], sealed[name] = v, s
	}
	return keys, secrets, sealed
}

func jwksKIDs(t *testing.T, h *enginetest.Harness) string {
	t.Helper()
	var kids []string
	for _, k := range h.JWKS(t).Keys {
		kids = append(kids, k.KeyID)
	}
	return strings.Join(kids, " ")
}

// A database from before sealing is sealed on start, keeping its keys: the same key
// signs, the one-time-code key is the same.
func TestPlaintextKeysAreSealedOnStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gatehouse.db")
	otpKey := bytes.Repeat([]byte{0x42}, 32)
	kid := legacyDatabase(t, path, otpKey)

	h := enginetest.Start(t, enginetest.Options{DataDir: dir})
	if got := jwksKIDs(t, h); got != kid {
		t.Errorf("JWKS after the upgrade: %q, want the legacy key %q", got, kid)
	}
	h.CreateUser(t, "bo@example.com", "+12015550124")
	tokens := h.SignIn(t, "bo@example.com", "+12015550124", "sms")
	header, _, _ := strings.Cut(tokens["access_token"].(string), ".")
	if raw, _ := base64.RawURLEncoding.DecodeString(header); !strings.Contains(string(raw), kid) {
		t.Errorf("access token header %s: not signed by the legacy key %s", raw, kid)
	}

	sealer, err := keyseal.FromConfig(h.Config.Keys, h.Config.Database)
	if err != nil {
		t.Fatal(err)
	}
	keys, secrets, sealed := rawKeyRows(t, path)
	if !keyseal.IsSealed(keys[kid]) {
		t.Errorf("the legacy signing key is still in the clear")
	} else if _, err := sealer.Open(keys[kid], keyseal.SigningKeyAD(kid)); err != nil {
		t.Errorf("the sealed legacy key: %v", err)
	}
	for name := range secrets {
		if !sealed[name] || !keyseal.IsSealed(secrets[name]) {
			t.Errorf("secret %s is still in the clear", name)
		}
	}
	got, err := sealer.Open(secrets["otp-hmac-key"], keyseal.SecretAD("otp-hmac-key"))
	if err != nil || !bytes.Equal(got, otpKey) {
		t.Errorf("the sealed one-time-code key: %x, %v; want the legacy key", got, err)
	}
	if info, err := os.Stat(path + ".kek"); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("the KEK file next to the database: %v %v", info, err)
	}
}

// Starting with another KEK than the one the keys were sealed with fails with a
// message naming the problem, and no key material.
func TestWrongKEKFailsStart(t *testing.T) {
	dir := t.TempDir()
	h := enginetest.Start(t, enginetest.Options{DataDir: dir})
	kekPath := filepath.Join(dir, "gatehouse.db.kek")
	original, err := os.ReadFile(kekPath)
	if err != nil {
		t.Fatal(err)
	}
	start := func() error {
		st, err := engine.OpenStore(context.Background(), h.Config.Database)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		_, err = engine.New(context.Background(), h.Config, engine.Deps{Store: st, DevOut: io.Discard})
		return err
	}
	replaced := keyseal.GenerateKEK()
	if err := os.WriteFile(kekPath, []byte(replaced), 0o600); err != nil {
		t.Fatal(err)
	}
	err = start()
	if err == nil || !strings.Contains(err.Error(), "key-encryption key") || !strings.Contains(err.Error(), kekPath) {
		t.Fatalf("start with another KEK: %v", err)
	}
	for _, material := range []string{strings.TrimSpace(replaced), strings.TrimSpace(string(original))} {
		if strings.Contains(err.Error(), material) {
			t.Errorf("the error shows a KEK: %v", err)
		}
	}

	// A lost KEK file is replaced by a new key, which does not open the keys either.
	if err := os.Remove(kekPath); err != nil {
		t.Fatal(err)
	}
	if err := start(); err == nil || !strings.Contains(err.Error(), "restore the KEK file") {
		t.Errorf("start without the KEK file: %v", err)
	}

	if err := os.WriteFile(kekPath, original, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := start(); err != nil {
		t.Errorf("start with the original KEK again: %v", err)
	}
}
