package engine

import (
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/clientip"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/metrics"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// requestGroups maps the paths that the per-client-IP request limit covers to the
// group each is counted in. Every group has its own budget of
// rate_limits.requests_per_ip_per_minute.
func requestGroups(issuer string) map[string]string {
	base := oauth.Path(oauth.BaseURL(issuer))
	return map[string]string{
		base + "/v1/interact":        "interact",
		base + "/v1/token":           "token",
		base + "/v1/revoke":          "revoke",
		base + "/v1/introspect":      "token-introspect",
		"/idp/idx/introspect":        "introspect",
		"/idp/idx/identify":          "identify",
		"/idp/idx/challenge":         "challenge",
		"/idp/idx/credential/enroll": "challenge",
		"/idp/idx/challenge/answer":  "answer",
		"/idp/idx/challenge/resend":  "resend",
		"/idp/idx/cancel":            "cancel",
		"/idp/idx/recover":           "recover",
		"/idp/idx/identify/select":   "identify",
		"/idp/idx/enroll":            "register",
		"/idp/idx/enroll/new":        "register",
	}
}

// limitRequests applies the per-client-IP request limits: one unit of the group's
// budget per request, taken before the handler runs; and, for userinfo, a budget of
// failed requests (bad or expired tokens), counted after each failure and checked
// before each request.
func limitRequests(h http.Handler, issuer string, perMinute int, limiter *throttle.Limiter, m *metrics.Metrics, now func() time.Time) http.Handler {
	groups := requestGroups(issuer)
	userinfo := oauth.Path(oauth.BaseURL(issuer)) + "/v1/userinfo"
	limit := throttle.Limit{Max: perMinute, Window: time.Minute}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			h.ServeHTTP(w, r)
			return
		}
		ip := clientip.Key(clientip.From(r.Context()))
		if group, ok := groups[strings.TrimSuffix(r.URL.Path, "/")]; ok {
			d, err := limiter.Take(r.Context(), throttle.Requests(group, ip), limit)
			if err == nil && !d.Allowed {
				m.RateLimited("requests_per_ip")
				eventlog.RateLimited(r.Context(), limiter, d, "requests_per_ip_per_minute")
				if !oauth.DrainBody(r.Body) {
					w.Header().Set("Connection", "close")
				}
				throttle.WriteTooManyRequests(w, d, now())
				return
			}
			// A store error leaves the request to its handler, which needs the same
			// store and answers for itself.
			if err == nil {
				d.WriteHeaders(w.Header(), now())
			}
			h.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == userinfo {
			key := throttle.Requests("userinfo-failures", ip)
			if n, end, err := limiter.Count(r.Context(), key, limit); err == nil && n >= limit.Max {
				m.RateLimited("userinfo_failures")
				d := throttle.Decision{Refused: key, Limit: limit.Max, Reset: end}
				eventlog.RateLimited(r.Context(), limiter, d, "requests_per_ip_per_minute")
				throttle.WriteTooManyRequests(w, d, now())
				return
			}
			rec := &statusOnly{ResponseWriter: w}
			h.ServeHTTP(rec, r)
			if rec.status == http.StatusUnauthorized || rec.status == http.StatusForbidden {
				_, _ = limiter.Reserve(r.Context(), throttle.Request{Key: key, Limit: throttle.Limit{Max: 1 << 30, Window: time.Minute}})
			}
			return
		}
		h.ServeHTTP(w, r)
	})
}

// statusOnly remembers the status a handler answered with.
type statusOnly struct {
	http.ResponseWriter
	status int
}

func (s *statusOnly) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusOnly) Unwrap() http.ResponseWriter { return s.ResponseWriter }
