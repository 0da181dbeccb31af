package conformance

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

func newAPIToken(id string, created time.Time) store.APIToken {
	return store.APIToken{ID: id, Name: "script " + id, TokenHash: "hash-of-" + id, ReadOnly: true, CreatedAt: created}
}

func testAPITokenRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newAPIToken("00T1", at(-time.Hour))
	in := want
	in.CreatedAt = want.CreatedAt.In(time.FixedZone("UTC+5", 5*3600))
	mustOK(t, "CreateAPIToken", s.CreateAPIToken(ctx, in))
	got, err := s.GetAPIToken(ctx, "00T1")
	mustOK(t, "GetAPIToken", err)
	checkEqual(t, "GetAPIToken", got, want)
	got, err = s.GetAPITokenByHash(ctx, "hash-of-00T1")
	mustOK(t, "GetAPITokenByHash", err)
	checkEqual(t, "GetAPITokenByHash", got, want)

	// Every field set comes back as it was.
	full := store.APIToken{ID: "00T2", Name: "provisioning", TokenHash: "hash-2", CreatedAt: at(-2 * time.Hour),
		LastUsedAt: at(-time.Minute), RevokedAt: at(-time.Second)}
	mustOK(t, "CreateAPIToken", s.CreateAPIToken(ctx, full))
	got, err = s.GetAPIToken(ctx, "00T2")
	mustOK(t, "GetAPIToken", err)
	checkEqual(t, "token with every field set", got, full)

	_, err = s.GetAPIToken(ctx, "00T9")
	checkErrIs(t, "GetAPIToken of a missing id", err, store.ErrNotFound)
	_, err = s.GetAPITokenByHash(ctx, "HASH-OF-00T1")
	checkErrIs(t, "GetAPITokenByHash with different case", err, store.ErrNotFound)

	dupID := newAPIToken("00T1", at(0))
	dupID.TokenHash = "another-hash"
	checkErrIs(t, "CreateAPIToken with a taken id", s.CreateAPIToken(ctx, dupID), store.ErrAlreadyExists)
	dupHash := newAPIToken("00T3", at(0))
	dupHash.TokenHash = "hash-of-00T1"
	checkErrIs(t, "CreateAPIToken with a taken hash", s.CreateAPIToken(ctx, dupHash), store.ErrAlreadyExists)
	_, err = s.GetAPIToken(ctx, "00T3")
	checkErrIs(t, "GetAPIToken after the refused duplicate", err, store.ErrNotFound)
	got, err = s.GetAPIToken(ctx, "00T1")
	mustOK(t, "GetAPIToken after the duplicates", err)
	checkEqual(t, "token after the duplicates", got, want)
}

func testListAPITokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	list, err := s.ListAPITokens(ctx)
	mustOK(t, "ListAPITokens on an empty store", err)
	if len(list) != 0 {
		t.Fatalf("ListAPITokens on an empty store: %d tokens", len(list))
	}
	// Oldest first; "b" and "B" were made in the same millisecond, so byte order of
	// the id decides between them.
	for _, tok := range []store.APIToken{
		newAPIToken("c", at(-time.Minute)), newAPIToken("b", at(-time.Hour)),
		newAPIToken("B", at(-time.Hour)), newAPIToken("a", at(0)),
	} {
		mustOK(t, "CreateAPIToken", s.CreateAPIToken(ctx, tok))
	}
	_, err = s.RevokeAPIToken(ctx, "c", at(0))
	mustOK(t, "RevokeAPIToken", err)
	list, err = s.ListAPITokens(ctx)
	mustOK(t, "ListAPITokens", err)
	var ids []string
	for _, tok := range list {
		ids = append(ids, tok.ID)
	}
	if want := []string{"B", "b", "c", "a"}; !slices.Equal(ids, want) {
		t.Errorf("ListAPITokens: got %q, want %q (revoked ones included, oldest first)", ids, want)
	}
}

func testRevokeAPIToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok := newAPIToken("00T1", at(-time.Hour))
	mustOK(t, "CreateAPIToken", s.CreateAPIToken(ctx, tok))
	mustOK(t, "CreateAPIToken", s.CreateAPIToken(ctx, newAPIToken("00T2", at(-time.Hour))))

	got, err := s.RevokeAPIToken(ctx, "00T1", at(0))
	mustOK(t, "RevokeAPIToken", err)
	want := tok
	want.RevokedAt = at(0)
	checkEqual(t, "revoked token", got, want)
	// Revoking again keeps the first time.
	got, err = s.RevokeAPIToken(ctx, "00T1", at(time.Hour))
	mustOK(t, "RevokeAPIToken again", err)
	checkEqual(t, "token revoked twice", got, want)
	got, err = s.GetAPITokenByHash(ctx, tok.TokenHash)
	mustOK(t, "GetAPITokenByHash of a revoked token", err)
	checkEqual(t, "revoked token by hash", got, want)
	// The other token is untouched.
	other, err := s.GetAPIToken(ctx, "00T2")
	mustOK(t, "GetAPIToken", err)
	checkEqual(t, "the other token", other, newAPIToken("00T2", at(-time.Hour)))

	_, err = s.RevokeAPIToken(ctx, "00T9", at(0))
	checkErrIs(t, "RevokeAPIToken of a missing id", err, store.ErrNotFound)
	if _, err := s.RevokeAPIToken(ctx, "00T2", time.Time{}); err == nil {
		t.Error("RevokeAPIToken at the zero time: no error")
	}
	other, err = s.GetAPIToken(ctx, "00T2")
	mustOK(t, "GetAPIToken", err)
	checkEqual(t, "the token after a refused revocation", other, newAPIToken("00T2", at(-time.Hour)))
}

func testRecordAPITokenUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok := newAPIToken("00T1", at(-time.Hour))
	mustOK(t, "CreateAPIToken", s.CreateAPIToken(ctx, tok))
	lastUsed := func() time.Time {
		t.Helper()
		got, err := s.GetAPIToken(ctx, "00T1")
		mustOK(t, "GetAPIToken", err)
		return got.LastUsedAt
	}
	mustOK(t, "RecordAPITokenUse", s.RecordAPITokenUse(ctx, "00T1", at(0)))
	if got := lastUsed(); !got.Equal(at(0)) {
		t.Errorf("LastUsedAt after the first use: %v, want %v", got, at(0))
	}
	mustOK(t, "RecordAPITokenUse later", s.RecordAPITokenUse(ctx, "00T1", at(time.Minute)))
	if got := lastUsed(); !got.Equal(at(time.Minute)) {
		t.Errorf("LastUsedAt after a later use: %v, want %v", got, at(time.Minute))
	}
	// An earlier use (another node's, recorded late) does not move it back.
	mustOK(t, "RecordAPITokenUse earlier", s.RecordAPITokenUse(ctx, "00T1", at(time.Second)))
	mustOK(t, "RecordAPITokenUse at the same time", s.RecordAPITokenUse(ctx, "00T1", at(time.Minute)))
	if got := lastUsed(); !got.Equal(at(time.Minute)) {
		t.Errorf("LastUsedAt after an earlier use: %v, want %v", got, at(time.Minute))
	}
	checkErrIs(t, "RecordAPITokenUse of a missing id", s.RecordAPITokenUse(ctx, "00T9", at(0)), store.ErrNotFound)
	if err := s.RecordAPITokenUse(ctx, "00T1", time.Time{}); err == nil {
		t.Error("RecordAPITokenUse at the zero time: no error")
	}
	got, err := s.GetAPIToken(ctx, "00T1")
	mustOK(t, "GetAPIToken", err)
	want := tok
	want.LastUsedAt = at(time.Minute)
	checkEqual(t, "token after its uses", got, want)
}
