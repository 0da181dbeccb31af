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
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/engine/keyseal"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// MaxTokenLifetime is the longest an access or ID token lives (the configuration
// caps access_token_ttl and id_token_ttl at 24 h). A key that stopped signing keeps
// verifying, and stays in the JWKS, this long.
const MaxTokenLifetime = 24 * time.Hour

// KeyReloadInterval is how often a KeySet rereads the keys from the store, so that
// a key added by gatehouse keys rotate on any node reaches every node well before
// it signs.
const KeyReloadInterval = time.Minute

// firstKeySecret is the secret the first start elects the first signing key with.
const firstKeySecret = "first-signing-key"

// Key states, as gatehouse keys list shows them.
const (
	KeyNext     = "next"     // published, signs from ActiveFrom
	KeyActive   = "active"   // signs
	KeyRetiring = "retiring" // verifies tokens it signed until RetireAt
	KeyRetired  = "retired"  // past RetireAt; deleted by garbage collection
)

// KeySet holds the engine's token-signing keys. Every key that is not retired is
// published in the JWKS and verifies tokens; of those whose ActiveFrom has come, the
// most recent signs. A key added for rotation is thus known to clients before it
// signs anything, and the key it replaces keeps verifying until the last token it
// signed has expired.
type KeySet struct {
	store  store.KeyStore
	sealer *keyseal.Sealer
	now    func() time.Time
	log    *slog.Logger

	mu   sync.RWMutex
	keys []loadedKey // oldest first
	// lastReload is when the keys were last read; lastUnknown limits reloads
	// triggered by unknown kids (another node may have created a key).
	lastReload, lastUnknown time.Time
	jwksKIDs                string
	jwksJSON                []byte

	reloading sync.Mutex
}

type loadedKey struct {
	id         string
	sealed     []byte
	activeFrom time.Time // CreatedAt when the store has none
	retireAt   time.Time
	public     *rsa.PublicKey
	signer     jose.Signer
}

// KeySetOptions are what LoadKeySet needs.
type KeySetOptions struct {
	Store store.KeyStore
	// Sealer opens the sealed private keys; keys stored in the clear by an older
	// release are sealed with it on load.
	Sealer *keyseal.Sealer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// LoadKeySet seals keys stored in the clear, creates an RSA-2048 key on first
// start, and opens the keys. A KEK that does not open them is an error naming the
// problem.
func LoadKeySet(ctx context.Context, o KeySetOptions) (*KeySet, error) {
	if o.Sealer == nil {
		return nil, errors.New("signing keys: no key-encryption key")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &KeySet{store: o.Store, sealer: o.Sealer, now: o.Now, log: o.Log}
	n, err := o.Sealer.SealStoredSigningKeys(ctx, o.Store)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		o.Log.InfoContext(ctx, "sealed signing keys stored in the clear by an older release", "keys", n)
	}
	keys, err := o.Store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading signing keys: %w", err)
	}
	if len(keys) == 0 {
		if err := createFirstKey(ctx, o.Store, o.Sealer, o.Now()); err != nil {
			return nil, err
		}
	}
	if err := s.reload(ctx, o.Now()); err != nil {
		return nil, err
	}
	return s, nil
}

// createFirstKey stores the deployment's first signing key. Nodes starting together
// on an empty store each propose a key; GetOrCreateSecret elects one of the
// proposals, and its id is derived from the key itself, so every node inserts the
// same key under the same id and the losers' inserts are no-ops.
func createFirstKey(ctx context.Context, ks store.KeyStore, sealer *keyseal.Sealer, now time.Time) error {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	proposal, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	der, err := sealer.Secret(ctx, ks, firstKeySecret, proposal)
	if err != nil {
		return fmt.Errorf("electing the first signing key: %w", err)
	}
	rsaKey, err := parseRSA(der)
	if err != nil {
		return fmt.Errorf("the stored first signing key: %w", err)
	}
	id := keyID(&rsaKey.PublicKey)
	k := store.SigningKey{ID: id, Algorithm: "RS256", PrivateKey: sealer.Seal(der, keyseal.SigningKeyAD(id)), CreatedAt: now.Truncate(time.Millisecond)}
	if err := ks.CreateSigningKey(ctx, k); err != nil && !errors.Is(err, store.ErrAlreadyExists) {
		return fmt.Errorf("storing the first signing key: %w", err)
	}
	return nil
}

