package bench

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// What a sign-in costs the PostgreSQL server. When the engine's database is
// PostgreSQL and the pg_stat_statements extension works there, the bench reads, at
// both edges of the measurement window (as it reads the engine's CPU time and store
// operations): pg_stat_statements summed over the engine's database (dbid), per
// statement; pg_stat_wal (the whole server's WAL and its fsyncs); and, when the
// server runs on this machine, the CPU time of its processes from /proc. The
// differences, divided by the sign-ins counted in the window, are Result.Postgres.
//
// The bench's own statements stay out: those reading these statistics carry
// pgStatMarker and are left out by it; those reading the codes from the outbox (its
// own handle on the database) run with pg_stat_statements.track = none where its
// user may set it (the note says when not).

// pgStatMarker is in every statement the bench runs to read the statistics, so
// that they can leave themselves out.
const pgStatMarker = "gatehouse bench statistics"

// topStatements is how many statements Postgres lists.
const topStatements = 10

// queryShown is how much of a statement's text Postgres shows.
const queryShown = 100

// Postgres is what the engine's sign-ins cost its PostgreSQL server, per sign-in
// over the measurement window. Only Note is set when the figures are unavailable
// (it says why); with figures, Note says what is missing or may be off, if
// anything.
type Postgres struct {
	Note string `json:"note,omitempty"`
	*PostgresCost
}

// PostgresCost are the server's figures per sign-in.
type PostgresCost struct {
	Database          string `json:"database"`
	ServerVersion     string `json:"server_version"`
	SynchronousCommit string `json:"synchronous_commit"`

	// From pg_stat_statements, the engine's database only: every statement run
	// there in the window (BEGIN and COMMIT included), the time the server spent
	// executing them (planning not included), the WAL they wrote, and the shared
	// buffer blocks they touched.
	StatementsPerSignin    float64 `json:"statements_per_signin"`
	DBExecMsPerSignin      float64 `json:"db_exec_ms_per_signin"`
	WALBytesPerSignin      float64 `json:"wal_bytes_per_signin"`
	WALRecordsPerSignin    float64 `json:"wal_records_per_signin"`
	BlocksHitPerSignin     float64 `json:"shared_blks_hit_per_signin"`
	BlocksReadPerSignin    float64 `json:"shared_blks_read_per_signin"`
	BlocksDirtiedPerSignin float64 `json:"shared_blks_dirtied_per_signin"`
	BlocksWrittenPerSignin float64 `json:"shared_blks_written_per_signin"`

	// From pg_stat_wal (PostgreSQL 14 and later), the whole server: every WAL byte
	// written (commit records and full-page images included, which the statements'
	// figures lack), and the times WAL was flushed to disk. Nil when unavailable.
	ServerWALBytesPerSignin *float64 `json:"server_wal_bytes_per_signin,omitempty"`
	WALSyncsPerSignin       *float64 `json:"wal_syncs_per_signin,omitempty"`

	// ServerCPUMsPerSignin is the CPU time (user + system) of the server's
	// processes — the postmaster and all its children, those that ended in the
	// window included — when the server runs on this machine; nil otherwise.
	ServerCPUMsPerSignin *float64 `json:"server_cpu_ms_per_signin,omitempty"`

	// TopStatements are the statements that took the most execution time.
	TopStatements []PostgresStatement `json:"top_statements"`
}

// PostgresStatement is one statement of pg_stat_statements, per sign-in.
type PostgresStatement struct {
	Query             string  `json:"query"` // normalised ($1 for constants), shortened
	CallsPerSignin    float64 `json:"calls_per_signin"`
	MsPerSignin       float64 `json:"ms_per_signin"`
	WALBytesPerSignin float64 `json:"wal_bytes_per_signin"`
}

// pgStatement is one statement's counters in pg_stat_statements.
type pgStatement struct {
	query                                string
	calls                                int64
	execMs                               float64
	walBytes                             float64
	walRecords                           int64
	blksHit, blksRead, blksDirty, blksWr int64
}

func (a pgStatement) sub(b pgStatement) pgStatement {
	return pgStatement{query: a.query, calls: a.calls - b.calls, execMs: a.execMs - b.execMs, walBytes: a.walBytes - b.walBytes,
		walRecords: a.walRecords - b.walRecords, blksHit: a.blksHit - b.blksHit, blksRead: a.blksRead - b.blksRead,
		blksDirty: a.blksDirty - b.blksDirty, blksWr: a.blksWr - b.blksWr}
}

// pgSnapshot is the server's counters at one edge of the window.
type pgSnapshot struct {
	statements map[int64]pgStatement // by queryid
	dealloc    int64                 // entries pg_stat_statements evicted so far; -1 if unknown
	walKnown   bool
	walBytes   float64
	walSyncs   int64
	cpuKnown   bool
	cpu        time.Duration
}

