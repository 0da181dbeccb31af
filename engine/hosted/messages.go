package hosted

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/idx"
)

// i18n keys of the engine's messages that the pages word themselves or act on.
const (
	keyWrongPassword  = "errors.E0000004"
	keyWrongCode      = "api.authn.error.PASSCODE_INVALID"
	keySessionExpired = "idx.session.expired"
	keySMSLimit       = "errors.E0000150"
	keyCallLimit      = "errors.E0000151"
	keyFactorLocked   = "oie.tooManyRequests"
	keyPasswordLimit  = "tooManyRequests"
	keyAPILimit       = "E0000047"
	keyServerError    = "errors.E0000009"
	keyEmailTaken     = "registration.error.notUniqueWithinOrg"
)

// words are what the pages say for the engine's keys: what happened and what
// to do. Keys not listed show the engine's text, which for its "gatehouse."
// keys is written to be shown as is.
var words = map[string]string{
	keyWrongPassword:                      "That username and password don't match. Check them and try again.",
	keyWrongCode:                          "That code isn't right. Check the latest message and try again.",
	"model.validation.field.blank":        "This field can't be empty.",
	"gatehouse.passcode.expired":          "That code has expired or was replaced by a newer one. Ask for a new code.",
	keySessionExpired:                     "Your sign-in expired before it was finished. Go back to the application and sign in again.",
	"security.access_denied":              "Your account can't sign in to this application. Contact your administrator.",
	"api.factors.error.sms.invalid_phone": "That doesn't look like a phone number. Include the country code, e.g. +1 201 555 0123.",
	keyPasswordLimit:                      "Too many sign-in attempts. Wait a few minutes, then try again.",
	keySMSLimit:                           "Too many text messages were sent to this phone. Wait a little, then ask for a new code.",
	keyCallLimit:                          "Too many calls were made to this phone. Wait a little, then ask for a new code.",
	keyAPILimit:                           "The sign-in service is getting too many requests. Wait a moment, then try again.",
	keyServerError:                        "Something went wrong on our side. Try again in a moment.",
	"E0000003":                            "Something went wrong with that request. Try again.",
	keyEmailTaken:                         "There's already an account with this email address. Go back to sign in with it, or reset its password there.",
}

// about says what the step a message came with is about, where that
// changes the words: the authenticator app's code (nothing was sent, the app
// shows it), a new account's profile.
type about int

const (
	aboutOther about = iota
	aboutApp
	aboutProfile
)

// aboutStep is what step is about.
func aboutStep(step *idx.NextStep) about {
	switch {
	case isApp(step):
		return aboutApp
	case step != nil && step.Name == stepEnrollProfile:
		return aboutProfile
	}
	return aboutOther
}

// wordsAbout replace words for the steps they are about.
var wordsAbout = map[about]map[string]string{
	aboutApp:     {keyWrongCode: "That code isn't right. Enter the code your app shows now."},
	aboutProfile: {keyPasswordLimit: "Too many accounts were started from your network. Wait a while, then try again."},
}

// withWaitAbout replace withWait for the steps they are about.
var withWaitAbout = map[about]map[string]string{
	aboutProfile: {keyPasswordLimit: "Too many accounts were started from your network. Try again in"},
}

// withWait start the words for a rate limit when the engine said how long to
// wait; the wait ends them ("… in 30 seconds.").
var withWait = map[string]string{
	keyPasswordLimit: "Too many sign-in attempts. Try again in",
	keySMSLimit:      "Too many text messages were sent to this phone. You can ask for a new code in",
	keyCallLimit:     "Too many calls were made to this phone. You can ask for a new code in",
	keyAPILimit:      "The sign-in service is getting too many requests. Try again in",
}

