package conformance

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

func testUserRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := newUser("00u1", "alice")
	// Stored from another time zone, read back in UTC.
	in := want
	in.CreatedAt = want.CreatedAt.In(time.FixedZone("UTC+5:30", 5*3600+1800))
	mustOK(t, "CreateUser", s.CreateUser(ctx, in))

	got, err := s.GetUser(ctx, "00u1")
	mustOK(t, "GetUser", err)
	checkEqual(t, "GetUser", got, want)

	got, err = s.GetUserByLogin(ctx, "alice")
	mustOK(t, "GetUserByLogin", err)
	checkEqual(t, "GetUserByLogin", got, want)

	// The zero values of every field come back as zero values.
	zero := store.User{ID: "00u2", Login: "bob"}
	mustOK(t, "CreateUser with zero fields", s.CreateUser(ctx, zero))
	got, err = s.GetUser(ctx, "00u2")
	mustOK(t, "GetUser", err)
	checkEqual(t, "user with zero fields", got, zero)

	_, err = s.GetUser(ctx, "00u-missing")
	checkErrIs(t, "GetUser of a missing id", err, store.ErrNotFound)
	_, err = s.GetUserByLogin(ctx, "carol")
	checkErrIs(t, "GetUserByLogin of a missing login", err, store.ErrNotFound)
	// Exact match: callers lower-case logins, the store does not fold case.
	_, err = s.GetUserByLogin(ctx, "ALICE")
	checkErrIs(t, "GetUserByLogin with different case", err, store.ErrNotFound)
}

func testUserDuplicates(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newUser("00u1", "alice")
	mustOK(t, "CreateUser", s.CreateUser(ctx, alice))

	err := s.CreateUser(ctx, newUser("00u1", "alice2"))
	checkErrIs(t, "CreateUser with a taken id", err, store.ErrAlreadyExists)
	err = s.CreateUser(ctx, newUser("00u2", "alice"))
	checkErrIs(t, "CreateUser with a taken login", err, store.ErrAlreadyExists)

	// Neither attempt left anything behind.
	got, err := s.GetUser(ctx, "00u1")
	mustOK(t, "GetUser", err)
	checkEqual(t, "first user after duplicates", got, alice)
	_, err = s.GetUser(ctx, "00u2")
	checkErrIs(t, "GetUser of the refused user", err, store.ErrNotFound)
	_, err = s.GetUserByLogin(ctx, "alice2")
	checkErrIs(t, "GetUserByLogin of the refused login", err, store.ErrNotFound)
}

func testListUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Byte order differs from most locales' order here: '-' < '.' < '0' < '_' < 'a'.
	logins := []string{"zed", "a_b", "ab", "a.b", "a-b", "a0", "b", "aa", "á"}
	for i, login := range logins {
		mustOK(t, "CreateUser", s.CreateUser(ctx, newUser(fmt.Sprintf("00u%02d", i), login)))
	}
	sorted := slices.Clone(logins)
	slices.Sort(sorted)

	all, err := s.ListUsers(ctx, store.ListUsersOptions{})
	mustOK(t, "ListUsers", err)
	if got := userLogins(all); !slices.Equal(got, sorted) {
		t.Fatalf("ListUsers: got logins %q, want %q", got, sorted)
	}
	wantA0 := newUser("00u05", "a0")
	checkEqual(t, "listed user", all[slices.Index(sorted, "a0")], wantA0)

	// Pages of 2 give every user once, in order.
	var paged []string
	after := ""
	for range len(logins) {
		page, err := s.ListUsers(ctx, store.ListUsersOptions{AfterLogin: after, Limit: 2})
		mustOK(t, "ListUsers page", err)
		if len(page) > 2 {
			t.Fatalf("ListUsers with Limit 2 returned %d users", len(page))
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, userLogins(page)...)
		after = page[len(page)-1].Login
	}
	if !slices.Equal(paged, sorted) {
		t.Errorf("paging by 2: got %q, want %q", paged, sorted)
	}

	page, err := s.ListUsers(ctx, store.ListUsersOptions{AfterLogin: "a0", Limit: 3})
	mustOK(t, "ListUsers", err)
	if got, want := userLogins(page), []string{"a_b", "aa", "ab"}; !slices.Equal(got, want) {
		t.Errorf("ListUsers after a0, 3: got %q, want %q", got, want)
	}
	page, err = s.ListUsers(ctx, store.ListUsersOptions{AfterLogin: sorted[len(sorted)-1]})
	mustOK(t, "ListUsers", err)
	if len(page) != 0 {
		t.Errorf("ListUsers after the last login: got %q, want none", userLogins(page))
	}
}

