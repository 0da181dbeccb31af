package phone

import (
	"errors"
	"slices"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// example is the phonenumbers library's own example number of type typ for region,
// in E.164; the test fails if the library has none, so that a table row cannot
// silently test nothing.
func example(t *testing.T, region string, typ phonenumbers.PhoneNumberType) string {
	t.Helper()
	n := phonenumbers.GetExampleNumberForType(region, typ)
	if n == nil {
		t.Fatalf("phonenumbers has no example of type %v for %s", typ, region)
	}
	if got := phonenumbers.GetNumberType(n); got != typ {
		t.Fatalf("phonenumbers' example %v for %s is of type %v", typ, region, got)
	}
	return phonenumbers.Format(n, phonenumbers.E164)
}

func nonGeoExample(t *testing.T, callingCode int) string {
	t.Helper()
	n := phonenumbers.GetExampleNumberForNonGeoEntity(callingCode)
	if n == nil {
		t.Fatalf("phonenumbers has no example for +%d", callingCode)
	}
	return phonenumbers.Format(n, phonenumbers.E164)
}

func TestParseNumberRefusesTypes(t *testing.T) {
	cases := []struct {
		region string
		typ    phonenumbers.PhoneNumberType
	}{
		{"US", phonenumbers.PREMIUM_RATE},
		{"GB", phonenumbers.PREMIUM_RATE},
		{"LV", phonenumbers.PREMIUM_RATE},
		{"DE", phonenumbers.SHARED_COST},
		{"FR", phonenumbers.SHARED_COST},
		{"LV", phonenumbers.SHARED_COST},
		{"US", phonenumbers.TOLL_FREE},
		{"GB", phonenumbers.TOLL_FREE},
		{"DE", phonenumbers.TOLL_FREE},
		{"GB", phonenumbers.UAN},
		{"DE", phonenumbers.UAN},
		{"FR", phonenumbers.UAN},
		{"CH", phonenumbers.VOICEMAIL},
		{"DE", phonenumbers.VOICEMAIL},
		{"US", phonenumbers.PERSONAL_NUMBER},
		{"GB", phonenumbers.PERSONAL_NUMBER},
		{"DE", phonenumbers.PERSONAL_NUMBER},
		{"GB", phonenumbers.PAGER},
		{"DE", phonenumbers.PAGER},
		{"AU", phonenumbers.PAGER},
	}
	for _, c := range cases {
		e164 := example(t, c.region, c.typ)
		n, _ := phonenumbers.Parse(e164, "")
		if !phonenumbers.IsValidNumber(n) {
			t.Fatalf("%s example %v %s is not valid: the row tests only the validity check", c.region, c.typ, e164)
		}
		// As typed internationally, and as typed nationally in its own country.
		national := phonenumbers.Format(n, phonenumbers.NATIONAL)
		for _, in := range []struct{ input, region string }{{e164, "US"}, {national, c.region}} {
			if got, err := ParseNumber(in.input, in.region); got != "" || !errors.Is(err, ErrRefusedNumber) {
				t.Errorf("%s %v: ParseNumber(%q, %q) = %q, %v; want ErrRefusedNumber", c.region, c.typ, in.input, in.region, got, err)
			}
		}
	}
}

// Every example number the library has, in every country, of every refused type.
func TestParseNumberRefusesEveryExampleOfARefusedType(t *testing.T) {
	for typ := range refusedTypes {
		checked := 0
		for region := range phonenumbers.GetSupportedRegions() {
			n := phonenumbers.GetExampleNumberForType(region, typ)
			if n == nil || !phonenumbers.IsValidNumber(n) || phonenumbers.GetNumberType(n) != typ {
				continue
			}
			checked++
			e164 := phonenumbers.Format(n, phonenumbers.E164)
			if _, err := ParseNumber(e164, "US"); !errors.Is(err, ErrRefusedNumber) {
				t.Errorf("%s %v %s: %v, want ErrRefusedNumber", region, typ, e164, err)
			}
		}
		if checked == 0 {
			t.Errorf("no example numbers of type %v were checked", typ)
		}
	}
}

func TestParseNumberRefusesSatelliteAndInternationalNetworks(t *testing.T) {
	// The library's own examples: all valid, and all of a type that is otherwise
	// accepted (MOBILE or VOIP), so only the calling-code check refuses them.
	for _, cc := range []int{870, 881, 882, 883} {
		e164 := nonGeoExample(t, cc)
		n, _ := phonenumbers.Parse(e164, "")
		if !phonenumbers.IsValidNumber(n) {
			t.Errorf("+%d example %s is not valid", cc, e164)
		}
		if typ := phonenumbers.GetNumberType(n); refusedTypes[typ] {
			t.Errorf("+%d example %s is of refused type %v: the row does not test the calling-code check", cc, e164, typ)
		}
		if got, err := ParseNumber(e164, "US"); got != "" || !errors.Is(err, ErrRefusedNumber) {
			t.Errorf("+%d example: ParseNumber(%q) = %q, %v; want ErrRefusedNumber", cc, e164, got, err)
		}
	}
	cases := []struct {
		in    string
		valid bool // whether phonenumbers itself calls it valid
	}{
		{"+881612345678", true}, // Iridium, +8816
		{"+881712345678", true}, // Iridium, +8817
		{"+881 6 1234 5678", true},
		{"00881612345678", true}, // international prefix typed with a default region (below)
		{"+88162345678", false},  // too short for +881 but still refused, not "invalid"
		{"+8821234567", false},
		{"+870773111632", true},
		{"+883510012345", true},
	}
	for _, c := range cases {
		n, err := phonenumbers.Parse(c.in, "DE")
		if err != nil {
			t.Fatalf("phonenumbers cannot parse %q: %v", c.in, err)
		}
		if phonenumbers.IsValidNumber(n) != c.valid {
			t.Errorf("phonenumbers.IsValidNumber(%q) = %v, the table says %v", c.in, !c.valid, c.valid)
		}
		if got, err := ParseNumber(c.in, "DE"); got != "" || !errors.Is(err, ErrRefusedNumber) {
			t.Errorf("ParseNumber(%q, DE) = %q, %v; want ErrRefusedNumber", c.in, got, err)
		}
	}
	// Other non-geographic codes keep their type checks: +800 is toll-free, +808
	// shared-cost, +979 premium-rate, +888 a universal access number.
	for _, cc := range []int{800, 808, 888, 979} {
		if _, err := ParseNumber(nonGeoExample(t, cc), "US"); !errors.Is(err, ErrRefusedNumber) {
			t.Errorf("+%d example: %v, want ErrRefusedNumber", cc, err)
		}
	}
}

func TestParseNumberAcceptsOrdinaryNumbers(t *testing.T) {
	for _, region := range []string{"US", "GB", "DE", "LV", "FR"} {
		for _, typ := range []phonenumbers.PhoneNumberType{phonenumbers.MOBILE, phonenumbers.FIXED_LINE} {
			n := phonenumbers.GetExampleNumberForType(region, typ)
			if n == nil {
				t.Fatalf("no %v example for %s", typ, region)
			}
			want := phonenumbers.Format(n, phonenumbers.E164)
			national := phonenumbers.Format(n, phonenumbers.NATIONAL)
			international := phonenumbers.Format(n, phonenumbers.INTERNATIONAL)
			for _, in := range []struct{ input, region string }{{want, "US"}, {national, region}, {international, "FR"}} {
				if got, err := ParseNumber(in.input, in.region); got != want || err != nil {
					t.Errorf("%s %v: ParseNumber(%q, %q) = %q, %v; want %q", region, typ, in.input, in.region, got, err, want)
				}
			}
		}
	}
	// Typed by hand, as people type them.
	for in, want := range map[string]string{
		"+371 2123 4567":     "+37121234567",
		"+49 151 23456789":   "+4915123456789",
		"07400 123456":       "+447400123456", // with default region GB, below
		"+1 (201) 555-0123":  "+12015550123",
		"+44 (0)20 7946 000": "",
		"+4960000000000000":  "", // valid to phonenumbers (checked below), but 16 digits
	} {
		got, err := ParseNumber(in, "GB")
		if want == "" {
			if err == nil {
				t.Errorf("ParseNumber(%q, GB) = %q, want an error", in, got)
			}
			continue
		}
		if got != want || err != nil {
			t.Errorf("ParseNumber(%q, GB) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestParseNumberRefusesMoreThanE164Digits(t *testing.T) {
	const long = "+4960000000000000" // 16 digits
	if n, err := phonenumbers.Parse(long, ""); err != nil || !phonenumbers.IsValidNumber(n) {
		t.Fatalf("phonenumbers no longer calls %s valid (%v): this test checks nothing", long, err)
	}
	if got, err := ParseNumber(long, "DE"); got != "" || !errors.Is(err, ErrInvalidNumber) {
		t.Errorf("ParseNumber(%q) = %q, %v; want ErrInvalidNumber", long, got, err)
	}
	const longest = "+496000000000000" // 15 digits
	if got, err := ParseNumber(longest, "DE"); got != longest || err != nil {
		t.Errorf("ParseNumber(%q) = %q, %v", longest, got, err)
	}
}

func TestRules(t *testing.T) {
	us := example(t, "US", phonenumbers.FIXED_LINE_OR_MOBILE)
	gb := example(t, "GB", phonenumbers.MOBILE)
	de := example(t, "DE", phonenumbers.MOBILE)
	lv := example(t, "LV", phonenumbers.MOBILE)
	ca := example(t, "CA", phonenumbers.FIXED_LINE_OR_MOBILE) // +1, like the US
	nonGeo := nonGeoExample(t, 878)                           // "001", a type ParseNumber accepts
	if _, err := ParseNumber(nonGeo, ""); err != nil {
		t.Fatalf("+878 example %s: %v; the non-geographic rows need a number ParseNumber accepts", nonGeo, err)
	}
	all := []string{us, gb, de, lv, ca, nonGeo}
	cases := []struct {
		name    string
		rules   Rules
		allowed []string
	}{
		{"no rules", Rules{}, all},
		{"allow list", Rules{AllowedRegions: []string{"US", "GB"}}, []string{us, gb}},
		{"allow list, lower case", Rules{AllowedRegions: []string{"us", "lv"}}, []string{us, lv}},
		{"allow CA is not allow US", Rules{AllowedRegions: []string{"CA"}}, []string{ca}},
		{"block list", Rules{BlockedRegions: []string{"LV", "DE"}}, []string{us, gb, ca, nonGeo}},
		{"block wins over allow", Rules{AllowedRegions: []string{"US", "LV"}, BlockedRegions: []string{"LV"}}, []string{us}},
		{"empty allow list with a block list", Rules{AllowedRegions: []string{}, BlockedRegions: []string{"US"}}, []string{gb, de, lv, ca, nonGeo}},
	}
	for _, c := range cases {
		for _, n := range all {
			wantOK := slices.Contains(c.allowed, n)
			err := c.rules.Check(n)
			if wantOK && err != nil || !wantOK && !errors.Is(err, ErrRegionNotAllowed) {
				t.Errorf("%s: Check(%s) = %v, want allowed=%v", c.name, n, err, wantOK)
			}
			got, err := c.rules.Parse(n, "DE")
			if wantOK && (got != n || err != nil) || !wantOK && (got != "" || !errors.Is(err, ErrRegionNotAllowed)) {
				t.Errorf("%s: Parse(%s) = %q, %v, want allowed=%v", c.name, n, got, err, wantOK)
			}
		}
	}

	// Parse applies ParseNumber first: a refused number stays refused (not merely
	// "not allowed") even in an allowed country, and national input is read in
	// defaultRegion.
	r := Rules{AllowedRegions: []string{"US", "LV"}}
	if _, err := r.Parse(example(t, "US", phonenumbers.TOLL_FREE), "US"); !errors.Is(err, ErrRefusedNumber) {
		t.Errorf("toll-free in an allowed country: %v, want ErrRefusedNumber", err)
	}
	if _, err := r.Parse("not a number", "US"); !errors.Is(err, ErrInvalidNumber) {
		t.Errorf("garbage: %v, want ErrInvalidNumber", err)
	}
	if got, err := r.Parse("21234567", "LV"); got != "+37121234567" || err != nil {
		t.Errorf(`Parse("21234567", "LV") = %q, %v`, got, err)
	}
	if _, err := r.Parse("21234567", "DE"); err == nil {
		t.Error(`Parse("21234567", "DE") was accepted`)
	}
	for _, bad := range []string{"", "abc", "12015550123"} {
		if err := r.Check(bad); !errors.Is(err, ErrInvalidNumber) {
			t.Errorf("Check(%q) = %v, want ErrInvalidNumber", bad, err)
		}
	}
	// A +1 number that belongs to no +1 country has no region: not in any allow list.
	if err := (Rules{AllowedRegions: []string{"US"}}).Check("+15555555555"); !errors.Is(err, ErrRegionNotAllowed) {
		t.Errorf("Check(+15555555555) with US allowed = %v", err)
	}
}
