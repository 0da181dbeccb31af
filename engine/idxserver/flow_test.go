package idxserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/messaging"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

const (
	alice      = "alice@example.com"
	alicePhone = "+12015550123"
)

func start(t *testing.T) (*enginetest.Harness, store.User) {
	t.Helper()
	h := enginetest.Start(t, enginetest.Options{})
	return h, h.CreateUser(t, alice, alicePhone)
}

func want(t *testing.T, what string, wantStatus, status int, body map[string]any) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("%s: status %d, want %d; body %v", what, status, wantStatus, body)
	}
}

func firstRemediation(t *testing.T, body map[string]any) string {
	t.Helper()
	names := enginetest.RemediationNames(body)
	if len(names) == 0 {
		t.Fatalf("no remediation in %v", body)
	}
	return names[0]
}

// field finds a field by a path of names through nested forms: "credentials.passcode".
func field(t *testing.T, rem map[string]any, path string) map[string]any {
	t.Helper()
	fields := rem["value"].([]any)
	var cur map[string]any
	for _, name := range strings.Split(path, ".") {
		cur = nil
		for _, f := range fields {
			if m := f.(map[string]any); m["name"] == name {
				cur = m
			}
		}
		if cur == nil {
			t.Fatalf("no field %q in %v", path, rem["name"])
		}
		if form, ok := cur["form"].(map[string]any); ok {
			fields = form["value"].([]any)
		}
	}
	return cur
}

func fieldMessageKeys(t *testing.T, body map[string]any, remediation, path string) []string {
	t.Helper()
	f := field(t, enginetest.FindRemediation(body, remediation), path)
	msgs, ok := f["messages"].(map[string]any)
	if !ok {
		return nil
	}
	var keys []string
	for _, m := range msgs["value"].([]any) {
		keys = append(keys, m.(map[string]any)["i18n"].(map[string]any)["key"].(string))
	}
	return keys
}

func TestIntrospectShowsIdentifyWithProtocolShape(t *testing.T) {
	h, _ := start(t)
	f := h.Interact(t)
	body := f.Last
	if body["version"] != "1.0.0" || body["intent"] != "LOGIN" {
		t.Errorf("version/intent = %v/%v", body["version"], body["intent"])
	}
	sh, _ := body["stateHandle"].(string)
	if !regexp.MustCompile(`^02[A-Za-z0-9_-]{43}$`).MatchString(sh) {
		t.Errorf("stateHandle %q is not 02 + 256 bits base64url", sh)
	}
	exp, err := time.Parse(time.RFC3339, body["expiresAt"].(string))
	if err != nil || exp.Sub(time.Now()) < 29*time.Minute || exp.Sub(time.Now()) > 31*time.Minute {
		t.Errorf("expiresAt %v is not 30 minutes ahead", body["expiresAt"])
	}
	if got := enginetest.RemediationNames(body); !reflect.DeepEqual(got, []string{"identify"}) {
		t.Errorf("remediations = %v, want [identify]", got)
	}
	rem := enginetest.FindRemediation(body, "identify")
	if rem["href"] != h.URL+"/idp/idx/identify" || rem["method"] != "POST" || !reflect.DeepEqual(rem["rel"], []any{"create-form"}) {
		t.Errorf("identify form = %v", rem)
	}
	if rem["accepts"] != "application/json; okta-version=1.0.0" {
		t.Errorf("accepts = %v", rem["accepts"])
	}
	if p := field(t, rem, "credentials.passcode"); p["secret"] != true {
		t.Errorf("passcode field is not secret: %v", p)
	}
	st := field(t, rem, "stateHandle")
	if st["value"] != sh || st["mutable"] != false || st["visible"] != false || st["required"] != true {
		t.Errorf("stateHandle field = %v", st)
	}
	cancel := body["cancel"].(map[string]any)
	if cancel["href"] != h.URL+"/idp/idx/cancel" || cancel["name"] != "cancel" {
		t.Errorf("cancel = %v", cancel)
	}
	app := body["app"].(map[string]any)["value"].(map[string]any)
	if app["id"] != enginetest.ClientID || app["label"] != "Test app" {
		t.Errorf("app = %v", app)
	}
	// Introspect by stateToken gives the same state.
	_, again := f.Introspect(map[string]any{"stateToken": sh})
	if again["stateHandle"] != sh || firstRemediation(t, again) != "identify" {
		t.Errorf("introspect by stateToken = %v", again)
	}
}

