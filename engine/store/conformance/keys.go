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
		return store.SigningKey{ID: id, Algorithm: "RS256", PrivateKey: []byte("GHS\x01\x00" + id), CreatedAt: created}
	}
	newest := key("kid-a", at(time.Hour))
	newest.ActiveFrom = at(time.Hour + 10*time.Minute)
	oldest := key("kid-z", at(-time.Hour))
	oldest.RetireAt = at(25 * time.Hour)
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

	// UpdateSigningKey: the fn sees the stored key, its result is stored.
	updated := tieB
	updated.PrivateKey, updated.RetireAt, updated.ActiveFrom = []byte("resealed"), at(48*time.Hour), at(time.Minute)
	got, err := s.UpdateSigningKey(ctx, "kid-b", func(k store.SigningKey) (store.SigningKey, error) {
		checkEqual(t, "key seen by UpdateSigningKey", k, tieB)
		return updated, nil
	})
	mustOK(t, "UpdateSigningKey", err)
	checkEqual(t, "UpdateSigningKey result", got, updated)
	_, err = s.UpdateSigningKey(ctx, "kid-b", func(k store.SigningKey) (store.SigningKey, error) {
		k.RetireAt = at(time.Hour)
		return k, errFn
	})
	checkFnErr(t, "UpdateSigningKey with failing fn", err)
	_, err = s.UpdateSigningKey(ctx, "kid-b", func(k store.SigningKey) (store.SigningKey, error) {
		k.ID = "kid-renamed"
		return k, nil
	})
	checkRefused(t, "UpdateSigningKey changing ID", err)
	_, err = s.UpdateSigningKey(ctx, "kid-missing", notCalled[store.SigningKey](t))
	checkErrIs(t, "UpdateSigningKey of a missing key", err, store.ErrNotFound)

	mustOK(t, "DeleteSigningKey", s.DeleteSigningKey(ctx, "kid-z"))
	checkErrIs(t, "DeleteSigningKey of a missing key", s.DeleteSigningKey(ctx, "kid-z"), store.ErrNotFound)
	keys, err = s.ListSigningKeys(ctx)
	mustOK(t, "ListSigningKeys", err)
	checkEqual(t, "signing keys after update and delete", keys, []store.SigningKey{updated, tieC, newest})
}

func testSecrets(t *testing.T, s store.Store) {
	ctx := t.Context()
	list, err := s.ListSecrets(ctx)
	mustOK(t, "ListSecrets of none", err)
	if len(list) != 0 {
		t.Fatalf("ListSecrets of a fresh store: %d secrets", len(list))
	}
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

	// Values stored by GetOrCreateSecret count as sealed: SealSecret leaves them be.
	list, err = s.ListSecrets(ctx)
	mustOK(t, "ListSecrets", err)
	checkEqual(t, "ListSecrets", list, []store.Secret{
		{Name: "csrf", Value: first, Sealed: true}, {Name: "otp-mac", Value: []byte("second"), Sealed: true},
	})
	mustOK(t, "SealSecret of a sealed secret", s.SealSecret(ctx, "csrf", []byte("not stored")))
	got, err = s.GetOrCreateSecret(ctx, "csrf", []byte("x"))
	mustOK(t, "GetOrCreateSecret", err)
	if !bytes.Equal(got, first) {
		t.Errorf("after SealSecret of a sealed secret: got %x, want it unchanged %x", got, first)
	}
	checkErrIs(t, "SealSecret of a missing secret", s.SealSecret(ctx, "missing", []byte("x")), store.ErrNotFound)

	mustOK(t, "DeleteSecret", s.DeleteSecret(ctx, "csrf"))
	mustOK(t, "DeleteSecret of a missing secret", s.DeleteSecret(ctx, "csrf"))
	list, err = s.ListSecrets(ctx)
	mustOK(t, "ListSecrets", err)
	checkEqual(t, "ListSecrets after DeleteSecret", list, []store.Secret{{Name: "otp-mac", Value: []byte("second"), Sealed: true}})
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
