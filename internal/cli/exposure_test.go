package cli

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
)

// exposureConfig is a valid configuration apart from what each case adds.
func exposureConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	path := filepath.Join(dir, "gatehouse.yaml")
	writeFile(t, path, "database: sqlite:"+filepath.Join(dir, "g.db")+"\n"+
		"clients:\n  - id: web\n    redirect_uris: [https://app.example.com/cb]\n"+extra)
	return path
}

// TestServeRefusesDevSettingsOffLoopback: an http:// issuer and the dev outbox
// stop serve unless it listens on loopback; the error names the key, and nothing
// is opened first.
func TestServeRefusesDevSettingsOffLoopback(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"http issuer on every interface", "issuer: http://id.example.com\nlisten: 0.0.0.0:0\n", "issuer: http://id.example.com is http://"},
		{"http issuer on an empty host", "issuer: http://id.example.com\nlisten: :0\n", "issuer: "},
		{"http issuer on a LAN address", "issuer: http://id.example.com\nlisten: 192.0.2.10:0\n", "issuer: "},
		{"dev outbox off loopback", "issuer: https://id.example.com\nlisten: '[::]:0'\ndev_outbox: true\n", "dev_outbox: true"},
		{"outbox provider off loopback", "issuer: https://id.example.com\nlisten: 0.0.0.0:0\nmessaging:\n  provider: outbox\n", "gatehouse: messaging.provider: outbox"},
		{"plain-http webhook to another host", "issuer: https://id.example.com\nlisten: 127.0.0.1:0\n" +
			"messaging:\n  provider: webhook\n  webhook:\n    url: http://gw.example.com/sms\n    secret: 0123456789abcdef\n", "gatehouse: messaging.webhook.url: http://gw.example.com/"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			r := run(t, "", "serve", "--config", exposureConfig(t, dir, c.yaml))
			if r.code != 1 || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "loopback") ||
				!strings.Contains(r.stderr, "gatehouse: allow_insecure_development_settings: true starts the engine anyway") {
				t.Errorf("serve: %+v", r)
			}
			if _, err := os.Stat(filepath.Join(dir, "g.db")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the database was opened before the configuration was refused: %v", err)
			}
		})
	}
}

// TestCheckExposure: every development setting is warned about at WARN, once, on
// loopback too; off loopback each is refused with an error naming its key, and so
// is a plain-http webhook to another host wherever the engine listens, unless
// allow_insecure_development_settings is set, which turns each refusal into one
// more warning.
func TestCheckExposure(t *testing.T) {
	const (
		outbox  = "outbox"
		webhook = "webhook"
		twilio  = "twilio"
	)
	cases := []struct {
		name                          string
		issuer, listen, metricsListen string
		devOutbox                     bool
		provider, webhookURL          string
		allow                         bool
		wantErr                       []string // each a line of the error, by its start
		wantWarn                      []string // each a WARN line, by a word in it
	}{
		{"demo-like: http and outbox on loopback", "http://127.0.0.1:8080/oauth2/default", "127.0.0.1:8080", "", true, outbox, "", false,
			nil, []string{"key=issuer", "key=dev_outbox", "key=messaging.provider"}},
		{"localhost", "http://localhost:8080", "localhost:8080", "", true, outbox, "", false,
			nil, []string{"key=issuer", "key=dev_outbox", "key=messaging.provider"}},
		{"IPv6 loopback", "http://[::1]:8080", "[::1]:8080", "", true, outbox, "", false,
			nil, []string{"key=issuer", "key=dev_outbox", "key=messaging.provider"}},
		{"production behind a proxy on this host", "https://id.example.com", "127.0.0.1:8080", "", false, twilio, "", false, nil, nil},
		{"public, metrics apart", "https://id.example.com", "0.0.0.0:8080", "127.0.0.1:9090", false, twilio, "", false, nil, nil},
		{"public, metrics off", "https://id.example.com", "0.0.0.0:8080", "off", false, webhook, "https://gw.example.com/sms", false, nil, nil},
		{"public, metrics on the main port", "https://id.example.com", "0.0.0.0:8080", "", false, twilio, "", false, nil, []string{"metrics_listen"}},
		{"public http issuer", "http://id.example.com", "0.0.0.0:8080", "127.0.0.1:9090", false, twilio, "", false,
			[]string{"issuer:", "allow_insecure_development_settings:"}, []string{"key=issuer"}},
		{"public http issuer, upper case", "HTTP://id.example.com", "10.0.0.1:8080", "off", false, twilio, "", false,
			[]string{"issuer:", "allow_insecure_development_settings:"}, []string{"key=issuer"}},
		{"public dev outbox", "https://id.example.com", "10.0.0.1:8080", "off", true, twilio, "", false,
			[]string{"dev_outbox:", "allow_insecure_development_settings:"}, []string{"key=dev_outbox"}},
		{"public outbox provider", "https://id.example.com", "10.0.0.1:8080", "off", false, outbox, "", false,
			[]string{"messaging.provider:", "allow_insecure_development_settings:"}, []string{"key=messaging.provider"}},
		{"all three public, reported together", "http://id.example.com", ":8080", "off", true, outbox, "", false,
			[]string{"issuer:", "dev_outbox:", "messaging.provider:", "allow_insecure_development_settings:"},
			[]string{"key=issuer", "key=dev_outbox", "key=messaging.provider"}},
		{"hostname other than localhost", "http://id.example.com", "id.example.com:8080", "off", false, twilio, "", false,
			[]string{"issuer:", "allow_insecure_development_settings:"}, []string{"key=issuer"}},
		{"plain-http webhook to another host, engine on loopback", "https://id.example.com", "127.0.0.1:8080", "", false, webhook, "http://gw.example.com/sms?token=s3cr3t", false,
			[]string{"messaging.webhook.url: http://gw.example.com/… is plain http", "allow_insecure_development_settings:"}, []string{"key=messaging.webhook.url"}},
		{"plain-http webhook to a LAN address", "https://id.example.com", "0.0.0.0:8080", "off", false, webhook, "http://10.1.2.3:9000/sms", false,
			[]string{"messaging.webhook.url:", "allow_insecure_development_settings:"}, []string{"key=messaging.webhook.url"}},
		{"plain-http webhook on this machine", "https://id.example.com", "0.0.0.0:8080", "off", false, webhook, "http://127.0.0.1:9000/sms", false, nil, nil},
		{"plain-http webhook to localhost", "https://id.example.com", "127.0.0.1:8080", "", false, webhook, "http://localhost:9000/sms", false, nil, nil},
		{"escape hatch: everything public, started with warnings", "http://id.example.com", "0.0.0.0:8080", "off", true, outbox, "", true,
			nil, []string{"key=issuer", "key=dev_outbox", "key=messaging.provider",
				"problem=\"issuer:", "problem=\"dev_outbox:", "problem=\"messaging.provider:"}},
		{"escape hatch: plain-http webhook", "https://id.example.com", "127.0.0.1:8080", "", false, webhook, "http://gw.example.com/sms", true,
			nil, []string{"key=messaging.webhook.url", "problem=\"messaging.webhook.url:"}},
	}
	for _, c := range cases {
		var logs strings.Builder
		log := slog.New(slog.NewTextHandler(&logs, nil))
		cfg := config.Defaults()
		cfg.Issuer, cfg.Listen, cfg.MetricsListen, cfg.DevOutbox = c.issuer, c.listen, c.metricsListen, c.devOutbox
		cfg.Messaging.Provider, cfg.Messaging.Webhook.URL, cfg.AllowInsecureDevelopmentSettings = c.provider, c.webhookURL, c.allow
		err := checkExposure(cfg, log)
		var gotErr []string
		if err != nil {
			gotErr = strings.Split(err.Error(), "\n")
		}
		if len(gotErr) != len(c.wantErr) {
			t.Errorf("%s: error %v, want %d lines starting %q", c.name, err, len(c.wantErr), c.wantErr)
		} else {
			for i, want := range c.wantErr {
				if !strings.HasPrefix(gotErr[i], want) {
					t.Errorf("%s: error line %q, want one starting %q", c.name, gotErr[i], want)
				}
			}
		}
		if err != nil && (!strings.Contains(err.Error(), "loopback") || strings.Contains(err.Error(), "s3cr3t")) {
			t.Errorf("%s: the error does not say where the setting is allowed, or shows the URL's query: %v", c.name, err)
		}
		got := strings.TrimSuffix(logs.String(), "\n")
		var warns []string
		if got != "" {
			warns = strings.Split(got, "\n")
		}
		if len(warns) != len(c.wantWarn) {
			t.Errorf("%s: logged %d lines, want %d naming %q:\n%s", c.name, len(warns), len(c.wantWarn), c.wantWarn, got)
		}
		for _, w := range warns {
			if !strings.Contains(w, "level=WARN") {
				t.Errorf("%s: not at WARN: %s", c.name, w)
			}
		}
		for _, want := range c.wantWarn {
			if !strings.Contains(got, want) {
				t.Errorf("%s: no warning naming %q in:\n%s", c.name, want, got)
			}
		}
	}
}

