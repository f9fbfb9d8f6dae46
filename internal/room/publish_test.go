package room

import (
	"context"
	"fmt"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
)

// TestPublishedEventsCarryTheirStateGroup checks that the events the
// event path publishes carry the state group stored before each of them,
// so that consumers need not look it up: the state events of a new room,
// messages sent together (one batch), a state event among them and a
// redaction.
func TestPublishedEventsCarryTheirStateGroup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		s, db, rec := newService(t, dsn)
		ctx := context.Background()
		alice := id.UserID("@alice:hafen.test")
		roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
		if err != nil {
			t.Fatalf("CreateRoom: %v", err)
		}
		errs := make(chan error, 8)
		var first id.EventID
		for i := range 8 {
			go func() {
				p := Proposal{Type: "m.room.message", Sender: alice, Content: text(fmt.Sprintf("m%d", i))}
				if i == 5 {
					topic := ""
					p = Proposal{Type: "m.room.topic", StateKey: &topic, Sender: alice, Content: []byte(`{"topic":"t"}`)}
				}
				pdu, _, err := s.Send(ctx, roomID, p)
				if err == nil && i == 0 {
					first = pdu.EventID()
				}
				errs <- err
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
		if _, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.redaction", Sender: alice, Redacts: first, Content: []byte(`{}`)}); err != nil {
			t.Fatalf("redact: %v", err)
		}
		if err := rec.c.WaitFor(ctx, s.Stream().Position()); err != nil {
			t.Fatal(err)
		}
		evs, err := db.RoomEventsRange(ctx, roomID, 0, 1<<62, store.Forward, 100)
		if err != nil {
			t.Fatal(err)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.groups) != len(evs) || len(evs) < 10 {
			t.Fatalf("published %d events, stored %d", len(rec.groups), len(evs))
		}
		for _, ev := range evs {
			want, err := db.StateGroupBeforeEvent(ctx, ev.NID)
			if err != nil {
				t.Fatalf("state group before %s: %v", ev.EventID, err)
			}
			if got := rec.groups[ev.EventID]; got != want {
				t.Errorf("%s (%s) published with state group %d, stored %d", ev.EventID, ev.Type, got, want)
			}
		}
	})
}
