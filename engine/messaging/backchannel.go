package messaging

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ChannelBackchannelLogout is the outbox channel of OIDC Back-Channel Logout
// notices: To is the client's backchannel_logout_uri, Body the logout token.
const ChannelBackchannelLogout = "backchannel_logout"

// BackchannelSender posts logout tokens to clients (OIDC Back-Channel Logout 1.0,
// section 2.5): a form with logout_token, answered 200 (or 204) when the client has
// ended its session. Other answers are retried with the outbox's backoff, except a
// 4xx other than 408 and 429, which says the client will never take this token.
type BackchannelSender struct {
	// Client sends the requests; nil means one with a 10 s timeout that does not
	// follow redirects (the spec forbids following them).
	Client *http.Client
}

// Send posts m.Body as the logout token to m.To.
func (b *BackchannelSender) Send(ctx context.Context, m Outbound) (string, error) {
	c := b.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.To, strings.NewReader(url.Values{"logout_token": {m.Body}}.Encode()))
	if err != nil {
		return "", Permanent(fmt.Errorf("back-channel logout URI: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cache-Control", "no-store")
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("posting the logout token: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusNoContent:
		return "", nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return "", Permanent(fmt.Errorf("the client refused the logout token: HTTP %d", resp.StatusCode))
	default:
		return "", fmt.Errorf("the client answered the logout token with HTTP %d", resp.StatusCode)
	}
}

// ScrubAfterSend: the logout token has done its job once delivered.
func (b *BackchannelSender) ScrubAfterSend() bool { return true }
