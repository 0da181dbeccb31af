package bench

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// httpConn is one keep-alive HTTP/1.1 connection, used by one client goroutine at a
// time. net/http's Transport hands every request and response between the caller and
// two goroutines of its own per connection; on a machine whose cores the engine
// needs, those wake-ups were a good part of the load generator's CPU time. Requests
// are still written and responses read by net/http (Request.Write, ReadResponse), so
// what goes over the wire is what any Go client sends.
type httpConn struct {
	addr string      // host:port to dial
	tls  *tls.Config // for https; nil for http
	c    net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
}

// newHTTPConn returns an unconnected connection to the server of origin
// (http[s]://host[:port]).
func newHTTPConn(origin *url.URL) *httpConn {
	h := &httpConn{addr: origin.Host}
	port := "80"
	if origin.Scheme == "https" {
		port = "443"
		h.tls = &tls.Config{ServerName: origin.Hostname()}
	}
	if origin.Port() == "" {
		h.addr = net.JoinHostPort(origin.Hostname(), port)
	}
	return h
}

const dialTimeout = 10 * time.Second

// requestTimeout bounds one request: long enough for a password step queued behind
// many others at high concurrency.
const requestTimeout = time.Minute

// do sends req and reads the whole response body into body, returning the status
// and the response's header.
// A request that fails on a connection that had served others before — the server
// may have closed it as idle — is retried once on a new connection, as net/http's
// Transport does, provided nothing of the response had arrived.
func (h *httpConn) do(req *http.Request, body *bytes.Buffer) (int, http.Header, error) {
	reused := h.c != nil
	status, header, received, err := h.roundTrip(req, body)
	if err != nil && reused && !received && staleConnection(err) {
		if req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return 0, nil, err
			}
		}
		status, header, _, err = h.roundTrip(req, body)
	}
	return status, header, err
}

func (h *httpConn) roundTrip(req *http.Request, body *bytes.Buffer) (status int, header http.Header, received bool, err error) {
	if h.c == nil {
		dialer := &net.Dialer{Timeout: dialTimeout}
		var c net.Conn
		if h.tls != nil {
			c, err = tls.DialWithDialer(dialer, "tcp", h.addr, h.tls)
		} else {
			c, err = dialer.Dial("tcp", h.addr)
		}
		if err != nil {
			return 0, nil, false, err
		}
		h.c = c
		h.br = bufio.NewReaderSize(c, 16<<10)
		h.bw = bufio.NewWriterSize(c, 4<<10)
	}
	defer func() {
		if err != nil {
			h.close()
		}
	}()
	if err := h.c.SetDeadline(time.Now().Add(requestTimeout)); err != nil {
		return 0, nil, false, err
	}
	if err := req.Write(h.bw); err != nil {
		return 0, nil, false, err
	}
	if err := h.bw.Flush(); err != nil {
		return 0, nil, false, err
	}
	if _, err := h.br.Peek(1); err != nil {
		return 0, nil, false, err
	}
	resp, err := http.ReadResponse(h.br, req)
	if err != nil {
		return 0, nil, true, err
	}
	body.Reset()
	_, err = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, nil, true, err
	}
	if resp.Close {
		h.close()
	}
	return resp.StatusCode, resp.Header, true, nil
}

func (h *httpConn) close() {
	if h.c != nil {
		h.c.Close()
		h.c, h.br, h.bw = nil, nil, nil
	}
}

// staleConnection reports whether err is what a connection the server has closed
// gives.
func staleConnection(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
