package keyseal_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/keyseal"
)

func sealer(t *testing.T, fill byte) *keyseal.Sealer {
	t.Helper()
	s, err := keyseal.New(bytes.Repeat([]byte{fill}, keyseal.KEKSize), "test")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealOpen(t *testing.T) {
	s := sealer(t, 1)
	plain := []byte("a private key")
	sealed := s.Seal(plain, keyseal.SigningKeyAD("kid-1"))
	if !keyseal.IsSealed(sealed) || bytes.Contains(sealed, plain) {
		t.Fatalf("sealed value %x", sealed)
	}
	if again := s.Seal(plain, keyseal.SigningKeyAD("kid-1")); bytes.Equal(again, sealed) {
		t.Errorf("two seals of one value are equal: the nonce is not fresh")
	}
	got, err := s.Open(sealed, keyseal.SigningKeyAD("kid-1"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open: %q, %v", got, err)
	}
	for name, tc := range map[string]struct {
		s      *keyseal.Sealer
		value  []byte
		ad     string
		wrong  bool
		substr string
	}{
		"another row":     {s, sealed, keyseal.SigningKeyAD("kid-2"), true, ""},
		"a secret's row":  {s, sealed, keyseal.SecretAD("kid-1"), true, ""},
		"another KEK":     {sealer(t, 2), sealed, keyseal.SigningKeyAD("kid-1"), true, ""},
		"flipped bit":     {s, flip(sealed, len(sealed)-1), keyseal.SigningKeyAD("kid-1"), true, ""},
		"unknown version": {s, flip(sealed, 3), keyseal.SigningKeyAD("kid-1"), false, "format version"},
		"truncated":       {s, sealed[:10], keyseal.SigningKeyAD("kid-1"), false, "truncated"},
		"plaintext":       {s, []byte{0x30, 0x82, 0x01}, keyseal.SigningKeyAD("kid-1"), false, "not sealed"},
	} {
		_, err := tc.s.Open(tc.value, tc.ad)
		if err == nil || errors.Is(err, keyseal.ErrWrongKEK) != tc.wrong || !strings.Contains(err.Error(), tc.substr) {
			t.Errorf("%s: Open error %v", name, err)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func TestParseKEK(t *testing.T) {
	kek, err := keyseal.ParseKEK([]byte(keyseal.GenerateKEK()))
	if err != nil || len(kek) != keyseal.KEKSize {
		t.Fatalf("ParseKEK(GenerateKEK()): %d bytes, %v", len(kek), err)
	}
	for _, bad := range []string{"", "not base64!", "c2hvcnQ=", strings.Repeat("A", 60)} {
		if _, err := keyseal.ParseKEK([]byte(bad)); err == nil || (bad != "" && strings.Contains(err.Error(), bad)) {
			t.Errorf("ParseKEK(%q): %v", bad, err)
		}
	}
}

func TestDefaultKEKFileIsCreatedOnceWithMode0600(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	db := filepath.Join(dir, "gatehouse.db")
	sealers := make([]*keyseal.Sealer, 8)
	var wg sync.WaitGroup
	for i := range sealers {
		wg.Go(func() {
			s, err := keyseal.FromConfig(config.Keys{}, "sqlite:"+db)
			if err != nil {
				t.Error(err)
			}
			sealers[i] = s
		})
	}
	wg.Wait()
	info, err := os.Stat(db + ".kek")
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("KEK file mode %v, want 0600", info.Mode().Perm())
	}
	if d, err := os.Stat(dir); err != nil || d.Mode().Perm() != 0o700 {
		t.Errorf("KEK folder mode %v (%v), want 0700", d.Mode().Perm(), err)
	}
	sealed := sealers[0].Seal([]byte("x"), "row")
	for i, s := range sealers {
		if s == nil {
			continue
		}
		if _, err := s.Open(sealed, "row"); err != nil {
			t.Errorf("sealer %d uses another KEK: %v", i, err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".kek-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestKEKFromFileAndEnv(t *testing.T) {
	dir := t.TempDir()
	text := keyseal.GenerateKEK()
	file := filepath.Join(dir, "kek")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_GATEHOUSE_KEK", strings.TrimSpace(text))
	fromFile, err := keyseal.FromConfig(config.Keys{EncryptionKeyFile: file}, "postgres://db")
	if err != nil {
		t.Fatal(err)
	}
	fromEnv, err := keyseal.FromConfig(config.Keys{EncryptionKeyEnv: "TEST_GATEHOUSE_KEK"}, "postgres://db")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fromEnv.Open(fromFile.Seal([]byte("x"), "r"), "r"); err != nil {
		t.Errorf("the same KEK from a file and from the environment differ: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kek.kek")); err == nil {
		t.Errorf("a default KEK file was created although one is configured")
	}

	if err := os.WriteFile(file, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = keyseal.FromConfig(config.Keys{EncryptionKeyFile: file}, "sqlite:x.db")
	if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "generate-kek") {
		t.Errorf("a bad KEK file: %v", err)
	}
	_, err = keyseal.FromConfig(config.Keys{EncryptionKeyFile: filepath.Join(dir, "missing")}, "sqlite:x.db")
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing KEK file: %v", err)
	}
}
