package account_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/account"
	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/authn/totp"
	"github.com/gatehouse-id/gatehouse/engine/keyseal"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/postgres"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// clock is a settable clock for the service.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	st     store.Store
	svc    *account.Service
	clock  *clock
	hasher *password.Hasher
	sealer *keyseal.Sealer
}

// backends runs f on a fresh SQLite database and a fresh PostgreSQL schema.
func backends(t *testing.T, f func(t *testing.T, x fixture)) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		f(t, newFixture(t, st, account.Deps{}))
	})
	t.Run("postgres", func(t *testing.T) {
		st, err := postgres.Open(t.Context(), enginetest.PostgresSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		f(t, newFixture(t, st, account.Deps{}))
	})
}

func newFixture(t *testing.T, st store.Store, d account.Deps) fixture {
	t.Helper()
	h, err := password.NewHasher(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	kek, err := keyseal.ParseKEK([]byte(keyseal.GenerateKEK()))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := keyseal.New(kek, "test KEK")
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Date(2031, time.May, 17, 9, 30, 15, 0, time.UTC)}
	d.Store, d.Hasher, d.Sealer, d.Now = st, h, sealer, c.Now
	svc, err := account.New(d)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{st: st, svc: svc, clock: c, hasher: h, sealer: sealer}
}

func mustCreate(t *testing.T, x fixture, n account.NewUser) store.User {
	t.Helper()
	u, err := x.svc.Create(t.Context(), n)
	if err != nil {
		t.Fatalf("Create(%+v): %v", n, err)
	}
	return u
}

