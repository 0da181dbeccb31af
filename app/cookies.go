package app

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"unicode/utf8"
)

// The browser holds three cookies at most, none of them secret on its own:
//
//   - the session cookie (sessionCookies), once a sign-in has started;
//   - the form cookie, a random value the sign-in form's CSRF token is bound
//     to (formTokens), so that the sign-in page needs no server-side session;
//   - the notice cookie, a one-time message for the sign-in page signed by
//     the app (notices), for visitors who have no server-side session to
//     carry it (after signing out, or when a sign-in ended).
//
// The form token and the notice are HMAC-SHA256s under the app's cookie key
// (Config.CookieKey), each with its own label so one can never pass for the
// other.

// cookieName is name, or __Host-name on https: browsers then refuse the
// cookie unless it is Secure, host-only and Path=/, so that a sibling
// subdomain cannot plant one.
func cookieName(name string, secure bool) string {
	if secure {
		return "__Host-" + name
	}
	return name
}

// mac is HMAC-SHA256(key, label || 0 || data), base64url-encoded.
func mac(key []byte, label, data string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write([]byte(data))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validMAC compares a presented MAC with the expected one in constant time.
func validMAC(key []byte, label, data, presented string) bool {
	return hmac.Equal([]byte(presented), []byte(mac(key, label, data)))
}

// randomValue returns 256 random bits, base64url-encoded (43 characters).
func randomValue() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics if the OS source breaks)
	return base64.RawURLEncoding.EncodeToString(b)
}

// formTokens protects the sign-in form against cross-site request forgery
// (login CSRF: a page elsewhere signing the browser in as someone else)
// without a server-side session: a signed double-submit. The browser gets a
// random form cookie; the form carries HMAC(key, cookie) in a hidden field.
// Another site can make the browser post the form but can read neither the
// cookie nor a page holding the token, and cannot compute the token without
// the key; a token copied from the attacker's own page is bound to the
// attacker's cookie, not the victim's.
type formTokens struct {
	key    []byte
	name   string
	secure bool
}

const formTokenLabel = "gatehouse sign-in form"

// formField is the sign-in form's hidden field.
const formField = "csrf"

func newFormTokens(key []byte, secure bool) formTokens {
	return formTokens{key: key, name: cookieName("gatehouse_form", secure), secure: secure}
}

// issue returns the token for the sign-in form, setting the form cookie first
// if the browser has none. It must be called before the response is written.
func (f formTokens) issue(w http.ResponseWriter, r *http.Request) string {
	v := f.cookie(r)
	if v == "" {
		v = randomValue()
		http.SetCookie(w, &http.Cookie{
			Name: f.name, Value: v, Path: "/",
			HttpOnly: true, Secure: f.secure, SameSite: http.SameSiteLaxMode,
		})
	}
	return mac(f.key, formTokenLabel, v)
}

// valid reports whether the posted form carries the token of the browser's
// form cookie.
func (f formTokens) valid(r *http.Request) bool {
	v := f.cookie(r)
	return v != "" && validMAC(f.key, formTokenLabel, v, r.PostFormValue(formField))
}

func (f formTokens) cookie(r *http.Request) string {
	c, err := r.Cookie(f.name)
	if err != nil || len(c.Value) != 43 {
		return ""
	}
	return c.Value
}

// notices carries a one-time notice to the next page in a signed cookie,
// for a browser without a server-side session. Signing keeps anyone who can
// plant a cookie (a sibling subdomain on http) from putting words in the
// app's mouth; the text is HTML-escaped when shown like any other.
type notices struct {
	key    []byte
	name   string
	secure bool
}

const noticeLabel = "gatehouse notice"

// maxNoticeBytes bounds the text a notice cookie carries; browsers keep
// cookies up to about 4 KB.
const maxNoticeBytes = 1024

func newNotices(key []byte, secure bool) notices {
	return notices{key: key, name: cookieName("gatehouse_notice", secure), secure: secure}
}

// set stores n for the next page; it lives a minute at most.
func (ns notices) set(w http.ResponseWriter, n *notice) {
	text := n.Text
	for len(text) > maxNoticeBytes {
		_, size := utf8.DecodeLastRuneInString(text)
		text = text[:len(text)-size]
	}
	payload := base64.RawURLEncoding.EncodeToString([]byte(n.Kind + "\n" + text))
	http.SetCookie(w, &http.Cookie{
		Name: ns.name, Value: payload + "." + mac(ns.key, noticeLabel, payload), Path: "/", MaxAge: 60,
		HttpOnly: true, Secure: ns.secure, SameSite: http.SameSiteLaxMode,
	})
}

// take returns the notice the browser carries, if its signature holds, and
// deletes the cookie either way.
func (ns notices) take(w http.ResponseWriter, r *http.Request) *notice {
	c, err := r.Cookie(ns.name)
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{
		Name: ns.name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: ns.secure, SameSite: http.SameSiteLaxMode,
	})
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok || !validMAC(ns.key, noticeLabel, payload, sig) {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	kind, text, ok := strings.Cut(string(raw), "\n")
	if !ok || (kind != "info" && kind != "error") || text == "" {
		return nil
	}
	return &notice{Kind: kind, Text: text}
}
