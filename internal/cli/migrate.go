package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-id/gatehouse/engine"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
)

const migrateUsage = `gatehouse migrate [--config FILE | --database DSN] [--dry-run]
gatehouse migrate [--config FILE | --database DSN] status [--json]

migrate applies the schema migrations this binary carries that the database lacks,
each in a transaction of its own; processes migrating at once apply each migration
once. A database migrated further by a newer release is left as it is: this binary
serves it (docs/upgrading.md). --dry-run lists what would be applied and changes
nothing.

status prints the schema version this binary needs, the database's, and every
migration with whether it is applied, pending, or from a newer release. It changes
nothing.

Run migrate once per upgrade, before the new release's nodes start; serve migrates
by itself only a SQLite database, or a PostgreSQL one with auto_migrate: true.
`

func (e env) migrate(ctx context.Context, args []string) error {
	fs := e.newFlagSet("migrate", migrateUsage)
	fs.Usage = func() { fmt.Fprint(e.stderr, "Usage: "+migrateUsage+"\nFlags:\n"); fs.PrintDefaults() }
	configPath := fs.String("config", "", "configuration file; its database is used")
	database := fs.String("database", "", "database instead of --config: sqlite:PATH or postgres://…")
	dryRun := fs.Bool("dry-run", false, "list the migrations that would be applied; change nothing")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*configPath == "") == (*database == "") {
		fs.Usage()
		return errUsage
	}
	status := false
	var rest []string
	switch {
	case fs.NArg() == 0:
	case fs.Arg(0) == "status" && !*dryRun:
		status, rest = true, fs.Args()[1:]
	default:
		fs.Usage()
		return errUsage
	}
	asJSON := false
	if status {
		sub := e.newFlagSet("migrate status", "migrate [--config FILE | --database DSN] status [--json]")
		sub.BoolVar(&asJSON, "json", false, "print JSON")
		if err := parse(sub, rest); err != nil {
			return err
		}
		if sub.NArg() > 0 {
			sub.Usage()
			return errUsage
		}
	}
	dsn := *database
	if *configPath != "" {
		cfg, err := config.LoadFor(*configPath, config.ForAdmin)
		if err != nil {
			return err
		}
		dsn = cfg.Database
	}
	// Only migrate itself may create a SQLite database; status and a dry run find
	// the file or say it is missing.
	st, err := engine.OpenStoreWith(ctx, dsn, engine.StoreOptions{Schema: store.SchemaInspect, MustExist: status || *dryRun})
	if err != nil {
		return err
	}
	defer st.Close()
	s, err := st.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	switch {
	case status && asJSON:
		return writeSchemaJSON(e, s)
	case status:
		return writeSchemaStatus(e, s)
	case *dryRun:
		if len(s.Pending) == 0 {
			fmt.Fprintf(e.stdout, "nothing to apply: %s\n", schemaState(s))
			return nil
		}
		fmt.Fprintf(e.stdout, "would apply %d migrations to the %s database (schema version %d → %d):\n", len(s.Pending), s.Database, s.Current, s.Binary)
		for _, m := range s.Pending {
			fmt.Fprintf(e.stdout, "  %s\n", m.Name)
		}
		fmt.Fprintln(e.stdout, "nothing changed (--dry-run)")
		return nil
	}
	if len(s.Pending) == 0 {
		fmt.Fprintf(e.stdout, "nothing to apply: %s\n", schemaState(s))
		return nil
	}
	applied, err := st.Migrate(ctx)
	for _, m := range applied {
		fmt.Fprintf(e.stdout, "applied %s\n", m.Name)
	}
	if err != nil {
		return err
	}
	if s, err = st.SchemaStatus(ctx); err != nil {
		return err
	}
	if n := len(applied); n == 0 {
		fmt.Fprintln(e.stdout, "another process applied the pending migrations meanwhile")
	}
	fmt.Fprintf(e.stdout, "%s\n", schemaState(s))
	return nil
}

// schemaState is one sentence on the database's schema against this binary's.
func schemaState(s store.SchemaStatus) string {
	switch {
	case s.Current == 0 && s.Behind():
		return fmt.Sprintf("the %s database has no Gatehouse schema yet; this binary needs version %d: run gatehouse migrate", s.Database, s.Binary)
	case s.Behind():
		return fmt.Sprintf("the %s schema is at version %d, older than the version %d this binary needs: run gatehouse migrate", s.Database, s.Current, s.Binary)
	case len(s.Unknown) > 0 || s.Current > s.Binary:
		return fmt.Sprintf("the %s schema is at version %d, newer than this binary's %d: a newer release migrated it, and this binary serves it (docs/upgrading.md)", s.Database, s.Current, s.Binary)
	default:
		return fmt.Sprintf("the %s schema is up to date at version %d", s.Database, s.Current)
	}
}

