// Package config is the engine's configuration file: its keys, their defaults, and the
// checks that make a wrong key or value fail start-up with a message naming it.
//
// docs/configuration.md documents every key; TestEveryKeyDocumented keeps the two in
// step.
package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/engine/authn/password"
)

// Config is the whole configuration file.
type Config struct {
	// Issuer is the OIDC issuer URL, byte-equal in discovery and every token:
	// "https://host/oauth2/<name>" or "https://host".
	Issuer string `yaml:"issuer"`
	// Listen is the address the engine listens on.
	Listen string `yaml:"listen"`
	// Database is "sqlite:<path>" (or a bare path) or a "postgres://" DSN.
	Database string `yaml:"database"`
	// DatabaseFile names a file holding Database instead (a container secret:
	// the DSN may carry a password).
	DatabaseFile string `yaml:"database_file"`
	// AutoMigrate lets serve apply pending migrations to a PostgreSQL database at
	// start. SQLite databases are always migrated by serve.
	AutoMigrate bool `yaml:"auto_migrate"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// ProductName appears in the texts and calls that carry codes.
	ProductName string `yaml:"product_name"`

	Server          Server          `yaml:"server"`
	Clients         []Client        `yaml:"clients"`
	PasswordHashing PasswordHashing `yaml:"password_hashing"`
	Phone           Phone           `yaml:"phone"`
	SignOn          SignOn          `yaml:"sign_on"`
	RateLimits      RateLimits      `yaml:"rate_limits"`
	Messaging       Messaging       `yaml:"messaging"`
	CORS            CORS            `yaml:"cors"`
	Secrets         Secrets         `yaml:"secrets"`
	Keys            Keys            `yaml:"keys"`
	ManagementAPI   ManagementAPI   `yaml:"management_api"`
	SystemLog       SystemLog       `yaml:"system_log"`
	// DevOutbox serves GET /dev/outbox, listing sent messages with their codes.
	// Never turn it on where real people sign in.
	DevOutbox bool `yaml:"dev_outbox"`
	// MetricsListen is where Prometheus metrics are served: empty serves GET
	// /metrics on the main listener, an address gives them a listener of their own,
	// "off" turns them off.
	MetricsListen string `yaml:"metrics_listen"`
	// AllowInsecureDevelopmentSettings lets serve start with settings that would
	// expose one-time codes beyond this machine (dev_outbox, the outbox provider or
	// an http:// issuer off loopback, a plain-http webhook to another host); they
	// are then only warned about.
	AllowInsecureDevelopmentSettings bool `yaml:"allow_insecure_development_settings"`
}

// Server is how the engine sees its clients on the network.
type Server struct {
	// TrustedProxies are the CIDRs (or single addresses) of proxies and app
	// servers whose X-Forwarded-For the engine believes. The client IP is the
	// last address in X-Forwarded-For that is not one of them.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ShutdownDrain is how long serve keeps answering after SIGTERM or SIGINT with
	// /readyz already failing, so that load balancers stop sending new requests
	// before the listener closes.
	ShutdownDrain time.Duration `yaml:"shutdown_drain"`
}

// RateLimits are the per-client-IP request limits and the caps on open sign-ins.
type RateLimits struct {
	// RequestsPerIPPerMinute bounds the requests one client IP makes to each
	// group of endpoints (interact, introspect, identify, the phone steps, token,
	// revoke, failed userinfo, management API requests without a valid token) per
	// minute.
	RequestsPerIPPerMinute int `yaml:"requests_per_ip_per_minute"`
	// TransactionsPerIP bounds the sign-ins one client IP may start per
	// sign_on.transaction_ttl; TransactionsTotal bounds them for all clients.
	TransactionsPerIP int `yaml:"transactions_per_ip"`
	TransactionsTotal int `yaml:"transactions_total"`
	// IdentifyPerTransaction bounds the username + password tries on one sign-in
	// per sign_on.password_failure_window.
	IdentifyPerTransaction int `yaml:"identify_per_transaction"`
	// RegistrationsPerIPPerHour bounds the registration profiles one client IP may
	// submit per hour (each can tell whether an address has an account).
	RegistrationsPerIPPerHour int `yaml:"registrations_per_ip_per_hour"`
	// HashQueueShare is the largest share of the password-hashing queue one
	// client IP may hold (0 < share <= 1).
	HashQueueShare float64 `yaml:"hash_queue_share"`
	// GCInterval is how often expired records are swept.
	GCInterval time.Duration `yaml:"gc_interval"`
}

// ManagementAPI is the Okta-shaped management API under /api/v1 (docs/admin-api.md).
type ManagementAPI struct {
	// Enabled serves the API. Off by default: the API can read every user, and a
	// deployment should choose to expose it on its sign-in listener.
	Enabled bool `yaml:"enabled"`
	// RateLimitPerMinute is each API token's budget of requests per minute.
	RateLimitPerMinute int `yaml:"rate_limit_per_minute"`
}

// SystemLog is the record of security-relevant events (GET /api/v1/logs, gatehouse
// logs tail) and the event hooks it is delivered to.
type SystemLog struct {
	// Retention is how long events are kept; garbage collection deletes older ones.
	Retention time.Duration `yaml:"retention"`
	// EventHooks are the endpoints every event is posted to (Okta's Event Hooks).
	EventHooks []EventHook `yaml:"event_hooks"`
}

// EventHook is an endpoint that gets system log events.
type EventHook struct {
	// Name identifies the hook in the outbox and in logs.
	Name string `yaml:"name"`
	// URL is where events are posted: https, or http to localhost or a loopback
	// address (development).
	URL string `yaml:"url"`
	// SecretEnv names an environment variable holding the secret deliveries are
	// signed with (HMAC-SHA256); SecretFile a file. One of the two is required.
	SecretEnv  string `yaml:"secret_env"`
	SecretFile string `yaml:"secret_file"`
	// Secret is the secret, read from SecretEnv or SecretFile by Load.
	Secret string `yaml:"-"`
	// EventTypes are the event types the hook gets; empty means all.
	EventTypes []string `yaml:"event_types"`
}

// Client is an OAuth 2.0 / OIDC client allowed to start sign-ins.
type Client struct {
	ID string `yaml:"id"`
	// Secret makes the client confidential; SecretEnv names an environment variable
	// holding it instead, SecretFile a file. Leave all three empty for a public
	// client (PKCE only).
	Secret                 string        `yaml:"secret"`
	SecretEnv              string        `yaml:"secret_env"`
	SecretFile             string        `yaml:"secret_file"`
	Name                   string        `yaml:"name"`
	RedirectURIs           []string      `yaml:"redirect_uris"`
	PostLogoutRedirectURIs []string      `yaml:"post_logout_redirect_uris"`
	Grants                 []string      `yaml:"grants"`
	Scopes                 []string      `yaml:"scopes"`
	AccessTokenTTL         time.Duration `yaml:"access_token_ttl"`
	IDTokenTTL             time.Duration `yaml:"id_token_ttl"`
	RefreshTokenTTL        time.Duration `yaml:"refresh_token_ttl"`
	// Public marks a client without credentials (PKCE only). A client with no
	// secret, no keys and no auth method is public too, as before this key existed.
	Public bool `yaml:"public"`
	// TokenEndpointAuthMethod is how the client authenticates where tokens are
	// issued: client_secret_basic, client_secret_post, private_key_jwt or none.
	// Empty lets a client with a secret use either client_secret_basic or
	// client_secret_post.
	TokenEndpointAuthMethod string `yaml:"token_endpoint_auth_method"`
	// JWKSURI and JWKS give the public keys of a private_key_jwt client: a URL the
	// engine fetches them from, or the key set itself.
	JWKSURI string `yaml:"jwks_uri"`
	JWKS    JWKSet `yaml:"jwks"`
	// BackchannelLogoutURI is where the engine posts logout tokens (OIDC
	// Back-Channel Logout).
	BackchannelLogoutURI string `yaml:"backchannel_logout_uri"`
}

// Token endpoint authentication methods (RFC 7591 2, OIDC Core 9).
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
	AuthNone              = "none"
)

// AuthMethods are the token endpoint authentication methods the engine supports.
var AuthMethods = []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthNone}

// JWKSet is a JSON Web Key Set as JSON text. In YAML it may be written as a string
// holding the JSON, or as a mapping ({keys: [...]}), which is turned into JSON.
type JWKSet string

// UnmarshalYAML accepts a JSON string or a YAML mapping.
func (j *JWKSet) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*j = JWKSet(n.Value)
		return nil
	case yaml.MappingNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return typeError("line %d: %v", n.Line, err)
		}
		*j = JWKSet(b)
		return nil
	default:
		return typeError("line %d: write the key set as a mapping ({keys: [...]}) or as a JSON string", n.Line)
	}
}

// PasswordHashing sets the argon2id cost and the hashing pool.
type PasswordHashing struct {
	MemoryKiB   uint32 `yaml:"memory_kib"`
	Iterations  uint32 `yaml:"iterations"`
	Parallelism uint8  `yaml:"parallelism"`
	// MaxConcurrent hashes at once; 0 means one per CPU.
	MaxConcurrent int `yaml:"max_concurrent"`
	// MaxQueue callers may wait for a slot; beyond that sign-in answers "too many
	// requests". 0 means 64 per slot.
	MaxQueue int `yaml:"max_queue"`
}

// Params returns the argon2id parameters.
func (p PasswordHashing) Params() password.Params {
	return password.Params{MemoryKiB: p.MemoryKiB, Iterations: p.Iterations, Parallelism: p.Parallelism}
}

// Phone is the phone authenticator.
type Phone struct {
	SMS           bool   `yaml:"sms"`
	Voice         bool   `yaml:"voice"`
	DefaultRegion string `yaml:"default_region"`
	// CodeTTL is how long a code stays valid.
	CodeTTL time.Duration `yaml:"code_ttl"`
	// MaxAttempts wrong codes in a row lock the user's phone factor for Lockout.
	MaxAttempts int           `yaml:"max_attempts"`
	Lockout     time.Duration `yaml:"lockout"`
	// SendInterval is the least time between two codes to one number.
	SendInterval time.Duration `yaml:"send_interval"`
	// At most MaxSends codes go to one number per SendWindow.
	MaxSends   int           `yaml:"max_sends"`
	SendWindow time.Duration `yaml:"send_window"`

	// AllowedRegions, when not empty, are the only countries (ISO 3166 alpha-2)
	// whose numbers may be enrolled and sent codes; BlockedRegions are never.
	AllowedRegions []string `yaml:"allowed_regions"`
	BlockedRegions []string `yaml:"blocked_regions"`
	// Per sign-in: codes sent (first and resends) and distinct numbers tried.
	MaxSendsPerTransaction   int `yaml:"max_sends_per_transaction"`
	MaxNumbersPerTransaction int `yaml:"max_numbers_per_transaction"`
	// Per user per day: codes sent in all, and to numbers the user has not verified.
	MaxSendsPerUserPerDay           int `yaml:"max_sends_per_user_per_day"`
	MaxUnverifiedSendsPerUserPerDay int `yaml:"max_unverified_sends_per_user_per_day"`
	// Per client IP per hour: codes sent in all, and to numbers not yet verified.
	MaxSendsPerIPPerHour           int `yaml:"max_sends_per_ip_per_hour"`
	MaxUnverifiedSendsPerIPPerHour int `yaml:"max_unverified_sends_per_ip_per_hour"`
	// MaxSendsPerHour is the deployment-wide circuit breaker: past it, only
	// numbers their users have already verified get codes.
	MaxSendsPerHour int `yaml:"max_sends_per_hour"`
}

// SignOn is the sign-on policy.
type SignOn struct {
	// RequirePhone asks for a phone code after the password.
	RequirePhone bool `yaml:"require_phone"`
	// PhoneEnrollment is "sign_in" (a user without a phone enrolls one while
	// signing in; YAML true means the same) or "admin_only" (phones are added by
	// an operator; such a user is refused; false means the same).
	PhoneEnrollment Enrollment `yaml:"phone_enrollment"`
	// TransactionTTL is how long a sign-in stays open after its last step.
	TransactionTTL time.Duration `yaml:"transaction_ttl"`
	// InteractionCodeTTL is how long the code that ends a sign-in can be redeemed.
	InteractionCodeTTL time.Duration `yaml:"interaction_code_ttl"`
	// MaxPasswordFailures wrong passwords for one username within
	// PasswordFailureWindow make further tries for it wait until the window ends.
	MaxPasswordFailures   int           `yaml:"max_password_failures"`
	PasswordFailureWindow time.Duration `yaml:"password_failure_window"`
	// UnknownSourcePasswordChecks bounds the password checks for one username
	// per hour from every source (device or client IP) that has never completed
	// a sign-in as that user, together.
	UnknownSourcePasswordChecks int `yaml:"unknown_source_password_checks"`
	// KnownSourceLifetime is how long a device or client IP that completed a
	// sign-in stays known for that user.
	KnownSourceLifetime time.Duration `yaml:"known_source_lifetime"`
	// SessionLifetime bounds an SSO session from the sign-in that started it;
	// SessionIdleTimeout ends it when the browser has not used it that long.
	SessionLifetime    time.Duration `yaml:"session_lifetime"`
	SessionIdleTimeout time.Duration `yaml:"session_idle_timeout"`
	// MFAEverySignIn makes every /v1/authorize run the whole sign-in again, even
	// within a live session (default off: a session signs in to further clients
	// without a page, as Okta's default session policy).
	MFAEverySignIn bool `yaml:"mfa_every_sign_in"`
	// TOTP offers an authenticator app (RFC 6238, Okta's google_otp) as a second
	// factor besides the phone: verified when enrolled, offered for enrollment.
	TOTP bool `yaml:"totp"`
	// PasswordRecovery offers "forgot password": a code to the user's phone, then
	// a new password.
	PasswordRecovery bool `yaml:"password_recovery"`
	// SelfRegistration offers "create account" to anyone who can reach the
	// sign-in, with RegistrationFields besides the email address.
	SelfRegistration   bool     `yaml:"self_registration"`
	RegistrationFields []string `yaml:"registration_fields"`
}

// Enrollment is who may enroll a phone: EnrollSignIn or EnrollAdminOnly.
type Enrollment string

// The values of sign_on.phone_enrollment.
const (
	EnrollSignIn    Enrollment = "sign_in"
	EnrollAdminOnly Enrollment = "admin_only"
)

// UnmarshalYAML accepts sign_in, admin_only, and the booleans the key once took.
func (e *Enrollment) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "true", "sign_in":
		*e = EnrollSignIn
	case "false", "admin_only":
		*e = EnrollAdminOnly
	default:
		return typeError("line %d: %q is not one of sign_in, admin_only", n.Line, n.Value)
	}
	return nil
}

// Messaging chooses how codes reach phones.
type Messaging struct {
	// Provider is "outbox" (print and keep; for development), "twilio" or "webhook".
	Provider string  `yaml:"provider"`
	Twilio   Twilio  `yaml:"twilio"`
	Webhook  Webhook `yaml:"webhook"`
	// MaxDeliveryTime bounds retries of one message before it is given up.
	MaxDeliveryTime time.Duration `yaml:"max_delivery_time"`
}

// Twilio sends SMS through the Messages API and calls through the Calls API.
type Twilio struct {
	AccountSID    string `yaml:"account_sid"`
	AuthToken     string `yaml:"auth_token"`
	AuthTokenEnv  string `yaml:"auth_token_env"`
	AuthTokenFile string `yaml:"auth_token_file"`
	// From is the Twilio number (E.164) texts and calls come from.
	From string `yaml:"from"`
	// MessagingServiceSID may replace From for texts.
	MessagingServiceSID string `yaml:"messaging_service_sid"`
	// BaseURL overrides Twilio's API host, for tests against a local server.
	BaseURL string        `yaml:"base_url"`
	Timeout time.Duration `yaml:"timeout"`
}

// Webhook posts each message as JSON to a gateway of your own.
type Webhook struct {
	URL string `yaml:"url"`
	// Secret signs each body with HMAC-SHA256 (header X-Gatehouse-Signature).
	Secret     string        `yaml:"secret"`
	SecretEnv  string        `yaml:"secret_env"`
	SecretFile string        `yaml:"secret_file"`
	Timeout    time.Duration `yaml:"timeout"`
}

// CORS lists the browser origins (scheme://host[:port]) allowed to call the engine
// with credentials, as the Okta Sign-In Widget and okta-auth-js do in browsers.
type CORS struct {
	AllowedOrigins []string `yaml:"allowed_origins"`
}

// Secrets are server-side keys.
type Secrets struct {
	// OTPKeyEnv names an environment variable holding the base64 key (32 bytes or
	// more) that one-time codes are HMAC'd with. Without it, a key is generated on
	// first start and kept in the database, shared by every node.
	OTPKeyEnv string `yaml:"otp_key_env"`
	// OTPKeyFile names a file holding that key instead.
	OTPKeyFile string `yaml:"otp_key_file"`
	// OTPKey is the key's base64 text, read from OTPKeyEnv or OTPKeyFile by Load.
	OTPKey string `yaml:"-"`
}

// Keys are the key-encryption key (KEK) that seals signing keys and server secrets
// in the database, and the signing-key rotation schedule.
type Keys struct {
	// EncryptionKeyFile is a file holding the KEK: 32 random bytes in standard
	// base64 (gatehouse keys generate-kek makes one).
	EncryptionKeyFile string `yaml:"encryption_key_file"`
	// EncryptionKeyEnv names an environment variable holding the KEK, base64.
	// Without either, SQLite deployments keep the KEK in <database file>.kek,
	// created on first start; PostgreSQL deployments must set one.
	EncryptionKeyEnv string `yaml:"encryption_key_env"`
	// PublishBeforeUse is how long a key added by gatehouse keys rotate is
	// published in the JWKS before it signs: longer than clients cache the JWKS.
	PublishBeforeUse time.Duration `yaml:"publish_before_use"`
}

// Defaults returns a configuration with every default filled in and no clients.
func Defaults() Config {
	return Config{
		Listen:      "127.0.0.1:8080",
		LogLevel:    "info",
		ProductName: "Gatehouse",
		Server:      Server{ShutdownDrain: 5 * time.Second},
		PasswordHashing: PasswordHashing{
			MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1,
		},
		Phone: Phone{
			SMS: true, Voice: true, DefaultRegion: "US",
			CodeTTL: 5 * time.Minute, MaxAttempts: 5, Lockout: 5 * time.Minute,
			SendInterval: 30 * time.Second, MaxSends: 5, SendWindow: 15 * time.Minute,
			MaxSendsPerTransaction: 3, MaxNumbersPerTransaction: 3,
			MaxSendsPerUserPerDay: 10, MaxUnverifiedSendsPerUserPerDay: 3,
			MaxSendsPerIPPerHour: 30, MaxUnverifiedSendsPerIPPerHour: 10,
			MaxSendsPerHour: 1000,
		},
		SignOn: SignOn{
			RequirePhone: true, PhoneEnrollment: EnrollSignIn,
			TransactionTTL: 30 * time.Minute, InteractionCodeTTL: 60 * time.Second,
			MaxPasswordFailures: 10, PasswordFailureWindow: 15 * time.Minute,
			UnknownSourcePasswordChecks: 100, KnownSourceLifetime: 90 * 24 * time.Hour,
			SessionLifetime: 12 * time.Hour, SessionIdleTimeout: 2 * time.Hour,
			TOTP: true, PasswordRecovery: true, RegistrationFields: []string{"firstName", "lastName"},
		},
		RateLimits: RateLimits{
			RequestsPerIPPerMinute: 300, TransactionsPerIP: 200, TransactionsTotal: 200_000,
			IdentifyPerTransaction: 10, HashQueueShare: 0.25, GCInterval: 5 * time.Minute,
			RegistrationsPerIPPerHour: 20,
		},
		Keys:          Keys{PublishBeforeUse: 10 * time.Minute},
		ManagementAPI: ManagementAPI{RateLimitPerMinute: 600},
		SystemLog:     SystemLog{Retention: 90 * 24 * time.Hour},
		Messaging: Messaging{
			Provider: "outbox", MaxDeliveryTime: 2 * time.Minute,
			Twilio: Twilio{Timeout: 10 * time.Second}, Webhook: Webhook{Timeout: 10 * time.Second},
		},
	}
}

// ClientDefaults fills what a client entry may leave out.
func ClientDefaults(c Client) Client {
	if len(c.Grants) == 0 {
		c.Grants = []string{GrantInteractionCode}
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"openid", "profile", "email", "phone"}
		if slices.Contains(c.Grants, GrantRefreshToken) {
			c.Scopes = append(c.Scopes, "offline_access")
		}
	}
	if c.AccessTokenTTL == 0 {
		c.AccessTokenTTL = time.Hour
	}
	if c.IDTokenTTL == 0 {
		c.IDTokenTTL = time.Hour
	}
	if c.RefreshTokenTTL == 0 {
		c.RefreshTokenTTL = 30 * 24 * time.Hour
	}
	return c
}

// Grant types a client may be allowed.
const (
	GrantInteractionCode   = "interaction_code"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

// Scopes the engine knows.
var KnownScopes = []string{"openid", "profile", "email", "phone", "offline_access"}

// Validate checks every value and returns all problems at once, each naming its key,
// one a line.
func (c *Config) Validate() error {
	var errs []string
	c.validate(func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) })
	if len(errs) > 0 {
		return &Error{Problems: errs}
	}
	return nil
}

// validate reports each problem with add, its message starting with the key.
func (c *Config) validate(add func(string, ...any)) {

	if err := ValidateIssuer(c.Issuer); err != nil {
		add("issuer: %v", err)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen: %q is not host:port", c.Listen)
	}
	if c.MetricsListen != "" && c.MetricsListen != "off" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			add("metrics_listen: %q is not host:port, empty or off", c.MetricsListen)
		}
	}
	if _, _, err := ParseDatabase(c.Database); err != nil {
		add("database: %v", err)
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		add("log_level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	if strings.TrimSpace(c.ProductName) == "" || len(c.ProductName) > 40 {
		add("product_name: must be 1 to 40 characters")
	}

	seen := map[string]bool{}
	for i, cl := range c.Clients {
		key := fmt.Sprintf("clients[%d]", i)
		if cl.ID != "" && seen[cl.ID] {
			add("%s.id: %q is listed twice", key, cl.ID)
		}
		seen[cl.ID] = true
		for _, p := range cl.Problems() {
			add("%s.%s", key, p)
		}
	}

	ph := c.PasswordHashing
	if err := ph.Params().Validate(); err != nil {
		add("password_hashing: %v", err)
	}
	if ph.MaxConcurrent < 0 || ph.MaxConcurrent > 1024 {
		add("password_hashing.max_concurrent: %d is not between 0 and 1024", ph.MaxConcurrent)
	}
	if ph.MaxQueue < 0 {
		add("password_hashing.max_queue: must not be negative")
	}

	p := c.Phone
	if !p.SMS && !p.Voice && c.SignOn.RequirePhone {
		add("phone: sms and voice are both off but sign_on.require_phone is on")
	}
	if !regionPattern.MatchString(p.DefaultRegion) {
		add("phone.default_region: %q is not a two-letter country code such as US", p.DefaultRegion)
	}
	checkDuration(add, "phone.code_ttl", p.CodeTTL, 30*time.Second, 30*time.Minute)
	if p.MaxAttempts < 1 || p.MaxAttempts > 20 {
		add("phone.max_attempts: %d is not between 1 and 20", p.MaxAttempts)
	}
	checkDuration(add, "phone.lockout", p.Lockout, time.Minute, 24*time.Hour)
	checkDuration(add, "phone.send_interval", p.SendInterval, 10*time.Second, time.Hour)
	if p.MaxSends < 1 || p.MaxSends > 100 {
		add("phone.max_sends: %d is not between 1 and 100", p.MaxSends)
	}
	checkDuration(add, "phone.send_window", p.SendWindow, time.Minute, 24*time.Hour)

	for i, r := range p.AllowedRegions {
		if !regionPattern.MatchString(r) {
			add("phone.allowed_regions[%d]: %q is not a two-letter country code such as US", i, r)
		}
	}
	for i, r := range p.BlockedRegions {
		if !regionPattern.MatchString(r) {
			add("phone.blocked_regions[%d]: %q is not a two-letter country code such as US", i, r)
		}
	}
	if len(p.AllowedRegions) > 0 && !slices.Contains(p.AllowedRegions, p.DefaultRegion) {
		add("phone.allowed_regions: does not include phone.default_region %s", p.DefaultRegion)
	}
	checkCount(add, "phone.max_sends_per_transaction", p.MaxSendsPerTransaction, 1, 20)
	checkCount(add, "phone.max_numbers_per_transaction", p.MaxNumbersPerTransaction, 1, 20)
	checkCount(add, "phone.max_sends_per_user_per_day", p.MaxSendsPerUserPerDay, 1, 1000)
	checkCount(add, "phone.max_unverified_sends_per_user_per_day", p.MaxUnverifiedSendsPerUserPerDay, 1, 1000)
	checkCount(add, "phone.max_sends_per_ip_per_hour", p.MaxSendsPerIPPerHour, 1, 1_000_000)
	checkCount(add, "phone.max_unverified_sends_per_ip_per_hour", p.MaxUnverifiedSendsPerIPPerHour, 1, 1_000_000)
	checkCount(add, "phone.max_sends_per_hour", p.MaxSendsPerHour, 1, 100_000_000)

	for i, cidr := range c.Server.TrustedProxies {
		if _, err := ParseTrustedProxy(cidr); err != nil {
			add("server.trusted_proxies[%d]: %v", i, err)
		}
	}
	checkDuration(add, "server.shutdown_drain", c.Server.ShutdownDrain, 0, 5*time.Minute)
	rl := c.RateLimits
	checkCount(add, "rate_limits.requests_per_ip_per_minute", rl.RequestsPerIPPerMinute, 10, 10_000_000)
	checkCount(add, "rate_limits.transactions_per_ip", rl.TransactionsPerIP, 1, 10_000_000)
	checkCount(add, "rate_limits.transactions_total", rl.TransactionsTotal, 100, 100_000_000)
	checkCount(add, "rate_limits.identify_per_transaction", rl.IdentifyPerTransaction, 1, 1000)
	checkCount(add, "rate_limits.registrations_per_ip_per_hour", rl.RegistrationsPerIPPerHour, 1, 1_000_000)
	if !(rl.HashQueueShare > 0 && rl.HashQueueShare <= 1) {
		add("rate_limits.hash_queue_share: %v is not above 0 and at most 1", rl.HashQueueShare)
	}
	checkDuration(add, "rate_limits.gc_interval", rl.GCInterval, 10*time.Second, time.Hour)
	checkCount(add, "management_api.rate_limit_per_minute", c.ManagementAPI.RateLimitPerMinute, 1, 1_000_000)
	c.validateSystemLog(add)

	s := c.SignOn
	if s.SelfRegistration && s.RequirePhone && s.PhoneEnrollment == EnrollAdminOnly {
		add("sign_on.self_registration: a new account could never sign in: sign_on.require_phone needs a second factor and sign_on.phone_enrollment is admin_only (set it to sign_in)")
	}
	fieldSeen := map[string]bool{}
	for i, f := range s.RegistrationFields {
		switch {
		case f != "firstName" && f != "lastName" && f != "locale":
			add("sign_on.registration_fields[%d]: %q is not one of firstName, lastName, locale (email is always asked for)", i, f)
		case fieldSeen[f]:
			add("sign_on.registration_fields[%d]: %q is listed twice", i, f)
		}
		fieldSeen[f] = true
	}
	checkCount(add, "sign_on.unknown_source_password_checks", s.UnknownSourcePasswordChecks, 1, 100_000)
	checkDuration(add, "sign_on.known_source_lifetime", s.KnownSourceLifetime, time.Hour, 366*24*time.Hour)
	checkDuration(add, "sign_on.session_lifetime", s.SessionLifetime, 5*time.Minute, 90*24*time.Hour)
	checkDuration(add, "sign_on.session_idle_timeout", s.SessionIdleTimeout, time.Minute, 90*24*time.Hour)
	if s.SessionIdleTimeout > s.SessionLifetime && s.SessionLifetime > 0 {
		add("sign_on.session_idle_timeout: %v is longer than sign_on.session_lifetime (%v)", s.SessionIdleTimeout, s.SessionLifetime)
	}
	checkDuration(add, "sign_on.transaction_ttl", s.TransactionTTL, time.Minute, 24*time.Hour)
	checkDuration(add, "sign_on.interaction_code_ttl", s.InteractionCodeTTL, 5*time.Second, 60*time.Second)
	if s.MaxPasswordFailures < 1 || s.MaxPasswordFailures > 1000 {
		add("sign_on.max_password_failures: %d is not between 1 and 1000", s.MaxPasswordFailures)
	}
	checkDuration(add, "sign_on.password_failure_window", s.PasswordFailureWindow, time.Minute, 24*time.Hour)

	m := c.Messaging
	switch m.Provider {
	case "outbox":
	case "twilio":
		if !strings.HasPrefix(m.Twilio.AccountSID, "AC") {
			add("messaging.twilio.account_sid: required, starts with AC")
		}
		if m.Twilio.AuthToken == "" {
			add("messaging.twilio: auth_token, auth_token_env or auth_token_file is required")
		}
		if m.Twilio.From == "" && m.Twilio.MessagingServiceSID == "" {
			add("messaging.twilio.from: required (or messaging_service_sid for texts)")
		}
		if m.Twilio.From == "" && c.Phone.Voice {
			add("messaging.twilio.from: required for voice calls")
		}
		if m.Twilio.BaseURL != "" {
			if _, err := absoluteHTTPURL(m.Twilio.BaseURL); err != nil {
				add("messaging.twilio.base_url: %v", err)
			}
		}
	case "webhook":
		if _, err := absoluteHTTPURL(m.Webhook.URL); err != nil {
			add("messaging.webhook.url: %v", err)
		}
		if len(m.Webhook.Secret) < 16 {
			add("messaging.webhook: secret, secret_env or secret_file is required (at least 16 characters)")
		}
	default:
		add("messaging.provider: %q is not one of outbox, twilio, webhook", m.Provider)
	}
	checkDuration(add, "messaging.max_delivery_time", m.MaxDeliveryTime, 10*time.Second, time.Hour)
	// A send must finish well inside the worker's 30-second claim on the message,
	// or another node could claim and send it again.
	checkDuration(add, "messaging.twilio.timeout", m.Twilio.Timeout, time.Second, 15*time.Second)
	checkDuration(add, "messaging.webhook.timeout", m.Webhook.Timeout, time.Second, 15*time.Second)

	for i, o := range c.CORS.AllowedOrigins {
		if err := validateOrigin(o); err != nil {
			add("cors.allowed_origins[%d]: %v", i, err)
		}
	}
	c.validateKeys(add)
}

// Problems checks one client entry, with its defaults filled in (ClientDefaults)
// and its secret resolved, and returns every problem, each starting with the key it
// is about ("redirect_uris[0]: …"). The configuration file and "gatehouse clients
// add" apply the same rules.
func (cl Client) Problems() []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if cl.ID == "" {
		add("id: required")
	} else if !clientIDPattern.MatchString(cl.ID) {
		add("id: %q may only hold letters, digits, '.', '_' and '-' (at most 128)", cl.ID)
	}
	if cl.Secret != "" && len(cl.Secret) < 16 {
		add("secret: at least 16 characters")
	}
	if len(cl.RedirectURIs) == 0 {
		add("redirect_uris: at least one is needed")
	}
	for j, u := range cl.RedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			add("redirect_uris[%d]: %v", j, err)
		}
	}
	for j, u := range cl.PostLogoutRedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			add("post_logout_redirect_uris[%d]: %v", j, err)
		}
	}
	for j, g := range cl.Grants {
		if g != GrantInteractionCode && g != GrantAuthorizationCode && g != GrantRefreshToken {
			add("grants[%d]: %q is not one of interaction_code, authorization_code, refresh_token", j, g)
		}
	}
	if !slices.Contains(cl.Grants, GrantInteractionCode) && !slices.Contains(cl.Grants, GrantAuthorizationCode) {
		add("grants: must include interaction_code or authorization_code (the ways to sign in)")
	}
	for j, s := range cl.Scopes {
		if !slices.Contains(KnownScopes, s) {
			add("scopes[%d]: %q is not one of %s", j, s, strings.Join(KnownScopes, ", "))
		}
	}
	if !slices.Contains(cl.Scopes, "openid") {
		add("scopes: must include openid")
	}
	if slices.Contains(cl.Scopes, "offline_access") && !slices.Contains(cl.Grants, GrantRefreshToken) {
		add("scopes: offline_access needs the refresh_token grant")
	}
	checkDuration(add, "access_token_ttl", cl.AccessTokenTTL, time.Minute, 24*time.Hour)
	checkDuration(add, "id_token_ttl", cl.IDTokenTTL, time.Minute, 24*time.Hour)
	checkDuration(add, "refresh_token_ttl", cl.RefreshTokenTTL, time.Hour, 366*24*time.Hour)

	method := cl.TokenEndpointAuthMethod
	hasKeys := cl.JWKSURI != "" || cl.JWKS != ""
	switch {
	case method != "" && !slices.Contains(AuthMethods, method):
		add("token_endpoint_auth_method: %q is not one of %s", method, strings.Join(AuthMethods, ", "))
	case cl.Public && method != "" && method != AuthNone:
		add("token_endpoint_auth_method: a public client authenticates with none, not %s", method)
	case cl.Public && cl.Secret != "":
		add("secret: a public client has no secret; leave out public or the secret")
	case method == AuthNone && cl.Secret != "":
		add("secret: unused with token_endpoint_auth_method none; leave it out")
	case (method == AuthClientSecretBasic || method == AuthClientSecretPost) && cl.Secret == "":
		add("secret: required with token_endpoint_auth_method %s (or secret_env or secret_file)", method)
	case method == AuthPrivateKeyJWT && cl.Secret != "":
		add("secret: unused with token_endpoint_auth_method private_key_jwt; leave it out")
	case method == AuthPrivateKeyJWT && !hasKeys:
		add("token_endpoint_auth_method: private_key_jwt needs the client's public keys in jwks or jwks_uri")
	case method == AuthPrivateKeyJWT && cl.JWKSURI != "" && cl.JWKS != "":
		add("jwks: give jwks or jwks_uri, not both")
	case method != AuthPrivateKeyJWT && hasKeys:
		add("jwks_uri: keys are only used with token_endpoint_auth_method private_key_jwt")
	}
	if cl.JWKSURI != "" {
		if err := validateJWKSURI(cl.JWKSURI); err != nil {
			add("jwks_uri: %v", err)
		}
	}
	if cl.JWKS != "" {
		if _, err := ParseClientJWKS([]byte(cl.JWKS)); err != nil {
			add("jwks: %v", err)
		}
	}
	if cl.BackchannelLogoutURI != "" {
		if err := validateRedirectURI(cl.BackchannelLogoutURI); err != nil {
			add("backchannel_logout_uri: %v", err)
		}
	}
	return errs
}

// validateJWKSURI accepts an https URL, or an http one on a loopback host (for
// development): keys fetched over plain HTTP could be swapped on the way.
func validateJWKSURI(s string) error {
	u, err := absoluteHTTPURL(s)
	if err != nil {
		return err
	}
	if u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must not carry a fragment or user info", s)
	}
	if u.Scheme == "http" {
		host := u.Hostname()
		ip, err := netip.ParseAddr(host)
		if host != "localhost" && (err != nil || !ip.IsLoopback()) {
			return fmt.Errorf("%q must be https (http only for localhost and loopback addresses)", s)
		}
	}
	return nil
}

// maxJWKSBytes bounds a client's key set, registered or fetched.
const maxJWKSBytes = 64 << 10

// ParseClientJWKS reads a client's JSON Web Key Set and returns the keys that can
// verify its assertions: public RSA keys of at least 2048 bits and P-256 EC keys
// whose use (if given) is "sig" and whose alg (if given) is RS256 or ES256. Other
// keys (for encryption, other curves) are skipped; a private key or a set without
// any usable key is an error.
func ParseClientJWKS(data []byte) ([]jose.JSONWebKey, error) {
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("the key set is over %d KiB", maxJWKSBytes>>10)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %v", err)
	}
	var keys []jose.JSONWebKey
	for i, k := range set.Keys {
		if !k.IsPublic() {
			return nil, fmt.Errorf("keys[%d] is a private key; register the public key only", i)
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch pub := k.Key.(type) {
		case *rsa.PublicKey:
			if pub.N.BitLen() >= 2048 && (k.Algorithm == "" || k.Algorithm == string(jose.RS256)) {
				keys = append(keys, k)
			}
		case *ecdsa.PublicKey:
			if pub.Curve == elliptic.P256() && (k.Algorithm == "" || k.Algorithm == string(jose.ES256)) {
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no key for signatures with RS256 (RSA, 2048 bits or more) or ES256 (EC P-256)")
	}
	return keys, nil
}

// validateKeys checks the keys section. PostgreSQL has no file next to the database
// to keep a KEK in, and every node must use the same one, so it must be configured.
func (c *Config) validateKeys(add func(string, ...any)) {
	k := c.Keys
	if k.EncryptionKeyFile != "" && k.EncryptionKeyEnv != "" {
		add("keys: set encryption_key_file or encryption_key_env, not both")
	}
	if k.EncryptionKeyEnv != "" {
		if v, ok := os.LookupEnv(k.EncryptionKeyEnv); !ok || v == "" {
			add("keys.encryption_key_env: environment variable %s is not set", k.EncryptionKeyEnv)
		}
	}
	if driver, _, err := ParseDatabase(c.Database); err == nil && driver == "postgres" && k.EncryptionKeyFile == "" && k.EncryptionKeyEnv == "" {
		add("keys: with PostgreSQL, set keys.encryption_key_file (or keys.encryption_key_env) to the key-encryption key " +
			"that seals signing keys in the database, the same on every node; make one with: " +
			"gatehouse keys generate-kek > /etc/gatehouse/kek && chmod 600 /etc/gatehouse/kek")
	}
	// JWKS responses may be cached for 300 s and each node reloads keys every
	// minute: a key must be published longer than that before it signs.
	checkDuration(add, "keys.publish_before_use", k.PublishBeforeUse, 6*time.Minute, 7*24*time.Hour)
}

var (
	clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)
	regionPattern   = regexp.MustCompile(`^[A-Z]{2}$`)
	authzServerName = regexp.MustCompile(`^/oauth2/[A-Za-z0-9_-]{1,64}$`)
)

func checkCount(add func(string, ...any), key string, n, min, max int) {
	if n < min || n > max {
		add("%s: %d is not between %d and %d", key, n, min, max)
	}
}

// ParseTrustedProxy reads one server.trusted_proxies entry: a CIDR such as
// 10.0.0.0/8, or a single address, which stands for itself alone.
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or a CIDR such as 10.0.0.0/8", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func checkDuration(add func(string, ...any), key string, d, min, max time.Duration) {
	if d < min || d > max {
		add("%s: %s is not between %s and %s", key, d, min, max)
	}
}

// ValidateIssuer accepts the two issuer shapes docs/protocol.md allows.
func ValidateIssuer(issuer string) error {
	if issuer == "" {
		return errors.New("required, e.g. https://id.example.com/oauth2/default")
	}
	u, err := absoluteHTTPURL(issuer)
	if err != nil {
		return err
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("must not carry a query, fragment or user info")
	}
	if strings.HasSuffix(issuer, "/") {
		return errors.New("must not end with a slash")
	}
	if u.Path != "" && !authzServerName.MatchString(u.Path) {
		return fmt.Errorf("path %q must be empty or /oauth2/<name>", u.Path)
	}
	return nil
}

func absoluteHTTPURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return u, nil
}

func validateRedirectURI(s string) error {
	u, err := absoluteHTTPURL(s)
	if err != nil {
		return err
	}
	if u.Fragment != "" {
		return fmt.Errorf("%q must not carry a fragment", s)
	}
	return nil
}

func validateOrigin(s string) error {
	u, err := absoluteHTTPURL(s)
	if err != nil {
		return err
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must be scheme://host[:port] only", s)
	}
	return nil
}

// ParseDatabase splits the database setting into a driver ("sqlite" or "postgres")
// and what that driver opens.
func ParseDatabase(s string) (driver, target string, err error) {
	switch {
	case s == "":
		return "", "", errors.New("required: sqlite:<path> or postgres://…")
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return "postgres", s, nil
	case strings.HasPrefix(s, "sqlite:"):
		target = strings.TrimPrefix(s, "sqlite:")
	case strings.Contains(s, "://"):
		return "", "", fmt.Errorf("unknown database URL scheme in %q; use sqlite:<path> or postgres://…", redactDSN(s))
	default:
		target = s
	}
	if target == "" {
		return "", "", errors.New("sqlite: needs a file path")
	}
	return "sqlite", target, nil
}

func redactDSN(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparseable>"
	}
	return u.Redacted()
}

// Client returns the client with id, if configured.
func (c *Config) Client(id string) (Client, bool) {
	for _, cl := range c.Clients {
		if cl.ID == id {
			return cl, true
		}
	}
	return Client{}, false
}

// hookName is what an event hook may be called.
var hookName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// eventTypeName is what an event type looks like.
var eventTypeName = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)+$`)

