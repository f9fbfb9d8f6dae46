package store

import (
	"context"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestJoinedServers checks that JoinedServers names each other server with
// a joined user once, sorted, and leaves out self, users who are not
// joined, other rooms, and servers whose name only ends like self's.
func TestJoinedServers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		room, other := id.RoomID("!r:hafen.test"), id.RoomID("!o:hafen.test")
		members := []Member{
			{RoomID: room, UserID: "@a:hafen.test", Membership: "join"},
			{RoomID: room, UserID: "@b:hafen.test", Membership: "join"},
			{RoomID: room, UserID: "@c:remote.test", Membership: "join"},
			{RoomID: room, UserID: "@d:remote.test", Membership: "join"},
			{RoomID: room, UserID: "@e:b.example", Membership: "join"},
			{RoomID: room, UserID: "@f:xhafen.test", Membership: "join"},
			{RoomID: room, UserID: "@g:HAFEN.test", Membership: "join"},
			{RoomID: room, UserID: "@h:left.test", Membership: "leave"},
			{RoomID: room, UserID: "@i:invited.test", Membership: "invite"},
			{RoomID: other, UserID: "@j:elsewhere.test", Membership: "join"},
		}
		for i, m := range members {
			setTestMembership(t, db, m.RoomID, m.UserID, m.Membership, 100+i)
		}
		got, err := db.JoinedServers(ctx, room, "hafen.test")
		want := []id.ServerName{"HAFEN.test", "b.example", "remote.test", "xhafen.test"}
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("JoinedServers = %v, %v; want %v", got, err, want)
		}
		got, err = db.JoinedServers(ctx, other, "elsewhere.test")
		if err != nil || len(got) != 0 {
			t.Errorf("JoinedServers of a room of self's users = %v, %v; want none", got, err)
		}
	})
}