// pgStats reads the statistics of the engine's PostgreSQL database.
type pgStats struct {
	db                *sql.DB
	database, version string
	syncCommit        string
	schema            string // the extension's, quoted
	postmaster        int    // the server's postmaster on this machine, 0 if not here
	notHere           string // why the server's CPU time is unknown
}

// openPGStats connects to the database dsn names and checks that
// pg_stat_statements can be read there. On failure it returns nil and why.
func openPGStats(ctx context.Context, dsn string) (*pgStats, string) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err.Error()
	}
	for k := range cfg.RuntimeParams {
		// The store's pool settings are not the server's; the engine's schema
		// is not where the extension lives.
		if strings.HasPrefix(k, "pool_") || k == "search_path" {
			delete(cfg.RuntimeParams, k)
		}
	}
	cfg.RuntimeParams["application_name"] = pgStatMarker
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(1)
	s := &pgStats{db: db}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var backend int
	var port sql.NullInt64
	err = db.QueryRowContext(ctx, `SELECT /* `+pgStatMarker+` */ current_database(), current_setting('server_version'),
		current_setting('synchronous_commit'), pg_backend_pid(), inet_client_port()`).Scan(&s.database, &s.version, &s.syncCommit, &backend, &port)
	if err != nil {
		db.Close()
		return nil, "cannot read the server's settings: " + err.Error()
	}
	// Where the user may, this makes the extension available; where it exists
	// already or the user may not, reading it says whether it works.
	_, _ = db.ExecContext(ctx, `CREATE /* `+pgStatMarker+` */ EXTENSION IF NOT EXISTS pg_stat_statements`)
	err = db.QueryRowContext(ctx, `SELECT /* `+pgStatMarker+` */ quote_ident(n.nspname) FROM pg_extension e
		JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_stat_statements'`).Scan(&s.schema)
	if errors.Is(err, sql.ErrNoRows) {
		err = errors.New("the extension is not installed there, and this user may not install it")
	}
	if err == nil {
		_, err = s.statements(ctx)
	}
	if err != nil {
		db.Close()
		return nil, fmt.Sprintf("pg_stat_statements is not usable in database %s (%v): it needs shared_preload_libraries = 'pg_stat_statements' and CREATE EXTENSION pg_stat_statements", s.database, err)
	}
	s.postmaster, s.notHere = localPostmaster(backend, port)
	return s, ""
}

func (s *pgStats) close() { s.db.Close() }

// statements reads pg_stat_statements for the database, by queryid.
func (s *pgStats) statements(ctx context.Context) (map[int64]pgStatement, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT /* `+pgStatMarker+` */ queryid, min(query), sum(calls)::bigint,
		sum(total_exec_time)::float8, sum(wal_bytes)::float8, sum(wal_records)::bigint,
		sum(shared_blks_hit)::bigint, sum(shared_blks_read)::bigint, sum(shared_blks_dirtied)::bigint, sum(shared_blks_written)::bigint
		FROM `+s.schema+`.pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND queryid IS NOT NULL
			AND query NOT LIKE '%`+pgStatMarker+`%'
		GROUP BY queryid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]pgStatement{}
	for rows.Next() {
		var id int64
		var st pgStatement
		if err := rows.Scan(&id, &st.query, &st.calls, &st.execMs, &st.walBytes, &st.walRecords,
			&st.blksHit, &st.blksRead, &st.blksDirty, &st.blksWr); err != nil {
			return nil, err
		}
		out[id] = st
	}
	return out, rows.Err()
}

