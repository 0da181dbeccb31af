package engine

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/clientip"
	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/idxserver"
	"github.com/gatehouse-id/gatehouse/engine/logctx"
	"github.com/gatehouse-id/gatehouse/engine/metrics"
	"github.com/gatehouse-id/gatehouse/engine/mgmt"
	"github.com/gatehouse-id/gatehouse/engine/oauth"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
)

// withMiddleware wraps the engine's mux: request ids (in the request context, for
// every log line), panic recovery, the client IP (in the request context, for every
// handler and the access log), access logs, security headers, and CORS for browser
// clients.
func withMiddleware(h http.Handler, origins []string, log *slog.Logger, m *metrics.Metrics, ips *clientip.Resolver) http.Handler {
	return requestIDs(recoverPanics(ips.Middleware(logRequests(securityHeaders(cors(h, origins)), log, m)), log))
}

// clientIPResolver trusts the configured server.trusted_proxies. Validation has
// checked that every entry parses; one that does not is skipped.
func clientIPResolver(cidrs []string) *clientip.Resolver {
	var trusted []netip.Prefix
	for _, s := range cidrs {
		if p, err := config.ParseTrustedProxy(s); err == nil {
			trusted = append(trusted, p)
		}
	}
	return clientip.NewResolver(trusted)
}

// recoverPanics turns a panic into a 500 and a log line with the stack, so that no
// request can take the process down or leave the client hanging.
func recoverPanics(h http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.ErrorContext(r.Context(), "panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"error":"server_error","error_description":"internal error"}` + "\n"))
			}
		}()
		h.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// requestIDPattern is what an incoming X-Request-Id must look like to be kept:
// short, and nothing a log reader or a header could misread.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// probePaths are the health checks and the metrics scrape: load balancers and
// Prometheus call them every few seconds, so their access-log lines are DEBUG.
var probePaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// requestIDs gives each request an id — X-Request-Id when the client sent a sane
// one, else a new one — sends it back in X-Request-Id, and puts it in the request's
// context: every log line logged with that context carries it as request_id (see
// engine/logctx). A request the engine makes to itself (the hosted pages call the
// IDX API in process) keeps its caller's id.
func requestIDs(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := logctx.RequestID(r.Context())
		if id == "" {
			id = r.Header.Get("X-Request-Id")
			if !requestIDPattern.MatchString(id) {
				id = opaque.New(12)
			}
			r = r.WithContext(logctx.WithRequestID(r.Context(), id))
		}
		w.Header().Set("X-Request-Id", id)
		h.ServeHTTP(w, r)
	})
}

// logRequests writes one access-log line per request, with the request id from its
// context. It logs the path but never the query string: token requests from the Go
// IDX SDK carry the interaction code and client secret there, and logout carries an
// ID token.
func logRequests(h http.Handler, log *slog.Logger, m *metrics.Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := r.Context()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		elapsed := time.Since(start)
		// r.Pattern is the route the mux matched ("POST /idp/idx/identify"): a bounded
		// label, unlike the raw path.
		m.Request(r.Pattern, rec.status, elapsed)
		level := slog.LevelInfo
		switch {
		case probePaths[r.URL.Path]:
			// Even a failing probe: /readyz answers 503 all through a shutdown's
			// drain, and logs why it fails itself when the store is the cause.
			level = slog.LevelDebug
		case rec.status >= 500:
			level = slog.LevelError
		}
		if !log.Enabled(ctx, level) {
			return
		}
		ip := ""
		if a := clientip.From(ctx); a.IsValid() {
			ip = a.String()
		}
		log.Log(ctx, level, "http request", "method", r.Method, "path", r.URL.Path,
			"client_ip", ip, "status", rec.status, "bytes", rec.bytes, "duration_ms", float64(elapsed.Microseconds())/1000)
	})
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

// Browser clients (okta-auth-js, the Sign-In Widget) send X-Okta-User-Agent-Extended
// and a JSON content type, so every call is preflighted; IDX calls carry credentials,
// which rules out "*" (docs/protocol.md).
const (
	corsAllowHeaders  = "Accept, Content-Type, Authorization, X-Okta-User-Agent-Extended, DPoP, X-Requested-With"
	corsAllowMethods  = "GET, POST, DELETE, OPTIONS"
	corsExposeHeaders = "WWW-Authenticate"
)

func cors(h http.Handler, origins []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		// The management API is for servers' scripts, never for pages: an API token
		// must not live in a browser.
		corsPath := !strings.HasPrefix(r.URL.Path, "/dev/") && !strings.HasSuffix(r.URL.Path, "/v1/logout") && !mgmt.Owns(r.URL.Path)
		allowed := origin != "" && corsPath && slices.Contains(origins, origin)
		if origin != "" {
			w.Header().Add("Vary", "Origin")
		}
		if allowed {
			hd := w.Header()
			hd.Set("Access-Control-Allow-Origin", origin)
			hd.Set("Access-Control-Allow-Credentials", "true")
			hd.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			hd := w.Header()
			hd.Set("Access-Control-Allow-Methods", corsAllowMethods)
			hd.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			hd.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// fallbackPattern is the method-less catch-all the engine registers for requests
// no route takes. Every route is more specific, so it only sees the rest.
const fallbackPattern = "/"

// probeMethods are the methods tried to learn which ones a path serves.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// unmatched answers the requests no route takes in the protocol's own error shape
// instead of the mux's plain text: 405 with an Allow header when the path serves
// other methods, else 404; an IDX body under /idp/idx/ and an OAuth-style JSON body
// everywhere else. CORS preflights never get here: cors answers them.
//
// Paths of the management API (mgmt.Owns), when it is on, are answered by it: in
// Okta's error shape, once the caller's API token is checked and counted.
func unmatched(mux *http.ServeMux, api *mgmt.API) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range probeMethods {
			probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != fallbackPattern {
				allow = append(allow, m)
			}
		}
		if !oauth.DrainBody(r.Body) {
			w.Header().Set("Connection", "close")
		}
		if api != nil && mgmt.Owns(r.URL.Path) {
			api.Unmatched(w, r, allow)
			return
		}
		idx := r.URL.Path == "/idp/idx" || strings.HasPrefix(r.URL.Path, "/idp/idx/")
		switch {
		case len(allow) > 0 && idx:
			idxserver.WriteMethodNotAllowed(w, allow)
		case len(allow) > 0:
			oauth.WriteMethodNotAllowed(w, r.Method, allow)
		case idx:
			idxserver.WriteNotFound(w)
		default:
			oauth.WriteNotFound(w)
		}
	})
}
