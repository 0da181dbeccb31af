package conformance

import (
	"bytes"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	keys, err := s.ListSigningKeys(ctx)
	mustOK(t, "ListSigningKeys of none", err)
	if len(keys) != 0 {
		t.Fatalf("ListSigningKeys of a fresh store: %d keys", len(keys))
	}

	key := func(id string, created time.Time) store.SigningKey {
		return store.SigningKey{ID: id, Algorithm: "RS256", PrivateKey: []byte("\x30\x82\x04\xbe\x00" + id), CreatedAt: created}
	}
	newest := key("kid-a", at(time.Hour))
	oldest := key("kid-z", at(-time.Hour))
	tieB := key("kid-b", base)
	tieC := key("kid-c", base)
	for _, k := range []store.SigningKey{newest, tieC, oldest, tieB} {
		mustOK(t, "CreateSigningKey", s.CreateSigningKey(ctx, k))
	}
	dup := key("kid-a", at(2*time.Hour))
	checkErrIs(t, "CreateSigningKey with a taken id", s.CreateSigningKey(ctx, dup), store.ErrAlreadyExists)

	keys, err = s.ListSigningKeys(ctx)
	mustOK(t, "ListSigningKeys", err)
	checkEqual(t, "signing keys, oldest first", keys, []store.SigningKey{oldest, tieB, tieC, newest})
}

func testSecrets(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := []byte{0x01, 0x00, 0xfe, 0xff}
	got, err := s.GetOrCreateSecret(ctx, "csrf", first)
	mustOK(t, "GetOrCreateSecret", err)
	if !bytes.Equal(got, first) {
		t.Errorf("GetOrCreateSecret of a new name: got %x, want the candidate %x", got, first)
	}
	got, err = s.GetOrCreateSecret(ctx, "csrf", []byte("another candidate"))
	mustOK(t, "GetOrCreateSecret", err)
	if !bytes.Equal(got, first) {
		t.Errorf("GetOrCreateSecret of a stored name: got %x, want the stored %x", got, first)
	}
	other, err := s.GetOrCreateSecret(ctx, "otp-mac", []byte("second"))
	mustOK(t, "GetOrCreateSecret", err)
	if string(other) != "second" {
		t.Errorf("GetOrCreateSecret of another name: got %q, want %q", other, "second")
	}
}

func testThrottles(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetThrottle(ctx, "login:alice")
	checkErrIs(t, "GetThrottle of a missing key", err, store.ErrNotFound)

	// A failing fn on a missing key creates nothing.
	_, err = s.UpdateThrottle(ctx, "login:alice", func(th store.Throttle) (store.Throttle, error) {
		checkEqual(t, "throttle seen for a missing key", th, store.Throttle{Key: "login:alice"})
		th.Count = 1
		return th, errFn
	})
	checkFnErr(t, "UpdateThrottle with failing fn", err)
	_, err = s.GetThrottle(ctx, "login:alice")
	checkErrIs(t, "GetThrottle after a failed first update", err, store.ErrNotFound)

	first := store.Throttle{Key: "login:alice", Count: 1, WindowStart: base, LastAt: at(time.Second),
		BlockedUntil: at(time.Minute), ExpiresAt: at(time.Hour)}
	got, err := s.UpdateThrottle(ctx, "login:alice", func(th store.Throttle) (store.Throttle, error) {
		checkEqual(t, "throttle seen for a missing key", th, store.Throttle{Key: "login:alice"})
		return first, nil
	})
	mustOK(t, "UpdateThrottle", err)
	checkEqual(t, "UpdateThrottle result", got, first)
	got, err = s.GetThrottle(ctx, "login:alice")
	mustOK(t, "GetThrottle", err)
	checkEqual(t, "GetThrottle", got, first)

	second := first
	second.Count, second.LastAt, second.BlockedUntil = 2, at(2*time.Second), time.Time{}
	got, err = s.UpdateThrottle(ctx, "login:alice", func(th store.Throttle) (store.Throttle, error) {
		checkEqual(t, "throttle seen by the second update", th, first)
		return second, nil
	})
	mustOK(t, "UpdateThrottle", err)
	checkEqual(t, "second UpdateThrottle result", got, second)

	_, err = s.UpdateThrottle(ctx, "login:alice", func(th store.Throttle) (store.Throttle, error) {
		th.Count = 100
		return th, errFn
	})
	checkFnErr(t, "UpdateThrottle with failing fn", err)
	_, err = s.UpdateThrottle(ctx, "login:alice", func(th store.Throttle) (store.Throttle, error) {
		th.Key = "login:bob"
		return th, nil
	})
	checkRefused(t, "UpdateThrottle changing Key", err)
	_, err = s.GetThrottle(ctx, "login:bob")
	checkErrIs(t, "GetThrottle of the refused key", err, store.ErrNotFound)
	got, err = s.GetThrottle(ctx, "login:alice")
	mustOK(t, "GetThrottle", err)
	checkEqual(t, "throttle after refused updates", got, second)
}
