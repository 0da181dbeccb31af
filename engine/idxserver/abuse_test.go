package idxserver_test

// The attacks of the abuse-resistance review, each run against a real engine over
// HTTP on loopback, on SQLite and on PostgreSQL. Clients are told apart by
// X-Forwarded-For: the harness trusts the test as its proxy.

import (
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// backends runs test on SQLite and on PostgreSQL (skipped, or failed under .ci/run,
// when PostgreSQL is absent).
func backends(t *testing.T, test func(t *testing.T, o enginetest.Options)) {
	t.Run("sqlite", func(t *testing.T) { test(t, enginetest.Options{}) })
	t.Run("postgres", func(t *testing.T) { test(t, enginetest.Options{Database: enginetest.PostgresSchema(t)}) })
}

// withConfig returns o with configure added.
func withConfig(o enginetest.Options, configure func(*config.Config)) enginetest.Options {
	o.Configure = configure
	return o
}

// identifyAll posts n identify requests at once, each on a sign-in of its own
// started from ip, and counts the answers by status.
func identifyAll(t *testing.T, h *enginetest.Harness, ip, login, password string, n int) map[int]int {
	t.Helper()
	flows := make([]*enginetest.Flow, n)
	for i := range flows {
		flows[i] = h.InteractAs(t, ip, nil)
	}
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, f := range flows {
		wg.Go(func() {
			<-start
			status, body := f.Identify(login, password)
			if status == http.StatusTooManyRequests {
				checkRateLimitHeaders(t, f.Header, body)
			}
			mu.Lock()
			counts[status]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return counts
}

// checkRateLimitHeaders checks a 429 tells when to come back.
func checkRateLimitHeaders(t *testing.T, h http.Header, body map[string]any) {
	t.Helper()
	ra, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || ra < 1 {
		t.Errorf("429 Retry-After = %q, want whole seconds >= 1", h.Get("Retry-After"))
	}
	reset, err := strconv.ParseInt(h.Get("X-Rate-Limit-Reset"), 10, 64)
	if err != nil || reset < time.Now().Unix() {
		t.Errorf("429 X-Rate-Limit-Reset = %q, want a unix time in the future", h.Get("X-Rate-Limit-Reset"))
	}
	if h.Get("X-Rate-Limit-Limit") == "" || h.Get("X-Rate-Limit-Remaining") != "0" {
		t.Errorf("429 X-Rate-Limit-Limit %q, Remaining %q; want a limit and 0", h.Get("X-Rate-Limit-Limit"), h.Get("X-Rate-Limit-Remaining"))
	}
	if len(enginetest.MessageKeys(body)) == 0 && body["errorCode"] == nil {
		t.Errorf("429 without a message: %v", body)
	}
}

func manySignIns(c *config.Config) {
	c.RateLimits.TransactionsPerIP = 10_000
	c.RateLimits.RequestsPerIPPerMinute = 100_000
}

func TestParallelPasswordGuessesHashAtMostTheBudget(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		h := enginetest.Start(t, withConfig(o, manySignIns))
		h.CreateUser(t, alice, alicePhone)
		budget := h.Config.SignOn.MaxPasswordFailures
		// 200 wrong passwords at once for one user, from one client.
		got := identifyAll(t, h, "198.51.100.7", alice, "wrong password", 200)
		if got[401] != budget || got[429] != 200-budget || len(got) != 2 {
			t.Errorf("200 parallel wrong passwords: %v; want exactly %d checked (401) and the rest refused unhashed (429)", got, budget)
		}
		// The right password from that client is refused too, until the window ends.
		f := h.InteractAs(t, "198.51.100.7", nil)
		status, body := f.Identify(alice, enginetest.Password)
		want(t, "right password after the burst", 429, status, body)

		// An account that does not exist answers exactly the same way.
		got = identifyAll(t, h, "198.51.100.8", "nobody@example.com", "wrong password", 40)
		if got[401] != budget || got[429] != 40-budget {
			t.Errorf("40 parallel guesses at an unknown user: %v; want the same %d then 429 as for a real one", got, budget)
		}
	})
}

func TestOwnerSignsInFromAKnownSourceDuringAnAttack(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		h := enginetest.Start(t, withConfig(o, func(c *config.Config) {
			manySignIns(c)
			c.SignOn.UnknownSourcePasswordChecks = 30
		}))
		h.CreateUser(t, alice, alicePhone)
		// Alice signs in from her laptop's browser (device cookie) and her phone app
		// (no cookies, her home IP).
		jar, _ := cookiejar.New(nil)
		signIn := func(f *enginetest.Flow) int {
			status, _ := f.Identify(alice, enginetest.Password)
			if status != 200 {
				return status
			}
			f.ChoosePhone()
			f.ChooseMethod("sms")
			status, _ = f.Answer(h.LatestCode(t, alicePhone))
			h.Clock.Advance(h.Config.Phone.SendInterval) // the next code may go out
			return status
		}
		if s := signIn(h.InteractAs(t, "203.0.113.5", jar)); s != 200 {
			t.Fatalf("first sign-in from the browser: %d", s)
		}
		if s := signIn(h.InteractAs(t, "203.0.113.9", nil)); s != 200 {
			t.Fatalf("first sign-in from home: %d", s)
		}
		// An attack from 60 addresses, 12 wrong passwords each.
		var checked atomic.Int64
		var wg sync.WaitGroup
		for i := range 60 {
			wg.Go(func() {
				got := identifyAllQuiet(t, h, fmt.Sprintf("192.0.2.%d", i+1), alice, 12)
				checked.Add(int64(got[401]))
			})
		}
		wg.Wait()
		// Alice's two first sign-ins came from sources unknown then, and spent two.
		if n := checked.Load(); n != 30-2 {
			t.Errorf("the attack had %d passwords checked; want exactly what was left of the unknown-source budget of 30 (28)", n)
		}
		// Alice is not locked out: the browser she used (now on another network) and
		// her home address still sign in.
		if s := signIn(h.InteractAs(t, "198.51.100.77", jar)); s != 200 {
			t.Errorf("sign-in from the known browser during the attack: %d, want 200", s)
		}
		if s := signIn(h.InteractAs(t, "203.0.113.9", nil)); s != 200 {
			t.Errorf("sign-in from the known address during the attack: %d, want 200", s)
		}
		// A source that never signed in as Alice waits, even with the right password.
		f := h.InteractAs(t, "198.51.100.99", nil)
		status, body := f.Identify(alice, enginetest.Password)
		want(t, "right password from a new source during the attack", 429, status, body)
	})
}

