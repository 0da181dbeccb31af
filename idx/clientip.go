package idx

import (
	"context"
	"net/netip"
	"strings"
)

// clientIPKey is the context key of the end user's address.
type clientIPKey struct{}

// WithClientIP returns a copy of ctx carrying the end user's IP address.
// Every request this package sends with the returned context — discovery and
// keys, interact, introspect, every remediation and action post, token,
// revoke and userinfo — then carries it as
//
//	X-Forwarded-For: <ip>
//
// An application that calls the server from its own backend otherwise puts
// all its users behind its own address, and the server's per-address limits
// then count them as one. Pass the address of the browser the application is
// serving (the host part of http.Request.RemoteAddr, or what the
// application's own trusted reverse proxy reports), not a value the browser
// chose.
//
// ip must be a bare IPv4 or IPv6 address, e.g. "203.0.113.7" or
// "2001:db8::1"; an IPv4-mapped IPv6 address is sent as IPv4 and a zone is
// dropped. Anything else — empty, a host:port, a hostname, a list — is
// ignored and ctx is returned unchanged (with any address it already
// carries).
//
// The server decides whether to believe the header. Gatehouse believes it
// only from the addresses listed in its server.trusted_proxies setting, so
// the operator lists the application's servers there; from any other
// address the header is ignored and the connection's own address counts.
func WithClientIP(ctx context.Context, ip string) context.Context {
	addr, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return ctx
	}
	return context.WithValue(ctx, clientIPKey{}, addr.Unmap().WithZone("").String())
}

// clientIPFrom returns the address set by WithClientIP, if any.
func clientIPFrom(ctx context.Context) (string, bool) {
	ip, ok := ctx.Value(clientIPKey{}).(string)
	return ip, ok && ip != ""
}
