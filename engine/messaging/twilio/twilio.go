// Package twilio sends one-time codes through Twilio: texts with the Messages API,
// calls with the Calls API and inline TwiML. It uses Twilio's Go SDK (twilio-go) for
// the requests and their encoding, and wraps its HTTP client so that every call
// honours the caller's context and timeout, can be pointed at another host
// (messaging.twilio.base_url), and is classified by its real HTTP status.
package twilio

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	twilioclient "github.com/twilio/twilio-go/client"
	twilioapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/messaging"
)

// Sender delivers messages through Twilio. It is safe for concurrent use.
type Sender struct {
	accountSID          string
	credentials         *twilioclient.Credentials
	from                string
	messagingServiceSID string
	// baseURL replaces scheme, host and leading path of every API request; nil
	// means Twilio's own host.
	baseURL   *url.URL
	timeout   time.Duration
	transport http.RoundTripper
}

// defaultTimeout applies when the configuration leaves timeout at zero.
const defaultTimeout = 10 * time.Second

// The SDK refuses credentials with anything but letters and digits on every request;
// checking here turns that into a start-up error instead of every code failing.
var sdkCredential = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// New returns a Sender for cfg, which config.Validate has checked.
func New(cfg config.Twilio) (*Sender, error) {
	if !strings.HasPrefix(cfg.AccountSID, "AC") || !sdkCredential.MatchString(cfg.AccountSID) {
		return nil, errors.New("twilio: account_sid must be AC followed by letters and digits")
	}
	if !sdkCredential.MatchString(cfg.AuthToken) {
		// Never echo the token, even a malformed one.
		return nil, errors.New("twilio: auth_token is missing or holds characters other than letters and digits")
	}
	if cfg.From == "" && cfg.MessagingServiceSID == "" {
		return nil, errors.New("twilio: from or messaging_service_sid is required")
	}
	s := &Sender{
		accountSID:          cfg.AccountSID,
		credentials:         twilioclient.NewCredentials(cfg.AccountSID, cfg.AuthToken),
		from:                cfg.From,
		messagingServiceSID: cfg.MessagingServiceSID,
		timeout:             cfg.Timeout,
		transport:           http.DefaultTransport.(*http.Transport).Clone(),
	}
	if s.timeout <= 0 {
		s.timeout = defaultTimeout
	}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("twilio: base_url %q is not an absolute http(s) URL", cfg.BaseURL)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		s.baseURL = u
	}
	return s, nil
}

// Send texts or calls m.To and returns the SID Twilio gave the message (SM…, MM…)
// or call (CA…).
func (s *Sender) Send(ctx context.Context, m messaging.Outbound) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ex := &exchange{ctx: ctx, baseURL: s.baseURL, next: s.transport}
	api := s.apiFor(ex)

	var (
		sid *string
		err error
	)
	switch m.Channel {
	case messaging.SMS:
		p := &twilioapi.CreateMessageParams{}
		p.SetTo(m.To).SetBody(m.Body)
		if s.messagingServiceSID != "" {
			// The service picks the sender from its pool (docs: "instead of from").
			p.SetMessagingServiceSid(s.messagingServiceSID)
		} else {
			p.SetFrom(s.from)
		}
		var msg *twilioapi.ApiV2010Message
		if msg, err = api.CreateMessage(p); err == nil {
			sid = msg.Sid
		}
	case messaging.Voice:
		if s.from == "" {
			return "", messaging.Permanent(errors.New("twilio: call: no from number configured"))
		}
		twiml, terr := CallTwiML(m.Body)
		if terr != nil {
			return "", messaging.Permanent(fmt.Errorf("twilio: call: %w", terr))
		}
		p := &twilioapi.CreateCallParams{}
		p.SetTo(m.To).SetFrom(s.from).SetTwiml(twiml)
		var call *twilioapi.ApiV2010Call
		if call, err = api.CreateCall(p); err == nil {
			sid = call.Sid
		}
	default:
		return "", messaging.Permanent(fmt.Errorf("twilio: unknown channel %q", m.Channel))
	}
	return s.result(m, ex, sid, err)
}

