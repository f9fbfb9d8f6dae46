package clientsync

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// clientEventJSON loads a stored event and returns its client form.
func (s *Service) clientEventJSON(ctx context.Context, roomID id.RoomID, v *roomversion.Version, eventID id.EventID) (json.RawMessage, error) {
	e, err := s.db.Event(ctx, eventID)
	if err != nil {
		return nil, fmt.Errorf("load redaction %s: %w", eventID, err)
	}
	pdu, err := event.ParseTrusted(e.JSON, v, e.EventID)
	if err != nil {
		return nil, fmt.Errorf("parse redaction %s: %w", eventID, err)
	}
	return json.Marshal(clientevent.Format(pdu, s.now().UnixMilli(), false))
}

// redactInWindow serves redacted every event of a window whose redaction
// is in the same window, so a client that catches up sees the redacted
// form (events redacted before the window come redacted from the store).
func redactInWindow(items []item, now int64) []item {
	targets := map[id.EventID]*event.PDU{}
	for _, it := range items {
		if it.pdu.Type() == "m.room.redaction" && it.pdu.Redacts() != "" {
			targets[it.pdu.Redacts()] = it.pdu
		}
	}
	if len(targets) == 0 {
		return items
	}
	for i, it := range items {
		// The state event an event replaced is shown redacted too, in
		// its prev_content.
		if p := it.replaced; p != nil && targets[p.EventID()] != nil {
			if pdu, ok := redactPDU(p); ok {
				items[i].replaced = pdu
			}
		}
		red, ok := targets[it.pdu.EventID()]
		if !ok {
			continue
		}
		pdu, ok := redactPDU(it.pdu)
		if !ok {
			continue // a stored event always redacts; keep it as it is otherwise
		}
		because, err := json.Marshal(clientevent.Format(red, now, false))
		if err != nil {
			continue
		}
		items[i].pdu, items[i].redactedBecause = pdu, because
	}
	return items
}

// redactPDU returns p redacted, or false if it cannot be.
func redactPDU(p *event.PDU) (*event.PDU, bool) {
	v := p.Version()
	raw, err := event.Redact(p.JSON(), v)
	if err != nil {
		return nil, false
	}
	pdu, err := event.ParseTrusted(raw, v, p.EventID())
	if err != nil {
		return nil, false
	}
	return pdu, true
}
