// Command sample-app runs Gatehouse's sample web app (package app) on its own,
// against any IDX issuer: `gatehouse demo` (which also serves the app itself)
// or an Okta org's embedded-sign-in app.
//
//	go run ./cmd/sample-app -issuer https://example.okta.com/oauth2/default \
//	    -client-id 0oa... -redirect-uri http://localhost:3000/login/callback
//
// Every flag can also be given as an environment variable (GATEHOUSE_ISSUER,
// GATEHOUSE_CLIENT_ID, GATEHOUSE_CLIENT_SECRET, GATEHOUSE_REDIRECT_URI,
// GATEHOUSE_APP_ADDR, GATEHOUSE_SCOPES); a flag wins over its variable. Prefer the variable for
// the secret, which command lines expose to other users of the machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	h, err := app.New(app.Config{
		Issuer: *issuer, ClientID: *clientID, ClientSecret: *secret, RedirectURI: *redirect,
		Scopes: strings.Fields(*scopes), Logger: log,
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
