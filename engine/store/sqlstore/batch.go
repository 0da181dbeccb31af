package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// batchInserter inserts rows into one table inside a transaction, many rows per
// INSERT. A full batch always has the same shape, so its statement is prepared once
// and reused; only the last, shorter batch gets a statement of its own. This is what
// makes bulk imports fast: one statement per row would spend most of its time in
// database/sql and driver overhead rather than in the database.
type batchInserter struct {
	tx          *sql.Tx
	table       string
	columns     string
	width       int // columns per row
	rowsPerStmt int
	placeholder func(n int) string
	full        *sql.Stmt // prepared on first use
	args        []any     // values of the rows not yet inserted
}

func newBatchInserter(tx *sql.Tx, d Dialect, table, columns string, rowsPerStmt int) *batchInserter {
	width := strings.Count(columns, ",") + 1
	return &batchInserter{tx: tx, table: table, columns: columns, width: width, rowsPerStmt: rowsPerStmt,
		placeholder: d.placeholder(), args: make([]any, 0, width*rowsPerStmt)}
}

// add queues one row, inserting a full batch when it is complete.
func (b *batchInserter) add(ctx context.Context, row ...any) error {
	if len(row) != b.width {
		return fmt.Errorf("sqlstore: %d values for the %d columns of %s", len(row), b.width, b.table)
	}
	b.args = append(b.args, row...)
	if len(b.args) < b.width*b.rowsPerStmt {
		return nil
	}
	if b.full == nil {
		stmt, err := b.tx.PrepareContext(ctx, b.insertSQL(b.rowsPerStmt))
		if err != nil {
			return err
		}
		b.full = stmt
	}
	_, err := b.full.ExecContext(ctx, b.args...)
	b.args = b.args[:0]
	return err
}

// flush inserts the queued rows.
func (b *batchInserter) flush(ctx context.Context) error {
	if len(b.args) == 0 {
		return nil
	}
	_, err := b.tx.ExecContext(ctx, b.insertSQL(len(b.args)/b.width), b.args...)
	b.args = b.args[:0]
	return err
}

func (b *batchInserter) close() {
	if b.full != nil {
		_ = b.full.Close() // closing a statement of a finished transaction cannot fail in a way that matters
	}
}

// insertSQL is "INSERT INTO table (columns) VALUES ($1, …), ($n+1, …), …" for rows
// rows, with the dialect's placeholders.
func (b *batchInserter) insertSQL(rows int) string {
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES ", b.table, b.columns) + valuesSQL(b.placeholder, rows, b.width)
}

// placeholder writes the n-th (1-based) parameter: Dialect.Placeholder, or "$n".
func (d Dialect) placeholder() func(n int) string {
	if d.Placeholder != nil {
		return d.Placeholder
	}
	return func(n int) string { return "$" + strconv.Itoa(n) }
}

// valuesSQL is "(p1, …, pwidth), (…), …": rows tuples of width parameters,
// numbered from 1.
func valuesSQL(placeholder func(n int) string, rows, width int) string {
	var q strings.Builder
	n := 0
	for r := range rows {
		if r > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for c := range width {
			if c > 0 {
				q.WriteString(", ")
			}
			n++
			q.WriteString(placeholder(n))
		}
		q.WriteByte(')')
	}
	return q.String()
}
