package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/keyseal"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

const keysUsage = `gatehouse keys [--config FILE | --database DSN] COMMAND [flags]
gatehouse keys generate-kek

Commands:
  list [--json]   the signing keys: id, created, active from, retire at, state
                  (next: published, not signing yet; active: signs; retiring:
                  verifies the tokens it signed until retire at; retired: past
                  that, deleted by the next garbage collection or rotate)
  rotate          add a signing key: published in the JWKS at once, signing once
                  keys.publish_before_use (default 10m) has passed; the key it
                  replaces retires 24 h after that. Running engines pick it up
                  within a minute, without a restart.
  generate-kek    print a new key-encryption key (32 random bytes, base64) for
                  keys.encryption_key_file or keys.encryption_key_env:
                  gatehouse keys generate-kek > /etc/gatehouse/kek && chmod 600 /etc/gatehouse/kek

rotate needs the key-encryption key the keys are sealed with: the configuration's
keys.encryption_key_file or keys.encryption_key_env, or with --database sqlite:PATH
the file PATH.kek next to the database (or --encryption-key-file).
`

func (e env) keys(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "generate-kek" {
		if len(args) > 1 {
			fmt.Fprint(e.stderr, "Usage: "+keysUsage)
			return errUsage
		}
		_, err := fmt.Fprint(e.stdout, keyseal.GenerateKEK())
		return err
	}
	fs := e.newFlagSet("keys", keysUsage)
	fs.Usage = func() { fmt.Fprint(e.stderr, "Usage: "+keysUsage+"\nGlobal flags:\n"); fs.PrintDefaults() }
	configPath := fs.String("config", "", "configuration file; its database and keys section are used")
	database := fs.String("database", "", "database instead of --config: sqlite:PATH or postgres://…")
	kekFile := fs.String("encryption-key-file", "", "with --database: the key-encryption key file (default for SQLite: PATH.kek)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 || (*configPath == "") == (*database == "") || (*kekFile != "" && *configPath != "") {
		fs.Usage()
		return errUsage
	}
	cfg := config.Defaults()
	cfg.Database = *database
	cfg.Keys.EncryptionKeyFile = *kekFile
	if *configPath != "" {
		var err error
		if cfg, err = config.LoadFor(*configPath, config.ForAdmin); err != nil {
			return err
		}
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	st, err := openAdminStore(ctx, cfg.Database, cmd != "list")
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	switch cmd {
	case "list":
		sub := e.newFlagSet("keys list", "keys list [--json]")
		asJSON := sub.Bool("json", false, "print JSON")
		if err := parse(sub, rest); err != nil {
			return err
		}
		return e.listKeys(ctx, st, now, *asJSON)
	case "rotate":
		if len(rest) > 0 {
			fs.Usage()
			return errUsage
		}
		sealer, err := keyseal.FromConfig(cfg.Keys, cfg.Database)
		if err != nil {
			return err
		}
		k, err := oauth.RotateKeys(ctx, st, sealer, now, cfg.Keys.PublishBeforeUse)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "added signing key %s: published now, signs from %s; the keys it replaces retire at %s\n\n",
			k.ID, stamp(k.ActiveFrom), stamp(k.ActiveFrom.Add(oauth.MaxTokenLifetime)))
		return e.listKeys(ctx, st, now, false)
	default:
		fmt.Fprintf(e.stderr, "gatehouse keys: unknown command %q\n\n", cmd)
		fs.Usage()
		return errUsage
	}
}

func (e env) listKeys(ctx context.Context, st store.KeyStore, now time.Time, asJSON bool) error {
	keys, err := st.ListSigningKeys(ctx)
	if err != nil {
		return err
	}
	infos := oauth.DescribeKeys(keys, now)
	if asJSON {
		type row struct {
			ID         string     `json:"id"`
			CreatedAt  time.Time  `json:"created_at"`
			ActiveFrom time.Time  `json:"active_from"`
			RetireAt   *time.Time `json:"retire_at"`
			State      string     `json:"state"`
		}
		rows := make([]row, 0, len(infos))
		for _, k := range infos {
			r := row{ID: k.ID, CreatedAt: k.CreatedAt.UTC(), ActiveFrom: k.ActiveFrom.UTC(), State: k.State}
			if !k.RetireAt.IsZero() {
				t := k.RetireAt.UTC()
				r.RetireAt = &t
			}
			rows = append(rows, r)
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tCREATED\tACTIVE FROM\tRETIRE AT\tSTATE")
	for _, k := range infos {
		retire := "-"
		if !k.RetireAt.IsZero() {
			retire = stamp(k.RetireAt)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", k.ID, stamp(k.CreatedAt), stamp(k.ActiveFrom), retire, k.State)
	}
	return w.Flush()
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
