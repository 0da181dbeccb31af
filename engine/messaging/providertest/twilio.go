package providertest

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Twilio is a fake of the two Twilio REST API resources the engine uses:
//
//	POST /2010-04-01/Accounts/{AccountSid}/Messages.json
//	POST /2010-04-01/Accounts/{AccountSid}/Calls.json
//
// Like the real API it takes form-encoded parameters, wants HTTP Basic auth with
// the account SID and auth token, answers 201 with the created resource as JSON,
// and reports errors as {"code":…,"message":…,"more_info":…,"status":…}. It checks
// the parameters the real API would refuse a request for (a missing or malformed
// To, no From, no Body, TwiML that does not parse), with Twilio's error codes.
type Twilio struct {
	// URL is the base URL to configure as messaging.twilio.base_url.
	URL        string
	AccountSID string
	AuthToken  string

	f *fake
}

// Test credentials of the fake Twilio: shaped like real ones (the SDK accepts only
// letters and digits), valid nowhere else.
const (
	TwilioAccountSID = "AC00000000000000000000000000000001"
	TwilioAuthToken  = "0123456789abcdef0123456789abcdef"
)

// NewTwilio starts a fake Twilio that accepts TwilioAccountSID and TwilioAuthToken.
// It stops when the test ends.
func NewTwilio(t testing.TB) *Twilio {
	t.Helper()
	tw := &Twilio{AccountSID: TwilioAccountSID, AuthToken: TwilioAuthToken}
	tw.f = newFake(t, tw.serve)
	tw.URL = tw.f.srv.URL
	return tw
}

// Requests returns every request received so far, in order.
func (tw *Twilio) Requests() []Request { return tw.f.recorded() }

// RequestCount is len(Requests()).
func (tw *Twilio) RequestCount() int { return tw.f.count() }

// FailNext makes the next n requests fail with the HTTP status and a Twilio error
// document whose code fits it (21211 for 400, 20003 for 401, 20429 for 429, …).
func (tw *Twilio) FailNext(n, status int) { tw.f.push(n, step{status: status}) }

// FailNextWithCode is FailNext with the Twilio error code and message given.
func (tw *Twilio) FailNextWithCode(n, status, code int, message string) {
	tw.f.push(n, step{status: status, twilioCode: code, twilioMessage: message})
}

// FailNextRaw makes the next n requests fail with the status and body as text/html,
// as a proxy in front of the API answers when the API is down.
func (tw *Twilio) FailNextRaw(n, status int, body string) {
	tw.f.push(n, step{status: status, rawBody: body})
}

// HangNext makes the next n requests get no answer until their client gives up.
func (tw *Twilio) HangNext(n int) { tw.f.push(n, step{hang: true}) }

