package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/fedfetch"
)

// deepGap is a room of server A in which bob of server B sent more
// messages than A fetches in the background after a gap
// (fedfetch.GapFillMax) while the two were cut off, then one more.
type deepGap struct {
	a, b     *fedServer
	pa, pb   *fedProxy
	aliceTok string
	roomID   id.RoomID
	// want are the room's messages in order.
	want []string
}

// newDeepGap builds a deepGap, each server on a database of its own from
// dbArgs; A's extra arguments come before them. It returns once the
// message after the gap is in alice's timeline.
func newDeepGap(t *testing.T, dbArgs func(t *testing.T) []string, extraA ...string) *deepGap {
	t.Helper()
	a, pa := startProxiedFedServer(t, append(extraA, dbArgs(t)...)...)
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
	return &deepGap{a: a, b: b, pa: pa, pb: pb, aliceTok: alice.AccessToken, roomID: roomID, want: want}
}

// pageBack pages alice's /messages back once through the whole room and
// returns the room's messages in order, failing the test on an event
// paged twice.
func (g *deepGap) pageBack(t *testing.T) []string {
	t.Helper()
	evs := decodeEvents(t, messagesBack(t, g.a.base, g.aliceTok, g.roomID, 50))
	seen := map[id.EventID]bool{}
	for _, e := range evs {
		if seen[e.EventID] {
			t.Errorf("event %s paged twice", e.EventID)
		}
		seen[e.EventID] = true
	}
	var got []string
	for _, body := range bodiesOf(evs) {
		if body == "before the cut" || body == "after the gap" || strings.HasPrefix(body, "gap ") {
			got = append(got, body)
		}
	}
	slices.Reverse(got)
	return got
}

// TestGapDeeperThanBackgroundFillEndToEnd: A fills the gap with the
// state at it, fetches the newest part of the gap in the background and
// records where the hole below goes on. alice of A, paging back once
// through the whole room with /messages, sees every message exactly once
// and in order: /messages fetches the rest of the gap from B when her
// pages reach the hole.
func TestGapDeeperThanBackgroundFillEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("sends hundreds of messages")
	}
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			g := newDeepGap(t, dbArgs)
			if got := g.pageBack(t); !slices.Equal(got, g.want) {
				t.Errorf("alice's history has %d messages, want %d in order\nfirst differing: %s", len(got), len(g.want), firstDiff(got, g.want))
			}
		})
	}
}

// TestFailedGapFetchRetriedEndToEnd: once A's background fetch of the
// deep gap is done, B goes down; alice pages back, A's fetch below the
// hole fails and alice's history misses the messages there. B comes back:
// A's retrier fetches them without any client asking, and alice paging
// back again sees every message once, in order.
func TestFailedGapFetchRetriedEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("sends hundreds of messages")
	}
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			g := newDeepGap(t, dbArgs, "--log-level", "debug")
			const fetched = "fetched the events of a gap"
			waitFor(t, "A's background fetch of the gap", func() bool { return strings.Contains(g.a.logs.String(), fetched) })
			partition(true, g.pa, g.pb)
			if got := g.pageBack(t); len(got) >= len(g.want) {
				t.Fatalf("alice's history has %d messages while B is down, want fewer than %d", len(got), len(g.want))
			}
			partition(false, g.pa, g.pb)
			// Nothing but the retrier fetches gaps from here on.
			mark := len(g.a.logs.String())
			waitFor(t, "A's retry of the failed fetch", func() bool { return strings.Contains(g.a.logs.String()[mark:], fetched) })
			if got := g.pageBack(t); !slices.Equal(got, g.want) {
				t.Errorf("alice's history has %d messages, want %d in order\nfirst differing: %s", len(got), len(g.want), firstDiff(got, g.want))
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
