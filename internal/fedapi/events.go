// Spec: Server-Server API § Retrieving events
// OpenAPI: data/api/server-server/events.yaml
// https://spec.matrix.org/v1.19/server-server-api/#retrieving-events

package fedapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/fedevents"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// getEvent returns one event, if the asking server may see it.
//
// GET /_matrix/federation/v1/event/{eventId}
func (s *Server) getEvent(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	eventID, err := pathEventID(r)
	if err != nil {
		return err
	}
	pdu, err := s.Events.Event(r.Context(), origin, eventID)
	if err != nil {
		return eventsError(err)
	}
	return httpapi.OK(w, s.transaction([]json.RawMessage{pdu}))
}

// getRoomState returns the state of a room before an event, with its auth
// chain.
//
// GET /_matrix/federation/v1/state/{roomId}
func (s *Server) getRoomState(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	st, err := s.stateAtQuery(r, origin)
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]any{"pdus": pduList(st.State), "auth_chain": pduList(st.AuthChain)})
}

// getRoomStateIds returns the IDs of the state of a room before an event
// and of its auth chain.
//
// GET /_matrix/federation/v1/state_ids/{roomId}
func (s *Server) getRoomStateIds(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	st, err := s.stateAtQuery(r, origin)
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]any{"pdu_ids": idList(st.State), "auth_chain_ids": idList(st.AuthChain)})
}

// stateAtQuery answers the state and state_ids requests' common part: the
// room's state before the event the query names, as the asking server may
// see it.
func (s *Server) stateAtQuery(r *http.Request, origin id.ServerName) (fedevents.RoomState, error) {
	roomID, eventID, err := roomAndEventQuery(r)
	if err != nil {
		return fedevents.RoomState{}, err
	}
	st, err := s.Events.StateAt(r.Context(), origin, roomID, eventID)
	if err != nil {
		return fedevents.RoomState{}, eventsError(err)
	}
	return st, nil
}

// roomAndEventQuery reads the roomId path value and the event_id query
// parameter.
func roomAndEventQuery(r *http.Request) (id.RoomID, id.EventID, error) {
	roomID, err := pathRoomID(r)
	if err != nil {
		return "", "", err
	}
	q := r.URL.Query().Get("event_id")
	if q == "" {
		return "", "", matrixerr.MissingParam("event_id")
	}
	eventID, err := id.ParseEventID(q)
	if err != nil {
		return "", "", matrixerr.InvalidParam("event_id: %v", err)
	}
	return roomID, eventID, nil
}

// transaction wraps PDUs in the transaction object some endpoints answer
// with.
func (s *Server) transaction(pdus []json.RawMessage) map[string]any {
	return map[string]any{"origin": s.ServerName, "origin_server_ts": time.Now().UnixMilli(), "pdus": pdus}
}

func pduList(evs []store.Event) []json.RawMessage {
	out := make([]json.RawMessage, len(evs))
	for i, e := range evs {
		out[i] = e.JSON
	}
	return out
}

func idList(evs []store.Event) []id.EventID {
	out := make([]id.EventID, len(evs))
	for i, e := range evs {
		out[i] = e.EventID
	}
	return out
}

// eventsError maps the errors of the event endpoints' service to Matrix
// errors.
func eventsError(err error) error {
	switch {
	case errors.Is(err, fedevents.ErrEventNotFound), errors.Is(err, room.ErrRoomNotFound):
		return matrixerr.NotFound(err.Error())
	case errors.Is(err, fedevents.ErrDeniedByACL):
		return matrixerr.Forbidden("server is denied by the room's server ACL")
	case errors.Is(err, fedevents.ErrNotVisible):
		return matrixerr.Forbidden("the room's history visibility does not let this server see the event")
	case errors.Is(err, fedevents.ErrBadRequest):
		return matrixerr.InvalidParam("%v", err)
	}
	return err
}