// signedIn gives the user a live SSO session and refresh token, as a sign-in does.
func signedIn(t *testing.T, x fixture, userID string) (sessionID, refreshHash string) {
	t.Helper()
	now := x.clock.Now()
	sessionID, refreshHash = "sid-"+userID+now.Format("150405.000"), "rt-"+userID+now.Format("150405.000")
	if err := x.st.CreateSession(t.Context(), store.Session{ID: sessionID, TokenHash: "th-" + sessionID, UserID: userID, AuthTime: now,
		CreatedAt: now, LastSeenAt: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := x.st.CreateRefreshToken(t.Context(), store.RefreshToken{TokenHash: refreshHash, FamilyID: "fam-" + refreshHash, ClientID: "app",
		UserID: userID, SessionID: sessionID, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	x.clock.Advance(time.Second)
	return sessionID, refreshHash
}

// checkSignedOut checks that the session and refresh token signedIn made are over.
func checkSignedOut(t *testing.T, x fixture, what, sessionID, refreshHash string, want bool) {
	t.Helper()
	s, err := x.st.GetSession(t.Context(), sessionID)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := x.st.GetRefreshToken(t.Context(), refreshHash)
	if err != nil {
		t.Fatal(err)
	}
	if got := !s.Live(x.clock.Now()) && !rt.RevokedAt.IsZero(); got != want {
		t.Errorf("%s: signed out = %v (session ended %v, refresh token revoked %v), want %v", what, got, s.EndedAt, rt.RevokedAt, want)
	}
}

func TestPasswordPolicy(t *testing.T) {
	if account.Policy.MinLength != 8 || account.Policy.MaxBytes != password.MaxPasswordBytes {
		t.Errorf("Policy = %+v", account.Policy)
	}
	for pw, want := range map[string]error{
		"":                        account.ErrPasswordTooShort,
		"seven77":                 account.ErrPasswordTooShort,
		"ééééééé":                 account.ErrPasswordTooShort, // 7 characters in 14 bytes
		"éééééééé":                nil,                         // 8 characters
		"eight888":                nil,
		strings.Repeat("x", 1024): nil,
		strings.Repeat("x", 1025): account.ErrPasswordTooLong,
		strings.Repeat("é", 513):  account.ErrPasswordTooLong, // 513 characters, 1026 bytes
	} {
		if err := account.Policy.Check(pw); err != want {
			t.Errorf("Check(%d bytes) = %v, want %v", len(pw), err, want)
		}
	}
	if !strings.Contains(account.ErrPasswordTooShort.Error(), "at least 8 characters") ||
		!strings.Contains(account.ErrPasswordTooLong.Error(), "at most 1024 bytes") {
		t.Errorf("the password errors do not say the rule: %v; %v", account.ErrPasswordTooShort, account.ErrPasswordTooLong)
	}
}

func TestCreate(t *testing.T) {
	backends(t, func(t *testing.T, x fixture) {
		ctx := t.Context()
		u := mustCreate(t, x, account.NewUser{Login: "  Carol@Example.COM ", GivenName: "Carol", FamilyName: "Chen", Locale: "fr-CA",
			Password: "s3cret-password", Phone: "(201) 555-0142"})
		if u.Login != "carol@example.com" || u.Email != "carol@example.com" || u.GivenName != "Carol" || u.Locale != "fr-CA" ||
			!strings.HasPrefix(u.ID, "00u") || !u.CreatedAt.Equal(x.clock.Now()) {
			t.Errorf("created %+v", u)
		}
		stored, err := x.st.GetUserByLogin(ctx, "carol@example.com")
		if err != nil || stored.ID != u.ID {
			t.Fatalf("stored user: %+v %v", stored, err)
		}
		cred, err := x.st.GetPassword(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := x.hasher.Verify(ctx, cred.Hash, "s3cret-password"); err != nil || !res.OK {
			t.Errorf("the stored hash does not verify the password: %v %v", res, err)
		}
		phones, err := x.st.ListPhoneEnrollments(ctx, u.ID)
		if err != nil || len(phones) != 1 || phones[0].Number != "+12015550142" || !phones[0].SMS || !phones[0].Voice {
			t.Errorf("phones: %+v %v", phones, err)
		}

		// No password, and an email that is not the login.
		dave := mustCreate(t, x, account.NewUser{Login: "dave", Email: "d@example.org"})
		if dave.Email != "d@example.org" {
			t.Errorf("email: %q", dave.Email)
		}
		if _, err := x.st.GetPassword(ctx, dave.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a user created without a password has one: %v", err)
		}
		if eve := mustCreate(t, x, account.NewUser{Login: "eve"}); eve.Email != "" {
			t.Errorf("a login without @ became the email: %q", eve.Email)
		}

		// Refused input changes nothing.
		for _, c := range []struct {
			n    account.NewUser
			want error
		}{
			{account.NewUser{Login: "CAROL@example.com", Password: "another-password"}, account.ErrLoginTaken},
			{account.NewUser{Login: "   "}, account.ErrLoginEmpty},
			{account.NewUser{Login: "a b"}, account.ErrLoginSpaces},
			{account.NewUser{Login: "tab\there"}, account.ErrLoginSpaces},
			{account.NewUser{Login: strings.Repeat("x", 257)}, account.ErrLoginInvalid},
			{account.NewUser{Login: "bad\xffutf8"}, account.ErrLoginInvalid},
			{account.NewUser{Login: "frank", Password: "short"}, account.ErrPasswordTooShort},
			{account.NewUser{Login: "frank", Password: strings.Repeat("p", 1025)}, account.ErrPasswordTooLong},
			{account.NewUser{Login: "frank", Password: "long-enough", Phone: "+1 800 555 0199"}, phone.ErrRefusedNumber},
			{account.NewUser{Login: "frank", Password: "long-enough", Phone: "12"}, phone.ErrInvalidNumber},
		} {
			if _, err := x.svc.Create(ctx, c.n); !errors.Is(err, c.want) {
				t.Errorf("Create(%q, phone %q): %v, want %v", c.n.Login, c.n.Phone, err, c.want)
			}
		}
		var pe *account.PhoneNumberError
		if _, err := x.svc.Create(ctx, account.NewUser{Login: "frank", Phone: "+1 800 555 0199"}); !errors.As(err, &pe) ||
			pe.Input != "+1 800 555 0199" || !strings.Contains(err.Error(), "toll-free") {
			t.Errorf("a toll-free number: %v", err)
		}
		users, err := x.st.ListUsers(ctx, store.ListUsersOptions{})
		if err != nil || len(users) != 3 {
			t.Errorf("users after refused creations: %d %v", len(users), err)
		}
	})
}

func TestPhoneRulesAndRegion(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	x := newFixture(t, st, account.Deps{PhoneRules: phone.Rules{AllowedRegions: []string{"FR", "GB"}}, DefaultRegion: "FR"})
	ctx := t.Context()
	u := mustCreate(t, x, account.NewUser{Login: "zoe", Phone: "06 12 34 56 78"}) // French, by the default region
	phones, _ := st.ListPhoneEnrollments(ctx, u.ID)
	if len(phones) != 1 || phones[0].Number != "+33612345678" {
		t.Fatalf("phones: %+v", phones)
	}
	if _, err := x.svc.AddPhone(ctx, u.ID, "+12015550142", account.PhoneOptions{SMS: true}); !errors.Is(err, phone.ErrRegionNotAllowed) {
		t.Errorf("a US number outside the allowed regions: %v", err)
	}
	p, err := x.svc.AddPhone(ctx, u.ID, "07400 123456", account.PhoneOptions{Voice: true, Region: "gb"})
	if err != nil || p.Number != "+447400123456" || p.SMS || !p.Voice {
		t.Errorf("a British number with --region gb: %+v %v", p, err)
	}
	// Removing by the number as typed reads it in the default region.
	if removed, _, err := x.svc.RemovePhone(ctx, u.ID, "06 12 34 56 78"); err != nil || removed.Number != "+33612345678" {
		t.Errorf("RemovePhone by the typed number: %+v %v", removed, err)
	}
}

func TestPhones(t *testing.T) {
	backends(t, func(t *testing.T, x fixture) {
		ctx := t.Context()
		u := mustCreate(t, x, account.NewUser{Login: "alice@example.com", Password: "s3cret-password"})
		other := mustCreate(t, x, account.NewUser{Login: "bob@example.com", Phone: "+12015550150"})
		p, err := x.svc.AddPhone(ctx, u.ID, "(201) 555-0142", account.PhoneOptions{SMS: true, Voice: true})
		if err != nil || p.Number != "+12015550142" || !strings.HasPrefix(p.ID, "sms") {
			t.Fatalf("AddPhone: %+v %v", p, err)
		}
		if _, err := x.svc.AddPhone(ctx, u.ID, "+1 201 555 0142", account.PhoneOptions{SMS: true}); !errors.Is(err, account.ErrPhoneTaken) {
			t.Errorf("the same number twice: %v", err)
		}
		if _, err := x.svc.AddPhone(ctx, u.ID, "+33612345678", account.PhoneOptions{}); !errors.Is(err, account.ErrNoPhoneMethod) {
			t.Errorf("neither SMS nor voice: %v", err)
		}
		if _, err := x.svc.AddPhone(ctx, "00u-missing", "+33612345678", account.PhoneOptions{SMS: true}); !errors.Is(err, account.ErrUserNotFound) {
			t.Errorf("a missing user: %v", err)
		}
		fr, err := x.svc.AddPhone(ctx, u.ID, "+33612345678", account.PhoneOptions{SMS: false, Voice: true})
		if err != nil {
			t.Fatal(err)
		}

		sid, rt := signedIn(t, x, u.ID)
		osid, ort := signedIn(t, x, other.ID)
		if _, _, err := x.svc.RemovePhone(ctx, u.ID, "+15555550000"); !errors.Is(err, account.ErrNoSuchPhone) {
			t.Errorf("removing a number the user does not have: %v", err)
		}
		if _, _, err := x.svc.RemovePhone(ctx, u.ID, "+12015550150"); !errors.Is(err, account.ErrNoSuchPhone) {
			t.Errorf("removing another user's number: %v", err)
		}
		checkSignedOut(t, x, "after refused removals", sid, rt, false)
		removed, n, err := x.svc.RemovePhone(ctx, u.ID, fr.ID)
		if err != nil || removed.ID != fr.ID || n != 1 {
			t.Errorf("RemovePhone by id: %+v %d %v", removed, n, err)
		}
		checkSignedOut(t, x, "after RemovePhone", sid, rt, true)
		checkSignedOut(t, x, "the other user after RemovePhone", osid, ort, false)
		if removed, _, err := x.svc.RemovePhone(ctx, u.ID, "201-555-0142"); err != nil || removed.ID != p.ID {
			t.Errorf("RemovePhone by the typed number: %+v %v", removed, err)
		}
		phones, _ := x.st.ListPhoneEnrollments(ctx, u.ID)
		others, _ := x.st.ListPhoneEnrollments(ctx, other.ID)
		if len(phones) != 0 || len(others) != 1 {
			t.Errorf("phones left: %+v; the other user's: %+v", phones, others)
		}
	})
}

func TestSetPasswordDisableEnableDelete(t *testing.T) {
	backends(t, func(t *testing.T, x fixture) {
		ctx := t.Context()
		u := mustCreate(t, x, account.NewUser{Login: "alice@example.com", Password: "first-password"})
		bystander := mustCreate(t, x, account.NewUser{Login: "bob@example.com", Password: "bobs-password"})
		bsid, brt := signedIn(t, x, bystander.ID)

		sid, rt := signedIn(t, x, u.ID)
		if _, err := x.svc.SetPassword(ctx, u.ID, "short"); !errors.Is(err, account.ErrPasswordTooShort) {
			t.Errorf("a short password: %v", err)
		}
		checkSignedOut(t, x, "after a refused password", sid, rt, false)
		n, err := x.svc.SetPassword(ctx, u.ID, "second-password")
		if err != nil || n != 1 {
			t.Fatalf("SetPassword: %d %v", n, err)
		}
		checkSignedOut(t, x, "after SetPassword", sid, rt, true)
		cred, _ := x.st.GetPassword(ctx, u.ID)
		if res, _ := x.hasher.Verify(ctx, cred.Hash, "second-password"); !res.OK {
			t.Error("the new password does not verify")
		}
		if _, err := x.svc.SetPassword(ctx, "00u-missing", "second-password"); !errors.Is(err, account.ErrUserNotFound) {
			t.Errorf("SetPassword of a missing user: %v", err)
		}

		sid, rt = signedIn(t, x, u.ID)
		if n, err := x.svc.Disable(ctx, u.ID); err != nil || n != 1 {
			t.Fatalf("Disable: %d %v", n, err)
		}
		checkSignedOut(t, x, "after Disable", sid, rt, true)
		if got, _ := x.st.GetUser(ctx, u.ID); !got.Disabled {
			t.Error("the user is not disabled")
		}
		if err := x.svc.Enable(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := x.st.GetUser(ctx, u.ID); got.Disabled {
			t.Error("the user is still disabled")
		}
		for name, err := range map[string]error{
			"Disable": func() error { _, err := x.svc.Disable(ctx, "00u-missing"); return err }(),
			"Enable":  x.svc.Enable(ctx, "00u-missing"),
			"Delete":  x.svc.Delete(ctx, "00u-missing"),
		} {
			if !errors.Is(err, account.ErrUserNotFound) {
				t.Errorf("%s of a missing user: %v", name, err)
			}
		}

		sid, rt = signedIn(t, x, u.ID)
		if _, err := x.svc.AddTOTP(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		revokedBefore, err := x.st.AccessTokenRevoked(ctx, store.AccessTokenRef{UserID: u.ID, IssuedAt: x.clock.Now()})
		if err != nil || revokedBefore {
			t.Fatalf("an access token issued now is revoked before Delete: %v", err)
		}
		if err := x.svc.Delete(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := x.st.GetUser(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetUser after Delete: %v", err)
		}
		if l, _ := x.st.ListEnrollments(ctx, u.ID); len(l) != 0 {
			t.Errorf("enrollments after Delete: %+v", l)
		}
		if revoked, _ := x.st.AccessTokenRevoked(ctx, store.AccessTokenRef{UserID: u.ID, IssuedAt: x.clock.Now()}); !revoked {
			t.Error("access tokens issued to the deleted user are not revoked")
		}
		checkSignedOut(t, x, "the bystander", bsid, brt, false)
		// The login is free again.
		mustCreate(t, x, account.NewUser{Login: "alice@example.com"})
	})
}

func TestUpdateProfile(t *testing.T) {
	backends(t, func(t *testing.T, x fixture) {
		ctx := t.Context()
		u := mustCreate(t, x, account.NewUser{Login: "alice@example.com", GivenName: "Alice", Locale: "en-US"})
		mustCreate(t, x, account.NewUser{Login: "bob@example.com"})
		sid, rt := signedIn(t, x, u.ID)
		str := func(s string) *string { return &s }
		got, err := x.svc.UpdateProfile(ctx, u.ID, account.ProfileChange{Login: str(" Alice.New@Example.com"), FamilyName: str("Anders")})
		if err != nil {
			t.Fatal(err)
		}
		if got.Login != "alice.new@example.com" || got.FamilyName != "Anders" || got.GivenName != "Alice" || got.Locale != "en-US" ||
			got.Email != "alice@example.com" || !got.UpdatedAt.Equal(x.clock.Now()) {
			t.Errorf("after UpdateProfile: %+v", got)
		}
		checkSignedOut(t, x, "after UpdateProfile", sid, rt, false)
		for _, c := range []struct {
			ch   account.ProfileChange
			want error
		}{
			{account.ProfileChange{Login: str("BOB@example.com"), Email: str("x@example.com")}, account.ErrLoginTaken},
			{account.ProfileChange{Login: str(""), Email: str("x@example.com")}, account.ErrLoginEmpty},
			{account.ProfileChange{Login: str("a b")}, account.ErrLoginSpaces},
		} {
			if _, err := x.svc.UpdateProfile(ctx, u.ID, c.ch); !errors.Is(err, c.want) {
				t.Errorf("UpdateProfile to %q: %v, want %v", *c.ch.Login, err, c.want)
			}
		}
		if stored, _ := x.st.GetUser(ctx, u.ID); stored.Login != "alice.new@example.com" || stored.Email != "alice@example.com" {
			t.Errorf("refused changes were stored: %+v", stored)
		}
		if _, err := x.svc.UpdateProfile(ctx, "00u-missing", account.ProfileChange{Email: str("x")}); !errors.Is(err, account.ErrUserNotFound) {
			t.Errorf("UpdateProfile of a missing user: %v", err)
		}
	})
}

func TestTOTP(t *testing.T) {
	backends(t, func(t *testing.T, x fixture) {
		ctx := t.Context()
		u := mustCreate(t, x, account.NewUser{Login: "alice@example.com", Password: "s3cret-password"})
		if _, err := x.svc.VerifyTOTP(ctx, u.ID, "123456"); !errors.Is(err, account.ErrNoTOTP) {
			t.Errorf("VerifyTOTP without an app: %v", err)
		}
		enr, err := x.svc.AddTOTP(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(enr.Key.URI, "otpauth://totp/Gatehouse:alice@example.com?") || !strings.Contains(enr.Key.URI, "secret="+enr.Key.Secret) ||
			!strings.HasPrefix(enr.Key.QRCode, "data:image/png;base64,") || len(enr.Key.Secret) != 32 {
			t.Errorf("AddTOTP key: %+v", enr.Key)
		}
		stored, err := x.st.GetEnrollment(ctx, enr.Enrollment.ID)
		if err != nil || stored.UserID != u.ID || stored.Authenticator != totp.AuthenticatorKey || stored.LastUsed != 0 {
			t.Fatalf("stored enrollment: %+v %v", stored, err)
		}
		// The store holds the secret sealed, bound to the enrollment.
		if bytes.Contains(stored.Secret, []byte(enr.Key.Secret)) {
			t.Fatal("the secret is stored in the clear")
		}
		if secret, err := totp.Open(x.sealer, stored.Secret, keyseal.EnrollmentAD(stored.ID)); err != nil || secret != enr.Key.Secret {
			t.Errorf("the stored secret opens to %q, %v", secret, err)
		}
		if _, err := x.svc.AddTOTP(ctx, u.ID); !errors.Is(err, account.ErrTOTPEnrolled) {
			t.Errorf("a second app: %v", err)
		}
		if _, err := x.svc.AddTOTP(ctx, "00u-missing"); !errors.Is(err, account.ErrUserNotFound) {
			t.Errorf("AddTOTP for a missing user: %v", err)
		}

		code := func(at time.Time) string {
			c, err := totp.Code(enr.Key.Secret, totp.Step(at))
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		now := x.clock.Now()
		for _, c := range []struct {
			what string
			code string
			ok   bool
		}{
			{"a wrong code", "000000", false},
			{"not a code", "abcdef", false},
			{"the current code", code(now), true},
			{"the current code again (replay)", code(now), false},
			{"the previous step's code, after the current", code(now.Add(-totp.Period)), false},
			{"the next step's code", code(now.Add(totp.Period)), true},
		} {
			if c.code == "000000" && c.code == code(now) {
				continue // one in a million
			}
			ok, err := x.svc.VerifyTOTP(ctx, u.ID, c.code)
			if err != nil || ok != c.ok {
				t.Errorf("VerifyTOTP with %s: %v %v, want %v", c.what, ok, err, c.ok)
			}
		}
		if e, _ := x.st.GetEnrollment(ctx, enr.Enrollment.ID); e.LastUsed != totp.Step(now)+1 {
			t.Errorf("LastUsed = %d, want %d", e.LastUsed, totp.Step(now)+1)
		}

		// Concurrent sign-ins with one code: one wins.
		x.clock.Advance(2 * totp.Period)
		c := code(x.clock.Now())
		const n = 12
		var wg sync.WaitGroup
		results := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { results[i], errs[i] = x.svc.VerifyTOTP(ctx, u.ID, c) })
		}
		wg.Wait()
		wins := 0
		for i := range n {
			if errs[i] != nil {
				t.Errorf("concurrent VerifyTOTP %d: %v", i, errs[i])
			}
			if results[i] {
				wins++
			}
		}
		if wins != 1 {
			t.Errorf("%d of %d concurrent uses of one code were accepted, want 1", wins, n)
		}

		sid, rt := signedIn(t, x, u.ID)
		removed, revoked, err := x.svc.RemoveTOTP(ctx, u.ID)
		if err != nil || removed.ID != enr.Enrollment.ID || revoked != 1 {
			t.Errorf("RemoveTOTP: %+v %d %v", removed, revoked, err)
		}
		checkSignedOut(t, x, "after RemoveTOTP", sid, rt, true)
		if _, _, err := x.svc.RemoveTOTP(ctx, u.ID); !errors.Is(err, account.ErrNoTOTP) {
			t.Errorf("RemoveTOTP again: %v", err)
		}
		if _, err := x.svc.VerifyTOTP(ctx, u.ID, code(x.clock.Now())); !errors.Is(err, account.ErrNoTOTP) {
			t.Errorf("VerifyTOTP after RemoveTOTP: %v", err)
		}

		// EnrollTOTP: a secret the user proved with a code, whose step is used.
		secret, _ := totp.NewSecret()
		step := totp.Step(x.clock.Now())
		e, err := x.svc.EnrollTOTP(ctx, u.ID, secret, step)
		if err != nil || e.LastUsed != step {
			t.Fatalf("EnrollTOTP: %+v %v", e, err)
		}
		proved, _ := totp.Code(secret, step)
		if ok, err := x.svc.VerifyTOTP(ctx, u.ID, proved); ok || err != nil {
			t.Errorf("the code that proved the enrollment was accepted again: %v %v", ok, err)
		}
		if _, err := x.svc.EnrollTOTP(ctx, u.ID, "not a secret", 0); !errors.Is(err, totp.ErrBadSecret) {
			t.Errorf("EnrollTOTP with a bad secret: %v", err)
		}
	})
}

func TestTOTPWithAnotherKEK(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	x := newFixture(t, st, account.Deps{ProductName: "Acme ID"})
	u := mustCreate(t, x, account.NewUser{Login: "alice"})
	enr, err := x.svc.AddTOTP(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enr.Key.URI, "otpauth://totp/Acme%20ID:alice?") {
		t.Errorf("key URI with the product name: %s", enr.Key.URI)
	}
	// Another node with another KEK cannot open the secret: an error, not a refusal.
	y := newFixture(t, st, account.Deps{})
	c, _ := totp.Code(enr.Key.Secret, totp.Step(x.clock.Now()))
	if ok, err := y.svc.VerifyTOTP(t.Context(), u.ID, c); ok || !errors.Is(err, keyseal.ErrWrongKEK) {
		t.Errorf("VerifyTOTP with another KEK: %v %v", ok, err)
	}
	noSealer, err := account.New(account.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noSealer.AddTOTP(t.Context(), u.ID); err == nil {
		t.Error("AddTOTP without a sealer succeeded")
	}
}

func TestResetFactors(t *testing.T) {
	backends(t, func(t *testing.T, x fixture) {
		ctx := t.Context()
		u := mustCreate(t, x, account.NewUser{Login: "alice@example.com", Password: "s3cret-password", Phone: "+12015550142"})
		bob := mustCreate(t, x, account.NewUser{Login: "bob@example.com", Phone: "+12015550150"})
		if _, err := x.svc.AddPhone(ctx, u.ID, "+33612345678", account.PhoneOptions{SMS: true}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{u.ID, bob.ID} {
			if _, err := x.svc.AddTOTP(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		sid, rt := signedIn(t, x, u.ID)
		r, err := x.svc.ResetFactors(ctx, u.ID)
		if err != nil || len(r.Phones) != 2 || len(r.Enrollments) != 1 || r.Revoked != 1 {
			t.Fatalf("ResetFactors: %+v %v", r, err)
		}
		checkSignedOut(t, x, "after ResetFactors", sid, rt, true)
		phones, _ := x.st.ListPhoneEnrollments(ctx, u.ID)
		enrollments, _ := x.st.ListEnrollments(ctx, u.ID)
		if len(phones)+len(enrollments) != 0 {
			t.Errorf("left after ResetFactors: %+v %+v", phones, enrollments)
		}
		if _, err := x.st.GetPassword(ctx, u.ID); err != nil {
			t.Errorf("ResetFactors removed the password: %v", err)
		}
		phones, _ = x.st.ListPhoneEnrollments(ctx, bob.ID)
		enrollments, _ = x.st.ListEnrollments(ctx, bob.ID)
		if len(phones) != 1 || len(enrollments) != 1 {
			t.Errorf("the other user's factors after ResetFactors: %+v %+v", phones, enrollments)
		}
		// Nothing to reset is not an error.
		if r, err := x.svc.ResetFactors(ctx, u.ID); err != nil || len(r.Phones)+len(r.Enrollments) != 0 {
			t.Errorf("ResetFactors again: %+v %v", r, err)
		}
		if _, err := x.svc.ResetFactors(ctx, "00u-missing"); !errors.Is(err, account.ErrUserNotFound) {
			t.Errorf("ResetFactors of a missing user: %v", err)
		}
	})
}

func TestNewRequiresAStore(t *testing.T) {
	if _, err := account.New(account.Deps{}); err == nil {
		t.Error("New without a store succeeded")
	}
}
