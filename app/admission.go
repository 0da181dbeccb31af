package app

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// admission caps the sign-ins in progress per client address
// (Config.MaxSignInsPerIP). The store counts the sessions already saved;
// starting counts the sign-ins admitted but not saved yet (their call to the
// identity server is under way), so that parallel requests from one address
// cannot all slip under the cap.
type admission struct {
	mu       sync.Mutex
	starting map[string]int
}

// admit decides whether a sign-in that would create a session may start from
// the request's client. If so, release must be called once the session is
// saved or the sign-in did not start. If not, wait is how long until one of
// the client's sign-ins expires.
func (s *server) admit(r *http.Request) (release func(), wait time.Duration, ok bool) {
	counter, _ := s.sessions.(SessionCounter)
	if s.maxPerIP < 0 || counter == nil {
		return func() {}, 0, true
	}
	client := clientOf(r)
	a := &s.admission
	a.mu.Lock()
	defer a.mu.Unlock()
	n, wait, err := counter.SignInsInProgress(r.Context(), client)
	if err != nil {
		// The store is failing; saving the session will fail too and say so.
		s.log.Error("counting sign-ins in progress", "err", err)
		return func() {}, 0, true
	}
	if n+a.starting[client] >= s.maxPerIP {
		return nil, wait, false
	}
	if a.starting == nil {
		a.starting = map[string]int{}
	}
	a.starting[client]++
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.starting[client]--; a.starting[client] <= 0 {
				delete(a.starting, client)
			}
		})
	}, 0, true
}

// tooManySignIns answers a sign-in refused by the per-address cap.
func (s *server) tooManySignIns(w http.ResponseWriter, wait time.Duration) {
	secs := retryAfterSeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.renderMessage(w, http.StatusTooManyRequests, "Too many sign-ins from your network",
		"Several sign-ins from your network have started and not finished. Finish one of them, or try again in "+
			waitText(time.Duration(secs)*time.Second)+".")
}

// retryAfterSeconds is d in whole seconds for a Retry-After header, rounded
// up and at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// waitText says how long to wait, e.g. "30 seconds" or "5 minutes": seconds
// up to a minute and a half, whole minutes (rounded up) beyond.
func waitText(d time.Duration) string {
	secs := retryAfterSeconds(d)
	switch {
	case secs == 1:
		return "1 second"
	case secs <= 90:
		return strconv.Itoa(secs) + " seconds"
	default:
		return strconv.Itoa((secs+59)/60) + " minutes"
	}
}
