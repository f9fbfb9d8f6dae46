// Spec: Client-Server API § Sending events to a room, § Redactions, § Transaction identifiers
// OpenAPI: data/api/client-server/room_send.yaml
// OpenAPI: data/api/client-server/redaction.yaml
// https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3roomsroomidsendeventtypetxnid

package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// maxTxnIDBytes bounds a client transaction ID, which the spec leaves
// open; it is stored per device.
const maxTxnIDBytes = 255

// decodeContent reads an event content object from the body: 413
// M_TOO_LARGE above the event size limit, M_NOT_JSON or M_BAD_JSON if it is
// no JSON object.
func decodeContent(w http.ResponseWriter, r *http.Request) (json.RawMessage, error) {
	var content json.RawMessage
	if err := httpapi.DecodeJSONLimit(w, r, &content, maxEventBytes); err != nil {
		return nil, err
	}
	return content, nil
}

func pathTxnID(r *http.Request) (string, error) {
	txnID := r.PathValue("txnId")
	if txnID == "" || len(txnID) > maxTxnIDBytes {
		return "", matrixerr.InvalidParam("txnId must be 1 to 255 bytes")
	}
	// A copy: the path value shares the memory of the whole request path,
	// and the transaction ID lives on beside the event in sync's memory.
	return strings.Clone(txnID), nil
}

// sendScope is the transaction scope of PUT /rooms/{roomId}/send/{eventType}.
func sendScope(roomID id.RoomID, eventType string) string {
	return "send:" + string(roomID) + ":" + eventType
}

// redactScope is the transaction scope of PUT
// /rooms/{roomId}/redact/{eventId}.
func redactScope(roomID id.RoomID, eventID id.EventID) string {
	return "redact:" + string(roomID) + ":" + string(eventID)
}

// sendWithTxn sends p unless the device made the transaction txnID on the
// same endpoint and path (scope) before, in which case it returns the event
// that transaction produced. The spec calls a request a retry only when
// its path is the same: the same txnId elsewhere is a new request. The
// event path answers retries (from the room's head, or from the store when
// the head does not know the transaction), so a send costs no read here.
func (a *roomAPI) sendWithTxn(ctx context.Context, roomID id.RoomID, sess session, scope, txnID string, p room.Proposal) (id.EventID, error) {
	key := store.TxnKey{UserID: sess.UserID, DeviceID: sess.DeviceID, Scope: scope, TxnID: txnID}
	p.Sender, p.TxnID, p.TxnScope, p.DeviceID = sess.UserID, txnID, scope, sess.DeviceID
	pdu, _, err := a.svc.Send(ctx, roomID, p)
	if errors.Is(err, store.ErrExists) {
		// A concurrent retry recorded the transaction first.
		if prior, lerr := a.db.TxnEventID(ctx, key); lerr == nil {
			return prior, nil
		}
	}
	if err != nil {
		return "", roomErr(err)
	}
	return pdu.EventID(), nil
}

// sendMessage sends a message event.
//
// PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}
//
// A retried txnId of the same device on the same path returns the first
// event's ID.
func (a *roomAPI) sendMessage(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, typ, err := pathRoomEventType(r)
	if err != nil {
		return err
	}
	txnID, err := pathTxnID(r)
	if err != nil {
		return err
	}
	content, err := decodeContent(w, r)
	if err != nil {
		return err
	}
	if typ == typeRedaction {
		// A redaction sent as a message gets the checks of /redact.
		var c struct {
			Redacts string `json:"redacts"`
		}
		if err := json.Unmarshal(content, &c); err != nil || c.Redacts == "" {
			return matrixerr.BadJSON("an m.room.redaction needs content.redacts; use /redact")
		}
		target, err := id.ParseEventID(c.Redacts)
		if err != nil {
			return matrixerr.BadJSON("content.redacts is not a valid event ID")
		}
		eventID, err := a.redact(r.Context(), roomID, sess, sendScope(roomID, typ), txnID, target, content)
		if err != nil {
			return err
		}
		return httpapi.OK(w, map[string]any{"event_id": eventID})
	}
	scope := sendScope(roomID, typ)
	if _, _, _, related := room.RelationOf(content); related {
		// A retry answers with its first event before the checks,
		// which the first event itself would fail (a duplicate).
		key := store.TxnKey{UserID: sess.UserID, DeviceID: sess.DeviceID, Scope: scope, TxnID: txnID}
		if prior, err := a.db.TxnEventID(r.Context(), key); err == nil {
			return httpapi.OK(w, map[string]any{"event_id": prior})
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := a.checkRelation(r.Context(), roomID, sess.UserID, typ, content); err != nil {
			return err
		}
	}
	eventID, err := a.sendWithTxn(r.Context(), roomID, sess, scope, txnID, room.Proposal{Type: typ, Content: content})
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]any{"event_id": eventID})
}

// redactEvent redacts an event.
//
// PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}
//
// Users may redact their own events, and others' if their power level
// reaches "redact"; the event must be in the room (404 M_NOT_FOUND).
func (a *roomAPI) redactEvent(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, eventID, err := pathRoomEventID(r)
	if err != nil {
		return err
	}
	txnID, err := pathTxnID(r)
	if err != nil {
		return err
	}
	var body struct {
		Reason *string `json:"reason"`
	}
	if err := httpapi.DecodeOptionalJSON(w, r, &body); err != nil {
		return err
	}
	content := map[string]any{}
	if body.Reason != nil {
		content["reason"] = *body.Reason
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return err
	}
	redactionID, err := a.redact(r.Context(), roomID, sess, redactScope(roomID, eventID), txnID, eventID, raw)
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]any{"event_id": redactionID})
}

// typeRedaction is the type of redaction events.
const typeRedaction = "m.room.redaction"

// redact sends a redaction of eventID with the given content after
// checking that the event is in the room (404 M_NOT_FOUND) and that the
// user sent it or has the power to redact others' events (403). scope and
// txnID are the client transaction of the request.
func (a *roomAPI) redact(ctx context.Context, roomID id.RoomID, sess session, scope, txnID string, eventID id.EventID, content json.RawMessage) (id.EventID, error) {
	target, err := a.db.Event(ctx, eventID)
	// Rejected and soft-failed events (and outliers) are never shown to
	// clients, so for them they do not exist.
	if errors.Is(err, store.ErrNotFound) || (err == nil && (target.RoomID != roomID || !target.ShownToClients())) {
		return "", matrixerr.NotFound("event not found")
	}
	if err != nil {
		return "", err
	}
	if target.Sender != sess.UserID {
		ok, err := a.canRedactOthers(ctx, roomID, sess.UserID)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", matrixerr.Forbidden("you may only redact your own events")
		}
	}
	return a.sendWithTxn(ctx, roomID, sess, scope, txnID, room.Proposal{Type: typeRedaction, Content: content, Redacts: eventID})
}

// canRedactOthers reports whether user's power level in the room reaches
// its redact level, as the auth rules read m.room.power_levels (creators
// included).
func (a *roomAPI) canRedactOthers(ctx context.Context, roomID id.RoomID, user id.UserID) (bool, error) {
	levels, err := a.powerLevels(ctx, roomID)
	if err != nil {
		return false, err
	}
	return levels.UserLevel(user) >= levels.Redact(), nil
}
