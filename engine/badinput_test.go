package engine_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/internal/enginetest"
	"github.com/gatehouse-id/gatehouse/internal/testenv"
)

const idxType = "application/json; okta-version=1.0.0"

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func do(t *testing.T, c *http.Client, method, url, contentType string, body io.Reader, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return answer{}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// isIDXError: an IDX body without remediation, labelled as IDX, with a message.
func isIDXError(a answer) bool {
	return a.body["version"] == "1.0.0" && a.header.Get("Content-Type") == idxType &&
		len(enginetest.MessageKeys(a.body)) > 0 && a.body["error"] == nil
}

// isOAuthError: {"error", "error_description"}, both present, as JSON.
func isOAuthError(a answer) bool {
	e, _ := a.body["error"].(string)
	d, _ := a.body["error_description"].(string)
	return e != "" && d != "" && a.header.Get("Content-Type") == "application/json"
}

// smallBuffers is the kernel buffer size of both ends of the connections in
// TestOversizedBodiesUnderLoad: small, so that a body the server does not read
// stays in the client's send queue, as it does on a real network, instead of
// vanishing into loopback's large buffers.
const smallBuffers = 32 << 10

type smallBufferListener struct{ net.Listener }

func (l smallBufferListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(smallBuffers)
	}
	return c, err
}

// postWholeThenRead sends a request in full and only then reads the answer, as
// curl and many HTTP clients do (Go's own client reads an early answer while still
// sending, which hides the problem). A server that answers and closes before
// reading the body makes the write, or the read after it, fail with a reset.
func postWholeThenRead(addr, path, contentType, body string) (*http.Response, []byte, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetWriteBuffer(smallBuffers)
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", path, addr, contentType, len(body))
	if _, err := io.WriteString(c, head+body); err != nil {
		return nil, nil, fmt.Errorf("sending: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp, raw, err
}

// TestOversizedBodiesUnderLoad posts 1 MiB bodies of every kind from 50 clients at
// once: each gets a 413 in its endpoint's error shape, never a reset connection.
func TestOversizedBodiesUnderLoad(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h.Engine.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(smallBufferListener{ln}) }()
	t.Cleanup(func() { _ = srv.Close() })
	issuerPath := strings.TrimPrefix(h.Issuer, h.URL)
	const mib = 1 << 20
	big := strings.Repeat("a", mib)
	kinds := []struct {
		name, path, ctype, body string
		idx                     bool
	}{
		{"1 MiB JSON field", "/idp/idx/identify", idxType, `{"identifier":"` + big + `","stateHandle":"x"}`, true},
		{"1 MiB stateHandle", "/idp/idx/introspect", idxType, `{"stateHandle":"` + big + `"}`, true},
		{"100k-deep nesting", "/idp/idx/challenge", idxType, `{"a":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`, true},
		{"1 MiB interact form", issuerPath + "/v1/interact", "application/x-www-form-urlencoded", "client_id=" + big, false},
		{"1 MiB token form", issuerPath + "/v1/token", "application/x-www-form-urlencoded", "grant_type=interaction_code&code=" + big, false},
		{"1 MiB revoke form", issuerPath + "/v1/revoke", "application/x-www-form-urlencoded", "token=" + big, false},
	}
	var wg sync.WaitGroup
	for i := range 50 {
		k := kinds[i%len(kinds)]
		wg.Go(func() {
			resp, raw, err := postWholeThenRead(ln.Addr().String(), k.path, k.ctype, k.body)
			if err != nil {
				t.Errorf("client %d, %s: %v", i, k.name, err)
				return
			}
			a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
			_ = json.Unmarshal(raw, &a.body)
			shaped := isOAuthError(a)
			if k.idx {
				shaped = isIDXError(a)
			}
			if a.status != http.StatusRequestEntityTooLarge || !shaped || !resp.Close {
				t.Errorf("client %d, %s: %d %v %.300s", i, k.name, a.status, a.header, a.raw)
			}
		})
	}
	wg.Wait()
	// The engine still serves normally.
	if status, _ := get(t, "http://"+ln.Addr().String()+"/healthz"); status != 200 {
		t.Errorf("/healthz after the load: %d", status)
	}
}

// TestIDXRequiresAJSONMediaType: a body without a JSON Content-Type, including
// none at all, is refused with 415 before anything is read into the transaction.
func TestIDXRequiresAJSONMediaType(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	f := h.Interact(t)
	body := `{"stateHandle":"` + f.StateHandle + `"}`
	for _, ctype := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json; okta-version=2.0.0", "nonsense"} {
		a := do(t, http.DefaultClient, http.MethodPost, h.URL+"/idp/idx/introspect", ctype, strings.NewReader(body))
		if a.status != http.StatusUnsupportedMediaType || !isIDXError(a) {
			t.Errorf("Content-Type %q: %d %s", ctype, a.status, a.raw)
		}
	}
	for _, ctype := range []string{"application/json", idxType, "application/ion+json; okta-version=1.0.0", "application/vnd.okta.v1+json", "Application/JSON; charset=utf-8"} {
		a := do(t, http.DefaultClient, http.MethodPost, h.URL+"/idp/idx/introspect", ctype, strings.NewReader(body))
		if a.status != http.StatusOK {
			t.Errorf("Content-Type %q: %d %s", ctype, a.status, a.raw)
		}
	}
}

