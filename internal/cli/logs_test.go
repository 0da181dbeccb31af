package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader in two goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// What the users and tokens commands change is in the log, by the command line;
// logs tail prints it one event a line, filtered, as JSON, and following.
func TestLogsTail(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "g.db")
	for _, args := range [][]string{
		{"users", "--database", db, "create", "erin@example.com", "--phone", "(201) 555-0142", "--password-stdin"},
		{"users", "--database", db, "disable", "erin@example.com"},
		{"tokens", "--database", db, "create", "--name", "reports"},
	} {
		if r := run(t, "s3cret-password\n", args...); r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	r := run(t, "", "logs", "--database", db, "tail")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var types []string
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 5 || !strings.Contains(l, " actor=gatehouse-cli ") {
			t.Errorf("line %q", l)
			continue
		}
		types = append(types, f[2]+" "+f[3])
	}
	want := []string{"user.lifecycle.create SUCCESS", "user.mfa.factor.activate SUCCESS", "user.lifecycle.deactivate SUCCESS", "system.api_token.create SUCCESS"}
	if r.code != 0 || strings.Join(types, "|") != strings.Join(want, "|") {
		t.Fatalf("logs tail: %+v\ntypes %v, want %v", r, types, want)
	}
	if strings.Contains(r.stdout, "5550142") || strings.Contains(r.stdout, "s3cret") {
		t.Errorf("a phone number or password in the log: %s", r.stdout)
	}

	r = run(t, "", "logs", "--database", db, "tail", "--filter", `eventType eq "user.lifecycle.deactivate"`, "--json")
	var e store.LogEvent
	if r.code != 0 || strings.Count(r.stdout, "\n") != 1 || json.Unmarshal([]byte(r.stdout), &e) != nil ||
		e.EventType != "user.lifecycle.deactivate" || e.Actor.ID != "gatehouse-cli" || len(e.Target) != 1 {
		t.Errorf("tail --filter --json: %+v (%+v)", r, e)
	}
	for _, bad := range [][]string{
		{"logs", "--database", db, "tail", "--filter", `eventType eq "x" or 1=1`},
		{"logs", "--database", db, "tail", "--since", "last week"},
	} {
		if r := run(t, "", bad...); r.code != 1 || r.stdout != "" || r.stderr == "" {
			t.Errorf("%v: %+v", bad, r)
		}
	}
	if r := run(t, "", "logs", "--database", db); r.code != 2 {
		t.Errorf("logs without tail: %+v", r)
	}

	// --follow prints what is recorded afterwards, once, and stops when told.
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int)
	go func() {
		done <- Run(ctx, []string{"logs", "tail", "--database", db, "--follow", "--poll", "20ms"}, strings.NewReader(""), &out, &errb)
	}()
	st := openTestStore(t, db)
	evil := store.LogEvent{UUID: "5b4c1f9e-0000-4000-8000-000000000001", Published: time.Now().UTC(), EventType: "user.session.start",
		Version: "0", Severity: "WARN", Outcome: store.LogOutcome{Result: "FAILURE", Reason: "INVALID_CREDENTIALS"},
		Actor: store.LogActor{ID: "unknown", Type: "User", AlternateID: "evil\x1b[2J\nuser.session.start SUCCESS"}}
	if err := st.AppendEvents(t.Context(), []store.LogEvent{evil}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "user.session.start") {
		if time.Now().After(deadline) {
			t.Fatalf("--follow did not print the new event: %q %q", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("--follow ended with %d: %s", code, errb.String())
	}
	got := out.String()
	if strings.Count(got, "\n") != len(want)+1 || strings.Count(got, "user.session.start") != 2 || strings.Contains(got, "\x1b") {
		t.Errorf("--follow printed:\n%s", got)
	}
	if !strings.Contains(got, `actor="evil\x1b[2J\nuser.session.start SUCCESS(unknown)"`) {
		t.Errorf("the typed login is not quoted on its line: %q", got)
	}
}
