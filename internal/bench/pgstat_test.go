package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestPostgresPerFlow checks the snapshots at the window's edges become per
// sign-in figures: the differences over the sign-ins counted, statements new in
// the window counted whole, the top statements by execution time, and the server's
// CPU time and WAL only when both edges have them.
func TestPostgresPerFlow(t *testing.T) {
	s := &pgStats{database: "test", version: "15.20", syncCommit: "on"}
	long := "SELECT id, name FROM users WHERE " + strings.Repeat("x = $1 AND ", 20) + "y = $2"
	before := pgSnapshot{dealloc: 0, walKnown: true, walBytes: 1_000_000, walSyncs: 50, cpuKnown: true, cpu: 10 * time.Second,
		statements: map[int64]pgStatement{
			1: {query: "BEGIN", calls: 100, execMs: 1},
			2: {query: "UPDATE throttles SET n = n + $1", calls: 40, execMs: 20, walBytes: 4000, walRecords: 40, blksHit: 80, blksDirty: 4},
			3: {query: "SELECT 1", calls: 7, execMs: 0.5}, // not run in the window
		}}
	// 20 sign-ins: each BEGIN once, two UPDATEs, one long SELECT (new in the window).
	after := pgSnapshot{dealloc: 0, walKnown: true, walBytes: 1_000_000 + 300_000, walSyncs: 50 + 30, cpuKnown: true, cpu: 10*time.Second + 90*time.Millisecond,
		statements: map[int64]pgStatement{
			1: {query: "BEGIN", calls: 120, execMs: 1.2},
			2: {query: "UPDATE throttles SET n = n + $1", calls: 80, execMs: 30, walBytes: 4000 + 200_000, walRecords: 40 + 60, blksHit: 80 + 200, blksDirty: 4 + 10, blksWr: 2},
			3: {query: "SELECT 1", calls: 7, execMs: 0.5},
			4: {query: long, calls: 20, execMs: 4, blksHit: 100, blksRead: 5},
		}}
	got := postgresPerFlow(s, before, after, 20, nil)
	if got.Note != "" || got.PostgresCost == nil {
		t.Fatalf("note %q, figures %v", got.Note, got.PostgresCost)
	}
	c := got.PostgresCost
	check := func(name string, got, want float64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("statements", c.StatementsPerSignin, 4)          // (20 + 40 + 20) ÷ 20
	check("exec ms", c.DBExecMsPerSignin, 0.71)            // (0.2 + 10 + 4) ÷ 20
	check("WAL bytes", c.WALBytesPerSignin, 10_000)        // 200,000 ÷ 20
	check("WAL records", c.WALRecordsPerSignin, 3)         // 60 ÷ 20
	check("blocks hit", c.BlocksHitPerSignin, 15)          // (200 + 100) ÷ 20
	check("blocks read", c.BlocksReadPerSignin, 0.25)      // 5 ÷ 20
	check("blocks dirtied", c.BlocksDirtiedPerSignin, 0.5) // 10 ÷ 20
	check("blocks written", c.BlocksWrittenPerSignin, 0.1) // 2 ÷ 20
	if c.ServerWALBytesPerSignin == nil || c.WALSyncsPerSignin == nil || c.ServerCPUMsPerSignin == nil {
		t.Fatalf("server figures missing: %+v", c)
	}
	check("server WAL bytes", *c.ServerWALBytesPerSignin, 15_000) // 300,000 ÷ 20
	check("WAL flushes", *c.WALSyncsPerSignin, 1.5)               // 30 ÷ 20
	check("server CPU ms", *c.ServerCPUMsPerSignin, 4.5)          // 90 ms ÷ 20
	if len(c.TopStatements) != 3 {
		t.Fatalf("top statements %+v, want the three run in the window", c.TopStatements)
	}
	top := c.TopStatements[0]
	if top.Query != "UPDATE throttles SET n = n + $1" || top.CallsPerSignin != 2 || top.MsPerSignin != 0.5 || top.WALBytesPerSignin != 10_000 {
		t.Errorf("first statement %+v, want the UPDATE: 2 calls, 0.5 ms, 10,000 WAL bytes", top)
	}
	second := c.TopStatements[1]
	if n := len([]rune(second.Query)); n != queryShown || !strings.HasSuffix(second.Query, "…") || second.MsPerSignin != 0.2 {
		t.Errorf("second statement %+v (%d characters), want the long SELECT cut to %d", second, n, queryShown)
	}
	if c.TopStatements[2].Query != "BEGIN" || c.TopStatements[2].CallsPerSignin != 1 {
		t.Errorf("third statement %+v", c.TopStatements[2])
	}

	// The table and the JSON show them.
	r := result()
	r.Postgres = got
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	table := strings.Join(strings.Fields(buf.String()), " ")
	for _, want := range []string{"PostgreSQL per sign-in 4.0 statements, 0.71 ms executing", "WAL per sign-in 10,000 bytes, 3.0 records",
		"the whole server wrote 15,000 bytes and flushed 1.50 times", "server CPU per sign-in 4.50 ms", "2.00 0.500 10000 UPDATE throttles"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	doc := postgresJSON(t, r)
	for k, want := range map[string]float64{"db_exec_ms_per_signin": 0.71, "statements_per_signin": 4, "wal_bytes_per_signin": 10_000,
		"wal_records_per_signin": 3, "server_cpu_ms_per_signin": 4.5} {
		if doc.Postgres[k] != want {
			t.Errorf("postgres.%s = %v, want %v", k, doc.Postgres[k], want)
		}
	}
	if _, ok := doc.Postgres["note"]; ok {
		t.Errorf("a note with every figure known: %v", doc.Postgres["note"])
	}
	// --compare: against an earlier PostgreSQL run, and one that had no figures.
	old := result()
	old.Postgres = &Postgres{PostgresCost: &PostgresCost{StatementsPerSignin: 5, DBExecMsPerSignin: 1.42, WALBytesPerSignin: 20_000}}
	buf.Reset()
	if err := r.WriteComparison(&buf, old, "old.json"); err != nil {
		t.Fatal(err)
	}
	cmp := strings.Join(strings.Fields(buf.String()), " ")
	for _, want := range []string{"PostgreSQL statements / sign-in 5.0 → 4.0 0.800", "PostgreSQL exec ms / sign-in 1.420 → 0.710 0.500",
		"WAL bytes / sign-in 20000.0 → 10000.0 0.500", "PostgreSQL CPU ms / sign-in — → 4.500 —"} {
		if !strings.Contains(cmp, want) {
			t.Errorf("comparison lacks %q:\n%s", want, buf.String())
		}
	}

	// A server elsewhere: no CPU time, and the note says why; an eviction in the
	// window is noted too.
	s.notHere = "server CPU unknown: elsewhere"
	before.cpuKnown, after.dealloc = false, 3
	got = postgresPerFlow(s, before, after, 20, nil)
	if got.ServerCPUMsPerSignin != nil || !strings.Contains(got.Note, "elsewhere") || !strings.Contains(got.Note, "pg_stat_statements.max") {
		t.Errorf("server CPU %v, note %q", got.ServerCPUMsPerSignin, got.Note)
	}
	if got := postgresPerFlow(s, before, after, 0, nil); got.PostgresCost != nil || got.Note == "" {
		t.Errorf("no sign-ins: %+v", got)
	}
}

// TestPostgresUnavailableIsANote checks that a run without the server's
// statistics says why in the JSON and the table, with no figures.
func TestPostgresUnavailableIsANote(t *testing.T) {
	r := result()
	r.Postgres = &Postgres{Note: "pg_stat_statements is not usable in database test"}
	doc := postgresJSON(t, r)
	if len(doc.Postgres) != 1 || doc.Postgres["note"] != r.Postgres.Note {
		t.Errorf("postgres = %v, want the note alone", doc.Postgres)
	}
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(strings.Fields(buf.String()), " "), "PostgreSQL per sign-in unknown (pg_stat_statements is not usable") {
		t.Errorf("table:\n%s", buf.String())
	}
	// SQLite: no postgres object at all.
	r.Postgres = nil
	buf.Reset()
	_ = r.WriteJSON(&buf)
	if strings.Contains(buf.String(), `"postgres"`) {
		t.Errorf("a postgres object without PostgreSQL:\n%s", buf.String())
	}
}

// postgresJSON is the "postgres" object of r's JSON.
func postgresJSON(t *testing.T, r *Result) (doc struct {
	Postgres map[string]any `json:"postgres"`
}) {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}
