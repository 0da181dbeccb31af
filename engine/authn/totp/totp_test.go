package totp

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"image/color"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/keyseal"
)

// rfcSecret is RFC 6238's SHA-1 test key, the ASCII "12345678901234567890", in
// base32.
var rfcSecret = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))

// rfcVectors are RFC 6238 appendix B's SHA-1 vectors; the six-digit code is the
// last six of the eight digits the RFC prints (both are the same number modulo
// 10^6).
var rfcVectors = []struct {
	unix  int64
	step  int64
	eight string
}{
	{59, 0x1, "94287082"},
	{1111111109, 0x23523EC, "07081804"},
	{1111111111, 0x23523ED, "14050471"},
	{1234567890, 0x273EF07, "89005924"},
	{2000000000, 0x3F940AA, "69279037"},
	{20000000000, 0x27BC86AA, "65353130"},
}

func TestRFC6238Vectors(t *testing.T) {
	for _, v := range rfcVectors {
		now := time.Unix(v.unix, 0)
		if got := Step(now); got != v.step {
			t.Errorf("Step(%d) = %#x, want %#x", v.unix, got, v.step)
		}
		want := v.eight[2:]
		code, err := Code(rfcSecret, v.step)
		if err != nil || code != want {
			t.Errorf("Code at %d = %q, %v; want %q", v.unix, code, err, want)
		}
		step, ok := Verify(rfcSecret, want, now, 0)
		if !ok || step != v.step {
			t.Errorf("Verify(%q) at %d = %d, %v; want step %d", want, v.unix, step, ok, v.step)
		}
		// The same code in lower-case base32 with padding, as some apps export it.
		padded := strings.ToLower(base32.StdEncoding.EncodeToString([]byte("12345678901234567890")))
		if step, ok := Verify(padded, want, now, 0); !ok || step != v.step {
			t.Errorf("Verify with a lower-case padded secret at %d = %d, %v", v.unix, step, ok)
		}
	}
}

func TestVerifySkewAndReplay(t *testing.T) {
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2031, time.May, 17, 9, 30, 15, 0, time.UTC)
	cur := Step(now)
	code := func(step int64) string {
		c, err := Code(secret, step)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		step     int64
		lastUsed int64
		ok       bool
	}{
		{"current step", cur, 0, true},
		{"previous step (slow typing, clock behind)", cur - 1, 0, true},
		{"next step (clock ahead)", cur + 1, 0, true},
		{"two steps back", cur - 2, 0, false},
		{"two steps ahead", cur + 2, 0, false},
		{"replay of the step last used", cur, cur, false},
		{"an older step after a newer one was used", cur - 1, cur, false},
		{"the step after the last used", cur + 1, cur, true},
		{"current step after the previous was used", cur, cur - 1, true},
	} {
		step, ok := Verify(secret, code(tc.step), now, tc.lastUsed)
		if ok != tc.ok || (ok && step != tc.step) {
			t.Errorf("%s: Verify = %d, %v; want %v (step %d)", tc.name, step, ok, tc.ok, tc.step)
		}
		if !ok && step != 0 {
			t.Errorf("%s: a refused code returned step %d", tc.name, step)
		}
	}
	// Using the returned step as lastUsed makes the code single-use.
	c := code(cur)
	step, ok := Verify(secret, c, now, 0)
	if !ok {
		t.Fatal("the current code was refused")
	}
	if _, ok := Verify(secret, c, now.Add(10*time.Second), step); ok {
		t.Error("the same code was accepted twice")
	}
	// Another secret's code is refused.
	other, _ := NewSecret()
	oc, _ := Code(other, cur)
	if oc != c {
		if _, ok := Verify(secret, oc, now, 0); ok {
			t.Error("another secret's code was accepted")
		}
	}
}

