package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/opaque"
)

// client walks complete sign-ins over HTTP the way an app using okta-auth-js does:
// each request goes to the href the previous answer named, with its stateHandle. It
// decodes only what the next request needs, but checks every answer is the state the
// protocol says comes next, so a benchmark of a broken engine reports errors rather
// than fast failures.
type client struct {
	server      *url.URL // scheme://host of the issuer, where the IDX endpoints live
	origin      string   // the same as a string
	oauthBase   string   // where /v1/interact, /v1/token and /v1/userinfo live
	clientID    string
	redirectURI string
	codes       codeSource

	// flow is FlowIDX or FlowCode.
	flow string
	// issuer is the engine's issuer, which the authorization response names (iss)
	// and the ID token carries.
	issuer string
	// clientSecret, if set, authenticates the client at the token endpoint of the
	// authorization code flow (client_secret_basic); without it the client is
	// public and sends only its id.
	clientSecret string
}

// scopes are what the sign-in asks for: everything the client may have, so that the
// token step mints an ID token and a refresh token and userinfo releases every claim.
const scopes = "openid profile email phone offline_access"

// flowResult is one sign-in: the latency of each step, or the step it failed at.
type flowResult struct {
	steps      [maxSteps]time.Duration // in the order of the flow's steps
	requests   [maxSteps]uint8         // HTTP requests each step made
	codeLookup time.Duration           // reading the code from the outbox: the bench's own time
	end        time.Time
	failed     bool
	failure    string // "<step>: <what went wrong>", bounded: it keys the error counts
}

// flowState is what one sign-in carries from step to step.
type flowState struct {
	user        int
	verifier    string
	stateHandle string
	next        string // href of the next remediation
	authID      string
	enrollID    string
	interaction string // interaction code
	accessToken string
	// the authorization code flow's
	state, nonce string
}

// walker is one client goroutine's reusable state.
type walker struct {
	c    *client
	conn *httpConn
	buf  bytes.Buffer
	// lastMessage remembers, per user, the id of the last code message this walker
	// read, so that a new sign-in never takes the code of the one before. A user is
	// only ever signed in by one walker, so the map needs no lock.
	lastMessage map[int]string
}

func newWalker(c *client) *walker {
	return &walker{c: c, conn: newHTTPConn(c.server), lastMessage: map[int]string{}}
}

// stepError is a failed step; its text keys the error counts, so it never holds
// request-specific values.
type stepError struct {
	step fmt.Stringer // a Step or a PageStep
	what string
}

func (e *stepError) Error() string { return e.step.String() + ": " + e.what }

// signIn walks one whole sign-in of user i.
func (w *walker) signIn(ctx context.Context, i int) flowResult {
	var res flowResult
	f := flowState{user: i, verifier: opaque.New(32)}
	var err error
	if w.c.flow == FlowCode {
		err = w.runCode(ctx, &f, &res)
	} else {
		err = w.run(ctx, &f, &res)
	}
	res.end = time.Now()
	if err != nil {
		res.failed = true
		var se *stepError
		if errors.As(err, &se) {
			res.failure = se.Error()
		} else {
			res.failure = "bench: " + err.Error()
		}
	}
	return res
}

