package store_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Migrations follow expand/contract (docs/upgrading.md): during a rolling upgrade the
// previous release's nodes keep serving the schema the new release migrated, so a
// release's migrations may only add what old code ignores — tables, indexes, and
// columns that are nullable or have a default. Removing or renaming a table or column,
// changing a column's type or tightening a constraint (contracting) breaks the old
// nodes, and is allowed only a release after the code stopped using what it removes.
//
// TestMigrationsOnlyExpand refuses a migration that contracts unless it is listed in
// contractions with the reason it is safe (which release stopped using what it
// removes).
var contractions = map[string]string{
	// "0012_drop_legacy_tokens.sql": "release 1.4 stopped reading legacy_tokens; 1.5 drops it",
}

// contracting matches the statements that can break a previous release's queries.
var contracting = []struct {
	re     *regexp.Regexp
	unless *regexp.Regexp // a statement matching re is fine if it matches this
	what   string
}{
	{re: regexp.MustCompile(`(?i)\bDROP\s+(TABLE|COLUMN|VIEW|INDEX|CONSTRAINT)\b`), what: "drops"},
	{re: regexp.MustCompile(`(?i)\bALTER\s+TABLE\s+\S+\s+DROP\b`), what: "drops a column"},
	{re: regexp.MustCompile(`(?i)\bRENAME\b`), what: "renames"},
	{re: regexp.MustCompile(`(?i)\bALTER\s+COLUMN\b[^;]*\b(TYPE|SET\s+NOT\s+NULL|SET\s+DATA\s+TYPE)\b`), what: "changes a column's type or nullability"},
	// A new NOT NULL column without a default makes the old release's INSERTs fail.
	{re: regexp.MustCompile(`(?is)\bADD\s+COLUMN\b[^;,]*\bNOT\s+NULL\b`), unless: regexp.MustCompile(`(?i)\bDEFAULT\b`), what: "adds a NOT NULL column without a default"},
}

var sqlComment = regexp.MustCompile(`--[^\n]*`)

func TestMigrationsOnlyExpand(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("*", "migrations", "*.sql"))
	if err != nil || len(files) < 2 {
		t.Fatalf("no migrations found: %v %v", files, err)
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		if strings.HasPrefix(name, "0001_") {
			continue // the initial schema has no previous release to keep serving
		}
		for _, stmt := range strings.Split(sqlComment.ReplaceAllString(string(text), ""), ";") {
			for _, c := range contracting {
				if !c.re.MatchString(stmt) || (c.unless != nil && c.unless.MatchString(stmt)) {
					continue
				}
				if _, ok := contractions[name]; !ok {
					t.Errorf("%s %s (%q): migrations must only expand the schema, so that the previous release keeps serving it during an upgrade; "+
						"see docs/upgrading.md, or list the file in contractions with the reason it is safe", f, c.what, strings.TrimSpace(stmt))
				}
			}
		}
	}
	for name, why := range contractions {
		if strings.TrimSpace(why) == "" {
			t.Errorf("contractions[%q] gives no reason", name)
		}
	}
}

// TestContractingMatcher shows the check catches what it is for.
func TestContractingMatcher(t *testing.T) {
	matches := func(stmt string) bool {
		for _, c := range contracting {
			if c.re.MatchString(stmt) && (c.unless == nil || !c.unless.MatchString(stmt)) {
				return true
			}
		}
		return false
	}
	for _, bad := range []string{
		"DROP TABLE sessions", "ALTER TABLE users DROP COLUMN locale", "ALTER TABLE users RENAME COLUMN a TO b",
		"ALTER TABLE users RENAME TO people", "ALTER TABLE users ALTER COLUMN locale TYPE INTEGER",
		"ALTER TABLE users ALTER COLUMN locale SET NOT NULL", "ALTER TABLE users ADD COLUMN x TEXT NOT NULL",
		"DROP INDEX users_login",
	} {
		if !matches(bad) {
			t.Errorf("%q is not caught", bad)
		}
	}
	for _, good := range []string{
		"CREATE TABLE x (y TEXT NOT NULL)", "ALTER TABLE users ADD COLUMN x TEXT NOT NULL DEFAULT ''",
		"ALTER TABLE users ADD COLUMN x BIGINT", "CREATE INDEX IF NOT EXISTS x ON users (login)",
	} {
		if matches(good) {
			t.Errorf("%q is caught", good)
		}
	}
}
