package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/engine"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/mgmt"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

const tokensUsage = `gatehouse tokens [--config FILE | --database DSN] COMMAND [flags] ARGS

Commands:
  create --name NAME [--read-only]
  list [--json]
  revoke ID

API tokens authenticate scripts and Okta's management SDKs to the management API
(/api/v1, docs/admin-api.md), sent as "Authorization: SSWS <token>". create prints
the new token once, on the last line of standard output; only its SHA-256 hash is
stored, so a lost token cannot be shown again: revoke it and make another. A
--read-only token may only read (GET); any other request answers 403.

list shows every token, revoked ones included, without secrets. revoke takes
effect on every engine at once: the next request with the token answers 401.
The API itself is served only with management_api.enabled: true.
`

type tokensCmd struct {
	env
	st store.Store
	// cfg is the configuration with --config, nil with --database.
	cfg *config.Config
	now func() time.Time
}

func (e env) tokens(ctx context.Context, args []string) error {
	fs := e.newFlagSet("tokens", tokensUsage)
	fs.Usage = func() { fmt.Fprint(e.stderr, "Usage: "+tokensUsage+"\nGlobal flags:\n"); fs.PrintDefaults() }
	configPath := fs.String("config", "", "configuration file; its database is used")
	database := fs.String("database", "", "database instead of --config: sqlite:PATH or postgres://…")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 || (*configPath == "") == (*database == "") {
		fs.Usage()
		return errUsage
	}
	c := tokensCmd{env: e, now: func() time.Time { return time.Now().Truncate(time.Millisecond) }}
	dsn := *database
	if *configPath != "" {
		cfg, err := config.LoadFor(*configPath, config.ForAdmin)
		if err != nil {
			return err
		}
		c.cfg, dsn = &cfg, cfg.Database
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	recorder := engine.EventRecorder(config.Defaults(), c.now)
	if c.cfg != nil {
		recorder = engine.EventRecorder(*c.cfg, c.now)
	}
	ctx = eventlog.WithActor(eventlog.With(ctx, recorder), eventlog.CommandLine)
	st, err := openAdminStore(ctx, dsn, cmd != "list")
	if err != nil {
		return err
	}
	defer st.Close()
	c.st = st
	switch cmd {
	case "create":
		return c.create(ctx, rest)
	case "list":
		return c.list(ctx, rest)
	case "revoke":
		return c.revoke(ctx, rest)
	default:
		fmt.Fprintf(e.stderr, "gatehouse tokens: unknown command %q\n\n", cmd)
		fs.Usage()
		return errUsage
	}
}

// maxTokenName bounds a token's name, in characters.
const maxTokenName = 100

func checkTokenName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("--name is required: say what will use the token")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxTokenName:
		return fmt.Errorf("--name must be text of at most %d characters", maxTokenName)
	case strings.ContainsFunc(name, unicode.IsControl):
		return errors.New("--name must not contain control characters")
	}
	return nil
}

func (c tokensCmd) create(ctx context.Context, args []string) error {
	fs := c.newFlagSet("tokens create", "tokens create --name NAME [--read-only]")
	name := fs.String("name", "", "what the token is for (shown by list)")
	readOnly := fs.Bool("read-only", false, "the token may only read")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	if err := checkTokenName(*name); err != nil {
		return err
	}
	token, hash := mgmt.NewToken()
	rec := store.APIToken{ID: mgmt.NewTokenID(), Name: strings.TrimSpace(*name), TokenHash: hash, ReadOnly: *readOnly, CreatedAt: c.now()}
	created := eventlog.Event{Type: eventlog.TypeAPITokenCreate, Result: store.OutcomeSuccess, Reason: access(rec.ReadOnly),
		Targets: []store.LogTarget{{ID: rec.ID, Type: "ApiToken", AlternateID: rec.Name, DisplayName: rec.Name}}}
	if err := c.st.CreateAPIToken(eventlog.Attach(ctx, created), rec); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "created API token %s (%s, %s)\n", rec.ID, rec.Name, access(rec.ReadOnly))
	fmt.Fprintln(c.stderr, "The token is on the last line of standard output. It is shown only this once: keep it now.")
	if c.cfg != nil && !c.cfg.ManagementAPI.Enabled {
		fmt.Fprintln(c.stderr, "Note: management_api.enabled is off in this configuration; the token works once the API is on.")
	}
	fmt.Fprintln(c.stdout, token)
	return nil
}

func access(readOnly bool) string {
	if readOnly {
		return "read-only"
	}
	return "read-write"
}

// tokenJSON is a token as list --json shows it: never its secret or its hash.
type tokenJSON struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	ReadOnly   bool      `json:"read_only"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	RevokedAt  time.Time `json:"revoked_at,omitzero"`
}

func (c tokensCmd) list(ctx context.Context, args []string) error {
	fs := c.newFlagSet("tokens list", "tokens list [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseArgs(fs, args, 0); err != nil {
		return err
	}
	toks, err := c.st.ListAPITokens(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		out := []tokenJSON{}
		for _, t := range toks {
			out = append(out, tokenJSON{ID: t.ID, Name: t.Name, ReadOnly: t.ReadOnly, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt, RevokedAt: t.RevokedAt})
		}
		return json.NewEncoder(c.stdout).Encode(out)
	}
	when := func(t time.Time, none string) string {
		if t.IsZero() {
			return none
		}
		return t.UTC().Format(time.RFC3339)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tACCESS\tCREATED\tLAST USED\tREVOKED")
	for _, t := range toks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, access(t.ReadOnly), when(t.CreatedAt, "-"), when(t.LastUsedAt, "never"), when(t.RevokedAt, "-"))
	}
	return tw.Flush()
}

func (c tokensCmd) revoke(ctx context.Context, args []string) error {
	fs := c.newFlagSet("tokens revoke", "tokens revoke ID")
	pos, err := parseArgs(fs, args, 1)
	if err != nil {
		return err
	}
	now := c.now()
	revoked := eventlog.Event{Type: eventlog.TypeAPITokenRevoke, Result: store.OutcomeSuccess,
		Targets: []store.LogTarget{{ID: pos[0], Type: "ApiToken"}}}
	tok, err := c.st.RevokeAPIToken(eventlog.Attach(ctx, revoked), pos[0], now)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no API token %q (gatehouse tokens list shows their ids)", pos[0])
	}
	if err != nil {
		return err
	}
	if !tok.RevokedAt.Equal(now) {
		fmt.Fprintf(c.stdout, "API token %s (%s) was already revoked at %s\n", tok.ID, tok.Name, tok.RevokedAt.UTC().Format(time.RFC3339))
		return nil
	}
	fmt.Fprintf(c.stdout, "revoked API token %s (%s); the management API refuses it from now on\n", tok.ID, tok.Name)
	return nil
}
