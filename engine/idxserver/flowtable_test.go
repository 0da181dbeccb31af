package idxserver_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// Every IDX endpoint Okta defines that a client might post to, served or not. The
// flow-table test posts to each in every state.
var idxPaths = []string{
	"/idp/idx/identify", "/idp/idx/identify/select", "/idp/idx/enroll", "/idp/idx/enroll/new",
	"/idp/idx/recover", "/idp/idx/challenge", "/idp/idx/challenge/answer", "/idp/idx/challenge/resend",
	"/idp/idx/credential/enroll", "/idp/idx/cancel", "/idp/idx/skip", "/idp/idx/unlock-account",
	"/idp/idx/authenticators/poll",
}

// The refusals of a request the state does not offer.
var notOffered = []string{"gatehouse.step.unavailable", "gatehouse.resend.unavailable", "gatehouse.step.finished"}

// flowState is a way to bring a fresh sign-in to one state of the flow.
type flowState struct {
	name  string
	reach func(t *testing.T, h *enginetest.Harness, f *enginetest.Flow)
}

// manySends raises the send limits as far as the configuration allows, so that
// one test can send many codes to one phone (with the clock advanced past the
// send interval between them).
func manySends(c *config.Config) {
	enginetest.NoRequestLimits(c)
	c.Phone.SendInterval = 10 * time.Second
	c.Phone.MaxSends, c.Phone.MaxSendsPerUserPerDay, c.Phone.MaxSendsPerIPPerHour = 100, 1000, 100_000
	c.Phone.MaxUnverifiedSendsPerIPPerHour, c.Phone.MaxUnverifiedSendsPerUserPerDay = 100_000, 1000
	c.RateLimits.RegistrationsPerIPPerHour = 100_000
}

const (
	bob        = "bob@example.com" // no second factor
	carol      = "carol@example.com"
	newAccount = "new-person@example.com"
	expired    = "expired@example.com" // a phone; the password expired
)

func flowStates() []flowState {
	ok := func(t *testing.T, what string) func(int, map[string]any) {
		return enginetest.Expect(t, what, http.StatusOK)
	}
	identifyAlice := func(t *testing.T, h *enginetest.Harness, f *enginetest.Flow) {
		ok(t, "identify")(f.Identify(alice, enginetest.Password))
	}
	challengeAlice := func(t *testing.T, h *enginetest.Harness, f *enginetest.Flow) {
		identifyAlice(t, h, f)
		ok(t, "choose phone")(f.ChoosePhone())
		ok(t, "choose sms")(f.ChooseMethod("sms"))
	}
	enrollBob := func(t *testing.T, h *enginetest.Harness, f *enginetest.Flow) {
		ok(t, "identify bob")(f.Identify(bob, enginetest.Password))
		ok(t, "choose phone")(f.Submit("select-authenticator-enroll", map[string]any{"authenticator": map[string]any{"id": phoneEnrollID(t, f)}}))
	}
	recoverAlice := func(t *testing.T, h *enginetest.Harness, f *enginetest.Flow) {
		ok(t, "recover")(f.Action("/idp/idx/recover"))
		ok(t, "identify-recovery")(f.Submit("identify-recovery", map[string]any{"identifier": alice}))
	}
	registering := func(t *testing.T, h *enginetest.Harness, f *enginetest.Flow) {
		ok(t, "select-enroll-profile")(f.Submit("select-enroll-profile", nil))
		ok(t, "enroll-profile")(f.Submit("enroll-profile", map[string]any{"userProfile": map[string]any{
			"email": fmt.Sprintf("n%d-%s", time.Now().UnixNano(), newAccount), "firstName": "New", "lastName": "Person"}}))
	}
	return []flowState{
		{"IDENTIFY", func(*testing.T, *enginetest.Harness, *enginetest.Flow) {}},
		{"IDENTIFY_RECOVERY", func(t *testing.T, h *enginetest.Harness, f *enginetest.Flow) {
			ok(t, "recover")(f.Action("/idp/idx/recover"))
		}},
		{"ENROLL_PROFILE", func(t *testing.T, h *enginetest.Harness, f *enginetest.Flow) {
			ok(t, "select-enroll-profile")(f.Submit("select-enroll-profile", nil))
		}},
		{"SELECT_AUTHENTICATOR", identifyAlice},
		{"VERIFY_DATA", func(t *testing.T, h *enginetest.Harness, f *enginetest.Flow) {
			identifyAlice(t, h, f)
			ok(t, "choose phone")(f.ChoosePhone())
		}},
		{"CHALLENGE", challengeAlice},
		{"SELECT_ENROLL", func(t *testing.T, h *enginetest.Harness, f *enginetest.Flow) {
			ok(t, "identify bob")(f.Identify(bob, enginetest.Password))
		}},
		{"ENROLL_DATA", enrollBob},
		{"ENROLL_CHALLENGE", func(t *testing.T, h *enginetest.Harness, f *enginetest.Flow) {
			enrollBob(t, h, f)
			ok(t, "enrollment data")(f.Submit("authenticator-enrollment-data", map[string]any{"authenticator": map[string]any{
				"id": phoneEnrollID(t, f), "methodType": "sms", "phoneNumber": "+12015550177"}}))
		}},
		{"RECOVERY SELECT_AUTHENTICATOR", recoverAlice},
		{"RECOVERY CHALLENGE", func(t *testing.T, h *enginetest.Harness, f *enginetest.Flow) {
			recoverAlice(t, h, f)
			ok(t, "choose sms")(f.ChooseMethodFirst("sms"))
		}},
		{"PASSWORD_EXPIRED", func(t *testing.T, h *enginetest.Harness, f *enginetest.Flow) {
			ok(t, "identify")(f.Identify(expired, enginetest.Password))
		}},
		{"RESET_PASSWORD", func(t *testing.T, h *enginetest.Harness, f *enginetest.Flow) {
			recoverAlice(t, h, f)
			ok(t, "choose sms")(f.ChooseMethodFirst("sms"))
			ok(t, "answer")(f.Answer(h.LatestCode(t, alicePhone)))
		}},
		{"REGISTRATION SELECT_ENROLL (password)", registering},
		{"REGISTRATION ENROLL_CHALLENGE (password)", func(t *testing.T, h *enginetest.Harness, f *enginetest.Flow) {
			registering(t, h, f)
			ok(t, "choose password")(f.Submit("select-authenticator-enroll", map[string]any{"authenticator": map[string]any{
				"id": optionID(t, f, "select-authenticator-enroll", "Password")}}))
		}},
		{"SUCCESS", func(t *testing.T, h *enginetest.Harness, f *enginetest.Flow) {
			challengeAlice(t, h, f)
			ok(t, "answer")(f.Answer(h.LatestCode(t, alicePhone)))
		}},
	}
}