var (
	twilioPath = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/(Messages|Calls)\.json$`)
	e164       = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

func (tw *Twilio) serve(f *fake, w http.ResponseWriter, r *http.Request, req Request) {
	if s, ok := f.next(); ok {
		switch {
		case s.hang:
			f.hang(r)
		case s.rawBody != "":
			writeRaw(w, s.status, s.rawBody)
		default:
			code, msg := s.twilioCode, s.twilioMessage
			if code == 0 {
				code, msg = twilioErrorFor(s.status)
			}
			writeTwilioError(w, s.status, code, msg)
		}
		return
	}

	m := twilioPath.FindStringSubmatch(req.Path)
	if m == nil {
		writeTwilioError(w, http.StatusNotFound, 20404, fmt.Sprintf("The requested resource %s was not found", req.Path))
		return
	}
	if req.Method != http.MethodPost {
		writeTwilioError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	user, pass, ok := req.BasicAuth()
	if !ok || user != tw.AccountSID || pass != tw.AuthToken {
		writeTwilioError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if m[1] != tw.AccountSID {
		writeTwilioError(w, http.StatusNotFound, 20404, fmt.Sprintf("The requested resource %s was not found", req.Path))
		return
	}
	form := req.Form
	if form == nil {
		writeTwilioError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	}
	to := form.Get("To")
	switch {
	case to == "":
		writeTwilioError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case !e164.MatchString(to):
		writeTwilioError(w, http.StatusBadRequest, 21211, fmt.Sprintf("Invalid 'To' Phone Number: %s", to))
		return
	}

	n := f.nextSeq()
	now := time.Now().UTC().Format(time.RFC1123Z)
	if m[2] == "Messages" {
		from, service := form.Get("From"), form.Get("MessagingServiceSid")
		switch {
		case from == "" && service == "":
			writeTwilioError(w, http.StatusBadRequest, 21603, "The 'From' phone number is required.")
			return
		case form.Get("Body") == "":
			writeTwilioError(w, http.StatusBadRequest, 21602, "Message body is required.")
			return
		}
		sid := fmt.Sprintf("SM%032x", n)
		status := "queued"
		var fromField any = from
		if from == "" {
			// Through a Messaging Service Twilio picks the sender later.
			status, fromField = "accepted", nil
		}
		var serviceField any
		if service != "" {
			serviceField = service
		}
		writeJSON(w, http.StatusCreated, map[string]any{
			"sid":                   sid,
			"account_sid":           tw.AccountSID,
			"api_version":           "2010-04-01",
			"body":                  form.Get("Body"),
			"date_created":          now,
			"date_updated":          now,
			"date_sent":             nil,
			"direction":             "outbound-api",
			"error_code":            nil,
			"error_message":         nil,
			"from":                  fromField,
			"messaging_service_sid": serviceField,
			"num_media":             "0",
			"num_segments":          "1",
			"price":                 nil,
			"price_unit":            "USD",
			"status":                status,
			"to":                    to,
			"uri":                   fmt.Sprintf("/2010-04-01/Accounts/%s/Messages/%s.json", tw.AccountSID, sid),
		})
		return
	}

	from := form.Get("From")
	twiml := form.Get("Twiml")
	switch {
	case from == "":
		writeTwilioError(w, http.StatusBadRequest, 21213, "No 'From' number is specified")
		return
	case twiml == "" && form.Get("Url") == "":
		writeTwilioError(w, http.StatusBadRequest, 21205, "Url parameter is required.")
		return
	case twiml != "" && !parsesAsTwiML(twiml):
		writeTwilioError(w, http.StatusBadRequest, 12100, "Document parse failure")
		return
	}
	sid := fmt.Sprintf("CA%032x", n)
	writeJSON(w, http.StatusCreated, map[string]any{
		"sid":          sid,
		"account_sid":  tw.AccountSID,
		"api_version":  "2010-04-01",
		"date_created": now,
		"date_updated": now,
		"direction":    "outbound-api",
		"duration":     nil,
		"end_time":     nil,
		"from":         from,
		"price":        nil,
		"price_unit":   "USD",
		"start_time":   nil,
		"status":       "queued",
		"to":           to,
		"uri":          fmt.Sprintf("/2010-04-01/Accounts/%s/Calls/%s.json", tw.AccountSID, sid),
	})
}

// parsesAsTwiML reports whether s is well-formed XML with a <Response> root, which
// is what Twilio checks before it places a call.
func parsesAsTwiML(s string) bool {
	d := xml.NewDecoder(strings.NewReader(s))
	var root struct{ XMLName xml.Name }
	if err := d.Decode(&root); err != nil {
		return false
	}
	return root.XMLName.Local == "Response"
}

// twilioErrorFor picks the Twilio error a real request would most likely get with
// status.
func twilioErrorFor(status int) (code int, message string) {
	switch status {
	case http.StatusBadRequest:
		return 21211, "Invalid 'To' Phone Number"
	case http.StatusUnauthorized:
		return 20003, "Authenticate"
	case http.StatusForbidden:
		return 20003, "Permission Denied"
	case http.StatusNotFound:
		return 20404, "The requested resource was not found"
	case http.StatusTooManyRequests:
		return 20429, "Too Many Requests"
	case http.StatusServiceUnavailable:
		return 20503, "Service Unavailable"
	default:
		if status >= 500 {
			return 20500, "An internal server error has occurred"
		}
		return 20001, "Unknown parameters"
	}
}

func writeTwilioError(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, map[string]any{
		"code":      code,
		"message":   message,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
		"status":    status,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
