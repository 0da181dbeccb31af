package providertest

import (
	"net"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/engine/messaging"
)

// What every sender's errors must be, whatever the provider: the worker decides
// whether to retry by messaging.IsPermanent alone, and logs the text, so the text
// must say what went wrong without giving a secret away.

// CheckTransient checks err, from a Send that failed for a reason that may pass
// (a 5xx, a timeout, no connection), is one the worker retries, says want, and
// holds none of secrets.
func CheckTransient(t testing.TB, err error, want string, secrets ...string) {
	t.Helper()
	checkSendError(t, err, false, want, secrets)
}

// CheckRefused checks err, from a Send the provider refused, is permanent, so
// that the worker does not send the same refused request again, says want, and
// holds none of secrets.
func CheckRefused(t testing.TB, err error, want string, secrets ...string) {
	t.Helper()
	checkSendError(t, err, true, want, secrets)
}

func checkSendError(t testing.TB, err error, wantPermanent bool, want string, secrets []string) {
	t.Helper()
	if err == nil {
		t.Fatal("Send succeeded")
	}
	t.Logf("error: %v", err)
	permanent := messaging.IsPermanent(err)
	if permanent && !wantPermanent {
		t.Errorf("error %q is permanent; want it retried", err)
	}
	if !permanent && wantPermanent {
		t.Errorf("error %q is not permanent; a refused message must not be retried", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	CheckNoSecrets(t, err, secrets...)
}

// CheckNoSecrets fails if err's text holds any of secrets.
func CheckNoSecrets(t testing.TB, err error, secrets ...string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q holds a secret (%s)", err, secret)
		}
	}
}

// CheckScrubbed checks err, from a Send the provider answered with text holding
// secrets, shows want (the text with each secret replaced by a marker) and none of
// secrets, and is cut short: a provider's text goes into the logs with it.
func CheckScrubbed(t testing.TB, err error, want string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("Send succeeded")
	}
	CheckNoSecrets(t, err, secrets...)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not show where the secrets were (%q)", err, want)
	}
	if len(err.Error()) > 300 {
		t.Errorf("error is %d bytes long; provider text must be cut short", len(err.Error()))
	}
}

// ClosedAddr returns a local host:port that nothing listens on: one taken, then
// given back. A sender pointed at it meets a refused connection.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
