package event

// Spec: https://spec.matrix.org/v1.19/rooms/ (event format of each version),
// https://spec.matrix.org/v1.19/server-server-api/#pdus and
// https://spec.matrix.org/v1.19/client-server-api/#size-limits

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hafenchat/hafen/internal/core/canonicaljson"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// Limits from the spec's event format and size limits.
const (
	// MaxEventSize is the largest event, in bytes of canonical JSON
	// including signatures (client-server API, "Size limits").
	MaxEventSize = 65536
	// MaxFieldSize is the largest type and state_key, in bytes; sender,
	// room_id and event IDs share the same identifier limit.
	MaxFieldSize = 255
	// MaxPrevEvents is the most prev_events a PDU may list ("Must contain
	// less than or equal to 20 events", PDU schemas of every version).
	MaxPrevEvents = 20
	// MaxAuthEvents is the most auth_events a PDU may list ("Must contain
	// less than or equal to 10 events").
	MaxAuthEvents = 10
	// MaxDepth is the largest depth in rooms v6+ ("Must be less than the
	// maximum value for an integer (2^53 - 1)"), which strict canonical
	// JSON enforces. Earlier versions allow up to 2^63 - 1.
	MaxDepth = 1<<53 - 1
)

// Event types the format rules depend on.
const (
	typeCreate     = "m.room.create"
	typeMember     = "m.room.member"
	typeRedaction  = "m.room.redaction"
	typeJoinRules  = "m.room.join_rules"
	typePowerLevel = "m.room.power_levels"
	typeAliases    = "m.room.aliases"
	typeHistoryVis = "m.room.history_visibility"
)

// Parse parses a PDU received from another server for room version v. It
// checks the event format of the version and computes the event ID (from
// the reference hash in v3+, from the event_id field in v1 and v2):
//
//   - the event is valid JSON, strict canonical JSON in v6+, and at most
//     MaxEventSize bytes in canonical form;
//   - type, sender, content, depth, origin_server_ts, prev_events,
//     auth_events, hashes (with a sha256 string) and signatures are present
//     with the right types, and room_id except on a v12 create event;
//   - sender, room_id, event IDs and redacts follow the identifier grammar,
//     event IDs in the form of the room version, and type and state_key are
//     at most MaxFieldSize bytes;
//   - prev_events and auth_events have at most MaxPrevEvents and
//     MaxAuthEvents entries; depth is in range.
//
// Parse checks neither the content hash nor the signatures (see
// CheckContentHash and VerifySignatures), nor the auth rules. A v12 create
// event that carries a room_id is accepted here: the auth rules reject it
// (rule 1.2), and its RoomID is derived from its event ID regardless.
//
// NOTSPEC: a negative depth is rejected. The PDU schemas define depth as the
// maximum depth of the prev_events plus one, which cannot be negative, and
// Synapse rejects it too.
func Parse(raw []byte, v *roomversion.Version) (*PDU, error) {
	if v == nil {
		return nil, fmt.Errorf("parse event: %w: no room version", ErrFormat)
	}
	canon, err := canonicalize(raw, v)
	if err != nil {
		return nil, fmt.Errorf("parse event: %w: %w", ErrFormat, err)
	}
	if len(canon) > MaxEventSize {
		return nil, fmt.Errorf("parse event: %w: %d bytes of canonical JSON, at most %d allowed", ErrTooLarge, len(canon), MaxEventSize)
	}
	e, fields, err := parseFields(canon, v, false)
	if err != nil {
		return nil, fmt.Errorf("parse event: %w", err)
	}
	if v.EventIDInEvent {
		s, _, _ := fields.str("event_id") // checked by parseFields
		e.eventID = id.EventID(s)
	} else {
		e.eventID = eventIDFromHash(referenceHashOf(fields, v), v)
	}
	if v.RoomIDFromCreateEvent && e.typ == typeCreate {
		e.roomID = roomIDFromCreateEventID(e.eventID)
	}
	return e, nil
}

