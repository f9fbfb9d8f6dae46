package room

import (
	"context"
	"fmt"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// The head's current-state headers match the store's, with what each
// event replaced, as state changes; and the cache behind them stays
// bounded by the state's size however often one key is replaced.
func TestCurrentStateHeadersMatchStoreAndStayBounded(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, db, _ := newService(t, dsn)
		alice := id.UserID("@alice:hafen.test")
		roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
		if err != nil {
			t.Fatal(err)
		}
		check := func(typ string) {
			t.Helper()
			snap, err := s.CurrentStateHeaders(ctx, roomID, typ)
			if err != nil {
				t.Fatal(err)
			}
			want, err := db.CurrentStateHeaders(ctx, roomID, typ)
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Headers.Events) != len(want.Events) {
				t.Fatalf("head serves %d state events of %q, store %d", len(snap.Headers.Events), typ, len(want.Events))
			}
			for i, e := range want.Events {
				got := snap.Headers.Events[i]
				if got.NID != e.NID || got.StreamPos != e.StreamPos || got.RedactedBecause != e.RedactedBecause || snap.Parsed[e.EventID] == nil {
					t.Errorf("state event %d = %+v, store has %+v", i, got, e)
				}
				if snap.Headers.Replaces[e.NID] != want.Replaces[e.NID] {
					t.Errorf("%s replaced %d, store says %d", e.EventID, snap.Headers.Replaces[e.NID], want.Replaces[e.NID])
				}
			}
		}
		check("")
		for i := range 1100 {
			if _, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.topic", StateKey: str(""), Sender: alice,
				Content: []byte(fmt.Sprintf(`{"topic":"t%d"}`, i))}); err != nil {
				t.Fatal(err)
			}
			check("m.room.topic")
		}
		check("")
		rs, err := s.room(ctx, roomID)
		if err != nil {
			t.Fatal(err)
		}
		rs.headers.mu.Lock()
		n := len(rs.headers.byNID)
		rs.headers.mu.Unlock()
		if n > 2*len(rs.state)+1024 {
			t.Errorf("header cache holds %d entries for a state of %d", n, len(rs.state))
		}
	})
}
