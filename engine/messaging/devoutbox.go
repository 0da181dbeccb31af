package messaging

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// DevOutbox is the development sender: it delivers nothing, prints each message (code
// included) to Out, and leaves the stored copy in place so that GET /dev/outbox can
// list it. Never use it where real people sign in.
type DevOutbox struct {
	mu  sync.Mutex
	Out io.Writer
}

// Send prints m.
func (d *DevOutbox) Send(_ context.Context, m Outbound) (string, error) {
	if d.Out != nil {
		kind := "SMS "
		if m.Channel == Voice {
			kind = "CALL"
		}
		d.mu.Lock()
		fmt.Fprintf(d.Out, "[dev outbox] %s to %s — code %s — %q\n", kind, m.To, m.Code, m.Body)
		d.mu.Unlock()
	}
	return "dev-" + m.ID, nil
}

// ScrubAfterSend is false: the dev outbox page shows codes after delivery.
func (d *DevOutbox) ScrubAfterSend() bool { return false }
