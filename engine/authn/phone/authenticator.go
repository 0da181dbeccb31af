package phone

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/authn"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/metrics"
	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/throttle"
)

// Limits bound the codes sent to phones (docs/security.md explains each).
type Limits struct {
	SendsPerTransaction, NumbersPerTransaction       int
	SendsPerUserPerDay, UnverifiedSendsPerUserPerDay int
	SendsPerIPPerHour, UnverifiedSendsPerIPPerHour   int
	// SendsPerHour is the circuit breaker: past it only verified numbers get codes.
	SendsPerHour int
	// MaxSends per SendWindow and one per SendInterval, for each number.
	MaxSends     int
	SendWindow   time.Duration
	SendInterval time.Duration
	// Regions are the countries codes may go to.
	Regions Rules
}

// Options configure the phone authenticator.
type Options struct {
	Store   store.Store
	Limiter *throttle.Limiter
	Limits  Limits
	// SMS and Voice are the delivery methods the deployment offers.
	SMS, Voice bool
	// OTPKey is the HMAC key codes are stored under.
	OTPKey        []byte
	ProductName   string
	DefaultRegion string
	// CodeTTL is how long a code works; TransactionTTL how long a sign-in lives
	// (the per-sign-in budgets' window).
	CodeTTL, TransactionTTL time.Duration
	// Enroll stores a phone the user proved with a code — the account package's
	// AddPhone: users' factors change only there. A number the user has already
	// is not an error.
	Enroll func(ctx context.Context, userID, number string, sms, voice bool) error
	// Outbox is told when a message was queued.
	Outbox  interface{ Wake() }
	Metrics *metrics.Metrics
	Log     *slog.Logger
	Now     func() time.Time
}

// Authenticator is the phone as the sign-in flow drives it (authn.Authenticator):
// enrollments are verified numbers, a challenge is a six-digit code sent by SMS or
// read out in a call, and every code sent first fits every send budget — the
// defence against SMS pumping and against using the engine to flood someone's
// phone (docs/security.md).
type Authenticator struct {
	o     Options
	masks maskCache
}

var _ authn.Authenticator = (*Authenticator)(nil)

// NewAuthenticator returns the phone authenticator.
func NewAuthenticator(o Options) *Authenticator {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Authenticator{o: o}
}

func (a *Authenticator) Key() string         { return authn.KeyPhone }
func (a *Authenticator) Type() string        { return "phone" }
func (a *Authenticator) DisplayName() string { return "Phone" }
func (a *Authenticator) Sends() bool         { return true }

func (a *Authenticator) MethodLabel(m string) string {
	if m == Voice {
		return "Voice call"
	}
	return "SMS"
}

// methods lists how a code can reach a phone that accepts sms and voice, in the
// order they are offered: SMS first.
func (a *Authenticator) methods(sms, voice bool) []string {
	var m []string
	if a.o.SMS && sms {
		m = append(m, SMS)
	}
	if a.o.Voice && voice {
		m = append(m, Voice)
	}
	return m
}

func (a *Authenticator) EnrollMethods() []string { return a.methods(true, true) }

func (a *Authenticator) AMR(method string) string {
	if method == Voice {
		return "tel"
	}
	return "sms"
}

// Enrollments lists the user's phones that can receive a code by a method the
// deployment offers.
func (a *Authenticator) Enrollments(acct store.Account) []authn.Enrollment {
	out := make([]authn.Enrollment, 0, len(acct.Phones))
	for _, p := range acct.Phones {
		if m := a.methods(p.SMS, p.Voice); len(m) > 0 {
			out = append(out, authn.Enrollment{ID: p.ID, Methods: m, Target: p.Number,
				Profile: map[string]string{"phoneNumber": a.masks.mask(p.Number)}})
		}
	}
	return out
}

// Challenge sends a code to the enrollment's number. A request without a user (a
// recovery for a login that names none) spends the same budgets, keyed by the
// login, and sends nothing, so that its answers are a known user's answers.
func (a *Authenticator) Challenge(ctx context.Context, req authn.Request, e authn.Enrollment, method string) (authn.Challenge, error) {
	if !slices.Contains(e.Methods, method) {
		return authn.Challenge{}, authn.Refuse(http.StatusBadRequest, msgMethodUnavailable)
	}
	if req.UserID == "" {
		return a.decoy(ctx, req, method)
	}
	if e.Target == "" { // not one Enrollments listed
		return authn.Challenge{}, authn.Refuse(http.StatusBadRequest, msgUnknownPhone)
	}
	return a.send(ctx, req, e.Target, method, true)
}

