package sso

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"

	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/messaging"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/sessions"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// handleLogout is OIDC RP-Initiated Logout 1.0: it ends the browser's SSO session
// (the cookie's, and the one the id_token_hint names), revokes every token issued in
// it, and sends the browser to a registered post_logout_redirect_uri with state.
//
// A logout that carries no id_token_hint could have been planted by any site (a
// link or an image that signs the user out), so while the browser has a live
// session it asks the user to confirm with a button; the POST carries a value
// derived from the session cookie, which another site cannot know.
func (h *Handler) handleLogout(w http.ResponseWriter, r *http.Request) {
	params, perr := readParams(w, r)
	if perr != "" {
		h.errorPage(w, http.StatusBadRequest, "Sign-out request refused", perr)
		return
	}
	ctx := r.Context()
	target, clientID, state := params.Get("post_logout_redirect_uri"), params.Get("client_id"), params.Get("state")
	var hintSession string
	hinted := false
	if raw := params.Get("id_token_hint"); raw != "" {
		hint, err := h.o.OAuth.IDTokenHint(ctx, raw)
		if err != nil || (clientID != "" && clientID != hint.Audience) {
			h.errorPage(w, http.StatusBadRequest, "Sign-out request refused", "The id_token_hint is not a token this server issued.")
			return
		}
		clientID, hintSession, hinted = hint.Audience, hint.SessionID, true
	}
	if target != "" {
		c, err := h.o.Clients.Lookup(ctx, clientID)
		if err != nil || !c.PostLogoutRedirectAllowed(target) {
			h.errorPage(w, http.StatusBadRequest, "Sign-out request refused", "The post_logout_redirect_uri is not registered for this client.")
			return
		}
	}

	cookieSession, live, err := h.o.Sessions.Current(r)
	if err != nil {
		h.o.Log.ErrorContext(ctx, "logout: reading the session", "err", err)
		h.errorPage(w, http.StatusServiceUnavailable, "Please try again", "The server could not sign you out just now. Try again in a moment.")
		return
	}
	if !hinted && live && !h.confirmed(r, params) {
		fields := map[string]string{"confirm": confirmValue(r)}
		for _, k := range []string{"client_id", "post_logout_redirect_uri", "state"} {
			if v := params.Get(k); v != "" {
				fields[k] = v
			}
		}
		h.page(w, http.StatusOK, "Sign out?", "Do you want to sign out of "+h.o.Product+"? You will be signed out of every application you signed in to with it in this browser.",
			&pageForm{Action: r.URL.Path, Fields: fields, Button: "Sign out"})
		return
	}

	ended := map[string]bool{}
	for _, id := range []string{cookieSession.ID, hintSession} {
		if id == "" || ended[id] {
			continue
		}
		ended[id] = true
		if err := h.endSession(ctx, id); err != nil {
			h.o.Log.ErrorContext(ctx, "logout: ending the session", "err", err)
			h.errorPage(w, http.StatusServiceUnavailable, "Please try again", "The server could not sign you out just now. Try again in a moment.")
			return
		}
	}
	h.o.Sessions.ClearCookie(w)
	w.Header().Set("Cache-Control", "no-store")
	if target == "" {
		h.page(w, http.StatusOK, "Signed out", "You have been signed out. You can close this window.", nil)
		return
	}
	u, _ := url.Parse(target) // validated when the client was registered
	if state != "" {
		q := u.Query()
		q.Set("state", state)
		u.RawQuery = q.Encode()
	}
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// endSession ends the session and revokes what was issued in it.
func (h *Handler) endSession(ctx context.Context, id string) error {
	sess, err := h.o.Sessions.End(ctx, id)
	if err != nil {
		return err
	}
	if sess.ID == "" {
		return nil // unknown or collected: nothing was issued that still lives
	}
	revoked := eventlog.Event{Type: eventlog.TypeTokenRevoke, Result: store.OutcomeSuccess, Reason: "the session ended (logout)",
		Actor: eventlog.UserRef(sess.UserID, ""), Targets: []store.LogTarget{{ID: id, Type: "Session", DisplayName: "SSO session"}}}
	if err := h.o.Revoke(eventlog.Attach(ctx, revoked), id, h.o.Now()); err != nil {
		return err
	}
	h.o.Log.InfoContext(ctx, "session ended", "session", id, "user_id", sess.UserID)
	h.notifyClients(ctx, sess)
	return nil
}

// notifyClients queues an OIDC Back-Channel Logout notice for every client of the
// session that registered a backchannel_logout_uri. The outbox delivers it, with
// retries, from whichever node is up; a failure to queue is logged, not fatal: the
// session has ended and its tokens are revoked whatever the clients hear.
func (h *Handler) notifyClients(ctx context.Context, sess store.Session) {
	queued := false
	for _, id := range sess.ClientIDs {
		c, err := h.o.Clients.Lookup(ctx, id)
		if err != nil || c.BackchannelLogoutURI == "" {
			continue
		}
		token, err := h.o.OAuth.LogoutToken(c.ID, sess.UserID, sess.ID)
		if err != nil {
			h.o.Log.ErrorContext(ctx, "logout: signing a logout token", "client_id", c.ID, "err", err)
			continue
		}
		now := h.o.Now()
		m := store.Message{ID: opaque.ID("bcl"), UserID: sess.UserID, To: c.BackchannelLogoutURI, Channel: messaging.ChannelBackchannelLogout,
			Body: token, Status: store.MessagePending, NextAttemptAt: now, CreatedAt: now}
		if err := h.o.Store.QueueMessage(ctx, m); err != nil {
			h.o.Log.ErrorContext(ctx, "logout: queueing a back-channel notice", "client_id", c.ID, "err", err)
			continue
		}
		h.o.Log.InfoContext(ctx, "back-channel logout queued", "client_id", c.ID, "session", sess.ID, "message_id", m.ID)
		queued = true
	}
	if queued && h.o.Outbox != nil {
		h.o.Outbox.Wake()
	}
}

// handleDeleteSession is Okta's DELETE /api/v1/sessions/me, which okta-auth-js
// calls on signOut without an ID token: it ends the cookie's session.
func (h *Handler) handleDeleteSession(w http.ResponseWriter, r *http.Request) {
	sess, _, err := h.o.Sessions.Current(r)
	if err == nil && sess.ID != "" {
		err = h.endSession(r.Context(), sess.ID)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.o.Log.ErrorContext(r.Context(), "sessions/me: ending the session", "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	h.o.Sessions.ClearCookie(w)
	w.WriteHeader(http.StatusNoContent)
}

// confirmValue is what the confirmation form posts back: derived from the session
// cookie, so only a page that could read the cookie's value — none but ours — has it.
func confirmValue(r *http.Request) string {
	c, err := r.Cookie(sessions.CookieName)
	if err != nil {
		return ""
	}
	return opaque.Derive(c.Value, "logout-confirm")
}

func (h *Handler) confirmed(r *http.Request, params url.Values) bool {
	want := confirmValue(r)
	return r.Method == http.MethodPost && want != "" && subtle.ConstantTimeCompare([]byte(params.Get("confirm")), []byte(want)) == 1
}
