package clientsync

import (
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

func (h *harness) forget(user id.UserID, roomID id.RoomID) {
	h.t.Helper()
	if err := h.db.Write(h.ctx, func(tx *store.Tx) error { return tx.ForgetRoom(h.ctx, user, roomID) }); err != nil {
		h.t.Fatalf("forget %s: %v", roomID, err)
	}
}

// TestForgottenRoomsLeftOut follows Leaving rooms: "Rooms which have been
// forgotten will never appear in the response to the /sync API, until the
// user re-joins, is re-invited, or knocks."
func TestForgottenRoomsLeftOut(t *testing.T) { forEachBackend(t, testForgottenRoomsLeftOut) }

func testForgottenRoomsLeftOut(t *testing.T) {
	includeLeave := &Filter{Room: &RoomFilter{IncludeLeave: true}}
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	h.member(roomID, bob, bob, "leave")
	if roomsOf(h.initial(bob, includeLeave)).Leave[string(roomID)] == nil {
		t.Fatal("left room missing from an initial sync with include_leave before forgetting")
	}

	h.forget(bob, roomID)
	if lr := roomsOf(h.initial(bob, includeLeave)).Leave[string(roomID)]; lr != nil {
		t.Errorf("forgotten room in an initial sync with include_leave, timeline %v", eventIDs(lr.Timeline.Events))
	}

	// Rejoining ends the forget.
	since := h.pos()
	h.member(roomID, bob, bob, "join")
	if roomsOf(h.next(bob, since, nil)).Join[string(roomID)] == nil {
		t.Error("rejoined room missing from join")
	}
	h.member(roomID, bob, bob, "leave")
	if roomsOf(h.initial(bob, includeLeave)).Leave[string(roomID)] == nil {
		t.Error("room left after rejoining missing from include_leave: the old forget still holds")
	}

	// A leave and a forget between two syncs: the incremental sync leaves
	// the room out too.
	h.member(roomID, bob, bob, "join")
	since = h.initial(bob, nil).NextBatch
	h.send(roomID, alice, "bye")
	h.member(roomID, bob, bob, "leave")
	h.forget(bob, roomID)
	resp := h.next(bob, since, includeLeave)
	if lr := roomsOf(resp).Leave[string(roomID)]; lr != nil {
		t.Errorf("forgotten room in the leave section of an incremental sync, timeline %v", eventIDs(lr.Timeline.Events))
	}
	if jr := roomsOf(resp).Join[string(roomID)]; jr != nil {
		t.Errorf("forgotten room in join, timeline %v", eventIDs(jr.Timeline.Events))
	}
}
