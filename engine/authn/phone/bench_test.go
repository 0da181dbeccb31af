package phone

import (
	"bytes"
	"testing"
)

// The one-time-code functions one sign-in calls: a code is made, its HMAC stored,
// and the answer checked against it; every state after the password shows the
// masked number.
//
//	go test -run '^$' -bench . ./engine/authn/phone/

var benchKey = bytes.Repeat([]byte{0x5a}, 32)

func BenchmarkNewCode(b *testing.B) {
	for b.Loop() {
		if _, err := NewCode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCodeMAC(b *testing.B) {
	for b.Loop() {
		CodeMAC(benchKey, "chlg0123456789abcdefgh", "123456")
	}
}

func BenchmarkCheckCode(b *testing.B) {
	mac := CodeMAC(benchKey, "chlg0123456789abcdefgh", "123456")
	for b.Loop() {
		if !CheckCode(benchKey, "chlg0123456789abcdefgh", "123 456", mac) {
			b.Fatal("the right code was refused")
		}
	}
}

func BenchmarkMask(b *testing.B) {
	for b.Loop() {
		Mask("+12015550123")
	}
}

func BenchmarkParseNumber(b *testing.B) {
	for b.Loop() {
		if _, err := ParseNumber("(201) 555-0123", "US"); err != nil {
			b.Fatal(err)
		}
	}
}
