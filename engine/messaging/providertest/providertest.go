// Package providertest runs local stand-ins for the message providers the engine
// talks to — Twilio's REST API and a customer's webhook gateway — so that the
// senders can be tested over real HTTP. They are the only fakes in the project:
// the carriers are the one edge a test cannot reach.
//
// Each fake listens on 127.0.0.1, records every request it receives (faulty ones
// too), and can be scripted to answer the next requests with an error status or to
// hang until the client gives up.
package providertest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Request is one request a fake received, as it arrived.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	// Form is the parsed body of a form-encoded request, nil otherwise.
	Form url.Values
}

// BasicAuth returns the credentials of the request's HTTP Basic Authorization
// header.
func (r Request) BasicAuth() (user, password string, ok bool) {
	return (&http.Request{Header: r.Header}).BasicAuth()
}

// step is one scripted answer, used up by one request.
type step struct {
	hang   bool
	status int
	// For the fake Twilio: the error code and message of its error document; zero
	// values pick ones that fit status.
	twilioCode    int
	twilioMessage string
	// rawBody, when set, is sent as text/html instead of the fake's own error
	// document, as a proxy or load balancer in front of the real API would.
	rawBody string
}

// fake is what both fakes share: the server, the request log and the script.
type fake struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []Request
	script   []step
	seq      int // numbers the resources the fake creates
	// closing is closed when the test ends, releasing hung handlers so that the
	// server can shut down.
	closing chan struct{}
}

func newFake(t testing.TB, h func(f *fake, w http.ResponseWriter, r *http.Request, req Request)) *fake {
	t.Helper()
	f := &fake{closing: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		req := Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
		if ct := r.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			if form, err := url.ParseQuery(string(body)); err == nil {
				req.Form = form
			}
		}
		f.mu.Lock()
		f.requests = append(f.requests, req)
		f.mu.Unlock()
		h(f, w, r, req)
	}))
	t.Cleanup(func() {
		close(f.closing)
		f.srv.Close()
	})
	return f
}

// next takes the scripted answer for this request, if any.
func (f *fake) next() (step, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.script) == 0 {
		return step{}, false
	}
	s := f.script[0]
	f.script = f.script[1:]
	return s, true
}

func (f *fake) push(n int, s step) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.script = append(f.script, s)
	}
}

// hang holds a request until its client goes away or the test ends.
func (f *fake) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-f.closing:
	}
}

func (f *fake) recorded() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Request, len(f.requests))
	copy(out, f.requests)
	return out
}

// nextSeq numbers a created resource: 1, 2, 3…
func (f *fake) nextSeq() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	return f.seq
}

func (f *fake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func writeRaw(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, body)
}
