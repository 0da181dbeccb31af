package cli

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/gatehouse-id/gatehouse/app"
	"github.com/gatehouse-id/gatehouse/engine/config"
)

// newDemoApp builds the sample app for the demo: its SDK client is the demo
// client, pointed at the engine's issuer. Sessions stay in memory (one
// process); the cookie is not Secure because the demo serves http on
// loopback.
func newDemoApp(cfg config.Config, log *slog.Logger) (http.Handler, error) {
	return app.New(app.Config{
		Issuer:      cfg.Issuer,
		ClientID:    DemoClientID,
		RedirectURI: cfg.Clients[0].RedirectURIs[0],
		Scopes:      []string{"openid", "profile", "email", "offline_access"},
		Logger:      log.With("component", "sample-app"),
	})
}

// serveEngineAndApp serves the engine and the app until ctx ends or either
// server fails; then both stop. Both listeners are open before this is
// called, so the app's first SDK call finds the engine accepting.
func serveEngineAndApp(ctx context.Context, log *slog.Logger, engineLn net.Listener, engineHandler http.Handler,
	background func(context.Context), appLn net.Listener, appHandler http.Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- serveHTTP(ctx, engineLn, engineHandler, log, background) }()
	go func() { errc <- serveHTTP(ctx, appLn, appHandler, log, nil) }()
	first := <-errc
	cancel() // the other server stops too
	if second := <-errc; first == nil {
		first = second
	}
	return first
}