// ParseTrusted parses a PDU of room version v whose event ID is already
// known: one Hafen checked and stored itself, or a test fixture with made-up
// IDs. It checks that the event is a JSON object whose fields have the right
// types (type, sender and content must be present, room_id except on a v12
// create event, prev_events and auth_events in the version's shape) but not
// identifier grammar, hashes or signatures, and it does not compute the ID.
// Missing depth and origin_server_ts read as 0; null prev_events or
// auth_events read as empty lists. Numbers follow the legacy
// rules of rooms v1–v5 in every version: strict canonical JSON is a check on
// receipt, which a stored event has passed.
func ParseTrusted(raw []byte, v *roomversion.Version, eventID id.EventID) (*PDU, error) {
	if v == nil {
		return nil, fmt.Errorf("parse stored event: %w: no room version", ErrFormat)
	}
	if !strings.HasPrefix(string(eventID), "$") || len(eventID) < 2 {
		return nil, fmt.Errorf("parse stored event: %w: event ID %.80q", ErrFormat, eventID)
	}
	canon, err := canonicaljson.CanonicalizeLegacy(raw)
	if err != nil {
		return nil, fmt.Errorf("parse stored event %s: %w: %w", eventID, ErrFormat, err)
	}
	e, _, err := parseFields(canon, v, true)
	if err != nil {
		return nil, fmt.Errorf("parse stored event %s: %w", eventID, err)
	}
	e.eventID = eventID
	if v.RoomIDFromCreateEvent && e.typ == typeCreate {
		e.roomID = roomIDFromCreateEventID(eventID)
	}
	return e, nil
}

// roomIDFromCreateEventID returns the v12 room ID of a create event: its
// event ID with the sigil "!" instead of "$".
func roomIDFromCreateEventID(eid id.EventID) id.RoomID {
	return id.RoomID("!" + strings.TrimPrefix(string(eid), "$"))
}

