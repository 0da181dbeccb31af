package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Scope is the part of the configuration a command uses. Load checks that part
// only, so an administrative command is not refused for a secret it never reads.
// Keys the file does not know and values of the wrong type in a section the
// command uses stop every command.
type Scope int

const (
	// ForServe is everything: every key and every secret (gatehouse serve).
	ForServe Scope = iota
	// ForAdmin is what the users and keys commands use: database (and
	// database_file), keys, password_hashing, phone and sign_on.
	ForAdmin
	// ForClients is ForAdmin and the clients with their secrets (gatehouse
	// clients).
	ForClients
)

// keeps reports whether a problem about section (the first part of a key path)
// concerns the scope.
func (s Scope) keeps(section string) bool {
	switch {
	case s == ForServe, section == "":
		return true
	case s == ForClients && section == "clients":
		return true
	}
	switch section {
	case "database", "database_file", "keys", "password_hashing", "phone", "sign_on":
		return true
	}
	return false
}

// Error is every problem found in a configuration, one a line, each starting with
// the line of the file or the key it is about.
type Error struct {
	// Path is the file, when it was read from one.
	Path     string
	Problems []string
}

// Error formats the problems one a line, each as "config PATH: problem".
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e.Path != "" {
			fmt.Fprintf(&b, "config %s: ", e.Path)
		}
		b.WriteString(p)
	}
	return b.String()
}

// Load reads and checks the file at path for gatehouse serve: LoadFor(path,
// ForServe).
func Load(path string) (Config, error) { return LoadFor(path, ForServe) }

// LoadFor reads the file at path, applies the GATEHOUSE_* environment variables
// over it, reads the secrets its *_env and *_file keys name, and checks what scope
// uses. Every problem is reported at once (an *Error).
func LoadFor(path string, scope Scope) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c, err := ParseFor(data, scope)
	if ce, ok := err.(*Error); ok {
		ce.Path = path
	}
	return c, err
}

// Parse is ParseFor(data, ForServe).
func Parse(data []byte) (Config, error) { return ParseFor(data, ForServe) }

// ParseFor decodes YAML over Defaults, refusing unknown keys, applies the
// environment (EnvName) over it, resolves the secrets' *_env and *_file keys, and
// validates what scope uses. All problems come back together in an *Error, in the
// order: the file's keys and types, the environment, the secrets, the values.
func ParseFor(data []byte, scope Scope) (Config, error) {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	c := Defaults()
	if !decodeFile(data, &c, add) {
		return Config{}, &Error{Problems: problems}
	}
	for i := range c.Clients {
		c.Clients[i] = ClientDefaults(c.Clients[i])
	}
	fromEnv := c.applyEnv(os.LookupEnv, add)
	c.resolveSecrets(add)
	c.validate(add)

	var kept []string
	for _, p := range problems {
		key := problemKey(p)
		if !scope.keeps(section(key)) {
			continue
		}
		if name, ok := fromEnv[listIndex.ReplaceAllString(key, "")]; ok {
			p += " (set by " + name + ")"
		}
		kept = append(kept, p)
	}
	if len(kept) > 0 {
		return Config{}, &Error{Problems: kept}
	}
	return c, nil
}

var linePrefix = regexp.MustCompile(`^line \d+: `)

// listIndex is the index a problem about a list item adds to the list's key.
var listIndex = regexp.MustCompile(`\[\d+\]$`)

// problemKey is the key path a problem starts with ("phone.code_ttl: …",
// "line 4: phone.sms: …"), or "" when it starts with none ("line 7: unknown key …").
func problemKey(p string) string {
	p = linePrefix.ReplaceAllString(p, "")
	i := strings.Index(p, ": ")
	if i < 0 || strings.ContainsAny(p[:i], " \"") {
		return ""
	}
	return p[:i]
}

// section is the first part of a key path; "" stays "" and every scope keeps it.
func section(key string) string {
	if key == "" {
		return ""
	}
	if i := strings.IndexAny(key, ".["); i >= 0 {
		return key[:i]
	}
	return key
}