func TestIDXResponsesAreLabelledJSON(t *testing.T) {
	h, _ := start(t)
	f := h.Interact(t)
	req, _ := http.NewRequest(http.MethodPost, h.URL+"/idp/idx/introspect", strings.NewReader(`{"stateToken":"`+f.StateHandle+`"}`))
	req.Header.Set("Content-Type", "application/ion+json; okta-version=1.0.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; okta-version=1.0.0" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
}

// walk drives the verification flow to CHALLENGE by method and returns the flow.
func walkToChallenge(t *testing.T, h *enginetest.Harness, method string) *enginetest.Flow {
	t.Helper()
	f := h.Interact(t)
	status, body := f.Identify(alice, enginetest.Password)
	want(t, "identify", 200, status, body)
	if got := enginetest.RemediationNames(body); !reflect.DeepEqual(got, []string{"select-authenticator-authenticate"}) {
		t.Fatalf("after identify: %v", got)
	}
	status, body = f.ChoosePhone()
	want(t, "select phone", 200, status, body)
	if got := enginetest.RemediationNames(body); !reflect.DeepEqual(got, []string{"authenticator-verification-data", "select-authenticator-authenticate"}) {
		t.Fatalf("after selecting the phone: %v", got)
	}
	status, body = f.ChooseMethod(method)
	want(t, "choose "+method, 200, status, body)
	if got := enginetest.RemediationNames(body); !reflect.DeepEqual(got, []string{"challenge-authenticator", "select-authenticator-authenticate"}) {
		t.Fatalf("after choosing %s: %v", method, got)
	}
	return f
}

func TestSMSAndVoiceFlowsEndInTokens(t *testing.T) {
	for _, method := range []string{"sms", "voice"} {
		t.Run(method, func(t *testing.T) {
			h, user := start(t)
			f := walkToChallenge(t, h, method)
			cur := f.Last["currentAuthenticatorEnrollment"].(map[string]any)["value"].(map[string]any)
			if !reflect.DeepEqual(cur["methods"], []any{map[string]any{"type": method}}) {
				t.Errorf("methods = %v, want only %s", cur["methods"], method)
			}
			if cur["profile"].(map[string]any)["phoneNumber"] != "+1 XXX-XXX-0123" {
				t.Errorf("masked phone = %v", cur["profile"])
			}
			if r, ok := cur["resend"].(map[string]any); !ok || r["href"] != h.URL+"/idp/idx/challenge/resend" {
				t.Errorf("resend action = %v", cur["resend"])
			}
			msgs := h.Outbox(t, alicePhone)
			if len(msgs) != 1 || msgs[0].Channel != method || !regexp.MustCompile(`^\d{6}$`).MatchString(msgs[0].Code) {
				t.Fatalf("outbox = %+v", msgs)
			}
			if !strings.Contains(strings.ReplaceAll(msgs[0].Text, ", ", ""), msgs[0].Code) {
				t.Errorf("message text %q does not carry the code", msgs[0].Text)
			}
			status, body := f.Answer(msgs[0].Code)
			want(t, "answer", 200, status, body)
			if _, ok := body["remediation"]; ok {
				t.Errorf("success response has a remediation: %v", body["remediation"])
			}
			if _, ok := body["messages"]; ok {
				t.Errorf("success response has messages: %v", body["messages"])
			}
			if u := body["user"].(map[string]any)["value"].(map[string]any); u["id"] != user.ID || u["identifier"] != alice {
				t.Errorf("user = %v", u)
			}
			status, tokens := f.Redeem()
			want(t, "token", 200, status, tokens)
			for _, k := range []string{"access_token", "id_token", "refresh_token"} {
				if s, _ := tokens[k].(string); s == "" {
					t.Errorf("token response has no %s", k)
				}
			}
			if _, ok := tokens["state"]; ok {
				t.Error("token response carries state")
			}
			if tokens["expires_in"] != float64(3600) || tokens["token_type"] != "Bearer" {
				t.Errorf("expires_in/token_type = %v/%v", tokens["expires_in"], tokens["token_type"])
			}
		})
	}
}

func TestSelectWithMethodSendsAtOnce(t *testing.T) {
	// The Go IDX SDK posts methodType in the select step (docs/protocol.md).
	h, _ := start(t)
	f := h.Interact(t)
	f.Identify(alice, enginetest.Password)
	id, enr := f.PhoneOption()
	status, body := f.Submit("select-authenticator-authenticate", map[string]any{"authenticator": map[string]any{"id": id, "methodType": "sms", "enrollmentId": enr}})
	want(t, "select with method", 200, status, body)
	if firstRemediation(t, body) != "challenge-authenticator" {
		t.Fatalf("got %v", enginetest.RemediationNames(body))
	}
	if len(h.Outbox(t, alicePhone)) != 1 {
		t.Fatal("no code sent")
	}
}

func TestSelectByAuthenticatorIDAlonePicksTheFirstPhone(t *testing.T) {
	// okta-auth-js sends only {"id"} when the app picks "phone_number" by key.
	h, _ := start(t)
	f := h.Interact(t)
	f.Identify(alice, enginetest.Password)
	id, enr := f.PhoneOption()
	status, body := f.Submit("select-authenticator-authenticate", map[string]any{"authenticator": map[string]any{"id": id}})
	want(t, "select by id", 200, status, body)
	data := enginetest.FindRemediation(body, "authenticator-verification-data")
	if data == nil {
		t.Fatalf("got %v", enginetest.RemediationNames(body))
	}
	if got := field(t, data, "authenticator.enrollmentId")["value"]; got != enr {
		t.Errorf("enrollmentId = %v, want %v", got, enr)
	}
	if opts := field(t, data, "authenticator.methodType")["options"].([]any); len(opts) != 2 {
		t.Errorf("methodType options = %v, want sms and voice", opts)
	}
}

func TestWrongPasswordThenRightOnTheSameStateHandle(t *testing.T) {
	h, _ := start(t)
	f := h.Interact(t)
	status, body := f.Identify(alice, "wrong password")
	want(t, "wrong password", 401, status, body)
	if got := enginetest.MessageKeys(body); !reflect.DeepEqual(got, []string{"errors.E0000004"}) {
		t.Errorf("messages = %v", got)
	}
	if firstRemediation(t, body) != "identify" || body["stateHandle"] != f.StateHandle {
		t.Errorf("the answer is not the IDENTIFY state of the same transaction: %v", body)
	}
	status, body = f.Identify(strings.ToUpper(alice), enginetest.Password)
	want(t, "right password (login in other case)", 200, status, body)
}

func TestUnknownUserGetsTheWrongPasswordAnswer(t *testing.T) {
	h, _ := start(t)
	f1 := h.Interact(t)
	_, wrong := f1.Identify(alice, "wrong password")
	f2 := h.Interact(t)
	status, unknown := f2.Identify("nobody@example.com", "wrong password")
	want(t, "unknown user", 401, status, unknown)
	// Apart from the handle and expiry, the two answers must be identical.
	norm := func(m map[string]any) string {
		b, _ := json.Marshal(m)
		s := strings.ReplaceAll(string(b), m["stateHandle"].(string), "SH")
		return regexp.MustCompile(`"expiresAt":"[^"]*"`).ReplaceAllString(s, "")
	}
	if norm(wrong) != norm(unknown) {
		t.Errorf("unknown user answer differs from wrong password:\n%s\n%s", norm(unknown), norm(wrong))
	}
}

func TestBlankFieldsAreMarked(t *testing.T) {
	h, _ := start(t)
	f := h.Interact(t)
	status, body := f.Identify(alice, "")
	want(t, "blank password", 400, status, body)
	if got := fieldMessageKeys(t, body, "identify", "credentials.passcode"); !reflect.DeepEqual(got, []string{"model.validation.field.blank"}) {
		t.Errorf("passcode messages = %v", got)
	}
}

func TestWrongCodeThenRight(t *testing.T) {
	h, _ := start(t)
	f := walkToChallenge(t, h, "sms")
	code := h.LatestCode(t, alicePhone)
	wrongCode := "000000"
	if code == wrongCode {
		wrongCode = "111111"
	}
	status, body := f.Answer(wrongCode)
	want(t, "wrong code", 401, status, body)
	if firstRemediation(t, body) != "challenge-authenticator" {
		t.Fatalf("got %v", enginetest.RemediationNames(body))
	}
	if got := fieldMessageKeys(t, body, "challenge-authenticator", "credentials.passcode"); !reflect.DeepEqual(got, []string{"api.authn.error.PASSCODE_INVALID"}) {
		t.Errorf("passcode messages = %v", got)
	}
	status, body = f.Answer(code[:3] + " " + code[3:])
	want(t, "right code (typed with a space)", 200, status, body)
	// A code works once.
	status, body = f.Answer(code)
	want(t, "code again after success", 400, status, body)
}

func TestExpiredCode(t *testing.T) {
	h, _ := start(t)
	f := walkToChallenge(t, h, "sms")
	code := h.LatestCode(t, alicePhone)
	h.Clock.Advance(5*time.Minute + time.Second)
	status, body := f.Answer(code)
	want(t, "expired code", 401, status, body)
	if got := fieldMessageKeys(t, body, "challenge-authenticator", "credentials.passcode"); !reflect.DeepEqual(got, []string{"gatehouse.passcode.expired"}) {
		t.Errorf("passcode messages = %v", got)
	}
}

func TestResendIsRateLimitedAndReplacesTheCode(t *testing.T) {
	h, _ := start(t)
	f := walkToChallenge(t, h, "sms")
	first := h.LatestCode(t, alicePhone)
	status, body := f.Action("/idp/idx/challenge/resend")
	want(t, "resend within 30 s", 429, status, body)
	if got := enginetest.MessageKeys(body); !reflect.DeepEqual(got, []string{"errors.E0000150"}) {
		t.Errorf("messages = %v", got)
	}
	if firstRemediation(t, body) != "challenge-authenticator" {
		t.Errorf("a 429 must keep the state usable: %v", enginetest.RemediationNames(body))
	}
	h.Clock.Advance(31 * time.Second)
	status, body = f.Action("/idp/idx/challenge/resend")
	want(t, "resend after 30 s", 200, status, body)
	msgs := h.Outbox(t, alicePhone)
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	second := msgs[0].Code
	if first != second {
		status, body = f.Answer(first)
		want(t, "replaced code", 401, status, body)
		// The answer is checked against the newest code only; the old one is just wrong.
		if got := fieldMessageKeys(t, body, "challenge-authenticator", "credentials.passcode"); !reflect.DeepEqual(got, []string{"api.authn.error.PASSCODE_INVALID"}) {
			t.Errorf("old code messages = %v", got)
		}
	}
	status, body = f.Answer(second)
	want(t, "new code", 200, status, body)
}

func TestSwitchingToVoiceSendsANewCode(t *testing.T) {
	h, _ := start(t)
	f := walkToChallenge(t, h, "sms")
	h.Clock.Advance(31 * time.Second)
	id, enr := f.PhoneOption()
	status, body := f.Submit("select-authenticator-authenticate", map[string]any{"authenticator": map[string]any{"id": id, "enrollmentId": enr, "methodType": "voice"}})
	want(t, "switch to voice", 200, status, body)
	msgs := h.Outbox(t, alicePhone)
	if len(msgs) != 2 || msgs[0].Channel != "voice" {
		t.Fatalf("outbox = %+v", msgs)
	}
	status, body = f.Answer(msgs[0].Code)
	want(t, "voice code", 200, status, body)
}

func TestFiveWrongCodesLockThePhoneAcrossResends(t *testing.T) {
	h, _ := start(t)
	f := walkToChallenge(t, h, "sms")
	code := h.LatestCode(t, alicePhone)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i := 1; i <= 3; i++ {
		status, body := f.Answer(wrong)
		want(t, "wrong code", 401, status, body)
	}
	// A resend must not reset the count.
	h.Clock.Advance(31 * time.Second)
	status, body := f.Action("/idp/idx/challenge/resend")
	want(t, "resend", 200, status, body)
	code = h.LatestCode(t, alicePhone)
	if code == wrong {
		wrong = "222222"
	}
	status, body = f.Answer(wrong)
	want(t, "fourth wrong code", 401, status, body)
	status, body = f.Answer(wrong)
	want(t, "fifth wrong code", 429, status, body)
	if got := enginetest.MessageKeys(body); !reflect.DeepEqual(got, []string{"oie.tooManyRequests"}) {
		t.Errorf("messages = %v", got)
	}
	// Locked: even the right code is refused, and so is a new code.
	status, body = f.Answer(code)
	want(t, "right code while locked", 429, status, body)
	h.Clock.Advance(31 * time.Second)
	status, body = f.Action("/idp/idx/challenge/resend")
	want(t, "resend while locked", 429, status, body)
	// After the lockout a new code works.
	h.Clock.Advance(5 * time.Minute)
	status, body = f.Action("/idp/idx/challenge/resend")
	want(t, "resend after the lockout", 200, status, body)
	status, body = f.Answer(h.LatestCode(t, alicePhone))
	want(t, "right code after the lockout", 200, status, body)
}

func TestSendLimitHoldsAcrossTransactions(t *testing.T) {
	h, _ := start(t)
	walkToChallenge(t, h, "voice")
	f := h.Interact(t)
	f.Identify(alice, enginetest.Password)
	f.ChoosePhone()
	status, body := f.ChooseMethod("voice")
	want(t, "second call within 30 s", 429, status, body)
	if got := enginetest.MessageKeys(body); !reflect.DeepEqual(got, []string{"errors.E0000151"}) {
		t.Errorf("messages = %v", got)
	}
	if firstRemediation(t, body) != "authenticator-verification-data" {
		t.Errorf("state after 429 = %v", enginetest.RemediationNames(body))
	}
}

func TestConcurrentRightAnswersSucceedOnce(t *testing.T) {
	h, _ := start(t)
	f := walkToChallenge(t, h, "sms")
	code := h.LatestCode(t, alicePhone)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(map[string]any{"credentials": map[string]any{"passcode": code}, "stateHandle": f.StateHandle})
			resp, err := http.Post(h.URL+"/idp/idx/challenge/answer", "application/json", bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[200] != 1 {
		t.Errorf("statuses = %v, want exactly one 200", statuses)
	}
	if statuses[500] != 0 {
		t.Errorf("server errors under concurrency: %v", statuses)
	}
}

func TestExpiredAndUnknownStateHandles(t *testing.T) {
	h, _ := start(t)
	f := h.Interact(t)
	for name, body := range map[string]map[string]any{
		"unknown stateHandle":       {"stateHandle": "02nope"},
		"unknown interactionHandle": {"interactionHandle": "nope"},
		"empty":                     {},
	} {
		status, resp := f.Introspect(body)
		if status != 401 || !reflect.DeepEqual(enginetest.MessageKeys(resp), []string{"idx.session.expired"}) || resp["remediation"] != nil {
			t.Errorf("%s: %d %v", name, status, resp)
		}
	}
	h.Clock.Advance(31 * time.Minute)
	status, resp := f.Introspect(map[string]any{"interactionHandle": f.InteractionHandle})
	if status != 401 || !reflect.DeepEqual(enginetest.MessageKeys(resp), []string{"idx.session.expired"}) {
		t.Errorf("expired: %d %v", status, resp)
	}
	status, resp = f.Identify(alice, enginetest.Password)
	if status != 401 || !reflect.DeepEqual(enginetest.MessageKeys(resp), []string{"idx.session.expired"}) {
		t.Errorf("post after expiry: %d %v", status, resp)
	}
}

func TestStepsSlideTheExpiry(t *testing.T) {
	h, _ := start(t)
	f := h.Interact(t)
	h.Clock.Advance(20 * time.Minute)
	status, body := f.Identify(alice, enginetest.Password)
	want(t, "identify after 20 minutes", 200, status, body)
	h.Clock.Advance(20 * time.Minute)
	status, body = f.ChoosePhone()
	want(t, "select 20 minutes later", 200, status, body)
}

func TestCancelResetsToIdentifyOnTheSameInteraction(t *testing.T) {
	h, _ := start(t)
	f := walkToChallenge(t, h, "sms")
	code := h.LatestCode(t, alicePhone)
	status, body := f.Action("/idp/idx/cancel")
	want(t, "cancel", 200, status, body)
	if got := enginetest.RemediationNames(body); !reflect.DeepEqual(got, []string{"identify"}) || body["user"] != nil {
		t.Errorf("after cancel: %v user=%v", got, body["user"])
	}
	status, body = f.Introspect(map[string]any{"interactionHandle": f.InteractionHandle})
	want(t, "introspect after cancel", 200, status, body)
	if firstRemediation(t, body) != "identify" {
		t.Errorf("introspect after cancel: %v", enginetest.RemediationNames(body))
	}
	status, body = f.Answer(code)
	want(t, "old code after cancel", 400, status, body)
	// The sign-in can start over on the same handle.
	status, body = f.Identify(alice, enginetest.Password)
	want(t, "identify after cancel", 200, status, body)
}

func TestEnrollmentDuringSignIn(t *testing.T) {
	h, _ := start(t)
	bob := h.CreateUser(t, "bob@example.com", "")
	f := h.Interact(t)
	status, body := f.Identify("bob@example.com", enginetest.Password)
	want(t, "identify", 200, status, body)
	if got := enginetest.RemediationNames(body); !reflect.DeepEqual(got, []string{"select-authenticator-enroll"}) {
		t.Fatalf("got %v", got)
	}
	opt := field(t, enginetest.FindRemediation(body, "select-authenticator-enroll"), "authenticator")["options"].([]any)[0].(map[string]any)
	if opt["label"] != "Phone" || opt["relatesTo"] != "$.authenticators.value[0]" {
		t.Errorf("enroll option = %v", opt)
	}
	id := opt["value"].(map[string]any)["form"].(map[string]any)["value"].([]any)[0].(map[string]any)["value"].(string)
	status, body = f.Submit("select-authenticator-enroll", map[string]any{"authenticator": map[string]any{"id": id}})
	want(t, "choose phone", 200, status, body)
	if got := enginetest.RemediationNames(body); !reflect.DeepEqual(got, []string{"authenticator-enrollment-data", "select-authenticator-enroll"}) {
		t.Fatalf("got %v", got)
	}
	enroll := func(number, method string) (int, map[string]any) {
		return f.Submit("authenticator-enrollment-data", map[string]any{"authenticator": map[string]any{"id": id, "methodType": method, "phoneNumber": number}})
	}
	status, body = enroll("(555) 555-5555", "sms")
	want(t, "invalid number", 400, status, body)
	if got := enginetest.MessageKeys(body); !reflect.DeepEqual(got, []string{"api.factors.error.sms.invalid_phone"}) {
		t.Errorf("messages = %v", got)
	}
	status, body = enroll("+1 800 555 0199", "sms")
	want(t, "toll-free number", 400, status, body)
	if got := enginetest.MessageKeys(body); !reflect.DeepEqual(got, []string{"gatehouse.phone.refused"}) {
		t.Errorf("messages = %v", got)
	}
	status, body = enroll("(201) 555-0199", "sms")
	want(t, "valid number", 200, status, body)
	if got := enginetest.RemediationNames(body); !reflect.DeepEqual(got, []string{"enroll-authenticator", "select-authenticator-enroll"}) {
		t.Fatalf("got %v", got)
	}
	if phones, _ := h.Store.ListPhoneEnrollments(t.Context(), bob.ID); len(phones) != 0 {
		t.Fatal("the phone was stored before its code was verified")
	}
	status, body = f.Answer(h.LatestCode(t, "+12015550199"))
	want(t, "enrollment code", 200, status, body)
	phones, err := h.Store.ListPhoneEnrollments(t.Context(), bob.ID)
	if err != nil || len(phones) != 1 || phones[0].Number != "+12015550199" {
		t.Fatalf("phones after enrollment = %v, %v", phones, err)
	}
	status, tokens := f.Redeem()
	want(t, "token", 200, status, tokens)
}

func TestEnrollmentOffDeniesUsersWithoutPhone(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) { c.SignOn.PhoneEnrollment = config.EnrollAdminOnly }})
	h.CreateUser(t, "bob@example.com", "")
	f := h.Interact(t)
	status, body := f.Identify("bob@example.com", enginetest.Password)
	want(t, "identify", 403, status, body)
	if got := enginetest.MessageKeys(body); !reflect.DeepEqual(got, []string{"security.access_denied"}) || body["remediation"] != nil {
		t.Errorf("403 body = %v", body)
	}
}