// parseFields reads the fields of the canonical PDU canon. With trusted set
// it checks only structure and types; otherwise the full format of v.
func parseFields(canon []byte, v *roomversion.Version, trusted bool) (*PDU, object, error) {
	o, err := decodeObject(canon)
	if err != nil {
		return nil, nil, err
	}
	e := &PDU{version: v, raw: canon}
	strict := !trusted

	// type: required string, at most 255 bytes. Neither it nor the
	// state key may hold a NUL: no client can send one (a path segment
	// with a NUL is refused), and the events' tables, which index both,
	// cannot hold it in PostgreSQL.
	typ, ok, err := o.str("type")
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, missing("type")
	}
	if strict && len(typ) > MaxFieldSize {
		return nil, nil, fmt.Errorf("%w: type is %d bytes, at most %d allowed", ErrTooLarge, len(typ), MaxFieldSize)
	}
	if strict && strings.ContainsRune(typ, 0) {
		return nil, nil, fmt.Errorf("%w: type holds a NUL character", ErrFormat)
	}
	e.typ = shared(typ)

	// sender: required user ID.
	sender, ok, err := o.str("sender")
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, missing("sender")
	}
	if strict {
		if _, err := id.ParseUserID(sender); err != nil {
			return nil, nil, fmt.Errorf("%w: sender: %w", ErrFormat, err)
		}
	}
	e.sender = id.UserID(shared(sender))

	// room_id: required room ID, except on v12 create events, which have
	// none (the room ID is derived from the event ID).
	room, ok, err := o.str("room_id")
	if err != nil {
		return nil, nil, err
	}
	createWithoutRoom := v.RoomIDFromCreateEvent && typ == typeCreate
	switch {
	case !ok && !createWithoutRoom:
		return nil, nil, missing("room_id")
	case ok && strict && !createWithoutRoom:
		if _, err := id.ParseRoomID(room); err != nil {
			return nil, nil, fmt.Errorf("%w: room_id: %w", ErrFormat, err)
		}
	}
	e.roomID = id.RoomID(shared(room))

	// state_key: optional string, at most 255 bytes.
	sk, ok, err := o.str("state_key")
	if err != nil {
		return nil, nil, err
	}
	if ok {
		if strict && len(sk) > MaxFieldSize {
			return nil, nil, fmt.Errorf("%w: state_key is %d bytes, at most %d allowed", ErrTooLarge, len(sk), MaxFieldSize)
		}
		if strict && strings.ContainsRune(sk, 0) {
			return nil, nil, fmt.Errorf("%w: state_key holds a NUL character", ErrFormat)
		}
		sk = shared(sk)
		e.stateKey = &sk
	}

	// content: required object.
	if _, ok := o["content"]; !ok {
		return nil, nil, missing("content")
	}
	if !o.isObject("content") {
		return nil, nil, fmt.Errorf("%w: content is not an object", ErrFormat)
	}
	e.content = within(canon, o["content"])

	// prev_events, auth_events: required lists of event IDs (v3+) or of
	// [event ID, hashes] pairs (v1, v2).
	if e.prevEvents, err = eventRefs(o, "prev_events", MaxPrevEvents, v, strict); err != nil {
		return nil, nil, err
	}
	if e.authEvents, err = eventRefs(o, "auth_events", MaxAuthEvents, v, strict); err != nil {
		return nil, nil, err
	}
	// A room's events cite the same few auth events over and over.
	for i, a := range e.authEvents {
		e.authEvents[i] = id.EventID(shared(string(a)))
	}

	// depth: required integer, 0 ≤ depth ≤ 2^63−1 (2^53−1 in v6+, which
	// strict canonical JSON already enforces).
	depth, ok, err := o.integer("depth")
	if err != nil {
		return nil, nil, err
	}
	if !ok && strict {
		return nil, nil, missing("depth")
	}
	if depth < 0 {
		return nil, nil, fmt.Errorf("%w: negative depth %d", ErrFormat, depth)
	}
	e.depth = depth

	// origin_server_ts: required integer.
	ts, ok, err := o.integer("origin_server_ts")
	if err != nil {
		return nil, nil, err
	}
	if !ok && strict {
		return nil, nil, missing("origin_server_ts")
	}
	e.originServerTS = ts

	// hashes: required object with a sha256 string; signatures: required
	// object of objects of strings; unsigned: optional object.
	if err := checkHashes(o, strict); err != nil {
		return nil, nil, err
	}
	if err := checkSignaturesShape(o, strict); err != nil {
		return nil, nil, err
	}
	if raw, ok := o["unsigned"]; ok && jsonKind(raw) != '{' {
		return nil, nil, fmt.Errorf("%w: unsigned is not an object", ErrFormat)
	}

	// event_id: required in v1 and v2 only.
	if v.EventIDInEvent && strict {
		s, ok, err := o.str("event_id")
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			return nil, nil, missing("event_id")
		}
		if err := checkEventIDForm(s, v); err != nil {
			return nil, nil, fmt.Errorf("%w: event_id: %w", ErrFormat, err)
		}
	}

	// redacts: a top-level event ID before v11; in content of
	// m.room.redaction from v11 on.
	if err := parseRedacts(e, o, v, strict); err != nil {
		return nil, nil, err
	}
	return e, o, nil
}

func missing(field string) error {
	return fmt.Errorf("%w: missing %s", ErrFormat, field)
}

// parseRedacts sets e.redacts.
func parseRedacts(e *PDU, o object, v *roomversion.Version, strict bool) error {
	if !v.RedactsInContent {
		s, ok, err := o.str("redacts")
		if err != nil || !ok {
			return err
		}
		if strict {
			if err := checkEventIDForm(s, v); err != nil {
				return fmt.Errorf("%w: redacts: %w", ErrFormat, err)
			}
		}
		e.redacts = id.EventID(s)
		return nil
	}
	if e.typ != typeRedaction {
		return nil
	}
	// Content is not part of the PDU format: a content.redacts that is not
	// a valid event ID leaves Redacts empty rather than rejecting the event.
	s, ok := stringIn(e.content, "redacts")
	if !ok || strict && checkEventIDForm(s, v) != nil {
		return nil
	}
	e.redacts = id.EventID(s)
	return nil
}

