package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

const logsUsage = `gatehouse logs [--config FILE | --database DSN] tail [--follow] [--filter EXPR] [--since WHEN] [--json]

tail prints the system log's events from --since on (default: the last hour),
oldest first, one a line: when, severity, event type, outcome and reason, who
acted, what was acted on, the client's address and the sign-in
(externalSessionId) it belongs to. --follow keeps printing new events as they are
recorded until interrupted. --filter takes the expressions GET /api/v1/logs
takes, e.g. 'eventType eq "user.session.start" and outcome.result eq "FAILURE"'
or 'actor.id eq "00u…"'. --since is a duration back from now (90m, 24h) or a
time (2024-05-01T10:00:00Z). --json prints each event as Okta's LogEvent JSON.

The log is read from the database directly, so it works whether or not the
management API is on. docs/operations.md describes the events.
`

// logsPage is how many events one query reads.
const logsPage = 500

// followOverlap is how far back each poll of --follow reads again: an event is
// stamped when its change is made and becomes visible when that commits, so one
// stamped a moment before the newest printed may show up after it.
const followOverlap = 10 * time.Second

type logsCmd struct {
	env
	st   store.EventStore
	now  func() time.Time
	poll time.Duration
}

func (e env) logs(ctx context.Context, args []string) error {
	fs := e.newFlagSet("logs", logsUsage)
	fs.Usage = func() { fmt.Fprint(e.stderr, "Usage: "+logsUsage+"\nGlobal flags:\n"); fs.PrintDefaults() }
	configPath := fs.String("config", "", "configuration file; its database is used")
	database := fs.String("database", "", "database instead of --config: sqlite:PATH or postgres://…")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 || fs.Arg(0) != "tail" {
		fs.Usage()
		return errUsage
	}
	tfs := e.newFlagSet("logs tail", "logs [--config FILE | --database DSN] tail [--follow] [--filter EXPR] [--since WHEN] [--json]")
	follow := tfs.Bool("follow", false, "keep printing new events until interrupted")
	filter := tfs.String("filter", "", "only events matching this expression (as GET /api/v1/logs's filter)")
	since := tfs.String("since", "1h", "from this long ago (90m, 24h) or this time (RFC 3339)")
	asJSON := tfs.Bool("json", false, "print each event as JSON")
	poll := tfs.Duration("poll", time.Second, "with --follow, how often to look for new events")
	// The global flags are taken after tail too.
	tfs.StringVar(configPath, "config", *configPath, "configuration file; its database is used")
	tfs.StringVar(database, "database", *database, "database instead of --config")
	if _, err := parseArgs(tfs, fs.Args()[1:], 0); err != nil {
		return err
	}
	if (*configPath == "") == (*database == "") || *poll < 10*time.Millisecond {
		fs.Usage()
		return errUsage
	}
	c := logsCmd{env: e, now: time.Now, poll: *poll}
	var q store.EventQuery
	if *filter != "" {
		f, err := eventlog.ParseFilter(*filter)
		if err != nil {
			return fmt.Errorf("--filter: %v", err)
		}
		q.Filter = f
	}
	from, err := parseSince(*since, c.now())
	if err != nil {
		return err
	}
	q.Since = from
	dsn := *database
	if *configPath != "" {
		cfg, err := config.LoadFor(*configPath, config.ForAdmin)
		if err != nil {
			return err
		}
		dsn = cfg.Database
	}
	st, err := openAdminStore(ctx, dsn, false)
	if err != nil {
		return err
	}
	defer st.Close()
	c.st = st
	return c.tail(ctx, q, *follow, *asJSON)
}

// parseSince reads --since: a duration back from now, or a time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q is neither a duration such as 90m nor a time such as 2024-05-01T10:00:00Z", s)
}

// tail prints the events of q, page after page, and with follow goes on polling
// until ctx ends. Events already printed are recognised by uuid, so the overlap
// of each poll prints nothing twice.
func (c logsCmd) tail(ctx context.Context, q store.EventQuery, follow, asJSON bool) error {
	seen := map[string]time.Time{}
	q.Limit = logsPage
	for {
		var newest time.Time
		for {
			page, err := c.st.ListEvents(ctx, q)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			for _, e := range page {
				if _, dup := seen[e.UUID]; dup {
					continue
				}
				seen[e.UUID] = e.Published
				if err := c.print(e, asJSON); err != nil {
					return err
				}
			}
			if len(page) > 0 {
				last := page[len(page)-1]
				q.After = &store.EventCursor{Published: last.Published, Seq: last.Seq}
				newest = last.Published
			}
			if len(page) < logsPage {
				break
			}
		}
		if !follow {
			return nil
		}
		// Read again from a little before the newest event printed; forget what
		// is older than that.
		if !newest.IsZero() {
			q.Since = newest.Add(-followOverlap)
		}
		q.After = nil
		for id, at := range seen {
			if at.Before(q.Since) {
				delete(seen, id)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(c.poll):
		}
	}
}

// print writes one event on one line.
func (c logsCmd) print(e store.LogEvent, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "%s\n", b)
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-5s %s %s", e.Published.UTC().Format("2006-01-02T15:04:05.000Z"), e.Severity, word(e.EventType), word(e.Outcome.Result))
	if e.Outcome.Reason != "" {
		fmt.Fprintf(&b, " reason=%s", word(e.Outcome.Reason))
	}
	fmt.Fprintf(&b, " actor=%s", word(who(e.Actor.AlternateID, e.Actor.ID)))
	for _, t := range e.Target {
		fmt.Fprintf(&b, " target=%s:%s", word(t.Type), word(who(t.AlternateID, t.ID)))
	}
	if e.Client.IPAddress != "" {
		fmt.Fprintf(&b, " ip=%s", word(e.Client.IPAddress))
	}
	if s := e.AuthenticationContext.ExternalSessionID; s != "" {
		fmt.Fprintf(&b, " session=%s", word(s))
	}
	if e.Transaction.ID != "" {
		fmt.Fprintf(&b, " %s=%s", strings.ToLower(word(e.Transaction.Type)), word(e.Transaction.ID))
	}
	if phone := e.DebugContext.DebugData["phoneNumber"]; phone != "" {
		fmt.Fprintf(&b, " phone=%s", word(phone))
	}
	_, err := fmt.Fprintln(c.stdout, b.String())
	return err
}

// who is an actor's or target's name: its alternate id, or else its id.
func who(alternate, id string) string {
	if alternate != "" && alternate != id {
		return alternate + "(" + id + ")"
	}
	return id
}

// word is s as one word of a line: quoted (with escapes) when it holds spaces,
// quotes or anything not printable, so that text from the outside (a login typed
// at sign-in, a User-Agent) can neither split a line nor drive the terminal.
func word(s string) string {
	if s == "" {
		return `""`
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r == '"' || r == '=' || !unicode.IsPrint(r) }) < 0 {
		return s
	}
	return strconv.Quote(s)
}
