package signing

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/hafenchat/hafen/internal/core/canonicaljson"
	"github.com/hafenchat/hafen/internal/core/id"
)

// Spec: https://spec.matrix.org/v1.19/appendices/#signing-details
// and https://spec.matrix.org/v1.19/appendices/#checking-for-a-signature

// SignJSON signs the JSON object obj with k and returns the object, in
// canonical form, with the signature added under
// signatures[k.ServerName][k.KeyID]. Existing signatures (including another
// by the same key, which is replaced) and the unsigned member are kept but,
// as the spec says, not covered by the signature.
func SignJSON(obj []byte, k Key) ([]byte, error) {
	if len(k.Private) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sign json: %w: private key is %d bytes", ErrInvalidKey, len(k.Private))
	}
	signed, err := canonicaljson.CanonicalizeLegacyWithout(obj, "signatures", "unsigned")
	if err != nil {
		return nil, fmt.Errorf("sign json: %w", err)
	}
	sig := ed25519.Sign(k.Private, signed)

	// obj is known to be a valid object without duplicate keys, so
	// encoding/json's map decoding is exact here.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(obj, &top); err != nil {
		return nil, fmt.Errorf("sign json: %w", err)
	}
	sigs := map[string]map[string]json.RawMessage{}
	if raw, ok := top["signatures"]; ok {
		if err := json.Unmarshal(raw, &sigs); err != nil || sigs == nil {
			return nil, fmt.Errorf("sign json: %w: signatures is not an object of objects", ErrNotObject)
		}
	}
	server := string(k.ServerName)
	if sigs[server] == nil {
		sigs[server] = map[string]json.RawMessage{}
	}
	sigs[server][string(k.KeyID)] = json.RawMessage(`"` + EncodeBase64(sig) + `"`)
	rawSigs, err := canonicaljson.EncodeLegacy(sigs)
	if err != nil {
		return nil, fmt.Errorf("sign json: %w", err)
	}
	top["signatures"] = rawSigs
	out, err := canonicaljson.EncodeLegacy(top)
	if err != nil {
		return nil, fmt.Errorf("sign json: %w", err)
	}
	return out, nil
}

// VerifyJSON checks the signature of server with keyID on the JSON object
// obj against pub. It returns nil if the signature is present and valid,
// an error wrapping ErrNoSignature if it is missing, and one wrapping
// ErrBadSignature if it is malformed or does not verify.
//
// VerifyJSON does not check key validity: see VerifyKey.ValidAt and
// CheckSignatures.
func VerifyJSON(obj []byte, server id.ServerName, keyID KeyID, pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("verify json: %w: public key is %d bytes", ErrInvalidKey, len(pub))
	}
	signed, sigs, err := splitSigned(obj)
	if err != nil {
		return err
	}
	raw, ok := sigs[string(server)][string(keyID)]
	if !ok {
		return fmt.Errorf("verify json: %w by %s with %s", ErrNoSignature, server, keyID)
	}
	return verifyOne(signed, raw, server, keyID, pub)
}

// CheckSignatures runs the spec's "Checking for a Signature" procedure for
// server on the JSON object obj: it takes the server's ed25519 signatures,
// looks up their keys with lookup, and requires every signature whose key is
// known and valid at ts (see VerifyKey.ValidAt) to verify, and at least one
// such signature to exist.
//
// Signatures with algorithms other than ed25519 are ignored (step 2), as are
// signatures whose key is unknown or not valid at ts, so that a server may
// sign with a key the checker has not fetched yet.
func CheckSignatures(obj []byte, server id.ServerName, ts int64, enforceValidity bool, lookup KeyLookup) error {
	signed, sigs, err := splitSigned(obj)
	if err != nil {
		return err
	}
	entry, ok := sigs[string(server)]
	if !ok {
		return fmt.Errorf("check signatures: %w by %s", ErrNoSignature, server)
	}
	keyIDs := make([]string, 0, len(entry))
	for kid := range entry {
		if strings.HasPrefix(kid, AlgorithmEd25519+":") {
			keyIDs = append(keyIDs, kid)
		}
	}
	if len(keyIDs) == 0 {
		return fmt.Errorf("check signatures: %w by %s with ed25519", ErrNoSignature, server)
	}
	slices.Sort(keyIDs) // deterministic error reporting
	verified := 0
	for _, kid := range keyIDs {
		vk, ok := lookup(server, KeyID(kid))
		if !ok || !vk.ValidAt(ts, enforceValidity) {
			continue
		}
		if err := verifyOne(signed, entry[kid], server, KeyID(kid), vk.Public); err != nil {
			return err
		}
		verified++
	}
	if verified == 0 {
		return fmt.Errorf("check signatures: %w for %s at %d", ErrNoVerifyKey, server, ts)
	}
	return nil
}

// splitSigned returns the canonical bytes that signatures on obj cover and
// the signatures member.
func splitSigned(obj []byte) ([]byte, map[string]map[string]json.RawMessage, error) {
	signed, err := canonicaljson.CanonicalizeLegacyWithout(obj, "signatures", "unsigned")
	if err != nil {
		return nil, nil, fmt.Errorf("verify json: %w", err)
	}
	// A map, not a struct: encoding/json matches struct fields
	// case-insensitively, and "Signatures" is not "signatures".
	var members map[string]json.RawMessage
	if err := json.Unmarshal(obj, &members); err != nil {
		return nil, nil, fmt.Errorf("verify json: %w", err)
	}
	raw, ok := members["signatures"]
	if !ok {
		return nil, nil, fmt.Errorf("verify json: %w: no signatures member", ErrNoSignature)
	}
	var sigs map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &sigs); err != nil || sigs == nil {
		return nil, nil, fmt.Errorf("verify json: %w: signatures is not an object of objects", ErrNotObject)
	}
	return signed, sigs, nil
}

func verifyOne(signed []byte, raw json.RawMessage, server id.ServerName, keyID KeyID, pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("verify json: %w: public key of %s %s is %d bytes", ErrInvalidKey, server, keyID, len(pub))
	}
	var b64 string
	if err := json.Unmarshal(raw, &b64); err != nil {
		return fmt.Errorf("verify json: %w: signature by %s with %s is not a string", ErrBadSignature, server, keyID)
	}
	sig, err := DecodeBase64(b64)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("verify json: %w: signature by %s with %s is malformed", ErrBadSignature, server, keyID)
	}
	if !ed25519.Verify(pub, signed, sig) {
		return fmt.Errorf("verify json: %w by %s with %s", ErrBadSignature, server, keyID)
	}
	return nil
}
