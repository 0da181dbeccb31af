package idx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// idxVersion is the only IDX response version this package understands.
const idxVersion = "1.0.0"

// idxResponse is one parsed IDX state, successful or not.
type idxResponse struct {
	// succeeded is auth-js's requestDidSucceed: the HTTP status was 2xx.
	succeeded bool
	// stateHandle is the top-level stateHandle, if any.
	stateHandle string
	// remediations in server order; the first is the step to do next.
	remediations []*form
	// actions are the top-level forms that are not remediations (cancel,
	// currentAuthenticatorEnrollment-resend, ...), in document order.
	actions []*form
	// messages are the global (top-level) messages.
	messages []Message
	// interactionCode comes from successWithInteractionCode.
	interactionCode string
	// retryAfter is the wait a 429 (or 503) reply asked for, see retryAfter.
	retryAfter time.Duration
	// tree is the whole body decoded once, for relatesTo resolution and
	// context lookups.
	tree map[string]any

	// described caches the description of each related object by its
	// canonical relatesTo path, and authIDs the authenticator ids by key, so
	// that describing many options relating to one large object stays linear
	// in the body size. Both are filled on first use.
	described map[string]*Authenticator
	authIDs   map[string]string
}

// form is a remediation or an action: a named request the client can make.
type form struct {
	Name    string
	Href    string
	Method  string
	Accepts string
	Value   []*field

	// relatesToPath is the remediation-level relatesTo path and related the
	// node it resolved to (normally a {"type","value"} wrapper), if any.
	relatesToPath string
	related       any
}

// field is one form field.
type field struct {
	Name     string
	Label    string
	Type     string
	Required bool
	Secret   bool
	Visible  *bool
	Mutable  *bool
	Value    any // the decoded JSON value; numbers are json.Number
	Form     *nestedForm
	Options  []*option
	Messages []wireMessage
}

type nestedForm struct {
	Value []*field
}

// option is one choice of a field. Its value is either a scalar ("sms") or a
// nested form ({"form":{"value":[...]}}) describing what to post when chosen.
type option struct {
	Label     string
	form      []*field // set when the value is a nested form
	scalar    string   // set when the value is a JSON scalar
	hasScalar bool
	// relatedKey and relatedID are the key and id of the object the option's
	// relatesTo resolved to (an authenticator or an enrollment), related the
	// object itself (a {"type","value"} wrapper unwrapped), relatedPath its
	// canonical path and relatesToEnrollment whether that path is an
	// enrollment's (whose id is an enrollment id, not an authenticator id).
	relatedKey          string
	relatedID           string
	related             map[string]any
	relatedPath         string
	relatesToEnrollment bool
}

type wireMessage struct {
	Message string
	Key     string
	Params  []any
	Class   string
}

func (m wireMessage) toMessage(fieldName string) Message {
	out := Message{Text: m.Message, Key: m.Key, Class: m.Class, Field: fieldName}
	if len(m.Params) > 0 {
		out.Params = m.Params
	}
	return out
}

func (f *field) immutable() bool { return f.Mutable != nil && !*f.Mutable }
func (f *field) hidden() bool    { return f.Visible != nil && !*f.Visible }
func (f *field) hasValue() bool  { return f.Value != nil }

// stringValue returns the field's value if it is a JSON string.
func (f *field) stringValue() string {
	s, _ := f.Value.(string)
	return s
}

