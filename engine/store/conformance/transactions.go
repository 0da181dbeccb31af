package conformance

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

func testTransactionRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newTransaction("tx1")
	want.Revision = 7 // stored as given at creation
	mustOK(t, "CreateTransaction", s.CreateTransaction(ctx, want))

	got, err := s.GetTransaction(ctx, "tx1")
	mustOK(t, "GetTransaction", err)
	checkEqual(t, "GetTransaction", got, want)
	got, err = s.GetTransactionByStateHandle(ctx, "sh-tx1")
	mustOK(t, "GetTransactionByStateHandle", err)
	checkEqual(t, "GetTransactionByStateHandle", got, want)
	got, err = s.GetTransactionByInteractionHandle(ctx, "ih-tx1")
	mustOK(t, "GetTransactionByInteractionHandle", err)
	checkEqual(t, "GetTransactionByInteractionHandle", got, want)

	// A fresh transaction: only what interact knows.
	fresh := store.Transaction{ID: "tx2", InteractionHandleHash: "ih-tx2", StateHandleHash: "sh-tx2",
		ClientID: "c", Step: store.StepIdentify, CreatedAt: base, UpdatedAt: base, ExpiresAt: at(time.Hour)}
	mustOK(t, "CreateTransaction", s.CreateTransaction(ctx, fresh))
	got, err = s.GetTransaction(ctx, "tx2")
	mustOK(t, "GetTransaction", err)
	checkEqual(t, "transaction with zero fields", got, fresh)

	for _, dup := range []store.Transaction{
		{ID: "tx1", InteractionHandleHash: "ih-new", StateHandleHash: "sh-new"},
		{ID: "tx3", InteractionHandleHash: "ih-tx1", StateHandleHash: "sh-new"},
		{ID: "tx3", InteractionHandleHash: "ih-new", StateHandleHash: "sh-tx1"},
	} {
		checkErrIs(t, "CreateTransaction with a duplicate "+dup.ID+"/"+dup.InteractionHandleHash+"/"+dup.StateHandleHash,
			s.CreateTransaction(ctx, dup), store.ErrAlreadyExists)
	}
	_, err = s.GetTransaction(ctx, "tx3")
	checkErrIs(t, "GetTransaction of a refused duplicate", err, store.ErrNotFound)
	got, err = s.GetTransaction(ctx, "tx1")
	mustOK(t, "GetTransaction", err)
	checkEqual(t, "transaction after duplicates", got, want)

	_, err = s.GetTransaction(ctx, "tx-missing")
	checkErrIs(t, "GetTransaction of a missing id", err, store.ErrNotFound)
	_, err = s.GetTransactionByStateHandle(ctx, "sh-missing")
	checkErrIs(t, "GetTransactionByStateHandle of a missing hash", err, store.ErrNotFound)
	_, err = s.GetTransactionByInteractionHandle(ctx, "ih-missing")
	checkErrIs(t, "GetTransactionByInteractionHandle of a missing hash", err, store.ErrNotFound)
	// The handles are not interchangeable.
	_, err = s.GetTransactionByStateHandle(ctx, "ih-tx1")
	checkErrIs(t, "GetTransactionByStateHandle of an interaction handle", err, store.ErrNotFound)
}

