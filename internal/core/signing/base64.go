package signing

import (
	"encoding/base64"
	"fmt"
)

// Spec: https://spec.matrix.org/v1.19/appendices/#unpadded-base64

// EncodeBase64 encodes b as unpadded standard base64.
func EncodeBase64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

// EncodeBase64URL encodes b as unpadded URL-safe base64.
func EncodeBase64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// DecodeBase64 decodes standard base64 with or without "=" padding, as the
// spec asks decoders to accept. Padding, if present, must be complete.
//
// Like Synapse (Python's base64 module), it does not insist that the unused
// low bits of the last character be zero, so the same bytes have more than
// one accepted encoding: compare decoded bytes, not strings. The spec needs
// this: its own test signing seed ("...MW+3XA1") has such a bit set.
func DecodeBase64(s string) ([]byte, error) {
	return decodeBase64(base64.RawStdEncoding, base64.StdEncoding, s)
}

// DecodeBase64URL decodes URL-safe base64 with or without "=" padding.
func DecodeBase64URL(s string) ([]byte, error) {
	return decodeBase64(base64.RawURLEncoding, base64.URLEncoding, s)
}

func decodeBase64(raw, padded *base64.Encoding, s string) ([]byte, error) {
	enc := raw
	if len(s) > 0 && s[len(s)-1] == '=' {
		enc = padded
	}
	for i := 0; i < len(s); i++ {
		// encoding/base64 skips CR and LF; an identifier or signature
		// containing them is malformed.
		if s[i] == '\r' || s[i] == '\n' {
			return nil, fmt.Errorf("%w: line break at offset %d", ErrInvalidBase64, i)
		}
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidBase64, err)
	}
	return b, nil
}
