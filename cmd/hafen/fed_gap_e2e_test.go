package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestDeepGapFilledWithStateEndToEnd: while server A is cut off from
// server B, bob of B sends more messages than one transaction holds and
// renames the room's topic midway. When the two meet again, B catches A up
// with its newest event only; A's /get_missing_events (10 events) cannot
// reach what it has, so A fetches the state at the gap from B (/state_ids
// and the events it lacks) and resolves it with its own: the newest
// message reaches alice's sync and A's topic is B's. Then A fetches the
// messages inside the gap from B (/backfill) in the background: alice,
// paging back with /messages, sees every message of the cut once, in
// order.
func TestDeepGapFilledWithStateEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a, pa := startProxiedFedServer(t, dbArgs(t)...)
			b, pb := startProxiedFedServer(t, dbArgs(t)...)
			alice := register(t, a.base, "alice")
			bob := register(t, b.base, "bob")
			roomID := createPublicRoom(t, a.base, alice.AccessToken)
			joinVia(t, b.base, bob.AccessToken, roomID, a.name)
			setUserPower(t, a.base, alice.AccessToken, roomID, id.UserID(bob.UserID), 100)
			sendMessage(t, a.base, alice.AccessToken, roomID, "before", "before the cut")
			waitTimelineBody(t, b.base, bob.AccessToken, roomID, "before the cut")

			partition(true, pa, pb)
			const n = 60
			for i := range n {
				sendMessage(t, b.base, bob.AccessToken, roomID, fmt.Sprintf("gap%d", i), fmt.Sprintf("gap %d", i))
				if i == n/2 {
					csCall(t, b.base, bob.AccessToken, http.MethodPut, roomPath(roomID, "/state/m.room.topic/"), map[string]any{"topic": "from B"}, &struct{}{})
				}
			}
			partition(false, pa, pb)
			// A is back: its first request ends B's backoff.
			poke(t, a, b)
			waitTimelineBody(t, a.base, alice.AccessToken, roomID, fmt.Sprintf("gap %d", n-1))
			waitFor(t, "A's topic is B's", func() bool {
				c, st := stateContent(t, a.base, alice.AccessToken, roomID, "m.room.topic", "")
				return st == 200 && c["topic"] == "from B"
			})
			// The room goes on from the merged state on both sides.
			sendMessage(t, a.base, alice.AccessToken, roomID, "after", "after the gap")
			waitTimelineBody(t, b.base, bob.AccessToken, roomID, "after the gap")

			want := []string{"before the cut"}
			for i := range n {
				want = append(want, fmt.Sprintf("gap %d", i))
			}
			want = append(want, "after the gap")
			var got []string
			var evs []clientEvent
			waitFor(t, "every message of the gap in alice's /messages", func() bool {
				evs = decodeEvents(t, messagesBack(t, a.base, alice.AccessToken, roomID, 25))
				got = nil
				for _, b := range bodiesOf(evs) {
					if b == "before the cut" || b == "after the gap" || strings.HasPrefix(b, "gap ") {
						got = append(got, b)
					}
				}
				slices.Reverse(got)

				return len(got) >= len(want)
			})
			if !slices.Equal(got, want) {
				t.Errorf("alice's history = %v, want %v", got, want)
			}
			seen := map[id.EventID]bool{}
			for _, e := range evs {
				if seen[e.EventID] {
					t.Errorf("event %s paged twice", e.EventID)
				}
				seen[e.EventID] = true
			}
		})
	}
}
