package oauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

const (
	bob      = "bob@example.com"
	bobPhone = "+12015550124"

	confidentialID     = "resource-server"
	confidentialSecret = "s3cret-s3cret-s3cret-s3cret"
)

// onBothBackends runs test on SQLite and on PostgreSQL.
func onBothBackends(t *testing.T, test func(t *testing.T, o enginetest.Options)) {
	t.Run("sqlite", func(t *testing.T) { test(t, enginetest.Options{}) })
	t.Run("postgres", func(t *testing.T) { test(t, enginetest.Options{Database: enginetest.PostgresSchema(t)}) })
}

// startPasswordOnly starts an engine whose sign-ins need the password only, so
// that a test can sign one user in several times in a row (codes to one number are
// spaced out), with a confidential client besides the test app, as an API checking
// tokens would be.
func startPasswordOnly(t *testing.T, o enginetest.Options) *enginetest.Harness {
	o.Configure = func(c *config.Config) {
		c.SignOn.RequirePhone = false
		c.Clients = append(c.Clients, config.ClientDefaults(config.Client{ID: confidentialID, Secret: confidentialSecret, RedirectURIs: []string{enginetest.RedirectURI}}),
			config.ClientDefaults(config.Client{ID: "other-spa", RedirectURIs: []string{enginetest.RedirectURI}}))
	}
	return enginetest.Start(t, o)
}

// signIn signs login in with the password and returns the token response.
func signIn(t *testing.T, h *enginetest.Harness, login string) map[string]any {
	t.Helper()
	f := h.Interact(t)
	enginetest.Expect(t, "identify", http.StatusOK)(f.Identify(login, enginetest.Password))
	status, tokens := f.Redeem()
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
	return tokens
}

// tokenSet is the tokens of one token response.
type tokenSet struct{ access, refresh, id string }

func tokensOf(t *testing.T, m map[string]any) tokenSet {
	t.Helper()
	ts := tokenSet{}
	ts.access, _ = m["access_token"].(string)
	ts.refresh, _ = m["refresh_token"].(string)
	ts.id, _ = m["id_token"].(string)
	if ts.access == "" || ts.refresh == "" {
		t.Fatalf("a token response without an access and a refresh token: %v", m)
	}
	return ts
}

