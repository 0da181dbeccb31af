// Package store defines the one storage interface the engine uses, the records it
// keeps, and the sentinel errors every backend returns.
//
// Rules every backend follows (the conformance suite in store/conformance checks them):
//
//   - Times are kept with millisecond precision in UTC. Callers should truncate times to
//     the millisecond before storing them if they compare them afterwards.
//   - Get* return ErrNotFound when no record matches; Create* return ErrAlreadyExists on a
//     duplicate primary key or unique value (a user's login, a handle hash).
//   - Update*(ctx, key, fn) runs fn on the current record inside one database transaction
//     that holds a write lock on that record, so concurrent updates of one record are
//     serialised and each sees the result of the one before. If fn returns an error,
//     nothing is written and that error is returned unchanged (errors.Is works on it).
//     That is how single-use values (codes, tokens) are consumed exactly once.
//     fn must not call the store: on SQLite's single writer that deadlocks.
//   - Nothing here hashes or generates secrets: callers pass in ids and hashes. The store
//     never sees a password, a one-time code in the clear (except in the message outbox,
//     which must hold the text it sends), a handle or a token in the clear.
//   - Every write carries the system log events that record it: a caller attaches
//     them to the context of the call that makes the change (WithRecords), and the
//     store writes them in that call's database transaction, so an event commits
//     with its change or not at all. What changes nothing else is recorded alone
//     (EventStore.AppendEvents). events.go says more.
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap driver errors with %w but always map these cases.
var (
	// ErrNotFound: no record with that key.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists: a record with that primary key or unique value exists.
	ErrAlreadyExists = errors.New("store: already exists")
)

