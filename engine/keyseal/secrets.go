package keyseal

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// OpenError explains why a stored value did not open, naming the row and where the
// KEK came from. It never holds key material.
func (s *Sealer) OpenError(what string, err error) error {
	if errors.Is(err, ErrWrongKEK) {
		return fmt.Errorf("%s cannot be decrypted: %w; the key-encryption key from %s is not the one it was sealed with — "+
			"start with the KEK this database was sealed with (restore the KEK file from the same backup as the database)",
			what, err, s.Source)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Secret returns the server secret name, creating it from candidate (a fresh random
// value) when the store has none. Every node gets the same value: the store keeps
// the first candidate, sealed.
func (s *Sealer) Secret(ctx context.Context, st store.KeyStore, name string, candidate []byte) ([]byte, error) {
	sealed, err := st.GetOrCreateSecret(ctx, name, s.Seal(candidate, SecretAD(name)))
	if err != nil {
		return nil, fmt.Errorf("loading the secret %s: %w", name, err)
	}
	value, err := s.Open(sealed, SecretAD(name))
	if err != nil {
		return nil, s.OpenError("the secret "+name, err)
	}
	return value, nil
}

// SealStoredSecrets seals the secrets a release from before sealing stored in the
// clear, and checks that every sealed one opens with this KEK, so that a wrong KEK
// stops the engine at start. It returns how many it sealed.
func (s *Sealer) SealStoredSecrets(ctx context.Context, st store.KeyStore) (int, error) {
	secrets, err := st.ListSecrets(ctx)
	if err != nil {
		return 0, fmt.Errorf("loading secrets: %w", err)
	}
	n := 0
	for _, sec := range secrets {
		if sec.Sealed {
			if _, err := s.Open(sec.Value, SecretAD(sec.Name)); err != nil {
				return n, s.OpenError("the secret "+sec.Name, err)
			}
			continue
		}
		if err := st.SealSecret(ctx, sec.Name, s.Seal(sec.Value, SecretAD(sec.Name))); err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, fmt.Errorf("sealing the secret %s: %w", sec.Name, err)
		}
		n++
	}
	return n, nil
}

// SealStoredSigningKeys seals the signing keys a release from before sealing
// stored in the clear and returns how many it sealed.
func (s *Sealer) SealStoredSigningKeys(ctx context.Context, st store.KeyStore) (int, error) {
	keys, err := st.ListSigningKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("loading signing keys: %w", err)
	}
	n := 0
	for _, k := range keys {
		if IsSealed(k.PrivateKey) {
			continue
		}
		_, err := st.UpdateSigningKey(ctx, k.ID, func(cur store.SigningKey) (store.SigningKey, error) {
			if !IsSealed(cur.PrivateKey) { // another node may have sealed it since
				cur.PrivateKey = s.Seal(cur.PrivateKey, SigningKeyAD(cur.ID))
			}
			return cur, nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, fmt.Errorf("sealing signing key %s: %w", k.ID, err)
		}
		n++
	}
	return n, nil
}
