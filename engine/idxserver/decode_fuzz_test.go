package idxserver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// Fuzz targets for the IDX request decoders and the handle derivations, without a
// store. The endpoint-level targets are in idx_fuzz_test.go. Run one with
//
//	go test -run '^$' -fuzz '^FuzzIDXDecode$' -fuzztime 30s ./engine/idxserver/

// FuzzIDXDecode feeds arbitrary Content-Types and bodies to checkMediaType and to
// decodeJSON with every request type the endpoints decode. Both are deterministic;
// an accepted media type is one of the protocol's JSON types with no okta-version
// or 1.0.0; an accepted body is a single JSON object (or null), decodes to the same
// value again after re-encoding, and has the stateHandle that begin's fallback
// decoder (used when the full decode fails) would have read from it.
// Seeds: every recorded IDX fixture and hand-written request bodies.
func FuzzIDXDecode(f *testing.F) {
	cts := []string{"application/json; okta-version=1.0.0", "application/json", "application/ion+json; okta-version=1.0.0",
		"application/vnd.okta.v1+json", "application/json; okta-version=2.0.0", "APPLICATION/JSON; charset=utf-8",
		"application/x-www-form-urlencoded", "text/plain", "", "application/json; okta-version=\"1.0.0\"", "application/json;;"}
	bodies := []string{
		`{"stateHandle":"02abc","identifier":"alice@example.com","credentials":{"passcode":"pw"},"rememberMe":true}`,
		`{"stateHandle":"02abc","authenticator":{"id":"aut1","enrollmentId":"sms1","methodType":"sms","phoneNumber":"+12015550123"}}`,
		`{"stateHandle":"02abc","credentials":{"passcode":"123 456"}}`,
		`{"interactionHandle":"ih","stateToken":"st"}`, `{"stateHandle":null}`, `null`, ``, `[]`, `{} {}`, `{"stateHandle":"a","stateHandle":"b"}`,
		`{"STATEHANDLE":"x"}`, `{"stateHandle":"\ud800"}`, "{\"stateHandle\":\"\xff\"}", `{"identifier":42,"stateHandle":"x"}`, `{"a":` + "\n",
	}
	paths, _ := filepath.Glob(filepath.Join("..", "..", "idx", "testdata", "fixtures", "*.json"))
	if len(paths) == 0 {
		f.Fatal("no fixtures under idx/testdata/fixtures")
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		bodies = append(bodies, string(data))
	}
	for i, b := range bodies {
		f.Add(cts[i%len(cts)], []byte(b))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		err := checkMediaType(contentType)
		if again := checkMediaType(contentType); (err == nil) != (again == nil) {
			t.Fatalf("checkMediaType(%q) is not deterministic", contentType)
		}
		if err == nil {
			mt, params, perr := mime.ParseMediaType(contentType)
			v, versioned := params["okta-version"]
			if perr != nil || !slices.Contains([]string{"application/json", "application/ion+json", "application/vnd.okta.v1+json"}, mt) || (versioned && v != "1.0.0") {
				t.Fatalf("checkMediaType accepted %q", contentType)
			}
		}
		if len(body) > maxBodyBytes {
			return // refused unread (413)
		}
		checkDecode(t, body, func() any { return new(introspectRequest) })
		var only stateHandleOnly
		onlyErr := json.Unmarshal(body, &only)
		for _, newDst := range []func() any{func() any { return new(request) }} {
			dst := checkDecode(t, body, newDst)
			if dst == nil {
				continue
			}
			if onlyErr != nil || only.StateHandle != dst.(interface{ handle() string }).handle() {
				t.Fatalf("%T: the full decoder read stateHandle %q, the fallback %q", dst, dst.(interface{ handle() string }).handle(), only.StateHandle)
			}
		}
	})
}