// parseIDXBody parses the body of an IDX response received with the given
// HTTP status. A non-2xx body that is an IDX state is returned as a state with
// succeeded=false, as auth-js does; an OAuth error body becomes *OAuthError.
//
// The body is decoded once into a generic tree and the model is built from
// it, so the work is linear in the body size whatever its shape, and a member
// of an unexpected type is treated as absent rather than failing the whole
// response. It never panics, whatever the input.
func parseIDXBody(status int, body []byte) (*idxResponse, error) {
	succeeded := status >= 200 && status < 300
	order, tree, err := decodeTree(body)
	if err != nil {
		return nil, protocolErrorf("IDX response (HTTP %d) is not a JSON object: %v", status, err)
	}
	// An OAuth error body stops auth-js from treating the reply as IDX state;
	// so does a top-level "error" on a 2xx reply.
	if code, isString := tree["error"].(string); isString {
		desc, hasDesc := tree["error_description"].(string)
		if hasDesc || succeeded {
			return nil, &OAuthError{Code: code, Description: desc, Status: status}
		}
	}
	version, hasVersion := tree["version"]
	if !hasVersion {
		if !succeeded {
			if resp, ok := classicAPIError(tree); ok {
				return resp, nil
			}
		}
		return nil, protocolErrorf("IDX response (HTTP %d) has no version", status)
	}
	if version != idxVersion {
		return nil, protocolErrorf("unknown IDX version %v", truncate(fmt.Sprint(version), 40))
	}

	resp := &idxResponse{succeeded: succeeded, tree: tree}
	resp.stateHandle, _ = tree["stateHandle"].(string)
	if raw, ok := tree["messages"]; ok && raw != nil {
		msgs, err := messagesFrom(raw)
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			resp.messages = append(resp.messages, m.toMessage(""))
		}
	}
	if raw, ok := tree["remediation"]; ok && raw != nil {
		list, ok := arrayValue(raw)
		if !ok {
			return nil, protocolErrorf("remediation is not {\"value\": [...]}")
		}
		for _, node := range list {
			rem, err := formFrom(node)
			if err != nil {
				return nil, fmt.Errorf("%w (remediation)", err)
			}
			resp.remediations = append(resp.remediations, rem)
		}
	}
	if err := resp.collectActions(order, body); err != nil {
		return nil, err
	}
	if raw, ok := tree["successWithInteractionCode"]; ok && raw != nil {
		success, err := formFrom(raw)
		if err != nil {
			return nil, fmt.Errorf("%w (successWithInteractionCode)", err)
		}
		for _, f := range success.Value {
			if f.Name == "interaction_code" {
				resp.interactionCode = f.stringValue()
			}
		}
	}
	if err := resp.resolveAll(); err != nil {
		return nil, err
	}
	return resp, nil
}

// decodeTree decodes a JSON object once (numbers as json.Number) and also
// returns its member names in document order.
func decodeTree(body []byte) ([]string, map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var root any
	if err := dec.Decode(&root); err != nil {
		return nil, nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("trailing data")
	}
	tree, ok := root.(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("not an object")
	}
	order, err := objectKeys(body)
	if err != nil {
		return nil, nil, err
	}
	return order, tree, nil
}

// classicAPIError recognises the classic Okta API error body
// ({"errorCode","errorSummary",...}, e.g. E0000047 for a rate limit) and turns
// it into a failed state without remediation carrying one message, so the
// caller sees a TERMINAL transaction that says what happened.
func classicAPIError(tree map[string]any) (*idxResponse, bool) {
	code, _ := tree["errorCode"].(string)
	if code == "" {
		return nil, false
	}
	summary, _ := tree["errorSummary"].(string)
	return &idxResponse{
		messages: []Message{{Text: summary, Key: code, Class: "ERROR"}},
		tree:     tree,
	}, true
}

