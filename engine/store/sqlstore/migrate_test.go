package sqlstore

import (
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"0010_later.sql": {Data: []byte("CREATE TABLE b (x INTEGER);")},
		"0002_first.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"README.md":      {Data: []byte("not a migration")},
	}
	got, err := LoadMigrations(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Version != 2 || got[0].Name != "0002_first.sql" || got[1].Version != 10 ||
		got[1].SQL != "CREATE TABLE b (x INTEGER);" {
		t.Errorf("LoadMigrations: %+v", got)
	}

	for name, bad := range map[string]fstest.MapFS{
		"no migrations":     {},
		"no version":        {"init.sql": {}},
		"version zero":      {"0000_init.sql": {}},
		"not a number":      {"v1_init.sql": {}},
		"duplicate version": {"0001_a.sql": {}, "1_b.sql": {}},
	} {
		if _, err := LoadMigrations(bad); err == nil {
			t.Errorf("LoadMigrations with %s: no error", name)
		}
	}
}

func TestInsertSQL(t *testing.T) {
	b := newBatchInserter(nil, Dialect{}, "t", "a, b", 2)
	if got, want := b.insertSQL(2), "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"; got != want {
		t.Errorf("insertSQL = %q, want %q", got, want)
	}
	b = newBatchInserter(nil, Dialect{Placeholder: func(int) string { return "?" }}, "t", "a, b, c", 1)
	if got, want := b.insertSQL(1), "INSERT INTO t (a, b, c) VALUES (?, ?, ?)"; got != want {
		t.Errorf("insertSQL = %q, want %q", got, want)
	}
}
