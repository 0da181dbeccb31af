package phone

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// Fuzz targets for what people type as a phone number or a code. Run one with
//
//	go test -run '^$' -fuzz '^FuzzParseNumber$' -fuzztime 30s ./engine/authn/phone/
//
// or all of them with .ci/fuzz (docs/operations.md, "Fuzzing").

var e164Pattern = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// fixturePhoneNumbers are the phoneNumber values of the recorded IDX fixtures
// (masked numbers, which must be refused as input).
func fixturePhoneNumbers(f *testing.F) []string {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "..", "idx", "testdata", "fixtures", "*.json"))
	if len(paths) == 0 {
		f.Fatal("no fixtures under idx/testdata/fixtures")
	}
	re := regexp.MustCompile(`"phoneNumber"\s*:\s*"([^"]*)"`)
	var out []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(data), -1) {
			out = append(out, m[1])
		}
	}
	return out
}

var numberSeeds = []string{
	"+12015550123", "(201) 555-0123", " +1 201-555-0123 ", "201.555.0123", "1-201-555-0123",
	"06 12 34 56 78", "+33612345678", "+44 7700 900123", "07911 123456", "+447911123456",
	"+49 1512 3456789", "+5491123456789", "011 15-2345-6789", "+81 90-1234-5678", "+61 412 345 678",
	"+18005550199", "+19005550123", "+443456789012", "(555) 555-5555", "not a number", "",
	"+1 201 555 0123 ext. 7", "tel:+1-201-555-0123", "+١٢٠١٥٥٥٠١٢٣", "+1\u00a0201\u00a0555\u00a00123",
	strings.Repeat("1", 64), strings.Repeat("1", 65), "+", "++12015550123", "+0", "+999999999999999",
}

var regionSeeds = []string{"US", "FR", "GB", "DE", "AR", "JP", "AU", "", "ZZ", "us", "001"}

// FuzzParseNumber: ParseNumber either returns one of its three errors and no
// number, or a valid E.164 number that parses to itself again from any region
// (so the stored form is canonical). Mask of an accepted number shows its country
// code and only the last (at most four) digits of the national number, and those
// are the number's own last digits. Both are deterministic.
func FuzzParseNumber(f *testing.F) {
	for i, n := range append(numberSeeds, fixturePhoneNumbers(f)...) {
		f.Add(n, regionSeeds[i%len(regionSeeds)])
	}
	f.Fuzz(func(t *testing.T, input, region string) {
		got, err := ParseNumber(input, region)
		again, err2 := ParseNumber(input, region)
		if got != again || !errors.Is(err2, err) || !errors.Is(err, err2) {
			t.Fatalf("ParseNumber(%q, %q) is not deterministic: %q, %v then %q, %v", input, region, got, err, again, err2)
		}
		if err != nil {
			if got != "" {
				t.Fatalf("ParseNumber(%q, %q) = %q with error %v", input, region, got, err)
			}
			if !errors.Is(err, ErrInvalidNumber) && !errors.Is(err, ErrRefusedNumber) && !errors.Is(err, ErrNumberTooLong) {
				t.Fatalf("ParseNumber(%q, %q): unexpected error %v", input, region, err)
			}
			if len(strings.TrimSpace(input)) > maxNumberInputLen && !errors.Is(err, ErrNumberTooLong) {
				t.Fatalf("ParseNumber: %d bytes gave %v, want ErrNumberTooLong", len(input), err)
			}
			return
		}
		if !e164Pattern.MatchString(got) {
			t.Fatalf("ParseNumber(%q, %q) = %q, not E.164", input, region, got)
		}
		for _, r := range []string{region, "US", "GB", ""} {
			if back, err := ParseNumber(got, r); back != got || err != nil {
				t.Fatalf("ParseNumber(%q, %q) = %q, but ParseNumber(%q, %q) = %q, %v", input, region, got, got, r, back, err)
			}
		}
		checkMask(t, got)
	})
}