// snapshot reads the counters at an edge of the window. The server's CPU time is
// read after the statements at the opening edge and before them at the closing
// one, so that reading them costs nothing inside the window.
func (s *pgStats) snapshot(ctx context.Context, opening bool) (pgSnapshot, error) {
	snap := pgSnapshot{dealloc: -1}
	readCPU := func() {
		if s.postmaster != 0 {
			snap.cpu, snap.cpuKnown = serverCPU(s.postmaster)
		}
	}
	if !opening {
		readCPU()
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var err error
	if snap.statements, err = s.statements(ctx); err != nil {
		return snap, err
	}
	// PostgreSQL 14 and later; older servers lack these, and the figures with them.
	if s.db.QueryRowContext(ctx, `SELECT /* `+pgStatMarker+` */ dealloc FROM `+s.schema+`.pg_stat_statements_info`).Scan(&snap.dealloc) != nil {
		snap.dealloc = -1
	}
	snap.walKnown = s.db.QueryRowContext(ctx, `SELECT /* `+pgStatMarker+` */ wal_bytes::float8, wal_sync FROM pg_stat_wal`).Scan(&snap.walBytes, &snap.walSyncs) == nil
	if opening {
		readCPU()
	}
	return snap, nil
}

// localPostmaster finds the postmaster of the server whose backend process is
// backend, serving the connection from client port port: on this machine, that
// backend is a process called postgres whose title names the port, and its parent
// is the postmaster. It returns 0 and why not if the server is elsewhere (another
// machine, or a container with processes of its own).
func localPostmaster(backend int, port sql.NullInt64) (int, string) {
	notHere := fmt.Sprintf("server CPU unknown: the server is not a process on this machine (its backend %d is not here)", backend)
	comm, ppid, err := procParent(backend)
	if err != nil || comm != "postgres" {
		return 0, notHere
	}
	title, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", backend))
	if err != nil {
		return 0, notHere
	}
	mark := "[local]" // a Unix socket
	if port.Valid {
		mark = "(" + strconv.FormatInt(port.Int64, 10) + ")"
	}
	if !bytes.Contains(title, []byte(mark)) {
		return 0, notHere
	}
	if comm, _, err := procParent(ppid); err != nil || comm != "postgres" {
		return 0, notHere
	}
	return ppid, ""
}

// procParent reads a process's command name and parent from /proc/<pid>/stat.
func procParent(pid int) (comm string, ppid int, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, err
	}
	open, end := bytes.IndexByte(raw, '('), bytes.LastIndexByte(raw, ')')
	if open < 0 || end < open {
		return "", 0, errors.New("unreadable /proc stat")
	}
	fields := strings.Fields(string(raw[end+1:])) // from field 3, the state
	if len(fields) < 2 {
		return "", 0, errors.New("unreadable /proc stat")
	}
	ppid, err = strconv.Atoi(fields[1])
	return string(raw[open+1 : end]), ppid, err
}

// serverCPU is the CPU time of the server whose postmaster is pid: the
// postmaster's own, its children's that have ended (which the kernel adds to the
// postmaster's once it has reaped them), and that of every child still running.
func serverCPU(postmaster int) (time.Duration, bool) {
	own, reaped, err := procTimes(postmaster)
	if err != nil {
		return 0, false
	}
	total := own + reaped
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == postmaster {
			continue
		}
		if _, ppid, err := procParent(pid); err != nil || ppid != postmaster {
			continue
		}
		if cpu, _, err := procTimes(pid); err == nil { // a child may end meanwhile
			total += cpu
		}
	}
	return total, true
}

