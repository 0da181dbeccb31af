package oauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/engine/keyseal"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
)

func newSealer(t *testing.T, fill byte) *keyseal.Sealer {
	t.Helper()
	s, err := keyseal.New(bytes.Repeat([]byte{fill}, keyseal.KEKSize), "test KEK")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Nodes that start together on an empty store must end up with one signing key.
func TestConcurrentFirstStartsAgreeOnOneKey(t *testing.T) {
	st := openStore(t)
	sealer := newSealer(t, 1)
	sets := make([]*oauth.KeySet, 6)
	var wg sync.WaitGroup
	for i := range sets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ks, err := oauth.LoadKeySet(context.Background(), oauth.KeySetOptions{Store: st, Sealer: sealer})
			if err != nil {
				t.Error(err)
				return
			}
			sets[i] = ks
		}()
	}
	wg.Wait()
	keys, err := st.ListSigningKeys(context.Background())
	if err != nil || len(keys) != 1 {
		t.Fatalf("%d signing keys stored, want 1 (%v)", len(keys), err)
	}
	if !keyseal.IsSealed(keys[0].PrivateKey) {
		t.Errorf("the first key is stored in the clear")
	}
	for _, s := range sets {
		if s != nil && string(s.JWKS()) != string(sets[0].JWKS()) {
			t.Errorf("JWKS differ:\n%s\n%s", s.JWKS(), sets[0].JWKS())
		}
	}
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

