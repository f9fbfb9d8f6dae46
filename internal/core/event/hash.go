package event

// Spec: https://spec.matrix.org/v1.19/server-server-api/#calculating-the-content-hash-for-an-event,
// https://spec.matrix.org/v1.19/server-server-api/#calculating-the-reference-hash-for-an-event,
// https://spec.matrix.org/v1.19/rooms/v3/#event-ids and
// https://spec.matrix.org/v1.19/rooms/v4/#event-ids

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/canonicaljson"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// ContentHash returns the SHA-256 content hash of the event raw: the hash of
// its canonical JSON without the unsigned, signatures and hashes keys. It
// covers the unredacted content.
//
// Numbers are canonicalized under the legacy rules, which agree with the
// strict rules on every event of rooms v6+ (Parse enforces those) and
// reproduce Synapse's hashes of older events holding floats.
func ContentHash(raw []byte) ([]byte, error) {
	canon, err := canonicaljson.CanonicalizeLegacyWithout(raw, "unsigned", "signatures", "hashes")
	if err != nil {
		return nil, fmt.Errorf("content hash: %w", err)
	}
	sum := sha256.Sum256(canon)
	return sum[:], nil
}

// CheckContentHash compares the content hash of the event raw with its
// hashes.sha256 (unpadded or padded standard base64). It returns an error
// wrapping ErrHashMismatch if the hash is missing, malformed or different:
// the receiving server must then use the redacted event.
//
// Spec: https://spec.matrix.org/v1.19/server-server-api/#validating-hashes-and-signatures-on-received-events
func CheckContentHash(raw []byte) error {
	want, err := ContentHash(raw)
	if err != nil {
		return err
	}
	var o object
	if err := json.Unmarshal(raw, &o); err != nil {
		return fmt.Errorf("check content hash: %w", err)
	}
	s, ok := stringIn(o["hashes"], "sha256")
	if !ok {
		return fmt.Errorf("check content hash: %w: no hashes.sha256 string", ErrHashMismatch)
	}
	got, err := signing.DecodeBase64(s)
	if err != nil {
		return fmt.Errorf("check content hash: %w: %w", ErrHashMismatch, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("check content hash: %w", ErrHashMismatch)
	}
	return nil
}

// ReferenceHash returns the SHA-256 reference hash of the event raw in room
// version v: the hash of the canonical JSON of the redacted event without
// signatures and unsigned. It is the event ID of rooms v3+ and the hash
// listed beside event IDs in prev_events and auth_events of rooms v1 and v2.
func ReferenceHash(raw []byte, v *roomversion.Version) ([]byte, error) {
	if v == nil {
		return nil, fmt.Errorf("reference hash: %w: no room version", ErrFormat)
	}
	canon, err := canonicalize(raw, v)
	if err != nil {
		return nil, fmt.Errorf("reference hash: %w", err)
	}
	o, err := decodeObject(canon)
	if err != nil {
		return nil, fmt.Errorf("reference hash: %w", err)
	}
	return referenceHashOf(o, v), nil
}

// referenceHashOf hashes the decoded canonical event o: redacted, without
// signatures (redaction already drops unsigned).
func referenceHashOf(o object, v *roomversion.Version) []byte {
	r := redactObject(o, v)
	delete(r, "signatures")
	sum := sha256.Sum256(appendObject(nil, r))
	return sum[:]
}

// ComputeEventID returns the event ID of the event raw in room version v:
// the event_id field in v1 and v2 (checked for its form), "$" + unpadded
// standard base64 of the reference hash in v3, and "$" + URL-safe unpadded
// base64 of it in v4+.
func ComputeEventID(raw []byte, v *roomversion.Version) (id.EventID, error) {
	if v == nil {
		return "", fmt.Errorf("compute event ID: %w: no room version", ErrFormat)
	}
	if v.EventIDFormat == roomversion.EventIDServerAssigned {
		var o object
		if err := json.Unmarshal(raw, &o); err != nil {
			return "", fmt.Errorf("compute event ID: %w: %w", ErrFormat, err)
		}
		s, ok, err := o.str("event_id")
		if err == nil && !ok {
			err = missing("event_id")
		}
		if err == nil {
			err = checkEventIDForm(s, v)
		}
		if err != nil {
			return "", fmt.Errorf("compute event ID: %w", err)
		}
		return id.EventID(s), nil
	}
	h, err := ReferenceHash(raw, v)
	if err != nil {
		return "", fmt.Errorf("compute event ID: %w", err)
	}
	return eventIDFromHash(h, v), nil
}

// eventIDFromHash encodes a reference hash as a v3+ event ID.
func eventIDFromHash(h []byte, v *roomversion.Version) id.EventID {
	if v.EventIDFormat == roomversion.EventIDBase64 {
		return id.EventID("$" + signing.EncodeBase64(h))
	}
	return id.EventID("$" + signing.EncodeBase64URL(h))
}
