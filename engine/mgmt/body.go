package mgmt

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// maxBodyBytes bounds a request body, as the engine's other endpoints do. Okta's
// user and factor bodies are a few hundred bytes; a profile with every attribute
// Gatehouse keeps stays far below this.
const maxBodyBytes = 16 << 10

// decodeBody reads r's body into v, a pointer to a struct: one JSON object of at
// most maxBodyBytes, without fields v does not have, and with values of the right
// types. On failure it answers 400 (Okta's E0000003, with the reason in
// errorCauses) and returns false; the handler must then change nothing.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			errBadBody.write(w, "", "the body must be JSON (Content-Type: application/json)")
			return false
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		// Exactly one value: anything after it but white space is an error.
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("data after the JSON object")
		}
	}
	if err != nil {
		if r.Body != nil {
			// Whatever is left unread goes, so that the connection can be reused.
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxBodyBytes))
		}
		errBadBody.write(w, "", bodyProblem(err))
		return false
	}
	return true
}

// bodyProblem says in a sentence what is wrong with a body, naming the field but
// never echoing a value the client sent.
func bodyProblem(err error) string {
	var tooLarge *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooLarge):
		return fmt.Sprintf("the body is larger than %d bytes", maxBodyBytes)
	case errors.Is(err, io.EOF):
		return "the body is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends before the JSON does"
	case errors.As(err, &syntax):
		return fmt.Sprintf("the body is not JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return "the body must be a JSON object"
		}
		// Value is the JSON type, followed by the number itself for numbers.
		got, _, _ := strings.Cut(typ.Value, " ")
		return fmt.Sprintf("%s must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), got)
	}
	// The decoder's other messages name the field and no value: "json: unknown
	// field \"x\"", data after the object.
	if name, ok := unknownField(err); ok {
		return fmt.Sprintf("unknown field %s", quoted(name))
	}
	return err.Error()
}

// unknownField is the field DisallowUnknownFields refused, if err is that error.
func unknownField(err error) (string, bool) {
	const p = `json: unknown field "`
	msg := err.Error()
	if len(msg) > len(p)+1 && msg[:len(p)] == p && msg[len(msg)-1] == '"' {
		return msg[len(p) : len(msg)-1], true
	}
	return "", false
}

// jsonKind names a Go kind as a JSON type.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "float32", "float64":
		return "a number"
	}
	return "a whole number"
}
