package postgres

import (
	"runtime"
	"testing"
)

func TestDefaultPoolFollowsTheCores(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, c := range []struct{ procs, want int }{{1, 4}, {2, 8}, {8, 32}} {
		runtime.GOMAXPROCS(c.procs)
		p, err := takePoolParams(map[string]string{})
		if err != nil {
			t.Fatal(err)
		}
		if p.maxConns != c.want {
			t.Errorf("GOMAXPROCS %d: pool of %d connections, want %d", c.procs, p.maxConns, c.want)
		}
	}
	// pool_max_conns in the DSN wins, whatever the cores, and is taken out of the
	// parameters sent to the server.
	params := map[string]string{"pool_max_conns": "3", "application_name": "x"}
	p, err := takePoolParams(params)
	if err != nil {
		t.Fatal(err)
	}
	if p.maxConns != 3 {
		t.Errorf("pool_max_conns=3: pool of %d", p.maxConns)
	}
	if _, ok := params["pool_max_conns"]; ok || params["application_name"] != "x" {
		t.Errorf("parameters left for the server: %v", params)
	}
}
