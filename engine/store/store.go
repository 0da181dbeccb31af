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
	TransactionStore
	ChallengeStore
	TokenStore
	KeyStore
	OutboxStore
	ThrottleStore

	// GarbageCollect deletes records that expired before now: transactions, challenges,
	// interaction codes, refresh tokens, revoked-token entries, throttles, signing
	// keys retired before now, and outbox messages that were finished more than a
	// day before now.
	GarbageCollect(ctx context.Context, now time.Time) (GCResult, error)
	// Ping checks that the database answers and its schema is at the version this
	// binary expects.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// GCResult counts what GarbageCollect deleted.
type GCResult struct {
	Transactions, Challenges, InteractionCodes, RefreshTokens, RevokedTokens, Throttles, Messages int64
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
	Disabled   bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
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

// ListUsersOptions pages through users ordered by login.
type ListUsersOptions struct {
	AfterLogin string // return users whose login sorts after this one
	Limit      int    // at most this many; <= 0 means 100
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
	// DeleteUser removes the user with their password, phones, refresh tokens and
	// open transactions.
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
	DeletePhoneEnrollment(ctx context.Context, id string) error
}

// ---- IDX transactions ----

// Step is where an IDX transaction stands; it decides which remediations are offered.
type Step string

// The steps of a password + phone sign-in (PROTOCOL.md section 8).
const (
	StepIdentify            Step = "IDENTIFY"
	StepSelectAuthenticator Step = "SELECT_AUTHENTICATOR"
	StepVerifyData          Step = "VERIFY_DATA"
	StepChallenge           Step = "CHALLENGE"
	StepSelectEnroll        Step = "SELECT_ENROLL"
	StepEnrollData          Step = "ENROLL_DATA"
	StepEnrollChallenge     Step = "ENROLL_CHALLENGE"
	StepSuccess             Step = "SUCCESS"
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

	Step     Step
	UserID   string    // set once the password is verified
	AuthTime time.Time // when the password was verified
	AMR      []string  // authentication methods proven so far ("pwd", "sms", …)

	EnrollmentID string    // the phone enrollment being verified
	Method       string    // "sms" or "voice", once chosen
	PendingPhone string    // E.164 number being enrolled
	ChallengeID  string    // the open one-time-code challenge
	LastSentAt   time.Time // when the last code was queued
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
	ID            string
	ChallengeID   string
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
}

// RefreshToken is a refresh token, kept by hash. Tokens of one family descend from one
// sign-in through rotation; reuse of a rotated token revokes the family.
type RefreshToken struct {
	TokenHash string
	FamilyID  string
	ClientID  string
	UserID    string
	Scopes    []string
	AuthTime  time.Time
	AMR       []string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // set when exchanged for a new token
	RevokedAt time.Time
}

// TokenStore keeps interaction codes, refresh tokens and revoked access tokens.
type TokenStore interface {
	CreateInteractionCode(ctx context.Context, c InteractionCode) error
	GetInteractionCode(ctx context.Context, codeHash string) (InteractionCode, error)
	UpdateInteractionCode(ctx context.Context, codeHash string, fn func(InteractionCode) (InteractionCode, error)) (InteractionCode, error)

	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	GetRefreshToken(ctx context.Context, tokenHash string) (RefreshToken, error)
	UpdateRefreshToken(ctx context.Context, tokenHash string, fn func(RefreshToken) (RefreshToken, error)) (RefreshToken, error)
	// RevokeRefreshTokenFamily sets RevokedAt on every unrevoked token of the family.
	RevokeRefreshTokenFamily(ctx context.Context, familyID string, now time.Time) error

	// RevokeAccessToken records a revoked JWT access token by its jti until it expires.
	// Revoking twice is not an error.
	RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error
	IsAccessTokenRevoked(ctx context.Context, jti string) (bool, error)
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
