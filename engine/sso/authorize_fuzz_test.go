package sso_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzAuthorizeRequest sends /v1/authorize any query string and checks what must
// hold whatever it says: no 5xx, and a redirect only ever to a redirect URI
// registered for the client the request named (never an open redirector), always
// carrying iss.
func FuzzAuthorizeRequest(f *testing.F) {
	pkce := "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	for _, seed := range []string{
		webRequestQuery(pkce),
		webRequestQuery(pkce) + "&redirect_uri=https://evil.example/cb",
		"client_id=web&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code&scope=openid",
		"client_id=spa&redirect_uri=http%3A%2F%2F127.0.0.1%3A3001%2Fcb&response_type=token&scope=openid&state=%00",
		"client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Foidc%2Fcallback&response_type=code&scope=openid&prompt=none&max_age=x&response_mode=form_post",
		"%zz", "", "client_id=web&client_id=spa",
	} {
		f.Add(seed)
	}
	h := start(f, nil)
	registered := map[string]string{webID: webRedir, spaID: "http://127.0.0.1:3001/cb"}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	f.Fuzz(func(t *testing.T, query string) {
		if len(query) > 4096 {
			return
		}
		resp, err := noFollow.Get(h.Issuer + "/v1/authorize?" + query)
		if err != nil {
			return // not a URL the client will send
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("authorize ?%s: %d", query, resp.StatusCode)
		}
		loc := resp.Header.Get("Location")
		if loc == "" || strings.HasPrefix(loc, "/signin") {
			return
		}
		q, _ := url.ParseQuery(query)
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatalf("authorize ?%s: unreadable Location %q", query, loc)
		}
		target := u.Scheme + "://" + u.Host + u.Path
		if want, ok := registered[q.Get("client_id")]; !ok || target != want {
			t.Fatalf("authorize ?%s redirected to %s, not a redirect URI registered for client %q", query, loc, q.Get("client_id"))
		}
		if u.Query().Get("iss") != h.Issuer {
			t.Fatalf("authorize ?%s: the answer %s carries no iss", query, loc)
		}
	})
}

func webRequestQuery(challenge string) string {
	return url.Values{"client_id": {webID}, "redirect_uri": {webRedir}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode()
}
