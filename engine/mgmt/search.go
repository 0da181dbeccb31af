package mgmt

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// userFilter is what a search or filter expression asks of users.
type userFilter struct {
	login  *string          // profile.login eq "…"
	status store.UserStatus // status eq "…"; "" for any
}

// maxExpression bounds a search or filter expression.
const maxExpression = 1024

// parseUserFilter reads the subset of Okta's search expressions the API serves:
// clauses `profile.login eq "…"` and `status eq "…"` (a store.UserStatus), each at
// most once, joined by `and`. Operators and `and` are matched whatever their case,
// attribute names and status values exactly; strings are double-quoted, with \" and
// \\ for a quote and a backslash. Anything else is refused with a message saying
// what is served.
func parseUserFilter(expr string) (userFilter, error) {
	var f userFilter
	if len(expr) > maxExpression {
		return f, fmt.Errorf("the expression is longer than %d bytes", maxExpression)
	}
	p := &exprParser{s: expr}
	for i := 0; ; i++ {
		if i > 0 {
			word := p.word()
			if word == "" && p.pos == len(p.s) {
				break
			}
			if !strings.EqualFold(word, "and") {
				return f, fmt.Errorf("expected and after a value, not %s", quoted(p.s[p.pos-len(word):]))
			}
		}
		attr := p.word()
		op := p.word()
		if attr == "" {
			return f, errors.New("expected an attribute (profile.login or status)")
		}
		switch {
		case op == "":
			return f, fmt.Errorf("expected eq after %s", quoted(attr))
		case !strings.EqualFold(op, "eq"):
			return f, fmt.Errorf("only eq is served, not %s", quoted(op))
		}
		value, err := p.str()
		if err != nil {
			return f, err
		}
		switch attr {
		case "profile.login":
			if f.login != nil {
				return f, errors.New("profile.login is given twice")
			}
			f.login = &value
		case "status":
			if f.status != "" {
				return f, errors.New("status is given twice")
			}
			if !slices.Contains(store.UserStatuses, store.UserStatus(value)) {
				return f, fmt.Errorf("status is ACTIVE, STAGED, SUSPENDED, DEPROVISIONED or PASSWORD_EXPIRED, not %s", quoted(value))
			}
			f.status = store.UserStatus(value)
		default:
			return f, fmt.Errorf("only profile.login and status can be searched, not %s", quoted(attr))
		}
	}
	return f, nil
}

// exprParser reads an expression left to right.
type exprParser struct {
	s   string
	pos int
}

func (p *exprParser) skipSpace() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

// word reads up to the next space; "" at the end.
func (p *exprParser) word() string {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.s) && p.s[p.pos] != ' ' && p.s[p.pos] != '\t' && p.s[p.pos] != '"' {
		p.pos++
	}
	return p.s[start:p.pos]
}

// str reads a double-quoted string.
func (p *exprParser) str() (string, error) {
	p.skipSpace()
	if p.pos >= len(p.s) || p.s[p.pos] != '"' {
		return "", errors.New(`expected a value in double quotes`)
	}
	var b strings.Builder
	for p.pos++; p.pos < len(p.s); p.pos++ {
		switch c := p.s[p.pos]; c {
		case '"':
			p.pos++
			if p.pos < len(p.s) && p.s[p.pos] != ' ' && p.s[p.pos] != '\t' {
				return "", errors.New("expected a space after a quoted value")
			}
			return b.String(), nil
		case '\\':
			p.pos++
			if p.pos >= len(p.s) || (p.s[p.pos] != '"' && p.s[p.pos] != '\\') {
				return "", errors.New(`only \" and \\ may follow a backslash`)
			}
			b.WriteByte(p.s[p.pos])
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("a quoted value is not closed")
}
