// Spec: Client-Server API § Room membership
// OpenAPI: data/api/client-server/joining.yaml
// OpenAPI: data/api/client-server/inviting.yaml
// OpenAPI: data/api/client-server/knocking.yaml
// OpenAPI: data/api/client-server/leaving.yaml
// OpenAPI: data/api/client-server/kicking.yaml
// OpenAPI: data/api/client-server/banning.yaml
// https://spec.matrix.org/v1.19/client-server-api/#room-membership

package clientapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/room"
)

// maxReasonBytes bounds a membership reason; the event size limit would
// refuse longer ones anyway, this refuses them before building the event.
const maxReasonBytes = 4096

// reasonBody is the body of join, knock and leave.
type reasonBody struct {
	Reason string `json:"reason"`
}

// targetBody is the body of invite, kick, ban and unban.
type targetBody struct {
	UserID *string `json:"user_id"`
	Reason string  `json:"reason"`
}

// decodeReason reads an optional {"reason"} body.
func decodeReason(w http.ResponseWriter, r *http.Request) (string, error) {
	var b reasonBody
	if err := httpapi.DecodeOptionalJSON(w, r, &b); err != nil {
		return "", err
	}
	if len(b.Reason) > maxReasonBytes {
		return "", matrixerr.BadJSON("reason is longer than %d bytes", maxReasonBytes)
	}
	return b.Reason, nil
}

// decodeTarget reads a {"user_id", "reason"} body: user_id is required
// (M_MISSING_PARAM when missing) and must be a user ID with a compliant
// localpart (M_INVALID_PARAM); see targetUserID for the one exception.
func (a *roomAPI) decodeTarget(w http.ResponseWriter, r *http.Request, roomID id.RoomID) (id.UserID, string, error) {
	var b targetBody
	if err := httpapi.DecodeJSON(w, r, &b); err != nil {
		return "", "", err
	}
	if b.UserID == nil {
		return "", "", matrixerr.MissingParam("user_id")
	}
	if len(b.Reason) > maxReasonBytes {
		return "", "", matrixerr.BadJSON("reason is longer than %d bytes", maxReasonBytes)
	}
	u, err := a.targetUserID(r.Context(), roomID, *b.UserID)
	if err != nil {
		return "", "", err
	}
	return u, b.Reason, nil
}

// targetUserID checks a user ID a client names as the target of a
// membership change: it must have a compliant localpart (400
// M_INVALID_PARAM otherwise), unless the user already has a membership in
// the room. That is the spec's leniency for historical user IDs: such a
// user can only have come through events of other servers, and moderators
// must still be able to kick, ban or unban them.
//
// Spec: https://spec.matrix.org/v1.19/appendices/#historical-user-ids
func (a *roomAPI) targetUserID(ctx context.Context, roomID id.RoomID, s string) (id.UserID, error) {
	if u, err := id.ParseCompliantUserID(s); err == nil {
		return u, nil
	}
	invalid := matrixerr.InvalidParam("user_id is not a valid user ID")
	u, err := id.ParseUserID(s)
	if err != nil {
		return "", invalid
	}
	member, err := a.svc.CurrentStateEvent(ctx, roomID, "m.room.member", string(u))
	if err != nil || member == nil {
		return "", invalid
	}
	return u, nil
}

// resolveRoom turns a {roomIdOrAlias} into a room ID: aliases are resolved
// in the local directory (404 M_NOT_FOUND when unknown), anything that is
// neither is 400 M_INVALID_PARAM.
func (a *roomAPI) resolveRoom(ctx context.Context, s string) (id.RoomID, error) {
	switch {
	case len(s) > 0 && s[0] == '!':
		roomID, err := id.ParseRoomID(s)
		if err != nil {
			return "", matrixerr.InvalidParam("roomIdOrAlias is not a valid room ID")
		}
		return roomID, nil
	case len(s) > 0 && s[0] == '#':
		alias, err := id.ParseRoomAlias(s)
		if err != nil {
			return "", matrixerr.InvalidParam("roomIdOrAlias is not a valid room alias")
		}
		ra, err := a.dir.Lookup(ctx, alias)
		if err != nil {
			return "", directoryErr(err)
		}
		return ra.RoomID, nil
	}
	return "", matrixerr.InvalidParam("roomIdOrAlias must be a room ID or a room alias")
}

// join reads the optional reason of the request, sends the user's join
// or knock event, with their profile, and answers {"room_id"}.
func (a *roomAPI) join(w http.ResponseWriter, r *http.Request, sess session, roomID id.RoomID, membership string) error {
	return a.joinVia(w, r, sess, roomID, membership, nil)
}

// joinVia is join with servers to join a room of other servers through,
// besides those the request names.
func (a *roomAPI) joinVia(w http.ResponseWriter, r *http.Request, sess session, roomID id.RoomID, membership string, via []id.ServerName) error {
	reason, err := decodeReason(w, r)
	if err != nil {
		return err
	}
	profile, err := a.profileOf(r.Context(), sess.UserID)
	if err != nil {
		return err
	}
	_, err = a.svc.ChangeMembership(r.Context(), roomID, room.MembershipChange{
		Sender: sess.UserID, Target: sess.UserID, Membership: membership, Reason: reason, Profile: profile,
	})
	if errors.Is(err, room.ErrRoomNotFound) && membership == room.MembershipJoin && a.remote != nil {
		err = a.joinRemote(r, sess.UserID, roomID, via, reason, profile)
	}
	if err != nil {
		return roomErr(err)
	}
	if membership == room.MembershipJoin {
		a.carryOverUpgrade(r, sess.UserID, roomID)
	}
	return httpapi.OK(w, map[string]any{"room_id": roomID})
}

