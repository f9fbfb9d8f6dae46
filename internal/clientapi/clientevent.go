// Spec: Client-Server API § Room event format (ClientEvent)
// OpenAPI: data/api/client-server/definitions/client_event.yaml
// https://spec.matrix.org/v1.19/client-server-api/#room-event-format

package clientapi

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
)

// eventFormatter turns stored events of one room into ClientEvents for one
// requesting device: redactions applied (with unsigned.redacted_because),
// unsigned.age, unsigned.transaction_id for the sender's own device,
// unsigned.prev_content for state events and unsigned.membership. It lives
// for one request.
//
// formatAll reads what it needs for all events at once (the redactions,
// the replaced state events), so formatting n events costs a few queries,
// not a few per event.
type eventFormatter struct {
	db       RoomStore
	roomID   id.RoomID
	version  *roomversion.Version
	nowMS    int64
	userID   id.UserID
	deviceID id.DeviceID

	// memberships is the requesting user's membership timeline in the
	// room, read on first use.
	memberships *membershipTimeline
	// currentState returns the room head's current state, already parsed;
	// parsed holds it by event ID once a large batch asked for it, so
	// that those events are not parsed again from their stored JSON.
	currentState func(ctx context.Context) ([]*event.PDU, error)
	parsed       map[id.EventID]*event.PDU
	// replaces holds what state events replaced, by NID, where a header
	// query already read it (see prepare).
	replaces map[int64]int64
	// rel reads bundled aggregations; nil leaves them out. bundleDepth
	// counts the aggregations being formatted (see bundle).
	rel         Relations
	bundleDepth int
	// cache keeps events parsed across requests; nil parses every time.
	cache *parsedCache
}

// minHeadLookup is the batch size from which formatAll takes the events of
// the current state from the room head instead of parsing them: below it,
// parsing costs less than indexing the head.
const minHeadLookup = 64

func (a *roomAPI) formatter(roomID id.RoomID, v *roomversion.Version, sess session) *eventFormatter {
	return &eventFormatter{
		db: a.db, roomID: roomID, version: v, nowMS: a.s.now().UnixMilli(),
		userID: sess.UserID, deviceID: sess.DeviceID, rel: a.rel, cache: &a.parsed,
		currentState: func(ctx context.Context) ([]*event.PDU, error) { return a.svc.CurrentState(ctx, roomID) },
	}
}

// format returns the ClientEvent of a stored event.
func (f *eventFormatter) format(ctx context.Context, e store.Event) (clientevent.Event, error) {
	out, err := f.formatAll(ctx, []store.Event{e})
	if err != nil {
		return clientevent.Event{}, err
	}
	return out[0], nil
}

// formatAll formats events in order; the result is never nil, so it
// encodes as [].
func (f *eventFormatter) formatAll(ctx context.Context, events []store.Event) ([]clientevent.Event, error) {
	out := make([]clientevent.Event, 0, len(events))
	if len(events) == 0 {
		return out, nil
	}
	redactions, err := f.redactions(ctx, events)
	if err != nil {
		return nil, err
	}
	prev, err := f.db.ReplacedStateEvents(ctx, events, f.replaces)
	if err != nil {
		return nil, err
	}
	states := 0
	for _, e := range events {
		if e.StateKey != nil {
			states++
		}
	}
	if states >= minHeadLookup {
		if err := f.loadHead(ctx); err != nil {
			return nil, err
		}
	}
	for _, e := range events {
		ce, err := f.formatOne(e)
		if err != nil {
			return nil, err
		}
		if e.RedactedBecause != "" {
			if ce.Content, ce.Redacts, err = f.redacted(e); err != nil {
				return nil, err
			}
			if red, ok := redactions[e.RedactedBecause]; ok {
				because, err := f.formatOne(red)
				if err != nil {
					return nil, err
				}
				if ce.Unsigned.RedactedBecause, err = json.Marshal(because); err != nil {
					return nil, fmt.Errorf("encode redacted_because: %w", err)
				}
			}
		}
		if p, ok := prev[e.NID]; ok {
			if ce.Unsigned.PrevContent, err = f.contentOf(p); err != nil {
				return nil, err
			}
			ce.Unsigned.PrevSender = string(p.Sender)
			ce.Unsigned.ReplacesState = string(p.EventID)
		}
		if ce.Unsigned.Membership, err = f.membershipAt(ctx, e); err != nil {
			return nil, err
		}
		out = append(out, ce)
	}
	if err := f.bundle(ctx, events, out); err != nil {
		return nil, err
	}
	return out, nil
}

// loadHead indexes the room head's current state by event ID (once).
func (f *eventFormatter) loadHead(ctx context.Context) error {
	if f.parsed != nil || f.currentState == nil {
		return nil
	}
	pdus, err := f.currentState(ctx)
	if err != nil {
		return roomErr(err)
	}
	f.parsed = make(map[id.EventID]*event.PDU, len(pdus))
	for _, p := range pdus {
		f.parsed[p.EventID()] = p
	}
	return nil
}

// useParsed hands the formatter events already parsed, by event ID, when
// it holds none yet: the events a state snapshot came with.
func (f *eventFormatter) useParsed(parsed map[id.EventID]*event.PDU) {
	if f.parsed == nil && len(parsed) > 0 {
		f.parsed = parsed
	}
}

