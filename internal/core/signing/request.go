package signing

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hafenchat/hafen/internal/core/canonicaljson"
	"github.com/hafenchat/hafen/internal/core/id"
)

// Spec: https://spec.matrix.org/v1.19/server-server-api/#request-authentication

// Request is what the signature of a federation request covers: the
// method, the request target, the names of both servers and the body.
type Request struct {
	// Method is the HTTP method, for example "PUT".
	Method string
	// URI is the request target as sent: the path starting with
	// "/_matrix/", with "?" and the query if there is one, without scheme
	// and host.
	URI string
	// Origin is the sending server's name.
	Origin id.ServerName
	// Destination is the receiving server's name (before any delegation).
	Destination id.ServerName
	// Content is the JSON body; nil or empty when the request has none.
	Content []byte
}

// JSON returns the object the spec's step 1 signs, without signatures:
// {"method", "uri", "origin", "destination", "content"}, the content
// left out when the request has none. The content must be one JSON
// value; it is copied as it is, and signing and verifying canonicalise
// the whole object.
func (r Request) JSON() ([]byte, error) {
	if len(r.Content) > 0 && !json.Valid(r.Content) {
		return nil, fmt.Errorf("request to sign: %w: content is not JSON", ErrNotObject)
	}
	out := make([]byte, 0, len(r.Content)+len(r.URI)+len(r.Origin)+len(r.Destination)+80)
	out = append(out, `{"method":`...)
	out = appendJSONString(out, r.Method)
	out = append(out, `,"uri":`...)
	out = appendJSONString(out, r.URI)
	out = append(out, `,"origin":`...)
	out = appendJSONString(out, string(r.Origin))
	out = append(out, `,"destination":`...)
	out = appendJSONString(out, string(r.Destination))
	if len(r.Content) > 0 {
		out = append(out, `,"content":`...)
		out = append(out, r.Content...)
	}
	return append(out, '}'), nil
}

// appendJSONString appends s as a JSON string.
func appendJSONString(out []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(out, q...)
}

// XMatrix holds the parameters of an "Authorization: X-Matrix" header.
type XMatrix struct {
	// Origin is the sending server.
	Origin id.ServerName
	// Destination is the receiving server; empty when an older server left
	// it out.
	Destination id.ServerName
	// KeyID is the ID of the origin's key that made the signature.
	KeyID KeyID
	// Signature is the unpadded base64 signature.
	Signature string
}

// SignRequest signs r with k (whose server must be r.Origin) and returns the
// parameters of its Authorization header.
func SignRequest(r Request, k Key) (XMatrix, error) {
	if k.ServerName != r.Origin {
		return XMatrix{}, fmt.Errorf("sign request: key of %s cannot sign for %s: %w", k.ServerName, r.Origin, ErrInvalidKey)
	}
	obj, err := r.JSON()
	if err != nil {
		return XMatrix{}, err
	}
	signed, err := SignJSON(obj, k)
	if err != nil {
		return XMatrix{}, fmt.Errorf("sign request: %w", err)
	}
	var out struct {
		Signatures map[string]map[string]string `json:"signatures"`
	}
	if err := json.Unmarshal(signed, &out); err != nil {
		return XMatrix{}, fmt.Errorf("sign request: read signature: %w", err)
	}
	return XMatrix{
		Origin:      r.Origin,
		Destination: r.Destination,
		KeyID:       k.KeyID,
		Signature:   out.Signatures[string(k.ServerName)][string(k.KeyID)],
	}, nil
}

// VerifyRequest checks that x's signature over r verifies with pub. The
// caller has matched x against r (origin, destination) and chosen pub by
// x.Origin and x.KeyID.
func VerifyRequest(r Request, x XMatrix, pub ed25519.PublicKey) error {
	obj, err := r.JSON()
	if err != nil {
		return err
	}
	sig, err := json.Marshal(x.Signature)
	if err != nil {
		return fmt.Errorf("verify request: %w", err)
	}
	signed, err := canonicalRequest(obj)
	if err != nil {
		return err
	}
	return verifyOne(signed, sig, x.Origin, x.KeyID, pub)
}