func TestVerifyRefusesMalformedInput(t *testing.T) {
	now := time.Unix(1111111111, 0)
	good := "050471"
	if _, ok := Verify(rfcSecret, good, now, 0); !ok {
		t.Fatal("the RFC code was refused")
	}
	for _, typed := range []string{"050 471", " 050-471 ", "050\t471"} {
		if _, ok := Verify(rfcSecret, typed, now, 0); !ok {
			t.Errorf("Verify(%q) refused a code typed with separators", typed)
		}
	}
	for _, bad := range []string{"", "05047", "0504711", "14050471", "05047a", "０５０４７１", "050471\x00", "+50471", "-050471-x",
		"٠٥٠٤٧١", strings.Repeat("0", 100), strings.Repeat(" ", 40) + good} {
		if _, ok := Verify(rfcSecret, bad, now, 0); ok {
			t.Errorf("Verify(%q) accepted malformed input", bad)
		}
	}
	for _, secret := range []string{"", "not base32!", "GEZDGNBV", strings.Repeat("A", 25)} {
		if _, ok := Verify(secret, good, now, 0); ok {
			t.Errorf("Verify with the secret %q accepted a code", secret)
		}
		if _, err := Code(secret, 1); !errors.Is(err, ErrBadSecret) {
			t.Errorf("Code with the secret %q: %v, want ErrBadSecret", secret, err)
		}
	}
	// Before 1970 and at the very start there is no step to accept.
	if _, ok := Verify(rfcSecret, good, time.Unix(-100, 0), 0); ok {
		t.Error("a code was accepted before 1970")
	}
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 50 {
		s, err := NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != 32 || strings.ContainsAny(s, "=abcdefghijklmnopqrstuvwxyz01890") {
			t.Fatalf("NewSecret = %q: want 32 upper-case base32 characters without padding", s)
		}
		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
		if err != nil || len(raw) != SecretSize {
			t.Fatalf("NewSecret %q decodes to %d bytes, %v", s, len(raw), err)
		}
		if seen[s] {
			t.Fatalf("NewSecret repeated %q", s)
		}
		seen[s] = true
	}
}

func TestKeyURI(t *testing.T) {
	uri, err := KeyURI(rfcSecret, "Acme Corp", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Acme Corp:alice@example.com" {
		t.Errorf("key URI %s: scheme %q host %q path %q", uri, u.Scheme, u.Host, u.Path)
	}
	q := u.Query()
	for k, want := range map[string]string{"secret": rfcSecret, "issuer": "Acme Corp", "algorithm": "SHA1", "digits": "6", "period": "30"} {
		if q.Get(k) != want {
			t.Errorf("key URI %s: %s = %q, want %q", uri, k, q.Get(k), want)
		}
	}
	// Google Authenticator wants %20 for spaces, not +.
	if strings.Contains(uri, "+") {
		t.Errorf("key URI %s encodes a space as +", uri)
	}
	for _, c := range []struct{ issuer, account string }{{"", "alice"}, {"Acme", ""}, {"Acme: Login", "alice"}, {" ", "alice"}} {
		if _, err := KeyURI(rfcSecret, c.issuer, c.account); !errors.Is(err, ErrBadLabel) {
			t.Errorf("KeyURI(%q, %q): %v, want ErrBadLabel", c.issuer, c.account, err)
		}
	}
	if _, err := KeyURI("short", "Acme", "alice"); !errors.Is(err, ErrBadSecret) {
		t.Errorf("KeyURI with a bad secret: %v", err)
	}
}

