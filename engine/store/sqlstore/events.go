package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// ---- the system log ----
//
// Events are written by writeRecords inside the transaction of the write they came
// with (store.WithRecords): inTx calls it before committing, and a plain statement
// run while the context carries records (stmtCache.exec) is run in a transaction of
// its own for the purpose, which writes nothing if the statement changed no row.

// insertPending adds one event to the log's pending table, unless its uuid is
// taken there or in the log (then no row is inserted).
const insertPending = `INSERT INTO system_log_pending (uuid, event)
	SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM system_log WHERE uuid = $1)`

// writeRecords writes r's events and queues its messages in tx. Events go to
// system_log_pending, one row each (FlushEvents moves them into the log and its
// indexes later, many at once).
func (s *Store) writeRecords(ctx context.Context, tx *wtx, r store.Records) error {
	for _, e := range r.Events {
		body, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("sqlstore: encoding an event: %w", err)
		}
		if err := execOne(tx.ExecContext(ctx, insertPending, e.UUID, string(body))); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: event %s is in the log already", store.ErrAlreadyExists, e.UUID)
		} else if err != nil {
			return err
		}
	}
	for _, m := range r.Messages {
		if m.Status == "" {
			m.Status = store.MessagePending
		}
		if _, err := tx.ExecContext(ctx, insertMessage, messageArgs(m)...); err != nil {
			return err
		}
	}
	return nil
}

// eventRowsPerStatement bounds the rows of one multi-row INSERT of FlushEvents.
const eventRowsPerStatement = 100

