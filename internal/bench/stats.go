package bench

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// The flows a sign-in can take.
const (
	// FlowIDX is an app speaking Okta's IDX API (as okta-auth-js does): interact,
	// introspect, identify, … and the interaction code redeemed for tokens.
	FlowIDX = "idx"
	// FlowCode is a browser sent by an app to /v1/authorize (OpenID Connect's
	// authorization code flow), signing in on the engine's hosted pages, and the app
	// redeeming the authorization code.
	FlowCode = "code"
)

// Step is one step of an IDX sign-in (FlowIDX): one HTTP call, in the order a
// client makes them.
type Step int

// The steps of one IDX sign-in.
const (
	StepInteract Step = iota
	StepIntrospect
	StepIdentify
	StepSelectPhone
	StepChooseSMS
	StepAnswer
	StepToken
	StepUserinfo
	numSteps
)

var stepNames = [numSteps]string{"interact", "introspect", "identify", "select_phone", "choose_sms", "answer", "token", "userinfo"}

func (s Step) String() string { return stepNames[s] }

// PageStep is one step of a sign-in on the hosted pages (FlowCode): what a browser
// does from following a link or submitting a form to having the next page. A form
// the engine answers with a 303 to /signin includes the GET of /signin that follows.
type PageStep int

// The steps of one sign-in on the hosted pages.
const (
	PageAuthorize     PageStep = iota // GET /v1/authorize: 303 to /signin
	PageSignIn                        // GET /signin: the username and password page
	PageIdentify                      // POST /signin/identify, then GET /signin: the choice of authenticator
	PageAuthenticator                 // POST /signin/authenticator, then GET /signin: the choice of method
	PageMethod                        // POST /signin/method (a code is sent), then GET /signin: the code page
	PageCode                          // POST /signin/code: the continue page
	PageDone                          // GET /signin/done: 303 to the client's redirect URI
	PageToken                         // POST /v1/token: the authorization code redeemed
	numPageSteps
)

var pageStepNames = [numPageSteps]string{"authorize", "signin_page", "identify", "authenticator", "method", "code", "done", "token"}

func (s PageStep) String() string { return pageStepNames[s] }

// stepper is a step of either flow: its name, and its place in flowResult.steps.
type stepper interface {
	fmt.Stringer
	slot() int
}

func (s Step) slot() int     { return int(s) }
func (s PageStep) slot() int { return int(s) }

// maxSteps is the number of steps of the longest flow.
const maxSteps = max(int(numSteps), int(numPageSteps))

// stepsOf names the steps of flow, in order.
func stepsOf(flow string) []string {
	if flow == FlowCode {
		return pageStepNames[:]
	}
	return stepNames[:]
}

// samples collects latencies. At the rates a sign-in engine reaches, keeping every
// sample costs a few megabytes and gives exact percentiles.
type samples []time.Duration

// Latency summarises samples, in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// summarise sorts s and returns its percentiles (nearest rank).
func (s samples) summarise() Latency {
	if len(s) == 0 {
		return Latency{}
	}
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Latency{
		Count: len(s),
		Mean:  ms(sum / time.Duration(len(s))),
		P50:   ms(s.percentile(50)),
		P95:   ms(s.percentile(95)),
		P99:   ms(s.percentile(99)),
		Max:   ms(s[len(s)-1]),
	}
}

// percentile is the nearest-rank percentile of sorted samples: the smallest sample
// that at least p % of all samples do not exceed.
func (s samples) percentile(p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// ms converts a duration to milliseconds with microsecond resolution.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
