package idxserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine"
	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/keyseal"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// Fuzz targets for the IDX endpoints, driven in-process through the engine's
// http.Handler (middleware included) over SQLite. Run one with
//
//	go test -run '^$' -fuzz '^FuzzIDXRequest$' -fuzztime 1m ./engine/idxserver/
//
// or all targets of the repository with .ci/fuzz (docs/operations.md, "Fuzzing").

// fzIDXPaths are the IDX endpoints a fuzz input picks from.
var fzIDXPaths = []string{
	"/idp/idx/introspect", "/idp/idx/identify", "/idp/idx/challenge", "/idp/idx/challenge/answer",
	"/idp/idx/challenge/resend", "/idp/idx/credential/enroll", "/idp/idx/cancel",
	"/idp/idx/recover", "/idp/idx/enroll", "/idp/idx/enroll/new", "/idp/idx/identify/select",
}

// fzSteps are the states a fuzz input's transaction is put in before its request.
var fzSteps = []store.Step{
	store.StepIdentify, store.StepSelectAuthenticator, store.StepVerifyData, store.StepChallenge,
	store.StepSelectEnroll, store.StepEnrollData, store.StepEnrollChallenge, store.StepSuccess,
	store.StepIdentifyRecovery, store.StepResetPassword, store.StepEnrollProfile,
}

const (
	fzAlice      = "alice@example.com" // has a phone: verifies it
	fzAlicePhone = "+12015550123"
	fzBob        = "bob@example.com" // has none: enrolls one
	fzBobPhone   = "+12015550188"    // the number bob is enrolling at ENROLL_CHALLENGE
	fzCode       = "246810"          // the right code of every challenge the harness opens
	fzJSON       = "application/json; okta-version=1.0.0"
)

// Placeholders a fuzz body may hold, replaced per execution by the values of the
// transaction the harness opened for it.
const (
	fzPhStateHandle       = "@SH"
	fzPhInteractionHandle = "@IH"
	fzPhAuthenticator     = "@AUT"
	fzPhEnrollment        = "@ENR"
)

// fzClock is the engine's clock: it stands still within one request and jumps a
// day ahead before the next, so no throttle, lockout or send limit of one request
// is still running at the next (the longest window is a day). Every request thus
// starts from the same state, which makes a failing input reproducible.
type fzClock struct{ ns atomic.Int64 }

