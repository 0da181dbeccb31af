package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/clients"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

const clientsUsage = `gatehouse clients [--config FILE | --database DSN] COMMAND [flags] ARGS

Commands:
  add ID --redirect-uri URI [--redirect-uri URI ...] [--name NAME]
         [--post-logout-redirect-uri URI ...] [--grant GRANT ...] [--scope SCOPE ...]
         [--public | --secret-stdin | --auth-method METHOD] [--jwks-uri URL]
         [--backchannel-logout-uri URL]
  list [--json]
  show ID [--json]
  rotate-secret ID [--secret-stdin]
  remove ID

Clients added here are kept in the database and used by running engines at once,
without a restart, beside the clients of the configuration file. A configuration
client wins over a database client with the same id; with --config, add refuses
such an id. Removing a client, or rotating its secret, takes effect on every engine
within 5 seconds.

add generates the client's secret and prints it once, on the last line of standard
output; only its hash is stored. --secret-stdin reads a secret of your own from the
first line of standard input instead: at least 32 characters of random text (for
example from "openssl rand -base64 32"), since it is stored the same way.
--public makes a client without a secret (single-page and native apps, PKCE only).
--auth-method is client_secret_basic, client_secret_post, private_key_jwt or none;
without it a client with a secret may use either secret method, and --jwks-uri
implies private_key_jwt. Grants: authorization_code (the default), interaction_code,
refresh_token. Scopes default to openid profile email, with offline_access when the
refresh_token grant is given.
`

type clientsCmd struct {
	env
	st store.Store
	// cfg is the configuration with --config, nil with --database.
	cfg        *config.Config
	configPath string
	now        func() time.Time
}

