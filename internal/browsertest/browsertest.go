// Package browsertest starts Debian's headless Chromium for browser tests (the sample
// app's, the Sign-In Widget's), with the flags this kind of machine needs.
package browsertest

import (
	"context"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

// Chromium returns the Chromium binary, or stops the test: a skip, or a failure
// under GATEHOUSE_REQUIRE_SERVICES.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Unavailable(t, "Chromium", `neither "chromium" nor "chromium-browser" is on PATH (Debian: apt-get install chromium)`)
	return ""
}

// Start runs headless Chromium with a window of width × height for the rest of the
// test and returns the browser's context; tabs are opened from it with
// chromedp.NewContext.
func Start(t testing.TB, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
		// Containers run as root without user namespaces: no sandbox.
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// The machine has no internet; without these Chromium keeps trying.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("lang", "en-US"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(browserCtx); err != nil {
		testenv.Unavailable(t, "Chromium", "it did not start: "+err.Error())
	}
	return browserCtx
}
