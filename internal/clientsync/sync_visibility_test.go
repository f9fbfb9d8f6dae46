package clientsync

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
)

// seen lists what a timeline shows of the messages, bob's membership
// events and the history_visibility events: the body of each message,
// "bob:<membership>" and "hv:<history_visibility>", in order.
func seen(evs []clientevent.Event) []string {
	out := []string{}
	for _, ev := range evs {
		var c struct {
			Body              string `json:"body"`
			Membership        string `json:"membership"`
			HistoryVisibility string `json:"history_visibility"`
		}
		_ = json.Unmarshal(ev.Content, &c)
		switch {
		case ev.Type == "m.room.message":
			out = append(out, c.Body)
		case ev.Type == "m.room.member" && deref(ev.StateKey) == string(bob):
			out = append(out, "bob:"+c.Membership)
		case ev.Type == "m.room.history_visibility":
			out = append(out, "hv:"+c.HistoryVisibility)
		}
	}
	return out
}

func historyVisibility(v string) roomOpt {
	return withState("m.room.history_visibility", "", `{"history_visibility":"`+v+`"}`)
}

func setHistoryVisibility(h *harness, roomID id.RoomID, v string) {
	h.state(roomID, alice, "m.room.history_visibility", "", `{"history_visibility":"`+v+`"}`)
}

var wideTimeline = &Filter{Room: &RoomFilter{IncludeLeave: true, Timeline: &RoomEventFilter{EventFilter: EventFilter{Limit: intp(100)}}}}

// Cases follow Client-Server API § Room History Visibility, "Server
// behaviour": rules 1–5 applied with the state at each event, and the
// before-or-after rule for history_visibility events and the user's own
// member events. Each timeline starts with the history_visibility event of
// the room's creation: before it none is set, which counts as shared, and
// bob joins later (rule 3).
func TestSyncHistoryVisibility(t *testing.T) { forEachBackend(t, testSyncHistoryVisibility) }