func testListUsersFiltered(t *testing.T, s store.Store) {
	ctx := t.Context()
	type person struct{ login, email, given, family string }
	people := []person{
		{"alice", "alice@example.com", "Alice", "Smith"},
		{"bob", "robert@example.org", "Bob", "Alison"},
		{"carol", "carol@EXAMPLE.com", "Carol", "Ali_ce"},
		{"dave", "d%x@example.com", "Dave", "Ålund"},
		{"erin", "erin@example.com", "Érin", "Back\\slash"},
		{"zoe", "zoe@example.com", "Zoë", "ALIAS"},
	}
	for i, p := range people {
		u := newUser(fmt.Sprintf("00u%d", i), p.login)
		u.Email, u.GivenName, u.FamilyName = p.email, p.given, p.family
		u.Disabled = p.login == "bob" || p.login == "zoe"
		mustOK(t, "CreateUser", s.CreateUser(ctx, u))
	}
	list := func(opts store.ListUsersOptions) []string {
		t.Helper()
		users, err := s.ListUsers(ctx, opts)
		mustOK(t, fmt.Sprintf("ListUsers %+v", opts), err)
		return userLogins(users)
	}
	enabled, disabled := false, true
	for _, tc := range []struct {
		opts store.ListUsersOptions
		want []string
	}{
		// Login, email, given or family name; ASCII letters in any case.
		{store.ListUsersOptions{Prefix: "ali"}, []string{"alice", "bob", "carol", "zoe"}},
		{store.ListUsersOptions{Prefix: "ALI"}, []string{"alice", "bob", "carol", "zoe"}},
		{store.ListUsersOptions{Prefix: "robert@"}, []string{"bob"}},
		{store.ListUsersOptions{Prefix: "Carol@example.COM"}, []string{"carol"}},
		// Wildcards are literal.
		{store.ListUsersOptions{Prefix: "ali_"}, []string{"carol"}},
		{store.ListUsersOptions{Prefix: "d%"}, []string{"dave"}},
		{store.ListUsersOptions{Prefix: "%"}, nil},
		{store.ListUsersOptions{Prefix: "_"}, nil},
		{store.ListUsersOptions{Prefix: "back\\"}, []string{"erin"}},
		{store.ListUsersOptions{Prefix: "back\\s"}, []string{"erin"}},
		{store.ListUsersOptions{Prefix: "back\\x"}, nil},
		// Other letters match only themselves.
		{store.ListUsersOptions{Prefix: "Érin"}, []string{"erin"}},
		{store.ListUsersOptions{Prefix: "érin"}, nil},
		{store.ListUsersOptions{Prefix: "Å"}, []string{"dave"}},
		{store.ListUsersOptions{Prefix: "å"}, nil},
		{store.ListUsersOptions{Prefix: "zoë"}, []string{"zoe"}},
		{store.ListUsersOptions{Prefix: "nobody"}, nil},
		// Status, and both, with paging.
		{store.ListUsersOptions{Disabled: &disabled}, []string{"bob", "zoe"}},
		{store.ListUsersOptions{Disabled: &enabled}, []string{"alice", "carol", "dave", "erin"}},
		{store.ListUsersOptions{Disabled: &enabled, Prefix: "ali"}, []string{"alice", "carol"}},
		{store.ListUsersOptions{Disabled: &enabled, Prefix: "ali", AfterLogin: "alice"}, []string{"carol"}},
		{store.ListUsersOptions{Prefix: "ali", AfterLogin: "alice", Limit: 2}, []string{"bob", "carol"}},
		{store.ListUsersOptions{Disabled: &enabled, Limit: 1, AfterLogin: "carol"}, []string{"dave"}},
	} {
		if got := list(tc.opts); !slices.Equal(got, tc.want) {
			t.Errorf("ListUsers(prefix %q, disabled %v, after %q, limit %d): got %q, want %q",
				tc.opts.Prefix, ptrString(tc.opts.Disabled), tc.opts.AfterLogin, tc.opts.Limit, got, tc.want)
		}
	}
}

