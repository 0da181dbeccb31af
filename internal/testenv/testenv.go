// Package testenv lets tests that need an outside service (PostgreSQL, Node, Chromium)
// skip with a clear message where the service is absent, and fail instead when the
// environment variable GATEHOUSE_REQUIRE_SERVICES is set — as .ci/run sets it.
package testenv

import (
	"bytes"
	"net"
	"os"
	"sync"
	"testing"
)

// RequireServicesEnv is the environment variable that turns skips into failures.
const RequireServicesEnv = "GATEHOUSE_REQUIRE_SERVICES"

// Required reports whether missing services must fail tests rather than skip them.
func Required() bool {
	v := os.Getenv(RequireServicesEnv)
	return v != "" && v != "0" && v != "false"
}

// Unavailable stops the test because service is missing: a skip normally, a failure
// when GATEHOUSE_REQUIRE_SERVICES is set. why says what was tried.
func Unavailable(t testing.TB, service, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is required (%s is set) but unavailable: %s", service, RequireServicesEnv, why)
	}
	t.Skipf("skipping: %s is unavailable (%s); set it up or run .ci/run, which installs it", service, why)
}

// FreeAddr returns a loopback address with a port that was free a moment ago, for a
// server the test starts in another process.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// SyncBuffer collects output that a test reads while something else still writes
// it (a server's logs, a process's output).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
