package clientevent

import (
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends e encoded as encoding/json encodes it (same fields,
// same order, same omissions) without reflection and without scanning
// the raw parts again: Content, PrevContent and RedactedBecause must be
// valid JSON, as the formats of stored events and of this package are.
// Large responses (a big room's state) are encoded this way.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"content":`...)
	b = appendRaw(b, e.Content)
	b = append(b, `,"event_id":`...)
	b = appendString(b, e.EventID)
	b = append(b, `,"origin_server_ts":`...)
	b = strconv.AppendInt(b, e.OriginServerTS, 10)
	if e.RoomID != "" {
		b = append(b, `,"room_id":`...)
		b = appendString(b, e.RoomID)
	}
	b = append(b, `,"sender":`...)
	b = appendString(b, e.Sender)
	if e.StateKey != nil {
		b = append(b, `,"state_key":`...)
		b = appendString(b, *e.StateKey)
	}
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	if e.Redacts != "" {
		b = append(b, `,"redacts":`...)
		b = appendString(b, e.Redacts)
	}
	if u := e.Unsigned; u != nil {
		b = append(b, `,"unsigned":{"age":`...)
		b = strconv.AppendInt(b, u.Age, 10)
		if u.TransactionID != "" {
			b = append(b, `,"transaction_id":`...)
			b = appendString(b, u.TransactionID)
		}
		if len(u.PrevContent) > 0 {
			b = append(b, `,"prev_content":`...)
			b = appendRaw(b, u.PrevContent)
		}
		if u.PrevSender != "" {
			b = append(b, `,"prev_sender":`...)
			b = appendString(b, u.PrevSender)
		}
		if u.ReplacesState != "" {
			b = append(b, `,"replaces_state":`...)
			b = appendString(b, u.ReplacesState)
		}
		if len(u.RedactedBecause) > 0 {
			b = append(b, `,"redacted_because":`...)
			b = appendRaw(b, u.RedactedBecause)
		}
		if u.Membership != "" {
			b = append(b, `,"membership":`...)
			b = appendString(b, u.Membership)
		}
		if len(u.Relations) > 0 {
			b = append(b, `,"m.relations":`...)
			b = appendRaw(b, u.Relations)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// AppendList appends events as a JSON array ([] when there are none).
func AppendList(b []byte, events []Event) []byte {
	// Grow once to about the size of the result: a big room's state is
	// megabytes, which growing by doubling would copy over and over.
	size := 2
	for i := range events {
		e := &events[i]
		size += 160 + len(e.Content) + len(e.EventID) + len(e.Sender) + len(e.Type) + len(e.RoomID)
		if e.StateKey != nil {
			size += len(*e.StateKey)
		}
		if u := e.Unsigned; u != nil {
			size += len(u.PrevContent) + len(u.RedactedBecause) + len(u.PrevSender) + len(u.ReplacesState) + len(u.Relations)
		}
	}
	b = slices.Grow(b, size)
	b = append(b, '[')
	for i := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = events[i].AppendJSON(b)
	}
	return append(b, ']')
}

// appendRaw appends raw JSON, null when empty (as encoding/json encodes
// an empty json.RawMessage).
func appendRaw(b []byte, raw json.RawMessage) []byte {
	if len(raw) == 0 {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

// appendString appends s as a JSON string: directly when it holds nothing
// to escape, through encoding/json otherwise.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			enc, err := json.Marshal(s)
			if err != nil { // cannot happen for a string
				return append(b, `""`...)
			}
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