// TestFlowTable walks every state of the flow and proves, over HTTP, that each
// remediation a response offers is accepted at its endpoint and that every other
// IDX endpoint refuses the request as not offered at this point. A handler that
// accepted a request its state did not offer — or a state that offered something
// no handler takes — fails it.
func TestFlowTable(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{Configure: func(c *config.Config) {
		manySends(c)
		c.SignOn.SelfRegistration = true
	}})
	h.CreateUser(t, alice, alicePhone)
	h.CreateUser(t, bob, "")
	expirePassword(t, h, h.CreateUser(t, expired, "+12015550166").ID)
	seen := map[string]bool{}
	for _, st := range flowStates() {
		t.Run(st.name, func(t *testing.T) {
			reach := func() (*enginetest.Flow, map[string]string) {
				h.Clock.Advance(11 * time.Second) // past the send interval
				f := h.Interact(t)
				st.reach(t, h, f)
				status, body := f.Introspect(map[string]any{"stateHandle": f.StateHandle})
				if status != http.StatusOK {
					t.Fatalf("introspect: %d %v", status, body)
				}
				return f, offeredPaths(t, h, body)
			}
			_, offered := reach()
			for name := range offered {
				seen[name] = true
			}
			byPath := map[string]string{}
			for name, path := range offered {
				byPath[path] = name
			}
			for _, path := range idxPaths {
				f, _ := reach()
				status, body := f.PostJSON(h.URL+path, map[string]any{"stateHandle": f.StateHandle})
				keys := enginetest.MessageKeys(body)
				refused := status == http.StatusNotFound || (status == http.StatusBadRequest && slices.ContainsFunc(keys, func(k string) bool {
					return slices.Contains(notOffered, k)
				}))
				if status >= 500 {
					t.Errorf("%s: %d %v", path, status, body)
				}
				if name, ok := byPath[path]; ok && refused {
					t.Errorf("%s is offered (%s) but its endpoint refused it: %d %v", path, name, status, keys)
				}
				if _, ok := byPath[path]; !ok && !refused {
					t.Errorf("%s is not offered (offered: %v) but its endpoint accepted it: %d %v", path, sortedKeys(offered), status, body)
				}
			}
		})
	}
	all := []string{"identify", "identify-recovery", "select-enroll-profile", "enroll-profile", "select-identify",
		"select-authenticator-authenticate", "authenticator-verification-data", "challenge-authenticator",
		"select-authenticator-enroll", "authenticator-enrollment-data", "enroll-authenticator", "reset-authenticator",
		"reenroll-authenticator", "recover", "resend", "cancel"}
	for _, name := range all {
		if !seen[name] {
			t.Errorf("no state offered %s", name)
		}
	}
}

// offeredPaths lists what a response offers, by name, with the path it posts to:
// its remediations, its cancel action and its authenticators' actions.
func offeredPaths(t *testing.T, h *enginetest.Harness, body map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	add := func(form map[string]any) {
		u, err := url.Parse(form["href"].(string))
		if err != nil || u.Host != strings.TrimPrefix(h.URL, "http://") {
			t.Fatalf("href %v does not point at the engine", form["href"])
		}
		out[form["name"].(string)] = u.Path
	}
	for _, name := range enginetest.RemediationNames(body) {
		add(enginetest.FindRemediation(body, name))
	}
	if c, ok := body["cancel"].(map[string]any); ok {
		add(c)
	}
	for _, member := range []string{"currentAuthenticator", "currentAuthenticatorEnrollment"} {
		obj, ok := body[member].(map[string]any)
		if !ok {
			continue
		}
		for _, action := range []string{"recover", "resend"} {
			if a, ok := obj["value"].(map[string]any)[action].(map[string]any); ok {
				add(a)
			}
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// optionID is the authenticator id of the option labelled label in a remediation.
func optionID(t *testing.T, f *enginetest.Flow, remediation, label string) string {
	t.Helper()
	for _, o := range field(t, f.Remediation(remediation), "authenticator")["options"].([]any) {
		o := o.(map[string]any)
		if o["label"] == label {
			for _, fl := range o["value"].(map[string]any)["form"].(map[string]any)["value"].([]any) {
				if fl := fl.(map[string]any); fl["name"] == "id" {
					return fl["value"].(string)
				}
			}
		}
	}
	t.Fatalf("no option %q in %s", label, remediation)
	return ""
}

func phoneEnrollID(t *testing.T, f *enginetest.Flow) string {
	return optionID(t, f, "select-authenticator-enroll", "Phone")
}
