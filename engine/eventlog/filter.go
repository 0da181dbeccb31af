package eventlog

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// The bounds of a filter expression.
const (
	MaxFilterLength = 1024
	maxFilterDepth  = 8
	maxFilterValue  = 256
)

// ParseFilter reads the subset of Okta's filter expressions the system log serves:
// comparisons `attribute eq "value"` joined by `and` and `or` (and binding
// tighter), grouped with parentheses. The attributes are those of
// store.EventFields, spelt as Okta spells them; eq, and and or may be written in
// any case; values are double-quoted, with \" and \\ for a quote and a backslash.
// Anything else is an error saying what is wrong; the expression never reaches
// the database as text (the store writes values as parameters).
func ParseFilter(expr string) (*store.EventFilter, error) {
	if len(expr) > MaxFilterLength {
		return nil, fmt.Errorf("the expression is longer than %d bytes", MaxFilterLength)
	}
	if !utf8.ValidString(expr) {
		return nil, errors.New("the expression is not valid UTF-8")
	}
	p := &filterParser{s: expr}
	if err := p.lex(); err != nil {
		return nil, err
	}
	if len(p.toks) == 0 {
		return nil, errors.New("the expression is empty")
	}
	f, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("expected and or or, not %s", p.toks[p.pos].show())
	}
	if p.terms > store.MaxEventFilterTerms {
		return nil, fmt.Errorf("the expression has more than %d comparisons", store.MaxEventFilterTerms)
	}
	return &f, nil
}

type tokKind int

const (
	tokWord tokKind = iota
	tokString
	tokOpen
	tokClose
)

type token struct {
	kind tokKind
	text string
}

func (t token) show() string {
	switch t.kind {
	case tokString:
		return "a quoted value"
	case tokOpen, tokClose:
		return t.text
	}
	if len(t.text) > 40 {
		return fmt.Sprintf("%q…", t.text[:40])
	}
	return fmt.Sprintf("%q", t.text)
}

type filterParser struct {
	s     string
	toks  []token
	pos   int
	terms int
}

// lex splits the expression into words (attribute names and operators), quoted
// values and parentheses. Any other character is an error.
func (p *filterParser) lex() error {
	s := p.s
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')':
			k := tokOpen
			if c == ')' {
				k = tokClose
			}
			p.toks = append(p.toks, token{k, string(c)})
			i++
		case c == '"':
			var b strings.Builder
			i++
			closed := false
			for i < len(s) && !closed {
				switch s[i] {
				case '"':
					closed = true
				case '\\':
					if i+1 >= len(s) || (s[i+1] != '"' && s[i+1] != '\\') {
						return errors.New(`only \" and \\ may follow a backslash`)
					}
					i++
					b.WriteByte(s[i])
				default:
					b.WriteByte(s[i])
				}
				i++
			}
			if !closed {
				return errors.New("a quoted value is not closed")
			}
			if b.Len() > maxFilterValue {
				return fmt.Errorf("a value is longer than %d bytes", maxFilterValue)
			}
			p.toks = append(p.toks, token{tokString, b.String()})
		case isWordByte(c):
			start := i
			for i < len(s) && isWordByte(s[i]) {
				i++
			}
			p.toks = append(p.toks, token{tokWord, s[start:i]})
		default:
			r, _ := utf8.DecodeRuneInString(s[i:])
			return fmt.Errorf("unexpected %q at byte %d", r, i)
		}
	}
	return nil
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_'
}

func (p *filterParser) peekWord(w string) bool {
	return p.pos < len(p.toks) && p.toks[p.pos].kind == tokWord && strings.EqualFold(p.toks[p.pos].text, w)
}

// or := and ("or" and)*
func (p *filterParser) or(depth int) (store.EventFilter, error) {
	first, err := p.and(depth)
	if err != nil {
		return first, err
	}
	terms := []store.EventFilter{first}
	for p.peekWord("or") {
		p.pos++
		next, err := p.and(depth)
		if err != nil {
			return next, err
		}
		terms = append(terms, next)
	}
	return join(store.EventOr, terms), nil
}

// and := term ("and" term)*
func (p *filterParser) and(depth int) (store.EventFilter, error) {
	first, err := p.term(depth)
	if err != nil {
		return first, err
	}
	terms := []store.EventFilter{first}
	for p.peekWord("and") {
		p.pos++
		next, err := p.term(depth)
		if err != nil {
			return next, err
		}
		terms = append(terms, next)
	}
	return join(store.EventAnd, terms), nil
}

// join makes one node of terms, flattening nodes of the same operation.
func join(op store.EventFilterOp, terms []store.EventFilter) store.EventFilter {
	if len(terms) == 1 {
		return terms[0]
	}
	var flat []store.EventFilter
	for _, t := range terms {
		if t.Op == op {
			flat = append(flat, t.Terms...)
		} else {
			flat = append(flat, t)
		}
	}
	return store.EventFilter{Op: op, Terms: flat}
}

var fieldNames = func() []string {
	var out []string
	for _, f := range store.EventFields {
		out = append(out, string(f))
	}
	return out
}()

// term := "(" or ")" | attribute "eq" value
func (p *filterParser) term(depth int) (store.EventFilter, error) {
	if p.pos >= len(p.toks) {
		return store.EventFilter{}, errors.New("the expression ends where a comparison should be")
	}
	t := p.toks[p.pos]
	switch t.kind {
	case tokOpen:
		if depth >= maxFilterDepth {
			return store.EventFilter{}, fmt.Errorf("parentheses nest deeper than %d", maxFilterDepth)
		}
		p.pos++
		f, err := p.or(depth + 1)
		if err != nil {
			return f, err
		}
		if p.pos >= len(p.toks) || p.toks[p.pos].kind != tokClose {
			return f, errors.New("a parenthesis is not closed")
		}
		p.pos++
		return f, nil
	case tokWord:
	default:
		return store.EventFilter{}, fmt.Errorf("expected an attribute (%s), not %s", strings.Join(fieldNames, ", "), t.show())
	}
	field := store.EventField(t.text)
	known := false
	for _, f := range store.EventFields {
		known = known || f == field
	}
	if !known {
		return store.EventFilter{}, fmt.Errorf("%s cannot be filtered on; these can: %s", t.show(), strings.Join(fieldNames, ", "))
	}
	p.pos++
	if p.pos >= len(p.toks) || p.toks[p.pos].kind != tokWord {
		return store.EventFilter{}, fmt.Errorf("expected eq after %s", t.text)
	}
	if op := p.toks[p.pos]; !strings.EqualFold(op.text, "eq") {
		return store.EventFilter{}, fmt.Errorf("only eq is served, not %s", op.show())
	}
	p.pos++
	if p.pos >= len(p.toks) || p.toks[p.pos].kind != tokString {
		return store.EventFilter{}, fmt.Errorf("expected a value in double quotes after %s eq", t.text)
	}
	value := p.toks[p.pos].text
	p.pos++
	p.terms++
	return store.EventFilter{Op: store.EventEq, Field: field, Value: value}, nil
}