// textFor is what to show for an engine message; wait is the engine's
// Retry-After, zero when it gave none; a is what the step is about.
func textFor(m idx.Message, wait time.Duration, a about) string {
	if s, ok := withWaitAbout[a][m.Key]; ok && wait > 0 {
		return s + " " + waitText(wait) + "."
	}
	if s, ok := withWait[m.Key]; ok && wait > 0 {
		return s + " " + waitText(wait) + "."
	}
	if m.Key == keyFactorLocked {
		// The engine passes the minutes left as the first parameter. Wrong
		// codes of the phone and the app count toward one lockout.
		what := "Phone verification"
		if a == aboutApp {
			what = "Verification with a code"
		}
		if len(m.Params) > 0 {
			if mins := fmt.Sprint(m.Params[0]); mins == "1" {
				return "Too many incorrect codes. " + what + " is locked for 1 minute. Try again then."
			} else if mins != "" {
				return "Too many incorrect codes. " + what + " is locked for " + mins + " minutes. Try again then."
			}
		}
		return "Too many incorrect codes. " + what + " is locked for a few minutes. Try again later."
	}
	if s, ok := wordsAbout[a][m.Key]; ok {
		return s
	}
	if s, ok := words[m.Key]; ok {
		return s
	}
	if t := strings.TrimSpace(m.Text); t != "" {
		return t
	}
	return "Something went wrong. Try again."
}

// waitText says a wait in words: "45 seconds", "1 minute", "5 minutes".
func waitText(d time.Duration) string {
	secs := ceilSeconds(d)
	switch {
	case secs == 1:
		return "1 second"
	case secs < 60:
		return fmt.Sprintf("%d seconds", secs)
	case secs < 120:
		return "1 minute"
	default:
		return fmt.Sprintf("%d minutes", (secs+59)/60)
	}
}

// rateLimited reports a rate limit or lockout among msgs (answered 429).
func rateLimited(msgs []idx.Message) bool {
	for _, m := range msgs {
		switch m.Key {
		case keySMSLimit, keyCallLimit, keyFactorLocked, keyPasswordLimit, keyAPILimit:
			return true
		}
	}
	return false
}

func hasKey(msgs []idx.Message, key string) bool {
	for _, m := range msgs {
		if m.Key == key {
			return true
		}
	}
	return false
}

func hasError(msgs []idx.Message) bool {
	for _, m := range msgs {
		if m.Class == "" || m.Class == "ERROR" {
			return true
		}
	}
	return false
}

// formErrors are messages for the whole page and for single fields (by the
// pages' field names).
type formErrors struct {
	Global []string
	Fields map[string]string
}

// fieldOf maps the SDK's input names to the pages' field names.
var fieldOf = map[string]string{
	"username":         "username",
	"password":         "password",
	"verificationCode": "code",
	"methodType":       "method",
	"phoneNumber":      "phone",
	"authenticator":    "authenticator",
	"newPassword":      "password",
}

// fieldName is the pages' field for an SDK input name: fieldOf's, or a new
// account's profile attribute by its own name ("userProfile.email").
func fieldName(input string) (string, bool) {
	if f, ok := fieldOf[input]; ok {
		return f, true
	}
	if strings.HasPrefix(input, profilePrefix) {
		return input, true
	}
	return "", false
}

// profilePrefix starts the SDK's names of a registration's profile inputs.
const profilePrefix = "userProfile."

func newFormErrors() formErrors { return formErrors{Fields: map[string]string{}} }

func (e *formErrors) add(m idx.Message, wait time.Duration, a about) {
	text := textFor(m, wait, a)
	if f, ok := fieldName(m.Field); ok {
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

// first is the most important message: the first global one, else a field's.
func (e formErrors) first() string {
	if len(e.Global) > 0 {
		return e.Global[0]
	}
	for _, name := range []string{"username", "password", "confirm", "authenticator", "method", "phone", "code"} {
		if t, ok := e.Fields[name]; ok {
			return t
		}
	}
	for _, name := range slices.Sorted(maps.Keys(e.Fields)) {
		return e.Fields[name]
	}
	return ""
}

// errorsFrom files the engine's error and warning messages (informational
// ones are no mistakes); a is what the step they came with is about.
func errorsFrom(msgs []idx.Message, wait time.Duration, a about) formErrors {
	e := newFormErrors()
	for _, m := range msgs {
		if m.Class != "INFO" {
			e.add(m, wait, a)
		}
	}
	return e
}