// identifyAllQuiet is identifyAll with a wrong password and without header checks.
func identifyAllQuiet(t *testing.T, h *enginetest.Harness, ip, login string, n int) map[int]int {
	counts := map[int]int{}
	for range n {
		f := h.InteractAs(t, ip, nil)
		status, _ := f.Identify(login, "wrong password")
		counts[status]++
	}
	return counts
}

// enrollFlow signs login in up to the phone enrollment step from ip and returns a
// function that asks for a code to number by method.
func enrollFlow(t *testing.T, h *enginetest.Harness, ip, login string) func(number, method string) (int, map[string]any, http.Header) {
	t.Helper()
	f := h.InteractAs(t, ip, nil)
	status, body := f.Identify(login, enginetest.Password)
	want(t, "identify "+login, 200, status, body)
	id := field(t, enginetest.FindRemediation(body, "select-authenticator-enroll"), "authenticator")["options"].([]any)[0].(map[string]any)["value"].(map[string]any)["form"].(map[string]any)["value"].([]any)[0].(map[string]any)["value"].(string)
	return func(number, method string) (int, map[string]any, http.Header) {
		status, body := f.PostJSON(h.URL+"/idp/idx/credential/enroll", map[string]any{"stateHandle": f.StateHandle,
			"authenticator": map[string]any{"id": id, "methodType": method, "phoneNumber": number}})
		return status, body, f.Header
	}
}

// latvian is the i-th of a run of Latvian mobile numbers, as a toll-fraud pump
// would dial them.
func latvian(i int) string { return fmt.Sprintf("+3712%07d", 1000000+i) }

