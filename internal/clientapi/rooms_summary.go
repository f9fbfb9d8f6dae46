// Spec: Client-Server API § Room Summaries
// OpenAPI: data/api/client-server/room_summary.yaml
// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1room_summaryroomidoralias

package clientapi

import (
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/spaces"
)

// roomSummary is the answer of getRoomSummary: the spec's RoomSummary and
// the user's membership.
type roomSummary struct {
	spaces.RoomSummary
	Membership string `json:"membership,omitempty"`
}

// getRoomSummary describes a room by ID or alias to a user who may see it
// (the rooms a space hierarchy shows them), asking the via servers about
// rooms this server is not in; 404 M_NOT_FOUND for any other room. It
// needs an access token (the spec lets servers serve public rooms
// without one; Hafen does not).
//
// GET /_matrix/client/v1/room_summary/{roomIdOrAlias}
func (a *roomAPI) getRoomSummary(w http.ResponseWriter, r *http.Request, sess session) error {
	if a.s.Spaces == nil {
		return matrixerr.Unrecognized("getRoomSummary is not configured")
	}
	var via []id.ServerName
	for _, v := range r.URL.Query()["via"] {
		srv, err := id.ParseServerName(v)
		if err != nil {
			return matrixerr.InvalidParam("via must be server names")
		}
		via = append(via, srv)
	}
	target := r.PathValue("roomIdOrAlias")
	var roomID id.RoomID
	if alias, err := id.ParseRoomAlias(target); err == nil && alias.Domain() != a.s.ServerName && a.remote != nil {
		var servers []id.ServerName
		if roomID, servers, err = a.remoteAlias(r.Context(), alias); err != nil {
			return err
		}
		via = append(via, servers...)
	} else if roomID, err = a.resolveRoom(r.Context(), target); err != nil {
		return err
	}
	sum, membership, err := a.s.Spaces.Summary(r.Context(), sess.UserID, roomID, via)
	if errors.Is(err, spaces.ErrForbidden) {
		return matrixerr.Wrap(matrixerr.KindNotFound, err, "room not found")
	}
	if err != nil {
		return err
	}
	return httpapi.OK(w, roomSummary{RoomSummary: sum.RoomSummary, Membership: membership})
}
