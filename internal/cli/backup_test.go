package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// goroutineTB lets a goroutine other than the test's use the enginetest helpers: a
// fatal failure is recorded as an error of the test and ends that goroutine only.
type goroutineTB struct{ testing.TB }

func (g goroutineTB) Fatal(args ...any) {
	g.TB.Helper()
	g.TB.Error(args...)
	runtime.Goexit()
}

func (g goroutineTB) Fatalf(format string, args ...any) {
	g.TB.Helper()
	g.TB.Errorf(format, args...)
	runtime.Goexit()
}

// signInTraffic signs users in over HTTP from several goroutines, each sign-in as a
// user of its own from an address of its own (so no per-user or per-address limit
// is reached), until stop is called. Every sign-in must succeed.
type signInTraffic struct {
	done    atomic.Int64
	stopped chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	// refresh is a refresh token of a sign-in that finished, by when it finished.
	refresh []string
}

func startTraffic(t *testing.T, h *enginetest.Harness, workers, perWorker int) *signInTraffic {
	t.Helper()
	type account struct{ login, phone string }
	accounts := make([][]account, workers)
	for w := range workers {
		for i := range perWorker {
			n := w*perWorker + i
			a := account{fmt.Sprintf("traffic%03d@example.com", n), fmt.Sprintf("+1201555%04d", 1000+n)}
			h.CreateUser(t, a.login, a.phone)
			accounts[w] = append(accounts[w], a)
		}
	}
	tr := &signInTraffic{stopped: make(chan struct{})}
	for w := range workers {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			gt := goroutineTB{t}
			for i, a := range accounts[w] {
				select {
				case <-tr.stopped:
					return
				default:
				}
				f := h.InteractAs(gt, fmt.Sprintf("198.51.100.%d", w*perWorker+i), nil)
				enginetest.Expect(gt, "identify", http.StatusOK)(f.Identify(a.login, enginetest.Password))
				enginetest.Expect(gt, "select phone", http.StatusOK)(f.ChoosePhone())
				enginetest.Expect(gt, "choose sms", http.StatusOK)(f.ChooseMethod("sms"))
				enginetest.Expect(gt, "answer", http.StatusOK)(f.Answer(h.LatestCode(gt, a.phone)))
				status, tokens := f.Redeem()
				if status != http.StatusOK {
					gt.Fatalf("token: %d %v", status, tokens)
				}
				tr.mu.Lock()
				tr.refresh = append(tr.refresh, tokens["refresh_token"].(string))
				tr.mu.Unlock()
				tr.done.Add(1)
			}
			t.Errorf("traffic worker %d ran out of its %d users before the test stopped it", w, perWorker)
		}()
	}
	return tr
}

// waitFor waits until n sign-ins in all have finished, or fails the test.
func (tr *signInTraffic) waitFor(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for tr.done.Load() < n {
		if time.Now().After(deadline) || t.Failed() {
			t.Fatalf("only %d of %d sign-ins finished", tr.done.Load(), n)
		}
		runtime.Gosched()
		time.Sleep(5 * time.Millisecond) // polling the counter, not standing in for it
	}
}

func (tr *signInTraffic) stop() {
	close(tr.stopped)
	tr.wg.Wait()
}

func (tr *signInTraffic) lastRefreshToken() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.refresh[len(tr.refresh)-1]
}

// verifiesWith checks that the JWT token was signed by a key of set.
func verifiesWith(t *testing.T, token any, set jose.JSONWebKeySet) {
	t.Helper()
	jws, err := jose.ParseSigned(token.(string), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) == 0 {
		t.Fatalf("no key %s in the JWKS %v", kid, set.Keys)
	}
	if _, err := jws.Verify(keys[0].Key); err != nil {
		t.Errorf("token signed by %s does not verify with the published key: %v", kid, err)
	}
}

func refreshAt(t *testing.T, h *enginetest.Harness, rt string) (int, map[string]any) {
	t.Helper()
	return h.PostForm(t, h.Issuer+"/v1/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {enginetest.ClientID}, "refresh_token": {rt}})
}

func noRequestLimits(o enginetest.Options) enginetest.Options {
	o.Configure = func(c *config.Config) { enginetest.NoRequestLimits(c) }
	return o
}

// checkRestored signs quiet@, created before the backup, in on the restored engine:
// the same signing key signs (a token of the old engine verifies against the new
// JWKS, a new token carries the old kid), a refresh token issued before the backup
// still works, one issued after it and a user created after it are gone.
func checkRestored(t *testing.T, old, restored *enginetest.Harness, before map[string]any, afterRefresh, afterLogin string) {
	t.Helper()
	set := *restored.JWKS(t)
	verifiesWith(t, before["id_token"], set)
	verifiesWith(t, before["access_token"], set)
	// A user who has not signed in yet: early@'s number is still inside its send
	// interval, a throttle the restore brought back with the rest.
	tokens := restored.SignIn(t, "quiet@example.com", "+12015550101", "sms")
	if got, want := kidOf(t, tokens["id_token"]), kidOf(t, before["id_token"]); got != want {
		t.Errorf("the restored engine signs with %s, the original signed with %s", got, want)
	}
	verifiesWith(t, tokens["id_token"], *old.JWKS(t))
	if status, body := refreshAt(t, restored, before["refresh_token"].(string)); status != http.StatusOK {
		t.Errorf("a refresh token issued before the backup, on the restored engine: %d %v", status, body)
	}
	if status, body := refreshAt(t, restored, afterRefresh); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Errorf("a refresh token issued after the backup, on the restored engine: %d %v (want 400 invalid_grant)", status, body)
	}
	if _, err := restored.Store.GetUserByLogin(t.Context(), afterLogin); err != store.ErrNotFound {
		t.Errorf("a user created after the backup, in the restored database: %v (want not found)", err)
	}
}

