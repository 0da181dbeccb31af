package app

import (
	"errors"
	"net/http"

	"github.com/gatehouse-id/gatehouse/idx"
)

// hostedSignIn starts a sign-in on the identity server's own pages (the OpenID
// Connect authorization code flow): the browser goes there and comes back to the
// redirect URI, /login/callback, with a code. The pending sign-in (state, nonce,
// PKCE verifier) stays in the server-side session.
func (s *server) hostedSignIn(w http.ResponseWriter, r *http.Request) {
	v := s.load(r)
	if v.sess.signedIn() {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if !s.forms.valid(r) {
		page := &view{Title: "Sign in", Step: 1, CSRF: s.forms.issue(w, r)}
		page.Errors = newFormErrors()
		page.Errors.addGlobal("This sign-in page had expired, so nothing was sent. Try again.")
		s.render(w, http.StatusForbidden, "signin", page)
		return
	}
	if v.id == "" {
		release, wait, ok := s.admit(r)
		if !ok {
			s.tooManySignIns(w, wait)
			return
		}
		defer release()
	}
	target, rd, err := s.client.AuthorizeURL(r.Context(), v.sess.Username)
	if err != nil {
		s.unavailable(w, err)
		return
	}
	v.sess.clearTransaction()
	v.sess.Redirect = rd
	if !s.save(w, r, v) {
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// callback is the redirect URI: it finishes a hosted sign-in. Anything else that
// arrives here (a stale bookmark, a forged link) goes back to the sign-in page.
func (s *server) callback(w http.ResponseWriter, r *http.Request) {
	v := s.load(r)
	rd := v.sess.Redirect
	if rd == nil {
		to := pathSignIn
		if v.sess.signedIn() {
			to = "/"
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	v.sess.Redirect = nil // one callback per redirect, whatever its outcome
	tokens, err := s.client.ExchangeCode(r.Context(), rd, r.URL.Query())
	if err == nil {
		s.signedIn(w, r, v, tokens)
		return
	}
	var oe *idx.OAuthError
	var n *notice
	switch {
	case errors.As(err, &oe) && oe.Code == "access_denied":
		n = &notice{Kind: "info", Text: "The sign-in was cancelled."}
	case errors.As(err, &oe) && oe.Status == 0:
		s.log.Warn("hosted sign-in refused", "error", oe.Code)
		n = &notice{Kind: "error", Text: "The identity server did not sign you in: " + oe.Description}
	default:
		s.log.Error("hosted sign-in callback", "err", err)
		n = &notice{Kind: "error", Text: "We couldn't finish signing you in. Please try again."}
	}
	s.redirectWith(w, r, v, pathSignIn, n)
}