func TestEnrollmentLoopSendsAtMostTheCaps(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		h := enginetest.Start(t, o)
		sent := func(numbers ...int) int {
			n := 0
			for _, i := range numbers {
				n += len(h.Outbox(t, latvian(i)))
			}
			return n
		}
		var first20 []int
		for i := range 20 {
			first20 = append(first20, i)
		}
		// One account, one sign-in: at most 3 codes.
		h.CreateUser(t, "pump0@example.com", "")
		enroll := enrollFlow(t, h, "192.0.2.10", "pump0@example.com")
		refused := 0
		for i := range 20 {
			if status, body, header := enroll(latvian(i), "voice"); status == 429 {
				refused++
				checkRateLimitHeaders(t, header, body)
			}
		}
		if n := sent(first20...); n != 3 || refused != 17 {
			t.Errorf("20 enrollments on one sign-in: %d calls made, %d refused; want 3 and 17", n, refused)
		}
		// New sign-ins of the same account: its 3 unverified sends a day are spent.
		enroll = enrollFlow(t, h, "192.0.2.10", "pump0@example.com")
		if status, _, _ := enroll(latvian(100), "voice"); status != 429 || sent(100) != 0 {
			t.Errorf("a new sign-in of the same account got a call through (status %d)", status)
		}
		// More accounts from the same address: 10 unverified sends per hour in all.
		used := first20
		for a := 1; a <= 6; a++ {
			login := fmt.Sprintf("pump%d@example.com", a)
			h.CreateUser(t, login, "")
			enroll := enrollFlow(t, h, "192.0.2.10", login)
			for i := range 3 {
				enroll(latvian(a*1000+i), "voice")
				used = append(used, a*1000+i)
			}
		}
		total := sent(used...)
		if total != 10 {
			t.Errorf("7 accounts from one address made %d calls; want the per-address cap of 10", total)
		}
	})
}

func TestTheVictimStillGetsTheirCode(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		h := enginetest.Start(t, o)
		h.CreateUser(t, alice, alicePhone)
		// Attackers enroll Alice's number from several accounts and addresses until
		// the number takes no more codes from them.
		refused := false
		for a := range 8 {
			login := fmt.Sprintf("mallory%d@example.com", a)
			h.CreateUser(t, login, "")
			enroll := enrollFlow(t, h, fmt.Sprintf("192.0.2.%d", 20+a), login)
			if status, _, _ := enroll(alicePhone, "sms"); status == 429 {
				refused = true
			}
			h.Clock.Advance(h.Config.Phone.SendInterval)
		}
		if !refused {
			t.Fatal("the attackers' enrollments of one number were never refused")
		}
		before := len(h.Outbox(t, alicePhone))
		// Alice signs in and gets her code.
		f := h.InteractAs(t, "203.0.113.5", nil)
		status, body := f.Identify(alice, enginetest.Password)
		want(t, "identify", 200, status, body)
		f.ChoosePhone()
		status, body = f.ChooseMethod("sms")
		want(t, "send Alice's code", 200, status, body)
		if after := len(h.Outbox(t, alicePhone)); after != before+1 {
			t.Fatalf("Alice's number had %d messages, then %d: her code was not sent", before, after)
		}
		status, body = f.Answer(h.LatestCode(t, alicePhone))
		want(t, "Alice's code", 200, status, body)
	})
}

func TestTheCircuitBreakerStopsOnlyNewNumbers(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) { c.Phone.MaxSendsPerHour = 2 }})
	h.CreateUser(t, alice, alicePhone)
	for a := range 3 {
		login := fmt.Sprintf("new%d@example.com", a)
		h.CreateUser(t, login, "")
		status, body, _ := enrollFlow(t, h, fmt.Sprintf("192.0.2.%d", 40+a), login)(latvian(50+a), "sms")
		if wantStatus := map[bool]int{true: 200, false: 429}[a < 2]; status != wantStatus {
			t.Errorf("enrollment %d with a breaker of 2 per hour: %d %v, want %d", a, status, enginetest.MessageKeys(body), wantStatus)
		}
	}
	f := h.InteractAs(t, "203.0.113.5", nil)
	f.Identify(alice, enginetest.Password)
	f.ChoosePhone()
	status, body := f.ChooseMethod("sms")
	want(t, "a verified number while the breaker is open", 200, status, body)
}