func signingKID(t *testing.T, ks *oauth.KeySet) string {
	t.Helper()
	jws, err := ks.Signer().Sign([]byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jose.ParseSigned(compact, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return parsed.Signatures[0].Header.KeyID
}

func jwksKIDs(t *testing.T, ks *oauth.KeySet) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(ks.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	slices.Sort(kids)
	return kids
}

func states(t *testing.T, st store.KeyStore, now time.Time) map[string]string {
	t.Helper()
	keys, err := st.ListSigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range oauth.DescribeKeys(keys, now) {
		out[k.ID] = k.State
	}
	return out
}

func TestRotationPublishesFirstSignsLaterRetiresLast(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	sealer := newSealer(t, 2)
	c := &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	ks, err := oauth.LoadKeySet(ctx, oauth.KeySetOptions{Store: st, Sealer: sealer, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	old := signingKID(t, ks)

	const delay = 10 * time.Minute
	rotatedAt := c.Now()
	next, err := oauth.RotateKeys(ctx, st, sealer, rotatedAt, delay)
	if err != nil {
		t.Fatal(err)
	}
	if next.ID == old || !next.ActiveFrom.Equal(rotatedAt.Add(delay)) {
		t.Fatalf("rotate: %+v", next)
	}
	if got := states(t, st, c.Now()); got[old] != oauth.KeyActive || got[next.ID] != oauth.KeyNext {
		t.Errorf("states after rotate: %v", got)
	}
	if _, err := oauth.RotateKeys(ctx, st, sealer, c.Now(), delay); !errors.Is(err, oauth.ErrRotationPending) {
		t.Errorf("second rotate before the first key signs: %v, want ErrRotationPending", err)
	}

	// Within a reload interval the running set publishes the new key; the old one
	// still signs.
	c.Add(oauth.KeyReloadInterval)
	want := []string{old, next.ID}
	slices.Sort(want)
	if got := jwksKIDs(t, ks); !slices.Equal(got, want) {
		t.Errorf("JWKS after a reload interval: %v, want %v", got, want)
	}
	if got := signingKID(t, ks); got != old {
		t.Errorf("signing before the publication delay: %s, want the old key %s", got, old)
	}

	// After the delay the new key signs; the old one verifies until it retires.
	c.Set(rotatedAt.Add(delay))
	if got := signingKID(t, ks); got != next.ID {
		t.Errorf("signing after the publication delay: %s, want the new key %s", got, next.ID)
	}
	if got := states(t, st, c.Now()); got[old] != oauth.KeyRetiring || got[next.ID] != oauth.KeyActive {
		t.Errorf("states after the delay: %v", got)
	}
	retireAt := rotatedAt.Add(delay + oauth.MaxTokenLifetime)
	if _, ok := ks.PublicKey(ctx, old, retireAt.Add(-time.Second)); !ok {
		t.Errorf("the old key no longer verifies a second before it retires")
	}
	c.Set(retireAt)
	if _, ok := ks.PublicKey(ctx, old, c.Now()); ok {
		t.Errorf("the old key still verifies once retired")
	}
	if got := jwksKIDs(t, ks); !slices.Equal(got, []string{next.ID}) {
		t.Errorf("JWKS after the old key retired: %v", got)
	}
	if got := states(t, st, c.Now()); got[old] != oauth.KeyRetired {
		t.Errorf("states after retirement: %v", got)
	}
	res, err := st.GarbageCollect(ctx, c.Now().Add(time.Millisecond))
	if err != nil || res.SigningKeys != 1 {
		t.Errorf("GarbageCollect: %+v, %v; want one signing key deleted", res, err)
	}
	if got := states(t, st, c.Now()); len(got) != 1 || got[next.ID] != oauth.KeyActive {
		t.Errorf("keys after GC: %v", got)
	}
	// The election copy of the first key went with the first rotation.
	secrets, err := st.ListSecrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if s.Name == "first-signing-key" {
			t.Errorf("the first key's election secret outlived the rotation")
		}
	}
}

func TestWrongKEKFailsLoadWithoutKeyMaterial(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	if _, err := oauth.LoadKeySet(ctx, oauth.KeySetOptions{Store: st, Sealer: newSealer(t, 3)}); err != nil {
		t.Fatal(err)
	}
	_, err := oauth.LoadKeySet(ctx, oauth.KeySetOptions{Store: st, Sealer: newSealer(t, 4)})
	if err == nil || !strings.Contains(err.Error(), "key-encryption key") || !errors.Is(err, keyseal.ErrWrongKEK) {
		t.Fatalf("load with another KEK: %v", err)
	}
	keys, _ := st.ListSigningKeys(ctx)
	if strings.Contains(err.Error(), string(keys[0].PrivateKey[4:12])) {
		t.Errorf("the error quotes the sealed key")
	}
	if _, err := oauth.RotateKeys(ctx, st, newSealer(t, 4), time.Now(), 10*time.Minute); !errors.Is(err, keyseal.ErrWrongKEK) {
		t.Errorf("rotate with another KEK: %v", err)
	}
	if keys2, _ := st.ListSigningKeys(ctx); len(keys2) != 1 {
		t.Errorf("a rotate with the wrong KEK stored a key: %d keys", len(keys2))
	}
}

// A sealed key copied into another key's row does not open there.
func TestSwappedRowsDoNotOpen(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	sealer := newSealer(t, 5)
	if _, err := oauth.LoadKeySet(ctx, oauth.KeySetOptions{Store: st, Sealer: sealer}); err != nil {
		t.Fatal(err)
	}
	if _, err := oauth.RotateKeys(ctx, st, sealer, time.Now(), 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	keys, err := st.ListSigningKeys(ctx)
	if err != nil || len(keys) != 2 {
		t.Fatal(len(keys), err)
	}
	if _, err := st.UpdateSigningKey(ctx, keys[1].ID, func(k store.SigningKey) (store.SigningKey, error) {
		k.PrivateKey = keys[0].PrivateKey
		return k, nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err = oauth.LoadKeySet(ctx, oauth.KeySetOptions{Store: st, Sealer: sealer})
	if !errors.Is(err, keyseal.ErrWrongKEK) || !strings.Contains(err.Error(), keys[1].ID) {
		t.Fatalf("load with swapped rows: %v", err)
	}
}
