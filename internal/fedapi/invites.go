// Spec: Server-Server API § Inviting to a room
// OpenAPI: data/api/server-server/invites-v2.yaml
// https://spec.matrix.org/v1.19/server-server-api/#inviting-to-a-room

package fedapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/fedevents"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// maxInviteBody caps the body of an invite: the event and the stripped
// state of the room.
const maxInviteBody = 1 << 20

// sendInviteV2 signs an invite of a local user by a user of the asking
// server.
//
// PUT /_matrix/federation/v2/invite/{roomId}/{eventId}
func (s *Server) sendInviteV2(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	roomID, eventID, err := pathRoomAndEvent(r)
	if err != nil {
		return err
	}
	var body struct {
		RoomVersion     *string         `json:"room_version"`
		Event           json.RawMessage `json:"event"`
		InviteRoomState json.RawMessage `json:"invite_room_state"`
	}
	if err := httpapi.DecodeJSONLimit(w, r, &body, maxInviteBody); err != nil {
		return err
	}
	if body.RoomVersion == nil {
		return matrixerr.BadJSON("room_version is required")
	}
	if !httpapi.Given(body.Event) {
		return matrixerr.BadJSON("event is required")
	}
	signed, err := s.Events.Invite(r.Context(), origin, roomID, eventID, *body.RoomVersion, body.Event, body.InviteRoomState)
	switch {
	case errors.Is(err, fedevents.ErrIncompatibleVersion):
		return matrixerr.IncompatibleRoomVersion(*body.RoomVersion)
	case errors.Is(err, fedevents.ErrNotInRoom):
		return matrixerr.Forbidden("this server takes invites only to rooms it is in")
	case err != nil:
		return membershipError(err)
	}
	return httpapi.OK(w, map[string]any{"event": json.RawMessage(signed)})
}