// eventRefs reads prev_events or auth_events.
func eventRefs(o object, key string, limit int, v *roomversion.Version, strict bool) ([]id.EventID, error) {
	raw, ok := o[key]
	if !ok {
		return nil, missing(key)
	}
	if !strict && jsonKind(raw) == 'n' {
		// Trusted input: null (a nil Go slice marshalled) is an empty list.
		return nil, nil
	}
	if jsonKind(raw) != '[' {
		return nil, fmt.Errorf("%w: %s is not an array", ErrFormat, key)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrFormat, key, err)
	}
	if strict && len(items) > limit {
		return nil, fmt.Errorf("%w: %s has %d entries, at most %d allowed", ErrFormat, key, len(items), limit)
	}
	out := make([]id.EventID, 0, len(items))
	for i, item := range items {
		if v.EventIDInEvent {
			// [event_id, {"sha256": ...}]
			var pair []json.RawMessage
			if jsonKind(item) != '[' || json.Unmarshal(item, &pair) != nil || len(pair) != 2 || jsonKind(pair[1]) != '{' {
				return nil, fmt.Errorf("%w: %s[%d] is not an [event ID, hashes] pair", ErrFormat, key, i)
			}
			item = pair[0]
		}
		var s string
		if jsonKind(item) != '"' || json.Unmarshal(item, &s) != nil {
			return nil, fmt.Errorf("%w: %s[%d] is not a string", ErrFormat, key, i)
		}
		if strict {
			if err := checkEventIDForm(s, v); err != nil {
				return nil, fmt.Errorf("%w: %s[%d]: %w", ErrFormat, key, i, err)
			}
		}
		out = append(out, id.EventID(s))
	}
	return out, nil
}

// errWrongIDForm means an event ID is valid but not in the form of the
// room version.
var errWrongIDForm = errors.New("event ID not in the form of the room version")

// checkEventIDForm checks that s is an event ID in the form room version v
// uses: "$opaque:server" in v1 and v2, "$" + unpadded standard base64 of a
// SHA-256 hash in v3, URL-safe base64 in v4+.
//
// Spec: https://spec.matrix.org/v1.19/rooms/v3/#event-ids and
// https://spec.matrix.org/v1.19/rooms/v4/#event-ids
func checkEventIDForm(s string, v *roomversion.Version) error {
	eid, err := id.ParseEventID(s)
	if err != nil {
		return err
	}
	hashForm := !strings.Contains(s, ":")
	var ok bool
	switch v.EventIDFormat {
	case roomversion.EventIDServerAssigned:
		ok = !hashForm && eid.Domain() != ""
	case roomversion.EventIDBase64:
		ok = hashForm && !strings.ContainsAny(s, "-_")
	case roomversion.EventIDURLSafeBase64:
		ok = hashForm && !strings.ContainsAny(s, "+/")
	}
	if !ok {
		return fmt.Errorf("%w: %.80q", errWrongIDForm, s)
	}
	return nil
}

// checkHashes checks the hashes member.
func checkHashes(o object, strict bool) error {
	raw, ok := o["hashes"]
	if !ok {
		if strict {
			return missing("hashes")
		}
		return nil
	}
	if jsonKind(raw) != '{' {
		return fmt.Errorf("%w: hashes is not an object", ErrFormat)
	}
	if !strict {
		return nil
	}
	var h object
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("%w: hashes: %w", ErrFormat, err)
	}
	if _, ok, err := h.str("sha256"); err != nil || !ok {
		return fmt.Errorf("%w: hashes has no sha256 string", ErrFormat)
	}
	return nil
}

// checkSignaturesShape checks that signatures is an object of objects of
// strings.
func checkSignaturesShape(o object, strict bool) error {
	raw, ok := o["signatures"]
	if !ok {
		if strict {
			return missing("signatures")
		}
		return nil
	}
	if jsonKind(raw) != '{' {
		return fmt.Errorf("%w: signatures is not an object", ErrFormat)
	}
	if !strict {
		return nil
	}
	var sigs map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &sigs); err != nil {
		return fmt.Errorf("%w: signatures is not an object of objects", ErrFormat)
	}
	for server, keys := range sigs {
		if keys == nil {
			return fmt.Errorf("%w: signatures of %.80q is not an object", ErrFormat, server)
		}
		for kid, sig := range keys {
			if jsonKind(sig) != '"' {
				return fmt.Errorf("%w: signature %.80q of %.80q is not a string", ErrFormat, kid, server)
			}
		}
	}
	return nil
}
