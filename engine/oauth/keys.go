package oauth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// KeySet holds the engine's token-signing keys. The oldest key in the store signs;
// every key is published in the JWKS, so a key added for rotation is known to
// clients before it signs anything.
type KeySet struct {
	store store.KeyStore

	mu       sync.RWMutex
	signer   jose.Signer
	signKID  string
	public   map[string]*rsa.PublicKey
	jwksJSON []byte
	// lastReload limits reloads triggered by unknown kids (another node may have
	// created a key after this one started).
	lastReload time.Time
}

// LoadKeySet reads the signing keys, creating an RSA-2048 key on first start.
func LoadKeySet(ctx context.Context, ks store.KeyStore, now time.Time) (*KeySet, error) {
	s := &KeySet{store: ks}
	keys, err := ks.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading signing keys: %w", err)
	}
	if len(keys) == 0 {
		if err := createFirstKey(ctx, ks, now); err != nil {
			return nil, err
		}
	}
	if err := s.reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// createFirstKey stores the deployment's first signing key. Nodes starting together
// on an empty store each propose a key; GetOrCreateSecret elects one of the
// proposals, and its id is derived from the key itself, so every node inserts the
// same key under the same id and the losers' inserts are no-ops.
func createFirstKey(ctx context.Context, ks store.KeyStore, now time.Time) error {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	proposal, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	der, err := ks.GetOrCreateSecret(ctx, "first-signing-key", proposal)
	if err != nil {
		return fmt.Errorf("electing the first signing key: %w", err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return fmt.Errorf("the stored first signing key: %w", err)
	}
	rsaKey, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return errors.New("the stored first signing key is not an RSA key")
	}
	k := store.SigningKey{ID: keyID(&rsaKey.PublicKey), Algorithm: "RS256", PrivateKey: der, CreatedAt: now.Truncate(time.Millisecond)}
	if err := ks.CreateSigningKey(ctx, k); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		return fmt.Errorf("storing the first signing key: %w", err)
	}
	return nil
}

// keyID names a key after its public part: the RFC 7638 JWK thumbprint, base64url.
func keyID(pub *rsa.PublicKey) string {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return opaque.New(16) // cannot happen for an RSA key
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

func (s *KeySet) reload(ctx context.Context) error {
	keys, err := s.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("loading signing keys: %w", err)
	}
	if len(keys) == 0 {
		return errors.New("no signing key in the store")
	}
	public := make(map[string]*rsa.PublicKey, len(keys))
	jwks := jose.JSONWebKeySet{}
	var signer jose.Signer
	for i, k := range keys {
		if k.Algorithm != "RS256" {
			return fmt.Errorf("signing key %s: unsupported algorithm %q", k.ID, k.Algorithm)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(k.PrivateKey)
		if err != nil {
			return fmt.Errorf("signing key %s: %w", k.ID, err)
		}
		priv, ok := parsed.(*rsa.PrivateKey)
		if !ok {
			return fmt.Errorf("signing key %s is not an RSA key", k.ID)
		}
		public[k.ID] = &priv.PublicKey
		jwks.Keys = append(jwks.Keys, jose.JSONWebKey{Key: &priv.PublicKey, KeyID: k.ID, Algorithm: "RS256", Use: "sig"})
		if i == 0 {
			// No "typ" header: okta-jwt-verifier-golang refuses a JOSE header with
			// anything but alg and kid (PROTOCOL.md 4.4).
			signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: k.ID}}, nil)
			if err != nil {
				return err
			}
		}
	}
	jwksJSON, err := json.Marshal(jwks)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.signer, s.signKID, s.public, s.jwksJSON = signer, keys[0].ID, public, jwksJSON
	s.mu.Unlock()
	return nil
}

// Signer returns the current signer.
func (s *KeySet) Signer() jose.Signer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.signer
}

// JWKS returns the public keys as a JSON Web Key Set document.
func (s *KeySet) JWKS() []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.jwksJSON
}

// PublicKey returns the key with kid, reloading from the store at most every ten
// seconds when kid is unknown.
func (s *KeySet) PublicKey(ctx context.Context, kid string, now time.Time) (*rsa.PublicKey, bool) {
	s.mu.RLock()
	k, ok := s.public[kid]
	last := s.lastReload
	s.mu.RUnlock()
	if ok || now.Sub(last) < 10*time.Second {
		return k, ok
	}
	s.mu.Lock()
	s.lastReload = now
	s.mu.Unlock()
	if err := s.reload(ctx); err != nil {
		return nil, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok = s.public[kid]
	return k, ok
}
