package postgres_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/keyseal"
)

// A schema from before migration 0005, with a signing key and a secret in the
// clear, migrates and is sealed in place.
func TestLegacyPlaintextKeysAreSealed(t *testing.T) {
	dsn := newSchema(t)
	db := connect(t, dsn)
	schema, err := os.ReadFile(filepath.Join("migrations", "0001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	der := []byte("\x30\x82\x01\x0a legacy key")
	otp := bytes.Repeat([]byte{7}, 32)
	for _, stmt := range []struct {
		q    string
		args []any
	}{
		{string(schema), nil},
		{`CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`, nil},
		{`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', $1)`, []any{time.Now().UnixMilli()}},
		{`INSERT INTO signing_keys (id, algorithm, private_key, created_at) VALUES ('kid-legacy', 'RS256', $1, $2)`, []any{der, time.Now().UnixMilli()}},
		{`INSERT INTO secrets (name, value) VALUES ('otp-hmac-key', $1)`, []any{otp}},
	} {
		if _, err := db.ExecContext(t.Context(), stmt.q, stmt.args...); err != nil {
			t.Fatalf("building the legacy schema: %v", err)
		}
	}

	s := open(t, dsn)
	secrets, err := s.ListSecrets(t.Context())
	mustOK(t, "ListSecrets", err)
	if len(secrets) != 1 || secrets[0].Sealed || !bytes.Equal(secrets[0].Value, otp) {
		t.Fatalf("legacy secrets after migrating: %+v", secrets)
	}
	sealer, err := keyseal.New(bytes.Repeat([]byte{9}, keyseal.KEKSize), "test")
	mustOK(t, "keyseal.New", err)
	n, err := sealer.SealStoredSecrets(t.Context(), s)
	mustOK(t, "SealStoredSecrets", err)
	if n != 1 {
		t.Errorf("sealed %d secrets, want 1", n)
	}
	if n, err := sealer.SealStoredSigningKeys(t.Context(), s); err != nil || n != 1 {
		t.Errorf("SealStoredSigningKeys: %d, %v", n, err)
	}
	// A second node sealing again changes nothing.
	if n, err := sealer.SealStoredSecrets(t.Context(), s); err != nil || n != 0 {
		t.Errorf("SealStoredSecrets again: %d, %v", n, err)
	}
	got, err := sealer.Secret(t.Context(), s, "otp-hmac-key", []byte("unused candidate"))
	if err != nil || !bytes.Equal(got, otp) {
		t.Errorf("the sealed legacy secret: %x, %v", got, err)
	}
	keys, err := s.ListSigningKeys(t.Context())
	mustOK(t, "ListSigningKeys", err)
	if len(keys) != 1 || !keyseal.IsSealed(keys[0].PrivateKey) {
		t.Fatalf("legacy key after sealing: %+v", keys)
	}
	if plain, err := sealer.Open(keys[0].PrivateKey, keyseal.SigningKeyAD("kid-legacy")); err != nil || !bytes.Equal(plain, der) {
		t.Errorf("the sealed legacy key: %v", err)
	}
}
