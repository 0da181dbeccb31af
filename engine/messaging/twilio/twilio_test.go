package twilio_test

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/messaging"
	"github.com/gatehouse-id/gatehouse/engine/messaging/providertest"
	"github.com/gatehouse-id/gatehouse/engine/messaging/twilio"
)

const (
	testFrom    = "+15005550006"
	testTo      = "+15555550123"
	testCode    = "042917"
	testService = "MG00000000000000000000000000000009"
)

func configFor(fake *providertest.Twilio) config.Twilio {
	return config.Twilio{
		AccountSID: fake.AccountSID,
		AuthToken:  fake.AuthToken,
		From:       testFrom,
		BaseURL:    fake.URL,
		Timeout:    2 * time.Second,
	}
}

func newSender(t *testing.T, cfg config.Twilio) *twilio.Sender {
	t.Helper()
	s, err := twilio.New(cfg)
	if err != nil {
		t.Fatalf("twilio.New: %v", err)
	}
	return s
}

func smsTo(number string) messaging.Outbound { return providertest.SMS(number, testCode) }

func callTo(number string) messaging.Outbound { return providertest.Call(number, testCode) }

// onlyRequest returns the one request the fake received.
func onlyRequest(t *testing.T, fake *providertest.Twilio) providertest.Request {
	t.Helper()
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("the fake received %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

func checkEnvelope(t *testing.T, req providertest.Request, resource string) {
	t.Helper()
	if req.Method != http.MethodPost {
		t.Errorf("method = %s, want POST", req.Method)
	}
	if want := "/2010-04-01/Accounts/" + providertest.TwilioAccountSID + "/" + resource; req.Path != want {
		t.Errorf("path = %s, want %s", req.Path, want)
	}
	user, pass, ok := req.BasicAuth()
	if !ok || user != providertest.TwilioAccountSID || pass != providertest.TwilioAuthToken {
		t.Errorf("basic auth = %q, %q, %v; want the account SID and auth token", user, pass, ok)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q", ct)
	}
	if ua := req.Header.Get("User-Agent"); !strings.HasPrefix(ua, "twilio-go/") || !strings.HasSuffix(ua, " gatehouse") {
		t.Errorf("User-Agent = %q, want twilio-go's with gatehouse appended", ua)
	}
}

func TestSMSIsAMessageFromTheConfiguredNumber(t *testing.T) {
	fake := providertest.NewTwilio(t)
	s := newSender(t, configFor(fake))
	m := smsTo(testTo)

	sid, err := s.Send(t.Context(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if want := "SM00000000000000000000000000000001"; sid != want {
		t.Errorf("provider id = %q, want the message SID %q", sid, want)
	}
	req := onlyRequest(t, fake)
	checkEnvelope(t, req, "Messages.json")
	want := url.Values{"To": {testTo}, "From": {testFrom}, "Body": {m.Body}}
	if !reflect.DeepEqual(req.Form, want) {
		t.Errorf("form = %v\nwant   %v", req.Form, want)
	}
}

func TestSMSGoesThroughTheMessagingServiceInsteadOfFrom(t *testing.T) {
	fake := providertest.NewTwilio(t)
	cfg := configFor(fake)
	cfg.MessagingServiceSID = testService // From stays set: calls need it
	s := newSender(t, cfg)
	m := smsTo(testTo)

	if _, err := s.Send(t.Context(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	req := onlyRequest(t, fake)
	want := url.Values{"To": {testTo}, "MessagingServiceSid": {testService}, "Body": {m.Body}}
	if !reflect.DeepEqual(req.Form, want) {
		t.Errorf("form = %v\nwant   %v", req.Form, want)
	}
}

// twimlDoc is what a call's TwiML must be: a pause, then one <Say>.
type twimlDoc struct {
	XMLName xml.Name
	Pause   []struct {
		Length string `xml:"length,attr"`
	} `xml:"Pause"`
	Say   []string `xml:"Say"`
	Other []struct {
		XMLName xml.Name
	} `xml:",any"`
}

func TestCallReadsTheCodeDigitByDigitTwice(t *testing.T) {
	fake := providertest.NewTwilio(t)
	s := newSender(t, configFor(fake))
	m := callTo(testTo)

	sid, err := s.Send(t.Context(), m)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if want := "CA00000000000000000000000000000001"; sid != want {
		t.Errorf("provider id = %q, want the call SID %q", sid, want)
	}
	req := onlyRequest(t, fake)
	checkEnvelope(t, req, "Calls.json")
	if got, want := req.Form.Get("To"), testTo; got != want {
		t.Errorf("To = %q, want %q", got, want)
	}
	if got := req.Form.Get("From"); got != testFrom {
		t.Errorf("From = %q, want %q", got, testFrom)
	}
	if len(req.Form) != 3 {
		t.Errorf("form has %d fields (%v), want To, From and Twiml only", len(req.Form), req.Form)
	}

	twiml := req.Form.Get("Twiml")
	var doc twimlDoc
	if err := xml.Unmarshal([]byte(twiml), &doc); err != nil {
		t.Fatalf("Twiml %q does not parse: %v", twiml, err)
	}
	if doc.XMLName.Local != "Response" || len(doc.Pause) != 1 || doc.Pause[0].Length != "1" || len(doc.Say) != 1 || len(doc.Other) != 0 {
		t.Fatalf("Twiml = %s, want <Response><Pause length=\"1\"/><Say>…</Say></Response>", twiml)
	}
	if !strings.HasPrefix(twiml, `<Response><Pause length="1"></Pause><Say>`) {
		t.Errorf("Twiml = %s: the pause must come before the words", twiml)
	}
	said := doc.Say[0]
	if said != m.Body {
		t.Errorf("Say = %q, want the message text %q", said, m.Body)
	}
	// Digit by digit, with a pause (comma) between digits, and said twice.
	if n := strings.Count(said, "0, 4, 2, 9, 1, 7"); n != 2 {
		t.Errorf("Say = %q reads the spaced digits %d times, want 2", said, n)
	}
	if strings.Contains(said, testCode) {
		t.Errorf("Say = %q holds the code as one number, which is read out as \"forty-two thousand…\"", said)
	}
}

func TestCallTwiMLEscapesTheText(t *testing.T) {
	text := `Code: 1, 2. </Say><Play>https://attacker.example/a.mp3</Play><Say> & "quoted" 'too'`
	twiml, err := twilio.CallTwiML(text)
	if err != nil {
		t.Fatal(err)
	}
	var doc twimlDoc
	if err := xml.Unmarshal([]byte(twiml), &doc); err != nil {
		t.Fatalf("TwiML %q does not parse: %v", twiml, err)
	}
	if len(doc.Say) != 1 || doc.Say[0] != text || len(doc.Other) != 0 {
		t.Errorf("TwiML = %s\nwant one <Say> holding the text verbatim and no other verb", twiml)
	}
	if _, err := twilio.CallTwiML("  "); err == nil {
		t.Error("CallTwiML of blank text succeeded; a silent call delivers nothing")
	}
}

// secrets must never show in an error: errors are logged.
var secrets = []string{testCode, providertest.TwilioAuthToken}

func TestTransientFailuresAreRetried(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(*providertest.Twilio)
		want   string // in the error
	}{
		{"500", func(f *providertest.Twilio) { f.FailNext(1, 500) }, "HTTP 500: Twilio error 20500"},
		{"503", func(f *providertest.Twilio) { f.FailNext(1, 503) }, "HTTP 503: Twilio error 20503"},
		{"429", func(f *providertest.Twilio) { f.FailNext(1, 429) }, "HTTP 429: Twilio error 20429"},
		{"502 page from a proxy", func(f *providertest.Twilio) { f.FailNextRaw(1, 502, "<html>Bad Gateway</html>") }, "HTTP 502"},
		{"timeout", func(f *providertest.Twilio) { f.HangNext(1) }, "no answer in time: context deadline exceeded"},
	} {
		for _, m := range []messaging.Outbound{smsTo(testTo), callTo(testTo)} {
			t.Run(tc.name+"/"+m.Channel, func(t *testing.T) {
				fake := providertest.NewTwilio(t)
				cfg := configFor(fake)
				cfg.Timeout = 200 * time.Millisecond
				s := newSender(t, cfg)
				tc.script(fake)

				_, err := s.Send(t.Context(), m)
				providertest.CheckTransient(t, err, tc.want, secrets...)
				if n := fake.RequestCount(); n != 1 {
					t.Errorf("the fake received %d requests, want 1 (retrying is the worker's job)", n)
				}
				// The next attempt goes through.
				if _, err := s.Send(t.Context(), m); err != nil {
					t.Errorf("second Send: %v", err)
				}
			})
		}
	}
}

func TestUnreachableTwilioIsRetried(t *testing.T) {
	s := newSender(t, config.Twilio{
		AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken,
		From: testFrom, BaseURL: "http://" + providertest.ClosedAddr(t), Timeout: time.Second,
	})
	_, err := s.Send(t.Context(), smsTo(testTo))
	providertest.CheckTransient(t, err, "connection refused", secrets...)
}

func TestSendHonoursTheCallersContext(t *testing.T) {
	// twilio-go makes its requests without a context; the worker's deadline must
	// still cut a hung request short.
	fake := providertest.NewTwilio(t)
	cfg := configFor(fake)
	cfg.Timeout = time.Minute
	s := newSender(t, cfg)
	fake.HangNext(1)

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Send(ctx, smsTo(testTo))
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Send took %v after its context ended", took)
	}
	if err == nil || messaging.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send = %v, want a transient context.DeadlineExceeded", err)
	}
}

func TestRefusalsAreNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*config.Twilio)
		to   string
		fail func(*providertest.Twilio)
		want string
	}{
		{name: "scripted 400", fail: func(f *providertest.Twilio) { f.FailNext(1, 400) }, want: "HTTP 400: Twilio error 21211"},
		{name: "scripted 401", fail: func(f *providertest.Twilio) { f.FailNext(1, 401) }, want: "HTTP 401: Twilio error 20003"},
		{name: "scripted 404", fail: func(f *providertest.Twilio) { f.FailNext(1, 404) }, want: "HTTP 404: Twilio error 20404"},
		{name: "invalid number", to: "+1", want: "HTTP 400: Twilio error 21211: Invalid 'To' Phone Number: +1"},
		{name: "wrong auth token", cfg: func(c *config.Twilio) { c.AuthToken = "ffffffffffffffffffffffffffffffff" }, want: "HTTP 401: Twilio error 20003: Authenticate"},
		{name: "other account", cfg: func(c *config.Twilio) { c.AccountSID = "AC99999999999999999999999999999999" }, want: "HTTP 401"},
		{name: "base_url without the API", cfg: func(c *config.Twilio) { c.BaseURL += "/nothing-here" }, want: "HTTP 404: Twilio error 20404"},
		{name: "error page", fail: func(f *providertest.Twilio) { f.FailNextRaw(1, 403, "<html>Forbidden</html>") }, want: "HTTP 403"},
	} {
		for _, m := range []messaging.Outbound{smsTo(testTo), callTo(testTo)} {
			t.Run(tc.name+"/"+m.Channel, func(t *testing.T) {
				fake := providertest.NewTwilio(t)
				cfg := configFor(fake)
				if tc.cfg != nil {
					tc.cfg(&cfg)
				}
				if tc.fail != nil {
					tc.fail(fake)
				}
				if tc.to != "" {
					m.To = tc.to
				}
				_, err := newSender(t, cfg).Send(t.Context(), m)
				providertest.CheckRefused(t, err, tc.want, secrets...)
			})
		}
	}
}

