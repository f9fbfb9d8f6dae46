// Spec: Client-Server API § Push notifications (pushers and the notifications list)
// OpenAPI: data/api/client-server/pusher.yaml (getPushers, postPusher), data/api/client-server/notifications.yaml (getNotifications)
// https://spec.matrix.org/v1.19/client-server-api/#push-notifications

package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/push"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// Push keeps pushers and lists notifications (*push.Service).
type Push interface {
	Pushers(ctx context.Context, user id.UserID) ([]push.Pusher, error)
	SetPusher(ctx context.Context, user id.UserID, device id.DeviceID, r push.SetRequest) error
	Notifications(ctx context.Context, user id.UserID, from string, limit int, onlyHighlight bool) ([]store.Notification, string, error)
}

var _ Push = (*push.Service)(nil)

// pushErr turns the push service's errors into the spec's.
func pushErr(err error) error {
	switch {
	case errors.Is(err, push.ErrMissingParam):
		return matrixerr.Wrap(matrixerr.KindMissingParam, err, err.Error())
	case errors.Is(err, push.ErrInvalidParam):
		return matrixerr.Wrap(matrixerr.KindInvalidParam, err, err.Error())
	}
	return err
}

// getPushers lists the user's pushers.
//
// GET /_matrix/client/v3/pushers
func (s *Server) getPushers(w http.ResponseWriter, r *http.Request, sess session) error {
	if s.Push == nil {
		return matrixerr.Unrecognized("getPushers is not configured")
	}
	ps, err := s.Push.Pushers(r.Context(), sess.UserID)
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]any{"pushers": ps})
}

// postPusher creates, changes or deletes one of the user's pushers.
//
// POST /_matrix/client/v3/pushers/set
func (s *Server) postPusher(w http.ResponseWriter, r *http.Request, sess session) error {
	if s.Push == nil {
		return matrixerr.Unrecognized("postPusher is not configured")
	}
	var req push.SetRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := s.Push.SetPusher(r.Context(), sess.UserID, sess.DeviceID, req); err != nil {
		return pushErr(err)
	}
	return httpapi.OK(w, struct{}{})
}

// notification is one entry of /notifications.
type notification struct {
	Actions    json.RawMessage   `json:"actions"`
	Event      clientevent.Event `json:"event"`
	ProfileTag string            `json:"profile_tag,omitempty"`
	Read       bool              `json:"read"`
	RoomID     id.RoomID         `json:"room_id"`
	TS         int64             `json:"ts"`
}

// getNotifications lists the events that notified the user, newest
// first.
//
// GET /_matrix/client/v3/notifications
func (a *roomAPI) getNotifications(w http.ResponseWriter, r *http.Request, sess session) error {
	if a.s.Push == nil {
		return matrixerr.Unrecognized("getNotifications is not configured")
	}
	q := r.URL.Query()
	limit, err := httpapi.NonNegativeParam(q, "limit", 0)
	if err != nil {
		return err
	}
	onlyHighlight := false
	switch q.Get("only") {
	case "":
	case "highlight":
		onlyHighlight = true
	default:
		return matrixerr.InvalidParam("only must be highlight")
	}
	ns, next, err := a.s.Push.Notifications(r.Context(), sess.UserID, q.Get("from"), limit, onlyHighlight)
	if err != nil {
		return pushErr(err)
	}
	ids := make([]id.EventID, len(ns))
	for i, n := range ns {
		ids[i] = n.EventID
	}
	evs, err := a.db.EventsByID(r.Context(), ids)
	if err != nil {
		return err
	}
	byID := make(map[id.EventID]store.Event, len(evs))
	for _, e := range evs {
		byID[e.EventID] = e
	}
	out := make([]notification, 0, len(ns))
	// A page's notifications come from few rooms: each room's version is
	// looked up once (nil: a room this server no longer knows).
	versions := map[id.RoomID]*roomversion.Version{}
	for _, n := range ns {
		e, ok := byID[n.EventID]
		if !ok {
			continue
		}
		v, seen := versions[n.RoomID]
		if !seen {
			vs, err := a.svc.Version(r.Context(), n.RoomID)
			if err != nil && !errors.Is(err, room.ErrRoomNotFound) {
				return err
			}
			if err == nil {
				v, _ = roomversion.Lookup(roomversion.ID(vs))
			}
			versions[n.RoomID] = v
		}
		if v == nil {
			continue
		}
		ce, err := a.formatter(n.RoomID, v, sess).format(r.Context(), e)
		if err != nil {
			return err
		}
		ce.RoomID = "" // the spec's ClientEventWithoutRoomID
		out = append(out, notification{Actions: n.Actions, Event: ce, Read: n.Read, RoomID: n.RoomID, TS: n.TS})
	}
	body := map[string]any{"notifications": out}
	if next != "" {
		body["next_token"] = next
	}
	return httpapi.OK(w, body)
}
