package mgmt

import (
	"encoding/json"
	"net/http"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/engine/opaque"
)

// oktaError is Okta's error body: every answer of the API that is not a success
// carries one, so that Okta's SDKs read it as they read Okta's.
type oktaError struct {
	Code    string       `json:"errorCode"`
	Summary string       `json:"errorSummary"`
	Link    string       `json:"errorLink"`
	ID      string       `json:"errorId"`
	Causes  []errorCause `json:"errorCauses"`
}

type errorCause struct {
	Summary string `json:"errorSummary"`
}

// The errors the API answers with: Okta's codes and summaries for the same cases.
var (
	errInvalidToken = apiError{http.StatusUnauthorized, "E0000011", "Invalid token provided"}
	errForbidden    = apiError{http.StatusForbidden, "E0000006", "You do not have permission to perform the requested action"}
	errNotFound     = apiError{http.StatusNotFound, "E0000007", "Not found: Resource not found: "}
	errMethod       = apiError{http.StatusMethodNotAllowed, "E0000022", "The endpoint does not support the provided HTTP method"}
	errBadBody      = apiError{http.StatusBadRequest, "E0000003", "The request body was not well-formed."}
	errValidation   = apiError{http.StatusBadRequest, "E0000001", "Api validation failed: "}
	errBadSearch    = apiError{http.StatusBadRequest, "E0000031", "Invalid search criteria."}
	errInternal     = apiError{http.StatusInternalServerError, "E0000009", "Internal Server Error"}

	errAlreadyActive = apiError{http.StatusForbidden, "E0000016", "Activation failed because the user is already active"}
	errNoUnlock      = apiError{http.StatusForbidden, "E0000032", "Unlock is not allowed for this user."}
	errPasscode      = apiError{http.StatusForbidden, "E0000068", "Invalid Passcode/Answer"}
	errSMSRecent     = apiError{http.StatusTooManyRequests, "E0000109", "An SMS message was recently sent. Please wait 30 seconds before trying again."}
	errTooMany       = apiError{http.StatusTooManyRequests, "E0000047", "API call exceeded rate limit due to too many requests."}
)

// apiError is one kind of error answer.
type apiError struct {
	status  int
	code    string
	summary string
}

// write answers with the error; detail is appended to the summary (Okta names the
// field or resource there) and causes become errorCauses.
func (e apiError) write(w http.ResponseWriter, detail string, causes ...string) {
	body := oktaError{Code: e.code, Summary: e.summary + detail, Link: e.code, ID: errorID(), Causes: []errorCause{}}
	for _, c := range causes {
		body.Causes = append(body.Causes, errorCause{Summary: c})
	}
	writeJSON(w, e.status, body)
}

// errorID is a fresh id for one error answer, in the style of Okta's ("oae…").
func errorID() string { return opaque.ID("oae") }

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// quoted shortens a value a client sent for an error message: at most 128 bytes,
// cut at a character boundary. JSON encoding escapes whatever it holds.
func quoted(s string) string {
	if len(s) <= 128 {
		return s
	}
	s = s[:128]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
