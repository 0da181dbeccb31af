package enginetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/config"
)

// exampleSecretsDir is where docs/gatehouse.example.yaml reads its secret files.
const exampleSecretsDir = "/run/secrets/"

// LoadExampleConfig loads docs/gatehouse.example.yaml for a test, as an operator's
// machine would: the files it names under /run/secrets are written to a temporary
// directory (and the paths pointed there), the variable it names is set. It fails
// the test if the example does not load.
func LoadExampleConfig(t testing.TB) config.Config {
	t.Helper()
	root, err := findRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, "docs", "gatehouse.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"gatehouse-webhook-secret": "example-webhook-secret-0123456789\n",
		"gatehouse-otp-key":        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := os.LookupEnv("EXAMPLE_WEB_CLIENT_SECRET"); !ok {
		t.Setenv("EXAMPLE_WEB_CLIENT_SECRET", "0123456789abcdef0123")
	}
	c, err := config.Parse([]byte(strings.ReplaceAll(string(text), exampleSecretsDir, dir+string(filepath.Separator))))
	if err != nil {
		t.Fatalf("docs/gatehouse.example.yaml: %v", err)
	}
	return c
}

// findRepoRoot walks up from the working directory to the module's root.
func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