// canonicalRequest returns the canonical form of the request object, which
// has neither signatures nor unsigned.
func canonicalRequest(obj []byte) ([]byte, error) {
	signed, err := canonicaljson.CanonicalizeLegacy(obj)
	if err != nil {
		return nil, fmt.Errorf("verify request: %w: %w", ErrNotObject, err)
	}
	return signed, nil
}

// Header returns the value of the Authorization header, in the form the
// spec recommends for compatibility: one space after the scheme,
// lower-case names, quoted values, no whitespace around commas. Valid
// values hold no quote or backslash; any other value is escaped.
func (x XMatrix) Header() string {
	var b strings.Builder
	b.WriteString("X-Matrix ")
	param := func(name, value string) {
		b.WriteString(name)
		b.WriteString(`="`)
		for i := 0; i < len(value); i++ {
			if value[i] == '"' || value[i] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(value[i])
		}
		b.WriteString(`"`)
	}
	param("origin", string(x.Origin))
	if x.Destination != "" {
		b.WriteString(",")
		param("destination", string(x.Destination))
	}
	b.WriteString(",")
	param("key", string(x.KeyID))
	b.WriteString(",")
	param("sig", x.Signature)
	return b.String()
}

// ParseXMatrix parses the value of an Authorization header with the
// X-Matrix scheme (RFC 9110 §11.4 auth-params): names are
// case-insensitive, values are tokens or quoted strings with backslash
// escapes, colons are allowed in unquoted values, unknown parameters are
// ignored. origin, key and sig are required; destination is optional.
// Errors wrap ErrInvalidAuthHeader.
func ParseXMatrix(header string) (XMatrix, error) {
	scheme, rest, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "X-Matrix") {
		return XMatrix{}, fmt.Errorf("%w: scheme is not X-Matrix", ErrInvalidAuthHeader)
	}
	params, err := parseAuthParams(rest)
	if err != nil {
		return XMatrix{}, err
	}
	var x XMatrix
	for _, name := range []string{"origin", "key", "sig"} {
		if params[name] == "" {
			return XMatrix{}, fmt.Errorf("%w: no %s", ErrInvalidAuthHeader, name)
		}
	}
	if x.Origin, err = id.ParseServerName(params["origin"]); err != nil {
		return XMatrix{}, fmt.Errorf("%w: origin: %w", ErrInvalidAuthHeader, err)
	}
	if d, ok := params["destination"]; ok {
		if x.Destination, err = id.ParseServerName(d); err != nil {
			return XMatrix{}, fmt.Errorf("%w: destination: %w", ErrInvalidAuthHeader, err)
		}
	}
	if x.KeyID, err = ParseKeyID(params["key"]); err != nil {
		return XMatrix{}, fmt.Errorf("%w: key: %w", ErrInvalidAuthHeader, err)
	}
	x.Signature = params["sig"]
	return x, nil
}

// parseAuthParams parses a comma-separated list of name=value pairs.
func parseAuthParams(s string) (map[string]string, error) {
	out := map[string]string{}
	i := 0
	skipWS := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
	}
	for {
		skipWS()
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		name := strings.ToLower(s[start:i])
		if name == "" || i == len(s) || s[i] != '=' {
			return nil, fmt.Errorf("%w: malformed parameter at offset %d", ErrInvalidAuthHeader, start)
		}
		i++
		var value string
		if i < len(s) && s[i] == '"' {
			i++
			var b strings.Builder
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
				if c == '"' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("%w: unterminated quoted value of %s", ErrInvalidAuthHeader, name)
			}
			value = b.String()
		} else {
			start := i
			// For older servers, colons are allowed in unquoted values.
			for i < len(s) && (isTokenChar(s[i]) || s[i] == ':') {
				i++
			}
			value = s[start:i]
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%w: parameter %s given twice", ErrInvalidAuthHeader, name)
		}
		out[name] = value
		skipWS()
		if i == len(s) {
			break
		}
		if s[i] != ',' {
			return nil, fmt.Errorf("%w: expected comma at offset %d", ErrInvalidAuthHeader, i)
		}
		i++
	}
	return out, nil
}

// isTokenChar reports whether c may appear in an RFC 9110 token.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
