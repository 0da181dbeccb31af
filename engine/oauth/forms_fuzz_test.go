package oauth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine"
	"github.com/gatehouse-id/gatehouse/engine/authn/password"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// FuzzOAuthRequest complements FuzzFormEndpoints (fuzz_test.go), which posts
// arbitrary forms over HTTP with nothing valid to find. This one drives the
// engine's handler in-process and gives the fuzzer live credentials to get
// right or nearly right, so the grants' success paths and their near misses are
// explored: placeholders stand for a live interaction code of the public client
// (@CODE) and of a confidential one (@CCODE), a live refresh token (@RT) and a
// live access token (@AT); the PKCE verifier and the confidential client's secret
// are fixed. It also fuzzes the Authorization header (client authentication) and
// the Content-Type. It checks:
//
//   - never a 5xx;
//
//   - every 4xx is an OAuth error with both members (a per-address 429 may use
//     Okta's E0000047 body instead, as it does for every endpoint), and an
//     invalid_client 401 carries a WWW-Authenticate challenge;
//
//   - a token response is complete (Bearer, an access token, expires_in, scope,
//     an ID token when openid was granted; no-store), and is only issued for the
//     live code with its verifier, or the live refresh token, given exactly;
//
//   - revocation succeeds with an empty body; interact returns a handle;
//
//   - one input in four (by hash) is sent again against the same state and must
//     get the same status and error.
//
//     go test -run '^$' -fuzz '^FuzzOAuthRequest$' -fuzztime 1m ./engine/oauth/
func FuzzOAuthRequest(f *testing.F) {
	o := fzStartOAuth(f)
	fzAddOAuthSeeds(f)
	f.Fuzz(func(t *testing.T, which uint8, contentType, authorization, query, body string) {
		if !fzHeaderValue(contentType) || !fzHeaderValue(authorization) {
			return
		}
		for _, c := range []byte(query) {
			if c <= ' ' || c >= 0x7f || c == '#' {
				return // not a request target a client can send
			}
		}
		path := fzOAuthPaths[int(which)%len(fzOAuthPaths)]
		first := o.exec(t, path, contentType, authorization, query, body)
		if fzReplayInput(path, contentType, authorization, query, body) {
			if second := o.exec(t, path, contentType, authorization, query, body); second != first {
				t.Fatalf("%s answered differently to the same input:\n  %s\n  %s", path, first, second)
			}
		}
	})
}

var fzOAuthPaths = []string{"/oauth2/default/v1/interact", "/oauth2/default/v1/token", "/oauth2/default/v1/revoke"}

const (
	fzOrigin         = "http://gatehouse.test"
	fzConfidential   = "fuzz-confidential"
	fzSecret         = "fuzz-secret-0123456789abcdef"
	fzVerifier       = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	fzPhCode         = "@CODE"
	fzPhConfCode     = "@CCODE"
	fzPhRefreshToken = "@RT"
	fzPhAccessToken  = "@AT"
)

var fzScopes = []string{"openid", "profile", "email", "phone", "offline_access"}

// fzClock stands still within a request and moves 10 ms on before the next: codes
// and tokens stay valid for many requests, windows of rate limits still end.
type fzClock struct{ ns atomic.Int64 }

