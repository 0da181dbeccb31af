package idx

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// serverDate is the Date the scripted 429 replies carry, so that waits
// computed from X-Rate-Limit-Reset or an HTTP-date Retry-After are exact.
var serverDate = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// TestRateLimitedTransactionsCarryTheWait: a 429 IDX reply becomes a
// Transaction (PENDING with its form, or TERMINAL) whose RetryAfter is the
// server's Retry-After, in seconds or as a date, else X-Rate-Limit-Reset.
func TestRateLimitedTransactionsCarryTheWait(t *testing.T) {
	challenge := func(t *testing.T, method string) string {
		return body(`"authenticator":{"id":"id-phone-authenticator","methodType":"` + method + `"},` + sh(t, fxVerifySMSVoice, "authenticator-verification-data"))
	}
	cases := []struct {
		name    string
		fixture string
		header  map[string]string
		status  Status
		want    time.Duration
	}{
		{"Retry-After seconds, form kept", fx429Voice, map[string]string{"Retry-After": "17"}, StatusPending, 17 * time.Second},
		{"Retry-After date", fx429, map[string]string{"Date": serverDate.Format(http.TimeFormat), "Retry-After": serverDate.Add(90 * time.Second).Format(http.TimeFormat)},
			StatusTerminal, 90 * time.Second},
		{"X-Rate-Limit-Reset", fx429API, map[string]string{"Date": serverDate.Format(http.TimeFormat),
			"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": "0", "X-Rate-Limit-Reset": strconv.FormatInt(serverDate.Unix()+42, 10)},
			StatusTerminal, 42 * time.Second},
		{"Retry-After wins over X-Rate-Limit-Reset", fx429API, map[string]string{"Date": serverDate.Format(http.TimeFormat),
			"Retry-After": "3", "X-Rate-Limit-Reset": strconv.FormatInt(serverDate.Unix()+42, 10)}, StatusTerminal, 3 * time.Second},
		{"no header", fx429, nil, StatusTerminal, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := "voice"
			if tc.fixture != fx429Voice {
				method = "sms"
			}
			s := newReplayServer(t,
				introspectEx(fxVerifySMSVoice),
				exchange{path: "/idp/idx/challenge", accept: oldAccepts, status: 429, fixture: tc.fixture, header: tc.header, body: challenge(t, method)},
			)
			tx, err := s.client().Proceed(context.Background(), newTestState(s), Options{MethodType: method})
			if err != nil {
				t.Fatal(err)
			}
			if tx.Status != tc.status || tx.RequestSucceeded || tx.RetryAfter != tc.want {
				t.Fatalf("status %s (succeeded %v), RetryAfter %v; want %s, %v", tx.Status, tx.RequestSucceeded, tx.RetryAfter, tc.status, tc.want)
			}
		})
	}
}