// decodeFile decodes data into c, reporting every unknown key and every value of
// the wrong type. It returns false when the file could not be read as YAML at all.
func decodeFile(data []byte, c *Config, add func(string, ...any)) bool {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		add("%s", strings.TrimPrefix(err.Error(), "yaml: "))
		return false
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	switch {
	case doc.Kind == 0, doc.Kind == yaml.DocumentNode, doc.Kind == yaml.ScalarNode && doc.Tag == "!!null":
		return true // an empty file: every default
	case doc.Kind != yaml.MappingNode:
		add("line %d: the file must be a mapping of keys (issuer: …, database: …)", doc.Line)
		return false
	}
	w := walker{add: add, lines: map[int]lineKey{}}
	w.mapping(doc, reflect.TypeOf(Config{}), "", 0)
	err := doc.Decode(c)
	var te *yaml.TypeError
	switch {
	case errors.As(err, &te):
		for _, m := range te.Errors {
			add("%s", w.explain(m))
		}
	case err != nil:
		add("%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return true
}

// walker finds the keys of a YAML file that Config does not have, and remembers
// which key each line holds, to name it in type errors.
type walker struct {
	add   func(string, ...any)
	lines map[int]lineKey
}

type lineKey struct {
	path  string
	depth int
}

// maxDepth bounds the walk through aliases that refer to themselves.
const maxDepth = 32

var (
	durationType    = reflect.TypeOf(time.Duration(0))
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < maxDepth; i++ {
		n = n.Alias
	}
	return n
}

func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string, depth int) {
	n = deref(n)
	if n.Kind != yaml.MappingNode || depth > maxDepth {
		return // a value that is not a mapping is the decoder's type error
	}
	fields := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag == "!!merge" {
			if m := deref(v); m.Kind == yaml.SequenceNode {
				for _, e := range m.Content {
					w.mapping(e, t, path, depth+1)
				}
			} else {
				w.mapping(m, t, path, depth+1)
			}
			continue
		}
		f, ok := fields[k.Value]
		if !ok {
			where := path
			if where == "" {
				where = "the top level"
			}
			w.add("line %d: unknown key %q in %s", k.Line, k.Value, where)
			continue
		}
		w.value(v, f.Type, joinPath(path, k.Value), depth+1)
	}
}

func (w *walker) value(v *yaml.Node, t reflect.Type, path string, depth int) {
	if old, ok := w.lines[v.Line]; !ok || depth > old.depth {
		w.lines[v.Line] = lineKey{path, depth}
	}
	v = deref(v)
	switch {
	case depth > maxDepth, reflect.PointerTo(t).Implements(unmarshalerType):
	case t.Kind() == reflect.Struct && t != durationType:
		w.mapping(v, t, path, depth)
	case t.Kind() == reflect.Slice && v.Kind == yaml.SequenceNode:
		for i, e := range v.Content {
			w.value(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	}
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// yamlFields maps a struct's YAML keys to its fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if tag := yamlTag(f); tag != "" {
			m[tag] = f
		}
	}
	return m
}

func yamlTag(f reflect.StructField) string {
	tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
	if tag == "-" {
		return ""
	}
	return tag
}

var (
	typeErrorLine = regexp.MustCompile(`^line (\d+): (.*)$`)
	goTypeNames   = strings.NewReplacer(
		"into time.Duration", "into a duration such as 90s, 5m or 1h30m",
		"into []config.Client", "into a list of entries",
	)
	goStructName = regexp.MustCompile(`into config\.\w+`)
)

// explain rewrites a yaml.v3 type error in the file's words: the key the line
// holds, and no Go type names.
func (w *walker) explain(msg string) string {
	msg = goTypeNames.Replace(msg)
	msg = goStructName.ReplaceAllString(msg, "into a mapping of keys")
	m := typeErrorLine.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	n, _ := strconv.Atoi(m[1])
	if k, ok := w.lines[n]; ok && !strings.HasPrefix(m[2], k.path+":") {
		return fmt.Sprintf("line %d: %s: %s", n, k.path, m[2])
	}
	return msg
}

// typeError is an error of a value's own UnmarshalYAML that lets decoding go on
// with the rest of the file.
func typeError(format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf(format, args...)}}
}

