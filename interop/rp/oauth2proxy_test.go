//go:build unix

package rp

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// TestOAuth2Proxy puts oauth2-proxy v7 (built from the version interop/rp/go.mod
// pins) with its generic OIDC provider in front of a tiny upstream, as a
// confidential client of a real engine, with PKCE (S256) and its nonce check on.
// Chromium opens a protected page, clicks the proxy's sign-in button, signs in on
// the engine's hosted pages, and lands on the upstream page, which shows the
// X-Forwarded-Email and X-Forwarded-User the proxy passed.
func TestOAuth2Proxy(t *testing.T) {
	skipShort(t, true)
	gatehouseBin(t)
	bin := oauth2ProxyBin(t)
	ctx := testContext(t)
	b := newBrowser(t)

	// The upstream: shows the identity headers the proxy sends.
	var mu sync.Mutex
	var seen []http.Header
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		writePage(w, fmt.Sprintf(`<h1 id="protected">The protected page</h1><p>Email: <span id="email">%s</span></p><p>User: <span id="user">%s</span></p>`,
			html.EscapeString(r.Header.Get("X-Forwarded-Email")), html.EscapeString(r.Header.Get("X-Forwarded-User"))))
	}))
	defer upstream.Close()

	addr := testenv.FreeAddr(t)
	proxy := "http://" + addr
	const clientID, secret = "oauth2-proxy", "oauth2-proxy-secret-0123456789"
	e := startEngine(t, ctx, rpClient{id: clientID, secret: secret, redirectURI: proxy + "/oauth2/callback"})

	cookieSecret := make([]byte, 32)
	_, _ = rand.Read(cookieSecret)
	logs := &testenv.SyncBuffer{}
	cmd := exec.Command(bin,
		"--provider=oidc",
		"--oidc-issuer-url="+e.issuer,
		"--client-id="+clientID,
		"--client-secret="+secret,
		"--code-challenge-method=S256",
		"--insecure-oidc-skip-nonce=false",
		// The engine says email_verified false: addresses are set by operators.
		"--insecure-oidc-allow-unverified-email",
		"--cookie-secret="+base64.URLEncoding.EncodeToString(cookieSecret),
		"--cookie-secure=false",
		"--upstream="+upstream.URL+"/",
		"--http-address="+addr,
		"--redirect-url="+proxy+"/oauth2/callback",
		"--email-domain=*",
	)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("oauth2-proxy logs:\n%s", logs.String())
		}
	})
	waitReady(t, ctx, proxy+"/ping", "oauth2-proxy", logs)

	b.run("the protected page asks to sign in",
		chromedp.Navigate(proxy+"/protected"),
		chromedp.WaitVisible(chromedp.CSS(`form[action*="/oauth2/start"] button`)),
	)
	mu.Lock()
	before := len(seen)
	mu.Unlock()
	if before != 0 {
		t.Fatalf("the upstream was reached %d time(s) before sign-in", before)
	}
	b.run("the proxy's sign-in button", chromedp.Click(chromedp.CSS(`form[action*="/oauth2/start"] button`)))
	b.signIn(ctx, e)
	b.run("the protected page", chromedp.WaitVisible(chromedp.CSS(`#protected`)))
	if loc := b.location(); loc != proxy+"/protected" {
		t.Errorf("after sign-in the browser is at %s, want %s/protected", loc, proxy)
	}
	if got := b.text(`#email`); got != userLogin {
		t.Errorf("the upstream page shows email %q, want %s", got, userLogin)
	}
	mu.Lock()
	h := seen[len(seen)-1]
	mu.Unlock()
	if got := h.Get("X-Forwarded-Email"); got != userLogin {
		t.Errorf("X-Forwarded-Email = %q, want %s", got, userLogin)
	}
	// The proxy's user is the ID token's subject: alice's id.
	if got := h.Get("X-Forwarded-User"); got != e.userID {
		t.Errorf("X-Forwarded-User = %q, want alice's id %s", got, e.userID)
	}
	if !strings.Contains(logs.String(), "AuthSuccess") {
		t.Errorf("oauth2-proxy logged no AuthSuccess:\n%s", logs.String())
	}
}