func (c *fzClock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

func (c *fzClock) next() time.Time {
	return time.Unix(0, c.ns.Add(int64(25*time.Hour)))
}

// fzHorizon is how far the clock may run before the harness starts over: far
// enough for 90 000 requests, near enough that the distance fits a time.Duration.
const fzHorizon = 90_000 * 25 * time.Hour

// fzLive is a transaction the harness opened, reused until a request changes it.
type fzLive struct {
	stateHandle, interactionHandle string
	id, challengeID                string
	revision                       int64
}

// fzDataDir is a fresh folder for the database, in memory when /dev/shm exists.
func fzDataDir(f testing.TB) string {
	dir, err := os.MkdirTemp("/dev/shm", "gatehouse-fuzz-")
	if err != nil {
		return f.TempDir()
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// fzIDX is an engine with two users, and what the harness needs to open
// transactions at any step directly in its store.
type fzIDX struct {
	handler    http.Handler
	store      store.Store
	clock      *fzClock
	otpKey     []byte
	alice, bob store.User
	enrollment string // alice's phone enrollment id
	authID     string // the phone authenticator's id
	pkce       enginetest.PKCE
	start      time.Time
	requests   int64
	live       map[store.Step]*fzLive
}

func fzStartIDX(f testing.TB) *fzIDX {
	f.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := fzDataDir(f)
	cfg := enginetest.Config("http://gatehouse.test", dir)
	cfg.SignOn.SelfRegistration = true
	if err := cfg.Validate(); err != nil {
		f.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		f.Fatal(err)
	}
	e := &fzIDX{store: st, clock: &fzClock{}, pkce: enginetest.NewPKCE(), start: time.Now().Truncate(time.Millisecond), live: map[store.Step]*fzLive{}}
	e.clock.ns.Store(e.start.UnixNano())
	cheap := password.CheapParams
	eng, err := engine.New(ctx, cfg, engine.Deps{Store: st, Now: e.clock.Now, DevOut: io.Discard,
		Log: slog.New(slog.DiscardHandler), HashParams: &cheap})
	if err != nil {
		f.Fatal(err)
	}
	e.handler = eng.Handler()
	// The engine's background work (delivering codes, collecting garbage) is not
	// started: codes stay queued, and tick collects the garbage.
	f.Cleanup(func() { cancel(); st.Close() })

	// The engine keeps the one-time-code key sealed under the KEK next to the
	// database.
	sealer, err := keyseal.FromConfig(cfg.Keys, cfg.Database)
	if err != nil {
		f.Fatal(err)
	}
	if e.otpKey, err = sealer.Secret(ctx, st, "otp-hmac-key", make([]byte, 32)); err != nil {
		f.Fatal(err)
	}
	now := e.clock.Now()
	for _, u := range []*store.User{&e.alice, &e.bob} {
		login := fzAlice
		if u == &e.bob {
			login = fzBob
		}
		*u = store.User{ID: opaque.ID("00u"), Login: login, Email: login, GivenName: "Fuzz", FamilyName: "User", CreatedAt: now, UpdatedAt: now}
		hash, err := eng.Hasher().Hash(ctx, enginetest.Password)
		if err != nil {
			f.Fatal(err)
		}
		if err := st.CreateUser(ctx, *u); err != nil {
			f.Fatal(err)
		}
		if err := st.SetPassword(ctx, store.PasswordCredential{UserID: u.ID, Hash: hash, UpdatedAt: now}); err != nil {
			f.Fatal(err)
		}
	}
	e.enrollment = opaque.ID("sms")
	if err := st.CreatePhoneEnrollment(ctx, store.PhoneEnrollment{ID: e.enrollment, UserID: e.alice.ID, Number: fzAlicePhone, SMS: true, Voice: true, CreatedAt: now}); err != nil {
		f.Fatal(err)
	}
	e.selfCheck(f)
	return e
}

// selfCheck makes sure that the transactions the harness writes are the ones the
// engine would have written: every step renders, the derived state handle is the
// engine's, and the right code finishes a challenge. Otherwise the fuzzer would
// only ever see "session expired".
func (e *fzIDX) selfCheck(f testing.TB) {
	f.Helper()
	wantFirst := map[store.Step]string{
		store.StepIdentify: "identify", store.StepSelectAuthenticator: "select-authenticator-authenticate",
		store.StepVerifyData: "authenticator-verification-data", store.StepChallenge: "challenge-authenticator",
		store.StepSelectEnroll: "select-authenticator-enroll", store.StepEnrollData: "authenticator-enrollment-data",
		store.StepEnrollChallenge: "enroll-authenticator", store.StepIdentifyRecovery: "identify-recovery",
		store.StepResetPassword: "reset-authenticator", store.StepEnrollProfile: "enroll-profile",
	}
	for _, step := range fzSteps {
		e.clock.next()
		l := e.openTransaction(f, step)
		sh := l.stateHandle
		status, _, raw := fzPost(e.handler, "/idp/idx/introspect", fzJSON, `{"interactionHandle":"`+l.interactionHandle+`"}`, 1)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		if status != http.StatusOK || body["stateHandle"] != sh {
			f.Fatalf("introspect at %s: %d %s (want stateHandle %s)", step, status, raw, sh)
		}
		if names := fzRemediationNames(body); step != store.StepSuccess && (len(names) == 0 || names[0] != wantFirst[step]) {
			f.Fatalf("introspect at %s offers %v", step, names)
		}
		if step == store.StepSelectAuthenticator {
			e.authID = fzPhoneAuthenticatorID(body)
		}
	}
	if e.authID == "" {
		f.Fatal("no phone authenticator id in select-authenticator-authenticate")
	}
	for _, step := range []store.Step{store.StepChallenge, store.StepEnrollChallenge} {
		e.clock.next()
		sh := e.openTransaction(f, step).stateHandle
		status, _, raw := fzPost(e.handler, "/idp/idx/challenge/answer", fzJSON, `{"stateHandle":"`+sh+`","credentials":{"passcode":"`+fzCode+`"}}`, 1)
		if status != http.StatusOK || !strings.Contains(string(raw), `"successWithInteractionCode"`) {
			f.Fatalf("the right code at %s: %d %s", step, status, raw)
		}
	}
	e.forgetBobsPhones(f)
}

// openTransaction stores a transaction at step, as the engine leaves it there
// (except that it and its code expire only past the horizon, so it can be reused
// while the clock jumps).
func (e *fzIDX) openTransaction(t testing.TB, step store.Step) *fzLive {
	ctx := context.Background()
	now := e.clock.Now()
	expires := e.start.Add(fzHorizon + time.Hour)
	interactionHandle := opaque.New(32)
	// The engine derives the state handle so (selfCheck proves it still does).
	stateHandle := "02" + opaque.Derive(interactionHandle, "state_handle")
	tx := store.Transaction{
		ID: opaque.ID("ftx"), InteractionHandleHash: opaque.Hash(interactionHandle), StateHandleHash: opaque.Hash(stateHandle),
		ClientID: enginetest.ClientID, RedirectURI: enginetest.RedirectURI,
		Scopes:        []string{"openid", "profile", "email", "phone", "offline_access"},
		CodeChallenge: e.pkce.Challenge, State: "st-123", Nonce: "n-456", Step: step,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: expires,
	}
	user, number := e.alice, fzAlicePhone
	switch step {
	case store.StepSelectEnroll, store.StepEnrollData, store.StepEnrollChallenge:
		user, number = e.bob, fzBobPhone
	}
	switch step {
	case store.StepIdentify, store.StepEnrollProfile, store.StepIdentifyRecovery:
	default:
		tx.UserID, tx.AuthTime, tx.AMR = user.ID, now, []string{"pwd"}
	}
	switch step {
	case store.StepIdentifyRecovery:
		tx.Flow = store.FlowRecovery
	case store.StepResetPassword:
		tx.Flow, tx.Authenticator, tx.AMR = store.FlowRecovery, "okta_password", []string{"pwd", "sms", "mfa"}
		tx.Pending = map[string]string{"login": fzAlice}
	case store.StepEnrollProfile:
		tx.Flow = store.FlowRegistration
	}
	var ch *store.Challenge
	switch step {
	case store.StepVerifyData:
		tx.EnrollmentID = e.enrollment
	case store.StepChallenge, store.StepEnrollChallenge:
		if step == store.StepChallenge {
			tx.EnrollmentID = e.enrollment
		} else {
			tx.PendingPhone = number
		}
		id := opaque.New(16)
		ch = &store.Challenge{ID: id, TransactionID: tx.ID, UserID: user.ID, Phone: number, Method: phone.SMS,
			CodeMAC: phone.CodeMAC(e.otpKey, id, fzCode), CreatedAt: now, ExpiresAt: expires}
		tx.Method, tx.ChallengeID, tx.LastSentAt = phone.SMS, id, now
	case store.StepSuccess:
		tx.AMR, tx.EnrollmentID, tx.Method = []string{"pwd", "sms", "mfa"}, e.enrollment, phone.SMS
		tx.InteractionCodeHash = opaque.Hash(opaque.New(32))
	}
	if err := e.store.CreateTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	live := &fzLive{stateHandle: stateHandle, interactionHandle: interactionHandle, id: tx.ID}
	if ch != nil {
		if err := e.store.CreateChallenge(ctx, *ch, nil); err != nil {
			t.Fatal(err)
		}
		live.challengeID = ch.ID
	}
	stored, err := e.store.GetTransaction(ctx, tx.ID)
	if err != nil {
		t.Fatal(err)
	}
	live.revision = stored.Revision
	return live
}

// transaction returns the live transaction at step, opening one if there is none.
func (e *fzIDX) transaction(t testing.TB, step store.Step) *fzLive {
	if l := e.live[step]; l != nil {
		return l
	}
	l := e.openTransaction(t, step)
	e.live[step] = l
	return l
}

// settle forgets the transaction at step if the last request changed it or its
// code, so the next request at step gets a fresh one.
func (e *fzIDX) settle(t testing.TB, step store.Step) {
	l := e.live[step]
	ctx := context.Background()
	tx, err := e.store.GetTransaction(ctx, l.id)
	if err != nil || tx.Revision != l.revision {
		delete(e.live, step)
		return
	}
	if l.challengeID != "" {
		ch, err := e.store.GetChallenge(ctx, l.challengeID)
		if err != nil || ch.Invalidated || !ch.ConsumedAt.IsZero() {
			delete(e.live, step)
		}
	}
}

// tick moves the clock on before a request, collects expired records now and
// then, and starts over (empty store but for users, keys and secrets; clock back
// at the start) when the clock reaches the horizon.
func (e *fzIDX) tick(t testing.TB) int64 {
	e.requests++
	now := e.clock.next()
	ctx := context.Background()
	if now.After(e.start.Add(fzHorizon)) {
		if _, err := e.store.GarbageCollect(ctx, e.start.Add(fzHorizon).Add(fzHorizon)); err != nil {
			t.Fatal(err)
		}
		e.clock.ns.Store(e.start.UnixNano())
		clear(e.live)
	} else if e.requests%2048 == 0 {
		if _, err := e.store.GarbageCollect(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	return e.requests
}

// forgetBobsPhones undoes a finished enrollment, so bob enrolls again next time.
func (e *fzIDX) forgetBobsPhones(t testing.TB) {
	ctx := context.Background()
	phones, err := e.store.ListPhoneEnrollments(ctx, e.bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range phones {
		if err := e.store.DeletePhoneEnrollment(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// fzPost sends one request to the handler in-process, from a client address that
// changes with n so that per-address limits do not end up answering everything.
func fzPost(h http.Handler, path, contentType, body string, n int64) (int, http.Header, []byte) {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", fzJSON)
	req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:40000", byte(n>>16), byte(n>>8), byte(n))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Header(), rec.Body.Bytes()
}

// fzHeaderValue reports whether s can travel as an HTTP header value; net/http
// refuses other requests before any handler runs.
func fzHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// FuzzIDXRequest posts arbitrary bodies with arbitrary content types to every IDX
// endpoint, against a transaction at any of the eight steps (so answers, resends,
// enrollments and cancels all reach their real work, not only "session expired").
// The harness writes the transactions into the store itself and reuses each until
// a request changes it. Bodies may name the transaction's handles, the phone
// authenticator and the enrollment through placeholders; the right code is fzCode.
// It checks:
//
//   - never a 5xx;
//   - always an IDX body: labelled JSON, version 1.0.0, not an OAuth error;
//   - every 4xx carries a message (global or on a field), except the bare state of
//     a finished sign-in, which only offers its interaction code;
//   - a stateHandle in the answer is always the transaction's own;
//   - a 2xx only answers a body that is one JSON object, sent as JSON;
//   - the same input against the same state gets the same answer (status,
//     remediations, message keys): one input in four (picked by a hash of the
//     input, so that a failure reproduces) is sent twice, the second time to a
//     transaction in the state the first one found (the same one if the first
//     request left it unchanged, else a fresh one). Replaying every input would
//     halve the rate; the store's writes are what a request costs.
//
// Seeds: request bodies built from the forms of every recorded IDX fixture
// (idx/testdata/fixtures), the fixtures themselves, and hand-written requests.
func FuzzIDXRequest(f *testing.F) {
	e := fzStartIDX(f)
	fzAddIDXSeeds(f)
	f.Fuzz(func(t *testing.T, endpoint, step uint8, contentType, body string) {
		if !fzHeaderValue(contentType) {
			return
		}
		path := fzIDXPaths[int(endpoint)%len(fzIDXPaths)]
		st := fzSteps[int(step)%len(fzSteps)]
		first := e.exec(t, path, st, contentType, body)
		if fzReplay(contentType, body) {
			if second := e.exec(t, path, st, contentType, body); first != second {
				t.Fatalf("%s at %s answered differently to the same input:\n  %s\n  %s\nbody: %s", path, st, first, second, fzShort(body))
			}
		}
	})
}

// fzReplay picks the inputs FuzzIDXRequest sends twice: one in four, by hash.
func fzReplay(parts ...string) bool {
	h := fnv.New32a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum32()%4 == 0
}

// exec runs one request against the live transaction at step, checks the answer,
// and returns what must not change between identical executions.
func (e *fzIDX) exec(t testing.TB, path string, step store.Step, contentType, body string) string {
	n := e.tick(t)
	l := e.transaction(t, step)
	sh := l.stateHandle
	sent := strings.NewReplacer(fzPhStateHandle, sh, fzPhInteractionHandle, l.interactionHandle, fzPhAuthenticator, e.authID, fzPhEnrollment, e.enrollment).Replace(body)
	status, header, raw := fzPost(e.handler, path, contentType, sent, n)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s at %s, Content-Type %q, body %s: answered %d %s\n%s", path, step, contentType, fzShort(sent), status, fzShort(raw), fmt.Sprintf(format, args...))
	}
	if status >= 500 {
		fail("a server error")
	}
	if ct := header.Get("Content-Type"); ct != fzJSON {
		fail("labelled %q, not as an IDX body", ct)
	}
	var resp map[string]any
	if err := json.Unmarshal(raw, &resp); err != nil {
		fail("not a JSON object: %v", err)
	}
	if resp["version"] != "1.0.0" {
		fail("no IDX version")
	}
	if _, ok := resp["error_description"]; ok {
		fail("an OAuth error body from an IDX endpoint")
	}
	keys := fzMessageKeys(resp)
	_, success := resp["successWithInteractionCode"]
	if status >= 400 && len(keys) == 0 && !success {
		fail("an error without a message")
	}
	if got, ok := resp["stateHandle"]; ok && got != sh {
		fail("stateHandle %v is not the transaction's (%s)", got, sh)
	}
	if status < 300 {
		if resp["stateHandle"] != sh {
			fail("a success without the transaction's stateHandle")
		}
		var obj map[string]any
		if json.Unmarshal([]byte(sent), &obj) != nil {
			fail("a success for a body that is not one JSON object")
		}
		if contentType != "" {
			mt, _, err := mime.ParseMediaType(contentType)
			if err != nil || !slices.Contains([]string{"application/json", "application/ion+json", "application/vnd.okta.v1+json"}, mt) {
				fail("a success for a body sent as %q", contentType)
			}
		}
	}
	if status == http.StatusOK && step == store.StepEnrollChallenge && path == "/idp/idx/challenge/answer" {
		e.forgetBobsPhones(t)
	}
	if _, loaded := resp["stateHandle"]; loaded {
		// Only a request that found the transaction can have changed it.
		e.settle(t, step)
	}
	return fmt.Sprintf("%d remediation=%v messages=%v success=%v", status, fzRemediationNames(resp), keys, success)
}

// fzShort is b for a failure message, cut to a readable length.
func fzShort[T string | []byte](b T) string {
	if len(b) > 400 {
		return fmt.Sprintf("%q… (%d bytes)", b[:400], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// fzRemediationNames lists the names of an IDX body's remediations, tolerating any shape.
func fzRemediationNames(resp map[string]any) []string {
	rem, _ := resp["remediation"].(map[string]any)
	list, _ := rem["value"].([]any)
	var names []string
	for _, r := range list {
		m, _ := r.(map[string]any)
		name, _ := m["name"].(string)
		names = append(names, name)
	}
	return names
}

// fzMessageKeys collects the i18n keys of every message in an IDX body, global
// and on fields, sorted.
func fzMessageKeys(v any) []string {
	var keys []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if i18n, ok := x["i18n"].(map[string]any); ok {
				if k, ok := i18n["key"].(string); ok {
					keys = append(keys, k)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	sort.Strings(keys)
	return keys
}

// fzPhoneAuthenticatorID finds the id of the Phone option of
// select-authenticator-authenticate.
func fzPhoneAuthenticatorID(resp map[string]any) string {
	var id string
	var walk func(any, bool)
	walk = func(v any, inPhone bool) {
		switch x := v.(type) {
		case map[string]any:
			if x["label"] == "Phone" {
				inPhone = true
			}
			if inPhone && x["name"] == "id" {
				if s, ok := x["value"].(string); ok && id == "" {
					id = s
				}
			}
			for _, c := range x {
				walk(c, inPhone)
			}
		case []any:
			for _, c := range x {
				walk(c, inPhone)
			}
		}
	}
	walk(resp["remediation"], false)
	return id
}

// ---- seeds ----

// fzAddIDXSeeds adds hand-written requests for every endpoint and step, then a
// request built from every form of every IDX fixture, then the fixtures as bodies.
func fzAddIDXSeeds(f *testing.F) {
	ep := func(path string) uint8 { return uint8(slices.Index(fzIDXPaths, path)) }
	sp := func(s store.Step) uint8 { return uint8(slices.Index(fzSteps, s)) }
	sh := `"stateHandle":"` + fzPhStateHandle + `"`
	auth := `"authenticator":{"id":"` + fzPhAuthenticator + `","enrollmentId":"` + fzPhEnrollment + `"`
	for _, s := range []struct {
		path  string
		step  store.Step
		ctype string
		body  string
	}{
		{"/idp/idx/introspect", store.StepIdentify, fzJSON, `{"interactionHandle":"` + fzPhInteractionHandle + `"}`},
		{"/idp/idx/introspect", store.StepChallenge, "application/ion+json; okta-version=1.0.0", `{"stateToken":"` + fzPhStateHandle + `"}`},
		{"/idp/idx/introspect", store.StepSuccess, "", `{` + sh + `}`},
		{"/idp/idx/introspect", store.StepIdentify, fzJSON, `{"interactionHandle":"` + strings.Repeat("x", 257) + `","stateHandle":"` + fzPhStateHandle + `"}`},
		{"/idp/idx/identify", store.StepIdentify, fzJSON, `{"identifier":"` + fzAlice + `","credentials":{"passcode":"` + enginetest.Password + `"},"rememberMe":false,` + sh + `}`},
		{"/idp/idx/identify", store.StepIdentify, fzJSON, `{"identifier":" ALICE@example.com ","credentials":{"passcode":"wrong"},` + sh + `}`},
		{"/idp/idx/identify", store.StepIdentify, "application/vnd.okta.v1+json", `{"identifier":"` + fzBob + `","credentials":{"passcode":"` + enginetest.Password + `"},` + sh + `}`},
		{"/idp/idx/identify", store.StepIdentify, fzJSON, `{"identifier":"nobody@example.com","credentials":{"passcode":"x"},` + sh + `}`},
		{"/idp/idx/identify", store.StepIdentify, fzJSON, `{"identifier":42,` + sh + `}`},
		{"/idp/idx/identify", store.StepIdentify, fzJSON, `{` + sh + `} {}`},
		{"/idp/idx/identify", store.StepIdentify, "application/x-www-form-urlencoded", `identifier=a&stateHandle=` + fzPhStateHandle},
		{"/idp/idx/identify", store.StepIdentify, "application/json; okta-version=2.0.0", `{` + sh + `}`},
		{"/idp/idx/identify", store.StepChallenge, fzJSON, `{"identifier":"` + fzAlice + `",` + sh + `}`},
		{"/idp/idx/challenge", store.StepSelectAuthenticator, fzJSON, `{` + auth + `},` + sh + `}`},
		{"/idp/idx/challenge", store.StepSelectAuthenticator, fzJSON, `{` + auth + `,"methodType":"sms"},` + sh + `}`},
		{"/idp/idx/challenge", store.StepVerifyData, fzJSON, `{` + auth + `,"methodType":"voice"},` + sh + `}`},
		{"/idp/idx/challenge", store.StepVerifyData, fzJSON, `{"authenticator":{"id":"` + fzPhAuthenticator + `","methodType":"email"},` + sh + `}`},
		{"/idp/idx/challenge", store.StepChallenge, fzJSON, `{"authenticator":{"id":"aut0000000000000000","enrollmentId":"sms000"},` + sh + `}`},
		{"/idp/idx/challenge/answer", store.StepChallenge, fzJSON, `{"credentials":{"passcode":"` + fzCode + `"},` + sh + `}`},
		{"/idp/idx/challenge/answer", store.StepChallenge, fzJSON, `{"credentials":{"passcode":"246 810"},` + sh + `}`},
		{"/idp/idx/challenge/answer", store.StepChallenge, fzJSON, `{"credentials":{"passcode":"000000"},` + sh + `}`},
		{"/idp/idx/challenge/answer", store.StepEnrollChallenge, fzJSON, `{"credentials":{"passcode":"` + fzCode + `"},` + sh + `}`},
		{"/idp/idx/challenge/answer", store.StepEnrollChallenge, fzJSON, `{"credentials":{"passcode":""},` + sh + `}`},
		{"/idp/idx/challenge/resend", store.StepChallenge, fzJSON, `{` + sh + `}`},
		{"/idp/idx/challenge/resend", store.StepEnrollChallenge, fzJSON, `{` + sh + `}`},
		{"/idp/idx/challenge/resend", store.StepSuccess, fzJSON, `{` + sh + `}`},
		{"/idp/idx/credential/enroll", store.StepSelectEnroll, fzJSON, `{"authenticator":{"id":"` + fzPhAuthenticator + `"},` + sh + `}`},
		{"/idp/idx/credential/enroll", store.StepEnrollData, fzJSON, `{"authenticator":{"id":"` + fzPhAuthenticator + `","methodType":"sms","phoneNumber":"(201) 555-0177"},` + sh + `}`},
		{"/idp/idx/credential/enroll", store.StepEnrollData, fzJSON, `{"authenticator":{"id":"` + fzPhAuthenticator + `","methodType":"voice","phoneNumber":"+18005550199"},` + sh + `}`},
		{"/idp/idx/credential/enroll", store.StepEnrollData, fzJSON, `{"authenticator":{"id":"` + fzPhAuthenticator + `","methodType":"sms","phoneNumber":"12"},` + sh + `}`},
		{"/idp/idx/credential/enroll", store.StepEnrollChallenge, fzJSON, `{"authenticator":{"id":"` + fzPhAuthenticator + `","methodType":"sms","phoneNumber":""},` + sh + `}`},
		{"/idp/idx/cancel", store.StepChallenge, fzJSON, `{` + sh + `}`},
		{"/idp/idx/cancel", store.StepSuccess, fzJSON, `{` + sh + `}`},
		{"/idp/idx/cancel", store.StepIdentify, fzJSON, `{"stateHandle":null}`},
		{"/idp/idx/cancel", store.StepIdentify, fzJSON, `null`},
		{"/idp/idx/cancel", store.StepIdentify, fzJSON, ``},
		{"/idp/idx/cancel", store.StepIdentify, fzJSON, `[]`},
	} {
		f.Add(ep(s.path), sp(s.step), s.ctype, s.body)
	}

	paths, err := filepath.Glob(filepath.Join("..", "..", "idx", "testdata", "fixtures", "*.json"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no fixtures under idx/testdata/fixtures: %v", err)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ep("/idp/idx/introspect"), uint8(0), fzJSON, string(raw))
		var doc map[string]any
		if json.Unmarshal(raw, &doc) != nil {
			continue
		}
		step, forms := fzFixtureForms(doc)
		for _, form := range forms {
			u, err := url.Parse(fmt.Sprint(form["href"]))
			if err != nil || !slices.Contains(fzIDXPaths, u.Path) {
				continue // an endpoint this engine does not offer
			}
			fields, _ := form["value"].([]any)
			body, err := json.Marshal(fzBodyFromFields(fields, step, false))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(ep(u.Path), sp(step), fzJSON, string(body))
		}
	}
}

// fzFixtureForms returns the step a fixture shows and the forms it offers
// (remediations, cancel, and a resend inside the current authenticator).
func fzFixtureForms(doc map[string]any) (store.Step, []map[string]any) {
	stepOf := map[string]store.Step{
		"identify": store.StepIdentify, "select-authenticator-authenticate": store.StepSelectAuthenticator,
		"authenticator-verification-data": store.StepVerifyData, "challenge-authenticator": store.StepChallenge,
		"select-authenticator-enroll": store.StepSelectEnroll, "authenticator-enrollment-data": store.StepEnrollData,
		"enroll-authenticator": store.StepEnrollChallenge,
	}
	step := store.StepSuccess
	var forms []map[string]any
	rem, _ := doc["remediation"].(map[string]any)
	list, _ := rem["value"].([]any)
	for i, r := range list {
		m, _ := r.(map[string]any)
		if i == 0 {
			if s, ok := stepOf[fmt.Sprint(m["name"])]; ok {
				step = s
			}
		}
		forms = append(forms, m)
	}
	if c, ok := doc["cancel"].(map[string]any); ok {
		forms = append(forms, c)
	}
	for _, k := range []string{"currentAuthenticatorEnrollment", "currentAuthenticator"} {
		obj, _ := doc[k].(map[string]any)
		val, _ := obj["value"].(map[string]any)
		if resend, ok := val["resend"].(map[string]any); ok {
			forms = append(forms, resend)
		}
	}
	return step, forms
}

// fzBodyFromFields fills in a fixture form the way a client would: the Phone
// option where there is a choice, the fixture's fixed values (the phone's ids
// replaced by placeholders), and plausible input for the rest.
func fzBodyFromFields(fields []any, step store.Step, inPhone bool) map[string]any {
	out := map[string]any{}
	for _, fv := range fields {
		fld, _ := fv.(map[string]any)
		name, _ := fld["name"].(string)
		if name == "" {
			continue
		}
		if form, ok := fld["form"].(map[string]any); ok {
			sub, _ := form["value"].([]any)
			out[name] = fzBodyFromFields(sub, step, inPhone)
			continue
		}
		if opts, ok := fld["options"].([]any); ok && len(opts) > 0 {
			pick, _ := opts[0].(map[string]any)
			for _, o := range opts {
				if om, _ := o.(map[string]any); om["label"] == "Phone" {
					pick = om
				}
			}
			if ov, ok := pick["value"].(map[string]any); ok {
				form, _ := ov["form"].(map[string]any)
				sub, _ := form["value"].([]any)
				out[name] = fzBodyFromFields(sub, step, pick["label"] == "Phone")
			} else {
				out[name] = pick["value"]
			}
			continue
		}
		switch {
		case name == "stateHandle":
			out[name] = fzPhStateHandle
		case inPhone && name == "id":
			out[name] = fzPhAuthenticator
		case inPhone && name == "enrollmentId":
			out[name] = fzPhEnrollment
		case fld["value"] != nil:
			out[name] = fld["value"]
		case name == "identifier":
			out[name] = fzAlice
		case name == "passcode" && step == store.StepIdentify:
			out[name] = enginetest.Password
		case name == "passcode":
			out[name] = fzCode
		case name == "phoneNumber":
			out[name] = "(201) 555-0177"
		case name == "rememberMe":
			out[name] = true
		default:
			out[name] = "x"
		}
	}
	return out
}

// FuzzStateHandle sends arbitrary handles, in each of the members that carry one
// (stateHandle, stateToken, interactionHandle), to every IDX endpoint. A live
// transaction at IDENTIFY exists, and the placeholders @SH and @IH in the handle
// stand for its state and interaction handles, so the fuzzer tries near misses
// (a byte added, changed case, whitespace, a prefix). It checks that a request
// opens the transaction exactly when it carries one of its handles unchanged, in a
// member the endpoint reads it from (introspect: interactionHandle, else stateToken
// or stateHandle; the others: stateHandle); that anything else gets exactly the
// bare "session expired" answer with 401, telling nothing about the transaction;
// and that an opened transaction answers with its own stateHandle, never a 5xx.
// (A body over 16 KiB is refused unread with 413, whatever it holds.)
func FuzzStateHandle(f *testing.F) {
	e := fzStartIDX(f)
	for i, h := range []string{fzPhStateHandle, fzPhInteractionHandle, fzPhStateHandle + " ", " " + fzPhStateHandle, fzPhStateHandle + "=",
		fzPhStateHandle + "\x00", "02" + fzPhInteractionHandle, strings.TrimPrefix(fzPhStateHandle, "@"), "", "02", strings.Repeat("A", 257),
		fzPhStateHandle + fzPhStateHandle, "\u0130" + fzPhStateHandle, fzPhInteractionHandle + "\n"} {
		for field := range 3 {
			f.Add(uint8(i), uint8(field), h)
		}
	}
	expired := []string{"idx.session.expired"}
	f.Fuzz(func(t *testing.T, endpoint, field uint8, handle string) {
		n := e.tick(t)
		l := e.transaction(t, store.StepIdentify)
		handle = strings.NewReplacer(fzPhStateHandle, l.stateHandle, fzPhInteractionHandle, l.interactionHandle).Replace(handle)
		path := fzIDXPaths[int(endpoint)%len(fzIDXPaths)]
		member := []string{"stateHandle", "stateToken", "interactionHandle"}[field%3]
		body, err := json.Marshal(map[string]string{member: handle})
		if err != nil {
			t.Fatal(err)
		}
		var seen map[string]string // what the server reads: invalid UTF-8 is replaced
		if err := json.Unmarshal(body, &seen); err != nil {
			t.Fatal(err)
		}
		v := seen[member]
		var opens bool
		switch {
		case path == "/idp/idx/introspect" && member == "interactionHandle":
			opens = v == l.interactionHandle
		case path == "/idp/idx/introspect":
			opens = v == l.stateHandle
		default:
			opens = member == "stateHandle" && v == l.stateHandle
		}
		status, _, raw := fzPost(e.handler, path, fzJSON, string(body), n)
		var resp map[string]any
		if err := json.Unmarshal(raw, &resp); err != nil {
			t.Fatalf("%s %s: %d, not JSON: %s", path, fzShort(body), status, raw)
		}
		switch {
		case status >= 500:
			t.Fatalf("%s %s: %d %s", path, fzShort(body), status, raw)
		case len(body) > 16<<10:
			if status != http.StatusRequestEntityTooLarge || resp["stateHandle"] != nil || resp["version"] != "1.0.0" {
				t.Fatalf("%s with a %d-byte body: %d %s", path, len(body), status, raw)
			}
		case !opens:
			if status != http.StatusUnauthorized || len(resp) != 2 || resp["version"] != "1.0.0" || !slices.Equal(fzMessageKeys(resp), expired) {
				t.Fatalf("%s %s (not the transaction's handle): %d %s", path, fzShort(body), status, raw)
			}
		default:
			if status == http.StatusUnauthorized || resp["stateHandle"] != l.stateHandle {
				t.Fatalf("%s %s (the transaction's handle): %d %s", path, fzShort(body), status, raw)
			}
			e.settle(t, store.StepIdentify)
		}
	})
}
