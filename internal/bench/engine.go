package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/keyseal"
)

// The engine under test runs as a child process — `gatehouse bench-engine` — so that
// the CPU time and memory /proc reports for it are the engine's alone, not the load
// generator's.

// Identities of the clients the bench's own engine is configured with: a public
// one for the IDX flow, and a confidential web app for the authorization code flow.
// Neither redirect URI is ever fetched: the bench reads the Location it is sent to.
const (
	benchClientID       = "gatehouse-bench"
	benchRedirectURI    = "http://127.0.0.1/bench/callback"
	benchWebClientID    = "gatehouse-bench-web"
	benchWebRedirectURI = "http://127.0.0.1/bench/web/callback"
)

// engineProcess is a running bench-engine child.
type engineProcess struct {
	cmd     *exec.Cmd
	issuer  string
	logPath string
	exited  chan struct{} // closed when the process has exited
	waitErr error
}

// engineConfig is the configuration of the bench's own engine: the defaults a
// deployment starts from, the database given, the two clients (the web app's with
// webSecret), and the log level asked for (info, as `serve`, by default: the access
// log is part of the cost).
func engineConfig(addr, database, logLevel, webSecret string) config.Config {
	cfg := config.Defaults()
	cfg.Issuer = "http://" + addr + "/oauth2/default"
	cfg.Listen = addr
	cfg.Database = database
	cfg.LogLevel = logLevel
	cfg.Clients = []config.Client{config.ClientDefaults(config.Client{
		ID: benchClientID, Name: "Gatehouse bench",
		RedirectURIs: []string{benchRedirectURI},
		Grants:       []string{config.GrantInteractionCode, config.GrantRefreshToken},
		Scopes:       []string{"openid", "profile", "email", "phone", "offline_access"},
	}), config.ClientDefaults(config.Client{
		ID: benchWebClientID, Name: "Gatehouse bench web app", Secret: webSecret,
		RedirectURIs: []string{benchWebRedirectURI},
		Grants:       []string{config.GrantAuthorizationCode, config.GrantRefreshToken},
		Scopes:       []string{"openid", "profile", "email", "phone", "offline_access"},
	})}
	return cfg
}

// engineSetup is how to run the engine.
type engineSetup struct {
	dir        string // for its configuration and log
	database   string // its database setting
	logLevel   string
	cheap      bool     // --hash cheap
	cpuProfile string   // where to write a CPU profile, if anywhere
	env        []string // KEY=VALUE added to its environment
	webSecret  string   // the secret of the authorization code client
}

// startEngine writes the configuration to dir and starts the engine with it. The
// listening socket is made here and handed to the child as file descriptor 3, so
// the issuer URL is known before the child starts and no other process can take the
// port in between.
func startEngine(ctx context.Context, command func(args ...string) *exec.Cmd, setup engineSetup) (*engineProcess, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	lnFile, err := ln.(*net.TCPListener).File()
	ln.Close() // the child gets the duplicate in lnFile
	if err != nil {
		return nil, err
	}
	defer lnFile.Close()
	cfg := engineConfig(ln.Addr().String(), setup.database, setup.logLevel, setup.webSecret)
	if driver, _, _ := config.ParseDatabase(cfg.Database); driver == "postgres" {
		// SQLite keeps its key-encryption key next to the database; PostgreSQL
		// needs one named.
		cfg.Keys.EncryptionKeyFile = filepath.Join(setup.dir, "gatehouse-bench.kek")
		if err := os.WriteFile(cfg.Keys.EncryptionKeyFile, []byte(keyseal.GenerateKEK()), 0o600); err != nil {
			return nil, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bench engine configuration: %w", err)
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(setup.dir, "gatehouse-bench.yaml")
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		return nil, err
	}
	args := []string{"--config", cfgPath, "--listen-fd", "3"}
	if setup.cheap {
		args = append(args, "--hash", "cheap")
	}
	if setup.cpuProfile != "" {
		args = append(args, "--cpuprofile", setup.cpuProfile)
	}
	logPath := filepath.Join(setup.dir, "engine.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := command(args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = []*os.File{lnFile}
	if len(setup.env) > 0 {
		cmd.Env = append(os.Environ(), setup.env...)
	}
	// If the bench dies, so does its engine. (Linux sends the signal when the thread
	// that started the child ends; Go keeps its threads for the life of the process.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the engine: %w", err)
	}
	p := &engineProcess{cmd: cmd, issuer: cfg.Issuer, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitReady(ctx, "http://"+cfg.Listen+"/readyz"); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// waitReady polls /readyz until the engine answers 200.
func (p *engineProcess) waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(60 * time.Second)
	hc := &http.Client{Timeout: time.Second}
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("the engine exited while starting (%v):\n%s", p.waitErr, p.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the engine did not become ready within a minute:\n%s", p.logTail())
		}
	}
}

func (p *engineProcess) pid() int { return p.cmd.Process.Pid }

// stop asks the engine to shut down as `serve` does on SIGTERM — finishing requests
// and writing its CPU profile — and kills it if it has not within 30 seconds.
func (p *engineProcess) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return errors.New("the engine did not stop on SIGTERM; killed it")
	}
	var exit *exec.ExitError
	if errors.As(p.waitErr, &exit) {
		return fmt.Errorf("the engine exited with %v:\n%s", p.waitErr, p.logTail())
	}
	return p.waitErr
}

// logTail is the end of the engine's log, for error messages.
func (p *engineProcess) logTail() string {
	raw, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no engine log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}
