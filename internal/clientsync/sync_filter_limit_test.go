package clientsync

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/clientevent"
)

// A timeline filter's limit counts the events the filter lets through: a
// room whose newest events the filter leaves out still shows its newest
// messages, read from further back, in an initial sync, from the ring and
// from the store. The state events the filter leaves out that the room
// ends with come in the state section, so that the client's state is
// right. Spec: Client-Server API § Filtering ("limit: The maximum number
// of events to return").
func TestSyncFilterBeforeLimit(t *testing.T) { forEachBackend(t, testSyncFilterBeforeLimit) }

func testSyncFilterBeforeLimit(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	other := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	since := h.initial(alice, nil).NextBatch
	for _, b := range []string{"m1", "m2", "m3"} {
		h.send(roomID, alice, b)
	}
	h.state(roomID, alice, "m.room.topic", "", `{"topic":"T1"}`)
	// More events than the first read of the newest ones holds.
	for range 30 {
		h.sendContent(roomID, bob, "org.example.noise", `{}`)
	}
	h.state(roomID, alice, "m.room.topic", "", `{"topic":"T2"}`)
	h.sendContent(roomID, bob, "org.example.noise", `{}`)

	messages := func(limit int) *Filter {
		return &Filter{Room: &RoomFilter{Timeline: &RoomEventFilter{EventFilter: EventFilter{Types: []string{"m.room.message"}, Limit: intp(limit)}}}}
	}
	topic := func(evs []clientevent.Event) string {
		for _, ev := range evs {
			if ev.Type == "m.room.topic" {
				var c struct{ Topic string }
				if err := json.Unmarshal(ev.Content, &c); err != nil {
					t.Fatal(err)
				}
				return c.Topic
			}
		}
		return ""
	}
	for _, mode := range []string{"initial", "ring", "database"} {
		t.Run(mode, func(t *testing.T) {
			s, from := h.sync, since
			switch mode {
			case "initial":
				from = ""
			case "database":
				// For the small ring, since is older than what it holds.
				s = h.addSync(1)
				h.send(other, alice, "push the ring")
			}
			for _, tc := range []struct {
				limit   int
				want    []string
				limited bool
			}{
				{2, []string{"m2", "m3"}, true},
				{5, []string{"m1", "m2", "m3"}, false},
			} {
				for _, after := range []bool{false, true} {
					jr := roomsOf(h.syncWith(s, Request{User: alice, Since: from, Filter: messages(tc.limit), UseStateAfter: after})).Join[string(roomID)]
					if jr == nil {
						t.Fatalf("limit %d: room missing", tc.limit)
					}
					if got := bodies(jr.Timeline.Events); !slices.Equal(got, tc.want) || jr.Timeline.Limited != tc.limited {
						t.Errorf("limit %d: timeline %v limited %v, want %v limited %v", tc.limit, got, jr.Timeline.Limited, tc.want, tc.limited)
					}
					state := jr.State.Events
					if after {
						if jr.StateAfter == nil {
							t.Fatalf("limit %d: no state_after", tc.limit)
						}
						state = jr.StateAfter.Events
					}
					// The topic the room ends with, which the timeline does
					// not show.
					if got := topic(state); got != "T2" {
						t.Errorf("limit %d, state_after %v: topic in state %q, want T2", tc.limit, after, got)
					}
				}
			}
		})
	}

	// An ignored user's events do not take the places of others' either.
	if err := h.accountData().Set(h.ctx, alice, "", "m.ignored_user_list", json.RawMessage(`{"ignored_users":{"@bob:hafen.test":{}}}`)); err != nil {
		t.Fatal(err)
	}
	limit2 := &Filter{Room: &RoomFilter{Timeline: &RoomEventFilter{EventFilter: EventFilter{Limit: intp(2)}}}}
	jr := roomsOf(h.syncWith(h.sync, Request{User: alice, Filter: limit2})).Join[string(roomID)]
	if got := bodies(jr.Timeline.Events); !slices.Equal(got, []string{"m.room.topic", "m.room.topic"}) {
		t.Errorf("ignoring bob: timeline %v, want both topic changes", got)
	}
}
