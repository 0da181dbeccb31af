package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// showProgress displays the load's progress on w until the returned function is
// called: a bar redrawn in place on a terminal, a line every five seconds otherwise
// (a log file should not fill with carriage returns).
func showProgress(w io.Writer, l *load) (stop func()) {
	if w == nil {
		return func() {}
	}
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	interval := 5 * time.Second
	if tty {
		interval = 200 * time.Millisecond
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprintf(w, "\r%s\n", progressLine(l, true))
				}
				return
			case <-t.C:
				if tty {
					fmt.Fprintf(w, "\r%s", progressLine(l, true))
				} else {
					fmt.Fprintln(w, progressLine(l, false))
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

const barWidth = 30

func progressLine(l *load, bar bool) string {
	total := l.warmup + l.duration
	elapsed := min(time.Since(l.started), total)
	phase := "measuring"
	if elapsed < l.warmup {
		phase = "warm-up  "
	}
	completed, failures := l.completed.Load(), l.failures.Load()
	rate := float64(completed) / max(elapsed.Seconds(), 0.001)
	text := fmt.Sprintf("%s %5.1f/%.0f s  %7d sign-ins  %7.1f/s  %d errors",
		phase, elapsed.Seconds(), total.Seconds(), completed, rate, failures)
	if !bar {
		return text
	}
	filled := int(float64(barWidth) * elapsed.Seconds() / total.Seconds())
	return "[" + strings.Repeat("=", filled) + strings.Repeat(" ", barWidth-filled) + "] " + text
}
