package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/engine"
	"github.com/gatehouse-id/gatehouse/engine/account"
	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/messaging"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// Demo defaults. The demo client and users are fixed so that docs, tests and the
// interop suite can name them.
const (
	DemoClientID        = "gatehouse-demo"
	DemoWebClientID     = "gatehouse-demo-web"
	DemoDefaultPassword = "gatehouse-demo"
	DemoAlice           = "alice@example.com"
	DemoAlicePhone      = "+12015550123"
	DemoBob             = "bob@example.com"
)

// demoOptions are the demo's flags.
type demoOptions struct {
	engineAddr, appAddr, dataDir, password, logLevel string
	trustedProxies                                   []string
	webRedirectURIs                                  []string
	webSecret                                        string // read or made by demoWebSecret
}

// demoWebRedirectURIs are the demo web client's default redirect URIs:
// oauth2-proxy's default callback and a common local one.
var demoWebRedirectURIs = []string{"http://127.0.0.1:4180/oauth2/callback", "http://127.0.0.1:5556/callback"}

// demoTrustedProxies are the proxies the demo always trusts: the sample app calls
// the engine from this machine and forwards the browser's address in
// X-Forwarded-For.
var demoTrustedProxies = []string{"127.0.0.0/8", "::1"}

func (e env) demo(ctx context.Context, args []string) error {
	fs := e.newFlagSet("demo", "demo [flags]")
	var o demoOptions
	fs.StringVar(&o.engineAddr, "engine-addr", "127.0.0.1:8080", "engine listen address (host:port); the issuer follows it")
	fs.StringVar(&o.appAddr, "app-addr", "127.0.0.1:3000", "sample app address; the demo client's redirect URI follows it")
	fs.StringVar(&o.dataDir, "data-dir", "gatehouse-demo-data", "folder for the demo's SQLite database")
	fs.StringVar(&o.password, "demo-password", DemoDefaultPassword, "password of the demo users (set on every start)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "engine log level: debug, info, warn, error")
	fs.Func("trusted-proxy", "a proxy (CIDR or address) whose X-Forwarded-For the engine believes; repeatable. "+
		"Loopback ("+strings.Join(demoTrustedProxies, ", ")+") is always trusted: the sample app calls the engine from this machine and forwards the browser's address",
		func(v string) error {
			if _, err := config.ParseTrustedProxy(v); err != nil {
				return err
			}
			o.trustedProxies = append(o.trustedProxies, v)
			return nil
		})
	fs.Func("web-redirect-uri", "a redirect URI of the demo's confidential web client (any OpenID Connect app); repeatable; default "+
		strings.Join(demoWebRedirectURIs, " and "), func(v string) error {
		o.webRedirectURIs = append(o.webRedirectURIs, v)
		return nil
	})
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	secret, err := demoWebSecret(o.dataDir)
	if err != nil {
		return err
	}
	o.webSecret = secret
	cfg, err := demoConfig(o)
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, o.logLevel, false)
	tuneGCForHashing()
	st, err := engine.OpenStore(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := seedDemo(ctx, st, o.password, cfg.PasswordHashing.Params()); err != nil {
		return fmt.Errorf("seeding the demo users: %w", err)
	}
	eng, err := engine.New(ctx, cfg, engine.Deps{Store: st, Sender: &messaging.DevOutbox{Out: e.stdout}, Log: log})
	if err != nil {
		return err
	}
	appHandler, err := newDemoApp(cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.engineAddr)
	if err != nil {
		return fmt.Errorf("--engine-addr: %w", err)
	}
	appLn, err := net.Listen("tcp", o.appAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("--app-addr: %w", err)
	}
	e.printDemoBanner(cfg, o)
	return serveEngineAndApp(ctx, log, ln, eng.Handler(), eng.Run, appLn, appHandler)
}

// demoConfig is the demo's configuration: the engine on engineAddr, SQLite in the
// data folder, the dev outbox on, and one public client for the sample app.
func demoConfig(o demoOptions) (config.Config, error) {
	host, _, err := net.SplitHostPort(o.engineAddr)
	if err != nil || host == "" {
		return config.Config{}, fmt.Errorf("--engine-addr %q: give host:port, e.g. 127.0.0.1:8080", o.engineAddr)
	}
	if h, _, err := net.SplitHostPort(o.appAddr); err != nil || h == "" {
		return config.Config{}, fmt.Errorf("--app-addr %q: give host:port, e.g. 127.0.0.1:3000", o.appAddr)
	}
	app := "http://" + o.appAddr
	cfg := config.Defaults()
	cfg.Issuer = "http://" + o.engineAddr + "/oauth2/default"
	cfg.Listen = o.engineAddr
	cfg.Database = "sqlite:" + filepath.Join(o.dataDir, "gatehouse.db")
	cfg.DevOutbox = true
	cfg.LogLevel = o.logLevel
	cfg.Clients = []config.Client{config.ClientDefaults(config.Client{
		ID:                     DemoClientID,
		Name:                   "Gatehouse demo app",
		RedirectURIs:           []string{app + "/login/callback"},
		PostLogoutRedirectURIs: []string{app + "/"},
		Grants:                 []string{config.GrantInteractionCode, config.GrantAuthorizationCode, config.GrantRefreshToken},
		Scopes:                 []string{"openid", "profile", "email", "phone", "offline_access"},
	})}
	webRedirects := o.webRedirectURIs
	if len(webRedirects) == 0 {
		webRedirects = demoWebRedirectURIs
	}
	var webLogout []string
	for _, u := range webRedirects {
		if p, err := url.Parse(u); err == nil && p.Host != "" {
			if origin := p.Scheme + "://" + p.Host + "/"; !slices.Contains(webLogout, origin) {
				webLogout = append(webLogout, origin)
			}
		}
	}
	cfg.Clients = append(cfg.Clients, config.ClientDefaults(config.Client{
		ID:                     DemoWebClientID,
		Name:                   "Any OpenID Connect web app",
		Secret:                 o.webSecret,
		RedirectURIs:           webRedirects,
		PostLogoutRedirectURIs: webLogout,
		Grants:                 []string{config.GrantAuthorizationCode, config.GrantRefreshToken},
		Scopes:                 []string{"openid", "profile", "email", "phone", "offline_access"},
	}))
	cfg.CORS.AllowedOrigins = []string{app}
	cfg.Server.TrustedProxies = append(append([]string(nil), demoTrustedProxies...), o.trustedProxies...)
	// The demo shows every flow: "Create account" as well as "Forgot password?"
	// and the authenticator app, which are on by default.
	cfg.SignOn.SelfRegistration = true
	if err := cfg.Validate(); err != nil {
		return config.Config{}, err
	}
	return cfg, nil
}

// seedDemo creates the demo users if missing, and (re)sets their password so that
// --demo-password holds on every start. Existing data is otherwise kept.
func seedDemo(ctx context.Context, st store.Store, pw string, params password.Params) error {
	if err := account.Policy.Check(pw); err != nil {
		return fmt.Errorf("--demo-password: %w", err)
	}
	hasher, err := password.NewHasher(params, 1, 1)
	if err != nil {
		return err
	}
	acct, err := account.New(account.Deps{Store: st, Hasher: hasher})
	if err != nil {
		return err
	}
	users := []struct {
		login, given, family, phone string
	}{
		{DemoAlice, "Alice", "Anderson", DemoAlicePhone},
		{DemoBob, "Bob", "Baker", ""},
	}
	for _, d := range users {
		u, err := st.GetUserByLogin(ctx, d.login)
		if errors.Is(err, store.ErrNotFound) {
			if _, err := acct.Create(ctx, account.NewUser{Login: d.login, Email: d.login, GivenName: d.given, FamilyName: d.family,
				Locale: "en-US", Password: pw, Phone: d.phone}); err != nil {
				return err
			}
			continue
		} else if err != nil {
			return err
		}
		if err := ensurePassword(ctx, st, acct, hasher, u.ID, pw); err != nil {
			return err
		}
		if d.phone == "" {
			continue
		}
		phones, err := st.ListPhoneEnrollments(ctx, u.ID)
		if err != nil {
			return err
		}
		if len(phones) == 0 {
			if _, err := acct.AddPhone(ctx, u.ID, d.phone, account.PhoneOptions{SMS: true, Voice: true}); err != nil {
				return err
			}
		}
	}
	return nil
}

// ensurePassword sets pw unless it is already the user's password (with the
// current hashing parameters).
func ensurePassword(ctx context.Context, st store.Store, acct *account.Service, hasher *password.Hasher, userID, pw string) error {
	cred, err := st.GetPassword(ctx, userID)
	if err == nil {
		if res, verr := hasher.Verify(ctx, cred.Hash, pw); verr == nil && res.OK && !res.NeedsRehash {
			return nil
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	_, err = acct.SetPassword(ctx, userID, pw)
	return err
}

func (e env) printDemoBanner(cfg config.Config, o demoOptions) {
	engineURL := "http://" + o.engineAddr
	lines := []string{
		"",
		"Open http://" + o.appAddr + " and sign in as " + DemoAlice + " / " + o.password,
		"(the code goes to " + phone.Mask(DemoAlicePhone) + ": it is printed below and shown on " + engineURL + "/dev/outbox)",
		"",
		"Gatehouse demo is running: the engine and the sample app. Ctrl-C stops both;",
		"starting it again keeps its data.",
		"",
		"  Sample app    http://" + o.appAddr + "   (--app-addr moves it; the redirect URI follows)",
		"  Issuer        " + cfg.Issuer,
		"  Client id     " + DemoClientID + "  (the sample app: public client, PKCE S256; redirect URI " + cfg.Clients[0].RedirectURIs[0] + ")",
		"  Web client    " + DemoWebClientID + "  secret " + o.webSecret,
		"                (confidential, authorization code flow: for any OpenID Connect app, e.g. oauth2-proxy;",
		"                redirect URIs " + strings.Join(cfg.Clients[1].RedirectURIs, ", ") + "; --web-redirect-uri changes them)",
		"  Discovery     " + cfg.Issuer + "/.well-known/openid-configuration",
		"  Dev outbox    " + engineURL + "/dev/outbox   (JSON; a browser gets a page)",
		"  Users         " + DemoAlice + "   phone " + phone.Mask(DemoAlicePhone) + " (" + DemoAlicePhone + "), SMS and voice",
		"                " + DemoBob + "     no second factor: enrolls a phone or an authenticator app while signing in",
		"  Also          \"Forgot password?\" (a code to the phone) and \"Create an account\" on the sign-in page",
		"  Password      " + o.password + "   (both users; --demo-password changes it)",
		"  Data          " + filepath.Join(o.dataDir, "gatehouse.db") + " (SQLite)",
		"",
		"Codes the engine \"sends\" by SMS or voice appear below and on the dev outbox page.",
		"",
	}
	fmt.Fprintln(e.stdout, strings.Join(lines, "\n"))
}

// demoWebSecret returns the demo web client's secret, kept in the data folder
// (0600) so that it survives restarts; the first start makes it.
func demoWebSecret(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "web-client-secret")
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading the demo web client's secret: %w", err)
	}
	secret := opaque.New(32)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("storing the demo web client's secret: %w", err)
	}
	return secret, nil
}