func (c *fzClock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// fzOAuth is an engine with a user and live credentials, replaced when used up.
type fzOAuth struct {
	handler  http.Handler
	store    store.Store
	clock    *fzClock
	user     store.User
	requests int64
	mints    int64 // access tokens minted

	code, confCode string // live interaction codes of the public and confidential client
	codesExpire    time.Time
	refreshToken   string
	refreshExpires time.Time
	accessToken    string
	accessJTI      string
	accessExpires  time.Time
}

func fzStartOAuth(f *testing.F) *fzOAuth {
	f.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir, err := os.MkdirTemp("/dev/shm", "gatehouse-fuzz-")
	if err != nil {
		dir = f.TempDir()
	} else {
		f.Cleanup(func() { os.RemoveAll(dir) })
	}
	cfg := enginetest.Config(fzOrigin, dir)
	cfg.Clients[0].AccessTokenTTL = 24 * time.Hour
	cfg.Clients = append(cfg.Clients, config.ClientDefaults(config.Client{
		ID: fzConfidential, Secret: fzSecret, RedirectURIs: []string{enginetest.RedirectURI},
		Grants: []string{config.GrantInteractionCode, config.GrantRefreshToken}, Scopes: fzScopes,
		AccessTokenTTL: 24 * time.Hour,
	}))
	if err := cfg.Validate(); err != nil {
		f.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "gatehouse.db"))
	if err != nil {
		f.Fatal(err)
	}
	o := &fzOAuth{store: st, clock: &fzClock{}}
	o.clock.ns.Store(time.Now().Truncate(time.Millisecond).UnixNano())
	// A 1024-bit signing key, stored before the engine starts so that it signs
	// with it: minting tokens is then several times cheaper, and nothing checked
	// here depends on the key size.
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		f.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		f.Fatal(err)
	}
	if err := st.CreateSigningKey(ctx, store.SigningKey{ID: "fuzz-rs256-1024", Algorithm: "RS256", PrivateKey: der, CreatedAt: o.clock.Now()}); err != nil {
		f.Fatal(err)
	}
	cheap := password.CheapParams
	eng, err := engine.New(ctx, cfg, engine.Deps{Store: st, Now: o.clock.Now, DevOut: io.Discard,
		Log: slog.New(slog.DiscardHandler), HashParams: &cheap})
	if err != nil {
		f.Fatal(err)
	}
	o.handler = eng.Handler()
	f.Cleanup(func() { cancel(); st.Close() }) // background work is not started; exec collects garbage
	now := o.clock.Now()
	o.user = store.User{ID: opaque.ID("00u"), Login: "alice@example.com", Email: "alice@example.com", GivenName: "Alice", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateUser(ctx, o.user); err != nil {
		f.Fatal(err)
	}
	if err := st.CreatePhoneEnrollment(ctx, store.PhoneEnrollment{ID: opaque.ID("sms"), UserID: o.user.ID, Number: "+12015550123", SMS: true, Voice: true, CreatedAt: now}); err != nil {
		f.Fatal(err)
	}
	o.refresh(f)
	// The live credentials work as given.
	for _, form := range []string{
		"grant_type=interaction_code&client_id=" + enginetest.ClientID + "&interaction_code=" + o.code + "&code_verifier=" + fzVerifier,
		"grant_type=interaction_code&client_id=" + fzConfidential + "&client_secret=" + fzSecret + "&interaction_code=" + o.confCode + "&code_verifier=" + fzVerifier,
		"grant_type=refresh_token&client_id=" + enginetest.ClientID + "&refresh_token=" + o.refreshToken,
	} {
		if status, _, raw := fzSend(o.handler, fzOAuthPaths[1], "application/x-www-form-urlencoded", "", "", form, 1); status != http.StatusOK {
			f.Fatalf("%s: %d %s", form, status, raw)
		}
		o.code, o.confCode, o.refreshToken = "", "", ""
		o.refresh(f)
	}
	return o
}

// refresh replaces what is used up or about to expire.
func (o *fzOAuth) refresh(t testing.TB) {
	ctx := context.Background()
	now := o.clock.Now()
	if o.code == "" || o.confCode == "" || now.After(o.codesExpire.Add(-time.Minute)) {
		o.codesExpire = now.Add(time.Hour)
		for _, c := range []struct {
			code   *string
			client string
		}{{&o.code, enginetest.ClientID}, {&o.confCode, fzConfidential}} {
			*c.code = opaque.New(32)
			sum := sha256.Sum256([]byte(fzVerifier))
			ic := store.InteractionCode{CodeHash: opaque.Hash(*c.code), TransactionID: opaque.ID("ftx"), ClientID: c.client,
				RedirectURI: enginetest.RedirectURI, CodeChallenge: base64.RawURLEncoding.EncodeToString(sum[:]), UserID: o.user.ID,
				Scopes: fzScopes, Nonce: "n-456", AuthTime: now, AMR: []string{"pwd", "sms", "mfa"}, CreatedAt: now, ExpiresAt: o.codesExpire}
			if err := o.store.CreateInteractionCode(ctx, ic); err != nil {
				t.Fatal(err)
			}
		}
	}
	if o.refreshToken == "" || now.After(o.refreshExpires.Add(-time.Minute)) {
		o.refreshToken, o.refreshExpires = o.newRefreshToken(t, now)
	}
	if o.accessToken == "" || now.After(o.accessExpires.Add(-time.Minute)) {
		// Access tokens are signed by the engine: one comes from redeeming a
		// refresh token made for the purpose.
		rt, _ := o.newRefreshToken(t, now)
		o.mints++ // from an address of its own, which no fuzz input's rate limit touches
		status, _, raw := fzSend(o.handler, fzOAuthPaths[1], "application/x-www-form-urlencoded", "", "",
			"grant_type=refresh_token&client_id="+enginetest.ClientID+"&refresh_token="+rt, -o.mints)
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		if status != http.StatusOK || json.Unmarshal(raw, &tr) != nil {
			t.Fatalf("minting an access token: %d %s", status, raw)
		}
		var claims struct {
			JTI string `json:"jti"`
			Exp int64  `json:"exp"`
		}
		parts := strings.Split(tr.AccessToken, ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[min(1, len(parts)-1)])
		if err != nil || json.Unmarshal(payload, &claims) != nil {
			t.Fatalf("an access token without readable claims: %s", tr.AccessToken)
		}
		o.accessToken, o.accessJTI, o.accessExpires = tr.AccessToken, claims.JTI, time.Unix(claims.Exp, 0)
	}
}

