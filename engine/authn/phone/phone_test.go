package phone

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseNumber(t *testing.T) {
	cases := []struct {
		in, region, want string
		err              error
	}{
		{"+12015550123", "US", "+12015550123", nil},
		{"(201) 555-0123", "US", "+12015550123", nil},
		{" +1 201-555-0123 ", "FR", "+12015550123", nil},
		{"06 12 34 56 78", "FR", "+33612345678", nil},
		{"(555) 555-5555", "US", "", ErrInvalidNumber},
		{"", "US", "", ErrInvalidNumber},
		{"not a number", "US", "", ErrInvalidNumber},
		{"+18005550199", "US", "", ErrRefusedNumber}, // toll-free
		{"+19005550123", "US", "", ErrRefusedNumber}, // premium rate
		{strings.Repeat("1", 100), "US", "", ErrNumberTooLong},
	}
	for _, c := range cases {
		got, err := ParseNumber(c.in, c.region)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("ParseNumber(%q, %q) = %q, %v; want %q, %v", c.in, c.region, got, err, c.want, c.err)
		}
	}
}

func TestMask(t *testing.T) {
	cases := map[string]string{
		"+12015550123":  "+1 XXX-XXX-0123",
		"+33612345678":  "+33 X XX XX 56 78",
		"+447911123456": "+44 XXXX XX3456",
	}
	for in, want := range cases {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCodes(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	seen := map[string]bool{}
	for range 200 {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != CodeDigits || strings.Trim(c, "0123456789") != "" {
			t.Fatalf("code %q is not %d digits", c, CodeDigits)
		}
		seen[c] = true
	}
	if len(seen) < 190 {
		t.Fatalf("only %d distinct codes in 200 draws", len(seen))
	}
	mac := CodeMAC(key, "ch1", "123456")
	if !CheckCode(key, "ch1", "123 456", mac) || !CheckCode(key, "ch1", "123-456", mac) {
		t.Error("the right code, typed with a space or dash, was refused")
	}
	if CheckCode(key, "ch2", "123456", mac) {
		t.Error("a code was accepted for another challenge")
	}
	if CheckCode(key, "ch1", "123457", mac) || CheckCode([]byte("other"), "ch1", "123456", mac) {
		t.Error("a wrong code or key was accepted")
	}
}

func TestTexts(t *testing.T) {
	if got := MessageText("042917", "Gatehouse", 5*time.Minute); got != "Your Gatehouse verification code is 042917. It expires in 5 minutes. Do not share it." {
		t.Errorf("MessageText = %q", got)
	}
	if got := VoiceText("123", "Gatehouse"); got != "Your Gatehouse verification code is: 1, 2, 3. Again, your code is: 1, 2, 3." {
		t.Errorf("VoiceText = %q", got)
	}
}
