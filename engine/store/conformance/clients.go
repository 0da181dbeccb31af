package conformance

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

func newClient(id string) store.Client {
	return store.Client{
		ID:                      id,
		Name:                    "App " + id,
		SecretHash:              "sha256:hash-of-" + id,
		RedirectURIs:            []string{"https://app.example.com/cb/" + id, "http://127.0.0.1:3000/cb"},
		PostLogoutRedirectURIs:  []string{"https://app.example.com/"},
		Grants:                  []string{"authorization_code", "refresh_token"},
		Scopes:                  []string{"openid", "email", "offline_access"},
		AccessTokenTTL:          15 * time.Minute,
		IDTokenTTL:              5 * time.Minute,
		RefreshTokenTTL:         90 * 24 * time.Hour,
		TokenEndpointAuthMethod: "private_key_jwt",
		JWKSURI:                 "https://app.example.com/jwks.json",
		JWKS:                    `{"keys":[{"kty":"EC","crv":"P-256","x":"x-` + id + `","y":"y"}]}`,
		BackchannelLogoutURI:    "https://app.example.com/backchannel-logout",
		CreatedAt:               at(-48 * time.Hour),
		UpdatedAt:               at(-time.Hour),
	}
}

func testClientRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newClient("web")
	in := want
	in.CreatedAt = want.CreatedAt.In(time.FixedZone("UTC-7", -7*3600))
	mustOK(t, "CreateClient", s.CreateClient(ctx, in))
	got, err := s.GetClient(ctx, "web")
	mustOK(t, "GetClient", err)
	checkEqual(t, "GetClient", got, want)

	// A public client: every optional field empty or false comes back so.
	zero := store.Client{ID: "spa", Public: true}
	mustOK(t, "CreateClient with zero fields", s.CreateClient(ctx, zero))
	got, err = s.GetClient(ctx, "spa")
	mustOK(t, "GetClient", err)
	checkEqual(t, "client with zero fields", got, zero)

	_, err = s.GetClient(ctx, "missing")
	checkErrIs(t, "GetClient of a missing id", err, store.ErrNotFound)
	// Ids are matched exactly.
	_, err = s.GetClient(ctx, "WEB")
	checkErrIs(t, "GetClient with different case", err, store.ErrNotFound)

	err = s.CreateClient(ctx, newClient("web"))
	checkErrIs(t, "CreateClient with a taken id", err, store.ErrAlreadyExists)
	got, err = s.GetClient(ctx, "web")
	mustOK(t, "GetClient after the duplicate", err)
	checkEqual(t, "client after the duplicate", got, want)
}

func testListClients(t *testing.T, s store.Store) {
	ctx := t.Context()
	list, err := s.ListClients(ctx)
	mustOK(t, "ListClients on an empty store", err)
	if len(list) != 0 {
		t.Fatalf("ListClients on an empty store: %d clients", len(list))
	}
	// Byte order: '-' < '.' < '0' < 'A' < '_' < 'a'.
	ids := []string{"zeta", "a_b", "ab", "a.b", "a-b", "a0", "B", "aa"}
	for _, id := range ids {
		mustOK(t, "CreateClient", s.CreateClient(ctx, newClient(id)))
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	list, err = s.ListClients(ctx)
	mustOK(t, "ListClients", err)
	var got []string
	for _, c := range list {
		got = append(got, c.ID)
	}
	if !slices.Equal(got, sorted) {
		t.Fatalf("ListClients: got ids %q, want %q", got, sorted)
	}
	checkEqual(t, "listed client", list[slices.Index(sorted, "a0")], newClient("a0"))
}

func testUpdateClient(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := newClient("web")
	mustOK(t, "CreateClient", s.CreateClient(ctx, orig))

	want := orig
	want.Name = "Renamed"
	want.SecretHash = "sha256:rotated"
	want.Public = true
	want.RedirectURIs = []string{"https://other.example.com/cb"}
	want.PostLogoutRedirectURIs = nil
	want.Grants = []string{"interaction_code"}
	want.Scopes = []string{"openid"}
	want.AccessTokenTTL, want.IDTokenTTL, want.RefreshTokenTTL = time.Hour, 2*time.Hour, 24*time.Hour
	want.TokenEndpointAuthMethod = "none"
	want.JWKSURI, want.JWKS, want.BackchannelLogoutURI = "", "", ""
	want.UpdatedAt = at(time.Minute)
	got, err := s.UpdateClient(ctx, "web", func(c store.Client) (store.Client, error) {
		checkEqual(t, "client seen by the update function", c, orig)
		return want, nil
	})
	mustOK(t, "UpdateClient", err)
	checkEqual(t, "UpdateClient result", got, want)
	got, err = s.GetClient(ctx, "web")
	mustOK(t, "GetClient after update", err)
	checkEqual(t, "updated client", got, want)

	_, err = s.UpdateClient(ctx, "web", func(c store.Client) (store.Client, error) {
		c.Name = "not kept"
		return c, errFn
	})
	checkFnErr(t, "UpdateClient with a failing function", err)
	_, err = s.UpdateClient(ctx, "web", func(c store.Client) (store.Client, error) {
		c.ID, c.Name = "other", "not kept"
		return c, nil
	})
	checkRefused(t, "UpdateClient changing the ID", err)
	got, err = s.GetClient(ctx, "web")
	mustOK(t, "GetClient after refused updates", err)
	checkEqual(t, "client after refused updates", got, want)
	_, err = s.GetClient(ctx, "other")
	checkErrIs(t, "GetClient of the refused new id", err, store.ErrNotFound)

	_, err = s.UpdateClient(ctx, "missing", notCalled[store.Client](t))
	checkErrIs(t, "UpdateClient of a missing id", err, store.ErrNotFound)
}

func testDeleteClient(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range 3 {
		mustOK(t, "CreateClient", s.CreateClient(ctx, newClient(fmt.Sprintf("c%d", i))))
	}
	mustOK(t, "DeleteClient", s.DeleteClient(ctx, "c1"))
	_, err := s.GetClient(ctx, "c1")
	checkErrIs(t, "GetClient after delete", err, store.ErrNotFound)
	checkErrIs(t, "DeleteClient again", s.DeleteClient(ctx, "c1"), store.ErrNotFound)
	list, err := s.ListClients(ctx)
	mustOK(t, "ListClients", err)
	if len(list) != 2 || list[0].ID != "c0" || list[1].ID != "c2" {
		t.Errorf("ListClients after delete: %+v", list)
	}
	// The id is free again.
	mustOK(t, "CreateClient with a deleted id", s.CreateClient(ctx, newClient("c1")))
}
