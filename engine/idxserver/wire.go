package idxserver

// The JSON shapes of IDX responses (docs/protocol.md). Field order follows Okta's
// recorded responses; clients do not depend on it, but people comparing captures do.

// Media types of the IDX protocol (docs/protocol.md).
const (
	// responseType is what IDX responses are labelled: okta-auth-js only fills its
	// responseJSON for types containing "application/json", which its introspect
	// error path needs.
	responseType = "application/json; okta-version=1.0.0"
	acceptsType  = "application/json; okta-version=1.0.0"
	producesType = "application/ion+json; okta-version=1.0.0"
	formType     = "application/x-www-form-urlencoded"
	idxVersion   = "1.0.0"
)

// Response is one IDX state.
type Response struct {
	Version                        string                 `json:"version"`
	StateHandle                    string                 `json:"stateHandle,omitempty"`
	ExpiresAt                      string                 `json:"expiresAt,omitempty"`
	Intent                         string                 `json:"intent,omitempty"`
	Remediation                    *List[Form]            `json:"remediation,omitempty"`
	Messages                       *List[Message]         `json:"messages,omitempty"`
	CurrentAuthenticatorEnrollment *Object[Authenticator] `json:"currentAuthenticatorEnrollment,omitempty"`
	CurrentAuthenticator           *Object[Authenticator] `json:"currentAuthenticator,omitempty"`
	EnrollmentAuthenticator        *Object[Authenticator] `json:"enrollmentAuthenticator,omitempty"`
	Authenticators                 *List[Authenticator]   `json:"authenticators,omitempty"`
	AuthenticatorEnrollments       *List[Authenticator]   `json:"authenticatorEnrollments,omitempty"`
	User                           *Object[User]          `json:"user,omitempty"`
	Cancel                         *Form                  `json:"cancel,omitempty"`
	App                            *Object[App]           `json:"app,omitempty"`
	SuccessWithInteractionCode     *Form                  `json:"successWithInteractionCode,omitempty"`
}

// List is Okta's array wrapper {"type":"array","value":[…]}.
type List[T any] struct {
	Type  string `json:"type"`
	Value []T    `json:"value"`
}

func list[T any](v ...T) *List[T] {
	if v == nil {
		v = []T{} // an empty list is [], never null
	}
	return &List[T]{Type: "array", Value: v}
}

// Object is Okta's object wrapper {"type":"object","value":{…}}. okta-auth-js only
// finds actions nested in a member (such as resend) inside this wrapper.
type Object[T any] struct {
	Type  string `json:"type"`
	Value T      `json:"value"`
}

func object[T any](v T) *Object[T] { return &Object[T]{Type: "object", Value: v} }

// Form is a remediation or an action: something the client can post.
type Form struct {
	Rel       []string `json:"rel"`
	Name      string   `json:"name"`
	RelatesTo []string `json:"relatesTo,omitempty"`
	Href      string   `json:"href"`
	Method    string   `json:"method"`
	Produces  string   `json:"produces,omitempty"`
	Value     []Field  `json:"value"`
	Accepts   string   `json:"accepts"`
}

// Field is one input of a Form.
type Field struct {
	Name     string         `json:"name"`
	Label    string         `json:"label,omitempty"`
	Type     string         `json:"type,omitempty"`
	Value    any            `json:"value,omitempty"`
	Form     *FieldForm     `json:"form,omitempty"`
	Options  []Option       `json:"options,omitempty"`
	Required *bool          `json:"required,omitempty"`
	Secret   bool           `json:"secret,omitempty"`
	Visible  *bool          `json:"visible,omitempty"`
	Mutable  *bool          `json:"mutable,omitempty"`
	Messages *List[Message] `json:"messages,omitempty"`
}

// FieldForm holds the fields of a nested object field.
type FieldForm struct {
	Value []Field `json:"value"`
}

// Option is one choice of a Field. Value is a string (a method type) or an
// OptionForm (an authenticator).
type Option struct {
	Label     string `json:"label"`
	Value     any    `json:"value"`
	RelatesTo string `json:"relatesTo,omitempty"`
}

// OptionForm is the value of an authenticator option.
type OptionForm struct {
	Form FieldForm `json:"form"`
}

// Message is a user-facing message with its i18n key.
type Message struct {
	Message string `json:"message"`
	I18n    I18n   `json:"i18n"`
	Class   string `json:"class"`
}

// I18n names the message for clients that translate it.
type I18n struct {
	Key    string   `json:"key"`
	Params []string `json:"params"`
}

// Authenticator is an authenticator or an enrollment of one.
type Authenticator struct {
	// Profile is what an enrollment shows of itself: a phone's masked number.
	Profile map[string]string `json:"profile,omitempty"`
	// ContextualData is what enrolling an app shows: its QR code and secret.
	ContextualData map[string]any `json:"contextualData,omitempty"`
	// Recover is the password's recover action (password recovery).
	Recover     *Form             `json:"recover,omitempty"`
	Resend      *Form             `json:"resend,omitempty"`
	Type        string            `json:"type"`
	Key         string            `json:"key"`
	ID          string            `json:"id"`
	DisplayName string            `json:"displayName"`
	Methods     []Method          `json:"methods"`
	Settings    *PasswordSettings `json:"settings,omitempty"`
}

// PasswordSettings are the password policy's rules, as Okta shows them with a
// password to be chosen.
type PasswordSettings struct {
	Complexity PasswordComplexity `json:"complexity"`
	Age        PasswordAge        `json:"age"`
}

// PasswordComplexity is the rule a new password must meet.
type PasswordComplexity struct {
	MinLength         int      `json:"minLength"`
	MinLowerCase      int      `json:"minLowerCase"`
	MinUpperCase      int      `json:"minUpperCase"`
	MinNumber         int      `json:"minNumber"`
	MinSymbol         int      `json:"minSymbol"`
	ExcludeUsername   bool     `json:"excludeUsername"`
	ExcludeAttributes []string `json:"excludeAttributes"`
}

// PasswordAge: Gatehouse keeps no password history and no minimum age.
type PasswordAge struct {
	MinAgeMinutes int `json:"minAgeMinutes"`
	HistoryCount  int `json:"historyCount"`
}

// Method is a way an authenticator can be used.
type Method struct {
	Type string `json:"type"`
}

// User is the signed-in user as the IDX response shows them.
type User struct {
	ID         string      `json:"id"`
	Identifier string      `json:"identifier,omitempty"`
	Profile    UserProfile `json:"profile"`
}

// UserProfile is the part of the profile the IDX response shows.
type UserProfile struct {
	FirstName string `json:"firstName,omitempty"`
	LastName  string `json:"lastName,omitempty"`
	Locale    string `json:"locale,omitempty"`
}

// App is the client the user is signing in to.
type App struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	ID    string `json:"id"`
}

func ptr[T any](v T) *T { return &v }

// field constructors for the shapes the protocol repeats.

// fixed is an immutable, required field carrying a value (an authenticator id):
// the widget only sends option fields that are both required and immutable.
func fixed(name, value string) Field {
	return Field{Name: name, Value: value, Required: ptr(true), Mutable: ptr(false)}
}

// hidden is the stateHandle field every form carries.
func hidden(name, value string) Field {
	return Field{Name: name, Value: value, Required: ptr(true), Visible: ptr(false), Mutable: ptr(false)}
}
