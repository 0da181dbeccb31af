package mgmt

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// echo is a resource that writes: it decodes a body and counts what it accepted,
// standing for the write endpoints to come.
type echo struct{ accepted atomic.Int64 }

type echoBody struct {
	Name    string `json:"name"`
	Count   int    `json:"count"`
	Active  bool   `json:"active"`
	Profile struct {
		Login string `json:"login"`
	} `json:"profile"`
}

func (e *echo) routes() []route {
	return []route{{"POST /api/v1/echo", func(w http.ResponseWriter, r *http.Request, c *call) {
		var b echoBody
		if !decodeBody(w, r, &b) {
			return
		}
		e.accepted.Add(1)
		writeJSON(w, http.StatusOK, b)
	}}}
}

// TestBodies: a body that is not one JSON object of the resource's fields and
// types, or is too large, answers Okta's 400 and never reaches the resource; a
// read-only token is refused before the body is read.
func TestBodies(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	api := New(Options{Store: st, Limiter: throttle.New(st, time.Now), BaseURL: "http://gatehouse.test",
		PerTokenPerMinute: 1000, FailuresPerIPPerMinute: 1000})
	res := &echo{}
	mux := http.NewServeMux()
	api.register(mux, res)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tokens := map[bool]string{}
	for _, ro := range []bool{false, true} {
		tok, hash := NewToken()
		if err := st.CreateAPIToken(t.Context(), store.APIToken{ID: NewTokenID(), Name: "t", TokenHash: hash, ReadOnly: ro, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		tokens[ro] = tok
	}
	post := func(token, contentType, body string) (int, oktaError) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/echo", strings.NewReader(body))
		req.Header.Set("Authorization", "SSWS "+token)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e oktaError
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("%d %s: %v", resp.StatusCode, b, err)
			}
		}
		return resp.StatusCode, e
	}

	if code, e := post(tokens[false], "application/json", `{"name":"a","count":2,"active":true,"profile":{"login":"x"}}`); code != http.StatusOK {
		t.Fatalf("a good body: %d %+v", code, e)
	}
	if code, e := post(tokens[false], "application/json; charset=utf-8", ` {"name":"b"} `+"\n"); code != http.StatusOK {
		t.Fatalf("a good body with a charset and white space: %d %+v", code, e)
	}
	for _, tc := range []struct{ name, contentType, body, cause string }{
		{"unknown field", "application/json", `{"name":"a","admin":true}`, `unknown field admin`},
		{"unknown nested field", "application/json", `{"profile":{"login":"x","role":"admin"}}`, `unknown field role`},
		{"wrong type", "application/json", `{"count":"2"}`, `count must be a whole number, not string`},
		{"wrong nested type", "application/json", `{"profile":{"login":5}}`, `profile.login must be a string, not number`},
		{"bool as string", "application/json", `{"active":"yes"}`, `active must be true or false, not string`},
		{"not an object", "application/json", `["name"]`, `the body must be a JSON object`},
		{"not JSON", "application/json", `name=a`, `the body is not JSON`},
		{"cut short", "application/json", `{"name":"a"`, `the body ends before the JSON does`},
		{"empty", "application/json", ``, `the body is empty`},
		{"two objects", "application/json", `{"name":"a"}{"name":"b"}`, `data after the JSON object`},
		{"trailing garbage", "application/json", `{"name":"a"} x`, `data after the JSON object`},
		{"form", "application/x-www-form-urlencoded", `name=a`, `the body must be JSON`},
		{"too large", "application/json", `{"name":"` + strings.Repeat("a", maxBodyBytes) + `"}`, `larger than 16384 bytes`},
		{"huge number", "application/json", `{"count":1e400}`, `count must be a whole number, not number`},
		{"fraction", "application/json", `{"count":1.5}`, `count must be a whole number, not number`},
	} {
		code, e := post(tokens[false], tc.contentType, tc.body)
		if code != http.StatusBadRequest || e.Code != "E0000003" || e.Summary != "The request body was not well-formed." || e.Link != "E0000003" || e.ID == "" {
			t.Errorf("%s: %d %+v, want 400 E0000003", tc.name, code, e)
			continue
		}
		if len(e.Causes) != 1 || !strings.Contains(e.Causes[0].Summary, tc.cause) {
			t.Errorf("%s: causes %+v, want one containing %q", tc.name, e.Causes, tc.cause)
		}
		if c := e.Causes[0].Summary; strings.Contains(c, "aaaa") || strings.Contains(c, `"2"`) || strings.Contains(c, "1e400") || strings.Contains(c, "1.5") {
			t.Errorf("%s: the cause echoes a value: %q", tc.name, e.Causes[0].Summary)
		}
	}
	if code, e := post(tokens[true], "application/json", `{"name":"a"}`); code != http.StatusForbidden || e.Code != "E0000006" {
		t.Errorf("a read-only token writing: %d %+v", code, e)
	}
	if n := res.accepted.Load(); n != 2 {
		t.Errorf("the resource accepted %d bodies, want the 2 good ones", n)
	}
}
