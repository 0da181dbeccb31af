// Package idx is a Go client for the IDX interaction protocol spoken by Okta
// Identity Engine and by Gatehouse. It signs users in, resets forgotten
// passwords and registers new users with the semantics of okta-auth-js's
// idx.authenticate, idx.recoverPassword and idx.register, so an application
// only renders what comes back: it never needs to know the protocol's forms,
// hrefs or handles.
//
// The package talks HTTP only and is built from the wire contract
// (interact with PKCE S256, introspect, remediation forms read from each
// response, the interaction_code grant, ID token verification against the
// issuer's JWKS), so it works against Gatehouse and against an Okta org alike.
//
// # The sign-in loop
//
// Every call takes the State stored for the user (nil at first) and returns a
// Transaction:
//
//	tx, err := client.Authenticate(ctx, saved, idx.Options{Username: u, Password: p})
//	// handle err (network, protocol, OAuth, token verification)
//	save(tx.State) // nil means the transaction is over: delete what was stored
//	switch tx.Status {
//	case idx.StatusPending:  // render tx.NextStep (inputs, options, authenticator) and tx.Messages
//	case idx.StatusSuccess:  // tx.Tokens holds verified tokens
//	case idx.StatusTerminal: // show tx.Messages (expired session, access denied, rate limit)
//	case idx.StatusCanceled: // start again
//	}
//
// The next request supplies whatever NextStep asked for — Authenticator
// "phone_number", MethodType "sms", VerificationCode "123456", PhoneNumber
// for an enrollment — and calls Authenticate (or Proceed) again with the
// stored State. Values given up front are posted step after step in one call,
// as okta-auth-js does. Resend and Cancel are separate calls.
//
// Each option of an authenticator choice carries an Authenticator describing
// what it stands for, e.g. a phone's masked number; with several phones, pass
// the chosen option's Authenticator.EnrollmentID as Options.Authenticator.
// To switch the phone being verified to another method ("call me instead"),
// name the step: Options{Step: "select-authenticator-authenticate",
// Authenticator: "phone_number", MethodType: "voice"}.
//
// # Password recovery
//
// RecoverPassword resets a forgotten password as okta-auth-js's
// idx.recoverPassword does. It starts only where the server offers it —
// Transaction.EnabledFeatures lists FeaturePasswordRecovery, which the
// sign-in's first response does when the server has a recover action —
// and otherwise returns an error matching ErrRecoveryUnavailable:
//
//	tx, err := client.RecoverPassword(ctx, nil, idx.Options{Username: u})
//	// the recover action, then identify-recovery: tx.NextStep is the
//	// choice of a phone (select-authenticator-authenticate)
//	tx, err = client.Proceed(ctx, tx.State, idx.Options{Authenticator: "phone_number", MethodType: "sms"})
//	tx, err = client.Proceed(ctx, tx.State, idx.Options{VerificationCode: code})
//	// tx.NextStep.Name == "reset-authenticator"; show the rules in
//	// tx.NextStep.Authenticator.PasswordPolicy next to the field
//	tx, err = client.Proceed(ctx, tx.State, idx.Options{NewPassword: p})
//	// SUCCESS: the user is signed in with the new password
//
// The new password goes in Options.NewPassword, never in Options.Password:
// a password given to sign in is not posted as the new one by mistake. The
// recover action (of currentAuthenticator or of
// currentAuthenticatorEnrollment) is posted whenever a response offers it,
// at most once per call each, as okta-auth-js runs a flow's actions.
//
// # Registration
//
// Register signs a new user up as okta-auth-js's idx.register does. It
// starts only where the server offers select-enroll-profile
// (FeatureRegistration), otherwise its error matches
// ErrRegistrationUnavailable. The profile form is the server's: its inputs
// are named "userProfile.<attribute>" ("userProfile.email",
// "userProfile.firstName", "userProfile.lastName" and any other the server
// lists), and Options.Profile fills them by attribute name:
//
//	tx, err := client.Register(ctx, nil, idx.Options{})
//	// tx.NextStep.Name == "enroll-profile": render its Inputs
//	tx, err = client.Proceed(ctx, tx.State, idx.Options{
//		Profile:       map[string]string{"email": e, "firstName": f, "lastName": l},
//		Authenticator: "okta_password", // go on to the password step
//	})
//	// tx.NextStep.Name == "enroll-authenticator" for the password, with
//	// its PasswordPolicy; an email already taken comes back as a message
//	// on the "userProfile.email" input instead
//	tx, err = client.Proceed(ctx, tx.State, idx.Options{Password: p})
//	// then any factor the server requires (a phone, an authenticator app),
//	// as in a sign-in, and SUCCESS with tokens
//
// A Password given without an Authenticator chooses the password
// authenticator when an enrollment choice offers it, so Register with the
// profile and the password up front reaches the next factor in one call.
//
// # Authenticator apps (TOTP)
//
// Google Authenticator and other TOTP apps are the authenticator key
// "google_otp" (method "otp"). Choose it with Options.Authenticator
// "google_otp" in select-authenticator-enroll or
// select-authenticator-authenticate. Its enroll-authenticator step carries
// the QR code to scan and the shared secret to type in on
// NextStep.Authenticator (QRCode, SharedSecret); then, at enrollment and at
// every sign-in (challenge-authenticator), the app's current code goes in
// Options.VerificationCode, as a code sent to a phone does.
//
// # Flows
//
// The State records which of the three flows a transaction is in
// (State.Flow), so Proceed, Resend and Cancel continue it under the same
// rules: which steps are posted automatically, which actions run first.
// Authenticate switches a State to the sign-in flow.
//
// # Generic forms
//
// Forms are read from each response: field names, nested forms, options and
// relatesTo references are resolved generically. The steps okta-auth-js
// knows (identify, identify-recovery, select-authenticator-authenticate/
// -enroll, authenticator-verification-data, authenticator-enrollment-data,
// challenge-authenticator, enroll-authenticator, reset-authenticator,
// select-enroll-profile, enroll-profile) use its input names (enroll-profile
// the raw "userProfile.<attribute>" paths), and the current flow posts those
// it knows as soon as the values allow; any other remediation comes back as a
// PENDING NextStep whose inputs carry the raw field paths, and is posted only
// when Options.Step names it (with Options.Values).
//
// # State
//
// State is small JSON (a few hundred bytes) meant to be kept between HTTP
// requests, so several application instances can serve one sign-in. It holds
// the PKCE code verifier: keep it in a server-side session, or in a cookie
// only after State.Seal (AES-256-GCM; OpenState reverses it) — never in clear
// in the browser. See State.
//
// # The end user's address
//
// An application calling the server from its backend would otherwise put all
// its users behind its own IP address, so that the server's per-address
// limits count them as one. WithClientIP attaches the end user's address to
// a context, and every request sent with that context carries it as
// X-Forwarded-For:
//
//	ctx := idx.WithClientIP(r.Context(), browserIP) // e.g. the host of r.RemoteAddr
//	tx, err := client.Authenticate(ctx, saved, opts)
//
// The server believes the header only from addresses it trusts: Gatehouse
// from those listed in its server.trusted_proxies setting, so the operator
// lists the application's servers there. Invalid addresses are ignored.
//
// # Continuing a transaction started elsewhere
//
// A server that called interact itself and keeps the PKCE verifier — an
// authorization endpoint sending the browser to sign-in pages, for instance —
// can let those pages drive the remediation with this package: a Client with
// Config.ReturnInteractionCode continues from Client.ResumeState(handle), and
// its SUCCESS carries Transaction.InteractionCode, unredeemed, for that server
// to return as its authorization code.
//
// # Errors
//
// Failures of the call are Go errors matching ErrNetwork, ErrProtocol
// (with ErrUnresolvedRelatesTo), ErrDiscovery, ErrOAuth (*OAuthError),
// ErrTokenInvalid, ErrNoTransaction or ErrActionUnavailable (with
// ErrRecoveryUnavailable or ErrRegistrationUnavailable) with errors.Is.
// Mistakes of the user are Messages on the Transaction, never errors.
//
// # Rate limits
//
// When the server answers 429 Too Many Requests, the wait it asks for — its
// Retry-After header, else Okta's X-Rate-Limit-Reset — is exposed: on the
// Transaction (RetryAfter) when the answer is an IDX state, which is how
// Gatehouse and Okta refuse a sign-in step, and on *OAuthError and
// *HTTPError (RetryAfter) otherwise, e.g. for interact or token. RateLimited
// tells such an error apart. Show the user that wait rather than a guess.
//
// # Differences from okta-auth-js's IdxTransaction
//
// The status rules, the stop-on-non-2xx rule, the input names and the request
// bodies follow okta-auth-js 7 (8 in legacy mode). Deliberate differences:
//
//   - State travels in the Transaction (excluded from its JSON) instead of
//     browser storage, and holds only the interaction handle, PKCE values and
//     the last stateHandle: every call re-introspects instead of replaying a
//     stored response, so any application instance can serve the next request.
//   - Tokens is a flat struct with the verified ID token claims; the nonce
//     claim is required to match (auth-js does not check it on this path).
//   - Authenticator.ID is always the authenticator id and EnrollmentID the
//     enrollment id (auth-js reports the enrollment id as id in challenge
//     steps and in an option's relatesTo); Methods are plain strings.
//   - Option.Authenticator is auth-js's option.relatesTo described that way
//     (key, type, displayName, methods, string profile members, the ids from
//     the option's form), not the raw object; options relating to one object
//     share its Methods and Profile. Options.Authenticator also takes an
//     option's Authenticator.EnrollmentID (or ID), which tells several phones
//     apart: their options all have the same Value, the key.
//   - The authenticator being verified or enrolled is re-selected when
//     Options.Step names select-authenticator-authenticate (or -enroll), which
//     is how an application sends a new code by another method ("call me
//     instead"). Without Step, as in auth-js's authenticate, choosing it again
//     is ignored and the current step stays.
//   - Choosing an authenticator also sends the option's enrollmentId and,
//     when given, its methodType and phoneNumber, which stay available to a
//     later data step (auth-js sends only the id when choosing by key).
//   - A known step is posted only when every input the server marks required
//     is at hand (auth-js posts identify as soon as a username is given).
//   - Unknown remediations are described in AvailableSteps and posted with
//     Options.Step and Options.Values (legacy auth-js ignores them).
//   - Resend is a method that returns ErrActionUnavailable when the server
//     offers no resend (auth-js's proceed({resend: true}) silently returns
//     the same step).
//   - A non-IDX error body in Okta's classic API format becomes a TERMINAL
//     transaction whose message is its errorSummary (auth-js reports an
//     empty TERMINAL).
//   - Raw material (rawIdxState, context, neededToProceed, actions, proceed
//     functions, meta, enabledFeatures) is not exposed; interactionCode only
//     with Config.ReturnInteractionCode (see below).
//   - FAILURE is never returned, as in auth-js: failures are Go errors.
//   - The new password of a reset is Options.NewPassword (auth-js: password),
//     and the reset-authenticator input is named "newPassword".
//   - Profile attributes are given in Options.Profile by attribute name and
//     described as inputs named "userProfile.<attribute>" (auth-js takes and
//     names them bare: email, firstName).
//   - The password rules, the QR code and the shared secret are typed fields
//     of Authenticator (PasswordPolicy, QRCode, SharedSecret) instead of the
//     raw settings and contextualData.
//   - Register and RecoverPassword check that the server offers the flow
//     whenever they start it, also on a transaction already under way.
//     EnabledFeatures lists password recovery for a recover action of
//     currentAuthenticatorEnrollment too.
//   - The recovery flow also posts enroll-authenticator, where a server asks
//     to enroll a factor after the reset (auth-js stops there with an
//     error). Polling, Okta Verify channels, skip, re-enrollment and
//     identity providers are not posted automatically in any flow.
package idx