// EnvName is the environment variable that sets the key at path:
// "sign_on.session_lifetime" is GATEHOUSE_SIGN_ON_SESSION_LIFETIME.
func EnvName(path string) string {
	return "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// UnusedEnv returns the GATEHOUSE_* variables in environ ("NAME=value" entries)
// that set no key of c and that none of c's *_env keys names: most likely a
// misspelt key, which would otherwise be ignored without a word.
func UnusedEnv(environ []string, c Config) []string {
	known := map[string]bool{}
	for _, k := range envKeys() {
		known[EnvName(k.path)] = true
	}
	for _, cl := range c.Clients {
		known[cl.SecretEnv] = true
	}
	for _, h := range c.SystemLog.EventHooks {
		known[h.SecretEnv] = true
	}
	for _, name := range []string{c.Messaging.Twilio.AuthTokenEnv, c.Messaging.Webhook.SecretEnv, c.Secrets.OTPKeyEnv, c.Keys.EncryptionKeyEnv} {
		known[name] = true
	}
	var unused []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "GATEHOUSE_") && !known[name] {
			unused = append(unused, name)
		}
	}
	slices.Sort(unused)
	return unused
}

// envKey is a key the environment can set.
type envKey struct {
	path  string
	index []int
	// group names the forms of one secret (secret, secret_env, secret_file): a
	// variable setting one of them replaces whichever the file used.
	group string
}

// EnvKeys lists the key paths the environment can set: every key but those of
// the clients list, whose entries are only in the file.
func EnvKeys() []string {
	var paths []string
	for _, k := range envKeys() {
		paths = append(paths, k.path)
	}
	return paths
}

func envKeys() []envKey {
	var keys []envKey
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := yamlTag(f)
			if tag == "" {
				continue
			}
			idx := append(append([]int(nil), index...), i)
			path := joinPath(prefix, tag)
			switch {
			case f.Type.Kind() == reflect.Struct && f.Type != durationType:
				walk(f.Type, path, idx)
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				// clients, system_log.event_hooks: lists of entries, given in the file only
			default:
				base := strings.TrimSuffix(strings.TrimSuffix(tag, "_env"), "_file")
				keys = append(keys, envKey{path: path, index: idx, group: joinPath(prefix, base)})
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "", nil)
	return keys
}

// applyEnv sets every key whose GATEHOUSE_* variable is set and not empty, and
// returns the variable of each key it set. A variable setting one form of a secret
// clears the forms the file gave.
func (c *Config) applyEnv(lookup func(string) (string, bool), add func(string, ...any)) map[string]string {
	set := map[string]string{}
	root := reflect.ValueOf(c).Elem()
	keys := envKeys()
	for _, k := range keys {
		name := EnvName(k.path)
		v, ok := lookup(name)
		if !ok || v == "" {
			continue
		}
		if err := setFromText(root.FieldByIndex(k.index), v); err != nil {
			add("%s: %s: %v", k.path, name, err)
			continue
		}
		set[k.path] = name
	}
	for _, k := range keys {
		if _, ok := set[k.path]; ok {
			continue
		}
		for _, other := range keys {
			if _, ok := set[other.path]; ok && other.group == k.group {
				root.FieldByIndex(k.index).SetZero()
			}
		}
	}
	return set
}

// envTypes say in words what a variable of each kind must hold.
var envTypes = map[reflect.Kind]string{
	reflect.Bool:    "true or false",
	reflect.Int:     "a whole number",
	reflect.Uint8:   "a whole number from 0 to 255",
	reflect.Uint32:  "a whole number from 0 to 4294967295",
	reflect.Float64: "a number",
}

