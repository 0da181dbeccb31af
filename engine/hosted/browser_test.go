package hosted_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/internal/browsertest"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// The browser test drives headless Chromium through the pages, click by
// click, ending at a relying party on another origin: it proves the pages
// work without script under their own Content-Security-Policy, including
// the hand-back after the last form post. With UPDATE_SCREENSHOTS=1 it
// writes docs/screenshots/hosted-*.png.

const browserWidth, browserHeight = 1280, 860

type tab struct {
	t   *testing.T
	ctx context.Context
}

func (b *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

func (b *tab) contains(sel string, wants ...string) {
	b.t.Helper()
	got := b.text(sel)
	for _, w := range wants {
		if !strings.Contains(got, w) {
			b.t.Errorf("%s shows %q, want it to contain %q", sel, got, w)
		}
	}
}

func (b *tab) location() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

// screenshot takes a full-page PNG, written to docs/screenshots/name.png
// with UPDATE_SCREENSHOTS=1.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if os.Getenv("UPDATE_SCREENSHOTS") != "1" {
		return
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func TestBrowserSignInWithSMS(t *testing.T) {
	browserCtx := browsertest.Start(t, browserWidth, browserHeight)

	// The relying party, on another origin (localhost, not 127.0.0.1).
	rpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>RP</title><h1 id=rp>Relying party: %s</h1>", r.URL.RawQuery)
	}))
	t.Cleanup(rpSrv.Close)
	rp := fmt.Sprintf("http://localhost:%d/callback", rpSrv.Listener.Addr().(*net.TCPAddr).Port)

	r := newRigTo(t, rp)
	r.h.CreateUser(t, alice, alicePhone)

	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	b := &tab{t: t, ctx: ctx}
	b.do("viewport", chromedp.EmulateViewport(browserWidth, browserHeight))

	b.do("open the sign-in", chromedp.Navigate(r.url+"/test/start?login_hint="+alice), chromedp.WaitVisible(chromedp.CSS("#password")))
	if loc := b.location(); loc != r.url+"/signin" {
		t.Fatalf("the sign-in opened at %s", loc)
	}
	b.contains("h1", "Sign in")
	b.contains(".product-name", product)
	// The stylesheet loaded under the CSP: the panel is styled.
	radius, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('.panel')).borderTopLeftRadius`))
	if err != nil || radius != "16px" {
		t.Fatalf("the panel's border radius is %q (%v): the stylesheet did not apply", radius, err)
	}
	username, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS("#username")))
	if err != nil || username != alice {
		t.Fatalf("username field %q (%v), want the login hint", username, err)
	}
	b.screenshot("hosted-sign-in")

	b.do("wrong password",
		chromedp.SendKeys(chromedp.CSS("#password"), "not my password"),
		chromedp.Click(chromedp.CSS(`form[action="/signin/identify"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".alert-error")),
	)
	b.contains(".alert-error", "That username and password don't match.")
	b.screenshot("hosted-sign-in-error")

	b.do("right password",
		chromedp.SendKeys(chromedp.CSS("#password"), enginetest.Password),
		chromedp.Click(chromedp.CSS(`form[action="/signin/identify"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("button.option")),
	)
	b.contains("h1", "Verify it's you")
	b.contains("button.option", "+1 XXX-XXX-0123")
	b.screenshot("hosted-select-authenticator")

	b.do("choose the phone, then SMS",
		chromedp.Click(chromedp.CSS("button.option")),
		chromedp.WaitVisible(chromedp.CSS(`input[name="method"][value="sms"]`)),
		chromedp.Click(chromedp.CSS(`input[name="method"][value="sms"]`)),
		chromedp.Click(chromedp.CSS(`form[action="/signin/method"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#code")),
	)
	b.contains("h1", "Enter code")
	b.contains(".lede", "We sent a text message with a code to", "+1 XXX-XXX-0123")
	b.screenshot("hosted-enter-code")

	b.do("wrong code",
		chromedp.SendKeys(chromedp.CSS("#code"), "000000"),
		chromedp.Click(chromedp.CSS(`form[action="/signin/code"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".field-error")),
	)
	b.contains(".field-error", "That code isn't right.")
	b.screenshot("hosted-enter-code-error")

	b.do("right code",
		chromedp.Clear(chromedp.CSS("#code")),
		chromedp.SendKeys(chromedp.CSS("#code"), r.h.LatestCode(t, alicePhone)),
		chromedp.Click(chromedp.CSS(`form[action="/signin/code"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#rp")),
	)
	if loc := b.location(); loc != rp+"?outcome=signed-in" {
		t.Fatalf("ended at %s, want the relying party", loc)
	}
	code := r.lastCompleted()
	if code == "" {
		t.Fatal("Complete was not called")
	}
	if status, tokens := r.redeem(code); status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tokens)
	}
}

// TestBrowserCancel: cancelling goes back to the relying party with
// access_denied, through the same hand-back.
func TestBrowserCancel(t *testing.T) {
	browserCtx := browsertest.Start(t, browserWidth, browserHeight)
	rpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>RP</title><h1 id=rp>Relying party: %s</h1>", r.URL.RawQuery)
	}))
	t.Cleanup(rpSrv.Close)
	rp := fmt.Sprintf("http://localhost:%d/callback", rpSrv.Listener.Addr().(*net.TCPAddr).Port)
	r := newRigTo(t, rp)

	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelTimeout)
	b := &tab{t: t, ctx: ctx}
	b.do("open and cancel",
		chromedp.Navigate(r.url+"/test/start"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.Click(chromedp.CSS(`form[action="/signin/cancel"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#rp")),
	)
	b.contains("#rp", "error=access_denied")
	if calls := r.abortCalls(); len(calls) != 1 || calls[0].code != "access_denied" {
		t.Fatalf("Abort calls: %+v", calls)
	}
}