func writeSchemaStatus(e env, s store.SchemaStatus) error {
	fmt.Fprintf(e.stdout, "database:          %s, schema version %d\n", s.Database, s.Current)
	fmt.Fprintf(e.stdout, "this binary needs: schema version %d\n\n", s.Binary)
	type row struct {
		m     store.Migration
		state string
	}
	var rows []row
	unknown := map[int64]bool{}
	for _, m := range s.Unknown {
		unknown[m.Version] = true
	}
	for _, m := range s.Applied {
		state := "applied " + m.AppliedAt.UTC().Format(time.RFC3339)
		if unknown[m.Version] {
			state += " (a newer release's)"
		}
		rows = append(rows, row{m, state})
	}
	for _, m := range s.Pending {
		rows = append(rows, row{m, "pending"})
	}
	// Applied and pending each come oldest first; merge them by version.
	for i := 1; i < len(rows); i++ {
		for j := i; j > 0 && rows[j].m.Version < rows[j-1].m.Version; j-- {
			rows[j], rows[j-1] = rows[j-1], rows[j]
		}
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tMIGRATION\tSTATE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\n", r.m.Version, r.m.Name, r.state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(e.stdout, "\n%s\n", schemaState(s))
	return err
}

func writeSchemaJSON(e env, s store.SchemaStatus) error {
	type migration struct {
		Version   int64  `json:"version"`
		Name      string `json:"name"`
		State     string `json:"state"` // applied, pending, newer
		AppliedAt string `json:"applied_at,omitempty"`
	}
	out := struct {
		Database   string      `json:"database"`
		Schema     int64       `json:"schema_version"`
		Binary     int64       `json:"binary_schema_version"`
		Behind     bool        `json:"behind"`
		Migrations []migration `json:"migrations"`
	}{Database: s.Database, Schema: s.Current, Binary: s.Binary, Behind: s.Behind(), Migrations: []migration{}}
	unknown := map[int64]bool{}
	for _, m := range s.Unknown {
		unknown[m.Version] = true
	}
	for _, m := range s.Applied {
		state := "applied"
		if unknown[m.Version] {
			state = "newer"
		}
		out.Migrations = append(out.Migrations, migration{m.Version, m.Name, state, m.AppliedAt.UTC().Format(time.RFC3339)})
	}
	for _, m := range s.Pending {
		out.Migrations = append(out.Migrations, migration{Version: m.Version, Name: m.Name, State: "pending"})
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// openAdminStore opens the database for a command of users, clients or keys. A
// command that only reads never changes the schema, and neither does any command on
// PostgreSQL: a schema older than this binary needs (or none) is refused with a
// message naming gatehouse migrate. A command that writes to a SQLite database
// migrates it, as serve would: the file has no other nodes to keep in step, and
// under expand/contract a running older engine keeps serving it.
func openAdminStore(ctx context.Context, dsn string, writes bool) (store.Store, error) {
	mode := store.SchemaRequire
	if driver, _, err := config.ParseDatabase(dsn); err == nil && driver == "sqlite" && writes {
		mode = store.SchemaMigrate
	}
	return engine.OpenStoreWith(ctx, dsn, engine.StoreOptions{Schema: mode})
}

// openServeStore opens the store for serve. serve migrates a SQLite database, and a
// PostgreSQL one only with auto_migrate: true; otherwise a PostgreSQL schema older
// than this binary needs (or none) stops it with a message naming gatehouse migrate,
// so that nodes of a cluster never migrate it behind the operator's back. It logs
// what it found and what it did. A SQLite database (or its key-encryption key file)
// that other users may read is warned about, not changed: the files are the
// operator's.
func openServeStore(ctx context.Context, cfg config.Config, log *slog.Logger, configPath string) (store.Store, error) {
	tuneGCForHashing()
	driver, path, err := config.ParseDatabase(cfg.Database)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	st, err := engine.OpenStoreWith(ctx, cfg.Database, engine.StoreOptions{Schema: store.SchemaInspect})
	if err != nil {
		return nil, err
	}
	if err := prepareSchema(ctx, st, driver == "sqlite" || cfg.AutoMigrate, log, configPath); err != nil {
		return nil, joinClose(err, st)
	}
	if driver == "sqlite" {
		for _, w := range sqlite.LoosePermissions(path) {
			log.Warn("database file readable by other users: it holds password hashes and sealed keys", "problem", w)
		}
	}
	return st, nil
}

func prepareSchema(ctx context.Context, st store.Store, auto bool, log *slog.Logger, configPath string) error {
	s, err := st.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	if s.Behind() {
		if !auto {
			what := fmt.Sprintf("the %s schema is at version %d, older than the version %d this binary needs", s.Database, s.Current, s.Binary)
			if s.Current == 0 {
				what = fmt.Sprintf("the %s database has no Gatehouse schema yet", s.Database)
			}
			return fmt.Errorf("database: %s; run `gatehouse migrate --config %s` once (docs/upgrading.md), then start the engine; or set auto_migrate: true to let serve migrate", what, configPath)
		}
		log.Info("migrating the database schema", "database", s.Database, "from_version", s.Current, "to_version", s.Binary, "pending", len(s.Pending))
		applied, err := st.Migrate(ctx)
		for _, m := range applied {
			log.Info("applied migration", "version", m.Version, "name", m.Name)
		}
		if err != nil {
			return err
		}
		if len(applied) < len(s.Pending) {
			log.Info("another process applied the other pending migrations", "applied_elsewhere", len(s.Pending)-len(applied))
		}
		if s, err = st.SchemaStatus(ctx); err != nil {
			return err
		}
	}
	if s.Current > s.Binary || len(s.Unknown) > 0 {
		log.Info("database schema is newer than this binary: a newer release migrated it; serving it (expand/contract)",
			"database", s.Database, "schema_version", s.Current, "binary_schema_version", s.Binary)
	} else {
		log.Info("database schema up to date", "database", s.Database, "schema_version", s.Current)
	}
	return nil
}

// joinClose closes c after err and reports both.
func joinClose(err error, c interface{ Close() error }) error {
	if cerr := c.Close(); cerr != nil {
		return fmt.Errorf("%w (closing: %v)", err, cerr)
	}
	return err
}
