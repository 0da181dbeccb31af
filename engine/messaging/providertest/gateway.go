package providertest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Gateway is a fake of a customer's SMS/voice gateway behind
// messaging.provider: webhook. It accepts POSTs on any path and, like a careful
// gateway, refuses (401) a request whose X-Gatehouse-Signature does not verify
// against its secret or whose X-Gatehouse-Timestamp is more than five minutes
// off. By default it answers 200 {"id":"gw-<n>"}.
type Gateway struct {
	// URL is where to point messaging.webhook.url; any path under it works too.
	URL    string
	Secret string

	f *fake

	mu          sync.Mutex
	replyStatus int
	replyBody   *string // nil: {"id":"gw-<n>"}
}

// NewGateway starts a fake gateway that verifies signatures with secret. It stops
// when the test ends.
func NewGateway(t testing.TB, secret string) *Gateway {
	t.Helper()
	g := &Gateway{Secret: secret, replyStatus: http.StatusOK}
	g.f = newFake(t, g.serve)
	g.URL = g.f.srv.URL + "/gatehouse/messages"
	return g
}

// Requests returns every request received so far, in order.
func (g *Gateway) Requests() []Request { return g.f.recorded() }

// RequestCount is len(Requests()).
func (g *Gateway) RequestCount() int { return g.f.count() }

// FailNext makes the next n requests fail with the HTTP status and a small JSON
// error body.
func (g *Gateway) FailNext(n, status int) { g.f.push(n, step{status: status}) }

// HangNext makes the next n requests get no answer until their client gives up.
func (g *Gateway) HangNext(n int) { g.f.push(n, step{hang: true}) }

// SetReply changes the answer to a request that verifies: status, and body as
// given (empty for none) instead of {"id":"gw-<n>"}.
func (g *Gateway) SetReply(status int, body string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.replyStatus, g.replyBody = status, &body
}

// maxClockSkew is how far from the gateway's clock a signed timestamp may be.
const maxClockSkew = 5 * time.Minute

func (g *Gateway) serve(f *fake, w http.ResponseWriter, r *http.Request, req Request) {
	if s, ok := f.next(); ok {
		if s.hang {
			f.hang(r)
			return
		}
		writeJSON(w, s.status, map[string]string{"error": http.StatusText(s.status)})
		return
	}
	if req.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST only"})
		return
	}
	if reason := verifyGatehouseSignature(g.Secret, req, time.Now()); reason != "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": reason})
		return
	}
	g.mu.Lock()
	status, body := g.replyStatus, g.replyBody
	g.mu.Unlock()
	if body == nil {
		writeJSON(w, status, map[string]string{"id": fmt.Sprintf("gw-%d", f.nextSeq())})
		return
	}
	if *body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	w.Write([]byte(*body))
}

// verifyGatehouseSignature checks a request the way the webhook package documents
// it should be checked, returning why it fails or "" if it passes.
func verifyGatehouseSignature(secret string, req Request, now time.Time) string {
	ts := req.Header.Get("X-Gatehouse-Timestamp")
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "missing or malformed X-Gatehouse-Timestamp"
	}
	if d := now.Sub(time.Unix(unix, 0)); d > maxClockSkew || d < -maxClockSkew {
		return "stale X-Gatehouse-Timestamp"
	}
	got, ok := strings.CutPrefix(req.Header.Get("X-Gatehouse-Signature"), "sha256=")
	if !ok {
		return "missing X-Gatehouse-Signature"
	}
	gotMAC, err := hex.DecodeString(got)
	if err != nil {
		return "malformed X-Gatehouse-Signature"
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(req.Body)
	if !hmac.Equal(gotMAC, mac.Sum(nil)) {
		return "bad signature"
	}
	return ""
}
