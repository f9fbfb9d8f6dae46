// Spec: Client-Server API § Receipts, § Fully read markers
// OpenAPI: data/api/client-server/receipts.yaml, data/api/client-server/read_markers.yaml
// https://spec.matrix.org/v1.19/client-server-api/#receipts
// https://spec.matrix.org/v1.19/client-server-api/#fully-read-markers

package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/receipts"
)

// Receipts is what the receipt and read marker endpoints need of the
// receipt service. receipts.Service implements it.
type Receipts interface {
	// Post records a receipt (or, for m.fully_read, the read marker).
	Post(ctx context.Context, user id.UserID, roomID id.RoomID, typ string, eventID id.EventID, threadID string) error
}

var _ Receipts = (*receipts.Service)(nil)

// receiptRoutes registers the receipt, read marker and typing endpoints.
func (s *Server) receiptRoutes(rt *httpapi.Router, a *roomAPI) {
	const v3 = "/_matrix/client/v3"
	rt.Handle("POST "+v3+"/rooms/{roomId}/receipt/{receiptType}/{eventId}", s.authed(a.postReceipt))
	rt.Handle("POST "+v3+"/rooms/{roomId}/read_markers", s.authed(a.setReadMarker))
	rt.Handle("PUT "+v3+"/rooms/{roomId}/typing/{userId}", s.authed(a.setTyping))
}

// readableEvent checks that the user is joined to the room (403
// M_FORBIDDEN) and may see the event there (404 M_NOT_FOUND).
func (a *roomAPI) readableEvent(ctx context.Context, roomID id.RoomID, eventID id.EventID, user id.UserID) error {
	v, err := a.view(ctx, roomID, user)
	if err != nil {
		return err
	}
	if !v.joined {
		return matrixerr.Forbidden("you are not joined to this room")
	}
	// Readers of a busy room read its newest messages: answered from
	// memory, without the visibility queries.
	if ok, err := a.joinedBefore(ctx, roomID, eventID, user); err != nil || ok {
		return err
	}
	_, err = a.visibleEvent(ctx, roomID, eventID, user, true)
	return err
}

// inThread checks that a threaded receipt's event is in its thread
// (M_INVALID_PARAM otherwise): an event of the main timeline for "main",
// the root or an event of the root's thread for a root. An event related
// to another by a reaction or an edit is in its parent's thread, which
// is not looked up: it passes.
func (a *roomAPI) inThread(ctx context.Context, eventID id.EventID, thread string) error {
	pl, ok, err := a.places.get(ctx, a.db, eventID)
	if err != nil || !ok || pl.related {
		return err
	}
	var refused error
	switch {
	case thread == "main" && pl.thread != "":
		refused = matrixerr.InvalidParam("%s is in the thread of %s, not in the main timeline", eventID, pl.thread)
	case thread != "main" && id.EventID(thread) != eventID && pl.thread != id.EventID(thread):
		refused = matrixerr.InvalidParam("%s is not related to the thread %s", eventID, thread)
	}
	if refused == nil {
		return nil
	}
	// A redaction takes the relation from the content clients see, so
	// their threaded receipts for a redacted event are not checked. The
	// cached place holds the event as sent; whether it was redacted since
	// is read here, on the way to a refusal only.
	e, err := a.db.Event(ctx, eventID)
	if err != nil {
		return err
	}
	if e.RedactedBecause != "" {
		return nil
	}
	return refused
}

func receiptErr(err error) error {
	if errors.Is(err, receipts.ErrInvalid) {
		return matrixerr.Wrap(matrixerr.KindInvalidParam, err, err.Error())
	}
	return err
}

// postReceipt records a receipt.
//
// POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}
func (a *roomAPI) postReceipt(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, eventID, err := pathRoomEventID(r)
	if err != nil {
		return err
	}
	typ := r.PathValue("receiptType")
	if !receipts.ValidType(typ) {
		return matrixerr.InvalidParam("unknown receipt type %q", typ)
	}
	var req struct {
		ThreadID json.RawMessage `json:"thread_id"`
	}
	if err := httpapi.DecodeOptionalJSON(w, r, &req); err != nil {
		return err
	}
	// receipts.yaml: a thread_id that "is not a string" is invalid
	// (M_INVALID_PARAM); null counts as absent.
	thread := ""
	if httpapi.Given(req.ThreadID) {
		if json.Unmarshal(req.ThreadID, &thread) != nil {
			return matrixerr.InvalidParam("thread_id must be a string")
		}
		if thread == "" {
			return matrixerr.InvalidParam("thread_id must not be empty")
		}
	}
	if err := a.readableEvent(r.Context(), roomID, eventID, sess.UserID); err != nil {
		return err
	}
	if thread != "" {
		if err := a.inThread(r.Context(), eventID, thread); err != nil {
			return err
		}
	}
	if err := a.s.Receipts.Post(r.Context(), sess.UserID, roomID, typ, eventID, thread); err != nil {
		return receiptErr(err)
	}
	a.receiptPosted(sess)
	return httpapi.OK(w, struct{}{})
}

// setReadMarker sets the read marker and, optionally, receipts.
//
// POST /_matrix/client/v3/rooms/{roomId}/read_markers
func (a *roomAPI) setReadMarker(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	// Other members of the body are not the endpoint's and are ignored
	// (clients send their own, such as mautrix's com.beeper.*).
	var req struct {
		FullyRead   *string `json:"m.fully_read"`
		Read        *string `json:"m.read"`
		ReadPrivate *string `json:"m.read.private"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	type mark struct {
		typ string
		ev  id.EventID
	}
	var marks []mark
	for _, m := range []struct {
		typ string
		v   *string
	}{{receipts.TypeFullyRead, req.FullyRead}, {receipts.TypeRead, req.Read}, {receipts.TypeReadPrivate, req.ReadPrivate}} {
		if m.v == nil {
			continue
		}
		ev, err := id.ParseEventID(*m.v)
		if err != nil {
			return matrixerr.InvalidParam("%s is not a valid event ID", m.typ)
		}
		marks = append(marks, mark{m.typ, ev})
	}
	for _, m := range marks {
		if err := a.readableEvent(r.Context(), roomID, m.ev, sess.UserID); err != nil {
			return err
		}
	}
	for _, m := range marks {
		if err := a.s.Receipts.Post(r.Context(), sess.UserID, roomID, m.typ, m.ev, ""); err != nil {
			return receiptErr(err)
		}
	}
	a.receiptPosted(sess)
	return httpapi.OK(w, struct{}{})
}

// receiptPosted counts a receipt request of the session's device toward
// the pace of its sync answers (clientsync.Service.ReceiptPosted).
func (a *roomAPI) receiptPosted(sess session) {
	if a.s.Sync != nil {
		a.s.Sync.ReceiptPosted(sess.UserID, sess.DeviceID)
	}
}