func (e env) clients(ctx context.Context, args []string) error {
	fs := e.newFlagSet("clients", clientsUsage)
	fs.Usage = func() { fmt.Fprint(e.stderr, "Usage: "+clientsUsage+"\nGlobal flags:\n"); fs.PrintDefaults() }
	configPath := fs.String("config", "", "configuration file; its database and clients are used")
	database := fs.String("database", "", "database instead of --config: sqlite:PATH or postgres://…")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 || (*configPath == "") == (*database == "") {
		fs.Usage()
		return errUsage
	}
	c := clientsCmd{env: e, configPath: *configPath, now: func() time.Time { return time.Now().Truncate(time.Millisecond) }}
	dsn := *database
	if *configPath != "" {
		cfg, err := config.LoadFor(*configPath, config.ForClients)
		if err != nil {
			return err
		}
		c.cfg, dsn = &cfg, cfg.Database
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	st, err := openAdminStore(ctx, dsn, cmd != "list" && cmd != "show")
	if err != nil {
		return err
	}
	defer st.Close()
	c.st = st
	switch cmd {
	case "add":
		return c.add(ctx, rest)
	case "list":
		return c.list(ctx, rest)
	case "show":
		return c.show(ctx, rest)
	case "rotate-secret":
		return c.rotateSecret(ctx, rest)
	case "remove":
		return c.remove(ctx, rest)
	default:
		fmt.Fprintf(e.stderr, "gatehouse clients: unknown command %q\n\n", cmd)
		fs.Usage()
		return errUsage
	}
}

// listFlag is a flag that may be given many times, collecting its values.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// configured returns the configuration's client with id, if --config was given
// and it has one.
func (c clientsCmd) configured(id string) (config.Client, bool) {
	if c.cfg == nil {
		return config.Client{}, false
	}
	return c.cfg.Client(id)
}

// flagNames turns the configuration keys in Problems' messages into add's flags.
var flagNames = strings.NewReplacer(
	"post_logout_redirect_uris", "--post-logout-redirect-uri",
	"redirect_uris", "--redirect-uri",
	"grants", "--grant",
	"scopes", "--scope",
	"token_endpoint_auth_method", "--auth-method",
	"jwks_uri", "--jwks-uri",
	"backchannel_logout_uri", "--backchannel-logout-uri",
	"id:", "ID:",
	"secret:", "the secret:",
)

func (c clientsCmd) add(ctx context.Context, args []string) error {
	fs := c.newFlagSet("clients add", "clients add ID --redirect-uri URI [flags]")
	name := fs.String("name", "", "the app's name, shown on the sign-in page (default: the id)")
	var redirects, postLogout, grants, scopes listFlag
	fs.Var(&redirects, "redirect-uri", "a redirect URI, compared exactly (repeatable; at least one)")
	fs.Var(&postLogout, "post-logout-redirect-uri", "where logout may send the browser afterwards (repeatable)")
	fs.Var(&grants, "grant", "authorization_code, interaction_code or refresh_token (repeatable; default authorization_code)")
	fs.Var(&scopes, "scope", "a scope the client may ask for (repeatable; default openid profile email, +offline_access with refresh_token)")
	public := fs.Bool("public", false, "a public client: no secret, PKCE only")
	secretStdin := fs.Bool("secret-stdin", false, "read the secret from the first line of standard input instead of generating one")
	method := fs.String("auth-method", "", "client_secret_basic, client_secret_post, private_key_jwt or none")
	jwksURI := fs.String("jwks-uri", "", "for private_key_jwt: where the client's public keys (a JWK Set) are served")
	backchannel := fs.String("backchannel-logout-uri", "", "the client's OpenID Connect back-channel logout URL")
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	id := pos[0]
	if _, ok := c.configured(id); ok {
		return fmt.Errorf("client %q is defined in %s; a database client with the same id would never be used", id, c.configPath)
	}
	if len(grants) == 0 {
		grants = listFlag{config.GrantAuthorizationCode}
	}
	if len(scopes) == 0 {
		scopes = listFlag{"openid", "profile", "email"}
		if slices.Contains(grants, config.GrantRefreshToken) {
			scopes = append(scopes, "offline_access")
		}
	}
	if *method == "" && *jwksURI != "" {
		*method = config.AuthPrivateKeyJWT
	}
	if *public && *method == "" {
		*method = config.AuthNone
	}
	usesSecret := *method == "" || *method == config.AuthClientSecretBasic || *method == config.AuthClientSecretPost
	if *secretStdin && !usesSecret {
		return fmt.Errorf("--secret-stdin: a client authenticating with %s has no secret", *method)
	}
	var secret string
	if usesSecret {
		if secret, err = c.newSecret(*secretStdin); err != nil {
			return err
		}
	}
	cl := config.ClientDefaults(config.Client{
		ID: id, Name: *name, Secret: secret, Public: *public || *method == config.AuthNone,
		RedirectURIs: redirects, PostLogoutRedirectURIs: postLogout, Grants: grants, Scopes: scopes,
		TokenEndpointAuthMethod: *method, JWKSURI: *jwksURI, BackchannelLogoutURI: *backchannel,
	})
	if problems := cl.Problems(); len(problems) > 0 {
		for i, p := range problems {
			problems[i] = flagNames.Replace(p)
		}
		return fmt.Errorf("client %q not added:\n  %s", id, strings.Join(problems, "\n  "))
	}
	now := c.now()
	rec := store.Client{
		ID: cl.ID, Name: cl.Name, Public: cl.Public,
		RedirectURIs: cl.RedirectURIs, PostLogoutRedirectURIs: cl.PostLogoutRedirectURIs, Grants: cl.Grants, Scopes: cl.Scopes,
		AccessTokenTTL: cl.AccessTokenTTL, IDTokenTTL: cl.IDTokenTTL, RefreshTokenTTL: cl.RefreshTokenTTL,
		TokenEndpointAuthMethod: cl.TokenEndpointAuthMethod, JWKSURI: cl.JWKSURI, BackchannelLogoutURI: cl.BackchannelLogoutURI,
		CreatedAt: now, UpdatedAt: now,
	}
	if secret != "" {
		rec.SecretHash = clients.HashSecret(secret)
	}
	if err := c.st.CreateClient(ctx, rec); err != nil {
		if errors.Is(err, store.ErrAlreadyExists) {
			return fmt.Errorf("a client %q exists already", id)
		}
		return err
	}
	d, err := describeStored(rec)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "added client %s (%s, %s)\n", id, d.kind(), d.authDescription())
	if secret != "" && !*secretStdin {
		fmt.Fprintln(c.stderr, "The client secret is on the last line of standard output. It is shown only this once: keep it now.")
		fmt.Fprintln(c.stdout, secret)
	}
	return nil
}

