package clientsync

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

func TestIncrementalSyncNewEventsOnly(t *testing.T) {
	forEachBackend(t, testIncrementalSyncNewEventsOnly)
}

func testIncrementalSyncNewEventsOnly(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.send(roomID, alice, "old")
	first := h.initial(alice, nil)
	h.send(roomID, alice, "new1")
	h.send(roomID, alice, "new2")
	second := h.next(alice, first.NextBatch, nil)
	jr := roomsOf(second).Join[string(roomID)]
	if jr == nil {
		t.Fatal("room missing from incremental sync")
	}
	if got, want := bodies(jr.Timeline.Events), []string{"new1", "new2"}; !slices.Equal(got, want) {
		t.Errorf("timeline = %v, want %v", got, want)
	}
	if jr.Timeline.Limited || len(jr.State.Events) != 0 {
		t.Errorf("limited = %v, state = %v; want an unlimited timeline and no state", jr.Timeline.Limited, stateKeys(jr.State.Events))
	}
	if second.NextBatch == first.NextBatch || second.NextBatch != h.pos() {
		t.Errorf("next_batch = %s after %s, want the new position %s", second.NextBatch, first.NextBatch, h.pos())
	}
	if jr.Timeline.PrevBatch != first.NextBatch {
		t.Errorf("prev_batch = %s, want the since token %s", jr.Timeline.PrevBatch, first.NextBatch)
	}
	third := h.next(alice, second.NextBatch, nil)
	if !third.isEmpty() || third.NextBatch != second.NextBatch {
		t.Errorf("third sync = %+v, next_batch %s; want nothing repeated and next_batch %s", third.Rooms, third.NextBatch, second.NextBatch)
	}
}

func TestIncrementalSyncLimitedWithStateDelta(t *testing.T) {
	forEachBackend(t, testIncrementalSyncLimitedWithStateDelta)
}

func testIncrementalSyncLimitedWithStateDelta(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	since := h.initial(alice, nil).NextBatch
	h.state(roomID, alice, "m.room.name", "", `{"name":"First"}`)
	h.state(roomID, alice, "m.room.topic", "", `{"topic":"T"}`)
	h.state(roomID, alice, "m.room.name", "", `{"name":"Second"}`)
	for _, b := range msgs(10, "m") {
		h.send(roomID, alice, b)
	}
	jr := roomsOf(h.next(alice, since, nil)).Join[string(roomID)]
	if jr == nil {
		t.Fatal("room missing")
	}
	if !jr.Timeline.Limited || jr.Timeline.PrevBatch == "" {
		t.Errorf("limited = %v, prev_batch = %q; want limited with prev_batch", jr.Timeline.Limited, jr.Timeline.PrevBatch)
	}
	if got, want := bodies(jr.Timeline.Events), msgs(10, "m"); !slices.Equal(got, want) {
		t.Errorf("timeline = %v, want %v", got, want)
	}
	if got, want := stateKeys(jr.State.Events), []string{"m.room.name|", "m.room.topic|"}; !slices.Equal(got, want) {
		t.Errorf("state delta = %v, want %v", got, want)
	}
	for _, ev := range jr.State.Events {
		if ev.Type == "m.room.name" && string(ev.Content) != `{"name":"Second"}` {
			t.Errorf("state delta name = %s, want the newest", ev.Content)
		}
	}
}

func TestIncrementalSyncMembershipTransitions(t *testing.T) {
	forEachBackend(t, testIncrementalSyncMembershipTransitions)
}

