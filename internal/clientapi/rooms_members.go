// Spec: Client-Server API § Room membership
// OpenAPI: data/api/client-server/rooms.yaml (getMembersByRoom, getJoinedMembersByRoom)
// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidmembers

package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// memberships are the values of the membership and not_membership
// parameters.
var memberships = []string{room.MembershipJoin, room.MembershipInvite, room.MembershipKnock, room.MembershipLeave, room.MembershipBan}

func parseMembershipParam(name, val string) (string, error) {
	if val == "" {
		return "", nil
	}
	for _, m := range memberships {
		if val == m {
			return val, nil
		}
	}
	return "", matrixerr.InvalidParam("%s must be one of join, invite, knock, leave, ban", name)
}

// getMembersByRoom returns the member events of a room.
//
// GET /_matrix/client/v3/rooms/{roomId}/members
//
// at is a pagination token (a stream token as from sync's prev_batch, or a
// topological one from /messages): the members are those of the state
// after the room's topologically last event at or before it (see
// lastEventAt). A former member sees at most the state when they left.
func (a *roomAPI) getMembersByRoom(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	want, err := parseMembershipParam("membership", q.Get("membership"))
	if err != nil {
		return err
	}
	notWant, err := parseMembershipParam("not_membership", q.Get("not_membership"))
	if err != nil {
		return err
	}
	var at *clientsync.PageToken
	if tok := q.Get("at"); tok != "" {
		t, err := parsePageToken("at", tok)
		if err != nil {
			return err
		}
		at = &t
	}
	ctx := r.Context()
	v, err := a.view(ctx, roomID, sess.UserID)
	if err != nil {
		return err
	}
	var headers store.Headers
	f := a.formatter(roomID, v.version, sess)
	switch {
	case at != nil && (v.leftAt == nil || tokenBefore(*at, *v.leftAt)):
		last, err := a.lastEventAt(ctx, roomID, *at)
		if errors.Is(err, store.ErrNotFound) {
			break // before the room existed: no members
		}
		if err != nil {
			return err
		}
		// The member list at a point of history is as visible as the
		// event there (as Synapse decides): a user who joined under
		// "joined" visibility does not see who was in the room before.
		vis, err := room.FilterVisible(ctx, a.db, sess.UserID, v.joined, []store.Event{last})
		if err != nil {
			return err
		}
		if len(vis) == 0 {
			return matrixerr.Forbidden("you may not see the room's members at that point")
		}
		if headers, err = a.stateHeadersAfter(ctx, last, "m.room.member"); err != nil {
			return err
		}
	default:
		if headers, err = a.viewStateHeaders(ctx, roomID, v, "m.room.member", f); err != nil {
			return err
		}
	}
	state, err := f.prepare(ctx, headers)
	if err != nil {
		return err
	}
	var members []store.Event
	for _, e := range state {
		if e.Type != "m.room.member" {
			continue
		}
		m := authrules.Membership(f.rawContent(e))
		keep := true
		switch {
		case want != "" && notWant != "":
			keep = m == want || m != notWant
		case want != "":
			keep = m == want
		case notWant != "":
			keep = m != notWant
		}
		if keep {
			members = append(members, e)
		}
	}
	chunk, err := f.formatAll(ctx, members)
	if err != nil {
		return err
	}
	out := append([]byte(`{"chunk":`), clientevent.AppendList(nil, chunk)...)
	return httpapi.OKRawJSON(w, append(out, '}'))
}

// roomMember is one entry of joined_members.
type roomMember struct {
	DisplayName string `json:"display_name,omitempty"`
	AvatarURL   string `json:"avatar_url,omitempty"`
}

// getJoinedMembersByRoom returns the joined members and their profiles.
// "The current user must be in the room for it to work": unlike /members,
// a world_readable room's members are not listed to others.
//
// GET /_matrix/client/v3/rooms/{roomId}/joined_members
func (a *roomAPI) getJoinedMembersByRoom(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, v, err := a.pathRoomView(r, sess)
	if err != nil {
		return err
	}
	if !v.joined {
		return matrixerr.Forbidden("you are not a member of this room")
	}
	pdus, err := a.svc.CurrentState(r.Context(), roomID)
	if err != nil {
		return roomErr(err)
	}
	joined := map[id.UserID]roomMember{}
	for _, p := range pdus {
		if p.Type() != "m.room.member" {
			continue
		}
		// One decoding of the content per member: this runs over every
		// member of the room.
		var c struct {
			Membership  string          `json:"membership"`
			DisplayName json.RawMessage `json:"displayname"`
			AvatarURL   json.RawMessage `json:"avatar_url"`
		}
		if json.Unmarshal(p.Content(), &c) != nil || c.Membership != room.MembershipJoin {
			continue
		}
		sk, _ := p.StateKey()
		joined[id.UserID(sk)] = roomMember{DisplayName: rawString(c.DisplayName), AvatarURL: rawString(c.AvatarURL)}
	}
	return httpapi.OK(w, map[string]any{"joined": joined})
}

// rawString returns a JSON value if it is a string, or "".
func rawString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}
