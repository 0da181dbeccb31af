// Package phone is the phone authenticator: it parses and checks numbers, masks them
// for display, and makes and checks one-time codes.
//
// A code is six decimal digits drawn uniformly from crypto/rand. Only a keyed
// HMAC-SHA256 of it is stored, bound to the challenge it belongs to, so a copy of the
// database does not reveal codes and a code cannot be replayed against another
// challenge.
package phone

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Methods a code can be delivered by.
const (
	SMS   = "sms"
	Voice = "voice"
)

// CodeDigits is the length of a one-time code.
const CodeDigits = 6

// Errors from ParseNumber.
var (
	ErrInvalidNumber  = errors.New("phone: not a valid phone number")
	ErrRefusedNumber  = errors.New("phone: premium-rate, shared-cost and toll-free numbers are refused")
	ErrNumberTooLong  = errors.New("phone: input too long")
	maxNumberInputLen = 64
)

// ParseNumber turns what a person typed ("(201) 555-0123", "+44 7700 900123") into
// E.164, reading numbers without a country code as numbers of defaultRegion (ISO
// 3166 alpha-2, e.g. "US"). Invalid numbers are refused, and so are premium-rate,
// shared-cost and toll-free numbers: sending codes to them costs the sender money
// and is a known fraud pattern (SMS pumping).
func ParseNumber(input, defaultRegion string) (string, error) {
	input = strings.TrimSpace(input)
	if len(input) > maxNumberInputLen {
		return "", ErrNumberTooLong
	}
	if input == "" {
		return "", ErrInvalidNumber
	}
	n, err := phonenumbers.Parse(input, defaultRegion)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", ErrInvalidNumber
	}
	switch phonenumbers.GetNumberType(n) {
	case phonenumbers.PREMIUM_RATE, phonenumbers.TOLL_FREE, phonenumbers.SHARED_COST:
		return "", ErrRefusedNumber
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// Mask shows a number the way Okta does for US numbers: the country code, X for every
// digit of the national number but the last four, grouped as the national format
// groups them ("+1 XXX-XXX-0123", "+44 XXXX XX0123"). An unparseable number is shown
// as its last two digits only.
func Mask(e164 string) string {
	n, err := phonenumbers.Parse(e164, "")
	if err != nil {
		if len(e164) > 2 {
			return "…" + e164[len(e164)-2:]
		}
		return "…"
	}
	national := phonenumbers.Format(n, phonenumbers.NATIONAL)
	// Count the digits of the national significant number and keep the last four.
	nsn := phonenumbers.GetNationalSignificantNumber(n)
	keep := 4
	if len(nsn) <= keep {
		keep = len(nsn) / 2
	}
	toMask := len(nsn) - keep
	// Walk the national format, masking the first toMask digits that belong to the
	// significant number; a national prefix (a leading 0 or 1 that is not part of it)
	// and punctuation such as parentheses are dropped for a cleaner result.
	digitsSeen := 0
	var b strings.Builder
	prefixDigits := countDigits(national) - len(nsn)
	for _, r := range national {
		switch {
		case r >= '0' && r <= '9':
			if prefixDigits > 0 {
				prefixDigits--
				continue
			}
			if digitsSeen < toMask {
				b.WriteByte('X')
			} else {
				b.WriteRune(r)
			}
			digitsSeen++
		case r == '(' || r == ')':
			continue
		default:
			if b.Len() > 0 {
				b.WriteRune(r)
			}
		}
	}
	masked := strings.Join(strings.Fields(strings.ReplaceAll(b.String(), " -", "-")), " ")
	// US national format is "(201) 555-0123"; Okta shows "XXX-XXX-0123".
	if n.GetCountryCode() == 1 {
		masked = strings.Replace(masked, " ", "-", 1)
	}
	return fmt.Sprintf("+%d %s", n.GetCountryCode(), strings.TrimLeft(masked, " -"))
}

func countDigits(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}

// NewCode returns a fresh six-digit code, uniformly distributed.
func NewCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%06d", n.Int64()), nil
}

// CodeMAC is the keyed HMAC-SHA256 stored for code, bound to challengeID.
func CodeMAC(key []byte, challengeID, code string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(challengeID))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return m.Sum(nil)
}

// CheckCode reports in constant time whether code matches the stored mac.
func CheckCode(key []byte, challengeID, code string, mac []byte) bool {
	return hmac.Equal(CodeMAC(key, challengeID, NormalizeCode(code)), mac)
}

// NormalizeCode removes the spaces and dashes people type or paste into codes
// ("123 456", "123-456").
func NormalizeCode(code string) string {
	if len(code) > 32 {
		return code
	}
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, code)
}

// MessageText is the text of an SMS carrying code.
func MessageText(code, product string, validFor time.Duration) string {
	return fmt.Sprintf("Your %s verification code is %s. It expires in %s. Do not share it.", product, code, humanMinutes(validFor))
}

func humanMinutes(d time.Duration) string {
	m := int(d.Round(time.Minute) / time.Minute)
	if m <= 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
}

// VoiceText is what a call reads out: the digits one by one, slowly, twice.
func VoiceText(code, product string) string {
	spaced := strings.Join(strings.Split(code, ""), ", ")
	return fmt.Sprintf("Your %s verification code is: %s. Again, your code is: %s.", product, spaced, spaced)
}
