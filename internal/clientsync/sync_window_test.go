package clientsync

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// wideWindow is more events than the database path of an older design
// read per room (MaxTimelineLimit+1), so that anything before them was
// out of its sight.
const wideWindow = MaxTimelineLimit + 60

// TestDatabasePathRemovedLongAgo: a user kicked or banned, then followed
// by more events than any timeline holds, gets the room in leave, ending
// with the removal — from the database as from the ring.
func TestDatabasePathRemovedLongAgo(t *testing.T) { forEachBackend(t, testDatabasePathRemovedLongAgo) }

func testDatabasePathRemovedLongAgo(t *testing.T) {
	for _, membership := range []string{"leave", "ban"} {
		t.Run(membership, func(t *testing.T) {
			h := newHarness(t, 2) // the ring never covers since
			roomID := h.createRoom(alice)
			h.member(roomID, bob, bob, "join")
			since := h.initial(bob, nil).NextBatch
			removal := h.member(roomID, alice, bob, membership)
			h.sendMany(roomID, alice, wideWindow)
			rooms := roomsOf(h.next(bob, since, nil))
			if _, ok := rooms.Join[string(roomID)]; ok {
				t.Fatal("room still in join after the user was removed")
			}
			lr := rooms.Leave[string(roomID)]
			if lr == nil {
				t.Fatalf("room missing from leave; rooms = %+v", rooms)
			}
			evs := lr.Timeline.Events
			if len(evs) == 0 || evs[len(evs)-1].EventID != string(removal) {
				t.Errorf("leave timeline = %v, want it to end with the removal %s", eventIDs(evs), removal)
			}
		})
	}
}

// TestDatabasePathStateChangedLongAgo: a rename and a topic change
// followed by more events than any timeline holds reach the client as the
// state delta of a limited timeline.
func TestDatabasePathStateChangedLongAgo(t *testing.T) {
	forEachBackend(t, testDatabasePathStateChangedLongAgo)
}

func testDatabasePathStateChangedLongAgo(t *testing.T) {
	h := newHarness(t, 2)
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	since := h.initial(bob, nil).NextBatch
	h.state(roomID, alice, "m.room.name", "", `{"name":"First"}`)
	h.state(roomID, alice, "m.room.topic", "", `{"topic":"T"}`)
	h.state(roomID, alice, "m.room.name", "", `{"name":"Renamed"}`)
	h.sendMany(roomID, alice, wideWindow)
	jr := roomsOf(h.next(bob, since, nil)).Join[string(roomID)]
	if jr == nil {
		t.Fatal("room missing from join")
	}
	if !jr.Timeline.Limited || len(jr.Timeline.Events) != DefaultTimelineLimit {
		t.Errorf("timeline limited = %v with %d events, want limited with %d", jr.Timeline.Limited, len(jr.Timeline.Events), DefaultTimelineLimit)
	}
	if got, want := stateKeys(jr.State.Events), []string{"m.room.name|", "m.room.topic|"}; !slices.Equal(got, want) {
		t.Fatalf("state = %v, want %v", got, want)
	}
	for _, ev := range jr.State.Events {
		var c struct {
			Name string `json:"name"`
		}
		if ev.Type == "m.room.name" && (json.Unmarshal(ev.Content, &c) != nil || c.Name != "Renamed") {
			t.Errorf("m.room.name in state = %s, want the newest name", ev.Content)
		}
	}
}

// TestDatabasePathVisitsOnlyChangedRooms: a sync the ring does not cover
// reads events only of the rooms that changed and have something for the
// user (not of a room they left before since), and no more of them than
// the timeline needs.
func TestDatabasePathVisitsOnlyChangedRooms(t *testing.T) {
	forEachBackend(t, testDatabasePathVisitsOnlyChangedRooms)
}

func testDatabasePathVisitsOnlyChangedRooms(t *testing.T) {
	h := newHarness(t, 2)
	var rooms []id.RoomID
	for range 12 {
		r := h.createRoom(alice)
		h.member(r, bob, bob, "join")
		rooms = append(rooms, r)
	}
	left := h.createRoom(alice)
	h.member(left, bob, bob, "join")
	h.member(left, bob, bob, "leave")
	since := h.initial(bob, nil).NextBatch
	h.send(rooms[3], alice, "the one change")
	h.send(left, alice, "in a room bob left before since")
	h.send(h.createRoom(dave), dave, "elsewhere")
	h.calls.takeRanges()
	jr := roomsOf(h.next(bob, since, nil)).Join
	if len(jr) != 1 || jr[string(rooms[3])] == nil {
		t.Fatalf("joined rooms in the response = %d, want only %s", len(jr), rooms[3])
	}
	for _, c := range h.calls.takeRanges() {
		if c.room != rooms[3] {
			t.Errorf("read events of %s, which has nothing new for bob", c.room)
		}
		if c.limit > DefaultTimelineLimit+1 {
			t.Errorf("read up to %d events of %s for a timeline of %d", c.limit, c.room, DefaultTimelineLimit)
		}
	}
}
