package sqlstore

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// millis is what a time column holds for t: unix milliseconds, or NULL for the zero
// time, so that "not yet" (UsedAt, ConsumedAt, …) stays distinct from any real instant.
func millis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// fromMillis is the time a column's unix milliseconds stand for, in UTC.
func fromMillis(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return time.UnixMilli(ms.Int64).UTC()
}

// timeColumn scans a time column (see millis) into *t.
type timeColumn struct{ t *time.Time }

func (c timeColumn) Scan(src any) error {
	var ms sql.NullInt64
	if err := ms.Scan(src); err != nil {
		return fmt.Errorf("time column: %w", err)
	}
	*c.t = fromMillis(ms)
	return nil
}

// asTime lets a time.Time field be a Scan destination.
func asTime(t *time.Time) timeColumn { return timeColumn{t} }

// jsonList is what a list column holds for l: a JSON array, [] when l is empty.
func jsonList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, err := json.Marshal(l)
	if err != nil {
		panic(err) // a []string always marshals
	}
	return string(b)
}

// listColumn scans a list column (see jsonList) into *l; an empty list becomes nil.
type listColumn struct{ l *[]string }

func (c listColumn) Scan(src any) error {
	var text []byte
	switch v := src.(type) {
	case string:
		text = []byte(v)
	case []byte:
		text = v
	case nil:
		*c.l = nil
		return nil
	default:
		return fmt.Errorf("list column: unexpected %T", src)
	}
	var l []string
	if err := json.Unmarshal(text, &l); err != nil {
		return fmt.Errorf("list column: %w", err)
	}
	if len(l) == 0 {
		l = nil
	}
	*c.l = l
	return nil
}

// asList lets a []string field be a Scan destination.
func asList(l *[]string) listColumn { return listColumn{l} }

// bytesColumn scans a BLOB/BYTEA column into a fresh slice; empty becomes nil.
type bytesColumn struct{ b *[]byte }

func (c bytesColumn) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.b = nil
	case []byte:
		if len(v) == 0 {
			*c.b = nil
		} else {
			*c.b = append([]byte(nil), v...) // the driver may reuse v
		}
	default:
		return fmt.Errorf("bytes column: unexpected %T", src)
	}
	return nil
}

// asBytes lets a []byte field be a Scan destination.
func asBytes(b *[]byte) bytesColumn { return bytesColumn{b} }

// nullIfEmpty stores an empty string as NULL, for UNIQUE columns where "not set" must
// not collide with another row's "not set".
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// stringColumn scans a nullable text column; NULL becomes "".
type stringColumn struct{ s *string }

func (c stringColumn) Scan(src any) error {
	var ns sql.NullString
	if err := ns.Scan(src); err != nil {
		return err
	}
	*c.s = ns.String
	return nil
}

// asString lets a string field be the Scan destination of a nullable column.
func asString(s *string) stringColumn { return stringColumn{s} }
