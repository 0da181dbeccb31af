// Package deploy holds the files an operator deploys Gatehouse with: the systemd unit
// and its configuration (systemd/), the container image's configuration
// (container/; the Dockerfile is at the repository root). Its tests check that the
// files are valid and agree with each other; docs/deploy.md explains them.
package deploy

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// directives returns every value of a unit-file (or Dockerfile) directive.
func directives(text, name string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

// TestSystemdUnit runs systemd-analyze verify on the unit (with ExecStart pointed at
// an executable that exists here) and fails on any complaint, including the unknown
// or misspelt keys verify only warns about; then requires the sandbox to keep
// systemd-analyze security's exposure score at 2.0 ("OK") or lower.
func TestSystemdUnit(t *testing.T) {
	if why := os.Getenv("GATEHOUSE_NO_SYSTEMD_ANALYZE"); why != "" {
		t.Skipf("skipping: %s (GATEHOUSE_NO_SYSTEMD_ANALYZE, set by .ci/run)", why)
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		testenv.Unavailable(t, "systemd-analyze", "not on PATH (Debian: apt-get install systemd)")
	}
	unit := read(t, "systemd/gatehouse.service")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(unit, "ExecStart=/usr/local/bin/gatehouse ") {
		t.Fatal("ExecStart does not run /usr/local/bin/gatehouse")
	}
	path := filepath.Join(t.TempDir(), "gatehouse.service")
	if err := os.WriteFile(path, []byte(strings.Replace(unit, "ExecStart=/usr/local/bin/gatehouse ", "ExecStart="+exe+" ", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	verify := func(path string) (string, error) {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(analyze, "verify", "--man=no", path)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err == nil && strings.TrimSpace(stderr.String()) != "" {
			err = errors.New("complaints on standard error")
		}
		return stdout.String() + stderr.String(), err
	}
	if out, err := verify(path); err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The check sees a misspelt directive, which verify alone lets pass with exit 0.
	typo := filepath.Join(t.TempDir(), "gatehouse.service")
	if err := os.WriteFile(typo, []byte(strings.Replace(read(t, path), "ProtectHome=", "ProtectHomes=", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(typo); err == nil || !strings.Contains(out, "ProtectHomes") {
		t.Errorf("a misspelt directive went unnoticed: %v\n%s", err, out)
	}

	out, err := exec.Command(analyze, "security", "--offline=true", "--threshold=20", path).CombinedOutput()
	if err != nil {
		if bytes.Contains(out, []byte("--offline")) || bytes.Contains(out, []byte("unrecognized option")) {
			t.Skipf("this systemd-analyze cannot score a unit file offline: %s", out)
		}
		t.Errorf("systemd-analyze security: exposure above 2.0 (%v):\n%s", err, out)
	}
	if m := regexp.MustCompile(`Overall exposure level for gatehouse.service: ([0-9.]+)`).FindSubmatch(out); m != nil {
		t.Logf("exposure level %s", m[1])
	}

	for name, want := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "CapabilityBoundingSet": "", "MemoryDenyWriteExecute": "yes",
		"LockPersonality": "yes", "StateDirectory": "gatehouse", "RuntimeDirectory": "gatehouse",
		"ConfigurationDirectory": "gatehouse", "Restart": "on-failure",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
	} {
		if got := directives(unit, name); len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %q", name, got, want)
		}
	}
	if users := directives(unit, "User"); len(users) != 1 || users[0] == "root" || users[0] == "0" {
		t.Errorf("User=%q: the service must run as a user of its own", users)
	}
}

// TestSystemdConfig loads deploy/systemd/gatehouse.yaml as serve would and checks it
// uses the folders and the credential the unit gives it.
func TestSystemdConfig(t *testing.T) {
	t.Setenv("GATEHOUSE_WEBHOOK_SECRET", "a-webhook-secret-for-the-test")
	t.Setenv("EXAMPLE_WEB_CLIENT_SECRET", "a-client-secret-for-the-test")
	cfg, err := config.Load("systemd/gatehouse.yaml")
	if err != nil {
		t.Fatal(err)
	}
	unit := read(t, "systemd/gatehouse.service")
	if got := directives(unit, "ExecStart"); len(got) != 1 || !strings.HasSuffix(got[0], " serve --config /etc/gatehouse/gatehouse.yaml") {
		t.Errorf("ExecStart=%q does not serve /etc/gatehouse/gatehouse.yaml", got)
	}
	driver, dbPath, err := config.ParseDatabase(cfg.Database)
	if err != nil || driver != "sqlite" || filepath.Dir(dbPath) != "/var/lib/gatehouse" {
		t.Errorf("database %q is not in the state directory /var/lib/gatehouse", cfg.Database)
	}
	// The KEK lives in the configuration directory, apart from the database: a copy
	// of the state directory alone must not open the keys.
	if filepath.Dir(cfg.Keys.EncryptionKeyFile) != "/etc/gatehouse" {
		t.Errorf("keys.encryption_key_file %q is not in the configuration directory /etc/gatehouse", cfg.Keys.EncryptionKeyFile)
	}
	if cfg.Messaging.Provider == "outbox" || cfg.DevOutbox {
		t.Error("the production example delivers no codes (outbox provider or dev outbox)")
	}
	if !strings.HasPrefix(cfg.Issuer, "https://") || cfg.Listen != "127.0.0.1:8080" {
		t.Errorf("issuer %q, listen %q: want https:// behind a proxy on this machine", cfg.Issuer, cfg.Listen)
	}
	if len(cfg.Server.TrustedProxies) == 0 {
		t.Error("no server.trusted_proxies: behind a proxy every client would share its address")
	}
}

// TestContainerConfig loads deploy/container/gatehouse.yaml and checks it against the
// Dockerfile: the port it listens on is exposed and health-checked, its database is on
// the volume, and the image runs serve with it.
func TestContainerConfig(t *testing.T) {
	t.Setenv("GATEHOUSE_WEBHOOK_SECRET", "a-webhook-secret-for-the-test")
	t.Setenv("EXAMPLE_WEB_CLIENT_SECRET", "a-client-secret-for-the-test")
	cfg, err := config.Load("container/gatehouse.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := read(t, "../Dockerfile")
	_, port, _ := strings.Cut(cfg.Listen, ":")
	if !regexp.MustCompile(`(?m)^EXPOSE .*\b` + port + `\b`).MatchString(dockerfile) {
		t.Errorf("the Dockerfile does not EXPOSE %s (listen %s)", port, cfg.Listen)
	}
	if !strings.Contains(dockerfile, `"http://127.0.0.1:`+port+`/readyz"`) {
		t.Errorf("the HEALTHCHECK does not ask /readyz on port %s", port)
	}
	driver, dbPath, err := config.ParseDatabase(cfg.Database)
	if err != nil || driver != "sqlite" || filepath.Dir(dbPath) != "/var/lib/gatehouse" ||
		!strings.Contains(dockerfile, `VOLUME ["/var/lib/gatehouse"]`) {
		t.Errorf("database %q is not on the image's volume", cfg.Database)
	}
	if !strings.Contains(dockerfile, `CMD ["serve", "--config", "/etc/gatehouse/gatehouse.yaml"]`) {
		t.Error("the image does not serve /etc/gatehouse/gatehouse.yaml")
	}
	if !regexp.MustCompile(`(?m)^USER 65532:65532$`).MatchString(dockerfile) {
		t.Error("the image does not run as the non-root user 65532")
	}
	if cfg.Messaging.Provider == "outbox" || cfg.DevOutbox || !strings.HasPrefix(cfg.Issuer, "https://") {
		t.Error("the container example is a development configuration")
	}
}