func parseRSA(der []byte) (*rsa.PrivateKey, error) {
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	// The CRT values (Dp, Dq, Qinv) make each signature several times cheaper (see
	// BenchmarkRSASign). x509 computes them when it parses a key; computing them
	// here says so, and costs nothing when they are there.
	priv.Precompute()
	return priv, nil
}

// keyID names a key after its public part: the RFC 7638 JWK thumbprint, base64url.
func keyID(pub *rsa.PublicKey) string {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return opaque.New(16) // cannot happen for an RSA key
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// effectiveActiveFrom is when k may sign: ActiveFrom, or CreatedAt without one.
func effectiveActiveFrom(k store.SigningKey) time.Time {
	if k.ActiveFrom.IsZero() {
		return k.CreatedAt
	}
	return k.ActiveFrom
}

func retired(retireAt, now time.Time) bool { return !retireAt.IsZero() && !now.Before(retireAt) }

// signingIndex picks the key that signs at now: of the keys not retired whose
// activation has come, the one activated last (the newest on a tie). Without one —
// a clock set back before every activation — the oldest key not retired signs.
// It returns -1 when every key is retired.
func signingIndex(n int, activeFrom, retireAt func(int) time.Time, now time.Time) int {
	best, fallback := -1, -1
	for i := range n {
		if retired(retireAt(i), now) {
			continue
		}
		if fallback < 0 {
			fallback = i
		}
		if !activeFrom(i).After(now) && (best < 0 || !activeFrom(i).Before(activeFrom(best))) {
			best = i
		}
	}
	if best < 0 {
		return fallback
	}
	return best
}

// reload rereads the keys, opening only those it has not opened before.
func (s *KeySet) reload(ctx context.Context, now time.Time) error {
	stored, err := s.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("loading signing keys: %w", err)
	}
	s.mu.RLock()
	known := make(map[string]loadedKey, len(s.keys))
	for _, k := range s.keys {
		known[k.id] = k
	}
	s.mu.RUnlock()
	keys := make([]loadedKey, 0, len(stored))
	for _, k := range stored {
		if retired(k.RetireAt, now) {
			continue // not published, not verifying; garbage collection deletes it
		}
		lk, ok := known[k.ID]
		if !ok || string(lk.sealed) != string(k.PrivateKey) {
			if lk, err = s.open(k); err != nil {
				return err
			}
		}
		lk.activeFrom, lk.retireAt = effectiveActiveFrom(k), k.RetireAt
		keys = append(keys, lk)
	}
	if len(keys) == 0 {
		return errors.New("no signing key in the store that is not retired")
	}
	s.mu.Lock()
	s.keys, s.lastReload = keys, now
	s.mu.Unlock()
	return nil
}

func (s *KeySet) open(k store.SigningKey) (loadedKey, error) {
	if k.Algorithm != "RS256" {
		return loadedKey{}, fmt.Errorf("signing key %s: unsupported algorithm %q", k.ID, k.Algorithm)
	}
	if !keyseal.IsSealed(k.PrivateKey) {
		// Keys are sealed at start; a key in the clear now was put there by
		// something else than this engine, and is not trusted.
		return loadedKey{}, fmt.Errorf("signing key %s is stored in the clear; restart the engine to seal it", k.ID)
	}
	der, err := s.sealer.Open(k.PrivateKey, keyseal.SigningKeyAD(k.ID))
	if err != nil {
		return loadedKey{}, s.sealer.OpenError("signing key "+k.ID, err)
	}
	priv, err := parseRSA(der)
	if err != nil {
		return loadedKey{}, fmt.Errorf("signing key %s: %w", k.ID, err)
	}
	// No "typ" header: okta-jwt-verifier-golang refuses a JOSE header with anything
	// but alg and kid (docs/protocol.md).
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: k.ID}}, nil)
	if err != nil {
		return loadedKey{}, err
	}
	return loadedKey{id: k.ID, sealed: k.PrivateKey, public: &priv.PublicKey, signer: signer}, nil
}

