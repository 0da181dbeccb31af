// Package clientip finds the address of the client behind a request: the TCP peer,
// or, when the peer is a proxy the configuration trusts, the address that proxy (and
// any trusted proxies before it) recorded in X-Forwarded-For. Throttling and logs
// key on it.
package clientip

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds client addresses. Its zero value, and a nil *Resolver, trust no
// proxy: the client is always the TCP peer.
type Resolver struct {
	trusted []netip.Prefix
}

// NewResolver returns a Resolver that believes X-Forwarded-For from peers in
// trusted. Prefixes written in IPv4-mapped IPv6 form (::ffff:10.0.0.0/104) are
// taken as the IPv4 prefixes they stand for, since addresses are unmapped before
// they are compared; invalid prefixes are ignored.
func NewResolver(trusted []netip.Prefix) *Resolver {
	r := &Resolver{}
	for _, p := range trusted {
		if !p.IsValid() {
			continue
		}
		if a := p.Addr(); a.Is4In6() {
			if p.Bits() < 96 {
				// Wider than the whole mapped range: it covers every IPv4 address
				// as well as IPv6 ones.
				r.trusted = append(r.trusted, netip.PrefixFrom(netip.IPv4Unspecified(), 0))
			} else {
				p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			}
		}
		r.trusted = append(r.trusted, p.Masked())
	}
	return r
}

// trusts reports whether a is one of the trusted proxies.
func (r *Resolver) trusts(a netip.Addr) bool {
	if r == nil {
		return false
	}
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP is the address of the client that sent req. It starts from the TCP peer
// (req.RemoteAddr). Only if the peer is trusted does it read X-Forwarded-For, every
// header line in order, comma-separated, from the right (the hop nearest to the
// engine) to the left: trusted addresses are skipped and the first untrusted one is
// the client. If every hop is trusted, the leftmost is. An entry that is not an
// address ends the walk at the last address read, so a client cannot slip garbage
// past a proxy that appends to what it received. IPv4-mapped IPv6 addresses are
// returned as IPv4. The zero Addr means RemoteAddr held no address.
func (r *Resolver) ClientIP(req *http.Request) netip.Addr {
	peer, ok := parseHop(req.RemoteAddr)
	if !ok {
		return netip.Addr{}
	}
	if !r.trusts(peer) {
		return peer
	}
	client := peer
	lines := req.Header.Values("X-Forwarded-For")
	for i := len(lines) - 1; i >= 0; i-- {
		entries := strings.Split(lines[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			hop, ok := parseHop(entries[j])
			if !ok {
				return client
			}
			client = hop
			if !r.trusts(hop) {
				return hop
			}
		}
	}
	return client
}

// parseHop reads one address as it appears in RemoteAddr or X-Forwarded-For: a bare
// IPv4 or IPv6 address, or either with a port (IPv6 then in brackets). A zone is
// dropped and an IPv4-mapped address unmapped.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(s); err == nil {
		a = ap.Addr()
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil {
			return netip.Addr{}, false
		}
	} else if a, err = netip.ParseAddr(s); err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

type contextKey struct{}

// Middleware resolves the client address of every request and stores it in the
// request's context, where From finds it.
func (r *Resolver) Middleware(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h.ServeHTTP(w, req.WithContext(WithIP(req.Context(), r.ClientIP(req))))
	})
}

// WithIP returns a copy of ctx carrying addr as the client address. The
// middleware uses it; tests may too.
func WithIP(ctx context.Context, addr netip.Addr) context.Context {
	return context.WithValue(ctx, contextKey{}, addr)
}

// From is the client address stored in ctx, or the zero Addr if there is none.
func From(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(contextKey{}).(netip.Addr)
	return a
}

// Key is the throttling key of a: the address itself for IPv4 ("192.0.2.1"), and
// its /64 for IPv6 ("2001:db8:1:2::/64"), since one IPv6 host usually holds a
// whole /64 and can change addresses within it at will. The zero Addr gives "".
func Key(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