func TestProviderTextIsScrubbedOfSecrets(t *testing.T) {
	fake := providertest.NewTwilio(t)
	s := newSender(t, configFor(fake))
	fake.FailNextWithCode(1, 400, 21617,
		"The concatenated message body exceeds the limit: Your Gatehouse verification code is "+testCode+
			" (auth "+providertest.TwilioAuthToken+")"+strings.Repeat(" padding", 100))

	_, err := s.Send(t.Context(), smsTo(testTo))
	providertest.CheckScrubbed(t, err, "code is [code] (auth [redacted])", secrets...)
}

func TestNewRefusesWhatTheSDKWouldRefuseOnEveryRequest(t *testing.T) {
	good := config.Twilio{AccountSID: providertest.TwilioAccountSID, AuthToken: providertest.TwilioAuthToken, From: testFrom}
	if _, err := twilio.New(good); err != nil {
		t.Fatalf("New(good) = %v", err)
	}
	for name, mutate := range map[string]func(*config.Twilio){
		"account SID not AC":   func(c *config.Twilio) { c.AccountSID = "XX00000000000000000000000000000001" },
		"token with a symbol":  func(c *config.Twilio) { c.AuthToken = "s3cret-token+with/symbols" },
		"no token":             func(c *config.Twilio) { c.AuthToken = "" },
		"no sender":            func(c *config.Twilio) { c.From = "" },
		"base_url not http(s)": func(c *config.Twilio) { c.BaseURL = "ftp://127.0.0.1" },
	} {
		cfg := good
		mutate(&cfg)
		_, err := twilio.New(cfg)
		if err == nil {
			t.Errorf("%s: New succeeded", name)
			continue
		}
		if cfg.AuthToken != "" && strings.Contains(err.Error(), cfg.AuthToken) {
			t.Errorf("%s: error %q shows the auth token", name, err)
		}
	}
}

func TestUnknownChannelIsRefused(t *testing.T) {
	fake := providertest.NewTwilio(t)
	m := smsTo(testTo)
	m.Channel = "fax"
	_, err := newSender(t, configFor(fake)).Send(t.Context(), m)
	if !messaging.IsPermanent(err) {
		t.Errorf("Send = %v, want a permanent error", err)
	}
	if n := fake.RequestCount(); n != 0 {
		t.Errorf("the fake received %d requests, want none", n)
	}
}

func TestCallWithoutAFromNumberIsRefused(t *testing.T) {
	// Texts may go through a Messaging Service alone; calls need a number.
	fake := providertest.NewTwilio(t)
	cfg := configFor(fake)
	cfg.From, cfg.MessagingServiceSID = "", testService
	s := newSender(t, cfg)

	if _, err := s.Send(t.Context(), smsTo(testTo)); err != nil {
		t.Fatalf("Send(sms): %v", err)
	}
	_, err := s.Send(t.Context(), callTo(testTo))
	if !messaging.IsPermanent(err) {
		t.Errorf("Send(call) = %v, want a permanent error", err)
	}
	if n := fake.RequestCount(); n != 1 {
		t.Errorf("the fake received %d requests, want only the text's", n)
	}
}