// checkDecode decodes body twice into fresh values from newDst and checks the
// properties FuzzIDXDecode lists; it returns the value, or nil if body was refused.
func checkDecode(t *testing.T, body []byte, newDst func() any) any {
	t.Helper()
	a, b := newDst(), newDst()
	errA, errB := decodeJSON(body, a), decodeJSON(body, b)
	if (errA == nil) != (errB == nil) || !reflect.DeepEqual(a, b) {
		t.Fatalf("%T: decodeJSON(%q) is not deterministic", a, body)
	}
	if errA != nil {
		return nil
	}
	trimmed := bytes.TrimSpace(body)
	if !json.Valid(body) || (!bytes.HasPrefix(trimmed, []byte("{")) && !bytes.Equal(trimmed, []byte("null"))) {
		t.Fatalf("%T: decodeJSON accepted %q, which is not one JSON object", a, body)
	}
	again, err := json.Marshal(a)
	if err != nil {
		t.Fatalf("%T: the decoded value does not encode: %v", a, err)
	}
	c := newDst()
	if err := decodeJSON(again, c); err != nil || !reflect.DeepEqual(a, c) {
		t.Fatalf("%T: %q decoded to %+v, which re-encoded as %s decodes to %+v (%v)", a, body, a, again, c, err)
	}
	return a
}

// FuzzHandleDerivation: the state handle derived from an interaction handle, and
// the interaction code derived from a state handle and a transaction, are
// deterministic, of fixed length, usable unescaped in JSON, URLs and forms, and
// distinct for distinct transactions or authentication times. (Handles that HMAC
// treats as one key, such as one with a trailing zero byte, never get this far:
// every handle is first looked up by its exact hash.)
func FuzzHandleDerivation(f *testing.F) {
	f.Add("XW54hgROw9SbFCGdREsFBU5ytY6-imGdwtywkY-eJ14", "ftx0123456789abcdefg", int64(1700000000000), "ftx0123456789abcdefh", int64(1700000000000))
	f.Add("", "", int64(0), "|", int64(-1))
	f.Add("02KQm7IV6KIW1lrIhtemYL-yLUV-oIr3FYCGWQzX0d", "a|1", int64(2), "a", int64(12))
	f.Fuzz(func(t *testing.T, handle, id1 string, ms1 int64, id2 string, ms2 int64) {
		sh := stateHandleFor(handle)
		if sh != stateHandleFor(handle) || len(sh) != 45 || sh[:2] != "02" {
			t.Fatalf("stateHandleFor(%q) = %q", handle, sh)
		}
		if raw, err := base64.RawURLEncoding.Strict().DecodeString(sh[2:]); err != nil || len(raw) != 32 {
			t.Fatalf("stateHandleFor(%q) = %q: not 02 and unpadded base64url", handle, sh)
		}
		if enc, _ := json.Marshal(sh); string(enc) != `"`+sh+`"` || url.QueryEscape(sh) != sh {
			t.Fatalf("stateHandleFor(%q) = %q needs escaping", handle, sh)
		}
		t1, t2 := time.UnixMilli(ms1), time.UnixMilli(ms2)
		if t1.UnixMilli() != ms1 || t2.UnixMilli() != ms2 {
			return // not a time a transaction can carry
		}
		c1 := interactionCode(sh, store.Transaction{ID: id1, AuthTime: t1})
		c2 := interactionCode(sh, store.Transaction{ID: id2, AuthTime: t2})
		if c1 != interactionCode(sh, store.Transaction{ID: id1, AuthTime: t1}) || len(c1) != 43 || url.QueryEscape(c1) != c1 {
			t.Fatalf("interactionCode(%q, %q, %d) = %q", sh, id1, ms1, c1)
		}
		if (id1 != id2 || ms1 != ms2) && c1 == c2 {
			t.Fatalf("transactions (%q, %d) and (%q, %d) get the same interaction code", id1, ms1, id2, ms2)
		}
		if (id1 == id2 && ms1 == ms2) != (c1 == c2) {
			t.Fatalf("the same transaction got two interaction codes")
		}
		if other := stateHandleFor(handle + "x"); other == sh {
			t.Fatalf("stateHandleFor(%q) = stateHandleFor(%q)", handle, handle+"x")
		}
		if interactionCode(sh[:44], store.Transaction{ID: id1, AuthTime: t1}) == c1 {
			t.Fatalf("two state handles give the same interaction code")
		}
	})
}
