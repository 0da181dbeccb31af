package oauth

import (
	"bytes"
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/keyseal"
)

// testSealer is a KEK for tests that do not care which.
func testSealer(tb testing.TB) *keyseal.Sealer {
	s, err := keyseal.New(bytes.Repeat([]byte{0x5a}, keyseal.KEKSize), "test KEK")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