func testIncrementalSyncMembershipTransitions(t *testing.T) {
	cases := []struct {
		name string
		// act changes bob's membership of the room; it runs after bob's
		// since token was taken.
		act     func(h *harness, roomID id.RoomID)
		setup   func(h *harness, roomID id.RoomID)
		section string
		// lastType is the type of the last timeline event of a join or
		// leave section.
		check func(t *testing.T, h *harness, roomID id.RoomID, rs *Rooms)
	}{
		{
			name:    "sync: joining a room puts it in join with its full state",
			act:     func(h *harness, r id.RoomID) { h.member(r, bob, bob, "join") },
			section: "join",
			check: func(t *testing.T, h *harness, r id.RoomID, rs *Rooms) {
				jr := rs.Join[string(r)]
				all := append(stateKeys(jr.State.Events), stateKeys(jr.Timeline.Events)...)
				for _, k := range []string{"m.room.create|", "m.room.power_levels|", "m.room.member|" + string(alice), "m.room.member|" + string(bob)} {
					if !slices.Contains(all, k) {
						t.Errorf("state+timeline = %v, missing %s", all, k)
					}
				}
				if jr.Summary == nil || *jr.Summary.JoinedMemberCount != 2 {
					t.Errorf("summary = %+v, want 2 joined", jr.Summary)
				}
			},
		},
		{
			name:    "sync: being invited puts the room in invite",
			act:     func(h *harness, r id.RoomID) { h.member(r, alice, bob, "invite") },
			section: "invite",
		},
		{
			name:  "sync: leaving puts the room in leave, ending with the leave",
			setup: func(h *harness, r id.RoomID) { h.member(r, bob, bob, "join") },
			act: func(h *harness, r id.RoomID) {
				h.send(r, alice, "bye")
				h.member(r, bob, bob, "leave")
				h.send(r, alice, "later")
			},
			section: "leave",
			check:   checkLeaveTimeline([]string{"bye", "m.room.member"}),
		},
		{
			name:    "sync: a kick puts the room in leave",
			setup:   func(h *harness, r id.RoomID) { h.member(r, bob, bob, "join") },
			act:     func(h *harness, r id.RoomID) { h.member(r, alice, bob, "leave"); h.send(r, alice, "later") },
			section: "leave",
			check:   checkLeaveTimeline([]string{"m.room.member"}),
		},
		{
			name:    "sync: a ban puts the room in leave",
			setup:   func(h *harness, r id.RoomID) { h.member(r, bob, bob, "join") },
			act:     func(h *harness, r id.RoomID) { h.member(r, alice, bob, "ban"); h.send(r, alice, "later") },
			section: "leave",
			check:   checkLeaveTimeline([]string{"m.room.member"}),
		},
		{
			name:    "sync: rejecting an invite puts the room in leave",
			setup:   func(h *harness, r id.RoomID) { h.member(r, alice, bob, "invite") },
			act:     func(h *harness, r id.RoomID) { h.member(r, bob, bob, "leave") },
			section: "leave",
			check: func(t *testing.T, h *harness, r id.RoomID, rs *Rooms) {
				lr := rs.Leave[string(r)]
				if n := len(lr.Timeline.Events); n == 0 || lr.Timeline.Events[n-1].Type != "m.room.member" {
					t.Errorf("leave timeline = %v, want it to end with the rejection", bodies(lr.Timeline.Events))
				}
			},
		},
		{
			name:    "sync: leaving and rejoining shows the room joined with full state",
			setup:   func(h *harness, r id.RoomID) { h.member(r, bob, bob, "join") },
			act:     func(h *harness, r id.RoomID) { h.member(r, bob, bob, "leave"); h.member(r, bob, bob, "join") },
			section: "join",
			check: func(t *testing.T, h *harness, r id.RoomID, rs *Rooms) {
				jr := rs.Join[string(r)]
				all := append(stateKeys(jr.State.Events), stateKeys(jr.Timeline.Events)...)
				if !slices.Contains(all, "m.room.create|") {
					t.Errorf("state+timeline = %v, want the full state after a rejoin", all)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 0)
			roomID := h.createRoom(alice)
			for _, b := range msgs(3, "early") {
				h.send(roomID, alice, b)
			}
			if tc.setup != nil {
				tc.setup(h, roomID)
			}
			since := h.initial(bob, nil).NextBatch
			tc.act(h, roomID)
			resp := h.next(bob, since, nil)
			rs := roomsOf(resp)
			sections := map[string]bool{
				"join":   rs.Join[string(roomID)] != nil,
				"invite": rs.Invite[string(roomID)] != nil,
				"leave":  rs.Leave[string(roomID)] != nil,
			}
			for sec, in := range sections {
				if in != (sec == tc.section) {
					t.Errorf("room in %s = %v, want only in %s", sec, in, tc.section)
				}
			}
			if tc.check != nil && sections[tc.section] {
				tc.check(t, h, roomID, rs)
			}
			// The next sync repeats nothing.
			if again := h.next(bob, resp.NextBatch, nil); !again.isEmpty() {
				j, _ := json.Marshal(again.Rooms)
				t.Errorf("sync after the transition = %s, want empty", j)
			}
		})
	}
}

// checkLeaveTimeline checks that a leave section's timeline holds exactly
// the events since the last sync up to the leave.
func checkLeaveTimeline(want []string) func(t *testing.T, h *harness, r id.RoomID, rs *Rooms) {
	return func(t *testing.T, h *harness, r id.RoomID, rs *Rooms) {
		lr := rs.Leave[string(r)]
		if got := bodies(lr.Timeline.Events); !slices.Equal(got, want) {
			t.Errorf("leave timeline = %v, want %v", got, want)
		}
	}
}

func TestIncrementalSyncFullState(t *testing.T) { forEachBackend(t, testIncrementalSyncFullState) }

func testIncrementalSyncFullState(t *testing.T) {
	h := newHarness(t, 0)
	quiet := h.createRoom(alice)
	busy := h.createRoom(alice)
	since := h.initial(alice, nil).NextBatch
	h.send(busy, alice, "new")
	resp := h.syncWith(h.sync, Request{User: alice, Since: since, FullState: true, Timeout: MaxTimeout})
	rs := roomsOf(resp)
	q, b := rs.Join[string(quiet)], rs.Join[string(busy)]
	if q == nil || b == nil {
		t.Fatalf("full_state: join = %v, want both rooms", rs.Join)
	}
	if !hasKey(q.State.Events, "m.room.create", "") || !hasKey(b.State.Events, "m.room.create", "") {
		t.Errorf("full_state: state = %v / %v, want the full state of both rooms", stateKeys(q.State.Events), stateKeys(b.State.Events))
	}
	if got := bodies(b.Timeline.Events); !slices.Equal(got, []string{"new"}) {
		t.Errorf("full_state: timeline = %v, want only the events since the token", got)
	}
	if len(q.Timeline.Events) != 0 {
		t.Errorf("full_state: quiet room timeline = %v, want empty", bodies(q.Timeline.Events))
	}
}
