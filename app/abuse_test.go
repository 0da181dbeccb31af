package app

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// engineFront is a reverse proxy on loopback in front of the engine: the
// engine's issuer is the front's origin, so every request the app's SDK sends
// — discovery, interact, the IDX hrefs, token, userinfo, revoke — arrives
// here first. It records what the engine is told and can change what the
// engine answers.
type engineFront struct {
	srv *httptest.Server

	mu   sync.Mutex
	seen []seenRequest
	// modify changes the engine's answers when set.
	modify func(*http.Response)
	// answer replies instead of the engine when set and it returns true.
	answer func(http.ResponseWriter, *http.Request) bool
}

// seenRequest is one request that reached the engine.
type seenRequest struct {
	what          string   // e.g. "POST /idp/idx/identify"
	forwardedFors []string // its X-Forwarded-For header lines
}

// listen opens the front's port; the returned function configures the engine
// with the front's origin as its issuer.
func (f *engineFront) listen(t testing.TB, configure func(*config.Config)) func(*config.Config) {
	f.srv = httptest.NewUnstartedServer(nil)
	origin := "http://" + f.srv.Listener.Addr().String()
	return func(c *config.Config) {
		c.Issuer = origin + "/oauth2/default"
		if configure != nil {
			configure(c)
		}
	}
}

// start forwards the front to the running engine.
func (f *engineFront) start(t testing.TB, h *enginetest.Harness) {
	target, err := url.Parse(h.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
		},
		ModifyResponse: func(resp *http.Response) error {
			f.mu.Lock()
			modify := f.modify
			f.mu.Unlock()
			if modify != nil {
				modify(resp)
			}
			return nil
		},
	}
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, seenRequest{what: r.Method + " " + r.URL.Path, forwardedFors: r.Header.Values("X-Forwarded-For")})
		answer := f.answer
		f.mu.Unlock()
		if answer != nil && answer(w, r) {
			return
		}
		proxy.ServeHTTP(w, r)
	})
	f.srv.Start()
	t.Cleanup(f.srv.Close)
}

// requests returns the requests seen so far and forgets them.
func (f *engineFront) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.seen
	f.seen = nil
	return out
}

func (f *engineFront) set(modify func(*http.Response), answer func(http.ResponseWriter, *http.Request) bool) {
	f.mu.Lock()
	f.modify, f.answer = modify, answer
	f.mu.Unlock()
}

// loopback is the trusted-proxy setting under which the test client, on
// loopback, plays a reverse proxy in front of the app.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// behind makes an agent that comes through a proxy reporting the chain xff.
func (ta *testApp) behind(t testing.TB, xff string) *agent {
	a := ta.agent(t)
	a.header = http.Header{"X-Forwarded-For": {xff}}
	return a
}

// signInToProfile takes an agent from the sign-in page to the profile.
func (ta *testApp) signInToProfile(a *agent, login, phone string) {
	a.t.Helper()
	a.toCodePage(login, "sms")
	a.expectRedirect(a.post(pathCode, url.Values{"code": {ta.h.LatestCode(a.t, phone)}}), "/")
}

