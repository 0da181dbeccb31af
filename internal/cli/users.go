package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/gatehouse-id/gatehouse/engine"
	"github.com/gatehouse-id/gatehouse/engine/account"
	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/authn/totp"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/keyseal"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

const usersUsage = `gatehouse users [--config FILE | --database DSN] COMMAND [flags] ARGS

Commands:
  create LOGIN [--email E] [--given-name G] [--family-name F] [--locale L] [--phone NUMBER] [--password-stdin]
  list [--after LOGIN] [--limit N] [--json]
  show LOGIN [--json]
  set-password LOGIN [--password-stdin]
  disable LOGIN | enable LOGIN
  suspend LOGIN | unsuspend LOGIN
  expire-password LOGIN
  delete LOGIN
  add-phone LOGIN NUMBER [--sms=false] [--voice=false] [--region US]
  remove-phone LOGIN NUMBER|ENROLLMENT_ID
  add-totp LOGIN [--qr FILE]
  remove-totp LOGIN
  reset-factors LOGIN
  unlock LOGIN
  revoke-tokens LOGIN

revoke-tokens signs the user out of every app: their refresh tokens stop working,
and every access token issued to them until now is refused by userinfo and reported
inactive by introspection. set-password, disable, delete, remove-phone,
remove-totp, reset-factors and suspend do the same after their change.

A user is active, staged (created through the management API without
activation), suspended, deprovisioned (disable) or has an expired password.
Only active users and those whose password expired may sign in; enable lets
staged, suspended and deprovisioned users sign in again, unsuspend only
suspended ones. expire-password makes the next sign-in ask for a new password
once the current one is given.

add-totp enrolls an authenticator app (Google Authenticator or any app for
time-based codes) for the user and prints its otpauth:// key URI and shared
secret, once: hand them to the user over a safe channel, or write the QR code
the app scans to a PNG file with --qr FILE (created with mode 0600; an existing
file is kept). The secret is stored sealed under the key-encryption key: the
configuration's keys.encryption_key_file or keys.encryption_key_env, or with
--database sqlite:PATH the file PATH.kek next to the database (made if missing,
as the engine does), or --encryption-key-file. A user has at most one app;
remove-totp removes it. reset-factors removes every phone and authenticator app
of the user, keeping the password: their next sign-in enrolls anew.

show also prints the user's limit counters: password checks from sources that never
signed in as the user, wrong codes and the phone lockout, codes sent today. unlock
clears the password-check counters of LOGIN (from every source) and the phone
lockout; it does not raise the per-address or per-number limits.

LOGIN is the sign-in name (usually an email address), matched case-insensitively.
Passwords are read from a prompt, or from the first line of standard input with
--password-stdin; never from the command line, where other users could see them.
A password has at least 8 characters and at most 1024 bytes.
Phone numbers are validated and stored in E.164; premium-rate, shared-cost,
toll-free, UAN, voicemail, personal, pager and satellite numbers are refused, and
with --config so are numbers outside phone.allowed_regions or in
phone.blocked_regions.
`

type usersCmd struct {
	env
	st     store.Store
	params password.Params
	region string
	// phoneRules are the configuration's phone.allowed_regions and
	// blocked_regions; empty with --database.
	phoneRules phone.Rules
	// cfg gives the limits show reports against, the product name and the
	// key-encryption key: the configuration's, or the defaults with --database.
	cfg config.Config
	now func() time.Time
}