// A SQLite engine is backed up through the CLI while users sign in over HTTP; the
// copy is restored into a new folder and an engine started on it signs a user in
// with the same keys.
func TestBackupUnderTrafficAndRestore(t *testing.T) {
	dir := t.TempDir()
	h := enginetest.Start(t, noRequestLimits(enginetest.Options{DataDir: dir}))
	h.CreateUser(t, "early@example.com", "+12015550100")
	before := h.SignIn(t, "early@example.com", "+12015550100", "sms")
	h.CreateUser(t, "quiet@example.com", "+12015550101")
	// An authenticator app: its enrollment and its sealed secret travel with the
	// database and the KEK.
	quietSecret, _ := addTOTP(t, h, "quiet@example.com")
	kek, err := os.ReadFile(filepath.Join(dir, "gatehouse.db.kek"))
	if err != nil {
		t.Fatal(err)
	}

	traffic := startTraffic(t, h, 3, 40)
	traffic.waitFor(t, 3)
	backups := t.TempDir()
	file := filepath.Join(backups, "nightly", "gatehouse.db")
	r := run(t, "", "backup", "--database", h.Config.Database, "--to", file)
	if r.code != 0 || !strings.Contains(r.stdout, "backed up") || !strings.Contains(r.stdout, file+".kek") {
		t.Fatalf("backup under traffic: %+v", r)
	}
	atBackup := traffic.done.Load()
	traffic.waitFor(t, atBackup+3)
	traffic.stop()
	afterRefresh := traffic.lastRefreshToken()
	h.CreateUser(t, "late@example.com", "+12015550199")
	t.Logf("%d sign-ins, %d of them before the backup finished", traffic.done.Load(), atBackup)

	for _, name := range []string{file, file + ".kek"} {
		if info, err := os.Stat(name); err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", name, info, err)
		}
	}
	if copied, _ := os.ReadFile(file + ".kek"); !bytes.Equal(copied, kek) {
		t.Errorf("the backup's KEK differs from the engine's")
	}
	if entries, _ := os.ReadDir(filepath.Dir(file)); len(entries) != 2 {
		t.Errorf("the backup folder holds %v, want the backup and its .kek only", entries)
	}
	if r := run(t, "", "backup", "--database", h.Config.Database, "--to", file); r.code != 1 || !strings.Contains(r.stderr, "exists") || !strings.Contains(r.stderr, "--force") {
		t.Errorf("backup onto an existing file: %+v", r)
	}
	// The restore refuses to replace a database an engine has open.
	if r := run(t, "", "restore", "--from", file, "--to", filepath.Join(dir, "gatehouse.db")); r.code != 1 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("restore over an existing database: %+v", r)
	}
	if r := run(t, "", "restore", "--from", file, "--to", filepath.Join(dir, "gatehouse.db"), "--force"); r.code != 1 || !strings.Contains(r.stderr, "in use") {
		t.Errorf("restore over a database in use: %+v", r)
	}

	restoredDir := filepath.Join(t.TempDir(), "restored")
	r = run(t, "", "restore", "--from", file, "--to", "sqlite:"+filepath.Join(restoredDir, "gatehouse.db"))
	if r.code != 0 || !strings.Contains(r.stdout, "restored the key-encryption key") {
		t.Fatalf("restore: %+v", r)
	}
	restored := enginetest.Start(t, enginetest.Options{DataDir: restoredDir})
	checkRestored(t, h, restored, before, afterRefresh, "late@example.com")
	if !totpWorks(t, restored.Store, restored.Config, "quiet@example.com", quietSecret) {
		t.Error("the authenticator app enrolled before the backup does not work on the restored engine")
	}
}