// newSecret generates a secret, or reads and checks one from standard input.
func (c clientsCmd) newSecret(fromStdin bool) (string, error) {
	if !fromStdin {
		return clients.NewSecret(), nil
	}
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("--secret-stdin: nothing on standard input")
	}
	secret := strings.TrimRight(line, "\r\n")
	if err := clients.CheckSuppliedSecret(secret); err != nil {
		return "", fmt.Errorf("--secret-stdin: %w", err)
	}
	return secret, nil
}

func (c clientsCmd) rotateSecret(ctx context.Context, args []string) error {
	fs := c.newFlagSet("clients rotate-secret", "clients rotate-secret ID [--secret-stdin]")
	secretStdin := fs.Bool("secret-stdin", false, "read the new secret from the first line of standard input instead of generating one")
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	id := pos[0]
	if _, ok := c.configured(id); ok {
		return fmt.Errorf("client %q is defined in %s; change its secret there", id, c.configPath)
	}
	rec, err := c.st.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no client %q in the database", id)
	}
	if err != nil {
		return err
	}
	if rec.SecretHash == "" {
		return fmt.Errorf("client %q has no secret (it authenticates with %s)", id, authOrNone(rec.TokenEndpointAuthMethod))
	}
	secret, err := c.newSecret(*secretStdin)
	if err != nil {
		return err
	}
	now := c.now()
	if _, err := c.st.UpdateClient(ctx, id, func(cl store.Client) (store.Client, error) {
		cl.SecretHash, cl.UpdatedAt = clients.HashSecret(secret), now
		return cl, nil
	}); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "rotated the secret of client %s; running engines stop accepting the old one within %s\n", id, clients.CacheTTL)
	if !*secretStdin {
		fmt.Fprintln(c.stderr, "The new client secret is on the last line of standard output. It is shown only this once: keep it now.")
		fmt.Fprintln(c.stdout, secret)
	}
	return nil
}

func authOrNone(method string) string {
	if method == "" {
		return config.AuthNone
	}
	return method
}

func (c clientsCmd) remove(ctx context.Context, args []string) error {
	fs := c.newFlagSet("clients remove", "clients remove ID")
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	id := pos[0]
	err = c.st.DeleteClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		if _, ok := c.configured(id); ok {
			return fmt.Errorf("client %q is defined in %s, not in the database; remove it there", id, c.configPath)
		}
		return fmt.Errorf("no client %q in the database", id)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "removed client %s; running engines stop accepting it within %s\n", id, clients.CacheTTL)
	return nil
}

// clientJSON is a client as list and show report it: everything but the secret.
type clientJSON struct {
	ID                     string          `json:"id"`
	Name                   string          `json:"name,omitempty"`
	Source                 string          `json:"source"` // "config" or "database"
	Shadowed               bool            `json:"shadowed,omitempty"`
	Public                 bool            `json:"public"`
	AuthMethod             string          `json:"token_endpoint_auth_method,omitempty"`
	HasSecret              bool            `json:"has_secret"`
	RedirectURIs           []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs []string        `json:"post_logout_redirect_uris,omitempty"`
	Grants                 []string        `json:"grants"`
	Scopes                 []string        `json:"scopes"`
	AccessTokenTTL         string          `json:"access_token_ttl"`
	IDTokenTTL             string          `json:"id_token_ttl"`
	RefreshTokenTTL        string          `json:"refresh_token_ttl"`
	JWKSURI                string          `json:"jwks_uri,omitempty"`
	JWKS                   json.RawMessage `json:"jwks,omitempty"`
	BackchannelLogoutURI   string          `json:"backchannel_logout_uri,omitempty"`
	CreatedAt              time.Time       `json:"created_at,omitzero"`
	UpdatedAt              time.Time       `json:"updated_at,omitzero"`
}

func (d clientJSON) kind() string {
	if d.Public {
		return "public"
	}
	return "confidential"
}

func (d clientJSON) authDescription() string {
	if d.AuthMethod == "" {
		return config.AuthClientSecretBasic + " or " + config.AuthClientSecretPost
	}
	return d.AuthMethod
}

