package app

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/idx"
)

// signedIn finishes a sign-in: the session gets a new id and keeps only the
// tokens, then the browser goes to the profile page.
func (s *server) signedIn(w http.ResponseWriter, r *http.Request, v *visit, tokens *idx.Tokens) {
	username := v.sess.Username
	s.rotate(w, r, v)
	v.sess = &Session{Username: username, Tokens: tokens, SignedInAt: s.now()}
	s.redirectWith(w, r, v, "/", nil)
}

// home is page 5: the user's profile from userinfo, and sign-out.
func (s *server) home(w http.ResponseWriter, r *http.Request) {
	v := s.load(r)
	if !v.sess.signedIn() {
		http.Redirect(w, r, pathSignIn, http.StatusSeeOther)
		return
	}
	ctx := r.Context()
	claims, err := s.client.UserInfo(ctx, v.sess.Tokens.AccessToken)
	if isOAuthCode(err, "invalid_token") && v.sess.Tokens.RefreshToken != "" {
		// The access token expired (or was revoked): the refresh token may
		// still get a new one.
		fresh, rerr := s.client.Refresh(ctx, v.sess.Tokens.RefreshToken)
		if rerr == nil {
			if fresh.IDTokenClaims == nil {
				fresh.IDToken, fresh.IDTokenClaims = v.sess.Tokens.IDToken, v.sess.Tokens.IDTokenClaims
			}
			v.sess.Tokens = fresh
			if !s.save(w, r, v) {
				return
			}
			claims, err = s.client.UserInfo(ctx, fresh.AccessToken)
		} else {
			err = rerr
		}
	}
	if errors.Is(err, idx.ErrOAuth) {
		s.rotate(w, r, v)
		v.sess = &Session{}
		s.redirectWith(w, r, v, pathSignIn, &notice{Kind: "error", Text: "Your session has ended. Please sign in again."})
		return
	}
	if err != nil {
		s.log.Error("reading the profile", "err", err)
		s.renderMessage(w, http.StatusBadGateway, "We can't show your profile right now",
			"The identity service didn't answer as expected. Reload the page in a moment.")
		return
	}
	t := v.sess.Tokens
	p := &profile{
		Name:            displayName(claims),
		Email:           claimString(claims, "email"),
		Subject:         claimString(claims, "sub"),
		VerifiedWith:    verifiedWith(t.IDTokenClaims),
		SignedInAt:      v.sess.SignedInAt.UTC(),
		ExpiresAt:       t.ExpiresAt.UTC(),
		HasRefreshToken: t.RefreshToken != "",
	}
	for _, r := range p.Name {
		p.Initial = strings.ToUpper(string(r))
		break
	}
	if !t.ExpiresAt.IsZero() {
		// The token's expiry is on the SDK's (real) clock.
		p.ExpiresIn = humanDuration(time.Until(t.ExpiresAt))
	}
	page := &view{Title: "Your profile", Profile: p, Username: v.sess.Username, Notice: v.takeNotice()}
	if page.Notice != nil && !s.save(w, r, v) {
		return
	}
	s.render(w, http.StatusOK, "home", page)
}

// signOut revokes the tokens at the server, then ends the session.
func (s *server) signOut(w http.ResponseWriter, r *http.Request) {
	v := s.load(r)
	if t := v.sess.Tokens; t != nil {
		// Revoking the refresh token first also ends its family; the access
		// token is revoked too so it stops working before it expires.
		if t.RefreshToken != "" {
			if err := s.client.Revoke(r.Context(), t.RefreshToken, "refresh_token"); err != nil {
				s.log.Warn("revoking the refresh token", "err", err)
			}
		}
		if err := s.client.Revoke(r.Context(), t.AccessToken, "access_token"); err != nil {
			s.log.Warn("revoking the access token", "err", err)
		}
	}
	s.rotate(w, r, v)
	v.sess = &Session{}
	s.redirectWith(w, r, v, pathSignIn, &notice{Kind: "info", Text: "You have signed out."})
}

func claimString(claims map[string]any, name string) string {
	s, _ := claims[name].(string)
	return s
}

func displayName(claims map[string]any) string {
	if n := claimString(claims, "name"); n != "" {
		return n
	}
	if n := strings.TrimSpace(claimString(claims, "given_name") + " " + claimString(claims, "family_name")); n != "" {
		return n
	}
	return claimString(claims, "preferred_username")
}

// verifiedWith describes the ID token's amr claim (RFC 8176) in words.
func verifiedWith(idClaims map[string]any) string {
	raw, _ := idClaims["amr"].([]any)
	var amr []string
	for _, a := range raw {
		amr = append(amr, fmt.Sprint(a))
	}
	var parts []string
	if slices.Contains(amr, "pwd") {
		parts = append(parts, "password")
	}
	switch {
	case slices.Contains(amr, "sms"):
		parts = append(parts, "text message")
	case slices.Contains(amr, "tel"):
		parts = append(parts, "voice call")
	case slices.Contains(amr, "otp"):
		parts = append(parts, "authenticator app")
	}
	if len(parts) == 0 {
		return ""
	}
	s := strings.Join(parts, " and ")
	return strings.ToUpper(s[:1]) + s[1:]
}