// TestAnonymousFloodCreatesNoSessions floods the app with what anyone can
// send without an account — pages, "back to sign in", sign-out, step posts,
// sign-in posts without a token, with a forged one, with blank fields —
// from fresh browsers. Nothing may be stored on the server, nothing may
// reach the engine, nothing may answer 5xx; then a new visitor signs in, in
// a store so small that two leftover sessions would have filled it.
func TestAnonymousFloodCreatesNoSessions(t *testing.T) {
	front := &engineFront{}
	ta := newTestApp(t, appOptions{maxSessions: 2, front: front})
	ta.h.CreateUser(t, "after-flood@example.com", "+12015550170")

	// One browser's form cookie and token, replayed by the blank-field posts.
	keeper := ta.agent(t)
	token := keeper.formToken()
	base, _ := url.Parse(ta.url)
	var formCookie string
	for _, c := range keeper.c.Jar.Cookies(base) {
		if c.Name == "gatehouse_form" {
			formCookie = c.Name + "=" + c.Value
		}
	}
	if formCookie == "" {
		t.Fatal("the sign-in page set no form cookie")
	}
	front.requests()

	type shot struct {
		method, path, body, cookie string
		want                       int
	}
	shots := []shot{
		{"GET", "/", "", "", http.StatusSeeOther},
		{"GET", pathSignIn, "", "", http.StatusOK},
		{"GET", pathCode, "", "", http.StatusSeeOther},
		{"POST", "/login/cancel", "", "", http.StatusSeeOther},
		{"POST", "/logout", "", "", http.StatusSeeOther},
		{"POST", pathCode, "code=123456", "", http.StatusSeeOther},
		{"POST", "/login/resend", "", "gatehouse_session=" + strings.Repeat("A", 43), http.StatusSeeOther},
		{"POST", pathSignIn, "username=a%40example.com&password=guess", "", http.StatusForbidden},
		{"POST", pathSignIn, "username=a%40example.com&password=guess&csrf=" + token, "", http.StatusForbidden},
		{"POST", pathSignIn, "username=a%40example.com&password=guess&csrf=forged", formCookie, http.StatusForbidden},
		{"POST", pathSignIn, "username=a%40example.com&password=&csrf=" + token, formCookie, http.StatusUnprocessableEntity},
		{"POST", pathSignIn, "username=+&password=guess&csrf=" + token, formCookie, http.StatusUnprocessableEntity},
	}
	const workers, perWorker = 8, 375 // 3,000 requests
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for w := range workers {
		wg.Go(func() {
			c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			for i := range perWorker {
				s := shots[(w*perWorker+i)%len(shots)]
				req, _ := http.NewRequest(s.method, ta.url+s.path, strings.NewReader(s.body))
				if s.method == "POST" {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.Header.Set("Sec-Fetch-Site", "same-origin")
				}
				if s.cookie != "" {
					req.Header.Set("Cookie", s.cookie)
				}
				resp, err := c.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != s.want {
					errs <- fmt.Sprintf("%s %s (%s): %d, want %d", s.method, s.path, s.body, resp.StatusCode, s.want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := ta.store.Len(); n != 0 {
		t.Fatalf("the flood left %d sessions on the server, want 0", n)
	}
	if seen := front.requests(); len(seen) != 0 {
		t.Errorf("the flood reached the engine %d times, first %s", len(seen), seen[0].what)
	}

	a := ta.agent(t)
	ta.signInToProfile(a, "after-flood@example.com", "+12015550170")
	expectPage(t, a.get("/"), http.StatusOK, "after-flood@example.com")
	if n := ta.store.Len(); n != 1 {
		t.Errorf("%d sessions after one sign-in, want 1", n)
	}
}

// TestSignInFormNeedsItsToken: the sign-in form is refused without the token
// of the browser's own form cookie; nothing is stored or sent on; the page
// comes back with a fresh token that works.
func TestSignInFormNeedsItsToken(t *testing.T) {
	front := &engineFront{}
	ta := newTestApp(t, appOptions{front: front})
	ta.h.CreateUser(t, "csrf@example.com", "+12015550171")
	attacker, victim := ta.agent(t), ta.agent(t)
	stolen := attacker.formToken()
	victim.formToken() // the victim has a form cookie of its own
	front.requests()
	for name, token := range map[string]string{"missing": "", "another browser's": stolen, "forged": "x" + stolen[1:]} {
		form := url.Values{"username": {"csrf@example.com"}, "password": {enginetest.Password}}
		if token != "" {
			form.Set(formField, token)
		} else {
			form[formField] = nil
		}
		r := victim.post(pathSignIn, form)
		expectPage(t, r, http.StatusForbidden, "This sign-in page had expired, so nothing was sent.", `value="csrf@example.com"`)
		if hiddenToken(t, r) != victim.formToken() {
			t.Errorf("%s token: the page came back without the browser's own token", name)
		}
	}
	if n := ta.store.Len(); n != 0 {
		t.Errorf("refused posts stored %d sessions", n)
	}
	if seen := front.requests(); len(seen) != 0 {
		t.Errorf("refused posts reached the engine: %v", seen)
	}
	victim.expectRedirect(victim.post(pathSignIn, url.Values{"username": {"csrf@example.com"}, "password": {enginetest.Password}}), pathSelect)
}

// TestSignInsPerIPAreCapped: sign-ins in progress from one address (an IPv6
// /64 counts as one) stop at the cap with a 429 page and Retry-After, without
// calling the engine; other addresses, a visitor retrying in its own session
// and, once a sign-in finishes, the same address go on.
func TestSignInsPerIPAreCapped(t *testing.T) {
	front := &engineFront{}
	ta := newTestApp(t, appOptions{front: front, app: func(c *Config) {
		c.MaxSignInsPerIP = 3
		c.TrustedProxies = loopback
	}})
	ta.h.CreateUser(t, "capped@example.com", "+12015550172")
	ta.h.CreateUser(t, "finisher@example.com", "+12015550173")
	signIn := func(a *agent, login string) reply {
		t.Helper()
		return a.post(pathSignIn, url.Values{"username": {login}, "password": {enginetest.Password}})
	}
	expectStarted := func(r reply, who string) {
		t.Helper()
		if r.status != http.StatusSeeOther || r.location != pathSelect {
			t.Fatalf("%s: %d to %q, want a 303 to %s:\n%s", who, r.status, r.location, pathSelect, r.body)
		}
	}
	expectCapped := func(r reply, who string) {
		t.Helper()
		expectPage(t, r, http.StatusTooManyRequests, "Too many sign-ins from your network", "try again in")
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 30*60 {
			t.Errorf("%s: Retry-After %q, want seconds until a sign-in expires (at most 1800)", who, r.header.Get("Retry-After"))
		}
	}

	const ip = "198.51.100.10"
	first := ta.behind(t, ip)
	first.toCodePage("finisher@example.com", "sms")
	var same []*agent
	for i := range 2 {
		a := ta.behind(t, ip)
		expectStarted(signIn(a, "capped@example.com"), fmt.Sprintf("sign-in %d", i+2))
		same = append(same, a)
	}
	front.requests()
	late := ta.behind(t, "203.0.113.250, "+ip) // what the browser claims first is not believed
	expectCapped(signIn(late, "capped@example.com"), "the fourth sign-in")
	for _, r := range front.requests() {
		if r.what == "POST /oauth2/default/v1/interact" {
			t.Error("a sign-in refused by the cap still started a transaction at the engine")
		}
	}
	if n := ta.store.Len(); n != 3 {
		t.Errorf("%d sessions, want 3", n)
	}
	// A visitor already signing in may post the form again.
	expectStarted(signIn(same[0], "capped@example.com"), "a retry in an existing session")
	// Another address is not affected.
	expectStarted(signIn(ta.behind(t, "198.51.100.11"), "capped@example.com"), "another address")
	// A finished sign-in no longer counts: the late visitor gets in.
	first.expectRedirect(first.post(pathCode, url.Values{"code": {ta.h.LatestCode(t, "+12015550173")}}), "/")
	expectStarted(signIn(late, "capped@example.com"), "the fourth sign-in once one finished")

	// IPv6: one /64 is one client.
	for i := range 3 {
		expectStarted(signIn(ta.behind(t, fmt.Sprintf("2001:db8:5:6::%x", i+1)), "capped@example.com"), "IPv6 sign-in")
	}
	expectCapped(signIn(ta.behind(t, "2001:db8:5:6:ffff::9"), "capped@example.com"), "a fourth address in the same /64")
	expectStarted(signIn(ta.behind(t, "2001:db8:5:7::1"), "capped@example.com"), "the next /64")
}

// TestFullStoreEvictsSignInsInProgress: when the session store is full, a
// new visitor takes the place of the sign-in in progress unused longest;
// signed-in users stay signed in and nobody gets a 503.
func TestFullStoreEvictsSignInsInProgress(t *testing.T) {
	ta := newTestApp(t, appOptions{maxSessions: 3, app: func(c *Config) { c.MaxSignInsPerIP = -1 }})
	ta.h.CreateUser(t, "kept@example.com", "+12015550174")
	ta.h.CreateUser(t, "pending@example.com", "+12015550175")
	in := ta.agent(t)
	ta.signInToProfile(in, "kept@example.com", "+12015550174")

	start := func(a *agent) {
		t.Helper()
		a.expectRedirect(a.post(pathSignIn, url.Values{"username": {"pending@example.com"}, "password": {enginetest.Password}}), pathSelect)
	}
	older, newer, latest := ta.agent(t), ta.agent(t), ta.agent(t)
	start(older)
	start(newer)
	// The older sign-in is used again, so the newer one is now unused longest.
	expectPage(t, older.get(pathSelect), http.StatusOK, "Verify it&#39;s you")
	start(latest)
	if n := ta.store.Len(); n != 3 {
		t.Errorf("%d sessions, want the store's 3", n)
	}
	if r := newer.get(pathSelect); r.status != http.StatusSeeOther || r.location != pathSignIn {
		t.Errorf("the evicted sign-in: %d to %q, want back to sign in", r.status, r.location)
	}
	expectPage(t, older.get(pathSelect), http.StatusOK, "Verify it&#39;s you")
	expectPage(t, latest.get(pathSelect), http.StatusOK, "Verify it&#39;s you")
	expectPage(t, in.get("/"), http.StatusOK, "kept@example.com")
}

// TestClientIPReachesTheEngine: every request the app sends the engine on a
// browser's behalf — through a whole sign-in, the profile and sign-out —
// names that browser in X-Forwarded-For: the connection's address when the
// app is reached directly (a forged header is ignored), the last untrusted
// hop behind a trusted proxy.
func TestClientIPReachesTheEngine(t *testing.T) {
	cases := []struct {
		name    string
		trusted []netip.Prefix
		sent    string // X-Forwarded-For the browser (or proxy) sends the app
		want    string // what the engine must be told
	}{
		{"direct, forged header ignored", nil, "203.0.113.66", "127.0.0.1"},
		{"behind a trusted proxy", loopback, "192.0.2.200, 198.51.100.7", "198.51.100.7"},
		{"IPv6 behind a trusted proxy", loopback, "2001:db8::7", "2001:db8::7"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			front := &engineFront{}
			ta := newTestApp(t, appOptions{front: front, app: func(c *Config) { c.TrustedProxies = tc.trusted }})
			login, phone := fmt.Sprintf("xff%d@example.com", i), fmt.Sprintf("+1201555018%d", i)
			ta.h.CreateUser(t, login, phone)
			a := ta.behind(t, tc.sent)
			ta.signInToProfile(a, login, phone)
			expectPage(t, a.get("/"), http.StatusOK, login)
			a.expectRedirect(a.post("/logout", nil), pathSignIn)

			var what []string
			for _, r := range front.requests() {
				what = append(what, r.what)
				if !slices.Equal(r.forwardedFors, []string{tc.want}) {
					t.Errorf("%s reached the engine with X-Forwarded-For %q, want [%s]", r.what, r.forwardedFors, tc.want)
				}
			}
			for _, want := range []string{
				"GET /oauth2/default/.well-known/openid-configuration", "POST /oauth2/default/v1/interact",
				"POST /idp/idx/introspect", "POST /idp/idx/identify", "POST /idp/idx/challenge", "POST /idp/idx/challenge/answer",
				"POST /oauth2/default/v1/token", "GET /oauth2/default/v1/keys", "GET /oauth2/default/v1/userinfo", "POST /oauth2/default/v1/revoke",
			} {
				if !slices.Contains(what, want) {
					t.Errorf("no %s reached the engine; requests: %v", want, what)
				}
			}
		})
	}
}

// TestEngineWaitIsShown: when the engine answers 429, the page's Retry-After
// and its words give the engine's wait — Retry-After, else
// X-Rate-Limit-Reset — not a constant of the app's.
func TestEngineWaitIsShown(t *testing.T) {
	front := &engineFront{}
	ta := newTestApp(t, appOptions{front: front})
	ta.h.CreateUser(t, "waiting@example.com", "+12015550176")
	ta.h.CreateUser(t, "guessing@example.com", "+12015550177")

	t.Run("Retry-After on a code asked for too soon", func(t *testing.T) {
		a := ta.agent(t)
		a.toCodePage("waiting@example.com", "sms")
		front.set(func(resp *http.Response) {
			if resp.StatusCode == http.StatusTooManyRequests {
				resp.Header.Set("Retry-After", "17")
			}
		}, nil)
		defer front.set(nil, nil)
		r := a.post("/login/resend", nil)
		expectPage(t, r, http.StatusTooManyRequests, "Too many text messages were sent to this phone. You can ask for a new code in 17 seconds.", "Enter code")
		if got := r.header.Get("Retry-After"); got != "17" {
			t.Errorf("Retry-After %q, want the engine's 17", got)
		}
	})

	t.Run("X-Rate-Limit-Reset on too many passwords", func(t *testing.T) {
		front.set(func(resp *http.Response) {
			if resp.StatusCode != http.StatusTooManyRequests {
				return
			}
			date, err := http.ParseTime(resp.Header.Get("Date"))
			if err != nil {
				t.Errorf("the engine's 429 has no Date: %v", err)
				return
			}
			resp.Header.Del("Retry-After")
			resp.Header.Set("X-Rate-Limit-Limit", "10")
			resp.Header.Set("X-Rate-Limit-Remaining", "0")
			resp.Header.Set("X-Rate-Limit-Reset", strconv.FormatInt(date.Add(42*time.Second).Unix(), 10))
		}, nil)
		defer front.set(nil, nil)
		a := ta.agent(t)
		var r reply
		for range 12 {
			r = a.post(pathSignIn, url.Values{"username": {"guessing@example.com"}, "password": {"wrong-password"}})
			if r.status == http.StatusTooManyRequests {
				break
			}
		}
		expectPage(t, r, http.StatusTooManyRequests, "Too many sign-in attempts. Try again in 42 seconds.", `value="guessing@example.com"`)
		if got := r.header.Get("Retry-After"); got != "42" {
			t.Errorf("Retry-After %q, want 42", got)
		}
	})

	t.Run("interact refused", func(t *testing.T) {
		front.set(nil, func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != "/oauth2/default/v1/interact" {
				return false
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "9")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":"too_many_requests","error_description":"Too many sign-ins from this address."}`)
			return true
		})
		defer front.set(nil, nil)
		before := ta.store.Len()
		a := ta.agent(t)
		r := a.post(pathSignIn, url.Values{"username": {"waiting@example.com"}, "password": {enginetest.Password}})
		expectPage(t, r, http.StatusTooManyRequests, "Try again in 9 seconds.", `value="waiting@example.com"`, `name="csrf"`)
		if got := r.header.Get("Retry-After"); got != "9" {
			t.Errorf("Retry-After %q, want 9", got)
		}
		if n := ta.store.Len(); n != before {
			t.Errorf("a refused sign-in stored a session (%d, was %d)", n, before)
		}
	})
}

// TestSignOutStoresNothing: after signing out, the "signed out" notice comes
// from a signed cookie, not from a new server-side session; a planted notice
// cookie shows nothing.
func TestSignOutStoresNothing(t *testing.T) {
	ta := startApp(t, nil)
	ta.h.CreateUser(t, "leaving@example.com", "+12015550178")
	a := ta.agent(t)
	ta.signInToProfile(a, "leaving@example.com", "+12015550178")
	r := a.expectRedirect(a.post("/logout", nil), pathSignIn)
	expectPage(t, r, http.StatusOK, `role="status">You have signed out.`)
	if n := ta.store.Len(); n != 0 {
		t.Errorf("%d sessions after sign-out, want 0", n)
	}
	if a.cookie() != "" {
		t.Error("the session cookie outlived the sign-out")
	}
	refuteText(t, a.get(pathSignIn), "signed out")

	planted := ta.agent(t)
	u, _ := url.Parse(ta.url)
	payload := base64.RawURLEncoding.EncodeToString([]byte("info\nCall +1 900 555 0100 now"))
	planted.c.Jar.SetCookies(u, []*http.Cookie{{Name: "gatehouse_notice", Value: payload + "." + strings.Repeat("A", 43), Path: "/"}})
	r = planted.get(pathSignIn)
	expectPage(t, r, http.StatusOK, "Sign in")
	refuteText(t, r, "Call +1 900")
}

func TestClientIPResolution(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	cases := []struct {
		remote  string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"192.0.2.1:5000", nil, nil, "192.0.2.1"},
		{"192.0.2.1:5000", []string{"198.51.100.1"}, nil, "192.0.2.1"},     // no trusted proxies: the header is ignored
		{"192.0.2.1:5000", []string{"198.51.100.1"}, trusted, "192.0.2.1"}, // from an untrusted peer too
		{"10.1.2.3:5000", []string{"198.51.100.1"}, trusted, "198.51.100.1"},
		{"10.1.2.3:5000", []string{"203.0.113.9, 198.51.100.1, 10.9.9.9"}, trusted, "198.51.100.1"},
		{"10.1.2.3:5000", []string{"203.0.113.9", "198.51.100.1"}, trusted, "198.51.100.1"}, // several header lines
		{"10.1.2.3:5000", []string{"10.4.4.4, 10.5.5.5"}, trusted, "10.4.4.4"},              // all trusted: the leftmost
		{"10.1.2.3:5000", []string{"198.51.100.1, junk"}, trusted, "10.1.2.3"},              // garbage ends the walk
		{"10.1.2.3:5000", nil, trusted, "10.1.2.3"},
		{"[2001:db8:ffff::1]:443", []string{"2001:db8:1::5"}, trusted, "2001:db8:1::5"},
		{"[::ffff:10.1.2.3]:5000", []string{"::ffff:198.51.100.1"}, trusted, "198.51.100.1"},
		{"[fe80::1%eth0]:80", nil, nil, "fe80::1"},
		{"@", nil, nil, "invalid IP"},
	}
	for _, tc := range cases {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := clientIP(r, tc.trusted).String(); got != tc.want {
			t.Errorf("RemoteAddr %s, X-Forwarded-For %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
	for ip, want := range map[string]string{"192.0.2.7": "192.0.2.7", "2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r = r.WithContext(context.WithValue(r.Context(), clientCtxKey{}, netip.MustParseAddr(ip)))
		if got := clientOf(r); got != want {
			t.Errorf("clientOf(%s) = %q, want %q", ip, got, want)
		}
	}
}
