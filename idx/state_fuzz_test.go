package idx

import (
	"bytes"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzOpenState feeds arbitrary cookie values to OpenState, the decoder of the
// sealed State an application keeps in a browser cookie. Seeds are real sealed
// States (the "@SEALED" placeholder stands for one, so the fuzzer also tries its
// near misses) and malformed values. Nothing may panic; every refusal matches
// ErrNoTransaction (so the application starts a new sign-in); and a value is only
// accepted if it is, after base64 decoding, exactly a value Seal produced, and
// then it opens to that State. Opening is deterministic.
//
//	go test -run '^$' -fuzz '^FuzzOpenState$' -fuzztime 1m ./idx/
func FuzzOpenState(f *testing.F) {
	key := bytes.Repeat([]byte{0x42}, 32)
	st := &State{Version: stateFormatVersion, Issuer: "https://id.example.com/oauth2/default", ClientID: "test-app",
		InteractionHandle: "XW54hgROw9SbFCGdREsFBU5ytY6-imGdwtywkY-eJ14", CodeVerifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
		OAuthState: "st-123", Nonce: "n-456", StateHandle: "02KQm7IV6KIW1lrIhtemYL-yLUV-oIr3FYCGWQzX0d"}
	sealed, err := st.Seal(key)
	if err != nil {
		f.Fatal(err)
	}
	other, err := (&State{Version: stateFormatVersion}).Seal(bytes.Repeat([]byte{0x43}, 32))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"@SEALED", "@SEALED=", "@SEALEDA", " @SEALED", "v2.@SEALED", other, sealed[:len(sealed)-1], "v1.", "v1", "",
		"v1." + strings.Repeat("A", 40), "v1.!!!", "v1." + base64.RawURLEncoding.EncodeToString([]byte("{}"))} {
		f.Add(s)
	}
	canonical := func(s string) (string, bool) {
		if !strings.HasPrefix(s, sealVersion) {
			return "", false
		}
		raw, err := base64.RawURLEncoding.DecodeString(s[len(sealVersion):])
		return string(raw), err == nil
	}
	want, _ := canonical(sealed)
	f.Fuzz(func(t *testing.T, value string) {
		value = strings.ReplaceAll(value, "@SEALED", sealed)
		got, err := OpenState(key, value)
		again, err2 := OpenState(key, value)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(got, again) {
			t.Fatalf("OpenState(%q) is not deterministic", value)
		}
		if err != nil {
			if got != nil || !errors.Is(err, ErrNoTransaction) {
				t.Fatalf("OpenState(%q) = %v, %v; want nil and ErrNoTransaction", value, got, err)
			}
			return
		}
		if raw, ok := canonical(value); !ok || raw != want || !reflect.DeepEqual(got, st) {
			t.Fatalf("OpenState accepted %q as %+v", value, got)
		}
	})
}
