package hosted

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The pages drive the engine's own IDX endpoints through the public SDK; the
// SDK's HTTP requests never reach the network. engineTransport serves each of
// them with the engine's handler, as if the browser had sent it: same
// RemoteAddr and X-Forwarded-For (so client-IP rules and rate limits count the
// browser), the browser's engine cookies in, their Set-Cookie out.

// maxEngineResponse bounds what one in-process call may answer; real IDX
// responses are a few kilobytes.
const maxEngineResponse = 4 << 20

// browserCall is the page request on whose behalf the SDK calls the engine.
type browserCall struct {
	r *http.Request
	w http.ResponseWriter

	mu sync.Mutex
	// cookies are the forwarded cookies as the browser now has them: its
	// own, updated by what earlier calls of this request set.
	cookies map[string]*http.Cookie
}

type callKey struct{}

// withBrowser returns the context for SDK calls made while serving r.
func (p *Pages) withBrowser(w http.ResponseWriter, r *http.Request) context.Context {
	c := &browserCall{r: r, w: w, cookies: map[string]*http.Cookie{}}
	for _, name := range p.forward {
		if ck, err := r.Cookie(name); err == nil {
			c.cookies[name] = ck
		}
	}
	return context.WithValue(r.Context(), callKey{}, c)
}

// engineTransport is the SDK's http.RoundTripper.
type engineTransport struct {
	engine  http.Handler
	forward map[string]bool
}

var errNoBrowser = errors.New("hosted: an engine call outside a page request")

func (t *engineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	call, ok := req.Context().Value(callKey{}).(*browserCall)
	if !ok {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errNoBrowser
	}
	in := req.Clone(req.Context())
	in.URL.Scheme, in.URL.Host, in.URL.User = "", "", nil
	in.RequestURI = in.URL.RequestURI()
	in.Host = req.URL.Host
	in.Proto, in.ProtoMajor, in.ProtoMinor = "HTTP/1.1", 1, 1
	in.RemoteAddr = call.r.RemoteAddr
	in.TLS = call.r.TLS
	if in.Body == nil {
		in.Body = http.NoBody
	}
	in.Header.Del("X-Forwarded-For")
	for _, v := range call.r.Header.Values("X-Forwarded-For") {
		in.Header.Add("X-Forwarded-For", v)
	}
	if ua := call.r.Header.Get("User-Agent"); ua != "" {
		in.Header.Set("User-Agent", ua)
	}
	in.Header.Del("Cookie")
	call.mu.Lock()
	for _, name := range slices.Sorted(maps.Keys(call.cookies)) {
		in.AddCookie(&http.Cookie{Name: name, Value: call.cookies[name].Value})
	}
	call.mu.Unlock()

	rec := &recorder{header: http.Header{}}
	t.engine.ServeHTTP(rec, in)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	t.relayCookies(call, rec.header)
	rec.header.Del("Set-Cookie")
	if rec.overflow {
		return nil, errors.New("hosted: the engine's answer is too large")
	}
	return &http.Response{
		Status:        strconv.Itoa(rec.status) + " " + http.StatusText(rec.status),
		StatusCode:    rec.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rec.header,
		Body:          io.NopCloser(bytes.NewReader(rec.body.Bytes())),
		ContentLength: int64(rec.body.Len()),
		Request:       req,
	}, nil
}

// relayCookies passes the Set-Cookie of forwarded cookies on to the browser
// and remembers them for the request's later calls. A cookie whose path would
// not be sent to the pages (the engine scopes its device cookie to /idp/idx/)
// is relayed for the whole site, so the browser returns it with its next page
// request; other attributes are kept.
func (t *engineTransport) relayCookies(call *browserCall, h http.Header) {
	for _, line := range h.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil || !t.forward[c.Name] {
			continue
		}
		if c.Path != "" && !strings.HasPrefix(cookiePath, c.Path) {
			c.Path = "/"
		}
		http.SetCookie(call.w, c)
		call.mu.Lock()
		if c.MaxAge < 0 {
			delete(call.cookies, c.Name)
		} else {
			call.cookies[c.Name] = c
		}
		call.mu.Unlock()
	}
}

// recorder captures the engine's answer to one in-process call.
type recorder struct {
	header   http.Header
	status   int
	body     bytes.Buffer
	overflow bool
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.body.Len()+len(b) > maxEngineResponse {
		r.overflow = true
		return 0, errors.New("hosted: response too large")
	}
	return r.body.Write(b)
}