// checkMask checks what Mask shows of a valid E.164 number.
func checkMask(t *testing.T, e164 string) {
	t.Helper()
	m := Mask(e164)
	if m != Mask(e164) {
		t.Fatalf("Mask(%q) is not deterministic", e164)
	}
	cc, rest, ok := strings.Cut(m, " ")
	if !ok || !strings.HasPrefix(e164, cc) || len(cc) < 2 || cc[0] != '+' {
		t.Fatalf("Mask(%q) = %q: does not start with the country code", e164, m)
	}
	nsn := e164[len(cc):]
	var shown []byte
	masked := 0
	for _, r := range rest {
		switch {
		case r == 'X':
			masked++
		case r >= '0' && r <= '9':
			shown = append(shown, byte(r))
		case r == ' ' || r == '-' || r == '/' || r == '.':
		default:
			t.Fatalf("Mask(%q) = %q: unexpected character %q", e164, m, r)
		}
	}
	if len(shown) > 4 || len(shown) == 0 && len(nsn) > 1 {
		t.Fatalf("Mask(%q) = %q shows %d digits", e164, m, len(shown))
	}
	if !strings.HasSuffix(nsn, string(shown)) {
		t.Fatalf("Mask(%q) = %q shows digits %q that do not end the number", e164, m, shown)
	}
	if masked+len(shown) > len(nsn) {
		t.Fatalf("Mask(%q) = %q has more digits than the number", e164, m)
	}
}

// FuzzMask: Mask takes whatever the store holds without panicking, is
// deterministic, and never shows more than the country code and four digits.
func FuzzMask(f *testing.F) {
	for _, n := range append(numberSeeds, fixturePhoneNumbers(f)...) {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m := Mask(s)
		if m != Mask(s) {
			t.Fatalf("Mask(%q) is not deterministic", s)
		}
		if strings.HasPrefix(m, "…") {
			return // unparseable input: at most its last two bytes are shown
		}
		_, rest, ok := strings.Cut(m, " ")
		if !ok && !strings.HasPrefix(m, "+") {
			t.Fatalf("Mask(%q) = %q", s, m)
		}
		digits := 0
		for _, r := range rest {
			if r >= '0' && r <= '9' {
				digits++
			}
		}
		if digits > 4 {
			t.Fatalf("Mask(%q) = %q shows %d digits of the national number", s, m, digits)
		}
	})
}

// FuzzNormalizeCode: a code typed with spaces, dashes or tabs is the same code;
// normalising is idempotent; the HMAC check accepts exactly what normalises to
// the code the MAC was made for.
func FuzzNormalizeCode(f *testing.F) {
	for _, c := range []string{"123456", "123 456", "123-456", " 123456\t", "12 34 56", "１２３４５６", "123456\x00",
		"--------", strings.Repeat("1", 32), strings.Repeat("1 ", 17), "\xff\xfe", "١٢٣٤٥٦", ""} {
		f.Add(c, "123456")
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	f.Fuzz(func(t *testing.T, typed, want string) {
		n := NormalizeCode(typed)
		if n != NormalizeCode(typed) {
			t.Fatalf("NormalizeCode(%q) is not deterministic", typed)
		}
		if len(typed) <= 32 {
			if strings.ContainsAny(n, " -\t") {
				t.Fatalf("NormalizeCode(%q) = %q still holds a separator", typed, n)
			}
			if utf8.ValidString(typed) && len(n) > len(typed) {
				t.Fatalf("NormalizeCode(%q) = %q grew", typed, n)
			}
		} else if n != typed {
			t.Fatalf("NormalizeCode changed a %d-byte input", len(typed))
		}
		if NormalizeCode(n) != n {
			t.Fatalf("NormalizeCode is not idempotent on %q: %q then %q", typed, n, NormalizeCode(n))
		}
		mac := CodeMAC(key, "chl", NormalizeCode(want))
		if ok := CheckCode(key, "chl", typed, mac); ok != (n == NormalizeCode(want)) {
			t.Fatalf("CheckCode(%q) against the MAC of %q = %v", typed, want, ok)
		}
	})
}
