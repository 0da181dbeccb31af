package oauth_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
)

// Nodes that start together on an empty store must end up with one signing key.
func TestConcurrentFirstStartsAgreeOnOneKey(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sets := make([]*oauth.KeySet, 6)
	var wg sync.WaitGroup
	for i := range sets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ks, err := oauth.LoadKeySet(context.Background(), st, time.Now())
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
	for _, s := range sets {
		if s != nil && string(s.JWKS()) != string(sets[0].JWKS()) {
			t.Errorf("JWKS differ:\n%s\n%s", s.JWKS(), sets[0].JWKS())
		}
	}
}
