package cli

import (
	"bytes"
	"encoding/json"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/account"
	"github.com/gatehouse-id/gatehouse/engine/authn/totp"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/keyseal"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// usersArgs are the arguments that point gatehouse users at h's database and, on
// PostgreSQL, at its key-encryption key (SQLite's is found next to the database).
func usersArgs(h *enginetest.Harness, args ...string) []string {
	out := []string{"users", "--database", h.Config.Database}
	if driver, _, _ := config.ParseDatabase(h.Config.Database); driver == "postgres" {
		out = append(out, "--encryption-key-file", h.Config.Keys.EncryptionKeyFile)
	}
	return append(out, args...)
}

var (
	keyURILine = regexp.MustCompile(`(?m)^key URI: (otpauth://\S+)$`)
	secretLine = regexp.MustCompile(`(?m)^secret:  ([A-Z2-7]{32})$`)
)

// addTOTP runs users add-totp for login and returns the secret it printed, after
// checking that the key URI carries it.
func addTOTP(t *testing.T, h *enginetest.Harness, login string, extra ...string) (secret, keyURI string) {
	t.Helper()
	r := run(t, "", usersArgs(h, append([]string{"add-totp", login}, extra...)...)...)
	uri, sec := keyURILine.FindStringSubmatch(r.stdout), secretLine.FindStringSubmatch(r.stdout)
	if r.code != 0 || uri == nil || sec == nil || !strings.Contains(r.stdout, "enrolled an authenticator app for "+strings.ToLower(login)) {
		t.Fatalf("add-totp %s: %+v", login, r)
	}
	u, err := url.Parse(uri[1])
	if err != nil || u.Query().Get("secret") != sec[1] {
		t.Fatalf("the key URI %s does not carry the printed secret %s", uri[1], sec[1])
	}
	return sec[1], uri[1]
}

// totpWorks reports whether the engine's database and key-encryption key accept a
// code of secret for login now, as a sign-in would check it (the step is then used).
func totpWorks(t *testing.T, st store.Store, cfg config.Config, login, secret string) bool {
	t.Helper()
	sealer, err := keyseal.FromConfig(cfg.Keys, cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := account.New(account.Deps{Store: st, Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.GetUserByLogin(t.Context(), login)
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.Code(secret, totp.Step(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	ok, err := acct.VerifyTOTP(t.Context(), u.ID, code)
	if err != nil {
		t.Fatalf("VerifyTOTP for %s: %v", login, err)
	}
	return ok
}

// add-totp enrolls an authenticator app whose secret the engine's key opens and
// whose codes are accepted once; remove-totp and reset-factors take it away; the
// command refuses what would leave a secret nobody can use.
func TestAuthenticatorAppCommands(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testAuthenticatorAppCommands(t, enginetest.Options{}) })
	t.Run("postgres", func(t *testing.T) {
		testAuthenticatorAppCommands(t, enginetest.Options{Database: enginetest.PostgresSchema(t)})
	})
}

func testAuthenticatorAppCommands(t *testing.T, o enginetest.Options) {
	h := enginetest.Start(t, o)
	const alice, bob = "alice@example.com", "bob@example.com"
	h.CreateUser(t, alice, "+12015550142")
	h.CreateUser(t, bob, "")

	qr := filepath.Join(t.TempDir(), "alice-qr.png")
	secret, uri := addTOTP(t, h, "ALICE@example.com", "--qr", qr)
	if !strings.HasPrefix(uri, "otpauth://totp/Gatehouse:alice@example.com?") || !strings.Contains(uri, "issuer=Gatehouse") {
		t.Errorf("key URI %s: want issuer Gatehouse and account %s", uri, alice)
	}
	info, err := os.Stat(qr)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("--qr file: %v %v, want mode 0600", info, err)
	}
	raw, _ := os.ReadFile(qr)
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil || img.Bounds().Dx() != totp.QRSize || img.Bounds().Dy() != totp.QRSize {
		t.Errorf("--qr file is not a %d×%d PNG: %v", totp.QRSize, totp.QRSize, err)
	}
	// The secret is stored sealed, not in the clear.
	u, _ := h.Store.GetUserByLogin(t.Context(), alice)
	enrollments, err := h.Store.ListEnrollments(t.Context(), u.ID)
	if err != nil || len(enrollments) != 1 || enrollments[0].Authenticator != "google_otp" || bytes.Contains(enrollments[0].Secret, []byte(secret)) {
		t.Fatalf("stored enrollments: %+v %v", enrollments, err)
	}
	if !totpWorks(t, h.Store, h.Config, alice, secret) {
		t.Error("a code of the printed secret is refused with the engine's key")
	}
	if totpWorks(t, h.Store, h.Config, alice, secret) {
		t.Error("the same code was accepted twice")
	}

	r := run(t, "", usersArgs(h, "show", alice, "--json")...)
	var shown userJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &shown) != nil || len(shown.Enrollments) != 1 ||
		shown.Enrollments[0].ID != enrollments[0].ID || shown.Enrollments[0].Authenticator != "google_otp" {
		t.Errorf("show --json: %+v", r)
	}
	if r := run(t, "", usersArgs(h, "show", alice)...); !regexp.MustCompile(`(?m)^authenticator app +enrollment ` + enrollments[0].ID + `, added `).MatchString(r.stdout) {
		t.Errorf("show: %+v", r)
	}

	// Refused: a second app, an existing --qr file, a key-encryption key other than
	// the engine's, an unknown user. None enrolls anything.
	if r := run(t, "", usersArgs(h, "add-totp", alice)...); r.code != 1 || !strings.Contains(r.stderr, "already has an authenticator app") {
		t.Errorf("a second add-totp: %+v", r)
	}
	if r := run(t, "", usersArgs(h, "add-totp", bob, "--qr", qr)...); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("add-totp onto an existing --qr file: %+v", r)
	}
	otherKEK := filepath.Join(t.TempDir(), "other.kek")
	if err := os.WriteFile(otherKEK, []byte(keyseal.GenerateKEK()), 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, "", "users", "--database", h.Config.Database, "--encryption-key-file", otherKEK, "add-totp", bob)
	if r.code != 1 || !strings.Contains(r.stderr, "cannot be decrypted") || strings.Contains(r.stdout, "secret") {
		t.Errorf("add-totp with another key-encryption key: %+v", r)
	}
	if r := run(t, "", usersArgs(h, "add-totp", "nobody@example.com")...); r.code != 1 || !strings.Contains(r.stderr, `no user "nobody@example.com"`) {
		t.Errorf("add-totp for an unknown user: %+v", r)
	}
	b, _ := h.Store.GetUserByLogin(t.Context(), bob)
	if l, _ := h.Store.ListEnrollments(t.Context(), b.ID); len(l) != 0 {
		t.Errorf("refused add-totp commands enrolled %+v", l)
	}

	// remove-totp, then add-totp again: a new secret; the old one is refused.
	if r := run(t, "", usersArgs(h, "remove-totp", alice)...); r.code != 0 ||
		!strings.Contains(r.stdout, "removed the authenticator app "+enrollments[0].ID+" from "+alice+"\nrevoked 0 refresh tokens of "+alice) {
		t.Errorf("remove-totp: %+v", r)
	}
	if r := run(t, "", usersArgs(h, "remove-totp", alice)...); r.code != 1 || !strings.Contains(r.stderr, alice+" has no authenticator app") {
		t.Errorf("remove-totp again: %+v", r)
	}
	second, _ := addTOTP(t, h, alice)
	if second == secret || totpWorks(t, h.Store, h.Config, alice, secret) || !totpWorks(t, h.Store, h.Config, alice, second) {
		t.Error("after remove-totp and add-totp the old secret works or the new one does not")
	}

	// reset-factors takes the phone and the app, keeps the password.
	r = run(t, "", usersArgs(h, "reset-factors", alice)...)
	if r.code != 0 || !strings.Contains(r.stdout, "removed 1 phone and 1 authenticator app from "+alice+"; the password is kept\nrevoked 0 refresh tokens") {
		t.Errorf("reset-factors: %+v", r)
	}
	if r := run(t, "", usersArgs(h, "show", alice, "--json")...); json.Unmarshal([]byte(r.stdout), &shown) != nil ||
		len(shown.Phones)+len(shown.Enrollments) != 0 || !shown.HasPassword {
		t.Errorf("show after reset-factors: %+v", r)
	}
	if r := run(t, "", usersArgs(h, "reset-factors", bob)...); r.code != 0 || !strings.Contains(r.stdout, "removed 0 phones and 0 authenticator apps from "+bob) {
		t.Errorf("reset-factors of a user without factors: %+v", r)
	}
	for _, cmd := range []string{"add-totp", "remove-totp", "reset-factors"} {
		if r := run(t, "", usersArgs(h, cmd)...); r.code != 2 {
			t.Errorf("%s without a login: %+v", cmd, r)
		}
	}
}

// The help names the new commands.
func TestUsersHelpNamesTheFactorCommands(t *testing.T) {
	r := run(t, "", "users")
	for _, want := range []string{"add-totp LOGIN [--qr FILE]", "remove-totp LOGIN", "reset-factors LOGIN", "--encryption-key-file"} {
		if r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("users help does not show %q: %+v", want, r)
		}
	}
}

// With --database postgres://… and no --encryption-key-file, add-totp says what it
// needs instead of sealing with a key the engine does not have.
func TestAddTOTPNeedsTheKEKOnPostgres(t *testing.T) {
	db := enginetest.PostgresSchema(t)
	if r := run(t, "", "migrate", "--database", db); r.code != 0 {
		t.Fatalf("migrate: %+v", r)
	}
	if r := run(t, "s3cret-password\n", "users", "--database", db, "create", "carol@example.com", "--password-stdin"); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	r := run(t, "", "users", "--database", db, "add-totp", "carol@example.com")
	if r.code != 1 || !strings.Contains(r.stderr, "--encryption-key-file") || strings.Contains(r.stdout, "secret") {
		t.Errorf("add-totp on PostgreSQL without a key: %+v", r)
	}
}
