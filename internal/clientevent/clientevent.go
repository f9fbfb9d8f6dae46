// Package clientevent turns PDUs into the event formats of the
// Client-Server API (ClientEvent, and the stripped state of invites). Both
// the room endpoints and sync use it, so a client sees one event the same
// way on every path.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#room-event-format
package clientevent

import (
	"encoding/json"

	"github.com/hafenchat/hafen/internal/core/event"
)

// Unsigned holds the unsigned data Hafen adds for a client.
type Unsigned struct {
	// Age is the time in milliseconds since the event was sent.
	Age int64 `json:"age"`
	// TransactionID is the client's txnId, only for the sender's own device.
	TransactionID string `json:"transaction_id,omitempty"`
	// PrevContent is the content of the state event this one replaced.
	PrevContent json.RawMessage `json:"prev_content,omitempty"`
	// PrevSender is the sender of the replaced state event.
	PrevSender string `json:"prev_sender,omitempty"`
	// ReplacesState is the event ID of the replaced state event (spec
	// v1.19).
	ReplacesState string `json:"replaces_state,omitempty"`
	// RedactedBecause is the redaction event, for redacted events.
	RedactedBecause json.RawMessage `json:"redacted_because,omitempty"`
	// Membership is the requesting user's membership of the room at the
	// event, including the event's own change ("leave" before they ever
	// joined); empty where it is not computed.
	Membership string `json:"membership,omitempty"`
	// Relations is the bundled aggregation of the event's children
	// (unsigned["m.relations"]), when it has any.
	Relations json.RawMessage `json:"m.relations,omitempty"`
}

// Event is the spec's ClientEvent.
type Event struct {
	Content        json.RawMessage `json:"content"`
	EventID        string          `json:"event_id"`
	OriginServerTS int64           `json:"origin_server_ts"`
	RoomID         string          `json:"room_id,omitempty"`
	Sender         string          `json:"sender"`
	StateKey       *string         `json:"state_key,omitempty"`
	Type           string          `json:"type"`
	// Redacts is set on m.room.redaction events in every room version: from
	// v11 it lives in content, and the spec asks servers to copy it to the
	// top level for older clients.
	Redacts  string    `json:"redacts,omitempty"`
	Unsigned *Unsigned `json:"unsigned,omitempty"`
}

// Format returns the ClientEvent of pdu as seen at time nowMS (milliseconds
// since the epoch). withRoomID selects ClientEvent (true) or
// ClientEventWithoutRoomID (false, as inside /sync rooms).
func Format(pdu *event.PDU, nowMS int64, withRoomID bool) Event {
	ev := Event{
		Content:        pdu.Content(),
		EventID:        string(pdu.EventID()),
		OriginServerTS: pdu.OriginServerTS(),
		Sender:         string(pdu.Sender()),
		Type:           pdu.Type(),
		Redacts:        string(pdu.Redacts()),
		Unsigned:       &Unsigned{Age: max(0, nowMS-pdu.OriginServerTS())},
	}
	if withRoomID {
		ev.RoomID = string(pdu.RoomID())
	}
	if sk, ok := pdu.StateKey(); ok {
		ev.StateKey = &sk
	}
	if len(ev.Content) == 0 {
		ev.Content = json.RawMessage("{}")
	}
	if ev.Redacts != "" && ev.Type == "m.room.redaction" {
		ev.Content = withRedacts(ev.Content, ev.Redacts)
	}
	return ev
}

// withRedacts returns the content of a redaction event of a room version
// before 11, whose redacts is a top-level key, with redacts copied in:
// "servers should add a redacts property to the content of
// m.room.redaction events in older room versions when serving such
// events over the Client-Server API" (room version 11). Content that
// has one already, or is no object, is returned as it is.
func withRedacts(content json.RawMessage, redacts string) json.RawMessage {
	var c map[string]json.RawMessage
	if json.Unmarshal(content, &c) != nil || c == nil {
		return content
	}
	if _, ok := c["redacts"]; ok {
		return content
	}
	c["redacts"], _ = json.Marshal(redacts)
	out, err := json.Marshal(c)
	if err != nil {
		return content
	}
	return out
}

// StrippedState is the spec's StrippedStateEvent, used for invite and knock
// state.
type StrippedState struct {
	Content  json.RawMessage `json:"content"`
	Sender   string          `json:"sender"`
	StateKey string          `json:"state_key"`
	Type     string          `json:"type"`
}

// Strip returns the stripped form of a state event.
func Strip(pdu *event.PDU) StrippedState {
	sk, _ := pdu.StateKey()
	return StrippedState{Content: pdu.Content(), Sender: string(pdu.Sender()), StateKey: sk, Type: pdu.Type()}
}

// StrippedStateTypes are the state events a server includes in the
// invite_state and knock_state of a room, as the spec recommends.
var StrippedStateTypes = []string{
	"m.room.create", "m.room.join_rules", "m.room.canonical_alias", "m.room.avatar",
	"m.room.name", "m.room.encryption", "m.room.topic",
}