// refresh rereads the keys when KeyReloadInterval has passed since the last read.
// One caller rereads while the others go on with the keys they have.
func (s *KeySet) refresh(now time.Time) {
	s.mu.RLock()
	last := s.lastReload
	s.mu.RUnlock()
	if d := now.Sub(last); d < KeyReloadInterval && d > -KeyReloadInterval {
		return
	}
	if !s.reloading.TryLock() {
		return
	}
	defer s.reloading.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.reload(ctx, now); err != nil {
		s.log.ErrorContext(ctx, "reloading signing keys failed; keeping the loaded ones", "err", err)
		s.mu.Lock()
		s.lastReload = now // try again after another interval
		s.mu.Unlock()
	}
}

// Signer returns the signer of the key that signs now.
func (s *KeySet) Signer() jose.Signer {
	now := s.now()
	s.refresh(now)
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := signingIndex(len(s.keys), func(i int) time.Time { return s.keys[i].activeFrom },
		func(i int) time.Time { return s.keys[i].retireAt }, now)
	if i < 0 {
		i = len(s.keys) - 1 // every key retired by the clock: still sign, with the newest
	}
	return s.keys[i].signer
}

// JWKS returns the public keys that are not retired as a JSON Web Key Set.
func (s *KeySet) JWKS() []byte {
	now := s.now()
	s.refresh(now)
	s.mu.Lock()
	defer s.mu.Unlock()
	jwks := jose.JSONWebKeySet{}
	var kids []string
	for _, k := range s.keys {
		if retired(k.retireAt, now) {
			continue
		}
		kids = append(kids, k.id)
		jwks.Keys = append(jwks.Keys, jose.JSONWebKey{Key: k.public, KeyID: k.id, Algorithm: "RS256", Use: "sig"})
	}
	if joined := strings.Join(kids, " "); joined != s.jwksKIDs || s.jwksJSON == nil {
		b, err := json.Marshal(jwks)
		if err != nil {
			s.log.Error("encoding the JWKS", "err", err)
			return s.jwksJSON
		}
		s.jwksKIDs, s.jwksJSON = joined, b
	}
	return s.jwksJSON
}

// PublicKey returns the key with kid unless it is retired at now, rereading the
// store at most every ten seconds when kid is unknown.
func (s *KeySet) PublicKey(ctx context.Context, kid string, now time.Time) (*rsa.PublicKey, bool) {
	if k, ok := s.lookup(kid, now); ok {
		return k, true
	}
	s.mu.Lock()
	if d := now.Sub(s.lastUnknown); d < 10*time.Second && d > -10*time.Second {
		s.mu.Unlock()
		return nil, false
	}
	s.lastUnknown = now
	s.mu.Unlock()
	if err := s.reload(ctx, now); err != nil {
		s.log.ErrorContext(ctx, "reloading signing keys failed", "err", err)
		return nil, false
	}
	return s.lookup(kid, now)
}

func (s *KeySet) lookup(kid string, now time.Time) (*rsa.PublicKey, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range s.keys {
		if k.id == kid && !retired(k.retireAt, now) {
			return k.public, true
		}
	}
	return nil, false
}

// KeyInfo is a stored key as gatehouse keys list shows it.
type KeyInfo struct {
	ID         string
	CreatedAt  time.Time
	ActiveFrom time.Time
	RetireAt   time.Time // zero: not retiring
	State      string    // KeyNext, KeyActive, KeyRetiring or KeyRetired
}