// TestRateLimitedErrorsCarryTheWait: a 429 from interact, as an OAuth error
// or as a page that is not JSON, is an error RateLimited recognises, with the
// wait the server asked for; other statuses are not rate limits and carry no
// wait even with a Retry-After header.
func TestRateLimitedErrorsCarryTheWait(t *testing.T) {
	const oauthBody = `{"error":"too_many_requests","error_description":"Too many sign-ins from this address."}`
	cases := []struct {
		name        string
		status      int
		fixture     string
		raw         string
		header      map[string]string
		wantLimited bool
		wantWait    time.Duration
	}{
		{"OAuth error, Retry-After", 429, oauthBody, "", map[string]string{"Retry-After": "5"}, true, 5 * time.Second},
		{"OAuth error, X-Rate-Limit-Reset", 429, oauthBody, "", map[string]string{"Date": serverDate.Format(http.TimeFormat),
			"X-Rate-Limit-Reset": strconv.FormatInt(serverDate.Unix()+61, 10)}, true, 61 * time.Second},
		{"HTML page, Retry-After", 429, "", "<html>slow down</html>", map[string]string{"Retry-After": "8"}, true, 8 * time.Second},
		{"429 without a wait", 429, oauthBody, "", nil, true, 0},
		{"400 with Retry-After", 400, "oauth-interact-error-unauthorized-client.json", "", map[string]string{"Retry-After": "9"}, false, 0},
		{"503 is no rate limit", 503, "", "<html>down</html>", map[string]string{"Retry-After": "9"}, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newReplayServer(t)
			s.interactStatus, s.interactFixture, s.interactRaw, s.interactHeader = tc.status, tc.fixture, tc.raw, tc.header
			_, err := s.client().Authenticate(context.Background(), nil, Options{})
			if err == nil {
				t.Fatal("interact refused, yet Authenticate succeeded")
			}
			wait, limited := RateLimited(err)
			if limited != tc.wantLimited || wait != tc.wantWait {
				t.Fatalf("RateLimited(%v) = %v, %v; want %v, %v", err, wait, limited, tc.wantWait, tc.wantLimited)
			}
			var oe *OAuthError
			var he *HTTPError
			switch {
			case errors.As(err, &oe):
				if tc.raw != "" || !errors.Is(err, ErrOAuth) || oe.Status != tc.status {
					t.Fatalf("err = %#v", err)
				}
			case errors.As(err, &he):
				if tc.raw == "" || !errors.Is(err, ErrProtocol) || he.Status != tc.status {
					t.Fatalf("err = %#v", err)
				}
				if tc.status == 503 && he.RetryAfter != 9*time.Second {
					t.Errorf("503: HTTPError.RetryAfter = %v, want the 9 s it asked for", he.RetryAfter)
				}
			default:
				t.Fatalf("err = %v, want *OAuthError or *HTTPError", err)
			}
		})
	}
	if _, ok := RateLimited(nil); ok {
		t.Error("RateLimited(nil) is true")
	}
	if _, ok := RateLimited(ErrNetwork); ok {
		t.Error("RateLimited(ErrNetwork) is true")
	}
}

// TestRetryAfterParsing covers the header forms and bounds.
func TestRetryAfterParsing(t *testing.T) {
	date := serverDate.Format(http.TimeFormat)
	reset := func(d time.Duration) string { return strconv.FormatInt(serverDate.Add(d).Unix(), 10) }
	cases := []struct {
		status int
		header map[string]string
		want   time.Duration
	}{
		{429, map[string]string{"Retry-After": "120"}, 2 * time.Minute},
		{429, map[string]string{"Retry-After": " 0 "}, 0},
		{429, map[string]string{"Retry-After": "-5"}, 0},
		{429, map[string]string{"Retry-After": "1.5"}, 0},
		{429, map[string]string{"Retry-After": "soon"}, 0},
		{429, map[string]string{"Retry-After": "99999999999999999999"}, maxRetryAfter},
		{429, map[string]string{"Date": date, "Retry-After": serverDate.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{429, map[string]string{"Date": date, "X-Rate-Limit-Reset": reset(30 * time.Second)}, 30 * time.Second},
		{429, map[string]string{"Date": date, "X-Rate-Limit-Reset": reset(-30 * time.Second)}, 0},
		{429, map[string]string{"Date": date, "X-Rate-Limit-Reset": reset(100 * 24 * time.Hour)}, maxRetryAfter},
		{429, map[string]string{"Date": date, "X-Rate-Limit-Reset": "9223372036854775807"}, maxRetryAfter},
		{429, map[string]string{"Date": date, "X-Rate-Limit-Reset": "garbage"}, 0},
		{429, map[string]string{"Date": date, "Retry-After": "soon", "X-Rate-Limit-Reset": reset(7 * time.Second)}, 7 * time.Second},
		{503, map[string]string{"Retry-After": "11"}, 11 * time.Second},
		{503, map[string]string{"Date": date, "X-Rate-Limit-Reset": reset(30 * time.Second)}, 0}, // Okta sends these on every reply
		{200, map[string]string{"Retry-After": "11"}, 0},
		{401, map[string]string{"Date": date, "X-Rate-Limit-Reset": reset(30 * time.Second)}, 0},
	}
	for _, tc := range cases {
		h := http.Header{}
		for k, v := range tc.header {
			h.Set(k, v)
		}
		if got := retryAfter(&httpResponse{status: tc.status, header: h}); got != tc.want {
			t.Errorf("HTTP %d %v: retryAfter = %v, want %v", tc.status, tc.header, got, tc.want)
		}
	}
}