func testSyncHistoryVisibility(t *testing.T) {
	tests := []struct {
		name    string
		history string
		// before runs up to the point where bob takes his since token for
		// the incremental variant; after runs from there.
		before, after func(h *harness, r id.RoomID)
		section       string // where bob finds the room: "join" or "leave"
		want          []string
	}{
		{
			name:    "rule 3: shared shows an invitee who joined everything, from before the invite",
			history: "shared",
			before: func(h *harness, r id.RoomID) {
				h.send(r, alice, "before invite")
				h.member(r, alice, bob, "invite")
				h.send(r, alice, "while invited")
			},
			after: func(h *harness, r id.RoomID) {
				h.member(r, bob, bob, "join")
				h.send(r, alice, "after join")
			},
			section: "join",
			want:    []string{"hv:shared", "before invite", "bob:invite", "while invited", "bob:join", "after join"},
		},
		{
			name:    "rule 4: invited shows an invitee who joined everything from the invite on",
			history: "invited",
			before: func(h *harness, r id.RoomID) {
				h.send(r, alice, "before invite")
				h.member(r, alice, bob, "invite")
				h.send(r, alice, "while invited")
			},
			after: func(h *harness, r id.RoomID) {
				h.member(r, bob, bob, "join")
				h.send(r, alice, "after join")
			},
			section: "join",
			want:    []string{"hv:invited", "bob:invite", "while invited", "bob:join", "after join"},
		},
		{
			name:    "rules 2 and 5: joined shows an invitee who joined everything from the join on",
			history: "joined",
			before: func(h *harness, r id.RoomID) {
				h.send(r, alice, "before invite")
				h.member(r, alice, bob, "invite")
				h.send(r, alice, "while invited")
			},
			after: func(h *harness, r id.RoomID) {
				h.member(r, bob, bob, "join")
				h.send(r, alice, "after join")
			},
			section: "join",
			want:    []string{"hv:joined", "bob:join", "after join"},
		},
		{
			name:    "rules 2 and 3: shared shows a user who left everything up to the leave",
			history: "shared",
			before: func(h *harness, r id.RoomID) {
				h.send(r, alice, "before join")
			},
			after: func(h *harness, r id.RoomID) {
				h.member(r, bob, bob, "join")
				h.send(r, alice, "while joined")
				h.member(r, bob, bob, "leave")
				h.send(r, alice, "after leave")
			},
			section: "leave",
			want:    []string{"hv:shared", "before join", "bob:join", "while joined", "bob:leave"},
		},
		{
			name:    "rules 2 and 5: joined shows a user who left the events from the join up to the leave",
			history: "joined",
			before: func(h *harness, r id.RoomID) {
				h.send(r, alice, "before join")
			},
			after: func(h *harness, r id.RoomID) {
				h.member(r, bob, bob, "join")
				h.send(r, alice, "while joined")
				h.member(r, bob, bob, "leave")
				h.send(r, alice, "after leave")
			},
			section: "leave",
			want:    []string{"hv:joined", "bob:join", "while joined", "bob:leave"},
		},
		{
			name:    "rule 3: shared shows what happened between a leave and a later rejoin",
			history: "shared",
			before: func(h *harness, r id.RoomID) {
				h.member(r, bob, bob, "join")
				h.member(r, bob, bob, "leave")
				h.send(r, alice, "while away")
			},
			after: func(h *harness, r id.RoomID) {
				h.member(r, bob, bob, "join")
				h.send(r, alice, "back")
				h.member(r, bob, bob, "leave")
				h.send(r, alice, "gone")
			},
			section: "leave",
			want:    []string{"hv:shared", "bob:join", "bob:leave", "while away", "bob:join", "back", "bob:leave"},
		},
		{
			name:    "rule 5: joined hides what happened between a leave and a later rejoin",
			history: "joined",
			before: func(h *harness, r id.RoomID) {
				h.member(r, bob, bob, "join")
				h.member(r, bob, bob, "leave")
				h.send(r, alice, "while away")
			},
			after: func(h *harness, r id.RoomID) {
				h.member(r, bob, bob, "join")
				h.send(r, alice, "back")
				h.member(r, bob, bob, "leave")
				h.send(r, alice, "gone")
			},
			section: "leave",
			want:    []string{"hv:joined", "bob:join", "bob:leave", "bob:join", "back", "bob:leave"},
		},
		{
			name:    "history_visibility event: joined to shared shows the change and what follows to a later joiner",
			history: "joined",
			before: func(h *harness, r id.RoomID) {
				h.send(r, alice, "m1")
				setHistoryVisibility(h, r, "shared")
				h.send(r, alice, "m2")
				h.member(r, alice, bob, "invite")
			},
			after: func(h *harness, r id.RoomID) {
				h.member(r, bob, bob, "join")
				h.send(r, alice, "m3")
			},
			section: "join",
			want:    []string{"hv:joined", "hv:shared", "m2", "bob:invite", "bob:join", "m3"},
		},
		{
			name:    "history_visibility event: shared to joined shows what came before and the change to a later joiner",
			history: "shared",
			before: func(h *harness, r id.RoomID) {
				h.send(r, alice, "m1")
				setHistoryVisibility(h, r, "joined")
				h.send(r, alice, "m2")
				h.member(r, alice, bob, "invite")
			},
			after: func(h *harness, r id.RoomID) {
				h.member(r, bob, bob, "join")
				h.send(r, alice, "m3")
			},
			section: "join",
			want:    []string{"hv:shared", "m1", "hv:joined", "bob:join", "m3"},
		},
		{
			name:    "history_visibility event: invited to joined while invited hides what follows until the join",
			history: "invited",
			before: func(h *harness, r id.RoomID) {
				h.member(r, alice, bob, "invite")
				h.send(r, alice, "m1")
				setHistoryVisibility(h, r, "joined")
				h.send(r, alice, "m2")
			},
			after: func(h *harness, r id.RoomID) {
				h.member(r, bob, bob, "join")
				h.send(r, alice, "m3")
			},
			section: "join",
			want:    []string{"hv:invited", "bob:invite", "m1", "hv:joined", "bob:join", "m3"},
		},
		{
			name:    "rule 1: world_readable shows everything before the join",
			history: "world_readable",
			before: func(h *harness, r id.RoomID) {
				h.send(r, alice, "m1")
				setHistoryVisibility(h, r, "joined")
				h.send(r, alice, "m2")
				h.member(r, alice, bob, "invite")
			},
			after: func(h *harness, r id.RoomID) {
				h.member(r, bob, bob, "join")
			},
			section: "join",
			want:    []string{"hv:world_readable", "m1", "hv:joined", "bob:join"},
		},
	}
	for _, tc := range tests {
		for _, incremental := range []bool{false, true} {
			name := tc.name + " (initial sync)"
			if incremental {
				name = tc.name + " (incremental sync)"
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, 0)
				roomID := h.createRoom(alice, historyVisibility(tc.history))
				tc.before(h, roomID)
				since := h.initial(bob, wideTimeline).NextBatch
				tc.after(h, roomID)
				var resp *Response
				if incremental {
					resp = h.next(bob, since, wideTimeline)
				} else {
					resp = h.initial(bob, wideTimeline)
				}
				var tl []clientevent.Event
				switch tc.section {
				case "join":
					jr := roomsOf(resp).Join[string(roomID)]
					if jr == nil {
						t.Fatalf("rooms = %+v, want the room in join", resp.Rooms)
					}
					tl = jr.Timeline.Events
				case "leave":
					lr := roomsOf(resp).Leave[string(roomID)]
					if lr == nil {
						t.Fatalf("rooms = %+v, want the room in leave", resp.Rooms)
					}
					tl = lr.Timeline.Events
				}
				if got := seen(tl); !slices.Equal(got, tc.want) {
					t.Errorf("timeline = %v, want %v", got, tc.want)
				}
			})
		}
	}
}