func TestQRCode(t *testing.T) {
	for _, account := range []string{"alice@example.com", strings.Repeat("long.login.", 23)} {
		uri, err := KeyURI(rfcSecret, "Gatehouse", account)
		if err != nil {
			t.Fatal(err)
		}
		dataURI, err := QRCodeDataURI(uri)
		if err != nil {
			t.Fatalf("QR code of a %d-byte URI: %v", len(uri), err)
		}
		b64, ok := strings.CutPrefix(dataURI, "data:image/png;base64,")
		if !ok {
			t.Fatalf("QRCodeDataURI = %.40s…", dataURI)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != QRSize || b.Dy() != QRSize {
			t.Fatalf("QR image is %v, want %d×%d", b, QRSize, QRSize)
		}
		// White all round (the quiet zone), black and white inside.
		isBlack := func(x, y int) bool { return color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y < 128 }
		var black, white int
		for y := range QRSize {
			for x := range QRSize {
				switch {
				case (x < 8 || y < 8 || x >= QRSize-8 || y >= QRSize-8) && isBlack(x, y):
					t.Fatalf("black pixel at (%d, %d), in the quiet zone", x, y)
				case isBlack(x, y):
					black++
				default:
					white++
				}
			}
		}
		if black < QRSize*QRSize/10 || white < QRSize*QRSize/10 {
			t.Errorf("QR image has %d black and %d white pixels", black, white)
		}
	}
}

func TestNewKey(t *testing.T) {
	k, err := NewKey("Gatehouse", "bob@example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(k.URI)
	if err != nil || u.Query().Get("secret") != k.Secret || !strings.HasPrefix(k.QRCode, "data:image/png;base64,") {
		t.Errorf("NewKey = %+v (%v)", k, err)
	}
}

func TestSealOpen(t *testing.T) {
	kek, err := keyseal.ParseKEK([]byte(keyseal.GenerateKEK()))
	if err != nil {
		t.Fatal(err)
	}
	s, err := keyseal.New(kek, "test")
	if err != nil {
		t.Fatal(err)
	}
	secret, _ := NewSecret()
	sealed := Seal(s, secret, keyseal.EnrollmentAD("uft1"))
	if bytes.Contains(sealed, []byte(secret)) || !keyseal.IsSealed(sealed) {
		t.Fatal("the sealed secret holds the secret in the clear")
	}
	got, err := Open(s, sealed, keyseal.EnrollmentAD("uft1"))
	if err != nil || got != secret {
		t.Fatalf("Open = %q, %v", got, err)
	}
	// Bound to its row: another enrollment's, or a transaction's, does not open it.
	for _, ad := range []string{keyseal.EnrollmentAD("uft2"), keyseal.TransactionAD("uft1")} {
		if _, err := Open(s, sealed, ad); !errors.Is(err, keyseal.ErrWrongKEK) {
			t.Errorf("Open for %s: %v, want ErrWrongKEK", ad, err)
		}
	}
	// A sealed value that is not a secret is refused.
	if _, err := Open(s, s.Seal([]byte("not a secret"), "x"), "x"); !errors.Is(err, ErrBadSecret) {
		t.Errorf("Open of a sealed non-secret: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	for _, v := range rfcVectors {
		f.Add(rfcSecret, v.eight[2:], v.unix, int64(0))
	}
	f.Add(rfcSecret, "050 471", int64(1111111111), int64(0x23523EC))
	f.Add("", "", int64(0), int64(0))
	f.Add("!!!!", "٠٥٠٤٧١", int64(-1), int64(-5))
	f.Add(rfcSecret, "0504711", int64(1<<62), int64(1<<62))
	f.Fuzz(func(t *testing.T, secret, code string, unix, lastUsed int64) {
		// Keep times where time.Unix is exact.
		unix %= 1 << 40
		now := time.Unix(unix, 0)
		step, ok := Verify(secret, code, now, lastUsed)
		if !ok {
			if step != 0 {
				t.Fatalf("refused with step %d", step)
			}
			return
		}
		cur := Step(now)
		if step <= lastUsed || step < cur-Skew || step > cur+Skew || step < 0 {
			t.Fatalf("accepted step %d (current %d, last used %d)", step, cur, lastUsed)
		}
		given, valid := normalizeCode(code)
		if !valid {
			t.Fatalf("accepted malformed code %q", code)
		}
		if want, err := Code(secret, step); err != nil || want != given {
			t.Fatalf("accepted %q for step %d whose code is %q (%v)", code, step, want, err)
		}
	})
}
