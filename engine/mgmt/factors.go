package mgmt

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/account"
	"github.com/gatehouse-id/gatehouse/engine/authn"
	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/authn/totp"
	"github.com/gatehouse-id/gatehouse/engine/clientip"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// factors is Okta's Factors API (/api/v1/users/{id}/factors): a user's phones, one
// factor per method ("sms", "call"), and their authenticator app
// ("token:software:totp", provider GOOGLE). Phones are enrolled with a code sent
// to them — through the phone authenticator, so that the number rules and send
// budgets of sign-in hold — or at once with activate=true, as Okta lets operators.
type factors struct {
	a     *API
	users *users
}

func (f *factors) routes() []route {
	return []route{
		{"GET /api/v1/users/{idOrLogin}/factors", f.list},
		{"POST /api/v1/users/{idOrLogin}/factors", f.enroll},
		{"GET /api/v1/users/{idOrLogin}/factors/catalog", f.catalog},
		{"GET /api/v1/users/{idOrLogin}/factors/{factorId}", f.get},
		{"DELETE /api/v1/users/{idOrLogin}/factors/{factorId}", f.remove},
		{"POST /api/v1/users/{idOrLogin}/factors/{factorId}/lifecycle/activate", f.activate},
		{"POST /api/v1/users/{idOrLogin}/factors/{factorId}/resend", f.resend},
	}
}

// Okta's factor types and statuses that Gatehouse's factors have.
const (
	factorSMS  = "sms"
	factorCall = "call"
	factorTOTP = "token:software:totp"

	factorActive  = "ACTIVE"
	factorPending = "PENDING_ACTIVATION"
	factorNotSet  = "NOT_SETUP"
)

// Activation attempts per factor: Okta allows five in five minutes.
var activationLimit = throttle.Limit{Max: 5, Window: 5 * time.Minute}

// factorJSON is Okta's Factor object.
type factorJSON struct {
	ID          string            `json:"id"`
	FactorType  string            `json:"factorType"`
	Provider    string            `json:"provider"`
	VendorName  string            `json:"vendorName"`
	Status      string            `json:"status"`
	Created     stamp             `json:"created"`
	LastUpdated stamp             `json:"lastUpdated"`
	Profile     map[string]string `json:"profile"`
	Links       map[string]any    `json:"_links"`
}

// linkJSON is a link of a factor, with the methods it takes.
type linkJSON struct {
	Name  string    `json:"name,omitempty"`
	Href  string    `json:"href"`
	Hints hintsJSON `json:"hints"`
}

type hintsJSON struct {
	Allow []string `json:"allow"`
}

func methodType(method string) string {
	if method == phone.Voice {
		return factorCall
	}
	return factorSMS
}

// factor is one of a user's factors, as the store keeps it: exactly one member set.
type factor struct {
	phone   *account.PhoneFactor
	pending *store.PendingPhone
	app     *store.Enrollment
}