func testUpdateTransaction(t *testing.T, s store.Store) {
	ctx := t.Context()
	created := store.Transaction{ID: "tx1", InteractionHandleHash: "ih-tx1", StateHandleHash: "sh-tx1",
		ClientID: "client", Scopes: []string{"openid"}, Step: store.StepIdentify,
		CreatedAt: at(-time.Minute), UpdatedAt: at(-time.Minute), ExpiresAt: at(time.Hour)}
	mustOK(t, "CreateTransaction", s.CreateTransaction(ctx, created))

	// Every field changes (but the keys); Revision is the store's.
	next := newTransaction("tx1")
	next.Revision = 42
	got, err := s.UpdateTransaction(ctx, "tx1", func(tx store.Transaction) (store.Transaction, error) {
		checkEqual(t, "transaction seen by UpdateTransaction", tx, created)
		return next, nil
	})
	mustOK(t, "UpdateTransaction", err)
	want := next
	want.Revision = 1
	checkEqual(t, "UpdateTransaction result", got, want)
	stored, err := s.GetTransactionByStateHandle(ctx, "sh-tx1")
	mustOK(t, "GetTransactionByStateHandle", err)
	checkEqual(t, "transaction after UpdateTransaction", stored, want)

	// The next update sees the previous one; lists and maps can shrink to empty.
	got, err = s.UpdateTransaction(ctx, "tx1", func(tx store.Transaction) (store.Transaction, error) {
		checkEqual(t, "transaction seen by the second UpdateTransaction", tx, want)
		tx.Scopes, tx.AMR = nil, []string{}
		tx.UserID, tx.AuthTime = "", time.Time{}
		tx.Flow, tx.Authenticator, tx.Pending = store.FlowRecovery, "", map[string]string{}
		return tx, nil
	})
	mustOK(t, "UpdateTransaction", err)
	want.Scopes, want.AMR, want.UserID, want.AuthTime, want.Revision = nil, nil, "", time.Time{}, 2
	want.Flow, want.Authenticator, want.Pending = store.FlowRecovery, "", nil
	checkEqual(t, "second UpdateTransaction result", got, want)
	stored, err = s.GetTransaction(ctx, "tx1")
	mustOK(t, "GetTransaction", err)
	checkEqual(t, "transaction after the second update", stored, want)

	_, err = s.UpdateTransaction(ctx, "tx1", func(tx store.Transaction) (store.Transaction, error) {
		tx.Step = store.StepSuccess
		return tx, errFn
	})
	checkFnErr(t, "UpdateTransaction with failing fn", err)

	for field, change := range map[string]func(*store.Transaction){
		"ID":                    func(tx *store.Transaction) { tx.ID = "tx9" },
		"InteractionHandleHash": func(tx *store.Transaction) { tx.InteractionHandleHash = "ih-other" },
		"StateHandleHash":       func(tx *store.Transaction) { tx.StateHandleHash = "sh-other" },
	} {
		_, err = s.UpdateTransaction(ctx, "tx1", func(tx store.Transaction) (store.Transaction, error) {
			change(&tx)
			tx.Step = store.StepSuccess
			return tx, nil
		})
		checkRefused(t, "UpdateTransaction changing "+field, err)
	}
	_, err = s.GetTransactionByStateHandle(ctx, "sh-other")
	checkErrIs(t, "lookup by a refused state handle", err, store.ErrNotFound)
	stored, err = s.GetTransaction(ctx, "tx1")
	mustOK(t, "GetTransaction", err)
	checkEqual(t, "transaction after refused updates", stored, want)

	_, err = s.UpdateTransaction(ctx, "tx-missing", notCalled[store.Transaction](t))
	checkErrIs(t, "UpdateTransaction of a missing transaction", err, store.ErrNotFound)
}

func testDeleteTransaction(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustOK(t, "CreateTransaction", s.CreateTransaction(ctx, newTransaction("tx1")))
	mustOK(t, "CreateTransaction", s.CreateTransaction(ctx, newTransaction("tx2")))
	mustOK(t, "DeleteTransaction", s.DeleteTransaction(ctx, "tx1"))
	_, err := s.GetTransaction(ctx, "tx1")
	checkErrIs(t, "GetTransaction after delete", err, store.ErrNotFound)
	_, err = s.GetTransactionByStateHandle(ctx, "sh-tx1")
	checkErrIs(t, "GetTransactionByStateHandle after delete", err, store.ErrNotFound)
	_, err = s.GetTransactionByInteractionHandle(ctx, "ih-tx1")
	checkErrIs(t, "GetTransactionByInteractionHandle after delete", err, store.ErrNotFound)
	checkErrIs(t, "DeleteTransaction again", s.DeleteTransaction(ctx, "tx1"), store.ErrNotFound)
	_, err = s.GetTransaction(ctx, "tx2")
	mustOK(t, "GetTransaction of the other transaction", err)
	// The handle hashes are free again.
	mustOK(t, "CreateTransaction reusing the deleted handles", s.CreateTransaction(ctx, newTransaction("tx1")))
}
