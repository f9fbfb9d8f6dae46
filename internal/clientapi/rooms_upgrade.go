// Spec: Client-Server API § Room Upgrades
// OpenAPI: data/api/client-server/room_upgrades.yaml
// https://spec.matrix.org/v1.19/client-server-api/#room-upgrades

package clientapi

import (
	"encoding/json"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/room"
)

// upgradeRoom replaces a room by a new room of another version.
//
// POST /_matrix/client/v3/rooms/{roomId}/upgrade
func (a *roomAPI) upgradeRoom(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	var body struct {
		NewVersion         *string  `json:"new_version"`
		AdditionalCreators []string `json:"additional_creators"`
	}
	if err := httpapi.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.NewVersion == nil {
		return matrixerr.MissingParam("new_version")
	}
	v, ok := roomversion.Lookup(roomversion.ID(*body.NewVersion))
	if !ok {
		return matrixerr.UnsupportedRoomVersion("this server does not support room version " + truncate(*body.NewVersion, 40))
	}
	req := room.UpgradeRequest{RoomID: roomID, User: sess.UserID, Version: v, InviteProfile: a.profileOf}
	if a.dir != nil {
		req.MoveDirectory = a.dir.MoveDirectory
	}
	for _, s := range body.AdditionalCreators {
		u, err := id.ParseCompliantUserID(s)
		if err != nil {
			return matrixerr.InvalidParam("additional_creators must be user IDs")
		}
		if u != sess.UserID {
			req.AdditionalCreators = append(req.AdditionalCreators, u)
		}
	}
	newRoom, err := a.svc.Upgrade(r.Context(), req)
	if err != nil {
		return roomErr(err)
	}
	a.carryOverUpgrade(r, sess.UserID, newRoom)
	return httpapi.OK(w, map[string]string{"replacement_room": string(newRoom)})
}

// carryOverUpgrade gives a room the user just joined, if it replaced
// another in an upgrade (its create event names a predecessor whose
// tombstone names it), the user's settings of the old room: the spec's
// server behaviour asks the server to carry over notifications and tags.
// Both events are read from the rooms' heads, in memory. A failure leaves
// the join as it is and is logged: the settings are a convenience.
func (a *roomAPI) carryOverUpgrade(r *http.Request, user id.UserID, roomID id.RoomID) {
	if a.s.AccountData == nil {
		return
	}
	ctx := r.Context()
	create, err := a.svc.CurrentStateEvent(ctx, roomID, "m.room.create", "")
	if err != nil || create == nil {
		return
	}
	var c struct {
		Predecessor *struct {
			RoomID string `json:"room_id"`
		} `json:"predecessor"`
	}
	if json.Unmarshal(create.Content(), &c) != nil || c.Predecessor == nil {
		return
	}
	from, err := id.ParseRoomID(c.Predecessor.RoomID)
	if err != nil {
		return
	}
	// Anyone may name any room as a predecessor: only a room whose
	// tombstone points here was replaced by this one.
	tomb, err := a.svc.CurrentStateEvent(ctx, from, "m.room.tombstone", "")
	if err != nil || tomb == nil {
		return
	}
	if contentString(tomb.Content(), "replacement_room") != string(roomID) {
		return
	}
	if err := a.s.AccountData.CopyRoomSettings(ctx, user, from, roomID); err != nil {
		httpapi.Logger(r).Warn("carry settings over to an upgraded room", "room_id", roomID, "predecessor", from, "err", err)
	}
}