func TestDemoTrustedProxyFlag(t *testing.T) {
	o := demoOptions{engineAddr: "127.0.0.1:8080", appAddr: "127.0.0.1:3000", dataDir: t.TempDir(), logLevel: "warn",
		trustedProxies: []string{"10.0.0.0/8", "192.0.2.7"}}
	cfg, err := demoConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Server.TrustedProxies, " "); got != "127.0.0.0/8 ::1 10.0.0.0/8 192.0.2.7" {
		t.Errorf("trusted proxies = %s", got)
	}
	if err := checkExposure(cfg, slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("the demo's configuration would not pass serve's checks: %v", err)
	}
	r := run(t, "", "demo", "--trusted-proxy", "10.0.0.0/33", "--data-dir", t.TempDir())
	if r.code == 0 || !strings.Contains(r.stderr, "trusted-proxy") || !strings.Contains(r.stderr, "10.0.0.0/33") {
		t.Errorf("a bad --trusted-proxy: %+v", r)
	}
}

func TestServerLimits(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	if srv.ReadHeaderTimeout != 10*time.Second || srv.ReadTimeout != 30*time.Second || srv.IdleTimeout != 120*time.Second ||
		srv.WriteTimeout != 60*time.Second || srv.MaxHeaderBytes != 64<<10 {
		t.Errorf("limits: header %s, read %s, write %s, idle %s, header bytes %d",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
	}
}

// TestStalledClientIsDisconnected: a client that sends half a header is dropped
// when the header timeout passes (shortened here), while a complete request on
// the same server is answered.
func TestStalledClientIsDisconnected(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limits := defaultLimits
	limits.readHeader, limits.read = 200*time.Millisecond, time.Second
	srv := newHTTPServerWith(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }),
		slog.New(slog.DiscardHandler), limits)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })

	stalled, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	if _, err := io.WriteString(stalled, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: "); err != nil {
		t.Fatal(err)
	}
	// A well-behaved request meanwhile is served.
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Errorf("complete request: %q", body)
	}
	// The stalled connection is closed by the server: reading it ends (EOF or a
	// reset) long before the test's own deadline.
	start := time.Now()
	_ = stalled.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.ReadAll(stalled)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("the server kept a half-sent header open for %s", time.Since(start).Round(time.Millisecond))
	}
}
