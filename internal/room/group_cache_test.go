package room

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
)

// The state at a past group comes from the head in key order, equal to
// the store's, whether read cold or from the cache; the cache keeps at
// most maxCachedGroups groups.
func TestStateAtGroupSortedMatchesStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, db, _ := newService(t, dsn)
		alice := id.UserID("@alice:hafen.test")
		roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
		if err != nil {
			t.Fatal(err)
		}
		var groups []int64
		for i := range maxCachedGroups + 3 {
			sk := fmt.Sprintf("k%d", i%3)
			if _, _, err := s.Send(ctx, roomID, Proposal{Type: "org.example.state", StateKey: &sk, Sender: alice,
				Content: []byte(fmt.Sprintf(`{"n":%d}`, i))}); err != nil {
				t.Fatal(err)
			}
			g, err := s.CurrentStateGroup(ctx, roomID)
			if err != nil {
				t.Fatal(err)
			}
			groups = append(groups, g)
		}
		check := func(g int64) {
			t.Helper()
			got, err := s.StateAtGroupSorted(ctx, roomID, g)
			if err != nil {
				t.Fatal(err)
			}
			state, err := db.StateAtGroup(ctx, g)
			if err != nil {
				t.Fatal(err)
			}
			keys := make([]store.StateKey, 0, len(state))
			for k := range state {
				keys = append(keys, k)
			}
			slices.SortFunc(keys, func(a, b store.StateKey) int {
				return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.StateKey, b.StateKey))
			})
			if len(got) != len(keys) {
				t.Fatalf("group %d: head has %d events, store %d", g, len(got), len(keys))
			}
			for i, k := range keys {
				if got[i] != (GroupEntry{Type: k.Type, NID: state[k]}) {
					t.Errorf("group %d entry %d = %+v, store has %s/%s = %d", g, i, got[i], k.Type, k.StateKey, state[k])
				}
			}
		}
		for _, g := range groups {
			check(g) // cold
		}
		for _, g := range slices.Backward(groups) {
			check(g) // the last maxCachedGroups come from the cache
		}
		rs, err := s.room(ctx, roomID)
		if err != nil {
			t.Fatal(err)
		}
		rs.headers.mu.Lock()
		n := len(rs.headers.groups.groups)
		rs.headers.mu.Unlock()
		if n != maxCachedGroups {
			t.Errorf("cache holds %d groups, want %d", n, maxCachedGroups)
		}
	})
}

// A snapshot of the current state is shared while the room is unchanged,
// and made again once its state moves on or a state event is redacted.
func TestCurrentStateSnapshotSharedUntilChange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, _, _ := newService(t, dsn)
		alice := id.UserID("@alice:hafen.test")
		roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
		if err != nil {
			t.Fatal(err)
		}
		snap := func() StateSnapshot {
			t.Helper()
			sn, err := s.CurrentStateHeaders(ctx, roomID, "")
			if err != nil {
				t.Fatal(err)
			}
			return sn
		}
		same := func(a, b StateSnapshot) bool { return &a.Headers.Events[0] == &b.Headers.Events[0] }
		first := snap()
		if !same(first, snap()) {
			t.Error("an unchanged room's snapshot was made again")
		}
		topic, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.topic", StateKey: str(""), Sender: alice, Content: []byte(`{"topic":"t"}`)})
		if err != nil {
			t.Fatal(err)
		}
		second := snap()
		if same(first, second) || len(second.Headers.Events) != len(first.Headers.Events)+1 {
			t.Fatalf("after a new state event the snapshot has %d events, before %d", len(second.Headers.Events), len(first.Headers.Events))
		}
		if _, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.redaction", Sender: alice, Redacts: topic.EventID(), Content: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		third := snap()
		redacted := false
		for _, e := range third.Headers.Events {
			if e.EventID == topic.EventID() {
				redacted = e.RedactedBecause != ""
			}
		}
		if !redacted {
			t.Error("the snapshot after a redaction does not show the topic redacted")
		}
	})
}