func ptrString(b *bool) string {
	if b == nil {
		return "any"
	}
	return fmt.Sprint(*b)
}

func userLogins(users []store.User) []string {
	var logins []string
	for _, u := range users {
		logins = append(logins, u.Login)
	}
	return logins
}

func testListUsersDefaultLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	var records []store.UserRecord
	for i := range 105 {
		records = append(records, store.UserRecord{User: newUser(fmt.Sprintf("00u%03d", i), fmt.Sprintf("user%03d", i))})
	}
	mustOK(t, "ImportUsers", s.ImportUsers(ctx, records))
	for _, limit := range []int{0, -1} {
		page, err := s.ListUsers(ctx, store.ListUsersOptions{Limit: limit})
		mustOK(t, "ListUsers", err)
		if len(page) != 100 || page[0].Login != "user000" || page[99].Login != "user099" {
			t.Errorf("ListUsers with Limit %d: got %d users %q…, want user000…user099", limit, len(page), userLogins(page[:min(3, len(page))]))
		}
	}
}

func testUpdateUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	alice := newUser("00u1", "alice")
	mustOK(t, "CreateUser", s.CreateUser(ctx, alice))
	mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("00u2", "bob")))

	// fn sees the stored record; what it returns is stored and returned.
	changed := alice
	changed.Login = "alice.new"
	changed.Email = "new@example.com"
	changed.GivenName, changed.FamilyName, changed.Locale = "Alicia", "Newname", "fr-CA"
	changed.Disabled = false
	changed.UpdatedAt = at(time.Second)
	got, err := s.UpdateUser(ctx, "00u1", func(u store.User) (store.User, error) {
		checkEqual(t, "user seen by UpdateUser", u, alice)
		return changed, nil
	})
	mustOK(t, "UpdateUser", err)
	checkEqual(t, "UpdateUser result", got, changed)
	stored, err := s.GetUser(ctx, "00u1")
	mustOK(t, "GetUser", err)
	checkEqual(t, "user after UpdateUser", stored, changed)
	_, err = s.GetUserByLogin(ctx, "alice")
	checkErrIs(t, "GetUserByLogin of the old login", err, store.ErrNotFound)
	byLogin, err := s.GetUserByLogin(ctx, "alice.new")
	mustOK(t, "GetUserByLogin of the new login", err)
	checkEqual(t, "user by new login", byLogin, changed)

	// A second update sees the first.
	_, err = s.UpdateUser(ctx, "00u1", func(u store.User) (store.User, error) {
		checkEqual(t, "user seen by the second UpdateUser", u, changed)
		return u, nil
	})
	mustOK(t, "UpdateUser", err)

	// fn's error comes back unchanged and nothing is written.
	_, err = s.UpdateUser(ctx, "00u1", func(u store.User) (store.User, error) {
		u.Email = "should-not-stick@example.com"
		return u, errFn
	})
	checkFnErr(t, "UpdateUser with failing fn", err)

	// A login that is taken is refused.
	_, err = s.UpdateUser(ctx, "00u1", func(u store.User) (store.User, error) {
		u.Login = "bob"
		u.Email = "should-not-stick@example.com"
		return u, nil
	})
	checkErrIs(t, "UpdateUser to a taken login", err, store.ErrAlreadyExists)

	// The ID may not change.
	_, err = s.UpdateUser(ctx, "00u1", func(u store.User) (store.User, error) {
		u.ID = "00u9"
		return u, nil
	})
	checkRefused(t, "UpdateUser changing ID", err)
	_, err = s.GetUser(ctx, "00u9")
	checkErrIs(t, "GetUser of the new ID", err, store.ErrNotFound)

	stored, err = s.GetUser(ctx, "00u1")
	mustOK(t, "GetUser", err)
	checkEqual(t, "user after refused updates", stored, changed)

	_, err = s.UpdateUser(ctx, "00u-missing", notCalled[store.User](t))
	checkErrIs(t, "UpdateUser of a missing user", err, store.ErrNotFound)
}

func testDeleteUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Two users with the same kinds of records; deleting one must leave the other's.
	for _, id := range []string{"00u1", "00u2"} {
		mustOK(t, "CreateUser", s.CreateUser(ctx, newUser(id, "login-"+id)))
		mustOK(t, "SetPassword", s.SetPassword(ctx, store.PasswordCredential{UserID: id, Hash: "hash-" + id, UpdatedAt: base}))
		mustOK(t, "CreatePhoneEnrollment", s.CreatePhoneEnrollment(ctx, newPhone("sms1-"+id, id, "+15555550101", base)))
		mustOK(t, "CreatePhoneEnrollment", s.CreatePhoneEnrollment(ctx, newPhone("sms2-"+id, id, "+15555550102", base)))
		mustOK(t, "CreateEnrollment", s.CreateEnrollment(ctx, newEnrollment("enr1-"+id, id, "google_otp", base)))
		mustOK(t, "CreateEnrollment", s.CreateEnrollment(ctx, newEnrollment("enr2-"+id, id, "custom_otp", base)))
		for _, n := range []string{"a", "b"} {
			rt := newRefreshToken("rt-"+n+"-"+id, "fam-"+id)
			rt.UserID = id
			mustOK(t, "CreateRefreshToken", s.CreateRefreshToken(ctx, rt))
		}
		tx := newTransaction("tx-" + id)
		tx.UserID = id
		mustOK(t, "CreateTransaction", s.CreateTransaction(ctx, tx))
	}

	mustOK(t, "DeleteUser", s.DeleteUser(ctx, "00u1"))

	_, err := s.GetUser(ctx, "00u1")
	checkErrIs(t, "GetUser after delete", err, store.ErrNotFound)
	_, err = s.GetUserByLogin(ctx, "login-00u1")
	checkErrIs(t, "GetUserByLogin after delete", err, store.ErrNotFound)
	_, err = s.GetPassword(ctx, "00u1")
	checkErrIs(t, "GetPassword after delete", err, store.ErrNotFound)
	_, err = s.GetPhoneEnrollment(ctx, "sms1-00u1")
	checkErrIs(t, "GetPhoneEnrollment after delete", err, store.ErrNotFound)
	phones, err := s.ListPhoneEnrollments(ctx, "00u1")
	mustOK(t, "ListPhoneEnrollments", err)
	if len(phones) != 0 {
		t.Errorf("ListPhoneEnrollments after delete: got %d phones", len(phones))
	}
	_, err = s.GetEnrollment(ctx, "enr1-00u1")
	checkErrIs(t, "GetEnrollment after delete", err, store.ErrNotFound)
	enrollments, err := s.ListEnrollments(ctx, "00u1")
	mustOK(t, "ListEnrollments", err)
	if len(enrollments) != 0 {
		t.Errorf("ListEnrollments after delete: got %d enrollments", len(enrollments))
	}
	for _, n := range []string{"a", "b"} {
		_, err = s.GetRefreshToken(ctx, "rt-"+n+"-00u1")
		checkErrIs(t, "GetRefreshToken after delete", err, store.ErrNotFound)
	}
	_, err = s.GetTransaction(ctx, "tx-00u1")
	checkErrIs(t, "GetTransaction after delete", err, store.ErrNotFound)

	// The other user keeps everything.
	_, err = s.GetUser(ctx, "00u2")
	mustOK(t, "GetUser of the other user", err)
	_, err = s.GetPassword(ctx, "00u2")
	mustOK(t, "GetPassword of the other user", err)
	phones, err = s.ListPhoneEnrollments(ctx, "00u2")
	mustOK(t, "ListPhoneEnrollments of the other user", err)
	if len(phones) != 2 {
		t.Errorf("other user's phones: got %d, want 2", len(phones))
	}
	enrollments, err = s.ListEnrollments(ctx, "00u2")
	mustOK(t, "ListEnrollments of the other user", err)
	if len(enrollments) != 2 {
		t.Errorf("other user's enrollments: got %d, want 2", len(enrollments))
	}
	_, err = s.GetRefreshToken(ctx, "rt-a-00u2")
	mustOK(t, "GetRefreshToken of the other user", err)
	_, err = s.GetTransaction(ctx, "tx-00u2")
	mustOK(t, "GetTransaction of the other user", err)

	checkErrIs(t, "DeleteUser again", s.DeleteUser(ctx, "00u1"), store.ErrNotFound)
	// The login and the phone number are free again.
	mustOK(t, "CreateUser with the deleted login", s.CreateUser(ctx, newUser("00u3", "login-00u1")))
	mustOK(t, "CreatePhoneEnrollment with the deleted id", s.CreatePhoneEnrollment(ctx, newPhone("sms1-00u1", "00u3", "+15555550101", base)))
	mustOK(t, "CreateEnrollment with the deleted id", s.CreateEnrollment(ctx, newEnrollment("enr1-00u1", "00u3", "google_otp", base)))
}

func testImportUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustOK(t, "ImportUsers of nothing", s.ImportUsers(ctx, nil))

	var records []store.UserRecord
	for i := range 250 { // more than one batch of a batching backend, surely
		id := fmt.Sprintf("00u%04d", i)
		r := store.UserRecord{User: newUser(id, fmt.Sprintf("import%04d", i))}
		switch i % 3 {
		case 0: // password and two phones
			r.Password = &store.PasswordCredential{UserID: id, Hash: "$argon2id$v=19$m=65536,t=3,p=4$" + id, UpdatedAt: at(time.Duration(i) * time.Millisecond)}
			r.Phones = []store.PhoneEnrollment{
				newPhone("sms-a-"+id, id, "+1555555"+fmt.Sprintf("%04d", i), at(time.Duration(i)*time.Millisecond)),
				newPhone("sms-b-"+id, id, "+1555666"+fmt.Sprintf("%04d", i), at(time.Duration(i+1)*time.Millisecond)),
			}
		case 1: // password only; UserID left for the store to fill in
			r.Password = &store.PasswordCredential{Hash: "hash-" + id, UpdatedAt: base}
		case 2: // neither
		}
		records = append(records, r)
	}
	mustOK(t, "ImportUsers", s.ImportUsers(ctx, records))

	for i, r := range records {
		got, err := s.GetUser(ctx, r.User.ID)
		mustOK(t, "GetUser of an imported user", err)
		checkEqual(t, "imported user", got, r.User)
		pw, err := s.GetPassword(ctx, r.User.ID)
		if r.Password == nil {
			checkErrIs(t, "GetPassword of a user imported without one", err, store.ErrNotFound)
		} else {
			mustOK(t, "GetPassword of an imported user", err)
			want := *r.Password
			want.UserID = r.User.ID
			checkEqual(t, "imported password", pw, want)
		}
		phones, err := s.ListPhoneEnrollments(ctx, r.User.ID)
		mustOK(t, "ListPhoneEnrollments", err)
		checkEqual(t, fmt.Sprintf("imported phones of record %d", i), phones, r.Phones)
		if t.Failed() {
			return
		}
	}
	page, err := s.ListUsers(ctx, store.ListUsersOptions{AfterLogin: "import0099", Limit: 1})
	mustOK(t, "ListUsers", err)
	if len(page) != 1 || page[0].ID != "00u0100" {
		t.Errorf("ListUsers after import0099: got %+v, want 00u0100", page)
	}
}

