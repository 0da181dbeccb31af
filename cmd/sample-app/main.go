// Command sample-app runs Gatehouse's sample web app (package app) on its own,
// against any IDX issuer: `gatehouse demo` (which also serves the app itself)
// or an Okta org's embedded-sign-in app.
//
//	go run ./cmd/sample-app -issuer https://example.okta.com/oauth2/default \
//	    -client-id 0oa... -redirect-uri http://localhost:3000/login/callback
//
// Every flag can also be given as an environment variable (GATEHOUSE_ISSUER,
// GATEHOUSE_CLIENT_ID, GATEHOUSE_CLIENT_SECRET, GATEHOUSE_REDIRECT_URI,
// GATEHOUSE_APP_ADDR, GATEHOUSE_SCOPES, GATEHOUSE_APP_TRUSTED_PROXIES,
// GATEHOUSE_APP_MAX_SIGNINS_PER_IP); a flag wins over its variable. Prefer
// the variable for the secret, which command lines expose to other users of
// the machine.
//
// The app passes each browser's address to the issuer in X-Forwarded-For;
// Gatehouse believes it only if the app's address is listed in the engine's
// server.trusted_proxies.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-id/gatehouse/app"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sample-app:", err)
		os.Exit(1)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(args []string) error {
	fs := flag.NewFlagSet("sample-app", flag.ContinueOnError)
	issuer := fs.String("issuer", envOr("GATEHOUSE_ISSUER", "http://127.0.0.1:8080/oauth2/default"), "OAuth issuer (env GATEHOUSE_ISSUER)")
	clientID := fs.String("client-id", envOr("GATEHOUSE_CLIENT_ID", "gatehouse-demo"), "OAuth client id (env GATEHOUSE_CLIENT_ID)")
	secret := fs.String("client-secret", os.Getenv("GATEHOUSE_CLIENT_SECRET"), "client secret, for confidential clients (env GATEHOUSE_CLIENT_SECRET)")
	redirect := fs.String("redirect-uri", envOr("GATEHOUSE_REDIRECT_URI", "http://127.0.0.1:3000/login/callback"), "redirect URI registered for the client (env GATEHOUSE_REDIRECT_URI); https makes the session cookie Secure")
	addr := fs.String("addr", envOr("GATEHOUSE_APP_ADDR", "127.0.0.1:3000"), "listen address (env GATEHOUSE_APP_ADDR)")
	scopes := fs.String("scopes", envOr("GATEHOUSE_SCOPES", "openid profile email offline_access"), "scopes to request (env GATEHOUSE_SCOPES)")
	proxies := fs.String("trusted-proxies", os.Getenv("GATEHOUSE_APP_TRUSTED_PROXIES"),
		"comma-separated networks (CIDR) or addresses of reverse proxies in front of the app whose X-Forwarded-For is believed (env GATEHOUSE_APP_TRUSTED_PROXIES)")
	perIP := fs.String("max-sign-ins-per-ip", envOr("GATEHOUSE_APP_MAX_SIGNINS_PER_IP", "20"),
		"sign-ins in progress allowed from one address (IPv6: one /64); -1 for no cap (env GATEHOUSE_APP_MAX_SIGNINS_PER_IP)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	trusted, err := parsePrefixes(*proxies)
	if err != nil {
		return err
	}
	maxPerIP, err := strconv.Atoi(strings.TrimSpace(*perIP))
	if err != nil || maxPerIP == 0 || maxPerIP < -1 {
		return fmt.Errorf("-max-sign-ins-per-ip %q: want a positive number, or -1 for no cap", *perIP)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	h, err := app.New(app.Config{
		Issuer: *issuer, ClientID: *clientID, ClientSecret: *secret, RedirectURI: *redirect,
		Scopes: strings.Fields(*scopes), Logger: log,
		TrustedProxies: trusted, MaxSignInsPerIP: maxPerIP,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("Sample app on http://%s (issuer %s, client %s). Ctrl-C stops it.\n", ln.Addr(), *issuer, *clientID)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// parsePrefixes reads a comma- or space-separated list of networks in CIDR
// notation ("10.0.0.0/8") or single addresses ("192.0.2.10", a /32 or
// /128).
func parsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is neither a network (10.0.0.0/8) nor an address", item)
		}
		ip = ip.Unmap().WithZone("")
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}
