package engine

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
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
