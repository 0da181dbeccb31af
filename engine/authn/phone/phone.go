// Package phone is the phone authenticator: it parses and checks numbers, masks them
// for display, and makes and checks one-time codes.
//
// Numbers are the target of toll fraud (SMS pumping, international revenue share
// fraud): an attacker enrolls numbers whose operator pays them for the traffic and
// has codes sent to them. ParseNumber therefore refuses every number that is not an
// ordinary personal line: premium-rate, shared-cost, toll-free, universal access
// (company), voicemail access, personal (forwarding) and pager numbers, and every
// number on the satellite and international-network calling codes +870, +881, +882
// and +883, which cost the most to reach and are not needed to reach a person.
// Rules adds a deployment's own allow and block lists of countries on top.
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

// Errors from ParseNumber and Rules.
var (
	ErrInvalidNumber = errors.New("phone: not a valid phone number")
	ErrRefusedNumber = errors.New("phone: premium-rate, shared-cost, toll-free, universal access, voicemail, " +
		"personal, pager, satellite and international-network numbers are refused")
	ErrNumberTooLong = errors.New("phone: input too long")
	// ErrRegionNotAllowed is returned by Rules for a number of a country that the
	// deployment does not send codes to.
	ErrRegionNotAllowed = errors.New("phone: numbers from this country or region are not accepted")
	maxNumberInputLen   = 64
)

// refusedTypes are the number types that do not reach one person's own phone and
// that cost the sender more than an ordinary line, or pay the number's owner.
var refusedTypes = map[phonenumbers.PhoneNumberType]bool{
	phonenumbers.PREMIUM_RATE:    true,
	phonenumbers.SHARED_COST:     true,
	phonenumbers.TOLL_FREE:       true,
	phonenumbers.UAN:             true,
	phonenumbers.VOICEMAIL:       true,
	phonenumbers.PERSONAL_NUMBER: true,
	phonenumbers.PAGER:           true,
}

// refusedCallingCodes are country calling codes refused whatever the number's type
// or validity: satellite (+870, +881 with Iridium's +8816 and +8817) and
// international networks (+882, +883). The phonenumbers metadata classifies many of
// their numbers as MOBILE or VOIP, so a type check alone lets them through.
var refusedCallingCodes = map[int32]bool{870: true, 881: true, 882: true, 883: true}

// ParseNumber turns what a person typed ("(201) 555-0123", "+44 7700 900123") into
// E.164, reading numbers without a country code as numbers of defaultRegion (ISO
// 3166 alpha-2, e.g. "US"). Invalid numbers, and numbers of more than the 15 digits
// E.164 allows, are refused with ErrInvalidNumber.
// Numbers on a refused calling code (+870, +881, +882, +883), valid or not, and
// valid numbers of a refused type (premium-rate, shared-cost, toll-free, universal
// access, voicemail, personal, pager) are refused with ErrRefusedNumber: sending
// codes to them costs the sender money and is a known fraud pattern (SMS pumping).
func ParseNumber(input, defaultRegion string) (string, error) {
	_, e164, err := parseNumber(input, defaultRegion)
	return e164, err
}

// maxE164Digits is the most digits E.164 allows, country code included. The
// phonenumbers metadata accepts some longer numbers as valid (German fixed lines of
// up to 15 national digits, for one), which could not be stored or sent as E.164.
const maxE164Digits = 15

func parseNumber(input, defaultRegion string) (*phonenumbers.PhoneNumber, string, error) {
	input = strings.TrimSpace(input)
	if len(input) > maxNumberInputLen {
		return nil, "", ErrNumberTooLong
	}
	if input == "" {
		return nil, "", ErrInvalidNumber
	}
	n, err := phonenumbers.Parse(input, defaultRegion)
	if err != nil {
		return nil, "", ErrInvalidNumber
	}
	if refusedCallingCodes[n.GetCountryCode()] {
		return nil, "", ErrRefusedNumber
	}
	if !phonenumbers.IsValidNumber(n) {
		return nil, "", ErrInvalidNumber
	}
	e164 := phonenumbers.Format(n, phonenumbers.E164)
	if len(e164)-1 > maxE164Digits {
		return nil, "", ErrInvalidNumber
	}
	if refusedTypes[phonenumbers.GetNumberType(n)] {
		return nil, "", ErrRefusedNumber
	}
	return n, e164, nil
}

// Rules are a deployment's countries for phone numbers (phone.allowed_regions and
// phone.blocked_regions in the configuration), as ISO 3166 alpha-2 codes.
type Rules struct {
	// AllowedRegions, when not empty, are the only countries accepted. Numbers
	// that belong to no country (the non-geographic "001", e.g. +878) are then
	// refused too.
	AllowedRegions []string
	// BlockedRegions are never accepted.
	BlockedRegions []string
}

// Check returns ErrRegionNotAllowed if the country of e164, as phonenumbers assigns
// it, is not in a non-empty AllowedRegions or is in BlockedRegions, and
// ErrInvalidNumber if e164 cannot be parsed. It does not repeat ParseNumber's
// checks (Parse does both), so it can be applied again to numbers stored before
// the rules changed.
func (r Rules) Check(e164 string) error {
	n, err := phonenumbers.Parse(strings.TrimSpace(e164), "")
	if err != nil {
		return ErrInvalidNumber
	}
	return r.check(n)
}

// Parse is ParseNumber followed by Check.
func (r Rules) Parse(input, defaultRegion string) (string, error) {
	n, e164, err := parseNumber(input, defaultRegion)
	if err != nil {
		return "", err
	}
	if err := r.check(n); err != nil {
		return "", err
	}
	return e164, nil
}

func (r Rules) check(n *phonenumbers.PhoneNumber) error {
	if len(r.AllowedRegions) == 0 && len(r.BlockedRegions) == 0 {
		return nil
	}
	// "001" for non-geographic numbers; "" when a shared calling code (+1, +7, …)
	// matches none of its countries. Neither is in an allow list of countries.
	region := phonenumbers.GetRegionCodeForNumber(n)
	if len(r.AllowedRegions) > 0 && !containsRegion(r.AllowedRegions, region) {
		return ErrRegionNotAllowed
	}
	if containsRegion(r.BlockedRegions, region) {
		return ErrRegionNotAllowed
	}
	return nil
}

func containsRegion(list []string, region string) bool {
	if region == "" {
		return false
	}
	for _, r := range list {
		if strings.EqualFold(strings.TrimSpace(r), region) {
			return true
		}
	}
	return false
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
