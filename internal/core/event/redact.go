package event

// Spec: https://spec.matrix.org/v1.19/client-server-api/#redactions and the
// "Redactions" section of each room version:
// https://spec.matrix.org/v1.19/rooms/v1/#redactions,
// https://spec.matrix.org/v1.19/rooms/v6/#redactions,
// https://spec.matrix.org/v1.19/rooms/v8/#redactions,
// https://spec.matrix.org/v1.19/rooms/v9/#redactions,
// https://spec.matrix.org/v1.19/rooms/v11/#redactions

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// topLevelKeysV1 are the top-level keys that survive redaction in rooms
// v1–v10 (algorithms V1, V6, V8 and V9 keep the same list).
var topLevelKeysV1 = []string{
	"event_id", "type", "room_id", "sender", "state_key", "content", "hashes",
	"signatures", "depth", "prev_events", "prev_state", "auth_events", "origin",
	"origin_server_ts", "membership",
}

// topLevelKeysV11 are the top-level keys that survive redaction in rooms
// v11+: origin, membership and prev_state are no longer protected.
var topLevelKeysV11 = []string{
	"event_id", "type", "room_id", "sender", "state_key", "content", "hashes",
	"signatures", "depth", "prev_events", "auth_events", "origin_server_ts",
}

// contentKeys returns the content keys that survive redaction of an event
// of type typ under algorithm alg, and whether the whole content survives.
func contentKeys(alg roomversion.RedactionAlgorithm, typ string) (keys []string, all bool) {
	switch typ {
	case typeMember:
		keys = []string{"membership"}
		if alg >= roomversion.RedactionV9 {
			// v9+: restricted join signatures must stay verifiable.
			keys = append(keys, "join_authorised_via_users_server")
		}
		// v11+ also keeps third_party_invite.signed, handled by Redact.
	case typeCreate:
		if alg >= roomversion.RedactionV11 {
			return nil, true
		}
		keys = []string{"creator"}
	case typeJoinRules:
		keys = []string{"join_rule"}
		if alg >= roomversion.RedactionV8 {
			keys = append(keys, "allow")
		}
	case typePowerLevel:
		keys = []string{"ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"}
		if alg >= roomversion.RedactionV11 {
			keys = append(keys, "invite")
		}
	case typeAliases:
		if alg == roomversion.RedactionV1 {
			keys = []string{"aliases"}
		}
	case typeHistoryVis:
		keys = []string{"history_visibility"}
	case typeRedaction:
		if alg >= roomversion.RedactionV11 {
			keys = []string{"redacts"}
		}
	}
	return keys, false
}

// Redact applies the redaction algorithm of room version v to the event
// raw and returns the redacted event as canonical JSON. Top-level keys not
// protected by the algorithm are removed, including unsigned; the content
// keeps only the keys its event type protects. The result always has a
// content object, empty if the event had none or content was not an
// object.
//
// In rooms v11+, an m.room.member content keeps third_party_invite, if it is
// an object, holding only its signed key (empty if it has none), as Synapse
// reads "allows the signed key of the third_party_invite key".
//
// Redact needs no valid PDU: it works on any JSON object, so that the hashes
// and signatures of events that fail other checks can still be computed.
func Redact(raw []byte, v *roomversion.Version) ([]byte, error) {
	if v == nil {
		return nil, fmt.Errorf("redact event: %w: no room version", ErrFormat)
	}
	canon, err := canonicalize(raw, v)
	if err != nil {
		return nil, fmt.Errorf("redact event: %w", err)
	}
	o, err := decodeObject(canon)
	if err != nil {
		return nil, fmt.Errorf("redact event: %w", err)
	}
	return appendObject(nil, redactObject(o, v)), nil
}

// redactObject returns the redacted copy of the decoded canonical event o.
// Its values are canonical JSON and its keys come from the algorithm's
// lists, so appendObject writes it in canonical form.
func redactObject(o object, v *roomversion.Version) object {
	alg := v.Redaction
	top := topLevelKeysV1
	if alg >= roomversion.RedactionV11 {
		top = topLevelKeysV11
	}
	out := make(object, len(top))
	for _, k := range top {
		if val, ok := o[k]; ok {
			out[k] = val
		}
	}

	typ, _, err := o.str("type")
	if err != nil {
		typ = "" // a non-string type protects no content keys
	}
	var content object
	if jsonKind(o["content"]) == '{' {
		// The content was canonicalized with the event, so it decodes.
		_ = json.Unmarshal(o["content"], &content)
	}
	keys, all := contentKeys(alg, typ)
	switch {
	case all && content != nil:
		out["content"] = o["content"]
		return out
	case len(content) == 0:
		out["content"] = json.RawMessage(`{}`)
		return out
	}
	kept := make(object, len(keys)+1)
	for _, k := range keys {
		if val, ok := content[k]; ok {
			kept[k] = val
		}
	}
	if alg >= roomversion.RedactionV11 && typ == typeMember {
		if tpi := content["third_party_invite"]; jsonKind(tpi) == '{' {
			var inner object
			_ = json.Unmarshal(tpi, &inner)
			pruned := object{}
			if signed, ok := inner["signed"]; ok {
				pruned["signed"] = signed
			}
			kept["third_party_invite"] = appendObject(nil, pruned)
		}
	}
	out["content"] = appendObject(nil, kept)
	return out
}

// appendObject appends the JSON object o to dst with its keys sorted. It
// is canonical JSON if o's values are canonical and its keys need no
// escaping, as for the fixed key lists of redaction.
func appendObject(dst []byte, o object) []byte {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	slices.Sort(keys) // byte order is code point order in UTF-8
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, '"', ':')
		dst = append(dst, o[k]...)
	}
	return append(dst, '}')
}
