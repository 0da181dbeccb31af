package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/messaging"
	"github.com/gatehouse-id/gatehouse/engine/messaging/providertest"
	"github.com/gatehouse-id/gatehouse/engine/messaging/webhook"
)

const (
	testSecret = "gateway-secret-0123456789"
	testTo     = "+15555550123"
	testCode   = "042917"
)

func configFor(gw *providertest.Gateway) config.Webhook {
	return config.Webhook{URL: gw.URL, Secret: testSecret, Timeout: 2 * time.Second}
}

func newSender(t *testing.T, cfg config.Webhook) *webhook.Sender {
	t.Helper()
	s, err := webhook.New(cfg)
	if err != nil {
		t.Fatalf("webhook.New: %v", err)
	}
	return s
}

func sms() messaging.Outbound { return providertest.SMS(testTo, testCode) }

func call() messaging.Outbound { return providertest.Call(testTo, testCode) }

// hmacHex recomputes a signature the way a gateway written from the package
// documentation would, without the package's code.
func hmacHex(secret, signed string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signed))
	return hex.EncodeToString(mac.Sum(nil))
}

func TestSignMatchesAGoldenVector(t *testing.T) {
	// Computed independently (Python's hmac module), so that a gateway in any
	// language can check its verifier against it.
	body := `{"id":"msg_golden","to":"+15555550123","channel":"sms","text":"Your Gatehouse verification code is 042917.","code":"042917"}`
	got := webhook.Sign([]byte(testSecret), "1700000000", []byte(body))
	if want := "sha256=1c02c7ff47206bf6c2918e7f574179c66fd4df378c9afe410dd6a9221c2e2780"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestRequestCarriesTheMessageSignedAndKeyed(t *testing.T) {
	for _, m := range []messaging.Outbound{sms(), call()} {
		t.Run(m.Channel, func(t *testing.T) {
			gw := providertest.NewGateway(t, testSecret)
			s := newSender(t, configFor(gw))

			before := time.Now().Unix()
			id, err := s.Send(t.Context(), m)
			after := time.Now().Unix()
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if id != "gw-1" {
				t.Errorf("provider id = %q, want the gateway's id gw-1", id)
			}
			reqs := gw.Requests()
			if len(reqs) != 1 {
				t.Fatalf("the gateway received %d requests, want 1", len(reqs))
			}
			req := reqs[0]
			if req.Method != http.MethodPost || req.Path != "/gatehouse/messages" {
				t.Errorf("request = %s %s, want POST /gatehouse/messages", req.Method, req.Path)
			}
			if ct := req.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if key := req.Header.Get("Idempotency-Key"); key != m.ID {
				t.Errorf("Idempotency-Key = %q, want the message id %q", key, m.ID)
			}

			var body map[string]any
			if err := json.Unmarshal(req.Body, &body); err != nil {
				t.Fatalf("body %s is not JSON: %v", req.Body, err)
			}
			want := map[string]any{"id": m.ID, "to": testTo, "channel": m.Channel, "text": m.Body, "code": testCode}
			if !reflect.DeepEqual(body, want) {
				t.Errorf("body = %v\nwant   %v", body, want)
			}

			ts := req.Header.Get("X-Gatehouse-Timestamp")
			unix, err := strconv.ParseInt(ts, 10, 64)
			if err != nil || unix < before || unix > after {
				t.Errorf("X-Gatehouse-Timestamp = %q, want the unix time of sending (%d..%d)", ts, before, after)
			}
			wantSig := "sha256=" + hmacHex(testSecret, ts+"."+string(req.Body))
			if sig := req.Header.Get("X-Gatehouse-Signature"); sig != wantSig {
				t.Errorf("X-Gatehouse-Signature = %q, want %q", sig, wantSig)
			}
			// The timestamp is signed: the same body under another timestamp does not verify.
			if other := "sha256=" + hmacHex(testSecret, strconv.FormatInt(unix+600, 10)+"."+string(req.Body)); other == wantSig {
				t.Error("the signature does not depend on the timestamp")
			}
		})
	}
}

func TestProviderIDFallsBackToTheMessageID(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
	}{
		{http.StatusAccepted, ""},
		{http.StatusOK, "queued"},
		{http.StatusOK, `{"status":"queued"}`},
		{http.StatusOK, `{"id":42}`},
		{http.StatusNoContent, ""},
	} {
		gw := providertest.NewGateway(t, testSecret)
		gw.SetReply(tc.status, tc.body)
		id, err := newSender(t, configFor(gw)).Send(t.Context(), sms())
		if err != nil {
			t.Errorf("%d %q: Send: %v", tc.status, tc.body, err)
			continue
		}
		if id != "msg_sms1" {
			t.Errorf("%d %q: provider id = %q, want the message id", tc.status, tc.body, id)
		}
	}
}

// secrets must never show in an error: errors are logged.
var secrets = []string{testCode, testSecret}