func (e env) users(ctx context.Context, args []string) error {
	fs := e.newFlagSet("users", usersUsage)
	fs.Usage = func() { fmt.Fprint(e.stderr, "Usage: "+usersUsage+"\nGlobal flags:\n"); fs.PrintDefaults() }
	configPath := fs.String("config", "", "configuration file; its database, keys, password_hashing, phone and sign_on are used (and checked)")
	database := fs.String("database", "", "database instead of --config: sqlite:PATH or postgres://…")
	kekFile := fs.String("encryption-key-file", "", "with --database: the key-encryption key file add-totp seals with (default for SQLite: PATH.kek)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 || (*configPath == "") == (*database == "") || (*kekFile != "" && *configPath != "") {
		fs.Usage()
		return errUsage
	}
	u := usersCmd{env: e, params: password.DefaultParams, region: "US", cfg: config.Defaults(), now: func() time.Time { return time.Now().Truncate(time.Millisecond) }}
	u.cfg.Database, u.cfg.Keys.EncryptionKeyFile = *database, *kekFile
	if *configPath != "" {
		cfg, err := config.LoadFor(*configPath, config.ForAdmin)
		if err != nil {
			return err
		}
		u.params, u.region, u.cfg = cfg.PasswordHashing.Params(), cfg.Phone.DefaultRegion, cfg
		u.phoneRules = phone.Rules{AllowedRegions: cfg.Phone.AllowedRegions, BlockedRegions: cfg.Phone.BlockedRegions}
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	// What the commands change is in the system log, done by the command line, and
	// reaches the configuration's event hooks (by name: the server delivers).
	ctx = eventlog.WithActor(eventlog.With(ctx, engine.EventRecorder(u.cfg, u.now)), eventlog.CommandLine)
	st, err := openAdminStore(ctx, u.cfg.Database, cmd != "list" && cmd != "show")
	if err != nil {
		return err
	}
	defer st.Close()
	u.st = st
	switch cmd {
	case "create":
		return u.create(ctx, rest)
	case "list":
		return u.list(ctx, rest)
	case "show":
		return u.show(ctx, rest)
	case "set-password":
		return u.setPassword(ctx, rest)
	case "disable", "enable":
		return u.setDisabled(ctx, rest, cmd == "disable")
	case "suspend", "unsuspend", "expire-password":
		return u.lifecycle(ctx, cmd, rest)
	case "delete":
		return u.delete(ctx, rest)
	case "add-phone":
		return u.addPhone(ctx, rest)
	case "remove-phone":
		return u.removePhone(ctx, rest)
	case "add-totp":
		return u.addTOTP(ctx, rest)
	case "remove-totp":
		return u.removeTOTP(ctx, rest)
	case "reset-factors":
		return u.resetFactors(ctx, rest)
	case "unlock":
		return u.unlock(ctx, rest)
	case "revoke-tokens":
		return u.revokeTokens(ctx, rest)
	default:
		fmt.Fprintf(e.stderr, "gatehouse users: unknown command %q\n\n", cmd)
		fs.Usage()
		return errUsage
	}
}

// service is the account service the commands change users through. Only the
// commands that need them pay for a password hasher (hasher) and the
// key-encryption key (sealer).
func (u usersCmd) service(hasher *password.Hasher, sealer *keyseal.Sealer) (*account.Service, error) {
	return account.New(account.Deps{Store: u.st, Hasher: hasher, Sealer: sealer, PhoneRules: u.phoneRules,
		DefaultRegion: u.region, ProductName: u.cfg.ProductName, Now: u.now})
}

// hasher hashes with the configuration's argon2id parameters, one at a time.
func (u usersCmd) hasher() (*password.Hasher, error) {
	return password.NewHasher(u.params, 1, 1)
}

// sealer returns the key-encryption key the engine seals with, and checks it
// against the secrets the engine stored: a secret sealed under another key would
// not open in the engine.
func (u usersCmd) sealer(ctx context.Context) (*keyseal.Sealer, error) {
	s, err := keyseal.FromConfig(u.cfg.Keys, u.cfg.Database)
	if err != nil {
		return nil, fmt.Errorf("the authenticator app's secret is sealed with the key-encryption key: %w (with --database, --encryption-key-file names it)", err)
	}
	secrets, err := u.st.ListSecrets(ctx)
	if err != nil {
		return nil, err
	}
	for _, sec := range secrets {
		if !sec.Sealed {
			continue
		}
		if _, err := s.Open(sec.Value, keyseal.SecretAD(sec.Name)); err != nil {
			return nil, s.OpenError("the secret "+sec.Name, err)
		}
	}
	return s, nil
}

// args parses fs from args, which may mix flags and positional arguments
// ("create alice --email …"), and requires exactly n positional arguments.
func (u usersCmd) args(fs *flag.FlagSet, args []string, n int) ([]string, error) {
	return parseArgs(fs, args, n)
}

// parseArgs parses fs from args, which may mix flags and positional arguments, and
// requires exactly n positional arguments.
func parseArgs(fs *flag.FlagSet, args []string, n int) ([]string, error) {
	var positional, flags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			flags = append(flags, a)
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if f := fs.Lookup(name); f != nil && !hasValue && !isBoolFlag(f) && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		positional = append(positional, a)
	}
	if err := parse(fs, flags); err != nil {
		return nil, err
	}
	if len(positional) != n {
		fs.Usage()
		return nil, errUsage
	}
	return positional, nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func (u usersCmd) findUser(ctx context.Context, login string) (store.User, error) {
	user, err := u.st.GetUserByLogin(ctx, account.NormalizeLogin(login))
	if errors.Is(err, store.ErrNotFound) {
		// Ids work too, for scripts that kept one.
		if user, err = u.st.GetUser(ctx, login); err == nil {
			return user, nil
		}
		return store.User{}, fmt.Errorf("no user %q", login)
	}
	return user, err
}

// userArg parses a subcommand's flags and arguments, whose first argument names a
// user, and looks that user up. extra is how many arguments follow the user's;
// they are returned after the user.
func (u usersCmd) userArg(ctx context.Context, fs *flag.FlagSet, args []string, extra int) (store.User, []string, error) {
	pos, err := u.args(fs, args, 1+extra)
	if err != nil {
		return store.User{}, nil, err
	}
	user, err := u.findUser(ctx, pos[0])
	if err != nil {
		return store.User{}, nil, err
	}
	return user, pos[1:], nil
}

func (u usersCmd) create(ctx context.Context, args []string) error {
	fs := u.newFlagSet("users create", "users create LOGIN [flags]")
	email := fs.String("email", "", "email address (default: the login, if it looks like one)")
	given := fs.String("given-name", "", "given (first) name")
	family := fs.String("family-name", "", "family (last) name")
	locale := fs.String("locale", "", "BCP 47 locale, e.g. en-US")
	number := fs.String("phone", "", "enroll this phone for SMS and voice codes")
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	pos, err := u.args(fs, args, 1)
	if err != nil {
		return err
	}
	// The login and the number are checked before the password is asked for.
	login, err := account.ParseLogin(pos[0])
	if err != nil {
		return err
	}
	acct, err := u.service(nil, nil)
	if err != nil {
		return err
	}
	if *number != "" {
		if _, err := acct.ParsePhone(*number, ""); err != nil {
			return phoneFlagError(err)
		}
	}
	pw, err := u.readPassword(*stdin)
	if err != nil {
		return err
	}
	hasher, err := u.hasher()
	if err != nil {
		return err
	}
	if acct, err = u.service(hasher, nil); err != nil {
		return err
	}
	user, err := acct.Create(ctx, account.NewUser{Login: login, Email: *email, GivenName: *given, FamilyName: *family,
		Locale: *locale, Password: pw, Phone: *number})
	switch {
	case errors.Is(err, account.ErrLoginTaken):
		return fmt.Errorf("a user with login %q exists already", login)
	case err != nil:
		return phoneFlagError(err)
	}
	fmt.Fprintf(u.stdout, "created %s (id %s)\n", user.Login, user.ID)
	return nil
}

// phoneFlagError says which flag a refused number came from.
func phoneFlagError(err error) error {
	if pe, ok := errors.AsType[*account.PhoneNumberError](err); ok {
		return fmt.Errorf("--phone %q: %w", pe.Input, pe.Err)
	}
	return err
}

// readPassword reads a new password from stdin or a terminal prompt (typed twice).
func (u usersCmd) readPassword(fromStdin bool) (string, error) {
	var pw string
	switch {
	case fromStdin:
		line, err := bufio.NewReader(u.stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", errors.New("--password-stdin: nothing on standard input")
		}
		pw = strings.TrimRight(line, "\r\n")
	default:
		f, ok := u.stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return "", errors.New("no terminal to ask for the password: pass it on standard input with --password-stdin")
		}
		fmt.Fprint(u.stderr, "New password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(u.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(u.stderr, "Repeat it: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(u.stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ")
		}
		pw = string(a)
	}
	if err := account.Policy.Check(pw); err != nil {
		return "", err
	}
	return pw, nil
}

type userJSON struct {
	ID         string `json:"id"`
	Login      string `json:"login"`
	Email      string `json:"email,omitempty"`
	GivenName  string `json:"given_name,omitempty"`
	FamilyName string `json:"family_name,omitempty"`
	Locale     string `json:"locale,omitempty"`
	Disabled   bool   `json:"disabled"`
	// Status is the lifecycle state (store.UserStatus); Disabled says whether it
	// refuses sign-in.
	Status      string      `json:"status"`
	HasPassword bool        `json:"has_password"`
	Phones      []phoneJSON `json:"phones"`
	// Enrollments are the user's other authenticators (authenticator apps).
	Enrollments []enrollmentJSON `json:"enrollments"`
	CreatedAt   time.Time        `json:"created_at"`
	Limits      *limitsJSON      `json:"limits,omitempty"`
}

// limitsJSON are a user's limit counters as show reports them.
type limitsJSON struct {
	UnknownSourcePasswordChecks int       `json:"unknown_source_password_checks"`
	UnknownSourcePasswordMax    int       `json:"unknown_source_password_max"`
	WrongCodes                  int       `json:"wrong_codes"`
	PhoneLockedUntil            time.Time `json:"phone_locked_until,omitzero"`
	CodesSentToday              int       `json:"codes_sent_today"`
	CodesSentTodayMax           int       `json:"codes_sent_today_max"`
	CodesToNewNumbersToday      int       `json:"codes_to_new_numbers_today"`
	CodesToNewNumbersTodayMax   int       `json:"codes_to_new_numbers_today_max"`
}

func (u usersCmd) limitCounters(ctx context.Context, user store.User) (*limitsJSON, error) {
	l := throttle.New(u.st, u.now)
	day := 24 * time.Hour
	out := &limitsJSON{UnknownSourcePasswordMax: u.cfg.SignOn.UnknownSourcePasswordChecks,
		CodesSentTodayMax: u.cfg.Phone.MaxSendsPerUserPerDay, CodesToNewNumbersTodayMax: u.cfg.Phone.MaxUnverifiedSendsPerUserPerDay}
	var err error
	if out.UnknownSourcePasswordChecks, _, err = l.Count(ctx, throttle.PasswordFromUnknownSources(user.Login), throttle.Limit{Max: out.UnknownSourcePasswordMax, Window: time.Hour}); err != nil {
		return nil, err
	}
	if out.CodesSentToday, _, err = l.Count(ctx, throttle.SendsForUser(user.ID), throttle.Limit{Window: day}); err != nil {
		return nil, err
	}
	if out.CodesToNewNumbersToday, _, err = l.Count(ctx, throttle.UnverifiedSendsForUser(user.ID), throttle.Limit{Window: day}); err != nil {
		return nil, err
	}
	otp, err := u.st.GetThrottle(ctx, throttle.PhoneAttempts(user.ID).String())
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		out.WrongCodes = otp.Count
		if u.now().Before(otp.BlockedUntil) {
			out.PhoneLockedUntil = otp.BlockedUntil
		}
	}
	return out, nil
}