// introspect posts token to /v1/introspect with form (client credentials) and
// basic (user, password of HTTP Basic; empty: none).
func introspect(t *testing.T, h *enginetest.Harness, token string, form url.Values, basicUser, basicPass string) (int, map[string]any) {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if token != "" {
		form.Set("token", token)
	}
	req, _ := http.NewRequest(http.MethodPost, h.Issuer+"/v1/introspect", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(basicUser, basicPass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("introspection answered without Cache-Control: no-store")
	}
	return decodeBody(t, resp)
}

// introspectAsApp introspects as the test app (a public client, by its id).
func introspectAsApp(t *testing.T, h *enginetest.Harness, token string) map[string]any {
	t.Helper()
	status, body := introspect(t, h, token, url.Values{"client_id": {enginetest.ClientID}}, "", "")
	if status != http.StatusOK {
		t.Fatalf("introspect: %d %v", status, body)
	}
	return body
}

func userinfoStatus(t *testing.T, h *enginetest.Harness, access string) int {
	t.Helper()
	status, header, body := getJSON(t, h.Issuer+"/v1/userinfo", http.Header{"Authorization": {"Bearer " + access}})
	if status == http.StatusUnauthorized && (body["error"] != "invalid_token" || !strings.Contains(header.Get("WWW-Authenticate"), `error="invalid_token"`)) {
		t.Errorf("userinfo 401 is not invalid_token: %v %q", body, header.Get("WWW-Authenticate"))
	}
	return status
}

func refreshWith(t *testing.T, h *enginetest.Harness, rt string) (int, map[string]any) {
	t.Helper()
	return h.PostForm(t, h.Issuer+"/v1/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {enginetest.ClientID}, "refresh_token": {rt}})
}

// checkLive says whether ts's access token works at userinfo and, with its refresh
// token, is active at introspection, and fails the test if that is not want.
func checkLive(t *testing.T, h *enginetest.Harness, what string, ts tokenSet, want bool) {
	t.Helper()
	if got := introspectAsApp(t, h, ts.access); got["active"] != want {
		t.Errorf("%s: access token introspected as %v, want active %v", what, got, want)
	}
	wantStatus := map[bool]int{true: http.StatusOK, false: http.StatusUnauthorized}[want]
	if got := userinfoStatus(t, h, ts.access); got != wantStatus {
		t.Errorf("%s: userinfo answered %d, want %d", what, got, wantStatus)
	}
	if ts.refresh != "" {
		if got := introspectAsApp(t, h, ts.refresh); got["active"] != want {
			t.Errorf("%s: refresh token introspected as %v, want active %v", what, got, want)
		}
	}
}

func TestRefreshReuseRevokesTheFamilyWithItsAccessTokens(t *testing.T) {
	onBothBackends(t, func(t *testing.T, o enginetest.Options) {
		h := startPasswordOnly(t, o)
		h.CreateUser(t, alice, alicePhone)
		h.CreateUser(t, bob, bobPhone)
		first := tokensOf(t, signIn(t, h, alice))
		bystander := tokensOf(t, signIn(t, h, bob))
		status, body := refreshWith(t, h, first.refresh)
		if status != http.StatusOK {
			t.Fatalf("refresh: %d %v", status, body)
		}
		second := tokensOf(t, body)
		checkLive(t, h, "the rotated family before reuse", tokenSet{access: first.access}, true)
		checkLive(t, h, "the current tokens before reuse", second, true)
		if got := introspectAsApp(t, h, first.refresh); got["active"] != false {
			t.Errorf("a rotated-away refresh token introspected as %v", got)
		}

		// Both access tokens belong to the family, and say so.
		_, c1 := parseToken(t, h, first.access)
		_, c2 := parseToken(t, h, second.access)
		if c1["rfid"] == nil || c1["rfid"] != c2["rfid"] {
			t.Errorf("rfid of the first access token %v, of the refreshed one %v", c1["rfid"], c2["rfid"])
		}

		status, body = refreshWith(t, h, first.refresh) // reuse: one of two holders stole it
		if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("reuse: %d %v", status, body)
		}
		checkLive(t, h, "the first tokens after reuse", tokenSet{access: first.access}, false)
		checkLive(t, h, "the current tokens after reuse", second, false)
		if status, _ := refreshWith(t, h, second.refresh); status != http.StatusBadRequest {
			t.Errorf("the current refresh token after reuse: %d", status)
		}
		checkLive(t, h, "another user's tokens", bystander, true)

		again := tokensOf(t, signIn(t, h, alice))
		checkLive(t, h, "a new sign-in after reuse", again, true)
	})
}

func TestRevokingARefreshTokenRevokesItsAccessTokens(t *testing.T) {
	onBothBackends(t, func(t *testing.T, o enginetest.Options) {
		h := startPasswordOnly(t, o)
		h.CreateUser(t, alice, alicePhone)
		first := tokensOf(t, signIn(t, h, alice))
		other := tokensOf(t, signIn(t, h, alice)) // another sign-in, another family
		status, body := refreshWith(t, h, first.refresh)
		if status != http.StatusOK {
			t.Fatalf("refresh: %d %v", status, body)
		}
		second := tokensOf(t, body)

		status, _ = h.PostForm(t, h.Issuer+"/v1/revoke", url.Values{"client_id": {enginetest.ClientID}, "token": {second.refresh}, "token_type_hint": {"refresh_token"}})
		if status != http.StatusOK {
			t.Fatalf("revoke: %d", status)
		}
		checkLive(t, h, "the first access token of the revoked family", tokenSet{access: first.access}, false)
		checkLive(t, h, "the revoked family's current tokens", second, false)
		checkLive(t, h, "the same user's other sign-in", other, true)

		again := tokensOf(t, signIn(t, h, alice))
		checkLive(t, h, "a new sign-in after the revocation", again, true)
	})
}

// TestRevocationInTheSameSecond: iat has whole seconds; a revocation must kill a
// token issued earlier in its second and spare one issued later in it.
func TestRevocationInTheSameSecond(t *testing.T) {
	onBothBackends(t, func(t *testing.T, o enginetest.Options) {
		h := startPasswordOnly(t, o)
		user := h.CreateUser(t, alice, alicePhone)
		second := time.Now().Truncate(time.Second).Add(time.Minute)
		h.Clock.Freeze(second.Add(100 * time.Millisecond))
		before := tokensOf(t, signIn(t, h, alice))

		h.Clock.Advance(300 * time.Millisecond) // .400
		n, err := oauth.RevokeUserTokens(context.Background(), h.Store, user.ID, h.Clock.Now())
		if err != nil || n != 1 {
			t.Fatalf("RevokeUserTokens = %d, %v; want 1 refresh token", n, err)
		}
		h.Clock.Advance(300 * time.Millisecond) // .700
		after := tokensOf(t, signIn(t, h, alice))

		_, cb := parseToken(t, h, before.access)
		_, ca := parseToken(t, h, after.access)
		if cb["iat"] != ca["iat"] || cb["iat"] != float64(second.Unix()) {
			t.Fatalf("iat before %v, after %v; both should be %d", cb["iat"], ca["iat"], second.Unix())
		}
		checkLive(t, h, "tokens issued 300 ms before the revocation", before, false)
		checkLive(t, h, "tokens issued 300 ms after the revocation", after, true)
		if status, _ := refreshWith(t, h, before.refresh); status != http.StatusBadRequest {
			t.Errorf("refresh with a token issued before the revocation: %d", status)
		}
		status, body := refreshWith(t, h, after.refresh)
		if status != http.StatusOK {
			t.Fatalf("refresh with a token issued after the revocation: %d %v", status, body)
		}
		checkLive(t, h, "tokens refreshed after the revocation", tokensOf(t, body), true)
	})
}

// TestSessionBoundRefreshTokens: a refresh token of an SSO session passes the
// session on to the tokens it is exchanged for; revoking the session ends them.
func TestSessionBoundRefreshTokens(t *testing.T) {
	onBothBackends(t, func(t *testing.T, o enginetest.Options) {
		h := startPasswordOnly(t, o)
		user := h.CreateUser(t, alice, alicePhone)
		ctx := context.Background()
		now := h.Clock.Now()
		raw := opaque.New(32)
		if err := h.Store.CreateRefreshToken(ctx, store.RefreshToken{TokenHash: opaque.Hash(raw), FamilyID: "fam-sso", ClientID: enginetest.ClientID,
			UserID: user.ID, SessionID: "sess-1", Scopes: []string{"openid", "offline_access"}, AuthTime: now, AMR: []string{"pwd"},
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		status, body := refreshWith(t, h, raw)
		if status != http.StatusOK {
			t.Fatalf("refresh: %d %v", status, body)
		}
		ts := tokensOf(t, body)
		_, ac := parseToken(t, h, ts.access)
		_, ic := parseToken(t, h, ts.id)
		if ac["sid"] != "sess-1" || ic["sid"] != "sess-1" || ac["rfid"] != "fam-sso" {
			t.Errorf("access token sid %v rfid %v, ID token sid %v", ac["sid"], ac["rfid"], ic["sid"])
		}
		rt, err := h.Store.GetRefreshToken(ctx, opaque.Hash(ts.refresh))
		if err != nil || rt.SessionID != "sess-1" || rt.FamilyID != "fam-sso" {
			t.Errorf("rotated refresh token: %+v, %v", rt, err)
		}
		other := tokensOf(t, signIn(t, h, alice)) // a sign-in of its own starts its own session
		_, oc := parseToken(t, h, other.access)
		_, oic := parseToken(t, h, other.id)
		if sid, _ := oc["sid"].(string); sid == "" || sid == "sess-1" || oic["sid"] != sid {
			t.Errorf("another sign-in's access token sid %v, ID token sid %v: want its own session", oc["sid"], oic["sid"])
		}

		h.Clock.Advance(time.Millisecond)
		n, err := oauth.RevokeSessionTokens(ctx, h.Store, "sess-1", h.Clock.Now())
		if err != nil || n != 1 {
			t.Fatalf("RevokeSessionTokens = %d, %v", n, err)
		}
		checkLive(t, h, "the session's tokens", ts, false)
		checkLive(t, h, "the same user's tokens of another session", other, true)
	})
}

func TestIntrospection(t *testing.T) {
	onBothBackends(t, func(t *testing.T, o enginetest.Options) {
		h := startPasswordOnly(t, o)
		user := h.CreateUser(t, alice, alicePhone)
		ts := tokensOf(t, signIn(t, h, alice))

		status, _, d := getJSON(t, h.Issuer+"/.well-known/openid-configuration", nil)
		if status != http.StatusOK || d["introspection_endpoint"] != h.Issuer+"/v1/introspect" {
			t.Errorf("discovery introspection_endpoint = %v", d["introspection_endpoint"])
		}

		_, claims := parseToken(t, h, ts.access)
		got := introspectAsApp(t, h, ts.access)
		want := map[string]any{
			"active": true, "token_type": "Bearer", "scope": "openid profile email phone offline_access",
			"client_id": enginetest.ClientID, "username": alice, "exp": claims["exp"], "iat": claims["iat"],
			"sub": user.ID, "aud": h.Issuer, "iss": h.Issuer, "jti": claims["jti"], "uid": user.ID,
		}
		checkMembers(t, "access token", got, want)

		got = introspectAsApp(t, h, ts.refresh)
		if exp, ok := got["exp"].(float64); !ok || exp <= claims["exp"].(float64) {
			t.Errorf("refresh token exp %v, not after the access token's %v", got["exp"], claims["exp"])
		}
		if iat, ok := got["iat"].(float64); !ok || iat < claims["iat"].(float64)-1 || iat > claims["iat"].(float64) {
			t.Errorf("refresh token iat %v, access token iat %v", got["iat"], claims["iat"])
		}
		checkMembers(t, "refresh token", got, map[string]any{
			"active": true, "token_type": "refresh_token", "scope": "openid profile email phone offline_access",
			"client_id": enginetest.ClientID, "username": alice, "exp": got["exp"], "iat": got["iat"],
			"sub": user.ID, "aud": h.Issuer, "iss": h.Issuer, "uid": user.ID,
		})

		// The hint does not change the answer, whichever it names.
		for _, hint := range []string{"refresh_token", "access_token", "id_token", "nonsense"} {
			status, body := introspect(t, h, ts.access, url.Values{"client_id": {enginetest.ClientID}, "token_type_hint": {hint}}, "", "")
			if status != http.StatusOK || body["active"] != true {
				t.Errorf("access token with hint %q: %d %v", hint, status, body)
			}
		}

		// A confidential client (an API) may check the access tokens callers bring
		// it, but not another client's refresh token.
		status, body := introspect(t, h, ts.access, nil, confidentialID, confidentialSecret)
		if status != http.StatusOK || body["active"] != true || body["client_id"] != enginetest.ClientID {
			t.Errorf("access token introspected by a confidential client: %d %v", status, body)
		}
		status, body = introspect(t, h, ts.refresh, url.Values{"client_id": {confidentialID}, "client_secret": {confidentialSecret}}, "", "")
		checkInactive(t, "another client's refresh token, by a confidential client", status, body)

		// Inactive, not errors (RFC 7662 2.2): garbage, an ID token, a forged token,
		// an overlong one.
		forged := strings.Split(ts.access, ".")
		forged[1] = base64.RawURLEncoding.EncodeToString([]byte(`{"ver":1,"jti":"AT.x","iss":"` + h.Issuer + `","aud":"` + h.Issuer + `","uid":"` + user.ID + `","exp":9999999999}`))
		for what, token := range map[string]string{
			"garbage": "not-a-token", "a JWT-shaped garbage": "a.b.c", "an ID token": ts.id,
			"a forged access token": strings.Join(forged, "."), "an overlong token": strings.Repeat("x", 5000),
			"an overlong JWT": strings.Repeat("x", 9000) + ".y.z",
		} {
			status, body := introspect(t, h, token, url.Values{"client_id": {enginetest.ClientID}}, "", "")
			checkInactive(t, what, status, body)
		}

		// Errors: no token, no client, a wrong secret, an unknown client, a public
		// client sending a secret.
		for _, c := range []struct {
			what       string
			token      string
			form       url.Values
			user, pass string
			status     int
			code       string
		}{
			{"no token", "", url.Values{"client_id": {enginetest.ClientID}}, "", "", 400, "invalid_request"},
			{"no client authentication", ts.access, nil, "", "", 401, "invalid_client"},
			{"a wrong secret", ts.access, nil, confidentialID, "wrong-secret", 401, "invalid_client"},
			{"a wrong secret in the form", ts.access, url.Values{"client_id": {confidentialID}, "client_secret": {"wrong"}}, "", "", 401, "invalid_client"},
			{"a confidential client without its secret", ts.access, url.Values{"client_id": {confidentialID}}, "", "", 401, "invalid_client"},
			{"an unknown client", ts.access, url.Values{"client_id": {"nobody"}}, "", "", 401, "invalid_client"},
			{"a public client with a secret", ts.access, url.Values{"client_id": {enginetest.ClientID}, "client_secret": {"x"}}, "", "", 401, "invalid_client"},
		} {
			status, body := introspect(t, h, c.token, c.form, c.user, c.pass)
			if status != c.status || body["error"] != c.code || body["error_description"] == nil {
				t.Errorf("%s: %d %v, want %d %s", c.what, status, body, c.status, c.code)
			}
		}
		resp, err := http.Get(h.Issuer + "/v1/introspect?token=" + url.QueryEscape(ts.access))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET /v1/introspect: %d", resp.StatusCode)
		}

		// Expired: an hour later the access token is inactive, the refresh token not.
		h.Clock.Advance(h.Config.Clients[0].AccessTokenTTL)
		if got := introspectAsApp(t, h, ts.access); got["active"] != false {
			t.Errorf("an expired access token introspected as %v", got)
		}
		if got := introspectAsApp(t, h, ts.refresh); got["active"] != true {
			t.Errorf("an unexpired refresh token introspected as %v", got)
		}
		h.Clock.Advance(h.Config.Clients[0].RefreshTokenTTL)
		if got := introspectAsApp(t, h, ts.refresh); got["active"] != false {
			t.Errorf("an expired refresh token introspected as %v", got)
		}
	})
}

// TestPublicClientIntrospectsOnlyItsOwnTokens: a public client learns nothing of
// another client's tokens.
func TestPublicClientIntrospectsOnlyItsOwnTokens(t *testing.T) {
	h := startPasswordOnly(t, enginetest.Options{})
	h.CreateUser(t, alice, alicePhone)
	ts := tokensOf(t, signIn(t, h, alice))
	for what, token := range map[string]string{"access token": ts.access, "refresh token": ts.refresh} {
		status, body := introspect(t, h, token, url.Values{"client_id": {"other-spa"}}, "", "")
		checkInactive(t, "another public client's "+what, status, body)
		status, body = introspect(t, h, token, nil, "other-spa", "")
		checkInactive(t, "another public client's "+what+" (Basic)", status, body)
	}
}

// TestDisabledAndDeletedUsersTokensAreInactive: the user check alone, without a
// revocation, already ends their tokens.
func TestDisabledAndDeletedUsersTokensAreInactive(t *testing.T) {
	h := startPasswordOnly(t, enginetest.Options{})
	ctx := context.Background()
	a := h.CreateUser(t, alice, alicePhone)
	b := h.CreateUser(t, bob, bobPhone)
	ta := tokensOf(t, signIn(t, h, alice))
	tb := tokensOf(t, signIn(t, h, bob))
	if _, err := h.Store.UpdateUser(ctx, a.ID, func(u store.User) (store.User, error) { u.Disabled = true; return u, nil }); err != nil {
		t.Fatal(err)
	}
	checkLive(t, h, "a disabled user's tokens", ta, false)
	if _, err := h.Store.UpdateUser(ctx, a.ID, func(u store.User) (store.User, error) { u.Disabled = false; return u, nil }); err != nil {
		t.Fatal(err)
	}
	checkLive(t, h, "a re-enabled user's tokens (never revoked)", ta, true)
	if err := h.Store.DeleteUser(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	checkLive(t, h, "a deleted user's access token", tokenSet{access: tb.access}, false)
	if got := introspectAsApp(t, h, tb.refresh); got["active"] != false {
		t.Errorf("a deleted user's refresh token introspected as %v", got)
	}
}

func checkInactive(t *testing.T, what string, status int, body map[string]any) {
	t.Helper()
	if status != http.StatusOK || body["active"] != false || len(body) != 1 {
		t.Errorf("%s: %d %v, want 200 {\"active\":false}", what, status, body)
	}
}

func checkMembers(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %v, want %v", what, k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected member %s = %v", what, k, got[k])
		}
	}
}

func decodeBody(t *testing.T, resp *http.Response) (int, map[string]any) {
	t.Helper()
	var m map[string]any
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%d: not JSON: %q", resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, m
}
