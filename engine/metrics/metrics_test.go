package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/version"
)

// TestBuildInfo scrapes the metrics over HTTP: gatehouse_build_info names this build.
func TestBuildInfo(t *testing.T) {
	m := New(func() float64 { return 0 }, func() float64 { return 0 })
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b := version.Get()
	want := `gatehouse_build_info{commit="` + b.ShortCommit() + `",go_version="` + b.GoVersion + `",version="` + b.Version + `"} 1`
	if !strings.Contains(string(body), want+"\n") {
		t.Errorf("no %s in the scrape:\n%s", want, grepLines(string(body), "gatehouse_build_info"))
	}
	if b.GoVersion == "" || b.Version == "" || b.Commit == "" {
		t.Errorf("a label is empty: %+v", b)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
