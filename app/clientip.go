package app

import (
	"context"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gatehouse-id/gatehouse/idx"
)

// clientCtxKey is the context key of the browser's address.
type clientCtxKey struct{}

// withClientIP finds the browser's address once per request and puts it on
// the request's context twice: for the SDK (idx.WithClientIP), so that every
// call made on the browser's behalf tells the engine whose request it is,
// and for the app's own per-address cap (clientOf).
func (s *server) withClientIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ip := clientIP(r, s.trustedProxies); ip.IsValid() {
			ctx := idx.WithClientIP(r.Context(), ip.String())
			r = r.WithContext(context.WithValue(ctx, clientCtxKey{}, ip))
		}
		next.ServeHTTP(w, r)
	})
}

// clientIP is the browser's address: the host of r.RemoteAddr, unless that
// is one of the trusted proxies; then X-Forwarded-For is read from the right
// (the entry the nearest proxy added) and the first address that is not a
// trusted proxy is the browser's — the last untrusted hop. Entries left of it
// were written by whoever sent the request and prove nothing. If every hop is
// trusted, the leftmost is taken; an entry that is not an IP address ends the
// walk at the hop that passed it on. The zero Addr means RemoteAddr holds no
// IP address (e.g. a Unix socket).
func clientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ip := parseIP(r.RemoteAddr)
	if !ip.IsValid() {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			ip = ap.Addr().Unmap().WithZone("")
		}
	}
	if !ip.IsValid() || len(trusted) == 0 {
		return ip
	}
	var hops []string
	for _, line := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(line, ",")...)
	}
	for i := len(hops) - 1; i >= 0 && isTrusted(ip, trusted); i-- {
		hop := parseIP(hops[i])
		if !hop.IsValid() {
			break
		}
		ip = hop
	}
	return ip
}

// parseIP parses a bare address, IPv4-mapped IPv6 as IPv4, without zone.
func parseIP(s string) netip.Addr {
	ip, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap().WithZone("")
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// clientOf is what the per-address cap counts a request under: the browser's
// IPv4 address, or the /64 network of its IPv6 address (one host commonly
// holds a whole /64, so counting single IPv6 addresses would cap nothing).
// It is "" when the address is unknown; such requests share one count.
func clientOf(r *http.Request) string {
	ip, ok := r.Context().Value(clientCtxKey{}).(netip.Addr)
	if !ok || !ip.IsValid() {
		return ""
	}
	if ip.Is6() {
		return netip.PrefixFrom(ip, 64).Masked().String()
	}
	return ip.String()
}