func TestPasswordOnlyPolicySucceedsAfterIdentify(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) { c.SignOn.RequirePhone = false }})
	h.CreateUser(t, alice, alicePhone)
	f := h.Interact(t)
	status, body := f.Identify(alice, enginetest.Password)
	want(t, "identify", 200, status, body)
	status, tokens := f.Redeem()
	want(t, "token", 200, status, tokens)
}

func TestIntrospectAfterSuccessShowsTheCodeUntilRedeemed(t *testing.T) {
	h, _ := start(t)
	f := walkToChallenge(t, h, "sms")
	f.Answer(h.LatestCode(t, alicePhone))
	code := f.InteractionCode()
	_, body := f.Introspect(map[string]any{"interactionHandle": f.InteractionHandle})
	if f.InteractionCode() != code {
		t.Fatalf("introspect after success shows another code: %v", body)
	}
	status, tokens := f.Redeem()
	want(t, "token", 200, status, tokens)
	status, body = f.Introspect(map[string]any{"interactionHandle": f.InteractionHandle})
	if status != 401 || !reflect.DeepEqual(enginetest.MessageKeys(body), []string{"idx.session.expired"}) {
		t.Errorf("introspect after redeeming: %d %v", status, body)
	}
}

func TestWrongStepAndUnknownAuthenticatorKeepTheState(t *testing.T) {
	h, _ := start(t)
	f := h.Interact(t)
	status, body := f.PostJSON(h.URL+"/idp/idx/challenge/answer", map[string]any{"credentials": map[string]any{"passcode": "123456"}, "stateHandle": f.StateHandle})
	want(t, "answer at IDENTIFY", 400, status, body)
	if firstRemediation(t, body) != "identify" || !slices.Contains(enginetest.MessageKeys(body), "gatehouse.step.unavailable") {
		t.Errorf("got %v %v", enginetest.RemediationNames(body), enginetest.MessageKeys(body))
	}
	f.Identify(alice, enginetest.Password)
	status, body = f.Submit("select-authenticator-authenticate", map[string]any{"authenticator": map[string]any{"id": "autNOPE"}})
	want(t, "unknown authenticator", 400, status, body)
	if firstRemediation(t, body) != "select-authenticator-authenticate" {
		t.Errorf("got %v", enginetest.RemediationNames(body))
	}
}

type refusingSender struct{}

func (refusingSender) Send(context.Context, messaging.Outbound) (string, error) {
	return "", messaging.Permanent(errors.New("the carrier refused the number"))
}

func TestUndeliverableCodeIsReportedOnTheNextPoll(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{Sender: refusingSender{}})
	h.CreateUser(t, alice, alicePhone)
	f := walkToChallenge(t, h, "sms")
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, body := f.Introspect(map[string]any{"interactionHandle": f.InteractionHandle})
		want(t, "introspect", 200, status, body)
		if slices.Contains(enginetest.MessageKeys(body), "gatehouse.delivery.failed") {
			if firstRemediation(t, body) != "challenge-authenticator" {
				t.Errorf("state = %v", enginetest.RemediationNames(body))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failed delivery was never reported: %v", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	status, body := f.Answer("123456")
	want(t, "answer", 401, status, body)
	if !slices.Contains(enginetest.MessageKeys(body), "gatehouse.delivery.failed") {
		t.Errorf("the answer does not mention the failed delivery: %v", enginetest.MessageKeys(body))
	}
}
