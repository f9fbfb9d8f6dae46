package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/fedfetch"
)

// TestGapDeeperThanBackgroundFillEndToEnd: while server A is cut off from
// server B, bob of B sends more messages than A fetches in the background
// after a gap (fedfetch.GapFillMax), then one more after the two meet
// again. A fills the gap with the state at it, fetches the newest part of
// the gap in the background and records where the hole below goes on.
// alice of A, paging back once through the whole room with /messages,
// sees every message exactly once and in order: /messages fetches the
// rest of the gap from B when her pages reach the hole.
func TestGapDeeperThanBackgroundFillEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("sends hundreds of messages")
	}
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a, pa := startProxiedFedServer(t, dbArgs(t)...)
			b, pb := startProxiedFedServer(t, dbArgs(t)...)
			alice := register(t, a.base, "alice")
			bob := register(t, b.base, "bob")
			roomID := createPublicRoom(t, a.base, alice.AccessToken)
			joinVia(t, b.base, bob.AccessToken, roomID, a.name)
			sendMessage(t, a.base, alice.AccessToken, roomID, "before", "before the cut")
			waitTimelineBody(t, b.base, bob.AccessToken, roomID, "before the cut")

			partition(true, pa, pb)
			n := fedfetch.GapFillMax + 200
			for i := range n {
				sendMessage(t, b.base, bob.AccessToken, roomID, fmt.Sprintf("gap%d", i), fmt.Sprintf("gap %d", i))
			}
			partition(false, pa, pb)
			// A is back: its first request ends B's backoff.
			poke(t, a, b)
			sendMessage(t, b.base, bob.AccessToken, roomID, "after", "after the gap")
			waitTimelineBody(t, a.base, alice.AccessToken, roomID, "after the gap")

			want := []string{"before the cut"}
			for i := range n {
				want = append(want, fmt.Sprintf("gap %d", i))
			}
			want = append(want, "after the gap")
			evs := decodeEvents(t, messagesBack(t, a.base, alice.AccessToken, roomID, 50))
			var got []string
			seen := map[id.EventID]bool{}
			for _, e := range evs {
				if seen[e.EventID] {
					t.Errorf("event %s paged twice", e.EventID)
				}
				seen[e.EventID] = true
			}
			for _, body := range bodiesOf(evs) {
				if body == "before the cut" || body == "after the gap" || strings.HasPrefix(body, "gap ") {
					got = append(got, body)
				}
			}
			slices.Reverse(got)
			if !slices.Equal(got, want) {
				t.Errorf("alice's history has %d messages, want %d in order\nfirst differing: %s", len(got), len(want), firstDiff(got, want))
			}
		})
	}
}

// firstDiff describes where two lists first differ.
func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d got %q, want %q", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(got), len(want))
}