// run walks an IDX sign-in (FlowIDX).
func (w *walker) run(ctx context.Context, f *flowState, res *flowResult) error {
	sum := sha256.Sum256([]byte(f.verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])

	// 1. interact: the interaction handle.
	var interact struct {
		InteractionHandle string `json:"interaction_handle"`
	}
	form := url.Values{
		"client_id": {w.c.clientID}, "redirect_uri": {w.c.redirectURI}, "scope": {scopes},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"bench"},
	}
	if err := w.call(ctx, StepInteract, res, http.MethodPost, w.c.oauthBase+"/v1/interact", formBody(form), "", &interact); err != nil {
		return err
	}
	if interact.InteractionHandle == "" {
		return &stepError{StepInteract, "no interaction_handle"}
	}

	// 2. introspect: IDENTIFY.
	var idx idxAnswer
	if err := w.idx(ctx, StepIntrospect, res, w.c.origin+"/idp/idx/introspect",
		map[string]any{"interactionHandle": interact.InteractionHandle}, &idx, "identify"); err != nil {
		return err
	}
	f.stateHandle, f.next = idx.StateHandle, idx.first().Href

	// 3. identify with the password: SELECT_AUTHENTICATOR, one phone.
	idx = idxAnswer{}
	if err := w.idx(ctx, StepIdentify, res, f.next, map[string]any{
		"identifier": userLogin(f.user), "credentials": map[string]any{"passcode": benchPassword}, "stateHandle": f.stateHandle,
	}, &idx, "select-authenticator-authenticate"); err != nil {
		return err
	}
	f.next = idx.first().Href
	f.authID, f.enrollID = idx.first().phoneOption()
	if f.authID == "" || f.enrollID == "" {
		return &stepError{StepIdentify, "no phone option"}
	}

	// 4. the phone, without a method: VERIFY_DATA.
	idx = idxAnswer{}
	if err := w.idx(ctx, StepSelectPhone, res, f.next, map[string]any{
		"authenticator": map[string]any{"id": f.authID, "enrollmentId": f.enrollID}, "stateHandle": f.stateHandle,
	}, &idx, "authenticator-verification-data"); err != nil {
		return err
	}
	f.next = idx.first().Href

	// 5. SMS: a code is queued; CHALLENGE.
	idx = idxAnswer{}
	if err := w.idx(ctx, StepChooseSMS, res, f.next, map[string]any{
		"authenticator": map[string]any{"id": f.authID, "enrollmentId": f.enrollID, "methodType": "sms"}, "stateHandle": f.stateHandle,
	}, &idx, "challenge-authenticator"); err != nil {
		return err
	}
	f.next = idx.first().Href

	// The code, as the user would read it off their phone.
	lookupStart := time.Now()
	msgID, code, err := w.c.codes.latest(ctx, phoneNumber(f.user), w.lastMessage[f.user])
	res.codeLookup = time.Since(lookupStart)
	if err != nil {
		return &stepError{StepAnswer, "reading the code: " + err.Error()}
	}
	w.lastMessage[f.user] = msgID

	// 6. the code: SUCCESS with an interaction code.
	idx = idxAnswer{}
	if err := w.idx(ctx, StepAnswer, res, f.next, map[string]any{
		"credentials": map[string]any{"passcode": code}, "stateHandle": f.stateHandle,
	}, &idx, ""); err != nil {
		return err
	}
	if idx.Success == nil {
		return &stepError{StepAnswer, "no successWithInteractionCode" + idx.messageKeys()}
	}
	f.interaction = idx.Success.fieldValue("interaction_code")
	if f.interaction == "" {
		return &stepError{StepAnswer, "no interaction_code"}
	}

	// 7. token: access, ID and refresh token.
	var tokens struct {
		AccessToken  string `json:"access_token"`
		IDToken      string `json:"id_token"`
		RefreshToken string `json:"refresh_token"`
	}
	form = url.Values{
		"grant_type": {"interaction_code"}, "client_id": {w.c.clientID}, "interaction_code": {f.interaction},
		"code_verifier": {f.verifier}, "redirect_uri": {w.c.redirectURI},
	}
	if err := w.call(ctx, StepToken, res, http.MethodPost, idx.Success.Href, formBody(form), "", &tokens); err != nil {
		return err
	}
	if tokens.AccessToken == "" || tokens.IDToken == "" || tokens.RefreshToken == "" {
		return &stepError{StepToken, "a token is missing"}
	}
	f.accessToken = tokens.AccessToken

	// 8. userinfo: the claims of the user who signed in.
	var claims struct {
		Sub   string `json:"sub"`
		Email string `json:"email"`
	}
	if err := w.call(ctx, StepUserinfo, res, http.MethodGet, w.c.oauthBase+"/v1/userinfo", nil, "Bearer "+f.accessToken, &claims); err != nil {
		return err
	}
	if claims.Email != userLogin(f.user) {
		return &stepError{StepUserinfo, "claims of another user"}
	}
	return nil
}