func (u usersCmd) unlock(ctx context.Context, args []string) error {
	fs := u.newFlagSet("users unlock", "users unlock LOGIN")
	user, _, err := u.userArg(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	acct, err := u.service(nil, nil)
	if err != nil {
		return err
	}
	r, err := acct.Unlock(ctx, user.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(u.stdout, "unlocked %s: cleared %d password-check counters and %d phone lockout\n", user.Login, r.PasswordCounters, r.PhoneLockouts)
	return nil
}

// lifecycle runs suspend, unsuspend and expire-password, the account package's
// lifecycle operations the management API runs too.
func (u usersCmd) lifecycle(ctx context.Context, cmd string, args []string) error {
	fs := u.newFlagSet("users "+cmd, "users "+cmd+" LOGIN")
	user, _, err := u.userArg(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	acct, err := u.service(nil, nil)
	if err != nil {
		return err
	}
	switch cmd {
	case "suspend":
		_, n, err := acct.Suspend(ctx, user.ID)
		return u.changed(user, "suspended "+user.Login, n, err)
	case "unsuspend":
		if _, err := acct.Unsuspend(ctx, user.ID); err != nil {
			return err
		}
		fmt.Fprintf(u.stdout, "unsuspended %s\n", user.Login)
	default:
		if _, err := acct.ExpirePassword(ctx, user.ID); err != nil {
			return err
		}
		fmt.Fprintf(u.stdout, "expired the password of %s: their next sign-in asks for a new one\n", user.Login)
	}
	return nil
}

type phoneJSON struct {
	ID     string   `json:"id"`
	Number string   `json:"number"`
	Method []string `json:"methods"`
}

type enrollmentJSON struct {
	ID            string    `json:"id"`
	Authenticator string    `json:"authenticator"`
	CreatedAt     time.Time `json:"created_at"`
}

func (u usersCmd) describe(ctx context.Context, user store.User) (userJSON, error) {
	out := userJSON{ID: user.ID, Login: user.Login, Email: user.Email, GivenName: user.GivenName,
		FamilyName: user.FamilyName, Locale: user.Locale, Disabled: user.Disabled, Status: string(user.State()), CreatedAt: user.CreatedAt,
		Phones: []phoneJSON{}, Enrollments: []enrollmentJSON{}}
	_, err := u.st.GetPassword(ctx, user.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return out, err
	}
	out.HasPassword = err == nil
	phones, err := u.st.ListPhoneEnrollments(ctx, user.ID)
	if err != nil {
		return out, err
	}
	for _, p := range phones {
		var m []string
		if p.SMS {
			m = append(m, "sms")
		}
		if p.Voice {
			m = append(m, "voice")
		}
		out.Phones = append(out.Phones, phoneJSON{ID: p.ID, Number: p.Number, Method: m})
	}
	enrollments, err := u.st.ListEnrollments(ctx, user.ID)
	if err != nil {
		return out, err
	}
	for _, e := range enrollments {
		out.Enrollments = append(out.Enrollments, enrollmentJSON{ID: e.ID, Authenticator: e.Authenticator, CreatedAt: e.CreatedAt})
	}
	return out, nil
}

func (u usersCmd) list(ctx context.Context, args []string) error {
	fs := u.newFlagSet("users list", "users list [flags]")
	after := fs.String("after", "", "start after this login (for paging)")
	limit := fs.Int("limit", 100, "at most this many users")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := u.args(fs, args, 0); err != nil {
		return err
	}
	users, err := u.st.ListUsers(ctx, store.ListUsersOptions{AfterLogin: account.NormalizeLogin(*after), Limit: *limit})
	if err != nil {
		return err
	}
	var rows []userJSON
	for _, user := range users {
		d, err := u.describe(ctx, user)
		if err != nil {
			return err
		}
		rows = append(rows, d)
	}
	if *asJSON {
		if rows == nil {
			rows = []userJSON{}
		}
		return json.NewEncoder(u.stdout).Encode(rows)
	}
	tw := tabwriter.NewWriter(u.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOGIN\tID\tNAME\tPHONES\tSTATUS")
	for _, d := range rows {
		var nums []string
		for _, p := range d.Phones {
			nums = append(nums, p.Number)
		}
		status := strings.ToLower(strings.ReplaceAll(d.Status, "_", " "))
		if d.Disabled {
			status += " (disabled)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Login, d.ID, strings.TrimSpace(d.GivenName+" "+d.FamilyName), strings.Join(nums, ", "), status)
	}
	return tw.Flush()
}

func (u usersCmd) show(ctx context.Context, args []string) error {
	fs := u.newFlagSet("users show", "users show LOGIN [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	user, _, err := u.userArg(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	d, err := u.describe(ctx, user)
	if err != nil {
		return err
	}
	if d.Limits, err = u.limitCounters(ctx, user); err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(u.stdout).Encode(d)
	}
	tw := tabwriter.NewWriter(u.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "login\t%s\nid\t%s\nemail\t%s\nname\t%s\nlocale\t%s\nstatus\t%s\ndisabled\t%v\npassword\t%s\ncreated\t%s\n",
		d.Login, d.ID, d.Email, strings.TrimSpace(d.GivenName+" "+d.FamilyName), d.Locale, d.Status, d.Disabled,
		map[bool]string{true: "set", false: "not set"}[d.HasPassword], d.CreatedAt.Format(time.RFC3339))
	for _, p := range d.Phones {
		fmt.Fprintf(tw, "phone\t%s (%s; enrollment %s)\n", p.Number, strings.Join(p.Method, ", "), p.ID)
	}
	for _, e := range d.Enrollments {
		what := e.Authenticator
		if what == totp.AuthenticatorKey {
			what = "authenticator app"
		}
		fmt.Fprintf(tw, "%s\tenrollment %s, added %s\n", what, e.ID, e.CreatedAt.Format(time.RFC3339))
	}
	lim := d.Limits
	fmt.Fprintf(tw, "password checks from unknown sources (hour)\t%d of %d\n", lim.UnknownSourcePasswordChecks, lim.UnknownSourcePasswordMax)
	locked := "no"
	if !lim.PhoneLockedUntil.IsZero() {
		locked = "until " + lim.PhoneLockedUntil.Format(time.RFC3339)
	}
	fmt.Fprintf(tw, "wrong codes\t%d (phone locked: %s)\n", lim.WrongCodes, locked)
	fmt.Fprintf(tw, "codes sent (24h)\t%d of %d; to new numbers %d of %d\n", lim.CodesSentToday, lim.CodesSentTodayMax,
		lim.CodesToNewNumbersToday, lim.CodesToNewNumbersTodayMax)
	return tw.Flush()
}

func (u usersCmd) setPassword(ctx context.Context, args []string) error {
	fs := u.newFlagSet("users set-password", "users set-password LOGIN [--password-stdin]")
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	user, _, err := u.userArg(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	pw, err := u.readPassword(*stdin)
	if err != nil {
		return err
	}
	hasher, err := u.hasher()
	if err != nil {
		return err
	}
	acct, err := u.service(hasher, nil)
	if err != nil {
		return err
	}
	n, err := acct.SetPassword(ctx, user.ID, pw)
	return u.changed(user, fmt.Sprintf("password set for %s", user.Login), n, err)
}

// changed reports a change that signs the user out everywhere: what was done, then
// the revocation (account.ErrNotSignedOut: the change was made, the revocation
// failed).
func (u usersCmd) changed(user store.User, done string, revoked int64, err error) error {
	if err != nil && !errors.Is(err, account.ErrNotSignedOut) {
		return err
	}
	fmt.Fprintln(u.stdout, done)
	if err != nil {
		return fmt.Errorf("revoking the tokens of %s: %w", user.Login, err)
	}
	u.printRevoked(user, revoked)
	return nil
}

func (u usersCmd) setDisabled(ctx context.Context, args []string, disabled bool) error {
	verb := map[bool]string{true: "disable", false: "enable"}[disabled]
	fs := u.newFlagSet("users "+verb, "users "+verb+" LOGIN")
	user, _, err := u.userArg(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	acct, err := u.service(nil, nil)
	if err != nil {
		return err
	}
	if !disabled {
		if err := acct.Enable(ctx, user.ID); err != nil {
			return err
		}
		fmt.Fprintf(u.stdout, "enabled %s\n", user.Login)
		return nil
	}
	n, err := acct.Disable(ctx, user.ID)
	return u.changed(user, "disabled "+user.Login, n, err)
}

func (u usersCmd) delete(ctx context.Context, args []string) error {
	fs := u.newFlagSet("users delete", "users delete LOGIN")
	user, _, err := u.userArg(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	acct, err := u.service(nil, nil)
	if err != nil {
		return err
	}
	if err := acct.Delete(ctx, user.ID); err != nil {
		return err
	}
	fmt.Fprintf(u.stdout, "deleted %s with their password, phones and tokens\n", user.Login)
	return nil
}

func (u usersCmd) addPhone(ctx context.Context, args []string) error {
	fs := u.newFlagSet("users add-phone", "users add-phone LOGIN NUMBER [flags]")
	sms := fs.Bool("sms", true, "codes may be texted to this phone")
	voice := fs.Bool("voice", true, "codes may be read out in a call to this phone")
	region := fs.String("region", "", "country of numbers given without +country code (default: the configuration's phone.default_region, else US)")
	// Not userArg: the flags are checked before the user is looked up, so that
	// this usage mistake is reported whatever the login.
	pos, err := u.args(fs, args, 2)
	if err != nil {
		return err
	}
	if !*sms && !*voice {
		return errors.New("a phone needs --sms or --voice (or both)")
	}
	user, err := u.findUser(ctx, pos[0])
	if err != nil {
		return err
	}
	acct, err := u.service(nil, nil)
	if err != nil {
		return err
	}
	e, err := acct.AddPhone(ctx, user.ID, pos[1], account.PhoneOptions{SMS: *sms, Voice: *voice, Region: *region})
	if errors.Is(err, account.ErrPhoneTaken) {
		return fmt.Errorf("%s already has %s", user.Login, e.Number)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(u.stdout, "enrolled %s for %s (enrollment %s)\n", e.Number, user.Login, e.ID)
	return nil
}

func (u usersCmd) removePhone(ctx context.Context, args []string) error {
	fs := u.newFlagSet("users remove-phone", "users remove-phone LOGIN NUMBER|ENROLLMENT_ID")
	user, rest, err := u.userArg(ctx, fs, args, 1)
	if err != nil {
		return err
	}
	acct, err := u.service(nil, nil)
	if err != nil {
		return err
	}
	p, n, err := acct.RemovePhone(ctx, user.ID, rest[0])
	if errors.Is(err, account.ErrNoSuchPhone) {
		return fmt.Errorf("%s has no phone %q", user.Login, rest[0])
	}
	return u.changed(user, fmt.Sprintf("removed %s from %s", p.Number, user.Login), n, err)
}

func (u usersCmd) addTOTP(ctx context.Context, args []string) error {
	fs := u.newFlagSet("users add-totp", "users add-totp LOGIN [--qr FILE]")
	qrFile := fs.String("qr", "", "also write the QR code the app scans to this PNG file (mode 0600; must not exist)")
	user, _, err := u.userArg(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	if *qrFile != "" {
		if _, err := os.Lstat(*qrFile); err == nil {
			return fmt.Errorf("--qr %s exists; choose another name", *qrFile)
		}
	}
	sealer, err := u.sealer(ctx)
	if err != nil {
		return err
	}
	acct, err := u.service(nil, sealer)
	if err != nil {
		return err
	}
	enr, err := acct.AddTOTP(ctx, user.ID)
	if errors.Is(err, account.ErrTOTPEnrolled) {
		return fmt.Errorf("%s already has an authenticator app; remove it first with gatehouse users remove-totp", user.Login)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(u.stdout, "enrolled an authenticator app for %s (enrollment %s)\n", user.Login, enr.Enrollment.ID)
	fmt.Fprintf(u.stdout, "key URI: %s\nsecret:  %s\n", enr.Key.URI, enr.Key.Secret)
	fmt.Fprintln(u.stdout, "They are shown this once: give them to the user over a safe channel.")
	if *qrFile == "" {
		return nil
	}
	png, err := totp.QRCodePNG(enr.Key.URI)
	if err == nil {
		err = writeNewFile(*qrFile, png)
	}
	if err != nil {
		return fmt.Errorf("the app is enrolled, but its QR code was not written: %w", err)
	}
	fmt.Fprintf(u.stdout, "wrote the QR code to %s\n", *qrFile)
	return nil
}

// writeNewFile writes data to a file that must not exist yet, readable only by its
// owner.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (u usersCmd) removeTOTP(ctx context.Context, args []string) error {
	fs := u.newFlagSet("users remove-totp", "users remove-totp LOGIN")
	user, _, err := u.userArg(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	acct, err := u.service(nil, nil)
	if err != nil {
		return err
	}
	e, n, err := acct.RemoveTOTP(ctx, user.ID)
	if errors.Is(err, account.ErrNoTOTP) {
		return fmt.Errorf("%s has no authenticator app", user.Login)
	}
	return u.changed(user, fmt.Sprintf("removed the authenticator app %s from %s", e.ID, user.Login), n, err)
}

func (u usersCmd) resetFactors(ctx context.Context, args []string) error {
	fs := u.newFlagSet("users reset-factors", "users reset-factors LOGIN")
	user, _, err := u.userArg(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	acct, err := u.service(nil, nil)
	if err != nil {
		return err
	}
	r, err := acct.ResetFactors(ctx, user.ID)
	if err != nil && len(r.Phones)+len(r.Enrollments) == 0 {
		return err
	}
	return u.changed(user, fmt.Sprintf("removed %s and %s from %s; the password is kept",
		plural(len(r.Phones), "phone", "phones"), plural(len(r.Enrollments), "authenticator app", "authenticator apps"), user.Login),
		r.Revoked, err)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (u usersCmd) revokeTokens(ctx context.Context, args []string) error {
	fs := u.newFlagSet("users revoke-tokens", "users revoke-tokens LOGIN")
	user, _, err := u.userArg(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	acct, err := u.service(nil, nil)
	if err != nil {
		return err
	}
	n, err := acct.SignOut(ctx, user.ID)
	if err != nil {
		return fmt.Errorf("revoking the tokens of %s: %w", user.Login, err)
	}
	u.printRevoked(user, n)
	return nil
}

// printRevoked says how many refresh tokens signing the user out ended.
func (u usersCmd) printRevoked(user store.User, n int64) {
	fmt.Fprintf(u.stdout, "revoked %d refresh %s of %s, and every access token issued to them until now\n",
		n, map[bool]string{true: "token", false: "tokens"}[n == 1], user.Login)
}
