// Spec: Server-Server API § Knocking upon a room
// OpenAPI: data/api/server-server/knocks.yaml
// https://spec.matrix.org/v1.19/server-server-api/#knocking-upon-a-room

package fedapi

import (
	"encoding/json"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
)

// makeKnock returns a knock event template for a user of the asking
// server.
//
// GET /_matrix/federation/v1/make_knock/{roomId}/{userId}
func (s *Server) makeKnock(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	return s.makeMembership(w, r, origin, "knock", r.URL.Query()["ver"])
}

// sendKnock accepts a knock event signed by the asking server and answers
// with the room's stripped state.
//
// PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId}
func (s *Server) sendKnock(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	res, err := s.sendMembership(w, r, origin, "knock")
	if err != nil {
		return err
	}
	state := res.KnockState
	if state == nil {
		state = []json.RawMessage{}
	}
	return httpapi.OK(w, map[string]any{"knock_room_state": state})
}