// userFactors lists the user's factors: their phones' methods, the phones that
// wait for their code, their authenticator app.
func (f *factors) userFactors(ctx context.Context, userID string) ([]factor, error) {
	phones, err := f.a.o.Accounts.PhoneFactors(ctx, userID)
	if err != nil {
		return nil, err
	}
	pending, err := f.a.o.Accounts.PendingPhones(ctx, userID)
	if err != nil {
		return nil, err
	}
	apps, err := f.a.o.Store.ListEnrollments(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []factor
	for i := range phones {
		out = append(out, factor{phone: &phones[i]})
	}
	for i := range pending {
		out = append(out, factor{pending: &pending[i]})
	}
	for i := range apps {
		if apps[i].Authenticator == totp.AuthenticatorKey {
			out = append(out, factor{app: &apps[i]})
		}
	}
	return out, nil
}

func (x factor) id() string {
	switch {
	case x.phone != nil:
		return x.phone.ID()
	case x.pending != nil:
		return x.pending.ID
	}
	return x.app.ID
}

func (x factor) factorType() string {
	switch {
	case x.phone != nil:
		return methodType(x.phone.Method)
	case x.pending != nil:
		return methodType(x.pending.Method)
	}
	return factorTOTP
}

// find is the user's factor the path's {factorId} names, or account.ErrNoSuchFactor.
func (f *factors) find(ctx context.Context, userID, factorID string) (factor, error) {
	list, err := f.userFactors(ctx, userID)
	if err != nil {
		return factor{}, err
	}
	for _, x := range list {
		if x.id() == factorID {
			return x, nil
		}
	}
	return factor{}, account.ErrNoSuchFactor
}

// describe is the factor in Okta's shape.
func (f *factors) describe(user store.User, x factor) factorJSON {
	userURL := f.a.o.BaseURL + "/api/v1/users/" + url.PathEscape(user.ID)
	self := userURL + "/factors/" + url.PathEscape(x.id())
	fj := factorJSON{ID: x.id(), FactorType: x.factorType(), Provider: "OKTA", VendorName: "OKTA", Status: factorActive,
		Links: map[string]any{
			"self": linkJSON{Href: self, Hints: hintsJSON{Allow: []string{http.MethodGet, http.MethodDelete}}},
			"user": linkJSON{Href: userURL, Hints: hintsJSON{Allow: []string{http.MethodGet}}},
		}}
	switch {
	case x.phone != nil:
		fj.Created, fj.LastUpdated = stamp(x.phone.Phone.CreatedAt), stamp(x.phone.Phone.CreatedAt)
		fj.Profile = map[string]string{"phoneNumber": x.phone.Phone.Number}
	case x.pending != nil:
		fj.Status = factorPending
		fj.Created, fj.LastUpdated = stamp(x.pending.CreatedAt), stamp(x.pending.UpdatedAt)
		fj.Profile = map[string]string{"phoneNumber": x.pending.Number}
		fj.Links["activate"] = linkJSON{Href: self + "/lifecycle/activate", Hints: hintsJSON{Allow: []string{http.MethodPost}}}
		fj.Links["resend"] = []linkJSON{{Name: fj.FactorType, Href: self + "/resend", Hints: hintsJSON{Allow: []string{http.MethodPost}}}}
	default:
		fj.Provider, fj.VendorName = "GOOGLE", "GOOGLE"
		fj.Created, fj.LastUpdated = stamp(x.app.CreatedAt), stamp(x.app.CreatedAt)
		fj.Profile = map[string]string{"credentialId": user.Login}
	}
	return fj
}

// list is GET /api/v1/users/{idOrLogin}/factors.
func (f *factors) list(w http.ResponseWriter, r *http.Request, c *call) {
	user, ok := f.a.findUser(w, r)
	if !ok {
		return
	}
	list, err := f.userFactors(r.Context(), user.ID)
	if err != nil {
		f.a.internal(w, r, "listing factors", err)
		return
	}
	out := make([]factorJSON, 0, len(list))
	for _, x := range list {
		out = append(out, f.describe(user, x))
	}
	writeJSON(w, http.StatusOK, out)
}

// get is GET /api/v1/users/{idOrLogin}/factors/{factorId}.
func (f *factors) get(w http.ResponseWriter, r *http.Request, c *call) {
	user, ok := f.a.findUser(w, r)
	if !ok {
		return
	}
	x, err := f.find(r.Context(), user.ID, r.PathValue("factorId"))
	if !f.a.accountError(w, r, err, "reading a factor") {
		return
	}
	writeJSON(w, http.StatusOK, f.describe(user, x))
}

// supportedJSON is Okta's entry of the factor catalog.
type supportedJSON struct {
	FactorType string              `json:"factorType"`
	Provider   string              `json:"provider"`
	VendorName string              `json:"vendorName"`
	Enrollment string              `json:"enrollment"`
	Status     string              `json:"status"`
	Links      map[string]linkJSON `json:"_links,omitempty"`
}

// catalog is GET /api/v1/users/{idOrLogin}/factors/catalog: the factor types the
// deployment offers, whether the user has each, and where to enroll the ones the
// API enrolls.
func (f *factors) catalog(w http.ResponseWriter, r *http.Request, c *call) {
	user, ok := f.a.findUser(w, r)
	if !ok {
		return
	}
	list, err := f.userFactors(r.Context(), user.ID)
	if err != nil {
		f.a.internal(w, r, "listing factors", err)
		return
	}
	status := map[string]string{}
	for _, x := range list {
		if x.pending == nil {
			status[x.factorType()] = factorActive
		} else if status[x.factorType()] == "" {
			status[x.factorType()] = factorPending
		}
	}
	enroll := map[string]linkJSON{"enroll": {Href: f.a.o.BaseURL + "/api/v1/users/" + url.PathEscape(user.ID) + "/factors",
		Hints: hintsJSON{Allow: []string{http.MethodPost}}}}
	out := []supportedJSON{}
	add := func(typ, provider string, links map[string]linkJSON) {
		st := status[typ]
		if st == "" {
			st = factorNotSet
		}
		out = append(out, supportedJSON{FactorType: typ, Provider: provider, VendorName: provider, Enrollment: "OPTIONAL", Status: st, Links: links})
	}
	if f.a.o.Factors.SMS {
		add(factorSMS, "OKTA", enroll)
	}
	if f.a.o.Factors.Voice {
		add(factorCall, "OKTA", enroll)
	}
	if f.a.o.Factors.TOTP {
		add(factorTOTP, "GOOGLE", nil) // enrolled with gatehouse users add-totp or while signing in
	}
	writeJSON(w, http.StatusOK, out)
}

// factorBody is a factor as an enrollment (or a resend) carries it. The members
// Okta sets itself are accepted and ignored.
type factorBody struct {
	FactorType string             `json:"factorType"`
	Provider   string             `json:"provider"`
	Profile    *factorProfileBody `json:"profile"`

	ID          json.RawMessage `json:"id"`
	Status      json.RawMessage `json:"status"`
	Created     json.RawMessage `json:"created"`
	LastUpdated json.RawMessage `json:"lastUpdated"`
	VendorName  json.RawMessage `json:"vendorName"`
	Links       json.RawMessage `json:"_links"`
	Embedded    json.RawMessage `json:"_embedded"`
}

type factorProfileBody struct {
	PhoneNumber    string          `json:"phoneNumber"`
	PhoneExtension *string         `json:"phoneExtension"`
	CredentialID   json.RawMessage `json:"credentialId"`
}

// phoneMethod checks a factor body for a phone enrollment and returns its
// method (phone.SMS or phone.Voice); otherwise it answers 400 and returns "".
func (f *factors) phoneMethod(w http.ResponseWriter, b *factorBody) string {
	refuse := func(why string) string {
		errValidation.write(w, "factorEnrollRequest", why)
		return ""
	}
	var method string
	var offered bool
	switch b.FactorType {
	case factorSMS:
		method, offered = phone.SMS, f.a.o.Factors.SMS
	case factorCall:
		method, offered = phone.Voice, f.a.o.Factors.Voice
	case factorTOTP:
		return refuse("factorType: authenticator apps are enrolled with gatehouse users add-totp or while signing in, not through the API")
	case "":
		return refuse("factorType: The field cannot be left blank")
	default:
		return refuse("factorType: " + quoted(b.FactorType) + " is not served; sms and call are")
	}
	switch {
	case !offered:
		return refuse("factorType: this deployment does not send codes by " + b.FactorType)
	case b.Provider != "" && b.Provider != "OKTA":
		return refuse("provider: the provider of " + b.FactorType + " factors is OKTA")
	case b.Profile == nil || b.Profile.PhoneNumber == "":
		return refuse("phoneNumber: The field cannot be left blank")
	case b.Profile.PhoneExtension != nil && *b.Profile.PhoneExtension != "":
		return refuse("phoneExtension: phone extensions are not served")
	}
	return method
}

// enroll is POST /api/v1/users/{idOrLogin}/factors: an sms or call factor for a
// number. With activate=true it is active at once; otherwise a code is sent to the
// number and the factor waits for it (lifecycle/activate).
func (f *factors) enroll(w http.ResponseWriter, r *http.Request, c *call) {
	user, ok := f.a.findUser(w, r)
	if !ok {
		return
	}
	activate, ok := boolParam(w, r.URL.Query(), "activate", false)
	if !ok {
		return
	}
	var body factorBody
	if !decodeBody(w, r, &body) {
		return
	}
	method := f.phoneMethod(w, &body)
	if method == "" {
		return
	}
	ctx := r.Context()
	if activate {
		p, err := f.a.o.Accounts.AddPhoneMethod(ctx, user.ID, body.Profile.PhoneNumber, method)
		if !f.a.accountError(w, r, err, "enrolling a phone") {
			return
		}
		f.a.o.Log.InfoContext(ctx, "management API: factor enrolled", "user_id", user.ID, "factor", methodType(method),
			"enrollment_id", p.ID, "api_token", c.token.ID)
		writeJSON(w, http.StatusOK, f.describe(user, factor{phone: &account.PhoneFactor{Phone: p, Method: method}}))
		return
	}
	f.sendCode(w, r, c, user, body.Profile.PhoneNumber, method)
}

// sendCode starts, or starts again, the enrollment of number for method with a
// code, and answers with the pending factor.
func (f *factors) sendCode(w http.ResponseWriter, r *http.Request, c *call, user store.User, number, method string) {
	if f.a.o.Phones == nil {
		errValidation.write(w, "factorEnrollRequest", "codes cannot be sent from here: enroll with activate=true")
		return
	}
	ctx := r.Context()
	ip := clientip.Key(clientip.From(ctx))
	send := func(ctx context.Context, factorID, number, method string, verified bool) (string, error) {
		ch, err := f.a.o.Phones.SendEnrollmentCode(ctx, user.ID, factorID, ip, number, method, verified)
		return ch.ID, err
	}
	p, err := f.a.o.Accounts.BeginPhoneEnrollment(ctx, user.ID, number, method, send)
	if !f.codeProblem(w, r, err, method) {
		return
	}
	f.a.o.Log.InfoContext(ctx, "management API: enrollment code queued", "user_id", user.ID, "factor", methodType(method),
		"factor_id", p.ID, "api_token", c.token.ID)
	writeJSON(w, http.StatusOK, f.describe(user, factor{pending: &p}))
}

// codeProblem answers a refusal to send a code as Okta answers one — 429 for a
// spent budget (E0000109 for SMS too soon after the last, else E0000047, with
// the budget's rate-limit headers), 400 for a refused number — and anything else
// as accountError does. It returns true when err is nil.
func (f *factors) codeProblem(w http.ResponseWriter, r *http.Request, err error, method string) bool {
	var p *authn.Problem
	if !errors.As(err, &p) {
		return f.a.accountError(w, r, err, "sending an enrollment code")
	}
	if p.Status == http.StatusTooManyRequests {
		if d := p.Limit; d != nil {
			now := f.a.o.Now()
			d.WriteHeaders(w.Header(), now)
			w.Header().Set("Date", now.UTC().Format(http.TimeFormat))
			if d.Refused.Kind() == throttle.KindSendInterval && method == phone.SMS {
				errSMSRecent.write(w, "")
				return false
			}
		}
		errTooMany.write(w, "", p.Message.Text)
		return false
	}
	errValidation.write(w, "factorEnrollRequest", "phoneNumber: "+p.Message.Text)
	return false
}

// phoneProblem says what is wrong with a number the rules refuse.
func phoneProblem(e *account.PhoneNumberError) string {
	switch {
	case errors.Is(e.Err, phone.ErrRefusedNumber):
		return "Codes cannot be sent to premium-rate, shared-cost, toll-free, voicemail, pager, personal or satellite numbers."
	case errors.Is(e.Err, phone.ErrRegionNotAllowed):
		return "Codes cannot be sent to numbers of this country."
	}
	return "Invalid Phone Number."
}

// activateBody is the body of lifecycle/activate for a factor with a code.
type activateBody struct {
	PassCode string `json:"passCode"`
}

// activate is POST /api/v1/users/{idOrLogin}/factors/{factorId}/lifecycle/activate:
// the code sent to a pending phone makes it active. At most five tries per factor
// in five minutes, as Okta's.
func (f *factors) activate(w http.ResponseWriter, r *http.Request, c *call) {
	user, ok := f.a.findUser(w, r)
	if !ok {
		return
	}
	var body activateBody
	if !decodeBody(w, r, &body) {
		return
	}
	if body.PassCode == "" {
		errValidation.write(w, "passCode", "passCode: The field cannot be left blank")
		return
	}
	ctx, fid := r.Context(), r.PathValue("factorId")
	x, err := f.find(ctx, user.ID, fid)
	if !f.a.accountError(w, r, err, "reading a factor") {
		return
	}
	if x.pending == nil {
		errValidation.write(w, "factor", "the factor is active already")
		return
	}
	if f.a.o.Phones == nil {
		errValidation.write(w, "factor", "codes cannot be checked here")
		return
	}
	d, err := f.a.o.Limiter.Reserve(ctx, throttle.Request{Key: throttle.Requests("factor-activation", user.ID+"/"+fid), Limit: activationLimit})
	if err != nil {
		f.a.internal(w, r, "counting an activation attempt", err)
		return
	}
	if !d.Allowed {
		tooMany(w, d, f.a.o.Now())
		return
	}
	e, err := f.a.o.Accounts.ActivatePendingPhone(ctx, user.ID, fid, body.PassCode, f.a.o.Phones.CheckEnrollmentCode)
	switch {
	case errors.Is(err, authn.ErrWrongCode):
		errPasscode.write(w, "", "Your passcode doesn't match our records. Please try again.")
		return
	case errors.Is(err, authn.ErrCodeGone), errors.Is(err, authn.ErrCodeUsed):
		errPasscode.write(w, "", "The code has expired or was replaced by a newer one. Send a new one (resend).")
		return
	case !f.a.accountError(w, r, err, "activating a factor"):
		return
	}
	if err := f.a.o.Limiter.Reset(ctx, throttle.Requests("factor-activation", user.ID+"/"+fid)); err != nil {
		f.a.o.Log.WarnContext(ctx, "management API: forgetting activation attempts", "err", err)
	}
	f.a.o.Log.InfoContext(ctx, "management API: factor activated", "user_id", user.ID, "factor", methodType(x.pending.Method),
		"enrollment_id", e.ID, "api_token", c.token.ID)
	writeJSON(w, http.StatusOK, f.describe(user, factor{phone: &account.PhoneFactor{Phone: e, Method: x.pending.Method}}))
}

// resend is POST /api/v1/users/{idOrLogin}/factors/{factorId}/resend: a new code
// to a pending phone's number; the one before stops working.
func (f *factors) resend(w http.ResponseWriter, r *http.Request, c *call) {
	user, ok := f.a.findUser(w, r)
	if !ok {
		return
	}
	var body factorBody
	if !decodeBody(w, r, &body) {
		return
	}
	x, err := f.find(r.Context(), user.ID, r.PathValue("factorId"))
	if !f.a.accountError(w, r, err, "reading a factor") {
		return
	}
	switch {
	case x.pending == nil:
		errValidation.write(w, "factor", "only a factor waiting for its code (PENDING_ACTIVATION) takes a new one")
		return
	case body.FactorType != "" && body.FactorType != x.factorType():
		errValidation.write(w, "factorType", "factorType: the factor is "+x.factorType())
		return
	}
	f.sendCode(w, r, c, user, x.pending.Number, x.pending.Method)
}

// remove is DELETE /api/v1/users/{idOrLogin}/factors/{factorId}: the factor goes
// (a phone's method; the phone with its last one), and the user is signed out
// everywhere unless it was still pending.
func (f *factors) remove(w http.ResponseWriter, r *http.Request, c *call) {
	user, ok := f.a.findUser(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	x, err := f.find(ctx, user.ID, r.PathValue("factorId"))
	if !f.a.accountError(w, r, err, "reading a factor") {
		return
	}
	var revoked int64
	switch {
	case x.phone != nil:
		_, revoked, err = f.a.o.Accounts.RemovePhoneFactor(ctx, user.ID, x.id())
	case x.pending != nil:
		_, err = f.a.o.Accounts.RemovePendingPhone(ctx, user.ID, x.id())
	default:
		_, revoked, err = f.a.o.Accounts.RemoveTOTP(ctx, user.ID)
		if errors.Is(err, account.ErrNoTOTP) {
			err = account.ErrNoSuchFactor
		}
	}
	if !f.a.accountError(w, r, err, "removing a factor") {
		return
	}
	f.a.o.Log.InfoContext(ctx, "management API: factor reset", "user_id", user.ID, "factor", x.factorType(),
		"factor_id", x.id(), "refresh_tokens_revoked", revoked, "api_token", c.token.ID)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