// apiFor builds an API client whose requests go through ex. The SDK makes its
// requests with context.Background() and no way to pass one in, so a client per
// Send — a few small allocations — is how each request gets the caller's context.
func (s *Sender) apiFor(ex *exchange) *twilioapi.ApiService {
	c := &twilioclient.Client{
		Credentials: s.credentials,
		HTTPClient: &http.Client{
			Transport: ex,
			// A redirect from the Messages or Calls API means base_url is wrong;
			// following it would turn the POST into a GET.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		UserAgentExtensions: []string{"gatehouse"},
	}
	c.SetAccountSid(s.accountSID)
	// Built by hand rather than with NewRequestHandler, which would let the
	// TWILIO_EDGE and TWILIO_REGION environment variables move requests elsewhere.
	return twilioapi.NewApiService(&twilioclient.RequestHandler{Client: c})
}

// what names an outbound message's channel in errors.
func what(m messaging.Outbound) string {
	if m.Channel == messaging.Voice {
		return "call"
	}
	return "sms"
}

// result turns the SDK's answer into Send's. The SDK's errors do not carry the HTTP
// status (an error page that is not Twilio's JSON becomes a decoding error), so the
// classification uses the status ex saw on the wire.
func (s *Sender) result(m messaging.Outbound, ex *exchange, sid *string, err error) (string, error) {
	status := ex.status
	if err == nil && status >= 200 && status < 300 && sid != nil && *sid != "" {
		return *sid, nil
	}
	prefix := "twilio: " + what(m)
	switch {
	case status == 0:
		// No answer: refused connection, DNS failure, timeout, cancelled context.
		if errors.Is(err, context.DeadlineExceeded) {
			return "", fmt.Errorf("%s: no answer in time: %w", prefix, withoutURL(err))
		}
		return "", fmt.Errorf("%s: %w", prefix, withoutURL(err))
	case status >= 200 && status < 300:
		// Twilio took the request but its answer could not be read. Sending again may
		// deliver the code twice, which is harmless (it is the same code); not
		// sending may leave the user without one.
		return "", fmt.Errorf("%s: HTTP %d with an unreadable answer", prefix, status)
	}
	detail := fmt.Sprintf("%s: HTTP %d", prefix, status)
	var apiErr *twilioclient.TwilioRestError
	if errors.As(err, &apiErr) && apiErr.Code != 0 {
		detail += fmt.Sprintf(": Twilio error %d: %s", apiErr.Code, s.scrub(apiErr.Message, m))
	}
	if transientStatus(status) {
		return "", errors.New(detail)
	}
	return "", messaging.Permanent(errors.New(detail))
}

// transientStatus reports whether a request answered with status may succeed if sent
// again: Twilio or something in front of it is overloaded or down (5xx), Twilio is
// rate-limiting the account (429), or the request timed out on the way (408). Every
// other status is Twilio refusing this request — bad number, bad credentials,
// unverified or blocked sender, a redirect from a wrong base_url — and will be
// refused again.
func transientStatus(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
}

// maxErrorText bounds the provider text kept in an error (which is logged and stored
// with the message).
const maxErrorText = 200

// scrub removes from provider-supplied text what must never reach logs or the
// database: the code and the auth token, should Twilio ever echo them.
func (s *Sender) scrub(text string, m messaging.Outbound) string {
	if m.Code != "" {
		text = strings.ReplaceAll(text, m.Code, "[code]")
	}
	if s.credentials.Password != "" {
		text = strings.ReplaceAll(text, s.credentials.Password, "[redacted]")
	}
	if len(text) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	return text
}

// withoutURL unwraps the *url.Error of a failed request: its text repeats the full
// request URL, which says nothing the prefix does not.
func withoutURL(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// exchange is the http.RoundTripper under the SDK for one Send. It runs the request
// under the Send's context, sends it to baseURL if set, and remembers the HTTP status.
type exchange struct {
	ctx     context.Context
	baseURL *url.URL
	next    http.RoundTripper
	status  int // of the last response; 0 if none came
}

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

func (ex *exchange) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(ex.ctx)
	if ex.baseURL != nil {
		out.URL.Scheme = ex.baseURL.Scheme
		out.URL.Host = ex.baseURL.Host
		out.URL.Path = ex.baseURL.Path + req.URL.Path
		out.URL.RawPath = ""
		out.Host = ""
	}
	resp, err := ex.next.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	ex.status = resp.StatusCode
	if resp.StatusCode >= 300 {
		// The SDK decodes error bodies without closing them, which would leak the
		// connection; hand it a copy and close the original here.
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		if rerr != nil {
			body = nil
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
	}
	return resp, nil
}

// CallTwiML returns the TwiML of a call that reads text out: a one-second pause, so
// that the first words are not lost while the phone travels to the ear, then text.
//
// The engine writes the text (phone.VoiceText) to read the code digit by digit with
// a pause between digits, and twice; this keeps that text as it is, so a call and
// the dev outbox say the same thing. encoding/xml escapes it.
func CallTwiML(text string) (string, error) {
	if strings.TrimSpace(text) == "" {
		return "", errors.New("nothing to read out")
	}
	doc := twimlResponse{
		Pause: twimlPause{Length: 1},
		Say:   twimlSay{Text: text},
	}
	var b bytes.Buffer
	if err := xml.NewEncoder(&b).Encode(doc); err != nil {
		return "", err
	}
	return b.String(), nil
}

type twimlResponse struct {
	XMLName xml.Name   `xml:"Response"`
	Pause   twimlPause `xml:"Pause"`
	Say     twimlSay   `xml:"Say"`
}

type twimlPause struct {
	Length int `xml:"length,attr"`
}

type twimlSay struct {
	Text string `xml:",chardata"`
}

var _ messaging.Sender = (*Sender)(nil)
