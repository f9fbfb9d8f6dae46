package spaces

import (
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/directory"
)

// RoomSummary is the spec's room summary: PublishedRoomsChunk plus
// room_type, allowed_room_ids, encryption and room_version. It is what
// /room_summary answers and the part of a hierarchy's room that is not
// about children.
type RoomSummary struct {
	directory.PublishedRoomsChunk
	RoomVersion    string      `json:"room_version,omitempty"`
	Encryption     string      `json:"encryption,omitempty"`
	AllowedRoomIDs []id.RoomID `json:"allowed_room_ids,omitempty"`
}

// Room is a room of a space hierarchy: its summary and, for a space, the
// m.space.child events that make its children (childOf; with
// suggested_only the suggested ones), in the spec's order of children.
// Its JSON is both what this server answers and what it reads from other
// servers.
type Room struct {
	RoomSummary
	ChildrenState []ChildState `json:"children_state"`

	// federate is false for a local room whose m.room.create forbids
	// federation.
	federate bool
}

// fromSummary makes a Room of a local room's summary.
func fromSummary(s *directory.Summary, children []ChildState) Room {
	r := Room{
		RoomSummary: RoomSummary{
			PublishedRoomsChunk: s.PublishedRoomsChunk, RoomVersion: s.RoomVersion, Encryption: s.Encryption,
		},
		ChildrenState: children, federate: s.Federate,
	}
	if r.JoinRule == joinRestricted || r.JoinRule == joinKnockRestricted {
		r.AllowedRoomIDs = s.AllowRooms
	}
	if r.ChildrenState == nil {
		r.ChildrenState = []ChildState{}
	}
	return r
}

// Join rules the walk distinguishes.
const (
	joinPublic          = "public"
	joinKnock           = "knock"
	joinRestricted      = "restricted"
	joinKnockRestricted = "knock_restricted"
)

// RoomTypeSpace is the m.room.create type of a space.
const RoomTypeSpace = "m.space"

// openToAll reports whether anyone may see the room in a hierarchy
// without a membership: world-readable history, or a join rule that lets
// anyone join or knock.
func (r *Room) openToAll() bool {
	if r.WorldReadable {
		return true
	}
	switch r.JoinRule {
	case joinPublic, joinKnock, joinKnockRestricted:
		return true
	}
	return false
}
