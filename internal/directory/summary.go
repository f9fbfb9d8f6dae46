package directory

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// PublishedRoomsChunk is the spec's description of a room in the room
// directory; the space hierarchy's room summaries extend it.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3publicrooms
type PublishedRoomsChunk struct {
	RoomID           id.RoomID `json:"room_id"`
	Name             string    `json:"name,omitempty"`
	Topic            string    `json:"topic,omitempty"`
	AvatarURL        string    `json:"avatar_url,omitempty"`
	CanonicalAlias   string    `json:"canonical_alias,omitempty"`
	NumJoinedMembers int       `json:"num_joined_members"`
	WorldReadable    bool      `json:"world_readable"`
	GuestCanJoin     bool      `json:"guest_can_join"`
	JoinRule         string    `json:"join_rule,omitempty"`
	RoomType         string    `json:"room_type,omitempty"`
}

// Summary is what the room directory and the space hierarchy tell about a
// room: a PublishedRoomsChunk, read from the room's current state, plus
// what deciding who may see it needs.
type Summary struct {
	PublishedRoomsChunk

	// RoomVersion is the room's version (from m.room.create).
	RoomVersion string `json:"-"`
	// Encryption is the algorithm of m.room.encryption, if any.
	Encryption string `json:"-"`
	// AllowRooms are the rooms of a restricted join rule's allow list.
	AllowRooms []id.RoomID `json:"-"`
	// Federate is false when m.room.create forbids federation
	// ("m.federate": false).
	Federate bool `json:"-"`
}

// SummaryStore reads what summaries are made of. store.DB implements it.
type SummaryStore interface {
	RoomSummaryState(ctx context.Context, roomIDs []id.RoomID) (map[id.RoomID][]store.Event, error)
	JoinedMemberCounts(ctx context.Context, roomIDs []id.RoomID) (map[id.RoomID]int, error)
}

// Summaries returns the summaries of the rooms the store knows among
// roomIDs (three queries however many rooms there are), keyed by room.
func Summaries(ctx context.Context, db SummaryStore, roomIDs []id.RoomID) (map[id.RoomID]*Summary, error) {
	if len(roomIDs) == 0 {
		return map[id.RoomID]*Summary{}, nil
	}
	state, err := db.RoomSummaryState(ctx, roomIDs)
	if err != nil {
		return nil, err
	}
	counts, err := db.JoinedMemberCounts(ctx, roomIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[id.RoomID]*Summary, len(state))
	for roomID, evs := range state {
		s := &Summary{PublishedRoomsChunk: PublishedRoomsChunk{RoomID: roomID, NumJoinedMembers: counts[roomID]}, Federate: true}
		for _, e := range evs {
			s.apply(e)
		}
		out[roomID] = s
	}
	return out, nil
}

// apply reads one state event into the summary. A redacted event counts
// as its redacted form: its fields of interest are gone, except those the
// redaction algorithm keeps (join_rule, history_visibility, the create
// event's content).
func (s *Summary) apply(e store.Event) {
	content := event.RawContent(e.JSON)
	redacted := e.RedactedBecause != ""
	var c struct {
		Name              string          `json:"name"`
		Topic             string          `json:"topic"`
		URL               string          `json:"url"`
		Alias             string          `json:"alias"`
		JoinRule          string          `json:"join_rule"`
		HistoryVisibility string          `json:"history_visibility"`
		GuestAccess       string          `json:"guest_access"`
		Algorithm         string          `json:"algorithm"`
		Type              json.RawMessage `json:"type"`
		RoomVersion       string          `json:"room_version"`
		Federate          *bool           `json:"m.federate"`
		Allow             []struct {
			Type   string    `json:"type"`
			RoomID id.RoomID `json:"room_id"`
		} `json:"allow"`
	}
	if json.Unmarshal(content, &c) != nil {
		return
	}
	switch e.Type {
	case "m.room.create":
		s.RoomVersion = c.RoomVersion
		if s.RoomVersion == "" {
			s.RoomVersion = "1"
		}
		var typ string
		if json.Unmarshal(c.Type, &typ) == nil {
			s.RoomType = typ
		}
		if c.Federate != nil && !*c.Federate {
			s.Federate = false
		}
	case "m.room.name":
		if !redacted {
			s.Name = c.Name
		}
	case "m.room.topic":
		if !redacted {
			s.Topic = c.Topic
		}
	case "m.room.avatar":
		if !redacted {
			s.AvatarURL = c.URL
		}
	case "m.room.canonical_alias":
		if !redacted {
			if _, err := id.ParseRoomAlias(c.Alias); err == nil {
				s.CanonicalAlias = c.Alias
			}
		}
	case "m.room.join_rules":
		s.JoinRule = c.JoinRule
		for _, a := range c.Allow {
			if a.Type == "m.room_membership" && a.RoomID != "" {
				s.AllowRooms = append(s.AllowRooms, a.RoomID)
			}
		}
	case "m.room.history_visibility":
		s.WorldReadable = c.HistoryVisibility == "world_readable"
	case "m.room.guest_access":
		if !redacted {
			s.GuestCanJoin = c.GuestAccess == "can_join"
		}
	case "m.room.encryption":
		if !redacted {
			s.Encryption = c.Algorithm
		}
	}
}

// summary returns one room's summary, or ErrRoomUnknown.
func summary(ctx context.Context, db SummaryStore, roomID id.RoomID) (*Summary, error) {
	m, err := Summaries(ctx, db, []id.RoomID{roomID})
	if err != nil {
		return nil, err
	}
	s, ok := m[roomID]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrRoomUnknown, roomID)
	}
	return s, nil
}