func testImportUsersAllOrNothing(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("00u-existing", "existing")))

	records := func(n int) []store.UserRecord {
		var rs []store.UserRecord
		for i := range n {
			id := fmt.Sprintf("00u%05d", i)
			rs = append(rs, store.UserRecord{
				User:     newUser(id, fmt.Sprintf("bulk%05d", i)),
				Password: &store.PasswordCredential{UserID: id, Hash: "h", UpdatedAt: base},
				Phones:   []store.PhoneEnrollment{newPhone("sms-"+id, id, "+15550000000", base)},
			})
		}
		return rs
	}
	cases := []struct {
		name    string
		corrupt func(rs []store.UserRecord)
		want    error
	}{
		{"login taken by an existing user", func(rs []store.UserRecord) { rs[len(rs)-1].User.Login = "existing" }, store.ErrAlreadyExists},
		{"id taken by an existing user", func(rs []store.UserRecord) {
			last := &rs[len(rs)-1]
			last.User.ID, last.Password.UserID, last.Phones[0].UserID = "00u-existing", "00u-existing", "00u-existing"
		}, store.ErrAlreadyExists},
		{"duplicate login in the batch", func(rs []store.UserRecord) { rs[len(rs)-1].User.Login = rs[0].User.Login }, store.ErrAlreadyExists},
		{"duplicate phone id in the batch", func(rs []store.UserRecord) { rs[len(rs)-1].Phones[0].ID = rs[0].Phones[0].ID }, store.ErrAlreadyExists},
		{"same number twice for one user", func(rs []store.UserRecord) {
			last := &rs[len(rs)-1]
			p := last.Phones[0]
			p.ID = "sms-extra"
			last.Phones = append(last.Phones, p)
		}, store.ErrAlreadyExists},
		{"password of another user", func(rs []store.UserRecord) { rs[len(rs)-1].Password.UserID = rs[0].User.ID }, nil},
	}
	for _, c := range cases {
		for _, n := range []int{3, 1500} { // 1500: the failure comes after several batches
			rs := records(n)
			c.corrupt(rs)
			err := s.ImportUsers(ctx, rs)
			if c.want != nil {
				checkErrIs(t, fmt.Sprintf("ImportUsers of %d with %s", n, c.name), err, c.want)
			} else if err == nil {
				t.Errorf("ImportUsers of %d with %s: no error", n, c.name)
			}
			all, err := s.ListUsers(ctx, store.ListUsersOptions{Limit: 10})
			mustOK(t, "ListUsers", err)
			if got := userLogins(all); !slices.Equal(got, []string{"existing"}) {
				t.Fatalf("after the failed ImportUsers of %d with %s: users %q, want only existing", n, c.name, got)
			}
			_, err = s.GetPhoneEnrollment(ctx, "sms-00u00000")
			checkErrIs(t, "phone of the failed import", err, store.ErrNotFound)
			_, err = s.GetPassword(ctx, "00u00000")
			checkErrIs(t, "password of the failed import", err, store.ErrNotFound)
		}
	}
	// Unbroken, the same records import.
	mustOK(t, "ImportUsers", s.ImportUsers(ctx, records(1500)))
	_, err := s.GetPhoneEnrollment(ctx, "sms-00u01499")
	mustOK(t, "GetPhoneEnrollment of the last imported phone", err)
}

func testPasswords(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("00u1", "alice")))
	_, err := s.GetPassword(ctx, "00u1")
	checkErrIs(t, "GetPassword before SetPassword", err, store.ErrNotFound)

	first := store.PasswordCredential{UserID: "00u1", Hash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", UpdatedAt: at(-time.Hour)}
	mustOK(t, "SetPassword", s.SetPassword(ctx, first))
	got, err := s.GetPassword(ctx, "00u1")
	mustOK(t, "GetPassword", err)
	checkEqual(t, "password", got, first)

	second := store.PasswordCredential{UserID: "00u1", Hash: "$argon2id$v=19$m=65536,t=3,p=4$bmV3$bmV3aGFzaA", UpdatedAt: base}
	mustOK(t, "SetPassword replacing", s.SetPassword(ctx, second))
	got, err = s.GetPassword(ctx, "00u1")
	mustOK(t, "GetPassword", err)
	checkEqual(t, "replaced password", got, second)

	err = s.SetPassword(ctx, store.PasswordCredential{UserID: "00u-missing", Hash: "x", UpdatedAt: base})
	checkErrIs(t, "SetPassword for a missing user", err, store.ErrNotFound)
	_, err = s.GetPassword(ctx, "00u-missing")
	checkErrIs(t, "GetPassword for a missing user", err, store.ErrNotFound)
}

