package providertest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/messaging/providertest"
	"github.com/gatehouse-id/gatehouse/engine/messaging/webhook"
)

func postForm(t *testing.T, rawURL, user, pass string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return resp.StatusCode, doc
}

func TestFakeTwilioAnswersLikeTwilio(t *testing.T) {
	tw := providertest.NewTwilio(t)
	messages := tw.URL + "/2010-04-01/Accounts/" + tw.AccountSID + "/Messages.json"
	calls := tw.URL + "/2010-04-01/Accounts/" + tw.AccountSID + "/Calls.json"
	sms := url.Values{"To": {"+15555550123"}, "From": {"+15005550006"}, "Body": {"hello"}}
	twiml := url.Values{"To": {"+15555550123"}, "From": {"+15005550006"}, "Twiml": {"<Response><Say>hi</Say></Response>"}}

	for _, tc := range []struct {
		name       string
		url        string
		user, pass string
		form       url.Values
		wantStatus int
		wantCode   float64 // Twilio error code; 0 for success
	}{
		{"text", messages, tw.AccountSID, tw.AuthToken, sms, 201, 0},
		{"call", calls, tw.AccountSID, tw.AuthToken, twiml, 201, 0},
		{"no auth", messages, "", "", sms, 401, 20003},
		{"wrong token", messages, tw.AccountSID, "nope", sms, 401, 20003},
		{"unknown resource", tw.URL + "/2010-04-01/Accounts/" + tw.AccountSID + "/Faxes.json", tw.AccountSID, tw.AuthToken, sms, 404, 20404},
		{"bad number", messages, tw.AccountSID, tw.AuthToken, url.Values{"To": {"555"}, "From": {"+15005550006"}, "Body": {"x"}}, 400, 21211},
		{"no body", messages, tw.AccountSID, tw.AuthToken, url.Values{"To": {"+15555550123"}, "From": {"+15005550006"}}, 400, 21602},
		{"no sender", messages, tw.AccountSID, tw.AuthToken, url.Values{"To": {"+15555550123"}, "Body": {"x"}}, 400, 21603},
		{"broken TwiML", calls, tw.AccountSID, tw.AuthToken, url.Values{"To": {"+15555550123"}, "From": {"+15005550006"}, "Twiml": {"<Response><Say>"}}, 400, 12100},
	} {
		status, doc := postForm(t, tc.url, tc.user, tc.pass, tc.form)
		if status != tc.wantStatus {
			t.Errorf("%s: HTTP %d, want %d (%v)", tc.name, status, tc.wantStatus, doc)
			continue
		}
		if tc.wantCode == 0 {
			if sid, _ := doc["sid"].(string); len(sid) != 34 || doc["status"] != "queued" || doc["to"] != "+15555550123" {
				t.Errorf("%s: answer %v lacks a 34-character sid, status queued, to", tc.name, doc)
			}
			continue
		}
		if doc["code"] != tc.wantCode || doc["status"] != float64(tc.wantStatus) || doc["message"] == "" || doc["more_info"] == nil {
			t.Errorf("%s: error %v, want Twilio's shape with code %v", tc.name, doc, tc.wantCode)
		}
	}
	if n := tw.RequestCount(); n != 9 {
		t.Errorf("recorded %d requests, want all 9", n)
	}
}

func TestFakeTwilioFollowsItsScript(t *testing.T) {
	tw := providertest.NewTwilio(t)
	messages := tw.URL + "/2010-04-01/Accounts/" + tw.AccountSID + "/Messages.json"
	sms := url.Values{"To": {"+15555550123"}, "From": {"+15005550006"}, "Body": {"hello"}}
	tw.FailNext(2, 503)
	tw.HangNext(1)

	for range 2 {
		if status, doc := postForm(t, messages, tw.AccountSID, tw.AuthToken, sms); status != 503 || doc["code"] != float64(20503) {
			t.Errorf("scripted failure: HTTP %d %v, want 503 with code 20503", status, doc)
		}
	}
	client := &http.Client{Timeout: 100 * time.Millisecond}
	if _, err := client.PostForm(messages, sms); err == nil {
		t.Error("a scripted hang was answered")
	}
	if status, _ := postForm(t, messages, tw.AccountSID, tw.AuthToken, sms); status != 201 {
		t.Errorf("after the script: HTTP %d, want 201", status)
	}
	if n := tw.RequestCount(); n != 4 {
		t.Errorf("recorded %d requests, want 4", n)
	}
}

func TestFakeGatewayRefusesForgedStaleAndTamperedRequests(t *testing.T) {
	const secret = "gateway-secret-0123456789"
	gw := providertest.NewGateway(t, secret)
	body := []byte(`{"id":"msg_1","to":"+15555550123","channel":"sms","text":"t","code":"1"}`)
	post := func(ts string, signature string, body []byte) int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, gw.URL, bytes.NewReader(body))
		req.Header.Set("X-Gatehouse-Timestamp", ts)
		req.Header.Set("X-Gatehouse-Signature", signature)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	now := strconv.FormatInt(time.Now().Unix(), 10)
	stale := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
	tampered := bytes.Replace(body, []byte("+15555550123"), []byte("+15555550999"), 1)

	for _, tc := range []struct {
		name      string
		ts, sig   string
		body      []byte
		want      int
		wantCount int
	}{
		{"signed", now, webhook.Sign([]byte(secret), now, body), body, 200, 1},
		{"other secret", now, webhook.Sign([]byte("not-the-secret-0123"), now, body), body, 401, 2},
		{"stale", stale, webhook.Sign([]byte(secret), stale, body), body, 401, 3},
		{"timestamp swapped", now, webhook.Sign([]byte(secret), stale, body), body, 401, 4},
		{"body tampered", now, webhook.Sign([]byte(secret), now, body), tampered, 401, 5},
		{"unsigned", now, "", body, 401, 6},
	} {
		if got := post(tc.ts, tc.sig, tc.body); got != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, got, tc.want)
		}
		if n := gw.RequestCount(); n != tc.wantCount {
			t.Errorf("%s: recorded %d requests, want %d", tc.name, n, tc.wantCount)
		}
	}
}
