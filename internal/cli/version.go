package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/version"
)

// version prints the build: one field a line, or JSON with --json.
func (e env) version(args []string) error {
	fs := e.newFlagSet("version", "version [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	info := version.Get()
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{
			"version": info.Version, "commit": info.Commit, "date": info.Date,
			"modified": info.Modified, "go_version": info.GoVersion, "platform": info.Platform,
		})
	}
	fmt.Fprint(e.stdout, info.Long())
	return nil
}

// healthcheck asks a running engine whether it is ready and exits 0 only on a 200.
// Container images without curl or wget (distroless, scratch) use it as their
// HEALTHCHECK.
func (e env) healthcheck(ctx context.Context, args []string) error {
	fs := e.newFlagSet("healthcheck", "healthcheck [--url URL] [--timeout D]")
	url := fs.String("url", "http://127.0.0.1:8080/readyz", "URL to GET; healthy when it answers 200")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *timeout <= 0 {
		fs.Usage()
		return errUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", *url, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(e.stdout, "%s: %s\n", *url, strings.TrimSpace(string(body)))
	return nil
}