func describe(c *clients.Client, source string) clientJSON {
	return clientJSON{
		ID: c.ID, Name: c.Name, Source: source, Public: c.Public(), AuthMethod: c.AuthMethod, HasSecret: c.HasSecret(),
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs, Grants: c.Grants, Scopes: c.Scopes,
		AccessTokenTTL: c.AccessTokenTTL.String(), IDTokenTTL: c.IDTokenTTL.String(), RefreshTokenTTL: c.RefreshTokenTTL.String(),
		JWKSURI: c.JWKSURI, BackchannelLogoutURI: c.BackchannelLogoutURI,
	}
}

func describeStored(rec store.Client) (clientJSON, error) {
	cl, err := clients.FromStore(rec)
	if err != nil {
		return clientJSON{}, err
	}
	d := describe(cl, "database")
	if rec.JWKS != "" {
		d.JWKS = json.RawMessage(rec.JWKS)
	}
	d.CreatedAt, d.UpdatedAt = rec.CreatedAt, rec.UpdatedAt
	return d, nil
}

func describeConfigured(c config.Client) (clientJSON, error) {
	cl, err := clients.FromConfig(c)
	if err != nil {
		return clientJSON{}, err
	}
	d := describe(cl, "config")
	if c.JWKS != "" {
		d.JWKS = json.RawMessage(c.JWKS)
	}
	return d, nil
}

// all lists the configuration's clients (with --config) and the database's, by id.
func (c clientsCmd) all(ctx context.Context) ([]clientJSON, error) {
	var rows []clientJSON
	if c.cfg != nil {
		for _, cl := range c.cfg.Clients {
			d, err := describeConfigured(cl)
			if err != nil {
				return nil, err
			}
			rows = append(rows, d)
		}
	}
	recs, err := c.st.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		d, err := describeStored(rec)
		if err != nil {
			return nil, err
		}
		_, d.Shadowed = c.configured(rec.ID)
		rows = append(rows, d)
	}
	slices.SortStableFunc(rows, func(a, b clientJSON) int { return strings.Compare(a.ID, b.ID) })
	return rows, nil
}

func (c clientsCmd) list(ctx context.Context, args []string) error {
	fs := c.newFlagSet("clients list", "clients list [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	rows, err := c.all(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		if rows == nil {
			rows = []clientJSON{}
		}
		return json.NewEncoder(c.stdout).Encode(rows)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSOURCE\tTYPE\tAUTH METHOD\tGRANTS\tREDIRECT URIS")
	for _, d := range rows {
		source := d.Source
		if d.Shadowed {
			source += " (unused: the config has this id)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Name, source, d.kind(), d.authDescription(),
			strings.Join(d.Grants, ","), strings.Join(d.RedirectURIs, " "))
	}
	return tw.Flush()
}

func (c clientsCmd) show(ctx context.Context, args []string) error {
	fs := c.newFlagSet("clients show", "clients show ID [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	id := pos[0]
	var d clientJSON
	if cl, ok := c.configured(id); ok {
		d, err = describeConfigured(cl)
	} else {
		var rec store.Client
		rec, err = c.st.GetClient(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no client %q", id)
		}
		if err == nil {
			d, err = describeStored(rec)
		}
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(c.stdout).Encode(d)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	line("id", d.ID)
	line("name", d.Name)
	line("source", d.Source)
	line("type", d.kind())
	line("auth method", d.authDescription())
	line("secret", map[bool]string{true: "set (only its hash is stored; rotate-secret replaces it)", false: "none"}[d.HasSecret])
	line("redirect uris", strings.Join(d.RedirectURIs, " "))
	line("post-logout redirect uris", strings.Join(d.PostLogoutRedirectURIs, " "))
	line("grants", strings.Join(d.Grants, " "))
	line("scopes", strings.Join(d.Scopes, " "))
	line("access token ttl", d.AccessTokenTTL)
	line("id token ttl", d.IDTokenTTL)
	line("refresh token ttl", d.RefreshTokenTTL)
	line("jwks uri", d.JWKSURI)
	line("jwks", string(d.JWKS))
	line("back-channel logout uri", d.BackchannelLogoutURI)
	if !d.CreatedAt.IsZero() {
		line("created", d.CreatedAt.Format(time.RFC3339))
		line("updated", d.UpdatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}
