package clientsync

import (
	"math"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/store"
)

func TestInitialSyncJoinedRoom(t *testing.T) { forEachBackend(t, testInitialSyncJoinedRoom) }

func testInitialSyncJoinedRoom(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	h.member(roomID, alice, carol, "invite")
	for _, b := range msgs(12, "m") {
		h.send(roomID, alice, b)
	}
	resp := h.initial(alice, nil)
	jr := roomsOf(resp).Join[string(roomID)]
	if jr == nil {
		t.Fatalf("initial sync: room %s missing from join", roomID)
	}
	cases := []struct {
		name string
		got  any
		want any
	}{
		{"sync: timeline holds the newest events up to the default limit of 10", bodies(jr.Timeline.Events), msgs(12, "m")[2:]},
		{"sync: limited when earlier events exist", jr.Timeline.Limited, true},
		{"sync: prev_batch set on a limited timeline", jr.Timeline.PrevBatch != "", true},
		{"sync: state is the room state at the start of the timeline (create)", hasKey(jr.State.Events, "m.room.create", ""), true},
		{"sync: state holds the members at the start of the timeline", hasKey(jr.State.Events, "m.room.member", string(carol)), true},
		{"sync: m.heroes are the other joined and invited members", jr.Summary.Heroes, []string{string(bob), string(carol)}},
		{"sync: m.joined_member_count counts the user too", *jr.Summary.JoinedMemberCount, 2},
		{"sync: m.invited_member_count", *jr.Summary.InvitedMemberCount, 1},
		{"sync: next_batch is the current position", resp.NextBatch, h.pos()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !equalJSON(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	// Paging back from prev_batch must continue exactly where the
	// timeline starts.
	tok, err := ParseSyncToken(jr.Timeline.PrevBatch)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := h.db.RoomEventsRange(h.ctx, roomID, tok.Events, math.MaxInt64, store.Forward, 1)
	if err != nil || len(evs) != 1 || string(evs[0].EventID) != jr.Timeline.Events[0].EventID {
		t.Errorf("first event after prev_batch = %v, %v; want the timeline's first %s", evs, err, jr.Timeline.Events[0].EventID)
	}
}

func TestInitialSyncSmallRoomIsNotLimited(t *testing.T) {
	forEachBackend(t, testInitialSyncSmallRoomIsNotLimited)
}

func testInitialSyncSmallRoomIsNotLimited(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.send(roomID, alice, "hi")
	lim := &Filter{Room: &RoomFilter{Timeline: &RoomEventFilter{EventFilter: EventFilter{Limit: intp(50)}}}}
	jr := roomsOf(h.initial(alice, lim)).Join[string(roomID)]
	if jr == nil {
		t.Fatal("room missing")
	}
	if jr.Timeline.Limited {
		t.Error("limited = true for a timeline holding the whole room, want false")
	}
	if len(jr.State.Events) != 0 {
		t.Errorf("state = %v, want empty: the whole state fits in the timeline", stateKeys(jr.State.Events))
	}
	if jr.Timeline.Events[0].Type != "m.room.create" {
		t.Errorf("first timeline event = %s, want m.room.create", jr.Timeline.Events[0].Type)
	}
}

func TestInitialSyncInviteKnockLeave(t *testing.T) {
	forEachBackend(t, testInitialSyncInviteKnockLeave)
}

func testInitialSyncInviteKnockLeave(t *testing.T) {
	h := newHarness(t, 0)
	invited := h.createRoom(alice, withState("m.room.name", "", `{"name":"Invited"}`))
	inviteID := h.member(invited, alice, bob, "invite")
	knocked := h.createRoom(alice, withState("m.room.join_rules", "", `{"join_rule":"knock"}`))
	h.member(knocked, bob, bob, "knock")
	left := h.createRoom(alice)
	h.member(left, bob, bob, "join")
	h.send(left, alice, "before leave")
	leaveID := h.member(left, bob, bob, "leave")
	h.send(left, alice, "after leave")

	resp := h.initial(bob, nil)
	rs := roomsOf(resp)
	t.Run("sync: invite section with stripped state including the invite event", func(t *testing.T) {
		ir := rs.Invite[string(invited)]
		if ir == nil {
			t.Fatalf("invite section = %v, want %s", rs.Invite, invited)
		}
		var gotInvite, gotName, gotInviter bool
		for _, ev := range ir.InviteState.Events {
			if ev.Type == "m.room.member" && ev.StateKey == string(bob) && string(ev.Content) != "" {
				gotInvite = true
			}
			// Clients name an invite to an unnamed room after the
			// inviter, whose member event comes too.
			gotInviter = gotInviter || ev.Type == "m.room.member" && ev.StateKey == string(alice)
			gotName = gotName || ev.Type == "m.room.name"
		}
		if !gotInvite || !gotName || !gotInviter {
			t.Errorf("invite_state = %+v, want the invite, the inviter's member event and m.room.name", ir.InviteState.Events)
		}
		_ = inviteID
	})
	t.Run("sync: knock section with stripped state", func(t *testing.T) {
		kr := rs.Knock[string(knocked)]
		if kr == nil {
			t.Fatalf("knock section = %v, want %s", rs.Knock, knocked)
		}
		found := false
		for _, ev := range kr.KnockState.Events {
			found = found || ev.Type == "m.room.member" && ev.StateKey == string(bob)
		}
		if !found {
			t.Errorf("knock_state = %+v, want bob's knock", kr.KnockState.Events)
		}
	})
	t.Run("sync_filter include_leave: left rooms absent by default", func(t *testing.T) {
		if _, ok := rs.Leave[string(left)]; ok {
			t.Error("left room in initial sync without include_leave")
		}
		if _, ok := rs.Join[string(left)]; ok {
			t.Error("left room in join section")
		}
	})
	t.Run("sync_filter include_leave: left rooms with events up to the leave", func(t *testing.T) {
		resp := h.initial(bob, &Filter{Room: &RoomFilter{IncludeLeave: true}})
		lr := roomsOf(resp).Leave[string(left)]
		if lr == nil {
			t.Fatal("left room missing with include_leave")
		}
		ids := eventIDs(lr.Timeline.Events)
		if len(ids) == 0 || ids[len(ids)-1] != string(leaveID) {
			t.Errorf("leave timeline = %v, want it to end with the leave %s", bodies(lr.Timeline.Events), leaveID)
		}
		if slices.Contains(bodies(lr.Timeline.Events), "after leave") {
			t.Error("leave timeline shows an event after the leave")
		}
	})
}

func TestInitialSyncHistoryVisibility(t *testing.T) {
	forEachBackend(t, testInitialSyncHistoryVisibility)
}

func testInitialSyncHistoryVisibility(t *testing.T) {
	joined := `{"history_visibility":"joined"}`
	t.Run("history_visibility joined: a later joiner does not see earlier events", func(t *testing.T) {
		h := newHarness(t, 0)
		roomID := h.createRoom(alice, withState("m.room.history_visibility", "", joined))
		h.send(roomID, alice, "secret1")
		h.send(roomID, alice, "secret2")
		h.member(roomID, bob, bob, "join")
		h.send(roomID, alice, "public")
		jr := roomsOf(h.initial(bob, nil)).Join[string(roomID)]
		if jr == nil {
			t.Fatal("room missing")
		}
		// The creation events before the history_visibility event fall
		// under the default, shared, and the user joined later.
		got := bodies(jr.Timeline.Events)
		if slices.Contains(got, "secret1") || slices.Contains(got, "secret2") || !slices.Equal(got[len(got)-2:], []string{"m.room.member", "public"}) {
			t.Errorf("timeline = %v, want it without secret1, secret2 and ending with [m.room.member public]", got)
		}
		if jr.Timeline.Limited {
			t.Error("limited = true though the hidden history is not the user's to page")
		}
	})
	t.Run("history_visibility joined: a profile change does not hide what the member saw", func(t *testing.T) {
		h := newHarness(t, 0)
		roomID := h.createRoom(alice, withState("m.room.history_visibility", "", joined))
		h.member(roomID, bob, bob, "join")
		h.send(roomID, alice, "seen1")
		h.send(roomID, alice, "seen2")
		h.state(roomID, bob, "m.room.member", string(bob), `{"membership":"join","displayname":"Bob"}`)
		h.send(roomID, alice, "seen3")
		lim := &Filter{Room: &RoomFilter{Timeline: &RoomEventFilter{EventFilter: EventFilter{Limit: intp(4)}}}}
		jr := roomsOf(h.initial(bob, lim)).Join[string(roomID)]
		if got, want := bodies(jr.Timeline.Events), []string{"seen1", "seen2", "m.room.member", "seen3"}; !slices.Equal(got, want) {
			t.Errorf("timeline = %v, want %v", got, want)
		}
	})
	t.Run("history_visibility joined: a left room shows nothing from before the join", func(t *testing.T) {
		h := newHarness(t, 0)
		roomID := h.createRoom(alice, withState("m.room.history_visibility", "", joined))
		h.send(roomID, alice, "secret")
		h.member(roomID, bob, bob, "join")
		h.send(roomID, alice, "seen")
		h.member(roomID, bob, bob, "leave")
		lr := roomsOf(h.initial(bob, &Filter{Room: &RoomFilter{IncludeLeave: true}})).Leave[string(roomID)]
		if lr == nil {
			t.Fatal("left room missing")
		}
		got := bodies(lr.Timeline.Events)
		if slices.Contains(got, "secret") || !slices.Equal(got[len(got)-3:], []string{"m.room.member", "seen", "m.room.member"}) {
			t.Errorf("timeline = %v, want it without secret and ending with [m.room.member seen m.room.member]", got)
		}
	})
}
