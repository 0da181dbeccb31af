// Package eventhook delivers system log events to the operator's event hooks
// (system_log.event_hooks), in Okta's Event Hooks shape, through the durable outbox:
// each batch of events is queued as a message in the same database transaction as
// the events (engine/eventlog), and the outbox worker hands it to a Sender, which
// retries it as it retries back-channel logout notices. Delivery is at least once:
// a receiver may see a batch twice (say, after a node died between the receiver's
// answer and recording it) and should drop an eventId it has handled.
//
// # Verification
//
// Before its first delivery, each engine node verifies the endpoint once, as Okta
// does: a GET with the header X-Okta-Verification-Challenge, which the endpoint
// must answer 200 with the JSON object {"verification": "<the header's value>"}.
// Until it does, deliveries wait (and are retried).
//
// # Request
//
//	POST <url>
//	Content-Type: application/json
//	X-Gatehouse-Timestamp: <unix seconds>
//	X-Gatehouse-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
//	{"eventType":"com.okta.event_hook","eventTypeVersion":"1.0","cloudEventsVersion":"0.1",
//	 "source":"https://id.example.com","eventId":"evh…","eventTime":"…","contentType":"application/json",
//	 "data":{"events":[{LogEvent}, …]}}
//
// The signature is made as the messaging webhook's: HMAC-SHA256 with the hook's
// secret over the timestamp header, a full stop and the body as sent. A receiver
// recomputes it, compares in constant time, and refuses old timestamps.
//
// # Response
//
// 200 or 204 means delivered. 408, 429, 5xx, a timeout or a network error are
// retried with the outbox's backoff until messaging.max_delivery_time; any other
// status (redirects are not followed) gives the delivery up.
package eventhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/messaging"
	"github.com/gatehouse-id/gatehouse/engine/messaging/webhook"
)

// Headers of a delivery and of the verification.
const (
	VerificationHeader = "X-Okta-Verification-Challenge"
	SignatureHeader    = webhook.SignatureHeader
	TimestampHeader    = webhook.TimestampHeader
)

// Endpoint is one configured hook.
type Endpoint struct {
	Name   string
	URL    string
	Secret string
}

// Sender delivers event hook messages (eventlog.ChannelEventHook): m.To names the
// endpoint, m.Body is the request body.
type Sender struct {
	// Client sends the requests; nil means one with a 10 s timeout that does not
	// follow redirects.
	Client    *http.Client
	Endpoints []Endpoint
	// Now stamps requests; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	verified map[string]bool // by name+URL
}

func (s *Sender) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (s *Sender) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Sender) endpoint(name string) (Endpoint, bool) {
	for _, e := range s.Endpoints {
		if e.Name == name {
			return e, true
		}
	}
	return Endpoint{}, false
}

// Send verifies the endpoint if this node has not yet, then posts the body.
func (s *Sender) Send(ctx context.Context, m messaging.Outbound) (string, error) {
	ep, ok := s.endpoint(m.To)
	if !ok {
		return "", messaging.Permanent(fmt.Errorf("event hook %q is not configured (any more)", m.To))
	}
	if err := s.verify(ctx, ep); err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader([]byte(m.Body)))
	if err != nil {
		return "", messaging.Permanent(fmt.Errorf("event hook %q: the url cannot be requested", ep.Name))
	}
	ts := strconv.FormatInt(s.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gatehouse")
	req.Header.Set(TimestampHeader, ts)
	req.Header.Set(SignatureHeader, webhook.Sign([]byte(ep.Secret), ts, []byte(m.Body)))
	status, _, err := s.do(req)
	if err != nil {
		return "", fmt.Errorf("event hook %q: POST failed: %w", ep.Name, err)
	}
	switch {
	case status == http.StatusOK || status == http.StatusNoContent || status == http.StatusAccepted:
		return "", nil
	case retryable(status):
		return "", fmt.Errorf("event hook %q answered HTTP %d", ep.Name, status)
	default:
		return "", messaging.Permanent(fmt.Errorf("event hook %q refused the delivery: HTTP %d", ep.Name, status))
	}
}

// ScrubAfterSend: the events need not stay in the outbox once delivered.
func (s *Sender) ScrubAfterSend() bool { return true }

func retryable(status int) bool {
	return status >= 500 || status == http.StatusRequestTimeout || status == http.StatusTooManyRequests
}

// maxAnswer bounds what is read of an endpoint's answer.
const maxAnswer = 64 << 10

// do sends req and returns the status and the start of the answer. Errors never
// repeat the URL, which may carry a token of the receiver's.
func (s *Sender) do(req *http.Request) (int, []byte, error) {
	resp, err := s.client().Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	return resp.StatusCode, body, nil
}

// verify makes the one-time verification request unless ep passed it already.
func (s *Sender) verify(ctx context.Context, ep Endpoint) error {
	key := ep.Name + "\x00" + ep.URL
	s.mu.Lock()
	done := s.verified[key]
	s.mu.Unlock()
	if done {
		return nil
	}
	challenge := rand.Text()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.URL, nil)
	if err != nil {
		return messaging.Permanent(fmt.Errorf("event hook %q: the url cannot be requested", ep.Name))
	}
	req.Header.Set(VerificationHeader, challenge)
	req.Header.Set("User-Agent", "gatehouse")
	status, body, err := s.do(req)
	if err != nil {
		return fmt.Errorf("event hook %q: verification failed: %w", ep.Name, err)
	}
	var answer struct {
		Verification string `json:"verification"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &answer) != nil || answer.Verification != challenge {
		return fmt.Errorf("event hook %q is not verified: its endpoint did not echo the verification challenge (HTTP %d)", ep.Name, status)
	}
	s.mu.Lock()
	if s.verified == nil {
		s.verified = map[string]bool{}
	}
	s.verified[key] = true
	s.mu.Unlock()
	return nil
}