// joinRoom joins a room by ID or alias.
//
// POST /_matrix/client/v3/join/{roomIdOrAlias}
//
// A room this server is not in is joined through the servers named by via
// and server_name, and the server of the room ID (remote_join.go); an
// alias of another server is resolved by that server.
func (a *roomAPI) joinRoom(w http.ResponseWriter, r *http.Request, sess session) error {
	target := r.PathValue("roomIdOrAlias")
	if alias, err := id.ParseRoomAlias(target); err == nil && alias.Domain() != a.s.ServerName && a.remote != nil {
		roomID, servers, err := a.remoteAlias(r.Context(), alias)
		if err != nil {
			return err
		}
		return a.joinVia(w, r, sess, roomID, room.MembershipJoin, servers)
	}
	roomID, err := a.resolveRoom(r.Context(), target)
	if err != nil {
		return err
	}
	return a.join(w, r, sess, roomID, room.MembershipJoin)
}

// joinRoomByID joins a room by ID.
//
// POST /_matrix/client/v3/rooms/{roomId}/join
func (a *roomAPI) joinRoomByID(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	return a.join(w, r, sess, roomID, room.MembershipJoin)
}

// knockRoom knocks on a room.
//
// POST /_matrix/client/v3/knock/{roomIdOrAlias}
func (a *roomAPI) knockRoom(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, err := a.resolveRoom(r.Context(), r.PathValue("roomIdOrAlias"))
	if err != nil {
		return err
	}
	return a.join(w, r, sess, roomID, room.MembershipKnock)
}

// changeMembership sends a membership change and answers {}.
func (a *roomAPI) changeMembership(w http.ResponseWriter, r *http.Request, roomID id.RoomID, c room.MembershipChange) error {
	if _, err := a.svc.ChangeMembership(r.Context(), roomID, c); err != nil {
		return roomErr(err)
	}
	return httpapi.OK(w, struct{}{})
}

// changeOther sends a membership change c of another user (the target of
// the request body) for the sender.
func (a *roomAPI) changeOther(w http.ResponseWriter, r *http.Request, sess session, c room.MembershipChange) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	target, reason, err := a.decodeTarget(w, r, roomID)
	if err != nil {
		return err
	}
	c.Sender, c.Target, c.Reason = sess.UserID, target, reason
	if c.Membership == room.MembershipInvite && target.Domain() == a.s.ServerName {
		// The invite shows the invitee by name, as their join will.
		if c.Profile, err = a.profileOf(r.Context(), target); err != nil {
			return err
		}
	}
	return a.changeMembership(w, r, roomID, c)
}

// inviteUser invites a user.
//
// POST /_matrix/client/v3/rooms/{roomId}/invite
func (a *roomAPI) inviteUser(w http.ResponseWriter, r *http.Request, sess session) error {
	return a.changeOther(w, r, sess, room.MembershipChange{Membership: room.MembershipInvite})
}

// kick removes a user from a room, revokes their invite or denies their
// knock. A user who is not in the room (never joined, left, banned) is 403
// M_FORBIDDEN ("the kickee is not currently in the room") and nothing is
// written.
//
// POST /_matrix/client/v3/rooms/{roomId}/kick
func (a *roomAPI) kick(w http.ResponseWriter, r *http.Request, sess session) error {
	return a.changeOther(w, r, sess, room.MembershipChange{Membership: room.MembershipLeave})
}

// ban bans a user.
//
// POST /_matrix/client/v3/rooms/{roomId}/ban
func (a *roomAPI) ban(w http.ResponseWriter, r *http.Request, sess session) error {
	return a.changeOther(w, r, sess, room.MembershipChange{Membership: room.MembershipBan})
}

// unban lifts a ban; the target must be banned (403 M_FORBIDDEN
// otherwise, checked by the event path under the room lock), so that unban
// never turns into a kick.
//
// POST /_matrix/client/v3/rooms/{roomId}/unban
func (a *roomAPI) unban(w http.ResponseWriter, r *http.Request, sess session) error {
	return a.changeOther(w, r, sess, room.MembershipChange{Membership: room.MembershipLeave, Unban: true})
}

// leaveRoom leaves a room, or rejects an invite or retracts a knock.
//
// POST /_matrix/client/v3/rooms/{roomId}/leave
func (a *roomAPI) leaveRoom(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	reason, err := decodeReason(w, r)
	if err != nil {
		return err
	}
	_, err = a.svc.ChangeMembership(r.Context(), roomID, room.MembershipChange{
		Sender: sess.UserID, Target: sess.UserID, Membership: room.MembershipLeave, Reason: reason,
	})
	if errors.Is(err, room.ErrRoomNotFound) && a.remote != nil {
		// An invite to a room this server is not in.
		if err := a.rejectRemoteInvite(r, sess.UserID, roomID, reason); err != nil {
			return err
		}
		return httpapi.OK(w, struct{}{})
	}
	if err != nil {
		return roomErr(err)
	}
	return httpapi.OK(w, struct{}{})
}

// forgetRoom forgets a room the user has left: sync leaves it out until
// the user joins, is invited or knocks again.
//
// POST /_matrix/client/v3/rooms/{roomId}/forget
//
// Joined, invited and knocking users get 400 M_UNKNOWN, as the spec says.
// Forgetting a room the user was never in does nothing.
func (a *roomAPI) forgetRoom(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	if err := httpapi.DecodeOptionalJSON(w, r, &struct{}{}); err != nil {
		return err
	}
	if err := a.svc.Forget(r.Context(), sess.UserID, roomID); err != nil {
		return roomErr(err)
	}
	return httpapi.OK(w, struct{}{})
}
