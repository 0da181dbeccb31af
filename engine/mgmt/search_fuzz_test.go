package mgmt

import (
	"strings"
	"testing"
)

// format writes f back as an expression parseUserFilter reads, its status clause
// first or last.
func (f userFilter) format(statusFirst bool) string {
	var clauses []string
	if f.login != nil {
		clauses = append(clauses, `profile.login eq "`+strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(*f.login)+`"`)
	}
	if f.status != "" {
		clause := `status eq "` + string(f.status) + `"`
		if statusFirst {
			clauses = append([]string{clause}, clauses...)
		} else {
			clauses = append(clauses, clause)
		}
	}
	return strings.Join(clauses, " and ")
}

// squash is an expression without the white space outside its quoted values and
// with its words lower-case: equal for expressions that differ only in those.
func squash(expr string) string {
	var b strings.Builder
	quoted, escaped := false, false
	for _, c := range expr {
		switch {
		case quoted:
			b.WriteRune(c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				quoted = false
			}
		case c == '"':
			quoted = true
			b.WriteRune(c)
		case c == ' ' || c == '\t':
		default:
			b.WriteString(strings.ToLower(string(c)))
		}
	}
	return b.String()
}

// FuzzUserFilter: a search or filter expression is refused with a message, or read
// as a login and/or a status that, written back, reads the same; and a cursor is
// refused or is a stored-form login that encodes back to itself.
//
//	go test -run '^$' -fuzz '^FuzzUserFilter$' -fuzztime 30s ./engine/mgmt/
func FuzzUserFilter(f *testing.F) {
	for _, s := range []string{
		`profile.login eq "alice@example.com"`, `status eq "ACTIVE"`, `status eq "DEPROVISIONED" and profile.login eq "a\"b\\c"`,
		`profile.login eq "x" or 1=1`, `"; DROP TABLE users; --`, `status eq "SUSPENDED"`, `status eq "LOCKED_OUT"`, `status eq "PASSWORD_EXPIRED"`, `profile.login sw "a"`, ``, `and`,
		`status  EQ  "ACTIVE"  AND  profile.login  eq  ""`, "status\teq\t\"ACTIVE\"", `profile.login eq "a`, `profile.login eq "\x"`,
		`status eq "ACTIVE" "x"`, `status eq "ACTIVE" and "x"`, "YWxpY2VAZXhhbXBsZS5jb20", "QUxJQ0U", "!!!", "and",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		got, err := parseUserFilter(expr)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("%q: an empty message", expr)
			}
		} else {
			if got.login == nil && got.status == "" {
				t.Fatalf("%q: accepted as no filter at all", expr)
			}
			// Nothing but the filter was accepted: the expression is its clauses.
			if squash(expr) != squash(got.format(false)) && squash(expr) != squash(got.format(true)) {
				t.Fatalf("%q: accepted as %q", expr, got.format(false))
			}
			again, err := parseUserFilter(got.format(false))
			if err != nil || again.format(false) != got.format(false) {
				t.Fatalf("%q read as %q, which reads back as %q (%v)", expr, got.format(false), again.format(false), err)
			}
		}
		if login, ok := decodeCursor(expr); ok {
			if login != normalizeLogin(login) || login == "" || encodeCursor(login) != expr {
				t.Fatalf("cursor %q accepted as %q", expr, login)
			}
		}
	})
}
