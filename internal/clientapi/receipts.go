// Spec: Client-Server API § Receipts, § Fully read markers
// OpenAPI: data/api/client-server/receipts.yaml, data/api/client-server/read_markers.yaml
// https://spec.matrix.org/v1.19/client-server-api/#receipts
// https://spec.matrix.org/v1.19/client-server-api/#fully-read-markers

package clientapi

import (
	"context"
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
	switch {
	case thread == "main" && pl.thread != "":
		return matrixerr.InvalidParam("%s is in the thread of %s, not in the main timeline", eventID, pl.thread)
	case thread != "main" && id.EventID(thread) != eventID && pl.thread != id.EventID(thread):
		return matrixerr.InvalidParam("%s is not related to the thread %s", eventID, thread)
	}
	return nil
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
		ThreadID *string `json:"thread_id"`
	}
	if err := httpapi.DecodeOptionalJSON(w, r, &req); err != nil {
		return err
	}
	thread := ""
	if req.ThreadID != nil {
		if *req.ThreadID == "" {
			return matrixerr.InvalidParam("thread_id must not be empty")
		}
		thread = *req.ThreadID
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
	var req map[string]*string
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	type mark struct {
		typ string
		ev  id.EventID
	}
	var marks []mark
	for _, typ := range []string{receipts.TypeFullyRead, receipts.TypeRead, receipts.TypeReadPrivate} {
		v := req[typ]
		if v == nil {
			continue
		}
		ev, err := id.ParseEventID(*v)
		if err != nil {
			return matrixerr.InvalidParam("%s is not a valid event ID", typ)
		}
		marks = append(marks, mark{typ, ev})
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
	return httpapi.OK(w, struct{}{})
}
