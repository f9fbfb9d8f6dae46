package event

// Spec: https://spec.matrix.org/v1.19/server-server-api/#signing-events,
// https://spec.matrix.org/v1.19/server-server-api/#validating-hashes-and-signatures-on-received-events
// and https://spec.matrix.org/v1.19/rooms/v5/#signing-key-validity-period

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
)

// Sign adds the content hash and a signature by key to the event raw of
// room version v and returns the signed event as canonical JSON, following
// "Adding hashes and signatures to outgoing events": the content hash is
// stored in hashes.sha256 (other hash algorithms are kept), the event is
// redacted, the redacted event is signed, and the signature is copied back
// into the full event's signatures (other signatures are kept). The
// unsigned member is kept and, like signatures, covered by neither.
//
// Sign does not check the event's format: see Build for making events.
func Sign(raw []byte, v *roomversion.Version, key signing.Key) ([]byte, error) {
	if v == nil {
		return nil, fmt.Errorf("sign event: %w: no room version", ErrFormat)
	}
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("sign event: %w", err)
	}
	canon, err := canonicalize(raw, v)
	if err != nil {
		return nil, fmt.Errorf("sign event: %w", err)
	}
	o, err := decodeObject(canon)
	if err != nil {
		return nil, fmt.Errorf("sign event: %w", err)
	}

	// 1. Content hash, in hashes.sha256.
	h, err := ContentHash(canon)
	if err != nil {
		return nil, fmt.Errorf("sign event: %w", err)
	}
	hashes := map[string]json.RawMessage{}
	if jsonKind(o["hashes"]) == '{' {
		if err := json.Unmarshal(o["hashes"], &hashes); err != nil {
			return nil, fmt.Errorf("sign event: hashes: %w", err)
		}
	}
	hashes["sha256"] = jsonString(signing.EncodeBase64(h))
	if o["hashes"], err = encode(hashes, v); err != nil {
		return nil, fmt.Errorf("sign event: %w", err)
	}

	// 2. Redact, drop signatures and unsigned, sign the canonical form
	// (appendices, "Signing JSON").
	redacted := redactObject(o, v)
	delete(redacted, "signatures")
	delete(redacted, "unsigned")
	sig := ed25519.Sign(key.Private, appendObject(nil, redacted))

	// 3. Copy the signature into the full event.
	sigs := map[string]map[string]json.RawMessage{}
	if jsonKind(o["signatures"]) == '{' {
		if err := json.Unmarshal(o["signatures"], &sigs); err != nil {
			return nil, fmt.Errorf("sign event: signatures: %w", err)
		}
	}
	if sigs[string(key.ServerName)] == nil {
		sigs[string(key.ServerName)] = map[string]json.RawMessage{}
	}
	sigs[string(key.ServerName)][string(key.KeyID)] = jsonString(signing.EncodeBase64(sig))
	if o["signatures"], err = json.Marshal(sigs); err != nil {
		return nil, fmt.Errorf("sign event: %w", err)
	}
	out, err := encode(map[string]json.RawMessage(o), v)
	if err != nil {
		return nil, fmt.Errorf("sign event: %w", err)
	}
	return out, nil
}

// checkKey rejects keys that ed25519.Sign would panic on or that cannot name
// their signature.
func checkKey(k signing.Key) error {
	if len(k.Private) != ed25519.PrivateKeySize {
		return fmt.Errorf("%w: private key is %d bytes, want %d", signing.ErrInvalidKey, len(k.Private), ed25519.PrivateKeySize)
	}
	if _, err := id.ParseServerName(string(k.ServerName)); err != nil {
		return err
	}
	if _, err := signing.ParseKeyID(string(k.KeyID)); err != nil {
		return err
	}
	return nil
}

