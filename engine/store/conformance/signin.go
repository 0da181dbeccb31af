package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// accountByRoles reads an account through the role stores, one record at a time:
// what GetAccount must equal (enrollments without their secrets).
func accountByRoles(t *testing.T, s store.Store, userID string) store.Account {
	t.Helper()
	ctx := t.Context()
	u, err := s.GetUser(ctx, userID)
	mustOK(t, "GetUser", err)
	a := store.Account{User: u}
	if pw, err := s.GetPassword(ctx, userID); err == nil {
		a.PasswordHash = pw.Hash
	}
	a.Phones, err = s.ListPhoneEnrollments(ctx, userID)
	mustOK(t, "ListPhoneEnrollments", err)
	a.Enrollments, err = s.ListEnrollments(ctx, userID)
	mustOK(t, "ListEnrollments", err)
	for i := range a.Enrollments {
		a.Enrollments[i].Secret = nil
	}
	return a
}

// testGetAccount: one read brings what GetUser, GetPassword and the two List*
// bring, in their order; a user without a password or factors has none.
func testGetAccount(t *testing.T, s store.Store) {
	ctx := t.Context()
	full, bare := newUser("00u-acct", "acct"), newUser("00u-bare", "bare")
	mustOK(t, "CreateUser", s.CreateUser(ctx, full))
	mustOK(t, "CreateUser", s.CreateUser(ctx, bare))
	mustOK(t, "SetPassword", s.SetPassword(ctx, store.PasswordCredential{UserID: full.ID, Hash: "$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", UpdatedAt: at(0)}))
	// Out of order, with a tie on CreatedAt broken by id, and numbers that need
	// escaping in no JSON.
	for _, p := range []store.PhoneEnrollment{
		newPhone("sms-c", full.ID, "+14155550103", at(time.Minute)),
		newPhone("sms-b", full.ID, "+14155550102", at(0)),
		newPhone("sms-a", full.ID, "+14155550101", at(0)),
	} {
		mustOK(t, "CreatePhoneEnrollment", s.CreatePhoneEnrollment(ctx, p))
	}
	smsOnly := newPhone("sms-d", full.ID, "+14155550104", at(-time.Minute))
	smsOnly.Voice = false
	mustOK(t, "CreatePhoneEnrollment", s.CreatePhoneEnrollment(ctx, smsOnly))
	app := newEnrollment("uft-a", full.ID, "google_otp", at(2*time.Minute))
	app.LastUsed = 61234567
	mustOK(t, "CreateEnrollment", s.CreateEnrollment(ctx, app))

	for _, u := range []store.User{full, bare} {
		want := accountByRoles(t, s, u.ID)
		got, err := s.GetAccount(ctx, u.ID)
		mustOK(t, "GetAccount "+u.ID, err)
		checkEqual(t, "GetAccount "+u.ID, got, want)
		got, err = s.GetAccountByLogin(ctx, u.Login)
		mustOK(t, "GetAccountByLogin "+u.Login, err)
		checkEqual(t, "GetAccountByLogin "+u.Login, got, want)
	}
	if got, _ := s.GetAccount(ctx, full.ID); len(got.Phones) != 4 || len(got.Enrollments) != 1 || got.PasswordHash == "" {
		t.Errorf("GetAccount of a user with a password, four phones and an app: %+v", got)
	}
	checkErrIs(t, "GetAccount of nobody", errOf(s.GetAccount(ctx, "00u-nobody")), store.ErrNotFound)
	checkErrIs(t, "GetAccountByLogin of nobody", errOf(s.GetAccountByLogin(ctx, "nobody")), store.ErrNotFound)
}

// testGetSignIn: the transaction by its state handle with its user's account and
// the status of its code's newest message.
func testGetSignIn(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser("00u-signin", "signin")
	mustOK(t, "CreateUser", s.CreateUser(ctx, u))
	mustOK(t, "CreatePhoneEnrollment", s.CreatePhoneEnrollment(ctx, newPhone("sms-signin", u.ID, "+14155550199", at(0))))

	anon := newTransaction("tx-anon")
	anon.UserID, anon.ChallengeID = "", ""
	mustOK(t, "CreateTransaction", s.CreateTransaction(ctx, anon))
	in, err := s.GetSignIn(ctx, anon.StateHandleHash)
	mustOK(t, "GetSignIn without a user", err)
	checkEqual(t, "GetSignIn's transaction", in.Transaction, anon)
	if in.Account != nil || in.MessageStatus != "" {
		t.Errorf("GetSignIn of a transaction without a user or code: account %+v, message %q", in.Account, in.MessageStatus)
	}

	tx := newTransaction("tx-signin")
	tx.UserID, tx.ChallengeID = u.ID, "ch-signin"
	mustOK(t, "CreateTransaction", s.CreateTransaction(ctx, tx))
	in, err = s.GetSignIn(ctx, tx.StateHandleHash)
	mustOK(t, "GetSignIn", err)
	checkEqual(t, "GetSignIn's transaction", in.Transaction, tx)
	if in.Account == nil {
		t.Fatal("GetSignIn: no account for the transaction's user")
	}
	checkEqual(t, "GetSignIn's account", *in.Account, accountByRoles(t, s, u.ID))
	if in.MessageStatus != "" {
		t.Errorf("GetSignIn before any message: status %q", in.MessageStatus)
	}

	// Two messages of the code: the newest one's status counts.
	older := newMessage("msg-older", tx.ChallengeID, "+14155550199")
	mustOK(t, "CreateChallenge", s.CreateChallenge(ctx, newChallenge(tx.ChallengeID, tx.ID), &older))
	newer := newMessage("msg-newer", tx.ChallengeID, "+14155550199")
	newer.CreatedAt = at(0)
	mustOK(t, "QueueMessage", s.QueueMessage(ctx, newer))
	_, err = s.UpdateMessage(ctx, newer.ID, func(m store.Message) (store.Message, error) {
		m.Status, m.LastError = store.MessageFailed, "carrier said no"
		return m, nil
	})
	mustOK(t, "UpdateMessage", err)
	in, err = s.GetSignIn(ctx, tx.StateHandleHash)
	mustOK(t, "GetSignIn", err)
	if in.MessageStatus != store.MessageFailed {
		t.Errorf("GetSignIn's message status: %q, want %q (the newest message's)", in.MessageStatus, store.MessageFailed)
	}

	// A user deleted mid-sign-in leaves the transaction without an account.
	mustOK(t, "DeleteUser", s.DeleteUser(ctx, u.ID))
	tx2 := newTransaction("tx-orphan")
	tx2.UserID = u.ID
	mustOK(t, "CreateTransaction", s.CreateTransaction(ctx, tx2))
	in, err = s.GetSignIn(ctx, tx2.StateHandleHash)
	mustOK(t, "GetSignIn of a deleted user's transaction", err)
	if in.Account != nil {
		t.Errorf("GetSignIn of a deleted user's transaction: account %+v", in.Account)
	}
	for _, h := range []string{"", "sh-nothing", fmt.Sprintf("%x", 1)} {
		checkErrIs(t, fmt.Sprintf("GetSignIn(%q)", h), errOf(s.GetSignIn(ctx, h)), store.ErrNotFound)
	}
}