// insertIndexed writes events into system_log and their targets, as FlushEvents
// moves them out of the pending table: a few multi-row statements for the lot,
// where one statement per event and target would cost most of the flush. An
// event whose uuid is in the log already (written there directly by a release
// from before the pending table) is skipped.
func (s *Store) insertIndexed(ctx context.Context, tx *wtx, events []store.LogEvent, bodies []string) error {
	placeholder := s.d.placeholder()
	values := func(rows, width int) string { return valuesSQL(placeholder, rows, width) }
	for start := 0; start < len(events); start += eventRowsPerStatement {
		chunk := events[start:min(start+eventRowsPerStatement, len(events))]
		args := make([]any, 0, 11*len(chunk))
		uuids := make([]any, 0, len(chunk))
		for i, e := range chunk {
			args = append(args, e.UUID, e.Published.UnixMilli(), e.EventType, e.Severity, e.Outcome.Result, e.Actor.ID,
				e.Actor.AlternateID, e.Transaction.ID, e.AuthenticationContext.ExternalSessionID, searchText(e), bodies[start+i])
			uuids = append(uuids, e.UUID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO system_log (uuid, published, event_type, severity, outcome_result,
			actor_id, actor_alternate_id, transaction_id, session_id, search_text, body) VALUES `+values(len(chunk), 11)+
			` ON CONFLICT (uuid) DO NOTHING`, args...); err != nil {
			return err
		}
		// The seqs the log gave them, for their targets.
		rows, err := tx.QueryContext(ctx, `SELECT uuid, seq FROM system_log WHERE uuid IN `+values(1, len(uuids)), uuids...)
		if err != nil {
			return err
		}
		seqs := make(map[string]int64, len(chunk))
		for rows.Next() {
			var uuid string
			var seq int64
			if err := rows.Scan(&uuid, &seq); err != nil {
				rows.Close()
				return err
			}
			seqs[uuid] = seq
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var targets []any
		for _, e := range chunk {
			for _, t := range e.Target {
				if t.ID != "" {
					targets = append(targets, t.ID, seqs[e.UUID], e.Published.UnixMilli())
				}
			}
		}
		for len(targets) > 0 {
			n := min(len(targets)/3, eventRowsPerStatement)
			if _, err := tx.ExecContext(ctx, `INSERT INTO system_log_targets (target_id, seq, published) VALUES `+
				values(n, 3)+` ON CONFLICT DO NOTHING`, targets[:3*n]...); err != nil {
				return err
			}
			targets = targets[3*n:]
		}
	}
	return nil
}

// flushBatch bounds the events one FlushEvents transaction moves.
const flushBatch = 500

// FlushEvents moves the pending events into the log, oldest first, in
// transactions of up to flushBatch events. Concurrent flushers (other nodes) pass
// over each other's rows (Dialect.LockRowsSkipLocked); each event moves once.
func (s *Store) FlushEvents(ctx context.Context) (int64, error) {
	var total int64
	for {
		var n int
		err := s.inTx(ctx, func(tx *wtx) error {
			rows, err := tx.QueryContext(ctx, `SELECT id, event FROM system_log_pending ORDER BY id LIMIT $1`+s.d.LockRowsSkipLocked, flushBatch)
			if err != nil {
				return err
			}
			type pendingEvent struct {
				id   int64
				body string
			}
			var batch []pendingEvent
			for rows.Next() {
				var p pendingEvent
				if err := rows.Scan(&p.id, &p.body); err != nil {
					rows.Close()
					return err
				}
				batch = append(batch, p)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			ids := make([]string, 0, len(batch))
			events := make([]store.LogEvent, 0, len(batch))
			bodies := make([]string, 0, len(batch))
			for _, p := range batch {
				var e store.LogEvent
				if err := json.Unmarshal([]byte(p.body), &e); err != nil {
					return fmt.Errorf("sqlstore: pending event %d: %w", p.id, err)
				}
				events, bodies = append(events, e), append(bodies, p.body)
				ids = append(ids, strconv.FormatInt(p.id, 10))
			}
			if err := s.insertIndexed(ctx, tx, events, bodies); err != nil {
				return err
			}
			if len(ids) > 0 {
				// The ids are integers this function read: no text of a caller's.
				if _, err := tx.ExecContext(ctx, `DELETE FROM system_log_pending WHERE id IN (`+strings.Join(ids, ", ")+`)`); err != nil {
					return err
				}
			}
			n = len(batch)
			return nil
		})
		if err != nil {
			return total, err
		}
		total += int64(n)
		if n < flushBatch {
			return total, nil
		}
	}
}

// searchText is what keywords (q) are matched against, lower-cased.
func searchText(e store.LogEvent) string {
	parts := []string{e.EventType, e.DisplayMessage, e.Outcome.Reason, e.Actor.ID, e.Actor.AlternateID,
		e.Actor.DisplayName, e.Client.IPAddress}
	for _, t := range e.Target {
		parts = append(parts, t.ID, t.AlternateID, t.DisplayName)
	}
	return strings.ToLower(strings.Join(parts, "\n"))
}

func (s *Store) AppendEvents(ctx context.Context, events []store.LogEvent, msgs []store.Message) error {
	if len(events) == 0 && len(msgs) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx *wtx) error {
		return s.writeRecords(ctx, tx, store.Records{Events: events, Messages: msgs})
	})
}

// errNoChange: a statement run for its records changed no row, so they are not
// written.
var errNoChange = errors.New("sqlstore: no row changed")

// execWithRecords runs one statement in a transaction that also writes the records
// ctx carries, unless the statement changed no row (then the records are dropped
// and the result is returned as it is). Errors of the statement come back as the
// driver returned them, as from a plain exec.
func (s *Store) execWithRecords(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if tx := s.txFrom(ctx); tx != nil && s.d.StatementsFailAlone {
		return s.execInSection(ctx, tx, query, args...)
	}
	var res sql.Result
	err := s.inTx(ctx, func(tx *wtx) error {
		var err error
		if res, err = tx.ExecContext(ctx, query, args...); err != nil {
			return callerError{err}
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return callerError{errNoChange}
		}
		return nil
	})
	if errors.Is(err, errNoChange) {
		return res, nil
	}
	return res, err
}

// execInSection runs one statement in the Atomically section's transaction tx,
// without a savepoint, where the database undoes a failed statement by itself
// (Dialect.StatementsFailAlone), then writes the records ctx carries if it
// changed a row. If the records cannot be written the statement stays done and
// the error comes back: the section must then not commit (every caller fails its
// section on such an error).
func (s *Store) execInSection(ctx context.Context, tx *wtx, query string, args ...any) (sql.Result, error) {
	records := store.TakeRecords(ctx)
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return res, err
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return res, nil
	}
	if err := s.writeRecords(ctx, tx, records); err != nil {
		return nil, err
	}
	if records.OnCommit != nil {
		store.AfterCommit(ctx, records.OnCommit)
	}
	return res, nil
}

// eventColumns are read by ListEvents; the rest is in body.
const eventColumns = `seq, published, body`

// eventFieldColumn is the column of each filterable attribute. target.id has a
// table of its own (see filterSQL).
var eventFieldColumn = map[store.EventField]string{
	store.EventFieldType:             "event_type",
	store.EventFieldOutcome:          "outcome_result",
	store.EventFieldSeverity:         "severity",
	store.EventFieldActorID:          "actor_id",
	store.EventFieldActorAlternateID: "actor_alternate_id",
	store.EventFieldTransactionID:    "transaction_id",
	store.EventFieldSessionID:        "session_id",
}

// filterSQL writes f as a condition whose values are all parameters: only column
// names from eventFieldColumn and fixed keywords are ever written into the query.
type filterSQL struct {
	args  []any
	terms int
}

func (w *filterSQL) param(v any) string {
	w.args = append(w.args, v)
	return fmt.Sprintf("$%d", len(w.args))
}

func (w *filterSQL) write(b *strings.Builder, f store.EventFilter, depth int) error {
	if depth > store.MaxEventFilterTerms {
		return errors.New("sqlstore: event filter nested too deep")
	}
	switch f.Op {
	case store.EventEq:
		if w.terms++; w.terms > store.MaxEventFilterTerms {
			return fmt.Errorf("sqlstore: event filter has more than %d comparisons", store.MaxEventFilterTerms)
		}
		if f.Field == store.EventFieldTargetID {
			b.WriteString("seq IN (SELECT seq FROM system_log_targets WHERE target_id = " + w.param(f.Value) + ")")
			return nil
		}
		col, ok := eventFieldColumn[f.Field]
		if !ok {
			return fmt.Errorf("sqlstore: events cannot be filtered on %q", f.Field)
		}
		b.WriteString(col + " = " + w.param(f.Value))
		return nil
	case store.EventAnd, store.EventOr:
		if len(f.Terms) == 0 {
			return fmt.Errorf("sqlstore: an event filter's %s has no terms", f.Op)
		}
		join := " AND "
		if f.Op == store.EventOr {
			join = " OR "
		}
		b.WriteByte('(')
		for i, t := range f.Terms {
			if i > 0 {
				b.WriteString(join)
			}
			if err := w.write(b, t, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(')')
		return nil
	}
	return fmt.Errorf("sqlstore: unknown event filter operation %q", f.Op)
}

// likeEscaper makes text match itself in a LIKE pattern with ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ListEvents pages by (published, seq), ascending or descending, on the
// system_log_published index.
func (s *Store) ListEvents(ctx context.Context, q store.EventQuery) ([]store.LogEvent, error) {
	// Every event committed so far is in the log before it is read.
	if _, err := s.FlushEvents(ctx); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	w := &filterSQL{}
	var where []string
	if !q.Since.IsZero() {
		where = append(where, "published >= "+w.param(q.Since.UnixMilli()))
	}
	if !q.Until.IsZero() {
		where = append(where, "published < "+w.param(q.Until.UnixMilli()))
	}
	if q.After != nil {
		p, seq := w.param(q.After.Published.UnixMilli()), w.param(q.After.Seq)
		op := ">"
		if q.Descending {
			op = "<"
		}
		where = append(where, fmt.Sprintf("(published %s %s OR (published = %s AND seq %s %s))", op, p, p, op, seq))
	}
	if q.Filter != nil {
		var b strings.Builder
		if err := w.write(&b, *q.Filter, 0); err != nil {
			return nil, err
		}
		where = append(where, b.String())
	}
	like := cmp.Or(s.d.ASCIIFoldLike, " LIKE")
	for _, k := range q.Keywords {
		where = append(where, "search_text"+like+" "+w.param("%"+likeEscaper.Replace(strings.ToLower(k))+"%")+` ESCAPE '\'`)
	}
	query := `SELECT ` + eventColumns + ` FROM system_log`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	order := "ASC"
	if q.Descending {
		order = "DESC"
	}
	query += fmt.Sprintf(` ORDER BY published %s, seq %s LIMIT %s`, order, order, w.param(limit))
	return queryList(ctx, s, s.reads, scanEvent, query, w.args...)
}

func scanEvent(row rowScanner) (store.LogEvent, error) {
	var e store.LogEvent
	var seq int64
	var published time.Time
	var body string
	if err := row.Scan(&seq, asTime(&published), &body); err != nil {
		return e, err
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return e, fmt.Errorf("sqlstore: event %d: %w", seq, err)
	}
	e.Seq, e.Published = seq, published
	if e.Target == nil {
		e.Target = []store.LogTarget{}
	}
	return e, nil
}

// eventDeleteBatch bounds the rows one statement of DeleteEventsBefore deletes, so
// that sweeping a large backlog does not hold the database for long.
const eventDeleteBatch = 5000

// DeleteEventsBefore deletes in batches, each in a transaction of its own, oldest
// first.
func (s *Store) DeleteEventsBefore(ctx context.Context, t time.Time) (int64, error) {
	if _, err := s.FlushEvents(ctx); err != nil {
		return 0, err
	}
	before := t.UnixMilli()
	var total int64
	for {
		var n int64
		err := s.inTx(ctx, func(tx *wtx) error {
			var cut sql.NullInt64
			// The published time below which this batch deletes: the batch's last
			// event's, so that targets go with their events.
			if err := tx.QueryRowContext(ctx, `SELECT MAX(published) FROM (SELECT published FROM system_log
				WHERE published < $1 ORDER BY published LIMIT $2) AS batch`, before, eventDeleteBatch).Scan(&cut); err != nil {
				return err
			}
			if !cut.Valid {
				return nil
			}
			limit := min(cut.Int64+1, before)
			if _, err := tx.ExecContext(ctx, `DELETE FROM system_log_targets WHERE published < $1`, limit); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM system_log WHERE published < $1`, limit)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n == 0 {
			return total, nil
		}
	}
}
