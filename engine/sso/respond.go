package sso

import (
	"crypto/rand"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
)

// respond sends the authorization response to the client (RFC 6749 4.1.2, RFC 9207:
// always with iss). mode "form_post" posts it from an auto-submitting page (OAuth 2.0
// Form Post Response Mode); with scripts off, the page shows a Continue button.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, redirectURI, mode string, params url.Values) {
	params.Set("iss", h.o.OAuth.Issuer())
	for k, v := range params {
		if len(v) == 0 {
			delete(params, k)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if mode == "form_post" {
		nonce := scriptNonce()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'unsafe-inline'; form-action "+formAction(redirectURI)+"; frame-ancestors 'none'; base-uri 'none'")
		type field struct{ Name, Value string }
		var fields []field
		for k, v := range params {
			fields = append(fields, field{k, v[0]})
		}
		_ = formPostPage.Execute(w, struct {
			Action  string
			Fields  []field
			Nonce   string
			Product string
		}{redirectURI, fields, nonce, h.o.Product})
		return
	}
	u, err := url.Parse(redirectURI) // registered URIs were validated
	if err != nil {
		h.errorPage(w, http.StatusInternalServerError, "Something went wrong", "The application's address could not be used.")
		return
	}
	q := u.Query()
	for k, v := range params {
		q.Set(k, v[0])
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// respondError redirects an error to the client.
func (h *Handler) respondError(w http.ResponseWriter, r *http.Request, req authRequest, code, description string) {
	h.o.Log.InfoContext(r.Context(), "authorize: refused", "client_id", req.client.ID, "error", code)
	h.respond(w, r, req.redirectURI, req.responseMode, url.Values{
		"error": {code}, "error_description": {description}, "state": optional(req.state)})
}

// formAction is the CSP source that allows posting the form to redirectURI.
func formAction(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil || u.Host == "" {
		return "'none'"
	}
	return u.Scheme + "://" + u.Host
}

func scriptNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)
}

var formPostPage = template.Must(template.New("form_post").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Product}}: signing you in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem">
<form method="post" action="{{.Action}}">
{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<p>Taking you back to the application…</p>
<noscript><button type="submit">Continue</button></noscript>
</form>
<script nonce="{{.Nonce}}">document.forms[0].submit()</script>
</body></html>`))

var messagePage = template.Must(template.New("message").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Product}}: {{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem">
<p style="color: #555">{{.Product}}</p>
<h1>{{.Title}}</h1><p>{{.Text}}</p>
{{if .Form}}<form method="post" action="{{.Form.Action}}">
{{range $k, $v := .Form.Fields}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<button type="submit">{{.Form.Button}}</button></form>{{end}}
</body></html>`))

// pageForm is a one-button form on a message page.
type pageForm struct {
	Action string
	Fields map[string]string
	Button string
}

// errorPage shows an error that must not be redirected (unknown client, bad
// redirect URI) or has nowhere to go.
func (h *Handler) errorPage(w http.ResponseWriter, status int, title, text string) {
	h.page(w, status, title, text, nil)
}

func (h *Handler) page(w http.ResponseWriter, status int, title, text string, form *pageForm) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_ = messagePage.Execute(w, struct {
		Product, Title, Text string
		Form                 *pageForm
	}{h.o.Product, title, text, form})
}
