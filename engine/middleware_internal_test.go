package engine

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/clientip"
	"github.com/gatehouse-id/gatehouse/engine/metrics"
)

// TestHandlersSeeTheClientIP: behind withMiddleware every handler finds the
// resolved client address in its request's context.
func TestHandlersSeeTheClientIP(t *testing.T) {
	seen := make(chan netip.Addr, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen <- clientip.From(r.Context()) })
	m := metrics.New(func() float64 { return 0 }, func() float64 { return 0 })
	for _, c := range []struct {
		trusted []string
		want    string
	}{
		{[]string{"127.0.0.1", "10.0.0.0/8"}, "2001:db8::9"},
		{[]string{"10.0.0.0/8"}, "127.0.0.1"},
		{nil, "127.0.0.1"},
	} {
		srv := httptest.NewServer(withMiddleware(h, nil, slog.New(slog.DiscardHandler), m, clientIPResolver(c.trusted)))
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		req.Header.Set("X-Forwarded-For", "2001:db8::9, 10.1.1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		srv.Close()
		if got := <-seen; got.String() != c.want {
			t.Errorf("trusted %v: handler saw %s, want %s", c.trusted, got, c.want)
		}
	}
}

// TestRequestIDs: a sane X-Request-Id is kept, a wrong one replaced, and a request
// the engine makes to itself with a request's context (the hosted pages calling the
// IDX API) keeps that request's id, so all its log lines share one request_id.
func TestRequestIDs(t *testing.T) {
	m := metrics.New(func() float64 { return 0 }, func() float64 { return 0 })
	var self http.Handler
	inner := make(chan string, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/inner", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/outer", func(w http.ResponseWriter, r *http.Request) {
		req := httptest.NewRequestWithContext(r.Context(), http.MethodGet, "/inner", nil)
		req.Header.Set("X-Request-Id", "something-else")
		rec := httptest.NewRecorder()
		self.ServeHTTP(rec, req)
		inner <- rec.Header().Get("X-Request-Id")
	})
	self = withMiddleware(mux, nil, slog.New(slog.DiscardHandler), m, clientIPResolver(nil))
	srv := httptest.NewServer(self)
	defer srv.Close()
	get := func(path, id string) string {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("X-Request-Id")
	}
	if got := get("/inner", "trace-7.a_b"); got != "trace-7.a_b" {
		t.Errorf("a sane id came back as %q", got)
	}
	for _, bad := range []string{"", "has space", "x\u00e9", strings.Repeat("a", 65)} {
		if got := get("/inner", bad); got == bad || !requestIDPattern.MatchString(got) {
			t.Errorf("id %q came back as %q", bad, got)
		}
	}
	outer := get("/outer", "page-1")
	if got := <-inner; outer != "page-1" || got != "page-1" {
		t.Errorf("outer %q, in-process call %q; want both page-1", outer, got)
	}
}
