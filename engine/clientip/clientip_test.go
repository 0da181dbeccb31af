package clientip

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func prefixes(t *testing.T, ss ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestClientIP(t *testing.T) {
	trusted := prefixes(t, "10.0.0.0/8", "127.0.0.1/32", "::1/128", "2001:db8:ffff::/48")
	cases := []struct {
		name   string
		remote string
		xff    []string // header lines, in order
		want   string
	}{
		{"untrusted peer, no header", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"spoofing: untrusted peer's header is ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"spoofing: untrusted peer claims to be a trusted proxy", "203.0.113.7:5000", []string{"10.0.0.1"}, "203.0.113.7"},
		{"trusted peer without a header is the client", "10.1.2.3:443", nil, "10.1.2.3"},
		{"trusted peer, one hop", "10.1.2.3:443", []string{"198.51.100.1"}, "198.51.100.1"},
		{"rightmost untrusted hop wins", "10.1.2.3:443", []string{"192.0.2.9, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"spoofing: client-supplied left entries are not believed", "10.1.2.3:443", []string{"1.1.1.1, 2.2.2.2, 198.51.100.1"}, "198.51.100.1"},
		{"all hops trusted: the leftmost", "10.1.2.3:443", []string{"10.0.0.5, 10.0.0.6"}, "10.0.0.5"},
		{"several header lines are one list", "10.1.2.3:443", []string{"192.0.2.9", "198.51.100.1, 10.0.0.7", "10.0.0.8"}, "198.51.100.1"},
		{"several lines, all trusted", "10.1.2.3:443", []string{"10.0.0.2", "10.0.0.3"}, "10.0.0.2"},
		{"garbage stops the walk at the last good address", "10.1.2.3:443", []string{"198.51.100.1, not-an-ip, 10.0.0.7"}, "10.0.0.7"},
		{"garbage right after the peer", "10.1.2.3:443", []string{"198.51.100.1, unknown"}, "10.1.2.3"},
		{"an empty entry is garbage", "10.1.2.3:443", []string{"198.51.100.1,,10.0.0.7"}, "10.0.0.7"},
		{"an empty header line is garbage", "10.1.2.3:443", []string{"198.51.100.1", ""}, "10.1.2.3"},
		{"a CIDR is not an address", "10.1.2.3:443", []string{"198.51.100.0/24"}, "10.1.2.3"},
		{"spaces around entries", "10.1.2.3:443", []string{"  198.51.100.1 ,  10.0.0.7  "}, "198.51.100.1"},
		{"entries with ports", "10.1.2.3:443", []string{"198.51.100.1:61000, [2001:db8::5]:443"}, "2001:db8::5"},
		{"bracketed IPv6 without a port", "10.1.2.3:443", []string{"[2001:db8::5]"}, "2001:db8::5"},
		{"IPv6 peer and hops", "[::1]:8080", []string{"2001:db8::1, 2001:db8:ffff:1::1"}, "2001:db8::1"},
		{"IPv4-mapped peer is unmapped and trusted", "[::ffff:10.1.2.3]:443", []string{"198.51.100.1"}, "198.51.100.1"},
		{"IPv4-mapped hop is unmapped", "10.1.2.3:443", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"IPv4-mapped untrusted peer", "[::ffff:203.0.113.7]:443", []string{"198.51.100.1"}, "203.0.113.7"},
		{"zone dropped", "[fe80::1%eth0]:443", nil, "fe80::1"},
		{"loopback proxy", "127.0.0.1:50000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"127.0.0.2 is not 127.0.0.1/32", "127.0.0.2:50000", []string{"198.51.100.1"}, "127.0.0.2"},
		{"RemoteAddr without a port", "10.1.2.3", []string{"198.51.100.1"}, "198.51.100.1"},
		{"RemoteAddr not an address", "@", []string{"198.51.100.1"}, "invalid IP"},
		{"oversized entry is garbage", "10.1.2.3:443", []string{"198.51.100.1, " + string(make([]byte, 100))}, "10.1.2.3"},
	}
	r := NewResolver(trusted)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = c.remote
			for _, v := range c.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if got := r.ClientIP(req).String(); got != c.want {
				t.Errorf("ClientIP = %s, want %s", got, c.want)
			}
		})
	}
}

func TestResolverWithoutTrustedProxiesUsesThePeer(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "127.0.0.1:1234"
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	for name, r := range map[string]*Resolver{"nil": nil, "empty": NewResolver(nil), "zero": {}} {
		if got := r.ClientIP(req); got != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("%s resolver: %s", name, got)
		}
	}
}

func TestMappedTrustedPrefixes(t *testing.T) {
	cases := []struct {
		trusted, peer string
		trusts        bool
	}{
		{"::ffff:10.0.0.0/104", "10.1.2.3:1", true},
		{"::ffff:10.0.0.0/104", "11.1.2.3:1", false},
		{"::ffff:0.0.0.0/96", "203.0.113.7:1", true},
		{"::ffff:0.0.0.0/80", "203.0.113.7:1", true},
		{"10.1.2.3/8", "10.200.0.1:1", true}, // not masked as written
		{"::/0", "203.0.113.7:1", false},     // IPv6 prefixes do not cover IPv4 peers
		{"::/0", "[2001:db8::1]:1", true},
	}
	for _, c := range cases {
		r := NewResolver(prefixes(t, c.trusted))
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = c.peer
		req.Header.Set("X-Forwarded-For", "198.51.100.1")
		got := r.ClientIP(req) == netip.MustParseAddr("198.51.100.1")
		if got != c.trusts {
			t.Errorf("trusted %s, peer %s: believed = %v, want %v", c.trusted, c.peer, got, c.trusts)
		}
	}
}

func TestMiddlewareStoresTheClientIP(t *testing.T) {
	r := NewResolver(prefixes(t, "127.0.0.0/8"))
	var seen netip.Addr
	h := r.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { seen = From(req.Context()) }))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "127.0.0.1:9"
	req.Header.Set("X-Forwarded-For", "2001:db8::7")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if seen != netip.MustParseAddr("2001:db8::7") {
		t.Errorf("handler saw %s", seen)
	}
	if a := From(context.Background()); a.IsValid() {
		t.Errorf("From an empty context = %s", a)
	}
	ctx := WithIP(context.Background(), netip.MustParseAddr("192.0.2.1"))
	if a := From(ctx); a != netip.MustParseAddr("192.0.2.1") {
		t.Errorf("From(WithIP) = %s", a)
	}
}

func TestKey(t *testing.T) {
	cases := map[string]string{
		"192.0.2.1":            "192.0.2.1",
		"::ffff:192.0.2.1":     "192.0.2.1",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2::1":      "2001:db8:1:2::/64",
		"2001:db8:1:3::1":      "2001:db8:1:3::/64",
		"fe80::1%eth0":         "fe80::/64",
		"::1":                  "::/64",
	}
	for in, want := range cases {
		if got := Key(netip.MustParseAddr(in)); got != want {
			t.Errorf("Key(%s) = %q, want %q", in, got, want)
		}
	}
	if got := Key(netip.Addr{}); got != "" {
		t.Errorf("Key(zero) = %q", got)
	}
	// Two addresses of one /64 share a key; neighbouring /64s do not.
	if Key(netip.MustParseAddr("2001:db8::1")) != Key(netip.MustParseAddr("2001:db8::ffff:ffff:ffff:ffff")) {
		t.Error("one /64, two keys")
	}
}