// arrayValue unwraps {"type":"array","value":[...]} (the type is not checked:
// only the value is used, as auth-js does).
func arrayValue(node any) ([]any, bool) {
	m, ok := node.(map[string]any)
	if !ok {
		return nil, false
	}
	list, ok := m["value"].([]any)
	if !ok && m["value"] == nil {
		return nil, true
	}
	return list, ok
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func boolPtr(m map[string]any, key string) *bool {
	b, ok := m[key].(bool)
	if !ok {
		return nil
	}
	return &b
}

// formFrom builds a remediation or action from its decoded node.
func formFrom(node any) (*form, error) {
	m, ok := node.(map[string]any)
	if !ok {
		return nil, protocolErrorf("form is not an object")
	}
	f := &form{Name: str(m, "name"), Href: str(m, "href"), Method: str(m, "method"), Accepts: str(m, "accepts")}
	fields, err := fieldsFrom(m["value"])
	if err != nil {
		return nil, fmt.Errorf("%w in %q", err, truncate(f.Name, 80))
	}
	f.Value = fields
	if rt, ok := m["relatesTo"]; ok && rt != nil {
		path, err := relatesToPath(rt)
		if err != nil {
			return nil, err
		}
		f.relatesToPath = path
	}
	return f, nil
}

// fieldsFrom builds the fields of a form's "value" list. An absent list is
// an empty form; anything else that is not a list of objects is malformed.
func fieldsFrom(node any) ([]*field, error) {
	if node == nil {
		return nil, nil
	}
	list, ok := node.([]any)
	if !ok {
		return nil, protocolErrorf("form value is not a list")
	}
	fields := make([]*field, 0, len(list))
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, protocolErrorf("form field is not an object")
		}
		f := &field{
			Name: str(m, "name"), Label: str(m, "label"), Type: str(m, "type"),
			Visible: boolPtr(m, "visible"), Mutable: boolPtr(m, "mutable"), Value: m["value"],
		}
		f.Required, _ = m["required"].(bool)
		f.Secret, _ = m["secret"].(bool)
		if sub, ok := m["form"].(map[string]any); ok {
			children, err := fieldsFrom(sub["value"])
			if err != nil {
				return nil, err
			}
			f.Form = &nestedForm{Value: children}
		}
		if opts, ok := m["options"].([]any); ok {
			for _, o := range opts {
				opt, err := optionFrom(o)
				if err != nil {
					return nil, err
				}
				f.Options = append(f.Options, opt)
			}
		}
		if raw, ok := m["messages"]; ok && raw != nil {
			msgs, err := messagesFrom(raw)
			if err != nil {
				return nil, err
			}
			f.Messages = msgs
		}
		fields = append(fields, f)
	}
	return fields, nil
}

// optionFrom builds one option; its relatesTo is resolved later.
func optionFrom(node any) (*option, error) {
	m, ok := node.(map[string]any)
	if !ok {
		return nil, protocolErrorf("option is not an object")
	}
	o := &option{Label: str(m, "label")}
	switch v := m["value"].(type) {
	case map[string]any:
		if sub, ok := v["form"].(map[string]any); ok {
			children, err := fieldsFrom(sub["value"])
			if err != nil {
				return nil, err
			}
			o.form = children
			if o.form == nil {
				o.form = []*field{}
			}
		}
	case string:
		o.scalar, o.hasScalar = v, true
	case json.Number:
		o.scalar, o.hasScalar = v.String(), true
	case bool:
		o.scalar, o.hasScalar = strconv.FormatBool(v), true
	}
	return o, nil
}

// messagesFrom reads a {"type":"array","value":[Message...]} member.
func messagesFrom(node any) ([]wireMessage, error) {
	list, ok := arrayValue(node)
	if !ok {
		return nil, protocolErrorf("messages is not {\"value\": [...]}")
	}
	var out []wireMessage
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		wm := wireMessage{Message: str(m, "message"), Class: str(m, "class")}
		if i18n, ok := m["i18n"].(map[string]any); ok {
			wm.Key = str(i18n, "key")
			wm.Params, _ = i18n["params"].([]any)
		}
		out = append(out, wm)
	}
	return out, nil
}

// collectActions finds the actions among the top-level members the way auth-js
// does: a member with "rel" is an action named by its
// "name"; a {"type":"object"} member whose value holds objects with "rel"
// contributes actions named "<member>-<key>". body supplies the document order
// of those nested keys.
func (r *idxResponse) collectActions(order []string, body []byte) error {
	var rawMembers map[string]json.RawMessage // decoded on first need
	for _, key := range order {
		if key == "remediation" || key == "successWithInteractionCode" {
			continue
		}
		m, ok := r.tree[key].(map[string]any)
		if !ok {
			continue // context such as "version" or "intent"
		}
		if m["rel"] != nil {
			a, err := formFrom(m)
			if err != nil {
				return fmt.Errorf("%w (action %q)", err, key)
			}
			r.actions = append(r.actions, a)
			continue
		}
		inner, ok := m["value"].(map[string]any)
		if m["type"] != "object" || !ok || !holdsAction(inner) {
			continue
		}
		if rawMembers == nil {
			if err := json.Unmarshal(body, &rawMembers); err != nil {
				return protocolErrorf("cannot re-read members: %v", err)
			}
		}
		var wrapper map[string]json.RawMessage
		if err := json.Unmarshal(rawMembers[key], &wrapper); err != nil {
			return protocolErrorf("cannot re-read %q: %v", key, err)
		}
		innerOrder, err := objectKeys(wrapper["value"])
		if err != nil {
			return protocolErrorf("cannot re-read %q: %v", key, err)
		}
		for _, innerKey := range innerOrder {
			im, ok := inner[innerKey].(map[string]any)
			if !ok || im["rel"] == nil {
				continue
			}
			a, err := formFrom(im)
			if err != nil {
				return fmt.Errorf("%w (action %q)", err, key+"-"+innerKey)
			}
			a.Name = key + "-" + innerKey
			r.actions = append(r.actions, a)
		}
	}
	return nil
}

