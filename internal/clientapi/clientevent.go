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
// unsigned.age, unsigned.transaction_id for the sender's own device, and
// unsigned.prev_content for state events. It lives for one request.
type eventFormatter struct {
	db       RoomStore
	roomID   id.RoomID
	version  *roomversion.Version
	nowMS    int64
	userID   id.UserID
	deviceID id.DeviceID
}

func (a *roomAPI) formatter(roomID id.RoomID, v *roomversion.Version, sess session) *eventFormatter {
	return &eventFormatter{
		db: a.db, roomID: roomID, version: v, nowMS: a.s.now().UnixMilli(),
		userID: sess.UserID, deviceID: sess.DeviceID,
	}
}

// redactionOf returns the redaction that applies to e, if any. The event
// path records it on the redacted event when it persists the redaction.
func (f *eventFormatter) redactionOf(ctx context.Context, e store.Event) (store.Event, bool, error) {
	if e.RedactedBecause == "" {
		return store.Event{}, false, nil
	}
	r, err := f.db.Event(ctx, e.RedactedBecause)
	if err != nil {
		return store.Event{}, false, fmt.Errorf("load redaction of %s: %w", e.EventID, err)
	}
	return r, true, nil
}

// format returns the ClientEvent of a stored event.
func (f *eventFormatter) format(ctx context.Context, e store.Event) (clientevent.Event, error) {
	return f.formatDepth(ctx, e, 0)
}

func (f *eventFormatter) formatDepth(ctx context.Context, e store.Event, depth int) (clientevent.Event, error) {
	pdu, err := event.ParseTrusted(e.JSON, f.version, e.EventID)
	if err != nil {
		return clientevent.Event{}, fmt.Errorf("parse stored event %s: %w", e.EventID, err)
	}
	ce := clientevent.Format(pdu, f.nowMS, true)
	if e.TxnID != "" && e.Sender == f.userID && e.TxnDeviceID == f.deviceID {
		ce.Unsigned.TransactionID = e.TxnID
	}
	if depth == 0 {
		red, ok, err := f.redactionOf(ctx, e)
		if err != nil {
			return clientevent.Event{}, err
		}
		if ok {
			content, err := f.redactedContent(e)
			if err != nil {
				return clientevent.Event{}, err
			}
			ce.Content = content
			because, err := f.formatDepth(ctx, red, depth+1)
			if err != nil {
				return clientevent.Event{}, err
			}
			b, err := json.Marshal(because)
			if err != nil {
				return clientevent.Event{}, fmt.Errorf("encode redacted_because: %w", err)
			}
			ce.Unsigned.RedactedBecause = b
		}
		if e.StateKey != nil {
			if err := f.addPrevContent(ctx, e, &ce); err != nil {
				return clientevent.Event{}, err
			}
		}
	}
	return ce, nil
}

// redactedContent returns the content of e after redaction.
func (f *eventFormatter) redactedContent(e store.Event) (json.RawMessage, error) {
	red, err := event.Redact(e.JSON, f.version)
	if err != nil {
		return nil, fmt.Errorf("redact %s: %w", e.EventID, err)
	}
	var r struct {
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(red, &r); err != nil {
		return nil, fmt.Errorf("redact %s: %w", e.EventID, err)
	}
	if len(r.Content) == 0 {
		return json.RawMessage("{}"), nil
	}
	return r.Content, nil
}

// addPrevContent sets unsigned.prev_content and prev_sender of a state
// event from the state before it.
func (f *eventFormatter) addPrevContent(ctx context.Context, e store.Event, ce *clientevent.Event) error {
	g, err := f.db.StateGroupBeforeEvent(ctx, e.NID)
	if err != nil {
		return nil // an outlier: nothing is known before it
	}
	k := store.StateKey{Type: e.Type, StateKey: *e.StateKey}
	keys, err := f.db.StateKeysAtGroup(ctx, g, []store.StateKey{k})
	if err != nil {
		return err
	}
	nid, ok := keys[k]
	if !ok {
		return nil
	}
	prev, err := f.db.EventsByNID(ctx, []int64{nid})
	if err != nil || len(prev) == 0 {
		return err
	}
	p := prev[0]
	content, err := f.contentOf(ctx, p)
	if err != nil {
		return err
	}
	ce.Unsigned.PrevContent = content
	ce.Unsigned.PrevSender = string(p.Sender)
	return nil
}

// contentOf returns the content of e as a client sees it (redacted if a
// redaction applies).
func (f *eventFormatter) contentOf(ctx context.Context, e store.Event) (json.RawMessage, error) {
	if _, ok, err := f.redactionOf(ctx, e); err != nil {
		return nil, err
	} else if ok {
		return f.redactedContent(e)
	}
	var r struct {
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(e.JSON, &r); err != nil {
		return nil, fmt.Errorf("parse stored event %s: %w", e.EventID, err)
	}
	return r.Content, nil
}

// formatAll formats events in order; the result is never nil, so it
// encodes as [].
func (f *eventFormatter) formatAll(ctx context.Context, events []store.Event) ([]clientevent.Event, error) {
	out := make([]clientevent.Event, 0, len(events))
	for _, e := range events {
		ce, err := f.format(ctx, e)
		if err != nil {
			return nil, err
		}
		out = append(out, ce)
	}
	return out, nil
}