// prepare makes event headers ready to format and filter: the events the
// room head holds are taken from it (so neither their JSON is read nor are
// they parsed), the JSON of the others is loaded in one batch, and what
// the headers say they replaced is kept for formatAll.
func (f *eventFormatter) prepare(ctx context.Context, h store.Headers) ([]store.Event, error) {
	if f.replaces == nil {
		f.replaces = make(map[int64]int64, len(h.Replaces))
	}
	for nid, rep := range h.Replaces {
		f.replaces[nid] = rep
	}
	if len(h.Events) >= minHeadLookup {
		if err := f.loadHead(ctx); err != nil {
			return nil, err
		}
	}
	var missing []int64
	for _, e := range h.Events {
		if e.JSON == nil && f.parsed[e.EventID] == nil {
			missing = append(missing, e.NID)
		}
	}
	if len(missing) == 0 {
		return h.Events, nil
	}
	full, err := f.db.EventsByNID(ctx, missing)
	if err != nil {
		return nil, err
	}
	byNID := make(map[int64][]byte, len(full))
	for _, e := range full {
		byNID[e.NID] = e.JSON
	}
	// h may be shared (the room head's snapshot): build a new list.
	out := make([]store.Event, 0, len(h.Events))
	for _, e := range h.Events {
		if e.JSON == nil && f.parsed[e.EventID] == nil {
			if e.JSON = byNID[e.NID]; e.JSON == nil {
				continue // gone since the headers were read
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// eventJSON returns the PDU JSON of a prepared event.
func (f *eventFormatter) eventJSON(e store.Event) []byte {
	if e.JSON == nil && !e.Erased {
		if p := f.parsed[e.EventID]; p != nil {
			return p.JSON()
		}
	}
	return e.JSON
}

// rawContent returns the content of a prepared event as stored.
func (f *eventFormatter) rawContent(e store.Event) json.RawMessage {
	if p := f.parsed[e.EventID]; p != nil && !e.Erased {
		return p.Content()
	}
	return event.RawContent(e.JSON)
}

// formatOne returns the ClientEvent of e without what needs other events.
func (f *eventFormatter) formatOne(e store.Event) (clientevent.Event, error) {
	// An erased copy (room.FilterVisible) is served as it is, never from
	// or into the parsed events, which hold the event as stored.
	var pdu *event.PDU
	if !e.Erased {
		pdu = f.parsed[e.EventID]
		if pdu == nil && f.cache != nil {
			pdu = f.cache.get(e.EventID)
		}
	}
	if pdu == nil {
		var err error
		if pdu, err = event.ParseTrusted(e.JSON, f.version, e.EventID); err != nil {
			return clientevent.Event{}, fmt.Errorf("parse stored event %s: %w", e.EventID, err)
		}
		if f.cache != nil && !e.Erased {
			f.cache.add(e.EventID, pdu)
		}
	}
	ce := clientevent.Format(pdu, f.nowMS, true)
	if e.TxnID != "" && e.Sender == f.userID && e.TxnDeviceID == f.deviceID {
		ce.Unsigned.TransactionID = e.TxnID
	}
	return ce, nil
}

// redactions loads the redactions that apply to events, by event ID. The
// event path records a redaction on the event it redacts.
func (f *eventFormatter) redactions(ctx context.Context, events []store.Event) (map[id.EventID]store.Event, error) {
	var ids []id.EventID
	for _, e := range events {
		if e.RedactedBecause != "" {
			ids = append(ids, e.RedactedBecause)
		}
	}
	out := map[id.EventID]store.Event{}
	if len(ids) == 0 {
		return out, nil
	}
	reds, err := f.db.EventsByID(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("load redactions: %w", err)
	}
	for _, r := range reds {
		out[r.EventID] = r
	}
	return out, nil
}

// redacted returns the content and the top-level redacts of e after
// redaction, as clientevent.Format shows the redacted event (and sync
// serves it): a redacted redaction before room version 11 loses its
// redacts, while from 11 on content.redacts stays, and with it the
// top-level copy.
func (f *eventFormatter) redacted(e store.Event) (json.RawMessage, string, error) {
	red, err := event.Redact(f.eventJSON(e), f.version)
	if err != nil {
		return nil, "", fmt.Errorf("redact %s: %w", e.EventID, err)
	}
	pdu, err := event.ParseTrusted(red, f.version, e.EventID)
	if err != nil {
		return nil, "", fmt.Errorf("parse redacted %s: %w", e.EventID, err)
	}
	ce := clientevent.Format(pdu, 0, false)
	return ce.Content, ce.Redacts, nil
}

// contentOf returns the content of e as a client sees it (redacted if a
// redaction applies).
func (f *eventFormatter) contentOf(e store.Event) (json.RawMessage, error) {
	if e.RedactedBecause != "" {
		content, _, err := f.redacted(e)
		return content, err
	}
	content := event.RawContent(e.JSON)
	if content == nil {
		return nil, fmt.Errorf("parse stored event %s: no content", e.EventID)
	}
	return content, nil
}