func holdsAction(obj map[string]any) bool {
	for _, v := range obj {
		if m, ok := v.(map[string]any); ok && m["rel"] != nil {
			return true
		}
	}
	return false
}

// action returns the first action whose name satisfies match.
func (r *idxResponse) action(match func(name string) bool) *form {
	for _, a := range r.actions {
		if match(a.Name) {
			return a
		}
	}
	return nil
}

func (r *idxResponse) canResend() bool {
	return r.action(isResendAction) != nil
}

func isResendAction(name string) bool { return strings.Contains(strings.ToLower(name), "resend") }

// resolveAll resolves every relatesTo inside the remediations — remediation
// level, field level and option level, recursively — failing on the first
// path that points at nothing, as auth-js does. Field- and option-level paths
// are read from the tree because the model keeps only what it uses.
func (r *idxResponse) resolveAll() error {
	list, _ := arrayValue(r.tree["remediation"])
	for i, rem := range r.remediations {
		if rem.relatesToPath != "" {
			related, err := r.resolve(rem.relatesToPath)
			if err != nil {
				return err
			}
			rem.related = related
		}
		var node map[string]any
		if i < len(list) {
			node, _ = list[i].(map[string]any)
		}
		if err := r.resolveFields(node["value"], rem.Value); err != nil {
			return err
		}
	}
	return nil
}

// resolveFields walks a form's field nodes alongside the fields built from
// them.
func (r *idxResponse) resolveFields(node any, fields []*field) error {
	nodes, _ := node.([]any)
	for i, f := range fields {
		if i >= len(nodes) { // cannot happen: fields were built from nodes
			break
		}
		m, _ := nodes[i].(map[string]any)
		if rt, ok := m["relatesTo"]; ok && rt != nil {
			path, err := relatesToPath(rt)
			if err != nil {
				return err
			}
			if _, err := r.resolve(path); err != nil {
				return err
			}
		}
		if f.Form != nil {
			sub, _ := m["form"].(map[string]any)
			if err := r.resolveFields(sub["value"], f.Form.Value); err != nil {
				return err
			}
		}
		optNodes, _ := m["options"].([]any)
		for j, o := range f.Options {
			if j >= len(optNodes) {
				break
			}
			om, _ := optNodes[j].(map[string]any)
			if o.form != nil {
				v, _ := om["value"].(map[string]any)
				sub, _ := v["form"].(map[string]any)
				if err := r.resolveFields(sub["value"], o.form); err != nil {
					return err
				}
			}
			if rt, ok := om["relatesTo"]; ok && rt != nil {
				path, err := relatesToPath(rt)
				if err != nil {
					return err
				}
				related, err := r.resolve(path)
				if err != nil {
					return err
				}
				if rm := unwrapObject(related); rm != nil {
					o.relatedKey, o.relatedID, o.related = str(rm, "key"), str(rm, "id"), rm
					o.relatedPath, o.relatesToEnrollment = canonicalPath(path), isEnrollmentPath(path)
				}
			}
		}
	}
	return nil
}

// relatesToPath extracts the path from a relatesTo member: a string, or an
// array whose first element is used (auth-js uses only the first element).
func relatesToPath(node any) (string, error) {
	switch v := node.(type) {
	case string:
		return v, nil
	case []any:
		if len(v) > 0 {
			if s, ok := v[0].(string); ok {
				return s, nil
			}
		}
	}
	return "", fmt.Errorf("%w: %w: relatesTo is neither a path nor a list of paths", ErrProtocol, ErrUnresolvedRelatesTo)
}

