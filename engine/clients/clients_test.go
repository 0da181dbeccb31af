package clients_test

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestRegistryConfigThenDatabase(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	clk := &clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	reg, err := clients.NewRegistry([]config.Client{
		config.ClientDefaults(config.Client{ID: "both", Name: "From config", Secret: "config-secret-123456", RedirectURIs: []string{"https://a.example/cb"}}),
		config.ClientDefaults(config.Client{ID: "spa", RedirectURIs: []string{"https://a.example/cb"}}),
	}, st, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	secret := clients.NewSecret()
	rec := store.Client{ID: "db", Name: "From the database", SecretHash: clients.HashSecret(secret),
		RedirectURIs: []string{"https://b.example/cb"}, Grants: []string{"authorization_code"}, Scopes: []string{"openid"},
		AccessTokenTTL: time.Hour, IDTokenTTL: time.Hour, RefreshTokenTTL: time.Hour}
	// Unknown first: nothing negative is cached, so a client added next is found at once.
	if _, err := reg.Lookup(ctx, "db"); !errors.Is(err, clients.ErrUnknownClient) {
		t.Fatalf("Lookup before adding: %v", err)
	}
	if err := st.CreateClient(ctx, rec); err != nil {
		t.Fatal(err)
	}
	both := rec
	both.ID, both.Name = "both", "Shadowed"
	if err := st.CreateClient(ctx, both); err != nil {
		t.Fatal(err)
	}

	c, err := reg.Lookup(ctx, "db")
	if err != nil || c.Name != "From the database" || c.FromConfig || !c.CheckSecret(secret) || c.CheckSecret(secret+"x") || c.CheckSecret("") || c.Public() {
		t.Fatalf("database client: %+v %v", c, err)
	}
	if !c.AllowsAuthMethod(config.AuthClientSecretBasic) || !c.AllowsAuthMethod(config.AuthClientSecretPost) || c.AllowsAuthMethod(config.AuthNone) {
		t.Errorf("a secret client without a registered method should allow both secret methods only")
	}
	if c, err := reg.Lookup(ctx, "both"); err != nil || c.Name != "From config" || !c.FromConfig || !c.CheckSecret("config-secret-123456") {
		t.Errorf("an id in both: %+v %v, want the configured client", c, err)
	}
	if c, err := reg.Lookup(ctx, "spa"); err != nil || !c.Public() || c.CheckSecret("") {
		t.Errorf("configured client without credentials: %+v %v, want public", c, err)
	}

	// Changes reach the registry within CacheTTL.
	rotated := clients.NewSecret()
	if _, err := st.UpdateClient(ctx, "db", func(c store.Client) (store.Client, error) {
		c.SecretHash = clients.HashSecret(rotated)
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteClient(ctx, "both"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(clients.CacheTTL)
	if c, err := reg.Lookup(ctx, "db"); err != nil || !c.CheckSecret(rotated) || c.CheckSecret(secret) {
		t.Errorf("after rotation and CacheTTL: %v; the new secret should work and the old not", err)
	}
	if err := st.DeleteClient(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Lookup(ctx, "db"); err != nil {
		t.Errorf("a removed client is still served from the cache within CacheTTL: %v", err)
	}
	clk.Advance(clients.CacheTTL)
	if _, err := reg.Lookup(ctx, "db"); !errors.Is(err, clients.ErrUnknownClient) {
		t.Errorf("after removal and CacheTTL: %v, want ErrUnknownClient", err)
	}
}

func TestFromStoreRefusesAnUnreadableHash(t *testing.T) {
	_, err := clients.FromStore(store.Client{ID: "x", SecretHash: "md5:abc"})
	if err == nil || !strings.Contains(err.Error(), "secret hash") {
		t.Errorf("FromStore with an unknown hash: %v", err)
	}
}

func TestCheckSuppliedSecret(t *testing.T) {
	for secret, ok := range map[string]bool{
		clients.NewSecret():                    true,
		"0123456789abcdef0123456789abcdef":     true,
		"short-secret":                         false,
		strings.Repeat("ab", 20):               false,
		"with space 0123456789abcdefghijklmno": false,
		"passwordpasswordpasswordpassword1":    false,
	} {
		if err := clients.CheckSuppliedSecret(secret); (err == nil) != ok {
			t.Errorf("CheckSuppliedSecret(%q) = %v, want ok=%v", secret, err, ok)
		}
	}
}
