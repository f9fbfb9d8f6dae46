package room

// Spec: Client-Server API § Forming relationships between events
// https://spec.matrix.org/v1.19/client-server-api/#forming-relationships-between-events

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// relatesToKey is the content key of a relationship.
var relatesToKey = []byte(`"m.relates_to"`)

// RelationOf returns the relationship an event's content declares
// (content["m.relates_to"] with a string rel_type and a valid event_id),
// and whether it declares one. Replies (m.in_reply_to without rel_type)
// are not relationships the server aggregates, nor is a relationship
// whose rel_type or key holds a NUL: no client sends one, and PostgreSQL
// cannot store it.
func RelationOf(content json.RawMessage) (relType string, parent id.EventID, key string, ok bool) {
	if !bytes.Contains(content, relatesToKey) {
		return "", "", "", false
	}
	var c struct {
		RelatesTo *struct {
			RelType any `json:"rel_type"`
			EventID any `json:"event_id"`
			Key     any `json:"key"`
		} `json:"m.relates_to"`
	}
	if json.Unmarshal(content, &c) != nil || c.RelatesTo == nil {
		return "", "", "", false
	}
	rt, _ := c.RelatesTo.RelType.(string)
	eid, _ := c.RelatesTo.EventID.(string)
	k, _ := c.RelatesTo.Key.(string)
	if rt == "" || eid == "" || strings.ContainsRune(rt, 0) || strings.ContainsRune(k, 0) {
		return "", "", "", false
	}
	parsed, err := id.ParseEventID(eid)
	if err != nil {
		return "", "", "", false
	}
	return rt, parsed, k, true
}

// relationRecord returns the relation row of a timeline event at stream
// position pos, if the event declares a relationship.
func relationRecord(pdu *event.PDU, nid, pos int64) (store.Relation, bool) {
	relType, parent, key, ok := RelationOf(pdu.Content())
	if !ok || parent == pdu.EventID() {
		return store.Relation{}, false
	}
	return store.Relation{
		EventNID: nid, RoomID: pdu.RoomID(), RelatesTo: parent, RelType: relType, Type: pdu.Type(),
		Sender: pdu.Sender(), Depth: pdu.Depth(), StreamPos: pos, OriginServerTS: pdu.OriginServerTS(), Key: key,
	}, true
}