// Verify checks a code and uses it up.
func (a *Authenticator) Verify(ctx context.Context, req authn.Request, _ authn.Enrollment, c authn.Challenge, passcode string) error {
	return a.check(ctx, req, c, passcode)
}

func (a *Authenticator) check(ctx context.Context, req authn.Request, c authn.Challenge, passcode string) error {
	code := NormalizeCode(passcode)
	if c.ID == "" {
		return authn.ErrWrongCode // a decoy: no code exists
	}
	now := a.o.Now()
	_, err := a.o.Store.UpdateChallenge(ctx, c.ID, func(ch store.Challenge) (store.Challenge, error) {
		switch {
		case ch.TransactionID != req.TransactionID || ch.Invalidated || !ch.ConsumedAt.IsZero():
			return ch, authn.ErrCodeGone
		case !now.Before(ch.ExpiresAt):
			return ch, authn.ErrCodeGone
		case len(code) > 32 || !CheckCode(a.o.OTPKey, ch.ID, code, ch.CodeMAC):
			return ch, authn.ErrWrongCode
		}
		ch.ConsumedAt = now
		return ch, nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return authn.ErrCodeGone
	}
	return err
}

// EnrollData asks for the number.
func (a *Authenticator) EnrollData() []authn.DataField {
	return []authn.DataField{{Name: "phoneNumber", Label: "Phone number"}}
}

// BeginEnroll checks the number and sends it a code; the phone is stored only once
// its code comes back.
func (a *Authenticator) BeginEnroll(ctx context.Context, req authn.Request, method string, data map[string]string) (authn.Challenge, error) {
	input := data["phoneNumber"]
	if input == "" {
		return authn.Challenge{}, authn.OnField("phoneNumber", msgFieldBlank)
	}
	if !slices.Contains(a.EnrollMethods(), method) {
		return authn.Challenge{}, authn.Refuse(http.StatusBadRequest, msgMethodUnavailable)
	}
	number, err := ParseNumber(input, a.o.DefaultRegion)
	if errors.Is(err, ErrRefusedNumber) {
		a.o.Metrics.SendRefused(RefusedNumberType)
		a.recordRefusal(ctx, req, method, input, "the kind of number is refused")
		return authn.Challenge{}, authn.Refuse(http.StatusBadRequest, msgRefusedPhone)
	}
	if err == nil && a.o.Limits.Regions.Check(number) != nil {
		a.o.Metrics.SendRefused(RefusedRegion)
		a.recordRefusal(ctx, req, method, number, "the number's country is refused")
		return authn.Challenge{}, authn.Refuse(http.StatusBadRequest, msgRegionRefused)
	}
	if err != nil {
		return authn.Challenge{}, authn.Refuse(http.StatusBadRequest, msgInvalidPhone)
	}
	// A number the user has already verified is their own, not an enrollment.
	phones, err := a.o.Store.ListPhoneEnrollments(ctx, req.UserID)
	if err != nil {
		return authn.Challenge{}, err
	}
	verified := slices.ContainsFunc(phones, func(p store.PhoneEnrollment) bool { return p.Number == number })
	c, err := a.send(ctx, req, number, method, verified)
	if err != nil {
		return c, err
	}
	c.Data = map[string]string{"phoneNumber": number}
	return c, nil
}

func (a *Authenticator) ContextualData(authn.Request, authn.Challenge) map[string]any { return nil }

// FinishEnroll checks the code and stores the phone with the methods the policy
// allows now: it was proven by one of them.
func (a *Authenticator) FinishEnroll(ctx context.Context, req authn.Request, method string, c authn.Challenge, passcode string) (authn.Enrollment, error) {
	if err := a.check(ctx, req, c, passcode); err != nil {
		return authn.Enrollment{}, err
	}
	if err := a.o.Enroll(ctx, req.UserID, c.Data["phoneNumber"], a.o.SMS, a.o.Voice); err != nil {
		return authn.Enrollment{}, err
	}
	return authn.Enrollment{Methods: a.methods(a.o.SMS, a.o.Voice)}, nil
}

// ---- enrollment by an operator ----

// SendEnrollmentCode sends a code by method to number for a phone an operator
// enrolls for the user outside any sign-in (the management API's factor
// enrollment). It is BeginEnroll without a sign-in: the same checks of the number
// (its type, its country) and the same send budgets, with enrollmentID — the
// factor being enrolled — in place of the sign-in and ip, the operator's client
// address, counted as an unknown source. verified says whether number is one of
// the user's phones already (enrolled for another method). Refusals are
// *authn.Problem, as BeginEnroll's.
func (a *Authenticator) SendEnrollmentCode(ctx context.Context, userID, enrollmentID, ip, number, method string, verified bool) (authn.Challenge, error) {
	if !slices.Contains(a.EnrollMethods(), method) {
		return authn.Challenge{}, authn.Refuse(http.StatusBadRequest, msgMethodUnavailable)
	}
	parsed, err := ParseNumber(number, a.o.DefaultRegion)
	switch {
	case errors.Is(err, ErrRefusedNumber):
		a.o.Metrics.SendRefused(RefusedNumberType)
		return authn.Challenge{}, authn.Refuse(http.StatusBadRequest, msgRefusedPhone)
	case err != nil:
		return authn.Challenge{}, authn.Refuse(http.StatusBadRequest, msgInvalidPhone)
	}
	req := authn.Request{TransactionID: enrollmentID, UserID: userID, IP: ip}
	return a.send(ctx, req, parsed, method, verified)
}

// CheckEnrollmentCode checks, and uses up, the code of challengeID that
// SendEnrollmentCode sent for enrollmentID: authn.ErrWrongCode, or
// authn.ErrCodeGone for a code used, replaced, expired or of another enrollment.
func (a *Authenticator) CheckEnrollmentCode(ctx context.Context, enrollmentID, challengeID, passcode string) error {
	return a.check(ctx, authn.Request{TransactionID: enrollmentID}, authn.Challenge{ID: challengeID}, passcode)
}

// ---- sending ----

// send makes a code for number and queues its message, unless the number's country
// is refused or a send budget has no room. verified says whether number is one of
// the user's own verified phones (a sign-in) or a number being enrolled. Every
// budget is reserved in one store call before the code is made, so parallel
// requests cannot exceed any of them, and a refusal counts nothing. Sends to a
// user's verified number are counted on keys only that user's sign-ins touch (see
// docs/security.md, "isolation").
func (a *Authenticator) send(ctx context.Context, req authn.Request, number, method string, verified bool) (authn.Challenge, error) {
	if err := a.o.Limits.Regions.Check(number); err != nil {
		a.recordRefusal(ctx, req, method, number, "the number's country is refused")
		return authn.Challenge{}, a.refuse(ctx, req, method, RefusedRegion, throttle.Decision{}, msgRegionRefused)
	}
	reqs, err := a.budgets(ctx, req, number, verified)
	if err != nil {
		return authn.Challenge{}, err
	}
	if p := a.reserve(ctx, req, method, reqs); p != nil {
		return authn.Challenge{}, p
	}
	code, err := NewCode()
	if err != nil {
		return authn.Challenge{}, err
	}
	now := a.o.Now()
	id := opaque.New(16)
	body := MessageText(code, a.o.ProductName, a.o.CodeTTL)
	if method == Voice {
		body = VoiceText(code, a.o.ProductName)
	}
	ch := store.Challenge{
		ID: id, TransactionID: req.TransactionID, UserID: req.UserID, Phone: number, Method: method,
		CodeMAC: CodeMAC(a.o.OTPKey, id, code), CreatedAt: now, ExpiresAt: now.Add(a.o.CodeTTL),
	}
	// The message names the sign-in and the user, so that the worker's delivery log
	// lines can say whose code went out (or failed to) without a lookup.
	msg := &store.Message{
		ID: opaque.ID("msg"), ChallengeID: id, TransactionID: req.TransactionID, UserID: req.UserID,
		To: number, Channel: method, Body: body, Code: code,
		Status: store.MessagePending, NextAttemptAt: now, CreatedAt: now,
	}
	// A worker that takes hand-overs gets the message claimed for it by the write
	// that queues it: no claim of its own to write.
	h, handOver := a.o.Outbox.(handoff)
	if handOver {
		var until time.Time
		if until, handOver = h.HandoffLease(now); handOver {
			msg.Status, msg.Attempts, msg.LeaseUntil = store.MessageSending, 1, until.Truncate(time.Millisecond) // as stored
		}
	}
	// The send is in the system log with the code and its message, or neither is.
	ev := a.sendEvent(req, method, number, store.OutcomeAllow, "queued")
	ev.Debug["messageId"] = msg.ID
	if err := a.o.Store.CreateChallenge(eventlog.Attach(ctx, ev), ch, msg); err != nil {
		return authn.Challenge{}, err
	}
	a.o.Metrics.CodeQueued(method)
	// The message is due once it commits.
	switch {
	case handOver:
		m := *msg
		store.AfterCommit(ctx, func() { a.handOver(h, m) })
	case a.o.Outbox != nil:
		store.AfterCommit(ctx, a.o.Outbox.Wake)
	}
	return authn.Challenge{ID: id, MessageID: msg.ID}, nil
}

// handoff is an outbox worker that takes messages queued already claimed for
// it (messaging.Worker).
type handoff interface {
	HandoffLease(now time.Time) (time.Time, bool)
	Deliver(m store.Message) bool
}

// handOver gives m, queued claimed for the worker, to it; if the worker cannot
// take it now, m is made pending again for any worker to claim, so that it does
// not wait for its lease to end.
func (a *Authenticator) handOver(h handoff, m store.Message) {
	if h.Deliver(m) {
		return
	}
	_, err := a.o.Store.UpdateMessage(context.Background(), m.ID, func(cur store.Message) (store.Message, error) {
		if cur.Status == store.MessageSending && cur.Attempts == 1 && cur.LeaseUntil.Equal(m.LeaseUntil) {
			cur.Status, cur.Attempts, cur.LeaseUntil = store.MessagePending, 0, time.Time{}
		}
		return cur, nil
	})
	if err != nil {
		a.o.Log.Error("phone: releasing a code message the worker could not take", "message_id", m.ID, "err", err)
	}
	a.o.Outbox.Wake()
}

// reserve takes the budgets, answering with the refusal when one has no room.
func (a *Authenticator) reserve(ctx context.Context, req authn.Request, method string, reqs []throttle.Request) error {
	d, err := a.o.Limiter.Reserve(ctx, reqs...)
	if err != nil {
		return err
	}
	if d.Allowed {
		return nil
	}
	reason := refusalReason(d.Refused)
	msg := sendLimitMessage(method)
	switch reason {
	case RefusedTransactionNumbers:
		msg = msgTooManyNumbers
	case RefusedGlobal:
		msg = msgSendsUnavailable
		a.o.Log.WarnContext(ctx, "phone circuit breaker open: codes to numbers not yet verified are refused",
			"transaction", req.TransactionID, "max_sends_per_hour", a.o.Limits.SendsPerHour)
	}
	return a.refuse(ctx, req, method, reason, d, msg)
}

// decoy spends, for a recovery of a login that names no user, what a code to a
// user's own number spends, keyed by the login and the address, and sends nothing.
func (a *Authenticator) decoy(ctx context.Context, req authn.Request, method string) (authn.Challenge, error) {
	l := a.o.Limits
	key := throttle.OwnNumber("recovery:"+req.Login, "")
	reqs := []throttle.Request{
		{Key: throttle.SendsOnTransaction(req.TransactionID), Limit: throttle.Limit{Max: l.SendsPerTransaction, Window: a.o.TransactionTTL}},
		{Key: key, Limit: throttle.Limit{Max: l.MaxSends, Window: l.SendWindow}},
		{Key: throttle.SendGap(key), Limit: throttle.Limit{Max: 1, Window: l.SendInterval}},
		{Key: throttle.SendsFromIP(req.IP), Limit: throttle.Limit{Max: l.SendsPerIPPerHour, Window: time.Hour}},
	}
	if p := a.reserve(ctx, req, method, reqs); p != nil {
		return authn.Challenge{}, p
	}
	return authn.Challenge{}, nil
}

// budgets lists the budgets one code to number spends.
func (a *Authenticator) budgets(ctx context.Context, req authn.Request, number string, verified bool) ([]throttle.Request, error) {
	l := a.o.Limits
	const day = 24 * time.Hour
	user, tx := req.UserID, req.TransactionID
	reqs := []throttle.Request{
		{Key: throttle.SendsOnTransaction(tx), Limit: throttle.Limit{Max: l.SendsPerTransaction, Window: a.o.TransactionTTL}},
		{Key: throttle.SendsForUser(user), Limit: throttle.Limit{Max: l.SendsPerUserPerDay, Window: day}},
	}
	if verified {
		// The owner's own number: its own per-number budget, and the circuit breaker
		// and the per-IP budget count it without stopping it — unless the request
		// comes from a source that never signed in as this user.
		own := throttle.OwnNumber(user, number)
		reqs = append(reqs,
			throttle.Request{Key: own, Limit: throttle.Limit{Max: l.MaxSends, Window: l.SendWindow}},
			throttle.Request{Key: throttle.SendGap(own), Limit: throttle.Limit{Max: 1, Window: l.SendInterval}},
			throttle.Request{Key: throttle.AllSends(), Limit: throttle.Limit{Max: unbounded, Window: time.Hour}},
		)
		known := false
		if req.KnownSource != nil {
			k, err := req.KnownSource()
			if err != nil {
				return nil, err
			}
			known = k
		}
		ipMax := l.SendsPerIPPerHour
		if known {
			ipMax = unbounded
		}
		return append(reqs, throttle.Request{Key: throttle.SendsFromIP(req.IP), Limit: throttle.Limit{Max: ipMax, Window: time.Hour}}), nil
	}
	unv := throttle.UnverifiedNumber(number)
	reqs = append(reqs,
		throttle.Request{Key: unv, Limit: throttle.Limit{Max: l.MaxSends, Window: l.SendWindow}},
		throttle.Request{Key: throttle.SendGap(unv), Limit: throttle.Limit{Max: 1, Window: l.SendInterval}},
		throttle.Request{Key: throttle.AllSends(), Limit: throttle.Limit{Max: l.SendsPerHour, Window: time.Hour}},
		throttle.Request{Key: throttle.SendsFromIP(req.IP), Limit: throttle.Limit{Max: l.SendsPerIPPerHour, Window: time.Hour}},
		throttle.Request{Key: throttle.UnverifiedSendsFromIP(req.IP), Limit: throttle.Limit{Max: l.UnverifiedSendsPerIPPerHour, Window: time.Hour}},
		throttle.Request{Key: throttle.UnverifiedSendsForUser(user), Limit: throttle.Limit{Max: l.UnverifiedSendsPerUserPerDay, Window: day}},
	)
	// A number not tried on this sign-in before spends one of its distinct numbers;
	// the mark that it was tried is kept only if the send goes ahead.
	seen := throttle.NumberSeenOnTransaction(tx, number)
	n, _, err := a.o.Limiter.Count(ctx, seen, throttle.Limit{Max: unbounded, Window: a.o.TransactionTTL})
	if err != nil {
		return nil, err
	}
	if n == 0 {
		reqs = append(reqs,
			throttle.Request{Key: throttle.NumbersOnTransaction(tx), Limit: throttle.Limit{Max: l.NumbersPerTransaction, Window: a.o.TransactionTTL}},
			throttle.Request{Key: seen, Limit: throttle.Limit{Max: unbounded, Window: a.o.TransactionTTL}},
		)
	}
	return reqs, nil
}

// refuse logs and counts a send a limit refused and returns the Problem to show.
func (a *Authenticator) refuse(ctx context.Context, req authn.Request, method, reason string, d throttle.Decision, msg authn.Message) error {
	a.o.Log.InfoContext(ctx, "code not sent: "+reason+" limit", "transaction", req.TransactionID, "method", method, "reason", reason)
	a.o.Metrics.SendRefused(reason)
	if d.Refused.Kind() != "" {
		eventlog.RateLimited(ctx, a.o.Limiter, d, "phone_sends_"+reason)
	}
	return &authn.Problem{Status: http.StatusTooManyRequests, Message: msg, Limit: &d}
}

// sendEvent is the system log event of a code sent (or not) by method to number,
// which it shows masked.
func (a *Authenticator) sendEvent(req authn.Request, method, number, result, reason string) eventlog.Event {
	typ := eventlog.TypeSMSSent
	if method == Voice {
		typ = eventlog.TypeVoiceSent
	}
	ev := eventlog.Event{Type: typ, Result: result, Reason: reason, Debug: map[string]string{"method": method}}
	if number != "" {
		ev.Debug["phoneNumber"] = Mask(number)
	}
	if req.UserID != "" {
		ev.Actor = eventlog.UserRef(req.UserID, req.Login)
	} else if req.Login != "" {
		ev.Actor = eventlog.UnknownUser(req.Login)
	}
	return ev
}

// recordRefusal records a code not sent for a reason other than a budget (those
// are rate-limit violations): it changes nothing, so it is recorded alone.
func (a *Authenticator) recordRefusal(ctx context.Context, req authn.Request, method, number, reason string) {
	if err := eventlog.Append(ctx, a.o.Store, a.sendEvent(req, method, number, store.OutcomeDeny, reason)); err != nil {
		a.o.Log.WarnContext(ctx, "system log: recording a refused code", "err", err)
	}
}

// unbounded counts without ever refusing: the circuit breaker's count of codes to
// verified numbers, which it must see but may not stop.
const unbounded = 1 << 30

// Reasons a code was not sent, the values of
// gatehouse_phone_sends_refused_total{reason}.
const (
	RefusedTransaction        = "transaction"
	RefusedTransactionNumbers = "transaction_numbers"
	RefusedUser               = "user"
	RefusedUserUnverified     = "user_unverified"
	RefusedIP                 = "ip"
	RefusedIPUnverified       = "ip_unverified"
	RefusedGlobal             = "global"
	RefusedNumber             = "number"
	RefusedInterval           = "interval"
	RefusedNumberType         = "number_type"
	RefusedRegion             = "region"
)

// refusalReason names the budget that refused a send.
func refusalReason(k throttle.Key) string {
	switch k.Kind() {
	case throttle.KindSendsOnTx:
		return RefusedTransaction
	case throttle.KindNumbersOnTx:
		return RefusedTransactionNumbers
	case throttle.KindSendsToUser:
		return RefusedUser
	case throttle.KindUnverifiedOfUser:
		return RefusedUserUnverified
	case throttle.KindSendsFromIP:
		return RefusedIP
	case throttle.KindUnverifiedFromIP:
		return RefusedIPUnverified
	case throttle.KindSendsAll:
		return RefusedGlobal
	case throttle.KindSendInterval:
		return RefusedInterval
	default:
		return RefusedNumber
	}
}

// ---- messages ----

func errorMessage(key, text string) authn.Message { return authn.Message{Key: key, Text: text} }

// The phone's messages; Okta's i18n keys where Okta's recorded responses show one
// (docs/protocol.md lists them).
var (
	msgInvalidPhone      = errorMessage("api.factors.error.sms.invalid_phone", "Invalid Phone Number.")
	msgRefusedPhone      = errorMessage("gatehouse.phone.refused", "Codes cannot be sent to premium-rate, shared-cost, toll-free, voicemail, pager, personal or satellite numbers. Use a mobile or landline number.")
	msgSMSLimit          = errorMessage("errors.E0000150", "You have reached the limit of sms requests, please try again later.")
	msgCallLimit         = errorMessage("errors.E0000151", "You have reached the limit of call requests, please try again later.")
	msgFieldBlank        = errorMessage("model.validation.field.blank", "This field cannot be left blank")
	msgMethodUnavailable = errorMessage("gatehouse.method.unavailable", "This phone cannot receive codes that way. Choose another method.")
	msgUnknownPhone      = errorMessage("gatehouse.authenticator.unavailable", "The chosen authenticator is not available. Choose one from the list.")
	msgRegionRefused     = errorMessage("gatehouse.phone.region", "Codes cannot be sent to numbers of this country. Use another number.")
	msgTooManyNumbers    = errorMessage("gatehouse.phone.numbers", "Too many different phone numbers were tried in this sign-in. Start again later.")
	msgSendsUnavailable  = errorMessage("gatehouse.phone.unavailable", "Codes cannot be sent to new phone numbers right now. Try again later.")
)

// sendLimitMessage is Okta's per-channel limit message.
func sendLimitMessage(method string) authn.Message {
	if method == Voice {
		return msgCallLimit
	}
	return msgSMSLimit
}

// ---- masking ----

// maskCache remembers Mask's answers. Every state of a sign-in after the password
// shows the masked number once or twice, and masking parses the number with
// libphonenumber's regular expressions: 3 % of the engine's CPU time per sign-in
// before this cache (docs/performance.md). Masking is a pure function of the number,
// so a remembered answer is the same answer.
type maskCache struct {
	mu sync.Mutex
	m  map[string]string
}

// maskCacheSize bounds the cache: far more numbers than sign-ins in flight at once.
const maskCacheSize = 4096

func (c *maskCache) mask(number string) string {
	c.mu.Lock()
	masked, ok := c.m[number]
	c.mu.Unlock()
	if ok {
		return masked
	}
	masked = Mask(number)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]string, maskCacheSize)
	}
	if len(c.m) >= maskCacheSize {
		for k := range c.m { // map order is random: this evicts an arbitrary entry
			delete(c.m, k)
			break
		}
	}
	c.m[number] = masked
	return masked
}