// DescribeKeys says what each stored key does at now. It needs no KEK.
func DescribeKeys(keys []store.SigningKey, now time.Time) []KeyInfo {
	signing := signingIndex(len(keys), func(i int) time.Time { return effectiveActiveFrom(keys[i]) },
		func(i int) time.Time { return keys[i].RetireAt }, now)
	out := make([]KeyInfo, len(keys))
	for i, k := range keys {
		info := KeyInfo{ID: k.ID, CreatedAt: k.CreatedAt, ActiveFrom: effectiveActiveFrom(k), RetireAt: k.RetireAt}
		switch {
		case retired(k.RetireAt, now):
			info.State = KeyRetired
		case i == signing:
			info.State = KeyActive
		case info.ActiveFrom.After(now):
			info.State = KeyNext
		default:
			info.State = KeyRetiring
		}
		out[i] = info
	}
	return out
}

// ErrRotationPending refuses a rotation while the key of the previous one is not
// signing yet.
var ErrRotationPending = errors.New("a key added by the previous rotation does not sign yet")

// RotateKeys adds a new signing key, published at once and signing from
// now+publishBeforeUse, and schedules the retirement of the keys it replaces for
// MaxTokenLifetime after that, when the last token they signed has expired. It first
// deletes keys already retired, and checks that every other key opens with the
// sealer's KEK, so that a wrong KEK cannot add a key the engine would not open.
// Running engines pick the new key up within KeyReloadInterval.
func RotateKeys(ctx context.Context, ks store.KeyStore, sealer *keyseal.Sealer, now time.Time, publishBeforeUse time.Duration) (KeyInfo, error) {
	now = now.Truncate(time.Millisecond)
	keys, err := ks.ListSigningKeys(ctx)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("loading signing keys: %w", err)
	}
	if len(keys) == 0 {
		return KeyInfo{}, errors.New("there is no signing key yet: start the engine once, then rotate")
	}
	var current []store.SigningKey
	for _, k := range keys {
		if retired(k.RetireAt, now) {
			if err := ks.DeleteSigningKey(ctx, k.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return KeyInfo{}, fmt.Errorf("deleting retired key %s: %w", k.ID, err)
			}
			continue
		}
		if !keyseal.IsSealed(k.PrivateKey) {
			return KeyInfo{}, fmt.Errorf("signing key %s is stored in the clear: start the engine once to seal it, then rotate", k.ID)
		}
		if _, err := sealer.Open(k.PrivateKey, keyseal.SigningKeyAD(k.ID)); err != nil {
			return KeyInfo{}, sealer.OpenError("signing key "+k.ID, err)
		}
		if effectiveActiveFrom(k).After(now) {
			return KeyInfo{}, fmt.Errorf("%w: %s signs from %s; rotate again after that", ErrRotationPending, k.ID, effectiveActiveFrom(k).UTC().Format(time.RFC3339))
		}
		current = append(current, k)
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return KeyInfo{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return KeyInfo{}, err
	}
	id := keyID(&priv.PublicKey)
	next := store.SigningKey{ID: id, Algorithm: "RS256", PrivateKey: sealer.Seal(der, keyseal.SigningKeyAD(id)),
		CreatedAt: now, ActiveFrom: now.Add(publishBeforeUse)}
	if err := ks.CreateSigningKey(ctx, next); err != nil {
		return KeyInfo{}, fmt.Errorf("storing the new signing key: %w", err)
	}
	retireAt := next.ActiveFrom.Add(MaxTokenLifetime)
	for _, k := range current {
		if !k.RetireAt.IsZero() {
			continue // already retiring, earlier
		}
		_, err := ks.UpdateSigningKey(ctx, k.ID, func(cur store.SigningKey) (store.SigningKey, error) {
			if cur.RetireAt.IsZero() {
				cur.RetireAt = retireAt
			}
			return cur, nil
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return KeyInfo{}, fmt.Errorf("scheduling the retirement of key %s: %w", k.ID, err)
		}
	}
	// The copy of the first key its election left behind goes with the first
	// rotation; no node can still be electing a first key by now.
	if err := ks.DeleteSecret(ctx, firstKeySecret); err != nil {
		return KeyInfo{}, err
	}
	return KeyInfo{ID: id, CreatedAt: now, ActiveFrom: next.ActiveFrom, State: KeyNext}, nil
}
