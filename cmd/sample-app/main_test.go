package main

import (
	"net/netip"
	"slices"
	"testing"
)

func TestParsePrefixes(t *testing.T) {
	got, err := parsePrefixes(" 10.0.0.0/8, 192.0.2.10 2001:db8::/48,::ffff:198.51.100.1 , 172.16.5.4/12")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.10/32"), netip.MustParsePrefix("2001:db8::/48"),
		netip.MustParsePrefix("198.51.100.1/32"), netip.MustParsePrefix("172.16.0.0/12"),
	}
	if !slices.Equal(got, want) {
		t.Errorf("parsePrefixes = %v, want %v", got, want)
	}
	if got, err := parsePrefixes(""); err != nil || len(got) != 0 {
		t.Errorf("empty list: %v, %v", got, err)
	}
	for _, bad := range []string{"proxy.example.com", "10.0.0.0/33", "10.0.0.0/8,,nope"} {
		if _, err := parsePrefixes(bad); err == nil {
			t.Errorf("parsePrefixes(%q) accepted it", bad)
		}
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-trusted-proxies", "not-a-network"},
		{"-max-sign-ins-per-ip", "0"},
		{"-max-sign-ins-per-ip", "many"},
	} {
		if err := run(args); err == nil {
			t.Errorf("run(%q) started", args)
		}
	}
}