// restore --force replaces a stopped engine's database, and a write-ahead log an
// old database left behind is not applied to the restored one.
func TestRestoreReplacesAStoppedDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "g.db")
	if r := run(t, "password-one\n", "users", "--database", db, "create", "kept@example.com", "--password-stdin"); r.code != 0 {
		t.Fatal(r)
	}
	file := filepath.Join(dir, "copy.db")
	if r := run(t, "", "backup", "--database", "sqlite:"+db, "--to", file); r.code != 0 || !strings.Contains(r.stdout, "no key-encryption key file") {
		t.Fatalf("backup without a KEK file: %+v", r)
	}
	if r := run(t, "password-two\n", "users", "--database", db, "create", "lost@example.com", "--password-stdin"); r.code != 0 {
		t.Fatal(r)
	}
	// A stale write-ahead log, as a crashed engine leaves it.
	st := openTestStore(t, "sqlite:"+db)
	if err := st.CreateUser(t.Context(), store.User{ID: opaque.ID("00u"), Login: "wal@example.com", CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(db + "-wal")
	if err != nil || len(wal) == 0 {
		t.Fatalf("no write-ahead log to leave behind: %v", err)
	}
	st.Close()
	if err := os.WriteFile(db+"-wal", wal, 0o600); err != nil {
		t.Fatal(err)
	}

	if r := run(t, "", "restore", "--from", file, "--to", db, "--force"); r.code != 0 || !strings.Contains(r.stdout, "there is no") {
		t.Fatalf("restore --force: %+v", r)
	}
	r := run(t, "", "users", "--database", db, "list")
	if r.code != 0 || !strings.Contains(r.stdout, "kept@example.com") || strings.Contains(r.stdout, "lost@example.com") || strings.Contains(r.stdout, "wal@example.com") {
		t.Errorf("users after the restore: %+v", r)
	}
	// The operator deleted a broken database file but not its write-ahead log.
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db+"-wal", wal, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "", "restore", "--from", file, "--to", db); r.code != 0 {
		t.Fatalf("restore into a deleted database: %+v", r)
	}
	r = run(t, "", "users", "--database", db, "list")
	if r.code != 0 || !strings.Contains(r.stdout, "kept@example.com") || strings.Contains(r.stdout, "wal@example.com") {
		t.Errorf("users after restoring beside an old write-ahead log: %+v", r)
	}
	if r := run(t, "", "restore", "--from", filepath.Join(dir, "none.db"), "--to", filepath.Join(dir, "x.db")); r.code != 1 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("restore from a missing file: %+v", r)
	}
	if r := run(t, "", "backup", "--database", filepath.Join(dir, "none.db"), "--to", filepath.Join(dir, "y.db")); r.code != 1 || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("backup of a missing database: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Error("backup created the missing database")
	}
	notGatehouse := filepath.Join(dir, "other.db")
	if err := os.WriteFile(notGatehouse, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "", "backup", "--database", notGatehouse, "--to", filepath.Join(dir, "z.db")); r.code != 1 || !strings.Contains(r.stderr, "not a Gatehouse database") {
		t.Errorf("backup of another SQLite database: %+v", r)
	}
}

// On PostgreSQL the command prints the pg_dump command and fails; the printed
// command, run as it is under sign-in traffic, makes a dump that pg_restore puts
// into another database where an engine signs the same users in with the same keys.
func TestPostgresBackupWithPgDump(t *testing.T) {
	dsn := enginetest.PostgresSchema(t)
	for _, tool := range []string{"pg_dump", "pg_restore", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Unavailable(t, tool+" (Debian package postgresql-client)", err.Error())
		}
	}
	h := enginetest.Start(t, noRequestLimits(enginetest.Options{Database: dsn}))
	h.CreateUser(t, "early@example.com", "+12015550100")
	before := h.SignIn(t, "early@example.com", "+12015550100", "sms")
	h.CreateUser(t, "quiet@example.com", "+12015550101")

	dump := filepath.Join(t.TempDir(), "gatehouse.dump")
	r := run(t, "", "backup", "--database", dsn, "--to", dump)
	if r.code != 1 || !strings.Contains(r.stderr, "pg_dump") {
		t.Fatalf("backup of PostgreSQL: %+v", r)
	}
	var command string
	for line := range strings.Lines(r.stderr) {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "pg_dump ") {
			command = l
		}
	}
	if command == "" || !strings.Contains(command, "--schema=") {
		t.Fatalf("no pg_dump command with the schema in %q", r.stderr)
	}

	traffic := startTraffic(t, h, 3, 40)
	traffic.waitFor(t, 3)
	if out, err := exec.Command("sh", "-c", command).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}
	atBackup := traffic.done.Load()
	traffic.waitFor(t, atBackup+3)
	traffic.stop()
	afterRefresh := traffic.lastRefreshToken()
	h.CreateUser(t, "late@example.com", "+12015550199")

	// Restore into a database of its own.
	u, _ := url.Parse(dsn)
	schema := u.Query().Get("search_path")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	dbname := "gh_restore_" + strings.ToLower(opaque.ID(""))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+dbname); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+dbname+" WITH (FORCE)")
			_ = c.Close(context.Background())
		}
	})
	target := *u
	target.Path = "/" + dbname
	q := target.Query()
	q.Del("search_path")
	target.RawQuery = q.Encode()
	if out, err := exec.Command("pg_restore", "--no-owner", "--exit-on-error", "--dbname="+target.String(), dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	q.Set("search_path", schema)
	target.RawQuery = q.Encode()

	// The same key-encryption key: enginetest gives every PostgreSQL engine the
	// tests' shared one, as the nodes of a deployment share theirs.
	restored := enginetest.Start(t, enginetest.Options{Database: target.String()})
	checkRestored(t, h, restored, before, afterRefresh, "late@example.com")
}
