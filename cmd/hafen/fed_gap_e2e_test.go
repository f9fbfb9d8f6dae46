package main

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/fedsender"
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
//
// Those messages never come to sync as new, so alice's sync marks the
// timeline limited and starts it at the event above the gap, whether
// her since token lies before the cut, just before that event, or she
// syncs afresh: her client, paging back from the timeline's prev_batch,
// gets every message once, and the topic set in the gap reaches it
// through the sync's state (and state_after).
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
			waitTimelineBody(t, a.base, alice.AccessToken, roomID, "before the cut")
			rec := recordSyncs(t, a.base, alice.AccessToken, roomID)
			first := gapSync(t, a, alice.AccessToken, "", false)

			partition(true, pa, pb)
			const n = fedsender.MaxPDUs + 10
			for i := range n {
				sendMessage(t, b.base, bob.AccessToken, roomID, fmt.Sprintf("gap%d", i), fmt.Sprintf("gap %d", i))
				if i == n/2 {
					csCall(t, b.base, bob.AccessToken, http.MethodPut, roomPath(roomID, "/state/m.room.topic/"), map[string]any{"topic": "from B"}, &struct{}{})
				}
			}
			// A sync of alice's from before the link returns: the room's
			// next event for her lies above the gap (or is B's first
			// message of the cut, when its transaction was under way).
			mid := gapSync(t, a, alice.AccessToken, first.NextBatch, false)
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
			wantSet := map[string]bool{}
			for _, b := range want {
				wantSet[b] = true
			}
			waitFor(t, "every message reaches alice's client", func() bool {
				ok, err := rec.has(wantSet)
				if err != nil {
					t.Fatalf("alice's sync: %v", err)
				}
				return ok
			})
			rec.checkOnce(t, "alice")
			topic := currentState(t, a.base, alice.AccessToken, roomID)[[2]string{"m.room.topic", ""}]
			waitFor(t, "alice's client has the topic set in the gap", func() bool { return rec.stateEvent("m.room.topic", "") == topic })
			for _, since := range []string{"", first.NextBatch, mid.NextBatch} {
				for _, stateAfter := range []bool{false, true} {
					s := gapSync(t, a, alice.AccessToken, since, stateAfter)
					jr := s.Rooms.Join[roomID]
					if !jr.Timeline.Limited {
						t.Errorf("since %q, use_state_after=%v: timeline over the gap not limited", since, stateAfter)
					}
					if got := len(bodiesOf(jr.Timeline.Events)); got == 0 || got > n-fedsender.MaxPDUs {
						t.Errorf("since %q, use_state_after=%v: timeline holds %d messages, want some, not the gap's", since, stateAfter, got)
					}
					state := jr.State.Events
					if stateAfter {
						state = jr.StateAfter.Events
					}
					if !slices.ContainsFunc(state, func(e clientEvent) bool { return e.EventID == topic }) {
						t.Errorf("since %q, use_state_after=%v: the topic set in the gap is not in the sync's state: %+v", since, stateAfter, state)
					}
				}
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

// gapSyncAnswer is the part of a /sync answer the gap test reads.
type gapSyncAnswer struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[id.RoomID]struct {
			Timeline struct {
				Events  []clientEvent `json:"events"`
				Limited bool          `json:"limited"`
			} `json:"timeline"`
			State      struct{ Events []clientEvent } `json:"state"`
			StateAfter struct{ Events []clientEvent } `json:"state_after"`
		} `json:"join"`
	} `json:"rooms"`
}

// gapSync makes a /sync of the user's from since ("": a full sync) that
// returns at once, with a timeline limit above the test's messages.
func gapSync(t *testing.T, srv *fedServer, token, since string, stateAfter bool) gapSyncAnswer {
	t.Helper()
	path := "/_matrix/client/v3/sync?timeout=0&filter=" + url.QueryEscape(`{"room":{"timeline":{"limit":500}}}`)
	if since != "" {
		path += "&since=" + url.QueryEscape(since)
	}
	if stateAfter {
		path += "&use_state_after=true"
	}
	var s gapSyncAnswer
	if code := csCall(t, srv.base, token, http.MethodGet, path, nil, &s); code != http.StatusOK {
		t.Fatalf("sync: %d", code)
	}
	return s
}
