package event

import "encoding/json"

// RawContent returns the "content" member of an event's JSON (a stored PDU
// or a client event) without parsing the event, or nil when the JSON is
// not an object or has no content.
func RawContent(eventJSON []byte) json.RawMessage {
	var e struct {
		Content json.RawMessage `json:"content"`
	}
	if json.Unmarshal(eventJSON, &e) != nil {
		return nil
	}
	return e.Content
}
