package idxserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The messages the engine answers with. Okta's i18n keys are used wherever Okta's
// recorded responses show one (docs/protocol.md), so that the Sign-In Widget
// translates them; the few situations Okta's captures do not cover carry a key under
// "gatehouse." and a message written to be shown as is. docs/protocol.md lists them.
func errorMessage(key, text string, params ...string) Message {
	if params == nil {
		params = []string{}
	}
	return Message{Message: text, I18n: I18n{Key: key, Params: params}, Class: "ERROR"}
}

var (
	// Wrong password, unknown user and disabled user all get this one, so the answer
	// does not tell whether an account exists.
	msgAuthenticationFailed = errorMessage("errors.E0000004", "Authentication failed")
	msgPasscodeInvalid      = errorMessage("api.authn.error.PASSCODE_INVALID", "Invalid code. Try again.")
	msgPasscodeExpired      = errorMessage("gatehouse.passcode.expired", "This code has expired. Send a new code.")
	msgSessionExpired       = errorMessage("idx.session.expired", "The session has expired.")
	msgInvalidPhone         = errorMessage("api.factors.error.sms.invalid_phone", "Invalid Phone Number.")
	msgRefusedPhone         = errorMessage("gatehouse.phone.refused", "Codes cannot be sent to premium-rate, shared-cost, toll-free, voicemail, pager, personal or satellite numbers. Use a mobile or landline number.")
	msgSMSLimit             = errorMessage("errors.E0000150", "You have reached the limit of sms requests, please try again later.")
	msgCallLimit            = errorMessage("errors.E0000151", "You have reached the limit of call requests, please try again later.")
	msgTooManyRequests      = errorMessage("tooManyRequests", "Too many requests. Try again later.")
	msgAccessDenied         = errorMessage("security.access_denied", "You do not have permission to perform the requested action.")
	msgFieldBlank           = errorMessage("model.validation.field.blank", "This field cannot be left blank")
	msgMalformed            = errorMessage("E0000003", "The request body was not well-formed.")
	msgUnsupportedMedia     = errorMessage("E0000003", "The request must be JSON (application/json or application/ion+json, okta-version=1.0.0).")
	msgTooLarge             = errorMessage("E0000003", "The request body is too large (at most 16 KiB).")
	msgMethodNotAllowed     = errorMessage("gatehouse.method.not_allowed", "This endpoint does not support the request's HTTP method.")
	msgNotFound             = errorMessage("gatehouse.endpoint.not_found", "There is no IDX endpoint at this path.")
	msgSignInFinished       = errorMessage("gatehouse.step.finished", "This sign-in has finished; no further steps are possible. Start a new sign-in.")
	msgServerError          = errorMessage("errors.E0000009", "Something went wrong on our side. Try again in a moment.")
	msgStepUnavailable      = errorMessage("gatehouse.step.unavailable", "This step is not available at this point of the sign-in.")
	msgConflict             = errorMessage("gatehouse.step.conflict", "Another request changed this sign-in at the same time. Try again.")
	msgUnknownAuthenticator = errorMessage("gatehouse.authenticator.unavailable", "The chosen authenticator is not available. Choose one from the list.")
	msgMethodUnavailable    = errorMessage("gatehouse.method.unavailable", "This phone cannot receive codes that way. Choose another method.")
	msgDeliveryFailed       = errorMessage("gatehouse.delivery.failed", "We could not send the code to your phone. Send a new code, or choose another way to get it.")
	msgPasscodeUsed         = errorMessage("authfactor.challenge.soft_token.used_passcode", "Each code can only be used once. Wait for a new code and try again.")
	msgPasswordRules        = errorMessage("password.passwordRequirementsNotMet", "Password requirements were not met. Use at least 8 characters.", "at least 8 characters")
	msgProfileUnknown       = errorMessage("gatehouse.profile.unknown", "The profile has a field this registration does not ask for.")
	msgFieldTooLong         = errorMessage("gatehouse.field.too_long", "This field is too long.")
	msgInvalidEmail         = errorMessage("registration.error.invalidEmail", "Enter a valid email address.")
	msgNotUniqueWithinOrg   = errorMessage("registration.error.notUniqueWithinOrg", "A user with this Email already exists", "email")
	msgNothingToResend      = errorMessage("gatehouse.resend.unavailable", "There is no code to send again. Choose how to receive a code first.")
)

// msgFactorLocked says the phone factor is locked and until when.
func msgFactorLocked(until, now time.Time) Message {
	mins := int(until.Sub(now).Round(time.Minute) / time.Minute)
	if mins < 1 {
		mins = 1
	}
	unit := "minutes"
	if mins == 1 {
		unit = "minute"
	}
	return errorMessage("oie.tooManyRequests",
		fmt.Sprintf("Too many incorrect codes. Phone verification is locked; try again in %d %s.", mins, unit),
		fmt.Sprint(mins))
}

// sendLimitMessage is Okta's per-channel limit message.
func sendLimitMessage(method string) Message {
	if method == "voice" {
		return msgCallLimit
	}
	return msgSMSLimit
}

// WriteMethodNotAllowed answers, in the IDX error shape, a request to an IDX endpoint
// with a method it does not serve; allow lists the methods it does, for the Allow
// header.
func WriteMethodNotAllowed(w http.ResponseWriter, allow []string) {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeBare(w, http.StatusMethodNotAllowed, msgMethodNotAllowed)
}

// WriteNotFound answers, in the IDX error shape, a request for a path under
// /idp/idx/ that is no endpoint.
func WriteNotFound(w http.ResponseWriter) {
	writeBare(w, http.StatusNotFound, msgNotFound)
}

// writeBare writes a body without remediation, labelled as every IDX answer is.
func writeBare(w http.ResponseWriter, status int, msgs ...Message) {
	h := w.Header()
	h.Set("Content-Type", responseType)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(bareResponse(msgs...))
}
