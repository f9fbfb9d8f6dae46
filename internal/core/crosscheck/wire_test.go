package crosscheck

// This file builds PDU JSON from first principles (encoding/json, sha256,
// ed25519), independently of both implementations under test, so that event
// IDs, content hashes, redactions and signatures have a third reference.
//
// Spec: https://spec.matrix.org/v1.19/appendices/#canonical-json
// Spec: https://spec.matrix.org/v1.19/server-server-api/#calculating-the-content-hash-for-an-event
// Spec: https://spec.matrix.org/v1.19/server-server-api/#calculating-the-reference-hash-for-an-event
// Spec: https://spec.matrix.org/v1.19/client-server-api/#redactions

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// canon encodes v as canonical JSON. The generator only produces maps,
// slices, strings, int64 and bool values, and no string holds U+2028,
// U+2029 or control characters other than \n, so encoding/json with sorted
// map keys and without HTML escaping yields exactly canonical JSON.
func canon(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("canon: %v", err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// recanon decodes JSON and encodes it canonically again, so two encodings of
// the same value compare equal byte for byte.
func recanon(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

// copyObj makes a shallow copy of a JSON object.
func copyObj(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// contentHash is the spec's content hash: sha256 of the canonical event
// without unsigned, signatures and hashes.
func contentHash(obj map[string]any) []byte {
	c := copyObj(obj)
	delete(c, "unsigned")
	delete(c, "signatures")
	delete(c, "hashes")
	h := sha256.Sum256(canon(c))
	return h[:]
}

// redactObj applies the redaction algorithm of room version v to a PDU
// object, written out from the spec's keep-lists.
func redactObj(obj map[string]any, v *roomversion.Version) map[string]any {
	top := []string{"event_id", "type", "room_id", "sender", "state_key", "content", "hashes",
		"signatures", "depth", "prev_events", "auth_events", "origin_server_ts"}
	if v.Redaction < roomversion.RedactionV11 {
		top = append(top, "prev_state", "origin", "membership")
	}
	out := map[string]any{}
	for _, k := range top {
		if val, ok := obj[k]; ok {
			out[k] = val
		}
	}
	content, _ := obj["content"].(map[string]any)
	typ, _ := obj["type"].(string)
	var keep []string
	keepAll := false
	switch typ {
	case "m.room.member":
		keep = []string{"membership"}
		if v.Redaction >= roomversion.RedactionV9 {
			keep = append(keep, "join_authorised_via_users_server")
		}
	case "m.room.create":
		if v.Redaction >= roomversion.RedactionV11 {
			keepAll = true
		} else {
			keep = []string{"creator"}
		}
	case "m.room.join_rules":
		keep = []string{"join_rule"}
		if v.Redaction >= roomversion.RedactionV8 {
			keep = append(keep, "allow")
		}
	case "m.room.power_levels":
		keep = []string{"ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"}
		if v.Redaction >= roomversion.RedactionV11 {
			keep = append(keep, "invite")
		}
	case "m.room.aliases":
		if v.Redaction == roomversion.RedactionV1 {
			keep = []string{"aliases"}
		}
	case "m.room.history_visibility":
		keep = []string{"history_visibility"}
	case "m.room.redaction":
		if v.Redaction >= roomversion.RedactionV11 {
			keep = []string{"redacts"}
		}
	}
	nc := map[string]any{}
	if keepAll {
		nc = content
	} else {
		for _, k := range keep {
			if val, ok := content[k]; ok {
				nc[k] = val
			}
		}
		// v11+: the signed key of third_party_invite survives.
		if typ == "m.room.member" && v.Redaction >= roomversion.RedactionV11 {
			if tpi, ok := content["third_party_invite"].(map[string]any); ok {
				if signed, ok := tpi["signed"]; ok {
					nc["third_party_invite"] = map[string]any{"signed": signed}
				}
			}
		}
	}
	out["content"] = nc
	return out
}

// referenceHash is sha256 of the redacted event without signatures and
// unsigned.
func referenceHash(obj map[string]any, v *roomversion.Version) []byte {
	r := redactObj(obj, v)
	delete(r, "signatures")
	delete(r, "unsigned")
	h := sha256.Sum256(canon(r))
	return h[:]
}

// eventIDFor computes the event ID of a v3+ event (v1/v2 carry theirs).
func eventIDFor(obj map[string]any, v *roomversion.Version) string {
	switch v.EventIDFormat {
	case roomversion.EventIDBase64:
		return "$" + base64.RawStdEncoding.EncodeToString(referenceHash(obj, v))
	case roomversion.EventIDURLSafeBase64:
		return "$" + base64.RawURLEncoding.EncodeToString(referenceHash(obj, v))
	}
	return obj["event_id"].(string)
}

// signingKey is one server's ed25519 signing key.
type signingKey struct {
	server string
	keyID  string
	priv   ed25519.PrivateKey
	pub    ed25519.PublicKey
}

func newSigningKey(server string, seed int64) *signingKey {
	s := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", server, seed)))
	priv := ed25519.NewKeyFromSeed(s[:])
	return &signingKey{server: server, keyID: "ed25519:k" + fmt.Sprint(seed%7), priv: priv, pub: priv.Public().(ed25519.PublicKey)}
}

// signObj adds a signature by k to obj (in place): the redacted event
// without signatures and unsigned is signed.
func signObj(obj map[string]any, v *roomversion.Version, k *signingKey) {
	r := redactObj(obj, v)
	delete(r, "signatures")
	delete(r, "unsigned")
	sig := ed25519.Sign(k.priv, canon(r))
	sigs, _ := obj["signatures"].(map[string]any)
	if sigs == nil {
		sigs = map[string]any{}
	}
	srv, _ := sigs[k.server].(map[string]any)
	if srv == nil {
		srv = map[string]any{}
	}
	srv[k.keyID] = b64(sig)
	sigs[k.server] = srv
	obj["signatures"] = sigs
}