func testPhoneEnrollments(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("00u1", "alice")))
	mustOK(t, "CreateUser", s.CreateUser(ctx, newUser("00u2", "bob")))

	// Created out of order: the list is by CreatedAt, then ID.
	newest := newPhone("sms-c", "00u1", "+15555550103", at(time.Hour))
	oldest := newPhone("sms-z", "00u1", "+15555550101", at(-time.Hour))
	tieB := newPhone("sms-b", "00u1", "+15555550104", base)
	tieA := newPhone("sms-a", "00u1", "+15555550102", base)
	tieA.SMS, tieA.Voice = true, false
	tieB.SMS, tieB.Voice = false, true
	for _, p := range []store.PhoneEnrollment{newest, oldest, tieB, tieA} {
		mustOK(t, "CreatePhoneEnrollment", s.CreatePhoneEnrollment(ctx, p))
	}
	got, err := s.GetPhoneEnrollment(ctx, "sms-a")
	mustOK(t, "GetPhoneEnrollment", err)
	checkEqual(t, "phone", got, tieA)
	got, err = s.GetPhoneEnrollment(ctx, "sms-b")
	mustOK(t, "GetPhoneEnrollment", err)
	checkEqual(t, "phone", got, tieB)

	list, err := s.ListPhoneEnrollments(ctx, "00u1")
	mustOK(t, "ListPhoneEnrollments", err)
	checkEqual(t, "phones oldest first", list, []store.PhoneEnrollment{oldest, tieA, tieB, newest})

	err = s.CreatePhoneEnrollment(ctx, newPhone("sms-a", "00u2", "+15555550199", base))
	checkErrIs(t, "CreatePhoneEnrollment with a taken id", err, store.ErrAlreadyExists)
	err = s.CreatePhoneEnrollment(ctx, newPhone("sms-d", "00u1", "+15555550101", base))
	checkErrIs(t, "CreatePhoneEnrollment with the user's number again", err, store.ErrAlreadyExists)
	err = s.CreatePhoneEnrollment(ctx, newPhone("sms-e", "00u-missing", "+15555550101", base))
	checkErrIs(t, "CreatePhoneEnrollment for a missing user", err, store.ErrNotFound)
	// Another user may have the same number.
	mustOK(t, "CreatePhoneEnrollment of the same number for another user",
		s.CreatePhoneEnrollment(ctx, newPhone("sms-f", "00u2", "+15555550101", base)))

	list, err = s.ListPhoneEnrollments(ctx, "00u2")
	mustOK(t, "ListPhoneEnrollments", err)
	if len(list) != 1 || list[0].ID != "sms-f" {
		t.Errorf("second user's phones: got %+v, want only sms-f", list)
	}
	list, err = s.ListPhoneEnrollments(ctx, "00u-missing")
	mustOK(t, "ListPhoneEnrollments of a missing user", err)
	if len(list) != 0 {
		t.Errorf("ListPhoneEnrollments of a missing user: got %+v", list)
	}

	mustOK(t, "DeletePhoneEnrollment", s.DeletePhoneEnrollment(ctx, "sms-z"))
	_, err = s.GetPhoneEnrollment(ctx, "sms-z")
	checkErrIs(t, "GetPhoneEnrollment after delete", err, store.ErrNotFound)
	checkErrIs(t, "DeletePhoneEnrollment again", s.DeletePhoneEnrollment(ctx, "sms-z"), store.ErrNotFound)
	list, err = s.ListPhoneEnrollments(ctx, "00u1")
	mustOK(t, "ListPhoneEnrollments", err)
	checkEqual(t, "phones after delete", list, []store.PhoneEnrollment{tieA, tieB, newest})
	// The number is free again for that user.
	mustOK(t, "CreatePhoneEnrollment of a deleted number", s.CreatePhoneEnrollment(ctx, newPhone("sms-g", "00u1", "+15555550101", base)))
}