func (c Config) validateSystemLog(add func(string, ...any)) {
	sl := c.SystemLog
	checkDuration(add, "system_log.retention", sl.Retention, 24*time.Hour, 10*366*24*time.Hour)
	seen := map[string]bool{}
	for i, h := range sl.EventHooks {
		key := fmt.Sprintf("system_log.event_hooks[%d]", i)
		switch {
		case !hookName.MatchString(h.Name):
			add("%s.name: %q must be 1 to 64 letters, digits, _ or -", key, h.Name)
		case seen[h.Name]:
			add("%s.name: %q is used twice", key, h.Name)
		}
		seen[h.Name] = true
		u, err := url.Parse(h.URL)
		switch {
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			// The URL may carry a token of the receiver's: it is not repeated.
			add("%s.url: not an absolute https URL", key)
		case u.Fragment != "" || u.User != nil:
			add("%s.url: must not carry a fragment or user info", key)
		case u.Scheme == "http" && !loopbackHost(u.Hostname()) && !c.AllowInsecureDevelopmentSettings:
			add("%s.url: must be https (http only to localhost and loopback addresses, or with allow_insecure_development_settings)", key)
		}
		if len(h.Secret) < 16 {
			add("%s: secret_env or secret_file is required (a secret of at least 16 characters)", key)
		}
		for j, t := range h.EventTypes {
			if !eventTypeName.MatchString(t) {
				add("%s.event_types[%d]: %q is not an event type such as user.session.start", key, j, t)
			}
		}
	}
}

// loopbackHost reports whether host is localhost or a loopback address.
func loopbackHost(host string) bool {
	ip, err := netip.ParseAddr(host)
	return host == "localhost" || (err == nil && ip.IsLoopback())
}