func TestTransientFailuresAreRetried(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script func(*providertest.Gateway)
		want   string
	}{
		{"500", func(g *providertest.Gateway) { g.FailNext(1, 500) }, "webhook: HTTP 500"},
		{"502", func(g *providertest.Gateway) { g.FailNext(1, 502) }, "webhook: HTTP 502"},
		{"503", func(g *providertest.Gateway) { g.FailNext(1, 503) }, "webhook: HTTP 503"},
		{"429", func(g *providertest.Gateway) { g.FailNext(1, 429) }, "webhook: HTTP 429"},
		{"408", func(g *providertest.Gateway) { g.FailNext(1, 408) }, "webhook: HTTP 408"},
		{"timeout", func(g *providertest.Gateway) { g.HangNext(1) }, "webhook: POST failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := providertest.NewGateway(t, testSecret)
			cfg := configFor(gw)
			cfg.Timeout = 200 * time.Millisecond
			s := newSender(t, cfg)
			tc.script(gw)

			_, err := s.Send(t.Context(), sms())
			providertest.CheckTransient(t, err, tc.want, secrets...)
			if _, err := s.Send(t.Context(), sms()); err != nil {
				t.Errorf("second Send: %v", err)
			}
			if n := gw.RequestCount(); n != 2 {
				t.Errorf("the gateway received %d requests, want 2", n)
			}
		})
	}
}

func TestUnreachableGatewayIsRetried(t *testing.T) {
	// A token in the URL, as some gateways want, must not reach the logs.
	s := newSender(t, config.Webhook{URL: "http://" + providertest.ClosedAddr(t) + "/send?token=gw-token-77", Secret: testSecret, Timeout: time.Second})
	_, err := s.Send(t.Context(), sms())
	providertest.CheckTransient(t, err, "connection refused", secrets...)
	if strings.Contains(err.Error(), "gw-token-77") {
		t.Errorf("error %q shows the URL's token", err)
	}
}

func TestSendHonoursTheCallersContext(t *testing.T) {
	gw := providertest.NewGateway(t, testSecret)
	cfg := configFor(gw)
	cfg.Timeout = time.Minute
	gw.HangNext(1)

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := newSender(t, cfg).Send(ctx, sms())
	if err == nil || messaging.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send = %v, want a transient context.DeadlineExceeded", err)
	}
}

func TestRefusalsAreNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name   string
		secret string
		script func(*providertest.Gateway)
		want   string
	}{
		{name: "400", script: func(g *providertest.Gateway) { g.FailNext(1, 400) }, want: `webhook: HTTP 400: {"error":"Bad Request"}`},
		{name: "401", script: func(g *providertest.Gateway) { g.FailNext(1, 401) }, want: "webhook: HTTP 401"},
		{name: "404", script: func(g *providertest.Gateway) { g.FailNext(1, 404) }, want: "webhook: HTTP 404"},
		{name: "422", script: func(g *providertest.Gateway) { g.FailNext(1, 422) }, want: "webhook: HTTP 422"},
		{name: "redirect", script: func(g *providertest.Gateway) { g.SetReply(http.StatusFound, "") }, want: "webhook: HTTP 302"},
		{name: "wrong secret", secret: "another-secret-0123456789", want: `webhook: HTTP 401: {"error":"bad signature"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := providertest.NewGateway(t, testSecret)
			cfg := configFor(gw)
			if tc.secret != "" {
				cfg.Secret = tc.secret
			}
			if tc.script != nil {
				tc.script(gw)
			}
			_, err := newSender(t, cfg).Send(t.Context(), sms())
			providertest.CheckRefused(t, err, tc.want, secrets...)
			if n := gw.RequestCount(); n != 1 {
				t.Errorf("the gateway received %d requests, want 1", n)
			}
		})
	}
}

func TestGatewayTextIsScrubbedOfSecrets(t *testing.T) {
	gw := providertest.NewGateway(t, testSecret)
	gw.SetReply(http.StatusBadRequest, "{\"error\":\"cannot send\n\t'Your code is "+testCode+"' with key "+testSecret+"\"}"+strings.Repeat(" padding", 100))
	_, err := newSender(t, configFor(gw)).Send(t.Context(), sms())
	// The gateway's newline and tab are gone: the text stays on one log line.
	providertest.CheckScrubbed(t, err, "cannot send 'Your code is [code]' with key [redacted]", secrets...)
}

func TestNewRefusesAnUnusableConfiguration(t *testing.T) {
	for name, cfg := range map[string]config.Webhook{
		"no url":          {Secret: testSecret},
		"relative url":    {URL: "/send", Secret: testSecret},
		"not http(s)":     {URL: "ftp://127.0.0.1/send", Secret: testSecret},
		"no secret":       {URL: "https://gw.example/send"},
		"url credentials": {URL: "https://user:pw-77@gw.example:notaport/send", Secret: testSecret},
	} {
		_, err := webhook.New(cfg)
		if err == nil {
			t.Errorf("%s: New succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), "pw-77") {
			t.Errorf("%s: error %q repeats the URL's password", name, err)
		}
	}
}
