//go:build unix

package rp

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/internal/browsertest"
)

// browser is one headless Chromium tab with a log of its top-level navigations and
// console, reported when the test fails.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu      sync.Mutex
	console []string
	frames  []string // the documents loaded, in order
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	b := &browser{t: t}
	browserCtx := browsertest.Start(t, 1100, 900)
	tab, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext(), chromedp.WithListener(b.onEvent))
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatal(err)
	}
	b.ctx = tab
	t.Cleanup(b.report)
	return b
}

func (b *browser) onEvent(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			var s string
			if len(a.Value) > 0 && json.Unmarshal(a.Value, &s) == nil {
				args = append(args, s)
			} else {
				args = append(args, string(a.Value)+a.Description)
			}
		}
		b.console = append(b.console, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
	case *runtime.EventExceptionThrown:
		b.console = append(b.console, "exception: "+ev.ExceptionDetails.Text)
	case *network.EventResponseReceived:
		if ev.Type == network.ResourceTypeDocument {
			b.frames = append(b.frames, fmt.Sprintf("%d %s", ev.Response.Status, ev.Response.URL))
		}
	}
}

// run runs browser actions; on failure it stops the test with the page's markup.
func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(what, err)
	}
}

func (b *browser) fail(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS(`body`)))
	b.t.Fatalf("%s: %v\nthe page at %s:\n%s", what, err, loc, html)
}

// text returns the text of the first element sel matches.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fail("reading "+sel, err)
	}
	return strings.TrimSpace(s)
}

// location is the address of the page the tab shows.
func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.fail("reading the location", err)
	}
	return loc
}

func (b *browser) report() {
	if !b.t.Failed() && !testing.Verbose() {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.Logf("browser navigations:\n  %s\nbrowser console:\n  %s", strings.Join(b.frames, "\n  "), strings.Join(b.console, "\n  "))
}

// signIn is what a person does on the engine's hosted pages once a relying party
// has sent the browser there: username and password, the phone, "text me", and
// the code from the text message (read from the dev outbox). It returns when the
// browser has left the engine's pages.
func (b *browser) signIn(ctx context.Context, e *engine) {
	b.t.Helper()
	b.run("the hosted sign-in page",
		chromedp.WaitVisible(chromedp.CSS(`form[action="/signin/identify"] #password`)),
	)
	if loc := b.location(); !strings.HasPrefix(loc, e.base+"/") {
		b.t.Fatalf("the sign-in page is at %s, not on the engine's origin %s", loc, e.base)
	}
	b.run("username and password",
		chromedp.SendKeys(chromedp.CSS(`#username`), userLogin),
		chromedp.SendKeys(chromedp.CSS(`#password`), userPassword),
		chromedp.Click(chromedp.CSS(`form[action="/signin/identify"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button.option, input[name="method"][value="sms"]`)),
	)
	// The list of authenticators, when the pages show it: the phone.
	if n, _ := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("button.option").length`)); n > 0 {
		b.run("choose the phone",
			chromedp.Click(chromedp.CSS(`button.option`)),
			chromedp.WaitVisible(chromedp.CSS(`input[name="method"][value="sms"]`)),
		)
	}
	sent := len(e.outbox(b.t))
	b.run("text me a code",
		chromedp.Click(chromedp.CSS(`input[name="method"][value="sms"]`)),
		chromedp.Click(chromedp.CSS(`form[action="/signin/method"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#code`)),
	)
	code := e.waitCode(b.t, ctx, sent)
	b.run("enter the code",
		chromedp.SendKeys(chromedp.CSS(`#code`), code),
		chromedp.Click(chromedp.CSS(`form[action="/signin/code"] button[type="submit"]`)),
	)
	b.waitOffEngine(e)
}

// waitOffEngine waits until the tab shows a loaded page that is not the engine's.
func (b *browser) waitOffEngine(e *engine) {
	b.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		loc, err := chromedp.Run(b.ctx, chromedp.Location())
		if err == nil && loc != "" && !strings.HasPrefix(loc, e.base+"/") && !strings.HasPrefix(loc, "about:") {
			break
		}
		if time.Now().After(deadline) {
			b.fail("back to the application", fmt.Errorf("still at %s after 15 s (%v)", loc, err))
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.run("the application's page", chromedp.WaitReady(chromedp.CSS(`body`)))
}