// setFromText sets f from a variable's text: strings as they are, lists split at
// commas, everything else read as a YAML scalar (true, 300, 5m).
func setFromText(f reflect.Value, text string) error {
	p := reflect.New(f.Type())
	switch {
	case p.Type().Implements(unmarshalerType) || (f.Kind() != reflect.String && f.Kind() != reflect.Slice):
		n := &yaml.Node{Kind: yaml.ScalarNode, Value: text}
		if err := n.Decode(p.Interface()); err != nil {
			switch {
			case f.Type() == durationType:
				return fmt.Errorf("%q is not a duration such as 90s, 5m or 1h30m", text)
			case envTypes[f.Kind()] != "":
				return fmt.Errorf("%q is not %s", text, envTypes[f.Kind()])
			}
			var te *yaml.TypeError
			if errors.As(err, &te) && len(te.Errors) > 0 {
				return errors.New(linePrefix.ReplaceAllString(te.Errors[0], ""))
			}
			return err
		}
	case f.Kind() == reflect.String:
		p.Elem().SetString(text)
	default: // []string
		var items []string
		for _, s := range strings.Split(text, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		p.Elem().Set(reflect.ValueOf(items))
	}
	f.Set(p.Elem())
	return nil
}

// resolveSecrets reads each secret its *_env or *_file key names.
func (c *Config) resolveSecrets(add func(string, ...any)) {
	for i := range c.Clients {
		cl := &c.Clients[i]
		resolveSecret(add, fmt.Sprintf("clients[%d].", i), "secret", &cl.Secret, cl.SecretEnv, cl.SecretFile, true)
	}
	t := &c.Messaging.Twilio
	resolveSecret(add, "messaging.twilio.", "auth_token", &t.AuthToken, t.AuthTokenEnv, t.AuthTokenFile, true)
	w := &c.Messaging.Webhook
	resolveSecret(add, "messaging.webhook.", "secret", &w.Secret, w.SecretEnv, w.SecretFile, true)
	for i := range c.SystemLog.EventHooks {
		h := &c.SystemLog.EventHooks[i]
		h.Secret = ""
		resolveSecret(add, fmt.Sprintf("system_log.event_hooks[%d].", i), "secret", &h.Secret, h.SecretEnv, h.SecretFile, false)
	}
	s := &c.Secrets
	s.OTPKey = ""
	if form := resolveSecret(add, "secrets.", "otp_key", &s.OTPKey, s.OTPKeyEnv, s.OTPKeyFile, false); form != "" {
		if key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s.OTPKey)); err != nil || len(key) < 32 {
			add("secrets.%s: the one-time-code key must hold at least 32 bytes, base64-encoded", form)
		}
	}
	resolveSecret(add, "", "database", &c.Database, "", c.DatabaseFile, true)
}

// resolveSecret fills *value from the environment variable env or the file file,
// whichever is set, and returns the key it came from ("" when neither is set). At
// most one of the plain key (when plain), env and file may be set.
func resolveSecret(add func(string, ...any), prefix, name string, value *string, env, file string, plain bool) string {
	var forms, given []string
	if plain {
		forms = append(forms, name)
		if *value != "" {
			given = append(given, name)
		}
	}
	if name != "database" {
		forms = append(forms, name+"_env")
	}
	forms = append(forms, name+"_file")
	if env != "" {
		given = append(given, name+"_env")
	}
	if file != "" {
		given = append(given, name+"_file")
	}
	if len(given) > 1 {
		add("%s%s: set only one of %s, not %s", prefix, name, strings.Join(forms, ", "), strings.Join(given, " and "))
		return ""
	}
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			add("%s%s_env: environment variable %s is not set", prefix, name, env)
			return ""
		}
		*value = v
		return name + "_env"
	case file != "":
		v, err := readSecretFile(file)
		if err != nil {
			add("%s%s_file: %v", prefix, name, err)
			return ""
		}
		*value = v
		return name + "_file"
	}
	return ""
}

// maxSecretFile bounds a secret file: anything longer is not the file meant.
const maxSecretFile = 64 << 10

// readSecretFile reads a secret from a file, without its trailing newline. Errors
// name the file, never its content.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %v", path, pathErr(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("cannot read %s: %v", path, pathErr(err))
	}
	if len(data) > maxSecretFile {
		return "", fmt.Errorf("%s is larger than %d KiB; it is not a secret", path, maxSecretFile>>10)
	}
	s := strings.TrimRight(string(data), "\r\n")
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// pathErr drops the path from an *fs.PathError, which the message names already.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
