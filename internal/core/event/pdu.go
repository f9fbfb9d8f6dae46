package event

import (
	"encoding/json"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// StateKey identifies one piece of room state: an event type and a state key.
type StateKey struct {
	Type     string
	StateKey string
}

// PDU is a persistent data unit (a room event) of one room version, parsed
// and checked for format. A PDU is immutable once made: all accessors return
// values that the caller must not modify (slices are shared).
//
// PDUs are made by Parse (untrusted input, full format checks and event ID
// computation), ParseTrusted (input Hafen stored or a test fixture, with a
// known event ID) or by building a new event.
type PDU struct {
	version *roomversion.Version
	eventID id.EventID
	// raw is the PDU JSON as received or built: for v1/v2 it includes
	// event_id, for v3+ it does not.
	raw []byte

	roomID         id.RoomID
	sender         id.UserID
	typ            string
	stateKey       *string
	content        json.RawMessage
	prevEvents     []id.EventID
	authEvents     []id.EventID
	depth          int64
	originServerTS int64
	redacts        id.EventID
}

// Version returns the room version the PDU was parsed for.
func (e *PDU) Version() *roomversion.Version { return e.version }

// EventID returns the event ID (computed from the reference hash in v3+).
func (e *PDU) EventID() id.EventID { return e.eventID }

// JSON returns the PDU as it is sent over federation.
func (e *PDU) JSON() []byte { return e.raw }

// RoomID returns the room ID. For a v12 create event, which has no room_id
// field, it returns the room ID derived from its event ID.
func (e *PDU) RoomID() id.RoomID { return e.roomID }

// Sender returns the sender's user ID.
func (e *PDU) Sender() id.UserID { return e.sender }

// Type returns the event type.
func (e *PDU) Type() string { return e.typ }

// StateKey returns the state key and whether the event is a state event.
func (e *PDU) StateKey() (string, bool) {
	if e.stateKey == nil {
		return "", false
	}
	return *e.stateKey, true
}

// IsState reports whether the event is a state event.
func (e *PDU) IsState() bool { return e.stateKey != nil }

// StateKeyTuple returns the (type, state_key) pair of a state event. It must
// only be called for state events.
func (e *PDU) StateKeyTuple() StateKey { return StateKey{Type: e.typ, StateKey: *e.stateKey} }

// IsStateKey reports whether the event is the state event (typ, stateKey).
func (e *PDU) IsStateKey(typ, stateKey string) bool {
	return e.stateKey != nil && e.typ == typ && *e.stateKey == stateKey
}

// Content returns the raw content object.
func (e *PDU) Content() json.RawMessage { return e.content }

// PrevEvents returns the IDs of the events this one follows in the DAG.
func (e *PDU) PrevEvents() []id.EventID { return e.prevEvents }

// AuthEvents returns the IDs of the events that authorise this one.
func (e *PDU) AuthEvents() []id.EventID { return e.authEvents }

// Depth returns the event's depth.
func (e *PDU) Depth() int64 { return e.depth }

// OriginServerTS returns the origin server timestamp in milliseconds.
func (e *PDU) OriginServerTS() int64 { return e.originServerTS }

// Redacts returns the ID of the event an m.room.redaction redacts (taken
// from the top level before v11 and from content from v11 on), or "".
func (e *PDU) Redacts() id.EventID { return e.redacts }
