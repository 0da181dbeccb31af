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
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
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
  delete LOGIN
  add-phone LOGIN NUMBER [--sms=false] [--voice=false] [--region US]
  remove-phone LOGIN NUMBER|ENROLLMENT_ID
  unlock LOGIN
  revoke-tokens LOGIN

revoke-tokens signs the user out of every app: their refresh tokens stop working,
and every access token issued to them until now is refused by userinfo and reported
inactive by introspection. set-password, disable, delete and remove-phone do the
same after their change.

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

// minPasswordLen follows NIST SP 800-63B 5.1.1.2.
const minPasswordLen = 8

type usersCmd struct {
	env
	st     store.Store
	params password.Params
	region string
	// phoneRules are the configuration's phone.allowed_regions and
	// blocked_regions; empty with --database.
	phoneRules phone.Rules
	// cfg gives the limits show reports against: the configuration's, or the
	// defaults with --database.
	cfg config.Config
	now func() time.Time
}

func (e env) users(ctx context.Context, args []string) error {
	fs := e.newFlagSet("users", usersUsage)
	fs.Usage = func() { fmt.Fprint(e.stderr, "Usage: "+usersUsage+"\nGlobal flags:\n"); fs.PrintDefaults() }
	configPath := fs.String("config", "", "configuration file; its database, keys, password_hashing, phone and sign_on are used (and checked)")
	database := fs.String("database", "", "database instead of --config: sqlite:PATH or postgres://…")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 || (*configPath == "") == (*database == "") {
		fs.Usage()
		return errUsage
	}
	u := usersCmd{env: e, params: password.DefaultParams, region: "US", cfg: config.Defaults(), now: func() time.Time { return time.Now().Truncate(time.Millisecond) }}
	dsn := *database
	if *configPath != "" {
		cfg, err := config.LoadFor(*configPath, config.ForAdmin)
		if err != nil {
			return err
		}
		dsn, u.params, u.region, u.cfg = cfg.Database, cfg.PasswordHashing.Params(), cfg.Phone.DefaultRegion, cfg
		u.phoneRules = phone.Rules{AllowedRegions: cfg.Phone.AllowedRegions, BlockedRegions: cfg.Phone.BlockedRegions}
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	st, err := openAdminStore(ctx, dsn, cmd != "list" && cmd != "show")
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
	case "delete":
		return u.delete(ctx, rest)
	case "add-phone":
		return u.addPhone(ctx, rest)
	case "remove-phone":
		return u.removePhone(ctx, rest)
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
	user, err := u.st.GetUserByLogin(ctx, normalizeLogin(login))
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

func normalizeLogin(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

func validateLogin(login string) error {
	switch {
	case login == "":
		return errors.New("the login must not be empty")
	case len(login) > 256 || !utf8.ValidString(login):
		return errors.New("the login must be valid text of at most 256 bytes")
	case strings.ContainsAny(login, " \t\r\n"):
		return errors.New("the login must not contain spaces")
	}
	return nil
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
	login := normalizeLogin(pos[0])
	if err := validateLogin(login); err != nil {
		return err
	}
	if *email == "" && strings.Contains(login, "@") {
		*email = login
	}
	var e164 string
	if *number != "" {
		if e164, err = u.phoneRules.Parse(*number, u.region); err != nil {
			return fmt.Errorf("--phone %q: %w", *number, err)
		}
	}
	pw, err := u.readPassword(*stdin)
	if err != nil {
		return err
	}
	hash, err := password.HashWith(u.params, pw)
	if err != nil {
		return err
	}
	now := u.now()
	rec := store.UserRecord{
		User: store.User{ID: opaque.ID("00u"), Login: login, Email: *email, GivenName: *given, FamilyName: *family,
			Locale: *locale, CreatedAt: now, UpdatedAt: now},
	}
	rec.Password = &store.PasswordCredential{UserID: rec.User.ID, Hash: hash, UpdatedAt: now}
	if e164 != "" {
		rec.Phones = []store.PhoneEnrollment{{ID: opaque.ID("sms"), UserID: rec.User.ID, Number: e164, SMS: true, Voice: true, CreatedAt: now}}
	}
	if err := u.st.ImportUsers(ctx, []store.UserRecord{rec}); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("a user with login %q exists already", login)
		}
		return err
	}
	fmt.Fprintf(u.stdout, "created %s (id %s)\n", login, rec.User.ID)
	return nil
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
	if utf8.RuneCountInString(pw) < minPasswordLen {
		return "", fmt.Errorf("the password must have at least %d characters", minPasswordLen)
	}
	if len(pw) > password.MaxPasswordBytes {
		return "", fmt.Errorf("the password must have at most %d bytes", password.MaxPasswordBytes)
	}
	return pw, nil
}

type userJSON struct {
	ID          string      `json:"id"`
	Login       string      `json:"login"`
	Email       string      `json:"email,omitempty"`
	GivenName   string      `json:"given_name,omitempty"`
	FamilyName  string      `json:"family_name,omitempty"`
	Locale      string      `json:"locale,omitempty"`
	Disabled    bool        `json:"disabled"`
	HasPassword bool        `json:"has_password"`
	Phones      []phoneJSON `json:"phones"`
	CreatedAt   time.Time   `json:"created_at"`
	Limits      *limitsJSON `json:"limits,omitempty"`
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
	l := throttle.New(u.st, u.now)
	n, err := l.ResetPasswordChecks(ctx, user.Login)
	if err != nil {
		return err
	}
	m, err := u.st.DeleteThrottles(ctx, throttle.PhoneAttempts(user.ID).String())
	if err != nil {
		return err
	}
	fmt.Fprintf(u.stdout, "unlocked %s: cleared %d password-check counters and %d phone lockout\n", user.Login, n, m)
	return nil
}

type phoneJSON struct {
	ID     string   `json:"id"`
	Number string   `json:"number"`
	Method []string `json:"methods"`
}

func (u usersCmd) describe(ctx context.Context, user store.User) (userJSON, error) {
	out := userJSON{ID: user.ID, Login: user.Login, Email: user.Email, GivenName: user.GivenName,
		FamilyName: user.FamilyName, Locale: user.Locale, Disabled: user.Disabled, CreatedAt: user.CreatedAt, Phones: []phoneJSON{}}
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
	users, err := u.st.ListUsers(ctx, store.ListUsersOptions{AfterLogin: normalizeLogin(*after), Limit: *limit})
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
		status := "active"
		if d.Disabled {
			status = "disabled"
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
	fmt.Fprintf(tw, "login\t%s\nid\t%s\nemail\t%s\nname\t%s\nlocale\t%s\ndisabled\t%v\npassword\t%s\ncreated\t%s\n",
		d.Login, d.ID, d.Email, strings.TrimSpace(d.GivenName+" "+d.FamilyName), d.Locale, d.Disabled,
		map[bool]string{true: "set", false: "not set"}[d.HasPassword], d.CreatedAt.Format(time.RFC3339))
	for _, p := range d.Phones {
		fmt.Fprintf(tw, "phone\t%s (%s; enrollment %s)\n", p.Number, strings.Join(p.Method, ", "), p.ID)
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
	hash, err := password.HashWith(u.params, pw)
	if err != nil {
		return err
	}
	if err := u.st.SetPassword(ctx, store.PasswordCredential{UserID: user.ID, Hash: hash, UpdatedAt: u.now()}); err != nil {
		return err
	}
	fmt.Fprintf(u.stdout, "password set for %s\n", user.Login)
	return u.signOut(ctx, user)
}

func (u usersCmd) setDisabled(ctx context.Context, args []string, disabled bool) error {
	verb := map[bool]string{true: "disable", false: "enable"}[disabled]
	fs := u.newFlagSet("users "+verb, "users "+verb+" LOGIN")
	user, _, err := u.userArg(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	now := u.now()
	if _, err := u.st.UpdateUser(ctx, user.ID, func(x store.User) (store.User, error) {
		x.Disabled, x.UpdatedAt = disabled, now
		return x, nil
	}); err != nil {
		return err
	}
	fmt.Fprintf(u.stdout, "%sd %s\n", verb, user.Login)
	if disabled {
		return u.signOut(ctx, user)
	}
	return nil
}

func (u usersCmd) delete(ctx context.Context, args []string) error {
	fs := u.newFlagSet("users delete", "users delete LOGIN")
	user, _, err := u.userArg(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	// Revoked first: the access tokens already out are refused from here on, and
	// those of a sign-in finishing before the delete die with the user.
	if _, err := oauth.RevokeUserTokens(ctx, u.st, user.ID, u.now()); err != nil {
		return err
	}
	if err := u.st.DeleteUser(ctx, user.ID); err != nil {
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
	r := u.region
	if *region != "" {
		r = strings.ToUpper(*region)
	}
	e164, err := u.phoneRules.Parse(pos[1], r)
	if err != nil {
		return fmt.Errorf("%q: %w", pos[1], err)
	}
	e := store.PhoneEnrollment{ID: opaque.ID("sms"), UserID: user.ID, Number: e164, SMS: *sms, Voice: *voice, CreatedAt: u.now()}
	if err := u.st.CreatePhoneEnrollment(ctx, e); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("%s already has %s", user.Login, e164)
		}
		return err
	}
	fmt.Fprintf(u.stdout, "enrolled %s for %s (enrollment %s)\n", e164, user.Login, e.ID)
	return nil
}

func (u usersCmd) removePhone(ctx context.Context, args []string) error {
	fs := u.newFlagSet("users remove-phone", "users remove-phone LOGIN NUMBER|ENROLLMENT_ID")
	user, rest, err := u.userArg(ctx, fs, args, 1)
	if err != nil {
		return err
	}
	which := rest[0] // a number, or an enrollment id
	phones, err := u.st.ListPhoneEnrollments(ctx, user.ID)
	if err != nil {
		return err
	}
	e164, _ := phone.ParseNumber(which, u.region)
	for _, p := range phones {
		// The stored number as typed also matches: a number enrolled before the
		// rules refused its kind must stay removable.
		if p.ID == which || p.Number == strings.TrimSpace(which) || (e164 != "" && p.Number == e164) {
			if err := u.st.DeletePhoneEnrollment(ctx, p.ID); err != nil {
				return err
			}
			fmt.Fprintf(u.stdout, "removed %s from %s\n", p.Number, user.Login)
			return u.signOut(ctx, user)
		}
	}
	return fmt.Errorf("%s has no phone %q", user.Login, which)
}

func (u usersCmd) revokeTokens(ctx context.Context, args []string) error {
	fs := u.newFlagSet("users revoke-tokens", "users revoke-tokens LOGIN")
	user, _, err := u.userArg(ctx, fs, args, 0)
	if err != nil {
		return err
	}
	return u.signOut(ctx, user)
}

// signOut revokes every token of user issued until now (oauth.RevokeUserTokens)
// and says how many refresh tokens that ended.
func (u usersCmd) signOut(ctx context.Context, user store.User) error {
	n, err := oauth.RevokeUserTokens(ctx, u.st, user.ID, u.now())
	if err != nil {
		return fmt.Errorf("revoking the tokens of %s: %w", user.Login, err)
	}
	fmt.Fprintf(u.stdout, "revoked %d refresh %s of %s, and every access token issued to them until now\n",
		n, map[bool]string{true: "token", false: "tokens"}[n == 1], user.Login)
	return nil
}