// jsonString encodes s as a JSON string.
func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// VerifySignatures checks the signatures on e, looking keys up with lookup.
// It redacts the event (so a redacted copy verifies as well as the full
// event) and, for each server whose signature is required, runs the
// appendices' "Checking for a signature": every signature by a key known
// and valid at origin_server_ts must verify, and at least one must exist.
// Key validity is enforced from room v5 on (EnforceKeyValidity); before, a
// key's validity period is ignored.
//
// The servers whose signatures are required:
//
//   - the sender's server, unless the event is an invite through a third
//     party (an m.room.member invite with content.third_party_invite),
//     which another server may send on the sender's behalf;
//   - in rooms v1 and v2, the server of the event ID;
//   - in rooms v8+ (restricted joins), for an m.room.member join with
//     content.join_authorised_via_users_server, that user's server.
//
// For an invite through a third party, every present signature whose key
// is known must verify, and at least one must.
//
// VerifySignatures does not check the content hash: see CheckContentHash.
func VerifySignatures(e *PDU, lookup signing.KeyLookup) error {
	if e == nil || e.version == nil {
		return fmt.Errorf("verify event signatures: %w: no event", ErrFormat)
	}
	v := e.version
	redacted, err := Redact(e.raw, v)
	if err != nil {
		return fmt.Errorf("verify signatures of %s: %w", e.eventID, err)
	}
	servers, err := requiredSigners(e)
	if err != nil {
		return fmt.Errorf("verify signatures of %s: %w", e.eventID, err)
	}
	for _, s := range servers {
		if err := signing.CheckSignatures(redacted, s, e.originServerTS, v.EnforceKeyValidity, lookup); err != nil {
			if errors.Is(err, signing.ErrNoSignature) {
				return fmt.Errorf("verify signatures of %s: %w by %s: %w", e.eventID, ErrMissingSignature, s, err)
			}
			return fmt.Errorf("verify signatures of %s by %s: %w", e.eventID, s, err)
		}
	}
	if !isThirdPartyInvite(e) {
		return nil
	}
	// The sender's server need not have signed: check whatever signatures
	// are there, and require one that verifies.
	var o object
	if err := json.Unmarshal(redacted, &o); err != nil {
		return fmt.Errorf("verify signatures of %s: %w", e.eventID, err)
	}
	var sigs map[string]json.RawMessage
	if err := json.Unmarshal(o["signatures"], &sigs); err != nil {
		return fmt.Errorf("verify signatures of %s: %w: %w", e.eventID, ErrMissingSignature, err)
	}
	names := make([]string, 0, len(sigs))
	for s := range sigs {
		names = append(names, s)
	}
	slices.Sort(names)
	verified := len(servers) > 0
	for _, s := range names {
		err := signing.CheckSignatures(redacted, id.ServerName(s), e.originServerTS, v.EnforceKeyValidity, lookup)
		switch {
		case err == nil:
			verified = true
		case errors.Is(err, signing.ErrNoVerifyKey), errors.Is(err, signing.ErrNoSignature):
			// Unknown keys are skipped.
		default:
			return fmt.Errorf("verify signatures of %s by %s: %w", e.eventID, s, err)
		}
	}
	if !verified {
		return fmt.Errorf("verify signatures of %s: %w: no signature by a known key", e.eventID, ErrMissingSignature)
	}
	return nil
}

// RequiredSigners returns the servers whose signatures e must carry: the
// sender's (unless it is a third-party invite), the event ID's in room
// v1/v2, and the authorising server of a restricted join. The receiver
// makes sure it has their keys before it verifies e.
func RequiredSigners(e *PDU) ([]id.ServerName, error) { return requiredSigners(e) }

// requiredSigners lists the servers that must have signed e, without
// duplicates.

func requiredSigners(e *PDU) ([]id.ServerName, error) {
	var out []id.ServerName
	add := func(s id.ServerName) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if !isThirdPartyInvite(e) {
		add(e.sender.Domain())
	}
	v := e.version
	if v.EventIDInEvent {
		d := e.eventID.Domain()
		if d == "" {
			return nil, fmt.Errorf("%w: event ID %.80q has no server name", ErrFormat, e.eventID)
		}
		add(d)
	}
	if v.RestrictedJoins && e.typ == typeMember {
		if m, _ := stringIn(e.content, "membership"); m == "join" {
			if _, ok := memberOf(e.content, "join_authorised_via_users_server"); ok {
				s, isString := stringIn(e.content, "join_authorised_via_users_server")
				uid, err := id.ParseUserID(s)
				if !isString || err != nil {
					return nil, fmt.Errorf("%w: join_authorised_via_users_server is not a user ID", ErrFormat)
				}
				add(uid.Domain())
			}
		}
	}
	return out, nil
}

// isThirdPartyInvite reports whether e is an m.room.member invite with
// content.third_party_invite.
func isThirdPartyInvite(e *PDU) bool {
	if e.typ != typeMember {
		return false
	}
	if m, _ := stringIn(e.content, "membership"); m != "invite" {
		return false
	}
	_, ok := memberOf(e.content, "third_party_invite")
	return ok
}

// memberOf returns the member key of the JSON object raw.
func memberOf(raw json.RawMessage, key string) (json.RawMessage, bool) {
	if jsonKind(raw) != '{' {
		return nil, false
	}
	var o object
	if json.Unmarshal(raw, &o) != nil {
		return nil, false
	}
	val, ok := o[key]
	return val, ok
}
