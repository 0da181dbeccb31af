package idx

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// FuzzParseIDXBody feeds arbitrary bodies (seeded with every recorded
// fixture) through everything the SDK does with a server reply: parsing,
// relatesTo resolution, building the Transaction's steps and messages, and
// planning request bodies with every kind of value. None of it may panic, and
// every planned body must encode as JSON.
//
//	go test -fuzz=FuzzParseIDXBody ./idx/
func FuzzParseIDXBody(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("testdata", "fixtures", "*.json"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		status := 200
		if strings.HasPrefix(filepath.Base(p), "error-") {
			status = 401
		}
		f.Add(status, data)
	}
	f.Add(200, []byte(`{"version":"1.0.0","remediation":{"type":"array","value":[{"rel":["x"],"name":"a","href":"http://h/","relatesTo":"$.x[0]","value":[]}]},"x":[{"key":"k"}]}`))
	f.Add(429, []byte(`{"errorCode":"E0000047","errorSummary":"slow down"}`))
	f.Add(400, []byte(`{"error":"invalid_request","error_description":"no"}`))

	values := Options{
		Username: "u", Password: "p", RememberMe: true, Authenticator: "phone_number", MethodType: "sms",
		PhoneNumber: "+15555550100", VerificationCode: "123456",
		Values: map[string]any{"credentials.passcode": "x", "userProfile.email": "e", "authenticator": "okta_email"},
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		resp, err := parseIDXBody(status, body)
		if err != nil {
			if resp != nil {
				t.Fatalf("response and error both returned")
			}
			return
		}
		steps := buildSteps(resp)
		if len(steps) != len(resp.remediations) {
			t.Fatalf("%d steps for %d remediations", len(steps), len(resp.remediations))
		}
		_ = collectMessages(resp)
		if _, err := json.Marshal(steps); err != nil {
			t.Fatalf("steps do not encode: %v", err)
		}
		for _, rem := range resp.remediations {
			for _, explicit := range []bool{false, true} {
				if sub, ok := planSubmission(resp, rem, values.values(), explicit); ok {
					if _, err := json.Marshal(sub.body); err != nil {
						t.Fatalf("body of %q does not encode: %v", rem.Name, err)
					}
				}
			}
		}
		for _, spec := range flowSpecs {
			_, _ = pickRemediation(resp, values.values(), "", spec, map[string]bool{})
		}
		for _, a := range resp.actions {
			if _, err := json.Marshal(actionBody(a)); err != nil {
				t.Fatalf("action %q body does not encode: %v", a.Name, err)
			}
		}
	})
}

// TestAdversarialShapes: responses built to make a naive parser quadratic
// (thousands of relatesTo into a large list, deeply nested option forms)
// parse in linear time, and deep nesting does not exhaust the stack.
func TestAdversarialShapes(t *testing.T) {
	var b strings.Builder
	const n = 20000
	b.WriteString(`{"version":"1.0.0","big":{"type":"array","value":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"key":"k","id":"id","pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
	}
	b.WriteString(`]},"remediation":{"type":"array","value":[{"rel":["create-form"],"name":"select-authenticator-authenticate","href":"http://h/x","value":[{"name":"authenticator","type":"object","options":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"label":"L","value":{"form":{"value":[{"name":"id","value":"a","mutable":false}]}},"relatesTo":"$.big.value[19999]"}`)
	}
	b.WriteString(`]}]}]}}`)
	start := time.Now()
	resp, err := parseIDXBody(200, []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(resp.remediations[0].Value[0].Options); got != n {
		t.Fatalf("%d options", got)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("parsing took %v", d)
	}

	const depth = 1500
	var nested strings.Builder
	nested.WriteString(`{"version":"1.0.0","remediation":{"type":"array","value":[{"name":"deep","value":[`)
	for range depth {
		nested.WriteString(`{"name":"f","options":[{"label":"o","value":{"form":{"value":[`)
	}
	for range depth {
		nested.WriteString(`]}}}]}`)
	}
	nested.WriteString(`]}]}}`)
	resp, err = parseIDXBody(200, []byte(nested.String()))
	if err != nil {
		t.Fatal(err)
	}
	_ = buildSteps(resp)
	_ = collectMessages(resp)

	// Many options and remediations relating (by differently spelled paths)
	// to one object with a long methods list: each distinct object is
	// described once, so building the steps allocates in proportion to the
	// body, not to options × methods (which would be over 500 MB here).
	const many = 6000
	var shared strings.Builder
	shared.WriteString(`{"version":"1.0.0","big":{"type":"array","value":[{"key":"k","type":"phone","methods":[`)
	for i := range many {
		if i > 0 {
			shared.WriteByte(',')
		}
		shared.WriteString(`{"type":"sms"}`)
	}
	shared.WriteString(`]}]},"remediation":{"type":"array","value":[`)
	for range many / 3 {
		shared.WriteString(`{"name":"r","href":"http://h/x","relatesTo":"$.big.value[0]","value":[]},`)
	}
	shared.WriteString(`{"rel":["create-form"],"name":"select-authenticator-authenticate","href":"http://h/x","value":[{"name":"authenticator","type":"object","options":[`)
	for i := range many {
		if i > 0 {
			shared.WriteByte(',')
		}
		path := []string{`$.big.value[0]`, `big.value[00]`}[i%2]
		shared.WriteString(`{"label":"L","value":{"form":{"value":[{"name":"id","value":"a","mutable":false}]}},"relatesTo":"` + path + `"}`)
	}
	shared.WriteString(`]}]}]}}`)
	resp, err = parseIDXBody(200, []byte(shared.String()))
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	steps := buildSteps(resp)
	runtime.ReadMemStats(&after)
	opts := steps[len(steps)-1].Inputs[0].Options
	if len(opts) != many || len(opts[many-1].Authenticator.Methods) != many || len(steps[0].Authenticator.Methods) != many {
		t.Fatalf("%d options, last with %d methods", len(opts), len(opts[many-1].Authenticator.Methods))
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Fatalf("building the steps allocated %d MB", alloc>>20)
	}
}
