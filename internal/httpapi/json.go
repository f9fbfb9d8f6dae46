package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/hafenchat/hafen/internal/core/canonicaljson"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// MaxJSONBodyBytes caps the body DecodeJSON reads. Matrix events are capped
// at 64 KiB; 1 MiB leaves room for the largest JSON requests of the
// Client-Server API (key uploads, to-device batches) while keeping a single
// request's memory bounded.
const MaxJSONBodyBytes = 1 << 20

// DecodeJSON reads r's body, at most MaxJSONBodyBytes, into v. See
// DecodeJSONLimit.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return DecodeJSONLimit(w, r, v, MaxJSONBodyBytes)
}

// DecodeJSONLimit reads r's body through http.MaxBytesReader with the given
// limit and decodes it into v, which should point to a struct. The errors
// are the ones the spec names:
//
//   - body over the limit → 413 M_TOO_LARGE;
//   - empty body, invalid JSON or invalid UTF-8 → 400 M_NOT_JSON;
//   - valid JSON that is not an object, or a value of the wrong type for
//     a field → 400 M_BAD_JSON.
//
// Unknown keys are ignored, as the spec allows clients to send extra keys.
func DecodeJSONLimit(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	data, err := readBody(w, r, limit)
	if err != nil {
		return err
	}
	return decodeBytes(data, v)
}

// readBody reads at most limit bytes of r's body.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, matrixerr.TooLarge(fmt.Sprintf("request body is larger than %d bytes", mbe.Limit))
		}
		return nil, matrixerr.Wrap(matrixerr.KindNotJSON, err, "could not read the request body")
	}
	return data, nil
}

// DecodeOptionalJSON is DecodeJSON for endpoints whose body clients may
// leave out (the first request of a User-Interactive Authentication
// exchange on DELETE): an empty body leaves v untouched.
func DecodeOptionalJSON(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := readBody(w, r, MaxJSONBodyBytes)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	return decodeBytes(data, v)
}

// Given reports whether an optional member of a request body, decoded as
// json.RawMessage, was given with a value: a member left out and one set
// to null both count as absent.
func Given(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

func decodeBytes(data []byte, v any) error {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return matrixerr.NotJSON("the request body must be a JSON object")
	}
	if !utf8.Valid(data) {
		return matrixerr.NotJSON("the request body is not valid UTF-8")
	}
	if !json.Valid(data) {
		return matrixerr.NotJSON("the request body is not valid JSON")
	}
	if trimmed[0] != '{' {
		return matrixerr.BadJSON("the request body must be a JSON object")
	}
	if err := checkShape(data, canonicaljson.MaxDepth); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := "a value"
			if te.Field != "" {
				field = strconv.Quote(te.Field)
			}
			return matrixerr.BadJSON("%s has the wrong type: want %s, got %s", field, jsonTypeName(te.Type.Kind().String()), te.Value)
		}
		return matrixerr.BadJSON("the request body does not match the endpoint: %v", err)
	}
	return nil
}

// checkShape refuses JSON data that nests objects and arrays deeper than
// depthLimit, or that holds a number too large for a double. Request
// bodies are held to the depth canonical JSON allows events, and to the
// numbers every JSON parser can read: content stored and passed on to
// other users (to-device messages, account data) must not break their
// clients' parsers. data must be valid JSON.
func checkShape(data []byte, depthLimit int) error {
	depth := 0
	inString, escaped := false, false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			if depth++; depth > depthLimit {
				return matrixerr.BadJSON("the request body is nested deeper than %d levels", depthLimit)
			}
		case c == '}' || c == ']':
			depth--
		case c == '-' || c >= '0' && c <= '9':
			end := i + 1
			for end < len(data) && isNumberByte(data[end]) {
				end++
			}
			if numberOverflows(data[i:end]) {
				return matrixerr.BadJSON("the request body holds the number %.40s, which is too large", data[i:end])
			}
			i = end - 1
		}
	}
	return nil
}

// isNumberByte reports whether c may continue a JSON number.
func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// numberOverflows reports whether the JSON number tok is beyond the range
// of a double (a parser would read it as infinity, or fail). Only numbers
// with an exponent or more digits than a double's integers can have are
// parsed.
func numberOverflows(tok []byte) bool {
	if len(tok) <= 20 && bytes.IndexAny(tok, "eE") < 0 {
		return false
	}
	_, err := strconv.ParseFloat(string(tok), 64)
	return err != nil
}

// jsonTypeName turns a Go kind into the JSON type a client knows.
func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	case "float32", "float64":
		return "number"
	}
	return kind
}

// OK writes v as a 200 JSON response: the answer of a handler that
// succeeded. Handlers use it instead of naming a status.
func OK(w http.ResponseWriter, v any) error { return WriteJSON(w, http.StatusOK, v) }

// WriteJSON writes v as a JSON response with the given status. It encodes v
// before writing anything, so an encoding failure is returned (and becomes a
// 500) instead of leaving a half-written response.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	writeBody(w, status, data)
	return nil
}

// writeBody writes data, encoded JSON, as the response with the given
// status. The Content-Length lets net/http send the body as it is rather
// than in chunks, which for a large answer (a busy room's /sync) saves
// writes to the connection.
func writeBody(w http.ResponseWriter, status int, data []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	// A write error means the client went away; nothing more can be sent.
	_, _ = w.Write(data)
}

// OKRawJSON writes data, already encoded JSON, as a 200 response: for
// large answers their handlers encode without encoding/json.
func OKRawJSON(w http.ResponseWriter, data []byte) error {
	writeBody(w, http.StatusOK, data)
	return nil
}
