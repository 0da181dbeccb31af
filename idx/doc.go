// Package idx is a Go client for the IDX interaction protocol spoken by Okta
// Identity Engine and by Gatehouse. It signs users in with the semantics of
// okta-auth-js's idx.authenticate, so an application only renders what comes
// back: it never needs to know the protocol's forms, hrefs or handles.
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
// # Generic forms
//
// Forms are read from each response: field names, nested forms, options and
// relatesTo references are resolved generically. The steps okta-auth-js knows
// (identify, select-authenticator-authenticate/-enroll,
// authenticator-verification-data, authenticator-enrollment-data,
// challenge-authenticator, enroll-authenticator) use its input names; any
// other remediation comes back as a PENDING NextStep whose inputs carry the
// raw field paths, and is posted only when Options.Step names it (with
// Options.Values).
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
// ErrTokenInvalid, ErrNoTransaction or ErrActionUnavailable with errors.Is.
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
package idx
