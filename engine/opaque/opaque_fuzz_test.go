package opaque

import (
	"encoding/base64"
	"encoding/hex"
	"testing"
)

// FuzzHashDerive: Hash and Derive are what every handle, code and token the engine
// hands out is looked up and derived by. For any input they are deterministic,
// have a fixed length and alphabet (hex; unpadded base64url, safe in URLs, cookies
// and JSON without escaping), and tell apart inputs that differ by one byte or by
// where the key ends and the label begins.
//
//	go test -run '^$' -fuzz '^FuzzHashDerive$' -fuzztime 30s ./engine/opaque/
func FuzzHashDerive(f *testing.F) {
	f.Add("XW54hgROw9SbFCGdREsFBU5ytY6-imGdwtywkY-eJ14", "state_handle")
	f.Add("02KQm7IV6KIW1lrIhtemYL-yLUV-oIr3FYCGWQzX0d", "interaction_code|ftx0123456789abcdefg|1700000000000")
	f.Add("", "")
	f.Add("a", "b")
	f.Add("\xff\x00", "\x00")
	f.Fuzz(func(t *testing.T, key, label string) {
		h := Hash(key)
		if h != Hash(key) || len(h) != 64 {
			t.Fatalf("Hash(%q) = %q", key, h)
		}
		if raw, err := hex.DecodeString(h); err != nil || hex.EncodeToString(raw) != h {
			t.Fatalf("Hash(%q) = %q is not lower-case hex", key, h)
		}
		if Hash(key+"\x00") == h || Hash(key+label+"x") == Hash(key+label) {
			t.Fatalf("Hash does not tell apart inputs that differ by one byte")
		}
		d := Derive(key, label)
		if d != Derive(key, label) || len(d) != 43 {
			t.Fatalf("Derive(%q, %q) = %q", key, label, d)
		}
		raw, err := base64.RawURLEncoding.Strict().DecodeString(d)
		if err != nil || len(raw) != 32 || base64.RawURLEncoding.EncodeToString(raw) != d {
			t.Fatalf("Derive(%q, %q) = %q is not canonical unpadded base64url", key, label, d)
		}
		// (Keys that differ only by trailing zero bytes are one key to HMAC; the
		// keys here are handles, found by their exact Hash before anything is
		// derived from them, so only labels need telling apart.)
		if Derive(key, label+"\x00") == d || Derive(key, "x"+label) == d {
			t.Fatalf("Derive does not tell apart labels that differ by one byte")
		}
		if len(label) > 0 && Derive(key+label[:1], label[1:]) == d {
			t.Fatalf("Derive(%q, %q) collides with a different split of key and label", key, label)
		}
	})
}
