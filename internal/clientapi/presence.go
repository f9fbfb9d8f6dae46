// Spec: Client-Server API § Presence
// OpenAPI: data/api/client-server/presence.yaml (setPresence, getPresence)
// https://spec.matrix.org/v1.19/client-server-api/#presence

package clientapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// Presence is what the presence endpoints need of sync, which holds
// presence in memory. clientsync.Service implements it.
type Presence interface {
	SetPresence(user id.UserID, state string, statusMsg *string)
	GetPresence(user id.UserID) clientsync.Presence
}

var _ Presence = (*clientsync.Service)(nil)

// maxStatusMsgBytes bounds a status message.
const maxStatusMsgBytes = 1024

// setPresence sets the user's own presence and status message.
//
// PUT /_matrix/client/v3/presence/{userId}/status
func (a *roomAPI) setPresence(w http.ResponseWriter, r *http.Request, sess session) error {
	if a.s.Presence == nil {
		return matrixerr.Unrecognized("setPresence is not configured")
	}
	user, err := pathUserID(r)
	if err != nil {
		return err
	}
	if user != sess.UserID {
		return matrixerr.Forbidden("you cannot set another user's presence")
	}
	var body struct {
		Presence  *string `json:"presence"`
		StatusMsg *string `json:"status_msg"`
	}
	if err := httpapi.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Presence == nil {
		return matrixerr.MissingParam("presence")
	}
	switch *body.Presence {
	case clientsync.PresenceOnline, clientsync.PresenceOffline, clientsync.PresenceUnavailable:
	default:
		return matrixerr.InvalidParam("presence must be online, offline or unavailable")
	}
	if body.StatusMsg != nil && len(*body.StatusMsg) > maxStatusMsgBytes {
		return matrixerr.InvalidParam("status_msg is too long")
	}
	a.s.Presence.SetPresence(user, *body.Presence, body.StatusMsg)
	return httpapi.OK(w, struct{}{})
}

// getPresence answers a user's presence, to the user and to users who
// share a joined room with them.
//
// GET /_matrix/client/v3/presence/{userId}/status
func (a *roomAPI) getPresence(w http.ResponseWriter, r *http.Request, sess session) error {
	if a.s.Presence == nil {
		return matrixerr.Unrecognized("getPresence is not configured")
	}
	user, err := pathUserID(r)
	if err != nil {
		return err
	}
	if user != sess.UserID {
		shared, err := a.db.SharesRoom(r.Context(), sess.UserID, user)
		if err != nil {
			return err
		}
		if !shared {
			return matrixerr.Forbidden("you are not allowed to see this user's presence")
		}
	}
	return httpapi.OK(w, a.s.Presence.GetPresence(user))
}