func (o *fzOAuth) newRefreshToken(t testing.TB, now time.Time) (string, time.Time) {
	raw := opaque.New(32)
	exp := now.Add(time.Hour)
	rt := store.RefreshToken{TokenHash: opaque.Hash(raw), FamilyID: opaque.New(16), ClientID: enginetest.ClientID, UserID: o.user.ID,
		Scopes: fzScopes, AuthTime: now, AMR: []string{"pwd", "sms", "mfa"}, CreatedAt: now, ExpiresAt: exp}
	if err := o.store.CreateRefreshToken(context.Background(), rt); err != nil {
		t.Fatal(err)
	}
	return raw, exp
}

// fzSend sends one request to the handler in-process, from a client address that
// changes with n, so that per-address limits do not end up answering everything
// (negative n: the harness's own requests, from addresses of their own).
func fzSend(h http.Handler, path, contentType, authorization, query, body string, n int64) (int, http.Header, []byte) {
	target := path
	if query != "" {
		target += "?" + query
	}
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:40000", byte(n>>16), byte(n>>8), byte(n))
	if n < 0 {
		req.RemoteAddr = fmt.Sprintf("192.168.%d.%d:40000", byte(-n>>8), byte(-n))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Header(), rec.Body.Bytes()
}

// fzHeaderValue reports whether s can travel as an HTTP header value.
func fzHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// fzReplayInput picks the inputs sent twice: one in four, by hash.
func fzReplayInput(parts ...string) bool {
	h := fnv.New32a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum32()%4 == 0
}

var fzHandlePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// exec sends one request with the live credentials filled in, checks the answer,
// replaces what it used up, and returns what an identical request must repeat.
func (o *fzOAuth) exec(t *testing.T, path, contentType, authorization, query, body string) string {
	o.requests++
	n := o.requests
	now := time.Unix(0, o.clock.ns.Add(int64(10*time.Millisecond)))
	if n%2048 == 0 {
		if _, err := o.store.GarbageCollect(context.Background(), now); err != nil {
			t.Fatal(err)
		}
	}
	o.refresh(t)
	r := strings.NewReplacer(fzPhConfCode, o.confCode, fzPhCode, o.code, fzPhRefreshToken, o.refreshToken, fzPhAccessToken, o.accessToken)
	authorization, query, body = r.Replace(authorization), r.Replace(query), r.Replace(body)
	status, header, raw := fzSend(o.handler, path, contentType, authorization, query, body, n)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s?%.300s Content-Type %q Authorization %.300q body %.400q (%d bytes): answered %d %.400s\n%s",
			path, query, contentType, authorization, body, len(body), status, raw, fmt.Sprintf(format, args...))
	}
	// The parameters as the handler read them.
	probe := httptest.NewRequest(http.MethodPost, path+"?"+query, strings.NewReader(body))
	if contentType != "" {
		probe.Header.Set("Content-Type", contentType)
	}
	_ = probe.ParseForm()
	form := probe.Form

	if status >= 500 {
		fail("a server error")
	}
	var resp map[string]any
	if status >= 400 {
		if ct := header.Get("Content-Type"); ct != "application/json" {
			fail("an error labelled %q", ct)
		}
		if err := json.Unmarshal(raw, &resp); err != nil {
			fail("an error that is not a JSON object")
		}
		e, _ := resp["error"].(string)
		d, _ := resp["error_description"].(string)
		if status == http.StatusTooManyRequests && resp["errorCode"] == "E0000047" {
			return "429 E0000047"
		}
		if e == "" || d == "" || len(resp) != 2 {
			fail("not an OAuth error with both members")
		}
		if e == "invalid_client" && status == http.StatusUnauthorized && header.Get("WWW-Authenticate") == "" {
			fail("invalid_client without a WWW-Authenticate challenge")
		}
		o.settle(t, path, authorization+query+body, form, status)
		return fmt.Sprintf("%d %s %s", status, e, d)
	}
	switch path {
	case fzOAuthPaths[0]: // interact
		var ih struct {
			Handle string `json:"interaction_handle"`
		}
		if json.Unmarshal(raw, &ih) != nil || !fzHandlePattern.MatchString(ih.Handle) {
			fail("no interaction handle")
		}
		ctx := context.Background()
		if tx, err := o.store.GetTransactionByInteractionHandle(ctx, opaque.Hash(ih.Handle)); err == nil {
			_ = o.store.DeleteTransaction(ctx, tx.ID) // keeps the store, and the count of open sign-ins, small
		}
	case fzOAuthPaths[1]: // token
		var tr struct {
			TokenType    string `json:"token_type"`
			ExpiresIn    int    `json:"expires_in"`
			AccessToken  string `json:"access_token"`
			Scope        string `json:"scope"`
			IDToken      string `json:"id_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if json.Unmarshal(raw, &tr) != nil || tr.TokenType != "Bearer" || tr.AccessToken == "" || tr.ExpiresIn <= 0 || tr.Scope == "" {
			fail("an incomplete token response")
		}
		if slices.Contains(strings.Fields(tr.Scope), "openid") && tr.IDToken == "" {
			fail("openid granted without an ID token")
		}
		if header.Get("Cache-Control") != "no-store" {
			fail("tokens without Cache-Control: no-store")
		}
		switch form.Get("grant_type") {
		case config.GrantInteractionCode:
			if c := form.Get("interaction_code"); (c != o.code && c != o.confCode) || form.Get("code_verifier") != fzVerifier {
				fail("tokens for an interaction code or verifier that is not the live one")
			}
		case config.GrantRefreshToken:
			if form.Get("refresh_token") != o.refreshToken {
				fail("tokens for a refresh token that is not the live one")
			}
		default:
			fail("tokens for grant_type %q", form.Get("grant_type"))
		}
	case fzOAuthPaths[2]: // revoke
		if len(raw) != 0 {
			fail("revocation answered with a body")
		}
	}
	o.settle(t, path, authorization+query+body, form, status)
	if status < 300 {
		// The answer's members, not their values (new tokens each time).
		_ = json.Unmarshal(raw, &resp)
		keys := make([]string, 0, len(resp))
		for k := range resp {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return fmt.Sprintf("%d %v", status, keys)
	}
	return fmt.Sprint(status)
}

// settle forgets the live credentials the request used up.
func (o *fzOAuth) settle(t *testing.T, path, sent string, form url.Values, status int) {
	ctx := context.Background()
	if path == fzOAuthPaths[1] && status == http.StatusOK && form.Get("grant_type") == config.GrantInteractionCode {
		switch form.Get("interaction_code") {
		case o.code:
			o.code = ""
		case o.confCode:
			o.confCode = ""
		}
	}
	if path == fzOAuthPaths[0] {
		return
	}
	if strings.Contains(sent, o.refreshToken) {
		rt, err := o.store.GetRefreshToken(ctx, opaque.Hash(o.refreshToken))
		if err != nil || !rt.UsedAt.IsZero() || !rt.RevokedAt.IsZero() {
			o.refreshToken = ""
		}
	}
	if strings.Contains(sent, o.accessToken) {
		if revoked, err := o.store.AccessTokenRevoked(ctx, store.AccessTokenRef{JTI: o.accessJTI}); err != nil || revoked {
			o.accessToken = ""
		}
	}
}

// fzAddOAuthSeeds adds hand-written requests for every branch (the requests the
// README of idx/testdata/fixtures describes for its recorded OAuth answers among
// them), and the tokens of those answers presented as credentials.
func fzAddOAuthSeeds(f *testing.F) {
	form := "application/x-www-form-urlencoded"
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	challenge := func() string {
		sum := sha256.Sum256([]byte(fzVerifier))
		return base64.RawURLEncoding.EncodeToString(sum[:])
	}()
	interact := url.Values{"client_id": {enginetest.ClientID}, "redirect_uri": {enginetest.RedirectURI}, "scope": {strings.Join(fzScopes, " ")},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"st-123"}, "nonce": {"n-456"}}.Encode()
	redeem := "grant_type=interaction_code&client_id=" + enginetest.ClientID + "&interaction_code=" + fzPhCode + "&code_verifier=" + fzVerifier + "&redirect_uri=" + url.QueryEscape(enginetest.RedirectURI)
	seeds := []struct {
		which                    uint8
		ctype, auth, query, body string
	}{
		{0, form, "", "", interact},
		{0, form, basic(fzConfidential, fzSecret), "", strings.Replace(interact, enginetest.ClientID, fzConfidential, 1)},
		{0, form, "", "", interact + "&client_secret=x"},
		{0, form, "", "", strings.Replace(interact, "S256", "plain", 1)},
		{0, form, "", "", strings.Replace(interact, "offline_access", "admin", 1)},
		{0, form, "", "", interact + "&activation_token=x"},
		{0, "application/json", "", "", `{"client_id":"test-app"}`},
		{0, form, "", interact, ""},
		{1, form, "", "", redeem},
		{1, form, "", redeem, ""}, // the Go IDX SDK sends token parameters in the query
		{1, form, "", "", strings.Replace(redeem, fzVerifier, fzVerifier[:42]+"X", 1)},
		{1, form, "", "", strings.Replace(redeem, fzPhCode, fzPhCode+"x", 1)},
		{1, form, "", "", strings.Replace(redeem, fzPhCode, fzPhConfCode, 1)},
		{1, form, basic(fzConfidential, fzSecret), "", "grant_type=interaction_code&interaction_code=" + fzPhConfCode + "&code_verifier=" + fzVerifier},
		{1, form, basic(fzConfidential, "wrong"), "", "grant_type=interaction_code&interaction_code=" + fzPhConfCode + "&code_verifier=" + fzVerifier},
		{1, form, "", "", "grant_type=interaction_code&client_id=" + fzConfidential + "&client_secret=" + fzSecret + "&interaction_code=" + fzPhConfCode + "&code_verifier=" + fzVerifier},
		{1, form, basic(enginetest.ClientID, ""), "", "grant_type=refresh_token&refresh_token=" + fzPhRefreshToken + "&scope=openid%20phone"},
		{1, form, "Basic " + enginetest.ClientID, "", "grant_type=refresh_token&refresh_token=" + fzPhRefreshToken},
		{1, form, "", "", "grant_type=refresh_token&client_id=" + enginetest.ClientID + "&refresh_token=" + fzPhRefreshToken + "&scope=openid%20admin"},
		{1, form, "", "", "grant_type=password&client_id=" + enginetest.ClientID + "&username=a&password=b"},
		{1, form, "", "client_id=a", "client_id=b"},
		{1, form + "; charset=utf-8", "Basic %%%", "", "grant_type=refresh_token"},
		{1, "multipart/form-data; boundary=x", "", "", "--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nrefresh_token\r\n--x--\r\n"},
		{1, form, "", "", strings.Repeat("a=b&", 5000)},
		{2, form, "", "", "token=" + fzPhAccessToken + "&token_type_hint=access_token&client_id=" + enginetest.ClientID},
		{2, form, "", "", "token=" + fzPhRefreshToken + "&token_type_hint=refresh_token"},
		{2, form, basic(fzConfidential, fzSecret), "", "token=" + fzPhRefreshToken},
		{2, form, "", "", "token=a.b.c"},
		{2, form, "", "", "token="},
		{2, form, "Bearer " + fzPhAccessToken, "", "token=" + fzPhAccessToken},
	}
	for _, s := range seeds {
		f.Add(s.which, s.ctype, s.auth, s.query, s.body)
	}
	// Tokens and handles from the recorded responses: another issuer's, so they
	// must be refused wherever they are presented.
	for _, tok := range fzFixtureTokens(f) {
		f.Add(uint8(1), form, "", "", "grant_type=interaction_code&client_id="+enginetest.ClientID+"&interaction_code="+tok+"&code_verifier="+fzVerifier)
		f.Add(uint8(1), form, "", "", "grant_type=refresh_token&client_id="+enginetest.ClientID+"&refresh_token="+tok)
		f.Add(uint8(2), form, "", "", "token="+tok)
	}
}

// fzFixtureTokens are the tokens and handles in the recorded OAuth responses of
// idx/testdata/fixtures.
func fzFixtureTokens(f *testing.F) []string {
	paths, _ := filepath.Glob(filepath.Join("..", "..", "idx", "testdata", "fixtures", "oauth-*.json"))
	if len(paths) == 0 {
		f.Fatal("no OAuth fixtures under idx/testdata/fixtures")
	}
	var out []string
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var doc map[string]any
		if json.Unmarshal(data, &doc) != nil {
			continue
		}
		for _, k := range []string{"access_token", "id_token", "refresh_token", "interaction_handle"} {
			if v, ok := doc[k].(string); ok {
				out = append(out, v)
			}
		}
	}
	return out
}