// TestWrongMethodsAndUnknownPaths: 405 with Allow and 404, each in the protocol's
// own error shape rather than the mux's plain text; CORS preflights still work.
func TestWrongMethodsAndUnknownPaths(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	cases := []struct {
		method, path string
		status       int
		allow        string
		idx          bool
	}{
		{"GET", "/idp/idx/identify", 405, "POST", true},
		{"PUT", "/idp/idx/challenge/answer", 405, "POST", true},
		{"OPTIONS", "/idp/idx/introspect", 405, "POST", true}, // not a preflight: no Access-Control-Request-Method
		{"GET", "/idp/idx/nothing-here", 404, "", true},
		{"GET", "/oauth2/default/v1/interact", 405, "POST", false},
		{"GET", "/oauth2/default/v1/token", 405, "POST", false},
		{"GET", "/oauth2/default/v1/revoke", 405, "POST", false},
		{"DELETE", "/oauth2/default/v1/keys", 405, "GET, HEAD", false},
		{"PATCH", "/oauth2/default/v1/userinfo", 405, "GET, HEAD, POST", false},
		{"POST", "/oauth2/default/.well-known/openid-configuration", 405, "GET, HEAD", false},
		{"GET", "/api/v1/sessions/me", 405, "DELETE", false},
		{"POST", "/healthz", 405, "GET, HEAD", false},
		{"GET", "/oauth2/default/v1/nothing-here", 404, "", false},
		{"GET", "/nothing-here", 404, "", false},
		{"GET", "/", 404, "", false},
	}
	for _, c := range cases {
		var body io.Reader
		if c.method != "GET" {
			body = strings.NewReader("x=1")
		}
		a := do(t, http.DefaultClient, c.method, h.URL+c.path, "application/x-www-form-urlencoded", body)
		shaped := isOAuthError(a)
		if c.idx {
			shaped = isIDXError(a)
		}
		if a.status != c.status || a.header.Get("Allow") != c.allow || !shaped {
			t.Errorf("%s %s: %d Allow %q, want %d Allow %q: %s", c.method, c.path, a.status, a.header.Get("Allow"), c.status, c.allow, a.raw)
		}
	}
	if a := do(t, http.DefaultClient, http.MethodHead, h.URL+"/idp/idx/identify", "", nil); a.status != 405 || a.header.Get("Allow") != "POST" {
		t.Errorf("HEAD on an IDX endpoint: %d %v", a.status, a.header)
	}
	// The routes themselves still answer.
	if a := do(t, http.DefaultClient, http.MethodGet, h.Issuer+"/v1/keys", "", nil); a.status != 200 || a.body["keys"] == nil {
		t.Errorf("GET keys: %d %s", a.status, a.raw)
	}
	a := do(t, http.DefaultClient, http.MethodOptions, h.URL+"/idp/idx/identify", "", nil,
		"Origin", enginetest.AppOrigin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	if a.status != 204 || a.header.Get("Access-Control-Allow-Origin") != enginetest.AppOrigin {
		t.Errorf("preflight: %d %v", a.status, a.header)
	}
}

// TestFinishedSignInExplainsRefusals: a step sent after SUCCESS (a code answered
// twice) gets 400 with the interaction code again and a message saying why.
func TestFinishedSignInExplainsRefusals(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	h.CreateUser(t, "alice@example.com", "+12015550123")
	f := h.Interact(t)
	enginetest.Expect(t, "identify", 200)(f.Identify("alice@example.com", enginetest.Password))
	enginetest.Expect(t, "select phone", 200)(f.ChoosePhone())
	enginetest.Expect(t, "choose sms", 200)(f.ChooseMethod("sms"))
	code := h.LatestCode(t, "+12015550123")
	enginetest.Expect(t, "answer", 200)(f.Answer(code))
	status, body := f.Answer(code)
	if status != 400 || fmt.Sprint(enginetest.MessageKeys(body)) != "[gatehouse.step.finished]" || body["successWithInteractionCode"] == nil {
		t.Errorf("answer after success: %d %v", status, body)
	}
}

// TestAccessLogCarriesTheClientIP: X-Forwarded-For is believed from a trusted
// proxy (here loopback, where the test client is) and ignored otherwise.
func TestAccessLogCarriesTheClientIP(t *testing.T) {
	for _, c := range []struct {
		name    string
		trusted []string
		want    string
	}{
		{"trusted proxy", []string{"127.0.0.0/8", "::1"}, "198.51.100.7"},
		{"no trusted proxy", nil, "127.0.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			logs := &testenv.SyncBuffer{}
			h := enginetest.Start(t, enginetest.Options{Logs: logs, Configure: func(cfg *config.Config) { cfg.Server.TrustedProxies = c.trusted }})
			path := "/healthz?probe=" + url.QueryEscape(c.name)
			a := do(t, http.DefaultClient, http.MethodGet, h.URL+path, "", nil, "X-Forwarded-For", "203.0.113.1, 198.51.100.7")
			if a.status != 200 {
				t.Fatalf("GET /healthz: %d", a.status)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				var got []string
				for line := range strings.SplitSeq(logs.String(), "\n") {
					var rec map[string]any
					if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "http request" && rec["path"] == "/healthz" {
						got = append(got, fmt.Sprint(rec["client_ip"]))
					}
				}
				if len(got) > 0 {
					if len(got) != 1 || got[0] != c.want {
						t.Errorf("client_ip in the access log = %v, want %s", got, c.want)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no access-log line for /healthz:\n%s", logs.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
