package app

import (
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/idx"
)

// Message keys the app reacts to beyond showing them.
const (
	keySessionExpired = "idx.session.expired"
	keySMSLimit       = "errors.E0000150"
	keyCallLimit      = "errors.E0000151"
	keyFactorLocked   = "oie.tooManyRequests"
	keyPasswordLimit  = "tooManyRequests"
	keyAPILimit       = "E0000047" // Okta's API rate limit, in its classic error body
)

// humanWords are the app's own words for the i18n keys the engine (and Okta)
// send. The servers' English texts are written for developers as much as for
// people ("Authentication failed"); these say what happened and what to do.
// A key not listed here shows the server's text, which for Gatehouse's own
// "gatehouse." keys is written to be shown as is.
var humanWords = map[string]string{
	"errors.E0000004":                       "That username and password don't match. Check them and try again.",
	"model.validation.field.blank":          "This field can't be empty.",
	keyPasswordLimit:                        "Too many sign-in attempts. Wait a few minutes, then try again.",
	"api.authn.error.PASSCODE_INVALID":      "That code isn't right. Check the latest message and try again.",
	"gatehouse.passcode.expired":            "That code has expired or was replaced by a newer one. Ask for a new code.",
	keySMSLimit:                             "Too many text messages were sent to this phone. Wait a little, then ask for a new code.",
	keyCallLimit:                            "Too many calls were made to this phone. Wait a little, then ask for a new code.",
	keySessionExpired:                       "Your sign-in expired before it was finished. Please sign in again.",
	"security.access_denied":                "Your account can't sign in here. Contact your administrator.",
	"api.factors.error.sms.invalid_phone":   "That doesn't look like a phone number. Include the country code, e.g. +1 201 555 0123.",
	"errors.E0000009":                       "Something went wrong on our side. Try again in a moment.",
	"E0000003":                              "Something went wrong with that request. Try again.",
	keyAPILimit:                             "The sign-in service is getting too many requests. Wait a moment, then try again.",
	"registration.error.notUniqueWithinOrg": "An account with this email address already exists. Sign in, or reset its password if you forgot it.",
	"authfactor.challenge.soft_token.invalid_passcode": "That code isn't right. Enter the code your authenticator app shows now.",
	"authfactor.challenge.soft_token.used_passcode":    "That code was already used. Wait for your app to show a new one, then enter it.",
	"password.passwordRequirementsNotMet":              "That password doesn't follow the rules below. Choose another one.",
}

// totpWords replace humanWords on an authenticator app's pages, where no
// code was sent ("check the latest message" would make no sense).
var totpWords = map[string]string{
	"api.authn.error.PASSCODE_INVALID": "That code isn't right. Enter the code your authenticator app shows now.",
	"gatehouse.passcode.expired":       "That code has expired. Enter the code your authenticator app shows now.",
}

// withWait are the words for rate limits when the server said how long to
// wait; the wait follows them ("… in 30 seconds.").
var withWait = map[string]string{
	keyPasswordLimit: "Too many sign-in attempts. Try again in",
	keySMSLimit:      "Too many text messages were sent to this phone. You can ask for a new code in",
	keyCallLimit:     "Too many calls were made to this phone. You can ask for a new code in",
	keyAPILimit:      "The sign-in service is getting too many requests. Try again in",
}

// humanText returns the words to show for a server message. wait is how
// long the server asked to wait (idx.Transaction.RetryAfter), zero if it did
// not say; a rate limit's words then give it instead of "a little".
func humanText(m idx.Message, wait time.Duration) string {
	return humanTextFor(m, wait, "")
}

// humanTextFor is humanText on the page of the authenticator with key
// authKey.
func humanTextFor(m idx.Message, wait time.Duration, authKey string) string {
	if s, ok := totpWords[m.Key]; ok && authKey == keyTOTP {
		return s
	}
	if s, ok := withWait[m.Key]; ok && wait > 0 {
		return s + " " + waitText(wait) + "."
	}
	if m.Key == keyFactorLocked {
		// The engine passes the minutes left as the first parameter.
		if len(m.Params) > 0 {
			if mins := fmt.Sprint(m.Params[0]); mins != "" && mins != "1" {
				return "Too many incorrect codes. Phone verification is locked for " + mins + " minutes. Try again later."
			}
		}
		return "Too many incorrect codes. Phone verification is locked for a few minutes. Try again later."
	}
	if s, ok := humanWords[m.Key]; ok {
		return s
	}
	if t := strings.TrimSpace(m.Text); t != "" {
		return t
	}
	return "Something went wrong. Try again."
}

// rateLimited reports whether any message is a rate limit or lockout, which
// the app answers with HTTP 429.
func rateLimited(msgs []idx.Message) bool {
	for _, m := range msgs {
		switch m.Key {
		case keySMSLimit, keyCallLimit, keyFactorLocked, keyPasswordLimit, keyAPILimit:
			return true
		}
	}
	return false
}

// hasError reports whether msgs holds an error.
func hasError(msgs []idx.Message) bool {
	for _, m := range msgs {
		if m.Class == "" || m.Class == "ERROR" {
			return true
		}
	}
	return false
}

// formErrors splits messages into the page-level ones and those about one
// field, keyed by the app's field name.
type formErrors struct {
	Global []string
	Fields map[string]string
}

// fieldOf maps the SDK's input names to the names the app's forms use.
var fieldOf = map[string]string{
	"username":         "username",
	"password":         "password",
	"verificationCode": "code",
	"methodType":       "method",
	"phoneNumber":      "phone",
	"authenticator":    "authenticator",
	"newPassword":      "password",
}

func newFormErrors() formErrors { return formErrors{Fields: map[string]string{}} }

// add files one server message under its field, or globally.
func (e *formErrors) add(m idx.Message, wait time.Duration) {
	e.addText(m, humanText(m, wait))
}

// addText files text, the words for m, under m's field or globally. A new
// account's profile fields keep the SDK's input names
// ("userProfile.email").
func (e *formErrors) addText(m idx.Message, text string) {
	f, ok := fieldOf[m.Field]
	if strings.HasPrefix(m.Field, "userProfile.") {
		f, ok = m.Field, true
	}
	if ok && m.Field != "" {
		if _, dup := e.Fields[f]; !dup {
			e.Fields[f] = text
		}
		return
	}
	e.addGlobal(text)
}

func (e *formErrors) addGlobal(text string) {
	for _, g := range e.Global {
		if g == text {
			return
		}
	}
	e.Global = append(e.Global, text)
}

func (e formErrors) any() bool { return len(e.Global) > 0 || len(e.Fields) > 0 }

// errorsFrom files the error and warning messages; informational ones
// (which Okta sometimes adds) are not mistakes to show in red. wait is the
// transaction's RetryAfter.
func errorsFrom(msgs []idx.Message, wait time.Duration) formErrors {
	e := newFormErrors()
	for _, m := range msgs {
		if m.Class != "INFO" {
			e.add(m, wait)
		}
	}
	return e
}

// errorsOf is errorsFrom for a transaction's messages, in the words of its
// next step's page.
func errorsOf(tx *idx.Transaction) formErrors {
	key := ""
	if tx.NextStep != nil && tx.NextStep.Authenticator != nil {
		key = tx.NextStep.Authenticator.Key
	}
	e := newFormErrors()
	for _, m := range tx.Messages {
		if m.Class != "INFO" {
			e.addText(m, humanTextFor(m, tx.RetryAfter, key))
		}
	}
	return e
}
