// Spec: Client-Server API § Typing Notifications
// OpenAPI: data/api/client-server/typing.yaml
// https://spec.matrix.org/v1.19/client-server-api/#typing-notifications

package clientapi

import (
	"net/http"
	"time"

	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// Typing is what the typing endpoint needs of sync, which holds who is
// typing. clientsync.Service implements it.
type Typing interface {
	// SetTyping marks the user as typing in the room for timeout, or no
	// longer typing.
	SetTyping(roomID id.RoomID, user id.UserID, typing bool, timeout time.Duration)
}

var _ Typing = (*clientsync.Service)(nil)

// setTyping tells the room's members that the user is typing, or stopped.
//
// PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}
//
// A timeout beyond clientsync.MaxTypingTimeout is capped there.
func (a *roomAPI) setTyping(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	user, err := pathUserID(r)
	if err != nil {
		return err
	}
	if user != sess.UserID {
		return matrixerr.Forbidden("cannot set another user's typing state")
	}
	var req struct {
		Typing  *bool  `json:"typing"`
		Timeout *int64 `json:"timeout"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Typing == nil {
		return matrixerr.MissingParam("typing")
	}
	var timeout time.Duration
	if req.Timeout != nil {
		if *req.Timeout < 0 {
			return matrixerr.InvalidParam("timeout must not be negative")
		}
		timeout = time.Duration(min(*req.Timeout, clientsync.MaxTypingTimeout.Milliseconds())) * time.Millisecond
	}
	if *req.Typing && timeout == 0 {
		// Decided here, once, for every consumer of the notification
		// (sync's memory, the announcements to other servers).
		timeout = clientsync.DefaultTypingTimeout
	}
	v, err := a.view(r.Context(), roomID, sess.UserID)
	if err != nil {
		return err
	}
	if !v.joined {
		return matrixerr.Forbidden("you are not joined to this room")
	}
	a.s.Typing.SetTyping(roomID, sess.UserID, *req.Typing, timeout)
	return httpapi.OK(w, struct{}{})
}