// idx posts an IDX request and checks the answer's first remediation is want (none
// checked if want is empty).
func (w *walker) idx(ctx context.Context, step Step, res *flowResult, href string, body map[string]any, into *idxAnswer, want string) error {
	if href == "" {
		return &stepError{step, "no href to post to"}
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	if err := w.call(ctx, step, res, http.MethodPost, href, &requestBody{contentType: idxType, data: raw}, "", into); err != nil {
		return err
	}
	if want != "" && into.first().Name != want {
		got := into.first().Name
		if got == "" {
			got = "nothing"
		}
		return &stepError{step, "answered " + got + " instead of " + want + into.messageKeys()}
	}
	return nil
}

const idxType = "application/json; okta-version=1.0.0"

type requestBody struct {
	contentType string
	data        []byte
}

func formBody(v url.Values) *requestBody {
	return &requestBody{contentType: "application/x-www-form-urlencoded", data: []byte(v.Encode())}
}

// call makes one request, records its latency — from sending the request to having
// read the whole answer — and decodes a 200 answer into into.
// authorization, if set, is the Authorization header.
func (w *walker) call(ctx context.Context, step stepper, res *flowResult, method, u string, body *requestBody, authorization string, into any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body.data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return &stepError{step, "bad URL"}
	}
	if body != nil {
		req.Header.Set("Content-Type", body.contentType)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil && body.contentType == idxType {
		req.Header.Set("Accept", idxType)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	req.Header.Set(StepHeader, step.String())
	start := time.Now()
	status, _, err := w.conn.do(req, &w.buf)
	res.steps[step.slot()] = time.Since(start)
	res.requests[step.slot()]++
	if err != nil {
		return &stepError{step, transportFailure(err)}
	}
	if status != http.StatusOK {
		return &stepError{step, fmt.Sprintf("HTTP %d%s", status, errorKey(w.buf.Bytes()))}
	}
	if err := json.Unmarshal(w.buf.Bytes(), into); err != nil {
		return &stepError{step, "answer is not the expected JSON"}
	}
	return nil
}

// transportFailure names a failed request without its details (addresses, ports),
// which would make every failure a kind of its own.
func transportFailure(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "connection closed"
	default:
		return "connection error"
	}
}

// errorKey is " (key)" for an error answer: the first IDX message's i18n key or the
// OAuth error code, so that errors are counted by kind.
func errorKey(body []byte) string {
	var e struct {
		Error    string    `json:"error"`
		Messages *messages `json:"messages"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	if e.Error != "" {
		return " (" + e.Error + ")"
	}
	if e.Messages != nil && len(e.Messages.Value) > 0 {
		return " (" + e.Messages.Value[0].I18n.Key + ")"
	}
	return ""
}

// ---- the parts of IDX answers the client reads ----

type idxAnswer struct {
	StateHandle string `json:"stateHandle"`
	Remediation *struct {
		Value []remediation `json:"value"`
	} `json:"remediation"`
	Success  *remediation `json:"successWithInteractionCode"`
	Messages *messages    `json:"messages"`
}

type messages struct {
	Value []struct {
		I18n struct {
			Key string `json:"key"`
		} `json:"i18n"`
	} `json:"value"`
}

type remediation struct {
	Name  string       `json:"name"`
	Href  string       `json:"href"`
	Value []inputField `json:"value"`
}

type inputField struct {
	Name    string          `json:"name"`
	Value   json.RawMessage `json:"value"`
	Options []struct {
		Value json.RawMessage `json:"value"`
	} `json:"options"`
}

func (a *idxAnswer) first() *remediation {
	if a.Remediation == nil || len(a.Remediation.Value) == 0 {
		return &remediation{}
	}
	return &a.Remediation.Value[0]
}

func (a *idxAnswer) messageKeys() string {
	if a.Messages == nil || len(a.Messages.Value) == 0 {
		return ""
	}
	keys := make([]string, 0, len(a.Messages.Value))
	for _, m := range a.Messages.Value {
		keys = append(keys, m.I18n.Key)
	}
	return " (" + strings.Join(keys, ", ") + ")"
}

// fieldValue is the string value of the field called name.
func (r *remediation) fieldValue(name string) string {
	for _, f := range r.Value {
		if f.Name == name {
			var s string
			_ = json.Unmarshal(f.Value, &s)
			return s
		}
	}
	return ""
}

// phoneOption is the authenticator id and enrollment id of the first option of the
// authenticator field of select-authenticator-authenticate.
func (r *remediation) phoneOption() (id, enrollmentID string) {
	for _, f := range r.Value {
		if f.Name != "authenticator" || len(f.Options) == 0 {
			continue
		}
		var opt struct {
			Form remediation `json:"form"`
		}
		if json.Unmarshal(f.Options[0].Value, &opt) != nil {
			return "", ""
		}
		return opt.Form.fieldValue("id"), opt.Form.fieldValue("enrollmentId")
	}
	return "", ""
}
