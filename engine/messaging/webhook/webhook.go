// Package webhook hands each message to a gateway of the operator's own, as a signed
// JSON POST, for carriers the engine has no built-in sender for.
//
// # Request
//
//	POST <messaging.webhook.url>
//	Content-Type: application/json
//	Idempotency-Key: <id>
//	X-Gatehouse-Timestamp: <unix seconds>
//	X-Gatehouse-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
//	{"id":"msg…","to":"+15555550123","channel":"sms","text":"Your … code is 123456. …","code":"123456"}
//
// id is the message's id, the same on every retry of it. to is the E.164 number.
// channel is "sms" or "voice". text is what to send, or for a call what to read out
// (it already spells the code digit by digit, twice). code is the bare code, for
// gateways that write their own text or fill a carrier's template. The body is thus
// as secret as the code: keep it out of the gateway's logs.
//
// # Verifying a request
//
// The signed string is the X-Gatehouse-Timestamp header value, a full stop, and the
// request body exactly as received (bytes, before any JSON parsing):
//
//	1700000000.{"id":"msg…",…}
//
// A gateway recomputes HMAC-SHA256 over it with the shared secret, compares the hex
// digest after "sha256=" in constant time, and refuses requests whose timestamp is
// more than a few minutes from its clock, so that a captured request cannot be
// replayed later. Every attempt is signed afresh, so a retry carries a new
// timestamp; a gateway that must not send a code twice (say, after the engine
// crashed between the gateway's answer and recording it) drops a request whose
// Idempotency-Key it has already handled, answering 2xx again.
//
// # Response
//
// Any 2xx means the gateway took the message. If its body is a JSON object with a
// string "id", that is recorded as the provider's id; otherwise the message id is.
// 408, 429 and 5xx, a timeout or a network error mean "try again later"; the engine
// retries with backoff until messaging.max_delivery_time. Any other status (400,
// 401, 403, 404, 422, a 3xx — redirects are not followed) means the gateway refuses
// this message for good and it is not retried.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/messaging"
)

// Headers of a webhook request.
const (
	SignatureHeader = "X-Gatehouse-Signature"
	TimestampHeader = "X-Gatehouse-Timestamp"
	IdempotencyKey  = "Idempotency-Key"
)

// Payload is the JSON body of a webhook request.
type Payload struct {
	ID      string `json:"id"`
	To      string `json:"to"`
	Channel string `json:"channel"`
	Text    string `json:"text"`
	Code    string `json:"code"`
}

// Sender posts messages to a webhook gateway. It is safe for concurrent use.
type Sender struct {
	url    string
	secret []byte
	client *http.Client
	// now stamps requests; tests replace it.
	now func() time.Time
}

// defaultTimeout applies when the configuration leaves timeout at zero.
const defaultTimeout = 10 * time.Second

// New returns a Sender for cfg, which config.Validate has checked.
func New(cfg config.Webhook) (*Sender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL may carry credentials of the gateway's own; do not repeat it.
		return nil, errors.New("webhook: url is not an absolute http(s) URL")
	}
	if cfg.Secret == "" {
		return nil, errors.New("webhook: secret is required")
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	return &Sender{
		url:    cfg.URL,
		secret: []byte(cfg.Secret),
		client: &http.Client{
			Timeout: timeout,
			// Following a redirect would resend the code to wherever it points, and
			// turn the POST into a GET; a redirect means the url is wrong.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now: time.Now,
	}, nil
}

// Sign returns the X-Gatehouse-Signature value of body sent with timestamp.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// maxResponseBody bounds how much of the gateway's answer is read.
const maxResponseBody = 64 << 10

// Send posts m and returns the gateway's id for it, or m.ID if it gave none.
func (s *Sender) Send(ctx context.Context, m messaging.Outbound) (string, error) {
	body, err := json.Marshal(Payload{ID: m.ID, To: m.To, Channel: m.Channel, Text: m.Body, Code: m.Code})
	if err != nil {
		return "", messaging.Permanent(fmt.Errorf("webhook: encoding the message: %w", err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return "", messaging.Permanent(errors.New("webhook: url cannot be requested"))
	}
	ts := strconv.FormatInt(s.now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "gatehouse")
	req.Header.Set(IdempotencyKey, m.ID)
	req.Header.Set(TimestampHeader, ts)
	req.Header.Set(SignatureHeader, Sign(s.secret, ts, body))

	resp, err := s.client.Do(req)
	if err != nil {
		// The *url.Error would repeat the URL, which may hold a token of the gateway's.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return "", fmt.Errorf("webhook: POST failed: %w", err)
	}
	// Read the answer to its end (within bounds) so that the connection is reused.
	answer, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	resp.Body.Close()

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// The gateway has the message; an answer cut short does not change that.
		var reply struct {
			ID string `json:"id"`
		}
		if rerr == nil && json.Unmarshal(answer, &reply) == nil && reply.ID != "" {
			return reply.ID, nil
		}
		return m.ID, nil
	}
	detail := fmt.Sprintf("webhook: HTTP %d", resp.StatusCode)
	if text := s.excerpt(answer, m); text != "" {
		detail += ": " + text
	}
	if transientStatus(resp.StatusCode) {
		return "", errors.New(detail)
	}
	return "", messaging.Permanent(errors.New(detail))
}

// transientStatus reports whether a request answered with status may succeed if sent
// again: the gateway is down or overloaded (5xx), rate-limiting (429), or the request
// timed out on the way (408). Every other status is the gateway refusing this message.
func transientStatus(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
}

// maxErrorText bounds the gateway text kept in an error (which is logged and stored
// with the message).
const maxErrorText = 200

// excerpt is the start of a gateway's error answer, on one line, without the code or
// the secret should the gateway echo them.
func (s *Sender) excerpt(answer []byte, m messaging.Outbound) string {
	text := strings.ToValidUTF8(string(answer), "")
	if m.Code != "" {
		text = strings.ReplaceAll(text, m.Code, "[code]")
	}
	text = strings.ReplaceAll(text, string(s.secret), "[redacted]")
	text = strings.Join(strings.FieldsFunc(text, unicode.IsSpace), " ")
	text = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, text)
	if len(text) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	return text
}

var _ messaging.Sender = (*Sender)(nil)