// Store is everything the engine persists. One implementation per database.
type Store interface {
	UserStore
	EnrollmentStore
	TransactionStore
	ChallengeStore
	TokenStore
	KeyStore
	OutboxStore
	ThrottleStore
	SessionStore
	ClientStore
	APITokenStore
	EventStore
	SignInStore
	TokenAccountStore
	Atomic
	Migrator

	// GarbageCollect deletes records that expired before now: transactions, challenges,
	// interaction codes, refresh tokens, revoked-token entries, user/session/family
	// revocations, sessions, throttles, signing keys retired before now, and outbox
	// messages that were finished more than a day before now.
	GarbageCollect(ctx context.Context, now time.Time) (GCResult, error)
	// Ping checks that the database answers and its schema is at least at the
	// version this binary needs (a newer one is fine: see SchemaMode).
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// GCResult counts what GarbageCollect deleted.
type GCResult struct {
	Transactions, Challenges, InteractionCodes, RefreshTokens, RevokedTokens, Throttles, Messages, Sessions int64
	// Revocations counts user, session and family revocations (RevokeTokens).
	Revocations int64
	// SigningKeys counts keys deleted after their RetireAt.
	SigningKeys int64
}

// ---- users, credentials, phones ----

// User is a person who can sign in.
type User struct {
	ID         string // opaque, immutable ("00u…")
	Login      string // unique sign-in name, stored lower-case
	Email      string
	GivenName  string
	FamilyName string
	Locale     string // BCP 47, optional
	// Disabled: the user may not sign in. It is kept for releases from before
	// Status, which read only it: it is true exactly when State is one that refuses
	// sign-in (UserStatus.RefusesSignIn). Set both with SetStatus.
	Disabled bool
	// Status is the user's lifecycle state as last written by a release that knows
	// it; "" for a user written only by older releases. Read it with State, which
	// reconciles it with Disabled.
	Status UserStatus
	// StatusChangedAt is when Status last changed; ActivatedAt when the user last
	// became active. Zero when not recorded (users from before Status).
	StatusChangedAt time.Time
	ActivatedAt     time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// UserStatus is a user's lifecycle state, named as Okta names it.
type UserStatus string

// The user states the engine keeps. A locked-out user is an active one whose
// factors are locked (a throttle), not a state of its own.
const (
	UserActive          UserStatus = "ACTIVE"
	UserStaged          UserStatus = "STAGED"    // created, not yet activated
	UserSuspended       UserStatus = "SUSPENDED" // stopped for a while by an operator
	UserDeprovisioned   UserStatus = "DEPROVISIONED"
	UserPasswordExpired UserStatus = "PASSWORD_EXPIRED" // must choose a new password at the next sign-in
)

// UserStatuses are the states, in the order they are listed.
var UserStatuses = []UserStatus{UserActive, UserStaged, UserSuspended, UserDeprovisioned, UserPasswordExpired}

// RefusesSignIn reports whether a user in state s may not sign in at all: staged,
// suspended and deprovisioned users.
func (s UserStatus) RefusesSignIn() bool {
	return s == UserStaged || s == UserSuspended || s == UserDeprovisioned
}

// State is the user's lifecycle state. Disabled wins where the two disagree, which
// only a release from before Status makes happen: a user it disabled is
// DEPROVISIONED (unless Status already refuses sign-in), and a user it enabled is
// ACTIVE (unless Status is PASSWORD_EXPIRED). A user never given a Status is ACTIVE
// or DEPROVISIONED by Disabled.
func (u User) State() UserStatus {
	if u.Disabled {
		if u.Status.RefusesSignIn() {
			return u.Status
		}
		return UserDeprovisioned
	}
	if u.Status == UserPasswordExpired {
		return UserPasswordExpired
	}
	return UserActive
}

// SetStatus moves the user to state s at the instant at: Status, Disabled to
// match (for older releases), StatusChangedAt if the state changes, and
// ActivatedAt if s lets a user sign in who could not.
func (u *User) SetStatus(s UserStatus, at time.Time) {
	before := u.State()
	u.Status, u.Disabled = s, s.RefusesSignIn()
	if before != s {
		u.StatusChangedAt = at
	}
	if before.RefusesSignIn() && !s.RefusesSignIn() {
		u.ActivatedAt = at
	}
}

// PasswordCredential is a user's password, as an encoded argon2id hash (PHC string format).
type PasswordCredential struct {
	UserID    string
	Hash      string
	UpdatedAt time.Time
}

// PhoneEnrollment is a verified phone number a user can receive codes on.
type PhoneEnrollment struct {
	ID        string // opaque ("sms…"), shown to clients as the enrollment id
	UserID    string
	Number    string // E.164
	SMS       bool   // codes may be sent by text message
	Voice     bool   // codes may be read out in a call
	CreatedAt time.Time
}

// UserRecord is a user with their credentials, for bulk import.
type UserRecord struct {
	User     User
	Password *PasswordCredential // optional
	Phones   []PhoneEnrollment
}

// ListUsersOptions pages through users ordered by login, optionally filtered.
type ListUsersOptions struct {
	AfterLogin string // return users whose login sorts after this one
	Limit      int    // at most this many; <= 0 means 100
	// Prefix, when not empty, keeps the users whose login, email, given name or
	// family name starts with it. ASCII letters match whatever their case; every
	// other character matches only itself (the same on every backend).
	Prefix string
	// Disabled, when not nil, keeps the users whose Disabled is *Disabled.
	Disabled *bool
	// Status, when not empty, keeps the users whose State is Status.
	Status UserStatus
}

// UserStore keeps users and their credentials.
type UserStore interface {
	// CreateUser fails with ErrAlreadyExists if the id or the login is taken.
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByLogin matches the login exactly; callers lower-case it first.
	GetUserByLogin(ctx context.Context, login string) (User, error)
	ListUsers(ctx context.Context, opts ListUsersOptions) ([]User, error)
	// UpdateUser may not change ID; a changed Login must stay unique (ErrAlreadyExists).
	UpdateUser(ctx context.Context, id string, fn func(User) (User, error)) (User, error)
	// DeleteUser removes the user with their password, phones (pending ones too),
	// other authenticator enrollments (EnrollmentStore), refresh tokens and open
	// transactions.
	DeleteUser(ctx context.Context, id string) error
	// ImportUsers creates many users with their credentials in as few database
	// transactions as the backend likes; all or nothing per call.
	ImportUsers(ctx context.Context, records []UserRecord) error

	// SetPassword creates or replaces the user's password. ErrNotFound if no such user.
	SetPassword(ctx context.Context, c PasswordCredential) error
	GetPassword(ctx context.Context, userID string) (PasswordCredential, error)

	// CreatePhoneEnrollment fails with ErrNotFound if the user does not exist and with
	// ErrAlreadyExists if the id is taken or the user already has that number.
	CreatePhoneEnrollment(ctx context.Context, e PhoneEnrollment) error
	GetPhoneEnrollment(ctx context.Context, id string) (PhoneEnrollment, error)
	// ListPhoneEnrollments returns the user's phones, oldest first.
	ListPhoneEnrollments(ctx context.Context, userID string) ([]PhoneEnrollment, error)
	// UpdatePhoneEnrollment changes how a phone receives codes (SMS, Voice); it
	// may not change ID, UserID or Number.
	UpdatePhoneEnrollment(ctx context.Context, id string, fn func(PhoneEnrollment) (PhoneEnrollment, error)) (PhoneEnrollment, error)
	DeletePhoneEnrollment(ctx context.Context, id string) error

	// CreatePendingPhone fails with ErrNotFound if the user does not exist and with
	// ErrAlreadyExists if the id is taken or the user already has a pending phone
	// of that Method.
	CreatePendingPhone(ctx context.Context, p PendingPhone) error
	GetPendingPhone(ctx context.Context, id string) (PendingPhone, error)
	// ListPendingPhones returns the user's pending phones, oldest first (ties
	// broken by ID).
	ListPendingPhones(ctx context.Context, userID string) ([]PendingPhone, error)
	// UpdatePendingPhone may not change ID, UserID or Method.
	UpdatePendingPhone(ctx context.Context, id string, fn func(PendingPhone) (PendingPhone, error)) (PendingPhone, error)
	// DeletePendingPhone removes the pending phone; ErrNotFound if there is none.
	DeletePendingPhone(ctx context.Context, id string) error
}

// PendingPhone is a phone an operator enrolled for a user through the management
// API that waits for the code sent to it (Okta's PENDING_ACTIVATION factor). It
// becomes a PhoneEnrollment once the code comes back; until then sign-in never
// uses it, and a release from before it never sees it.
type PendingPhone struct {
	ID          string // the factor's id, kept once the phone is active
	UserID      string
	Number      string // E.164
	Method      string // "sms" or "voice": one pending phone per user and method
	ChallengeID string // the last code sent to it
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// ---- a sign-in's reads in one ----

// Account is a user with their password and factors, as one read brings them.
type Account struct {
	User User
	// PasswordHash is the user's encoded password hash; "" if they have none.
	PasswordHash string
	// Phones and Enrollments are ordered as ListPhoneEnrollments and
	// ListEnrollments order them. The enrollments' Secret is not read (nil): an
	// authenticator that checks a code reads its enrollment again, locked, in the
	// write that uses it.
	Phones      []PhoneEnrollment
	Enrollments []Enrollment
}

// SignIn is an IDX transaction with what serving its next step needs.
type SignIn struct {
	Transaction Transaction
	// Account is the transaction's user (Transaction.UserID), nil when it names
	// none or the user no longer exists.
	Account *Account
	// MessageStatus is the status of the newest message of the transaction's open
	// challenge (Transaction.ChallengeID), "" when there is none.
	MessageStatus MessageStatus
}

// SignInStore reads what a sign-in step needs in one statement each, where the
// role stores above would take one per record (a round trip each on a database
// over the network).
type SignInStore interface {
	// GetAccount reads the user with their password hash, phones and enrollments.
	// ErrNotFound if there is no such user.
	GetAccount(ctx context.Context, userID string) (Account, error)
	// GetAccountByLogin is GetAccount by the exact login (lower-cased by callers).
	GetAccountByLogin(ctx context.Context, login string) (Account, error)
	// GetSignIn reads the transaction whose state handle hashes to
	// stateHandleHash, with its user's account and its code's message status.
	// ErrNotFound if there is no such transaction.
	GetSignIn(ctx context.Context, stateHandleHash string) (SignIn, error)
}

// ---- other authenticators' enrollments ----

// Enrollment is a user's enrollment of an authenticator that keeps a secret (an
// authenticator app). Phones keep their own records (PhoneEnrollment).
type Enrollment struct {
	ID            string // opaque, shown to clients as the enrollment id
	UserID        string
	Authenticator string // the authenticator's key, e.g. "google_otp"
	// Secret is sealed by engine/keyseal; the store never sees it in the clear.
	Secret []byte
	// LastUsed is the replay guard: the highest time step accepted so far (0 for
	// none).
	LastUsed  int64
	CreatedAt time.Time
}

// EnrollmentStore keeps enrollments of authenticators other than the phone.
type EnrollmentStore interface {
	// CreateEnrollment fails with ErrNotFound if the user does not exist and with
	// ErrAlreadyExists if the id is taken or the user already has an enrollment of
	// that authenticator.
	CreateEnrollment(ctx context.Context, e Enrollment) error
	GetEnrollment(ctx context.Context, id string) (Enrollment, error)
	// ListEnrollments returns the user's enrollments, oldest first (ties broken by
	// ID).
	ListEnrollments(ctx context.Context, userID string) ([]Enrollment, error)
	// UpdateEnrollment may not change ID, UserID or Authenticator. fn runs inside
	// the database transaction that holds the record's write lock, so a
	// check-and-set of LastUsed is atomic across nodes: of concurrent updates that
	// each accept only a step above LastUsed, one wins.
	UpdateEnrollment(ctx context.Context, id string, fn func(Enrollment) (Enrollment, error)) (Enrollment, error)
	// DeleteEnrollment removes the enrollment; ErrNotFound if there is none.
	DeleteEnrollment(ctx context.Context, id string) error
}

// ---- IDX transactions ----

// Step is where an IDX transaction stands; it decides which remediations are offered.
type Step string

// The steps of a password + phone sign-in (docs/protocol.md).
const (
	StepIdentify            Step = "IDENTIFY"
	StepSelectAuthenticator Step = "SELECT_AUTHENTICATOR"
	StepVerifyData          Step = "VERIFY_DATA"
	StepChallenge           Step = "CHALLENGE"
	StepSelectEnroll        Step = "SELECT_ENROLL"
	StepEnrollData          Step = "ENROLL_DATA"
	StepEnrollChallenge     Step = "ENROLL_CHALLENGE"
	StepSuccess             Step = "SUCCESS"
	// Recovery and registration.
	StepIdentifyRecovery Step = "IDENTIFY_RECOVERY"
	StepResetPassword    Step = "RESET_PASSWORD"
	StepEnrollProfile    Step = "ENROLL_PROFILE"
	// StepPasswordExpired: the password was right but has expired; a new one is
	// asked for before the sign-in goes on.
	StepPasswordExpired Step = "PASSWORD_EXPIRED"
)

// The flows a transaction can be in besides sign-in (Transaction.Flow "").
const (
	FlowRecovery     = "recovery"     // resetting a forgotten password
	FlowRegistration = "registration" // a new user signing up
)

// Transaction is one sign-in attempt, from interact to the interaction code.
type Transaction struct {
	ID string
	// Hashes of the handles the client holds; the handles themselves are never stored.
	InteractionHandleHash string
	StateHandleHash       string

	ClientID      string
	RedirectURI   string
	Scopes        []string
	CodeChallenge string // PKCE S256 challenge
	State         string
	Nonce         string
	// GrantType is "authorization_code" for a sign-in /v1/authorize started (the
	// code it ends with is redeemed by that grant) and "" for one /v1/interact did.
	GrantType string
	// ResponseMode is how /v1/authorize answers the client: "query" or "form_post".
	ResponseMode string

	Step     Step
	UserID   string    // set once the password is verified
	AuthTime time.Time // when the password was verified
	AMR      []string  // authentication methods proven so far ("pwd", "sms", …)

	EnrollmentID string    // the phone enrollment being verified
	Method       string    // "sms" or "voice", once chosen
	PendingPhone string    // E.164 number being enrolled
	ChallengeID  string    // the open one-time-code challenge
	LastSentAt   time.Time // when the last code was queued

	// Flow is "" for a sign-in, or FlowRecovery or FlowRegistration.
	Flow string
	// Authenticator is the key of the authenticator being verified or enrolled
	// ("phone_number", "google_otp", "okta_password"); "" when none.
	Authenticator string
	// Pending is small data the transaction carries between steps: a
	// registration's profile, the sealed secret of an authenticator app being
	// enrolled (base64). A nil and an empty map are the same: the store reads an
	// empty one back as nil, so make the map before writing to it.
	Pending map[string]string

	// InteractionCodeHash is set at SUCCESS until the code is redeemed.
	InteractionCodeHash string

	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time
	// Revision is incremented by the store on every successful update.
	Revision int64
}

// TransactionStore keeps IDX transactions.
type TransactionStore interface {
	// CreateTransaction fails with ErrAlreadyExists on a duplicate id or handle hash.
	CreateTransaction(ctx context.Context, t Transaction) error
	GetTransaction(ctx context.Context, id string) (Transaction, error)
	GetTransactionByStateHandle(ctx context.Context, stateHandleHash string) (Transaction, error)
	GetTransactionByInteractionHandle(ctx context.Context, interactionHandleHash string) (Transaction, error)
	// UpdateTransaction may not change ID or the handle hashes.
	UpdateTransaction(ctx context.Context, id string, fn func(Transaction) (Transaction, error)) (Transaction, error)
	DeleteTransaction(ctx context.Context, id string) error
}

// ---- one-time codes and their messages ----

// Challenge is one one-time code sent to a phone.
type Challenge struct {
	ID            string
	TransactionID string
	UserID        string
	Phone         string // E.164
	Method        string // "sms" or "voice"
	CodeMAC       []byte // keyed HMAC of the code; the code itself is not kept
	CreatedAt     time.Time
	ExpiresAt     time.Time
	ConsumedAt    time.Time // zero until the right code was given
	Invalidated   bool      // replaced by a newer code, cancelled, or too many wrong answers
}

// ChallengeStore keeps one-time-code challenges.
type ChallengeStore interface {
	// CreateChallenge stores c, marks every other open challenge of the same transaction
	// invalidated, and, if msg is not nil, queues msg in the outbox — all in one
	// database transaction, so a code is never sent without being stored, nor stored
	// without its message.
	CreateChallenge(ctx context.Context, c Challenge, msg *Message) error
	GetChallenge(ctx context.Context, id string) (Challenge, error)
	UpdateChallenge(ctx context.Context, id string, fn func(Challenge) (Challenge, error)) (Challenge, error)
	// InvalidateChallenges marks every open challenge of the transaction invalidated.
	InvalidateChallenges(ctx context.Context, transactionID string) error
}

// MessageStatus is where an outbound message is in its delivery.
type MessageStatus string

// Delivery states of an outbox message.
const (
	MessagePending MessageStatus = "pending" // waiting for a worker (first try or retry)
	MessageSending MessageStatus = "sending" // claimed by a worker until LeaseUntil
	MessageSent    MessageStatus = "sent"    // the provider accepted it
	MessageFailed  MessageStatus = "failed"  // given up; LastError says why
)

// Message is a text or call queued for delivery by the outbox.
type Message struct {
	ID          string
	ChallengeID string
	// TransactionID and UserID are the sign-in and the user the message is for, for
	// the delivery log lines; either may be empty (a back-channel logout notice
	// belongs to no sign-in).
	TransactionID string
	UserID        string
	To            string // E.164
	Channel       string // "sms" or "voice"
	Body          string // the text sent, or read out in a call
	Code          string // the one-time code it carries, kept for the dev outbox
	Status        MessageStatus
	Attempts      int
	NextAttemptAt time.Time
	LeaseUntil    time.Time
	ProviderID    string // the provider's id for the message, once sent
	LastError     string
	CreatedAt     time.Time
	SentAt        time.Time
}

// MessageFilter selects messages for ListMessages.
type MessageFilter struct {
	To          string // exact E.164 number; empty means any
	ChallengeID string // messages of one challenge; empty means any
	Limit       int    // <= 0 means 50
}

// OutboxStore is the durable queue of outbound messages.
type OutboxStore interface {
	// ClaimMessages atomically takes up to limit messages that are due — pending with
	// NextAttemptAt <= now, or sending with LeaseUntil < now (their worker died) — sets
	// them to sending with LeaseUntil = now+lease and Attempts+1, and returns them as
	// they are after the claim. Concurrent claimers never get the same message.
	ClaimMessages(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Message, error)
	GetMessage(ctx context.Context, id string) (Message, error)
	UpdateMessage(ctx context.Context, id string, fn func(Message) (Message, error)) (Message, error)
	// ListMessages returns matching messages, newest first.
	ListMessages(ctx context.Context, f MessageFilter) ([]Message, error)
	// QueueMessage adds a message that belongs to no challenge (a back-channel
	// logout notice), pending unless its Status says otherwise. It fails with
	// ErrAlreadyExists on a duplicate id.
	QueueMessage(ctx context.Context, m Message) error
	// OutboxBacklog counts the messages not yet delivered — pending or sending,
	// whether due or not — and returns the CreatedAt of the oldest of them (the zero
	// time when there are none), in one indexed query.
	OutboxBacklog(ctx context.Context) (OutboxBacklog, error)
}

// OutboxBacklog is what OutboxStore.OutboxBacklog reports.
type OutboxBacklog struct {
	Pending int64     // messages pending or sending
	Oldest  time.Time // CreatedAt of the oldest of them; zero if there are none
}

// ---- tokens ----

// InteractionCode is the single-use code a finished transaction yields; it carries
// what the token endpoint needs to mint tokens.
type InteractionCode struct {
	CodeHash      string
	TransactionID string
	ClientID      string
	RedirectURI   string
	CodeChallenge string
	UserID        string
	Scopes        []string
	Nonce         string
	AuthTime      time.Time
	AMR           []string
	CreatedAt     time.Time
	ExpiresAt     time.Time
	UsedAt        time.Time // zero until redeemed
	// SessionID is the SSO session the sign-in started or continued (the "sid").
	SessionID string
	// GrantType is the grant that may redeem the code: "" for interaction_code,
	// "authorization_code" for a code /v1/authorize issued.
	GrantType string
}

// RefreshToken is a refresh token, kept by hash. Tokens of one family descend from one
// sign-in through rotation; reuse of a rotated token revokes the family.
type RefreshToken struct {
	TokenHash string
	FamilyID  string
	ClientID  string
	UserID    string
	SessionID string // the SSO session the sign-in belonged to; empty if none
	Scopes    []string
	AuthTime  time.Time
	AMR       []string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // set when exchanged for a new token
	RevokedAt time.Time
}

// RevocationKind says what RevokeTokens revokes the tokens of.
type RevocationKind string

// The kinds of RevokeTokens.
const (
	RevokeUser    RevocationKind = "user"    // every token of a user (RefreshToken.UserID, access token uid)
	RevokeSession RevocationKind = "session" // every token of an SSO session (SessionID, access token sid)
	RevokeFamily  RevocationKind = "family"  // every token of a refresh-token family (FamilyID, access token rfid)
)

// MaxAccessTokenTTL is the longest lifetime an access token can have (the
// configuration refuses a longer access_token_ttl). A revocation entry kept this long
// after it was made outlives every access token it covers.
const MaxAccessTokenTTL = 24 * time.Hour

// AccessTokenRef is what AccessTokenRevoked needs of a token: its jti (empty for a
// refresh token), the user, session and refresh-token family it belongs to (each may
// be empty), and the instant it was issued, at millisecond precision.
type AccessTokenRef struct {
	JTI, UserID, SessionID, FamilyID string
	IssuedAt                         time.Time
}

// TokenStore keeps interaction codes, refresh tokens and revoked access tokens.
type TokenStore interface {
	CreateInteractionCode(ctx context.Context, c InteractionCode) error
	GetInteractionCode(ctx context.Context, codeHash string) (InteractionCode, error)
	UpdateInteractionCode(ctx context.Context, codeHash string, fn func(InteractionCode) (InteractionCode, error)) (InteractionCode, error)

	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	GetRefreshToken(ctx context.Context, tokenHash string) (RefreshToken, error)
	UpdateRefreshToken(ctx context.Context, tokenHash string, fn func(RefreshToken) (RefreshToken, error)) (RefreshToken, error)
	// RevokeRefreshTokenFamily is RevokeTokens(RevokeFamily, familyID, now,
	// now+MaxAccessTokenTTL) without the count.
	RevokeRefreshTokenFamily(ctx context.Context, familyID string, now time.Time) error

	// RevokeTokens revokes every token of a user, an SSO session or a refresh-token
	// family (kind), in one database transaction: it sets RevokedAt = at on every
	// unrevoked refresh token whose UserID, SessionID or FamilyID is id, and records
	// that every token of id issued at or before at is revoked (AccessTokenRevoked),
	// keeping that record until keepUntil. Revoking the same id again moves both
	// instants forward, never back. It returns how many of the tokens it revoked were
	// live: unused and unexpired at at. An empty id, an unknown kind or a zero at or
	// keepUntil is an error.
	RevokeTokens(ctx context.Context, kind RevocationKind, id string, at, keepUntil time.Time) (int64, error)

	// RevokeAccessToken records a revoked JWT access token by its jti until it expires.
	// Revoking twice is not an error.
	RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error
	// AccessTokenRevoked says, in one query, whether ref.JTI was revoked or a
	// revocation (RevokeTokens) of ref's user, session or family was made at or after
	// ref.IssuedAt. Empty fields of ref match nothing. It works for refresh tokens too
	// (an empty JTI, IssuedAt = CreatedAt).
	AccessTokenRevoked(ctx context.Context, ref AccessTokenRef) (bool, error)
}

// ---- keys and secrets ----

// SigningKey is a private key the engine signs tokens with.
type SigningKey struct {
	ID        string // the JWS "kid"
	Algorithm string // "RS256"
	// PrivateKey is the PKCS#8 DER key sealed by keyseal (a database from before
	// sealing holds it in the clear until the engine's next start seals it).
	PrivateKey []byte
	CreatedAt  time.Time
	// ActiveFrom is when the key may start signing; zero means from CreatedAt. A
	// rotated-in key is published in the JWKS from CreatedAt but signs only from
	// ActiveFrom.
	ActiveFrom time.Time
	// RetireAt is when the key stops verifying and leaves the JWKS; zero means
	// never. GarbageCollect deletes keys whose RetireAt has passed.
	RetireAt time.Time
}

// Secret is a named server secret as stored.
type Secret struct {
	Name  string
	Value []byte
	// Sealed is false for a value stored in the clear by a release from before
	// sealing; SealSecret seals it. Values stored by GetOrCreateSecret are sealed.
	Sealed bool
}

// KeyStore keeps signing keys and other server secrets, shared by every engine node.
// It stores what it is given: callers seal values with keyseal before storing them
// and open them after reading.
type KeyStore interface {
	CreateSigningKey(ctx context.Context, k SigningKey) error
	// ListSigningKeys returns every key, oldest first (ties broken by ID).
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// UpdateSigningKey may not change ID.
	UpdateSigningKey(ctx context.Context, id string, fn func(SigningKey) (SigningKey, error)) (SigningKey, error)
	// DeleteSigningKey removes the key; ErrNotFound if there is none.
	DeleteSigningKey(ctx context.Context, id string) error

	// GetOrCreateSecret stores candidate (a sealed value) under name unless a value
	// is already stored, and returns the stored value. Nodes starting at once agree
	// on one value.
	GetOrCreateSecret(ctx context.Context, name string, candidate []byte) ([]byte, error)
	// ListSecrets returns every secret, ordered by name.
	ListSecrets(ctx context.Context) ([]Secret, error)
	// SealSecret replaces the value of the secret name with sealed and marks it
	// sealed, if it is still unsealed; if another node sealed it first, nothing
	// changes and it is not an error. ErrNotFound if there is no such secret.
	SealSecret(ctx context.Context, name string, sealed []byte) error
	// DeleteSecret removes the secret; a missing one is not an error.
	DeleteSecret(ctx context.Context, name string) error
}

// ---- throttles ----

// Throttle is a named counter for rate limits and lockouts, shared by every node.
type Throttle struct {
	Key          string
	Count        int
	WindowStart  time.Time
	LastAt       time.Time
	BlockedUntil time.Time
	ExpiresAt    time.Time // GarbageCollect removes it after this
}

// ThrottleReservation asks for Units attempts of a budget of Max per Window on Key.
type ThrottleReservation struct {
	Key    string
	Units  int // <= 0 means 1
	Max    int
	Window time.Duration
}

// ThrottleResult is a reservation's key as it stands after ReserveThrottles: its
// count in the current window (including the units just asked for, whether or not
// they were granted), when that window started, and whether the units fit.
type ThrottleResult struct {
	Key         string
	Count       int
	WindowStart time.Time
	Admitted    bool
}

// ThrottleStore keeps throttles.
type ThrottleStore interface {
	// UpdateThrottle runs fn on the throttle named key — a zero Throttle with only Key
	// set if there is none yet — and stores what fn returns.
	UpdateThrottle(ctx context.Context, key string, fn func(Throttle) (Throttle, error)) (Throttle, error)
	GetThrottle(ctx context.Context, key string) (Throttle, error)
	// ReserveThrottles counts the reservations' units on their keys in one database
	// transaction, each key checked and incremented by one statement. A key whose
	// window (fixed, starting at its first unit) ended at or before now starts a new
	// window at now. If every key stays within its Max the counts are kept and every
	// result is Admitted; otherwise nothing is kept and the results tell which keys
	// did not fit. Concurrent callers (on any node) never get more than Max units of
	// one window between them. Results come back in the order of rs.
	ReserveThrottles(ctx context.Context, now time.Time, rs []ThrottleReservation) ([]ThrottleResult, error)
	// DeleteThrottle removes the throttle named key; a missing one is not an error.
	DeleteThrottle(ctx context.Context, key string) error
	// DeleteThrottles removes every throttle whose key starts with prefix (a
	// non-empty prefix) and says how many it removed. It may read the whole table:
	// for operators' commands, not for every request.
	DeleteThrottles(ctx context.Context, prefix string) (int64, error)
}

// ---- SSO sessions ----

// Session is a browser's signed-in session at the engine (single sign-on): created
// when a sign-in completes, found again by the hash of the cookie the browser holds,
// and named in tokens by its ID (the "sid" claim).
type Session struct {
	ID        string // public id: the "sid" claim
	TokenHash string // hash of the session cookie's value; the value is never stored
	UserID    string
	AuthTime  time.Time // when the user last proved a password
	AMR       []string  // how ("pwd", "sms", …)
	// ClientIDs are the clients that received a code in this session, in order: the
	// ones told at logout (OIDC Back-Channel Logout).
	ClientIDs     []string
	CreatedAt     time.Time
	LastSeenAt    time.Time
	IdleExpiresAt time.Time // the session ends if unused until then
	ExpiresAt     time.Time // the session ends then whatever happens; GarbageCollect removes it after
	EndedAt       time.Time // zero while live; set by logout or an operator
}

// Live reports whether the session can still sign the browser in at now.
func (s Session) Live(now time.Time) bool {
	return s.EndedAt.IsZero() && now.Before(s.ExpiresAt) && now.Before(s.IdleExpiresAt)
}

// SessionStore keeps SSO sessions.
type SessionStore interface {
	// CreateSession fails with ErrAlreadyExists on a duplicate id or token hash.
	CreateSession(ctx context.Context, s Session) error
	GetSession(ctx context.Context, id string) (Session, error)
	GetSessionByToken(ctx context.Context, tokenHash string) (Session, error)
	// UpdateSession may not change ID, TokenHash or UserID.
	UpdateSession(ctx context.Context, id string, fn func(Session) (Session, error)) (Session, error)
	// EndUserSessions sets EndedAt = now on every session of the user that has not
	// ended, and returns those sessions as they are after the change.
	EndUserSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
}

// ---- OAuth clients ----

// Client is an OAuth 2.0 / OIDC client registered in the database (gatehouse clients
// add), beside the clients of the configuration file.
type Client struct {
	ID   string // the client_id
	Name string
	// SecretHash is "sha256:" and the base64url SHA-256 of the client's secret, or ""
	// for a client without one. A fast unsalted hash is enough only because every
	// stored secret is a high-entropy random string: 32 random bytes generated by
	// the engine, or one an operator supplies that passes the same bar (see
	// engine/clients.CheckSuppliedSecret). The secret itself is never stored.
	SecretHash string
	// Public clients have no credentials and rely on PKCE alone.
	Public                 bool
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Grants                 []string
	Scopes                 []string
	AccessTokenTTL         time.Duration
	IDTokenTTL             time.Duration
	RefreshTokenTTL        time.Duration
	// TokenEndpointAuthMethod is client_secret_basic, client_secret_post,
	// private_key_jwt or none; empty lets a client with a secret use either
	// client_secret_basic or client_secret_post.
	TokenEndpointAuthMethod string
	JWKSURI                 string
	JWKS                    string // a JSON Web Key Set (JSON text), or ""
	BackchannelLogoutURI    string
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// ClientStore keeps OAuth clients.
type ClientStore interface {
	// CreateClient fails with ErrAlreadyExists if the id is taken.
	CreateClient(ctx context.Context, c Client) error
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns every client, ordered by id byte by byte.
	ListClients(ctx context.Context) ([]Client, error)
	// UpdateClient may not change ID.
	UpdateClient(ctx context.Context, id string, fn func(Client) (Client, error)) (Client, error)
	DeleteClient(ctx context.Context, id string) error
}

// ---- management API tokens ----

// APIToken is a token the management API accepts (Authorization: SSWS <token>),
// made by "gatehouse tokens create" and kept by hash.
type APIToken struct {
	ID   string // opaque ("00T…"), how operators name the token
	Name string // what the operator called it
	// TokenHash is the hex SHA-256 of the token (opaque.Hash); the token itself is
	// never stored. Tokens carry 256 random bits, so a fast unsalted hash is enough.
	TokenHash string
	ReadOnly  bool // only reads (GET, HEAD) are allowed
	CreatedAt time.Time
	// LastUsedAt is zero until the token is first used; callers may record uses
	// coarsely (the API does at most about once a minute per token).
	LastUsedAt time.Time
	RevokedAt  time.Time // zero while the token is valid
}

// APITokenStore keeps management API tokens. Revoked tokens stay listed.
type APITokenStore interface {
	// CreateAPIToken fails with ErrAlreadyExists if the id or the hash is taken.
	CreateAPIToken(ctx context.Context, t APIToken) error
	GetAPIToken(ctx context.Context, id string) (APIToken, error)
	// GetAPITokenByHash finds a token, revoked or not, by its TokenHash.
	GetAPITokenByHash(ctx context.Context, tokenHash string) (APIToken, error)
	// ListAPITokens returns every token, revoked ones included, oldest first (ties
	// broken by ID).
	ListAPITokens(ctx context.Context) ([]APIToken, error)
	// RevokeAPIToken sets RevokedAt = at unless the token is already revoked (then
	// it keeps its first RevokedAt), and returns the token as it is afterwards.
	// ErrNotFound if there is no such token.
	RevokeAPIToken(ctx context.Context, id string, at time.Time) (APIToken, error)
	// RecordAPITokenUse sets LastUsedAt = at if at is later than the stored value,
	// and leaves it otherwise. ErrNotFound if there is no such token.
	RecordAPITokenUse(ctx context.Context, id string, at time.Time) error
}