func TestInteractFloodIsCapped(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		h := enginetest.Start(t, withConfig(o, func(c *config.Config) { c.RateLimits.RequestsPerIPPerMinute = 100_000 }))
		capPerIP := h.Config.RateLimits.TransactionsPerIP
		counts := map[int]int{}
		for range capPerIP + 300 {
			status, body := h.TryInteract(t, "192.0.2.99")
			counts[status]++
			if status == 429 && body["errorCode"] != "E0000047" {
				t.Fatalf("interact 429 body = %v, want Okta's E0000047", body)
			}
		}
		if counts[200] != capPerIP || counts[429] != 300 {
			t.Errorf("%d sign-ins started from one address: %v; want %d then 429", capPerIP+300, counts, capPerIP)
		}
		// Another client is not affected.
		if status, body := h.TryInteract(t, "192.0.2.100"); status != 200 {
			t.Errorf("another address: %d %v", status, body)
		}
	})
}

func TestRequestsPerIPAreLimited(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) { c.RateLimits.RequestsPerIPPerMinute = 40 }})
	f := h.InteractAs(t, "192.0.2.77", nil)
	counts := map[int]int{}
	for range 60 {
		status, body := f.Introspect(map[string]any{"stateHandle": f.StateHandle})
		counts[status]++
		if status == 429 {
			checkRateLimitHeaders(t, f.Header, body)
		}
	}
	// interact took one unit of its own group; introspect has 40, one spent by
	// InteractAs.
	if counts[200] != 39 || counts[429] != 21 {
		t.Errorf("60 introspects with a limit of 40 a minute: %v", counts)
	}
	other := h.InteractAs(t, "192.0.2.78", nil)
	if status, _ := other.Introspect(map[string]any{"stateHandle": other.StateHandle}); status != 200 {
		t.Errorf("another address was refused: %d", status)
	}
}