// maxPathTokens bounds the work one relatesTo path can cause.
const maxPathTokens = 32

type pathToken struct {
	name    string
	index   int
	isIndex bool
}

// parsePath splits a relatesTo path such as "$.authenticatorEnrollments.value[2]"
// or "authenticatorChallenge" into member names and array indexes.
func parsePath(p string) ([]pathToken, bool) {
	s := strings.TrimPrefix(strings.TrimPrefix(p, "$"), ".")
	var toks []pathToken
	for s != "" {
		i := 0
		for i < len(s) && isWordByte(s[i]) {
			i++
		}
		if i == 0 {
			return nil, false
		}
		toks = append(toks, pathToken{name: s[:i]})
		s = s[i:]
		for strings.HasPrefix(s, "[") {
			end := strings.IndexByte(s, ']')
			if end < 2 {
				return nil, false
			}
			n, err := strconv.Atoi(s[1:end])
			if err != nil || n < 0 {
				return nil, false
			}
			toks = append(toks, pathToken{index: n, isIndex: true})
			s = s[end+1:]
		}
		if s == "" {
			break
		}
		if s[0] != '.' || len(s) == 1 {
			return nil, false
		}
		s = s[1:]
	}
	if len(toks) == 0 || len(toks) > maxPathTokens {
		return nil, false
	}
	return toks, true
}

// canonicalPath spells a valid relatesTo path one way ("a.value[2]"), so that
// "$.a.value[02]" and "a.value[2]" name the same object; "" if invalid.
func canonicalPath(p string) string {
	toks, ok := parsePath(p)
	if !ok {
		return ""
	}
	var b strings.Builder
	for i, t := range toks {
		switch {
		case t.isIndex:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(t.index))
			b.WriteByte(']')
		case i > 0:
			b.WriteByte('.')
			fallthrough
		default:
			b.WriteString(t.name)
		}
	}
	return b.String()
}

// isEnrollmentPath reports whether a relatesTo path points at an enrollment
// (currentAuthenticatorEnrollment, authenticatorEnrollments[i]), whose id is an
// enrollment id, rather than at an authenticator.
func isEnrollmentPath(p string) bool {
	toks, ok := parsePath(p)
	if !ok {
		return false
	}
	return toks[0].name == "currentAuthenticatorEnrollment" || toks[0].name == "authenticatorEnrollments"
}

// unwrapObject returns the object a resolved relatesTo node stands for,
// unwrapping a {"type","value"} wrapper; nil if it is not an object.
func unwrapObject(node any) map[string]any {
	obj, _ := node.(map[string]any)
	if inner, ok := obj["value"].(map[string]any); ok {
		if _, hasType := obj["type"]; hasType {
			return inner
		}
	}
	return obj
}

func isWordByte(b byte) bool {
	return b == '_' || b == '-' || ('0' <= b && b <= '9') || ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z')
}

// resolve walks a relatesTo path through the decoded response.
func (r *idxResponse) resolve(path string) (any, error) {
	toks, ok := parsePath(path)
	if !ok || toks[0].isIndex {
		return nil, unresolved(path)
	}
	var cur any = r.tree
	for _, t := range toks {
		if t.isIndex {
			list, ok := cur.([]any)
			if !ok || t.index >= len(list) {
				return nil, unresolved(path)
			}
			cur = list[t.index]
			continue
		}
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, unresolved(path)
		}
		if cur, ok = obj[t.name]; !ok {
			return nil, unresolved(path)
		}
	}
	if cur == nil {
		return nil, unresolved(path)
	}
	return cur, nil
}

func unresolved(path string) error {
	return fmt.Errorf("%w: %w: %q", ErrProtocol, ErrUnresolvedRelatesTo, truncate(path, 120))
}

// objectKeys returns the member names of a JSON object in document order
// (a repeated name keeps its first position).
func objectKeys(data []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not an object")
	}
	var order []string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("object key is not a string")
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, err
		}
		if !seen[key] {
			seen[key] = true
			order = append(order, key)
		}
	}
	return order, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
