//go:build unix

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/messaging/providertest"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
	"github.com/gatehouse-id/gatehouse/idx"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// TestOutboxSurvivesKill9 kills the engine with SIGKILL while it is handing a code to
// the SMS gateway, starts it again on the same database, and checks that the code
// is delivered — once, under the same idempotency key — and that the sign-in the
// code belongs to still completes.
func TestOutboxSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the kill -9 test in -short mode (it builds and runs the binary)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir, bin, db := buildWithAlice(t, ctx, "crash-test-password")

	const secret = "crash-test-webhook-secret"
	gateway := providertest.NewGateway(t, secret)
	gateway.HangNext(1) // the first delivery never gets an answer: the node dies first
	addr := testenv.FreeAddr(t)
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	writeFile(t, cfgPath, fmt.Sprintf(`issuer: http://%s/oauth2/default
listen: %s
database: sqlite:%s
log_level: info
clients:
  - id: crash-app
    redirect_uris: [http://127.0.0.1:3000/login/callback]
messaging:
  provider: webhook
  webhook:
    url: %s
    secret: %s
    timeout: 2s
`, addr, addr, db, gateway.URL, secret))

	var logs bytes.Buffer
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--config", cfgPath)
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		waitFor(t, "the engine to be ready", func() bool {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
			}
			return err == nil && resp.StatusCode == 200
		})
		return cmd
	}
	defer func() {
		if t.Failed() {
			t.Logf("engine logs:\n%s", logs.String())
		}
	}()

	node := start()
	client, err := idx.NewClient(idx.Config{Issuer: "http://" + addr + "/oauth2/default", ClientID: "crash-app", RedirectURI: "http://127.0.0.1:3000/login/callback"})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := client.Authenticate(ctx, nil, idx.Options{Username: "alice@example.com", Password: "crash-test-password", Authenticator: "phone_number", MethodType: "sms"})
	if err != nil || tx.Status != idx.StatusPending || tx.NextStep.Name != "challenge-authenticator" {
		t.Fatalf("to the code step: %+v %v", tx, err)
	}
	state := tx.State
	waitFor(t, "the gateway to receive the first attempt", func() bool { return gateway.RequestCount() == 1 })

	if err := node.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = node.Wait()
	start() // same database; the claim of the dead node runs out and the message goes again
	waitFor(t, "the gateway to receive the second attempt", func() bool { return gateway.RequestCount() >= 2 })

	reqs := gateway.Requests()
	if len(reqs) != 2 {
		t.Fatalf("the gateway got %d requests, want 2", len(reqs))
	}
	key := reqs[0].Header.Get("Idempotency-Key")
	if key == "" || reqs[1].Header.Get("Idempotency-Key") != key {
		t.Errorf("idempotency keys %q and %q: a gateway could not drop the repeat", key, reqs[1].Header.Get("Idempotency-Key"))
	}
	var first, second struct{ Code, To string }
	_ = json.Unmarshal(reqs[0].Body, &first)
	_ = json.Unmarshal(reqs[1].Body, &second)
	if first.Code == "" || first.Code != second.Code || second.To != "+12015550123" {
		t.Fatalf("the two attempts carry %+v and %+v", first, second)
	}

	// The sign-in survived the crash too: the code finishes it.
	tx, err = client.Authenticate(ctx, state, idx.Options{VerificationCode: second.Code})
	if err != nil || tx.Status != idx.StatusSuccess {
		t.Fatalf("answer after the restart: %+v %v", tx, err)
	}
	// No third attempt, and the outbox records one delivery.
	time.Sleep(1500 * time.Millisecond) // longer than the worker's poll interval
	if n := gateway.RequestCount(); n != 2 {
		t.Errorf("the gateway got %d requests in the end, want 2", n)
	}
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	msgs, err := st.ListMessages(ctx, store.MessageFilter{To: "+12015550123"})
	if err != nil || len(msgs) != 1 || msgs[0].Status != store.MessageSent || msgs[0].Attempts != 2 || msgs[0].ID != key {
		t.Errorf("outbox after the crash: %+v %v", msgs, err)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// buildWithAlice builds the gatehouse binary into a temporary folder and creates
// alice (phone +12015550123, the given password) in a SQLite database there, with
// the binary itself: what the tests that run a real `serve` process start from.
func buildWithAlice(t *testing.T, ctx context.Context, password string) (dir, bin, db string) {
	t.Helper()
	dir = t.TempDir()
	bin = filepath.Join(dir, "gatehouse")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/gatehouse").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	db = filepath.Join(dir, "gatehouse.db")
	create := exec.CommandContext(ctx, bin, "users", "--database", "sqlite:"+db, "create", "alice@example.com", "--phone", "+12015550123", "--password-stdin")
	create.Stdin = strings.NewReader(password + "\n")
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("users create: %v\n%s", err, out)
	}
	return dir, bin, db
}