func TestPasswordBudgetHoldsAcrossTwoNodes(t *testing.T) {
	dsn := enginetest.PostgresSchema(t)
	nodes := []*enginetest.Harness{
		enginetest.Start(t, enginetest.Options{Database: dsn, Configure: manySignIns}),
		enginetest.Start(t, enginetest.Options{Database: dsn, Configure: manySignIns}),
	}
	nodes[0].CreateUser(t, alice, alicePhone)
	var mu sync.Mutex
	total := map[int]int{}
	var wg sync.WaitGroup
	for _, h := range nodes {
		wg.Go(func() {
			got := identifyAll(t, h, "198.51.100.7", alice, "wrong password", 60)
			mu.Lock()
			for k, v := range got {
				total[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if budget := nodes[0].Config.SignOn.MaxPasswordFailures; total[401] != budget {
		t.Errorf("120 wrong passwords over two nodes: %v; want exactly %d checked", total, budget)
	}
}

func TestAFloodedHashPoolStillServesAnotherClient(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{RealHashing: true, Configure: func(c *config.Config) {
		manySignIns(c)
		c.PasswordHashing.MaxConcurrent, c.PasswordHashing.MaxQueue = 1, 8
	}})
	h.CreateUser(t, alice, alicePhone)
	const flood = 60
	flows := make([]*enginetest.Flow, flood)
	for i := range flows {
		flows[i] = h.InteractAs(t, "192.0.2.66", nil)
	}
	victim := h.InteractAs(t, "203.0.113.5", nil)
	var wg sync.WaitGroup
	var refused atomic.Int64
	stop := make(chan struct{})
	// The attacker keeps the pool busy with guesses at many usernames until the
	// victim is done.
	for i, f := range flows {
		wg.Go(func() {
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				if j >= 10 { // identify_per_transaction
					return
				}
				if status, _ := f.Identify(fmt.Sprintf("guess%d-%d@example.com", i, j), "wrong password"); status == 429 {
					refused.Add(1)
				}
			}
		})
	}
	// Wait until the attacker holds its share of the queue.
	deadline := time.Now().Add(10 * time.Second)
	for h.Engine.Hasher().QueueLength() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if h.Engine.Hasher().QueueLength() < 2 {
		t.Fatal("the flood never queued in the hash pool")
	}
	began := time.Now()
	status, body := victim.Identify(alice, enginetest.Password)
	took := time.Since(began)
	close(stop)
	wg.Wait()
	want(t, "the victim's password during the flood", 200, status, body)
	if refused.Load() == 0 {
		t.Error("the flooding client was never refused a hashing slot")
	}
	if took > 10*time.Second {
		t.Errorf("the victim waited %v for the hash pool", took)
	}
	t.Logf("victim's identify took %v during the flood; the flood had %d refusals", took, refused.Load())
}

func TestOneSignInTriesFewUsernames(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	f := h.InteractAs(t, "192.0.2.5", nil)
	counts := map[int]int{}
	for i := range 30 {
		status, _ := f.Identify(fmt.Sprintf("user%d@example.com", i), "wrong password")
		counts[status]++
	}
	if n := h.Config.RateLimits.IdentifyPerTransaction; counts[401] != n || counts[429] != 30-n {
		t.Errorf("30 usernames on one stateHandle: %v; want %d checked, then 429", counts, n)
	}
}

func TestEnrolledPhoneTakesThePolicysMethods(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) { c.Phone.SMS = false }})
	bob := h.CreateUser(t, "bob@example.com", "")
	f := h.InteractAs(t, "192.0.2.5", nil)
	status, body := f.Identify("bob@example.com", enginetest.Password)
	want(t, "identify", 200, status, body)
	id := field(t, enginetest.FindRemediation(body, "select-authenticator-enroll"), "authenticator")["options"].([]any)[0].(map[string]any)["value"].(map[string]any)["form"].(map[string]any)["value"].([]any)[0].(map[string]any)["value"].(string)
	enroll := func(method string) (int, map[string]any) {
		return f.PostJSON(h.URL+"/idp/idx/credential/enroll", map[string]any{"stateHandle": f.StateHandle,
			"authenticator": map[string]any{"id": id, "methodType": method, "phoneNumber": "+12015550177"}})
	}
	status, body = enroll("sms")
	want(t, "enroll by SMS with SMS off", 400, status, body)
	status, body = enroll("voice")
	want(t, "enroll by voice", 200, status, body)
	if phones, err := h.Store.ListPhoneEnrollments(t.Context(), bob.ID); err != nil || len(phones) != 0 {
		t.Fatalf("a phone was stored before its code was entered: %v %v", phones, err)
	}
	status, body = f.Answer(h.LatestCode(t, "+12015550177"))
	want(t, "answer", 200, status, body)
	phones, err := h.Store.ListPhoneEnrollments(t.Context(), bob.ID)
	if err != nil || len(phones) != 1 || phones[0].SMS || !phones[0].Voice {
		t.Errorf("enrolled phones = %+v (%v); want one, by voice only as the policy allows", phones, err)
	}
}

// TestRecoveryAndRegistrationEndpointsAreLimited: the endpoints recovery and
// registration add count toward the per-client-IP request limits like the others.
func TestRecoveryAndRegistrationEndpointsAreLimited(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) { c.RateLimits.RequestsPerIPPerMinute = 10 }})
	for _, path := range []string{"/idp/idx/recover", "/idp/idx/enroll", "/idp/idx/enroll/new", "/idp/idx/identify/select"} {
		f := h.InteractAs(t, "192.0.2.90", nil)
		limited := 0
		for range 12 {
			if status, _ := f.PostJSON(h.URL+path, map[string]any{"stateHandle": f.StateHandle}); status == 429 {
				limited++
			}
		}
		if limited < 2 {
			t.Errorf("%s: %d of 12 requests in a minute were refused with a limit of 10", path, limited)
		}
	}
}