// procTimes is a process's CPU time (utime + stime) and that of its reaped
// children (cutime + cstime), from /proc/<pid>/stat.
func procTimes(pid int) (own, reaped time.Duration, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	end := bytes.LastIndexByte(raw, ')')
	if end < 0 {
		return 0, 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(string(raw[end+1:])) // fields 14 to 17 are f[11] to f[14]
	if len(f) < 15 {
		return 0, 0, errors.New("unreadable /proc stat")
	}
	var t [4]int64
	for i := range t {
		if t[i], err = strconv.ParseInt(f[11+i], 10, 64); err != nil {
			return 0, 0, err
		}
	}
	tick := func(n int64) time.Duration { return time.Duration(n) * time.Second / userHZ }
	return tick(t[0] + t[1]), tick(t[2] + t[3]), nil
}

// postgresPerFlow turns the snapshots at the window's edges into per sign-in
// figures, with notes on anything missing or doubtful (notes, as given, first).
func postgresPerFlow(s *pgStats, before, after pgSnapshot, flows int, notes []string) *Postgres {
	if flows <= 0 {
		return &Postgres{Note: strings.Join(append(notes, "no sign-in was counted"), "; ")}
	}
	f := float64(flows)
	per := func(v float64) float64 { return round(v / f) }
	c := &PostgresCost{Database: s.database, ServerVersion: s.version, SynchronousCommit: s.syncCommit}
	var total pgStatement
	var list []pgStatement
	evicted := after.dealloc != before.dealloc
	for id, a := range after.statements {
		d := a.sub(before.statements[id])
		if d.calls <= 0 {
			continue
		}
		if d.execMs < 0 || d.walBytes < 0 || d.walRecords < 0 { // reset in the window
			evicted = true
			continue
		}
		list = append(list, d)
		total.calls += d.calls
		total.execMs += d.execMs
		total.walBytes += d.walBytes
		total.walRecords += d.walRecords
		total.blksHit += d.blksHit
		total.blksRead += d.blksRead
		total.blksDirty += d.blksDirty
		total.blksWr += d.blksWr
	}
	if evicted {
		notes = append(notes, "pg_stat_statements dropped or reset entries during the window (pg_stat_statements.max): its figures may be low")
	}
	c.StatementsPerSignin = per(float64(total.calls))
	c.DBExecMsPerSignin = per(total.execMs)
	c.WALBytesPerSignin = per(total.walBytes)
	c.WALRecordsPerSignin = per(float64(total.walRecords))
	c.BlocksHitPerSignin = per(float64(total.blksHit))
	c.BlocksReadPerSignin = per(float64(total.blksRead))
	c.BlocksDirtiedPerSignin = per(float64(total.blksDirty))
	c.BlocksWrittenPerSignin = per(float64(total.blksWr))
	if before.walKnown && after.walKnown {
		b, n := per(after.walBytes-before.walBytes), per(float64(after.walSyncs-before.walSyncs))
		c.ServerWALBytesPerSignin, c.WALSyncsPerSignin = &b, &n
	} else {
		notes = append(notes, "pg_stat_wal unavailable (PostgreSQL 14 or later has it): no server-wide WAL figures")
	}
	if before.cpuKnown && after.cpuKnown {
		cpu := per(ms(after.cpu - before.cpu))
		c.ServerCPUMsPerSignin = &cpu
	} else if s.notHere != "" {
		notes = append(notes, s.notHere)
	} else {
		notes = append(notes, "server CPU unknown: its processes could not be read")
	}
	slices.SortFunc(list, func(a, b pgStatement) int {
		switch {
		case a.execMs > b.execMs:
			return -1
		case a.execMs < b.execMs:
			return 1
		}
		return strings.Compare(a.query, b.query)
	})
	c.TopStatements = []PostgresStatement{}
	for _, st := range list[:min(len(list), topStatements)] {
		c.TopStatements = append(c.TopStatements, PostgresStatement{Query: shortQuery(st.query), CallsPerSignin: per(float64(st.calls)),
			MsPerSignin: per(st.execMs), WALBytesPerSignin: per(st.walBytes)})
	}
	return &Postgres{Note: strings.Join(notes, "; "), PostgresCost: c}
}

// shortQuery is a statement's text on one line, cut to queryShown characters.
func shortQuery(q string) string {
	q = strings.Join(strings.Fields(q), " ")
	if utf8.RuneCountInString(q) <= queryShown {
		return q
	}
	r := []rune(q)
	return string(r[:queryShown-1]) + "…"
}

// writeLines adds the server's figures to the summary table.
func (p *Postgres) writeLines(tw io.Writer) {
	switch {
	case p == nil:
		return
	case p.PostgresCost == nil:
		fmt.Fprintf(tw, "PostgreSQL per sign-in\tunknown\t(%s)\n", p.Note)
		return
	}
	c := p.PostgresCost
	fmt.Fprintf(tw, "PostgreSQL per sign-in\t%.1f statements, %.2f ms executing\t(pg_stat_statements, database %s; BEGIN and COMMIT count; synchronous_commit %s)\n",
		c.StatementsPerSignin, c.DBExecMsPerSignin, c.Database, c.SynchronousCommit)
	wal := fmt.Sprintf("  WAL per sign-in\t%s bytes, %.1f records\t(the statements'", thousands(int(c.WALBytesPerSignin+0.5)), c.WALRecordsPerSignin)
	if c.ServerWALBytesPerSignin != nil && c.WALSyncsPerSignin != nil {
		wal += fmt.Sprintf("; the whole server wrote %s bytes and flushed %.2f times: pg_stat_wal", thousands(int(*c.ServerWALBytesPerSignin+0.5)), *c.WALSyncsPerSignin)
	}
	fmt.Fprintln(tw, wal+")")
	fmt.Fprintf(tw, "  shared blocks\t%.1f hit, %.2f read\t(%.2f dirtied, %.2f written by the statements)\n",
		c.BlocksHitPerSignin, c.BlocksReadPerSignin, c.BlocksDirtiedPerSignin, c.BlocksWrittenPerSignin)
	if c.ServerCPUMsPerSignin != nil {
		fmt.Fprintf(tw, "  server CPU per sign-in\t%.2f ms\t(the server's processes on this machine)\n", *c.ServerCPUMsPerSignin)
	}
	if p.Note != "" {
		fmt.Fprintf(tw, "  note\t\t%s\n", p.Note)
	}
}

// writeStatements lists the statements that took the server the most time.
func (p *Postgres) writeStatements(b *strings.Builder) {
	if p == nil || p.PostgresCost == nil || len(p.TopStatements) == 0 {
		return
	}
	fmt.Fprintf(b, "\nPostgreSQL statements by execution time, per sign-in\n%8s %8s %10s  %s\n", "calls", "ms", "WAL bytes", "statement")
	for _, st := range p.TopStatements {
		fmt.Fprintf(b, "%8.2f %8.3f %10.0f  %s\n", st.CallsPerSignin, st.MsPerSignin, st.WALBytesPerSignin, st.Query)
	}
}
