package keyseal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gatehouse-id/gatehouse/engine/config"
)

// DefaultKEKPath is where a SQLite deployment without keys.encryption_key_file or
// keys.encryption_key_env keeps its KEK: next to the database file.
func DefaultKEKPath(sqlitePath string) string { return sqlitePath + ".kek" }

// FromConfig returns a Sealer for the KEK the configuration names: the file
// keys.encryption_key_file, the environment variable keys.encryption_key_env, or,
// with SQLite and neither set, <database file>.kek, created (mode 0600) when it does
// not exist. Errors name the file or variable, never its content.
func FromConfig(k config.Keys, database string) (*Sealer, error) {
	switch {
	case k.EncryptionKeyFile != "":
		return fromFile(k.EncryptionKeyFile, "keys.encryption_key_file "+k.EncryptionKeyFile)
	case k.EncryptionKeyEnv != "":
		source := "keys.encryption_key_env " + k.EncryptionKeyEnv
		v, ok := os.LookupEnv(k.EncryptionKeyEnv)
		if !ok || v == "" {
			return nil, fmt.Errorf("%s: the environment variable is not set", source)
		}
		kek, err := ParseKEK([]byte(v))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		return New(kek, source)
	}
	driver, target, err := config.ParseDatabase(database)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if driver != "sqlite" {
		return nil, errors.New("keys: set keys.encryption_key_file or keys.encryption_key_env (make a key with: gatehouse keys generate-kek)")
	}
	path := DefaultKEKPath(target)
	if err := createKEKFile(path); err != nil {
		return nil, fmt.Errorf("keys: creating the key-encryption key %s: %w", path, err)
	}
	return fromFile(path, "key-encryption key file "+path)
}

func fromFile(path, source string) (*Sealer, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	kek, err := ParseKEK(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return New(kek, source)
}

// createKEKFile writes a new KEK to path unless a file is there. The key is
// written to a temporary file first and linked into place, so a process starting
// at the same moment either sees no file or a complete one, and one of two
// processes creating it at once wins.
func createKEKFile(path string) error {
	if _, err := os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".kek-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(GenerateKEK()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}