func TestSyncHistoryVisibilityOwnInviteRejection(t *testing.T) {
	forEachBackend(t, testSyncHistoryVisibilityOwnInviteRejection)
}

func testSyncHistoryVisibilityOwnInviteRejection(t *testing.T) {
	// Under joined neither the invite nor the rejection is visible by
	// rules 1–5; the rejection is shown all the same (see visibleEvents).
	h := newHarness(t, 0)
	roomID := h.createRoom(alice, historyVisibility("joined"))
	h.member(roomID, alice, bob, "invite")
	h.send(roomID, alice, "while invited")
	since := h.initial(bob, wideTimeline).NextBatch
	h.member(roomID, bob, bob, "leave")
	lr := roomsOf(h.next(bob, since, wideTimeline)).Leave[string(roomID)]
	if lr == nil {
		t.Fatal("left room missing")
	}
	if got, want := seen(lr.Timeline.Events), []string{"bob:leave"}; !slices.Equal(got, want) {
		t.Errorf("timeline = %v, want %v", got, want)
	}
}

// A denied knock (the knocker kicked) reaches the knocker with its
// reason, as a rejected invite does: the room leaves the client's knocks.
func TestSyncDeniedKnockReachesKnocker(t *testing.T) {
	forEachBackend(t, testSyncDeniedKnockReachesKnocker)
}

func testSyncDeniedKnockReachesKnocker(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice, withState("m.room.join_rules", "", `{"join_rule":"knock"}`))
	h.member(roomID, bob, bob, "knock")
	since := h.initial(bob, wideTimeline).NextBatch
	if _, err := h.rooms.ChangeMembership(h.ctx, roomID, room.MembershipChange{Sender: alice, Target: bob, Membership: "leave", Reason: "denied"}); err != nil {
		t.Fatal(err)
	}
	lr := roomsOf(h.next(bob, since, wideTimeline)).Leave[string(roomID)]
	if lr == nil {
		t.Fatal("left room missing")
	}
	if got, want := seen(lr.Timeline.Events), []string{"bob:leave"}; !slices.Equal(got, want) {
		t.Errorf("timeline = %v, want the denial %v", got, want)
	}
}

func TestSyncHistoryVisibilityChangeSeenByMemberFromRing(t *testing.T) {
	forEachBackend(t, testSyncHistoryVisibilityChangeSeenByMemberFromRing)
}

func testSyncHistoryVisibilityChangeSeenByMemberFromRing(t *testing.T) {
	// Rule 2: a member joined before every event of the window sees a
	// history_visibility change and what follows it, with no lookup.
	h := newHarness(t, 0)
	roomID := h.createRoom(alice, historyVisibility("shared"))
	h.member(roomID, bob, bob, "join")
	since := h.initial(bob, nil).NextBatch
	setHistoryVisibility(h, roomID, "joined")
	h.send(roomID, alice, "after change")
	h.calls.n.Store(0)
	jr := roomsOf(h.next(bob, since, nil)).Join[string(roomID)]
	if jr == nil {
		t.Fatal("room missing")
	}
	if got, want := seen(jr.Timeline.Events), []string{"hv:joined", "after change"}; !slices.Equal(got, want) {
		t.Errorf("timeline = %v, want %v", got, want)
	}
	if n := h.calls.n.Load(); n != 0 {
		t.Errorf("store calls = %d, want 0", n)
	}
}
