package room

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// TestImportJoin stores a room of another server that a local user joined
// (the state and the join as a checked send_join answer gives them): the
// room then has the state, the user is joined, the join is the room's
// timeline and is published, and local events follow on it. A second
// import of the same room is refused.
func TestImportJoin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		// The resident server, with the room, and this server, without it.
		resident, _, _ := newService(t, storetest.SQLiteDSN(t))
		remote := newRemote(t, "remote.test")
		creator := id.UserID("@carol:" + string(testServer))
		roomID, err := resident.CreateRoom(ctx, &CreateRequest{Creator: creator, Version: roomversion.V12, Preset: PresetPublicChat})
		if err != nil {
			t.Fatal(err)
		}
		state, extremities := head(t, resident, roomID)
		var stateEvents []*event.PDU
		for _, e := range state {
			stateEvents = append(stateEvents, e)
		}
		// The joining user's server builds the join on the resident's head.
		bob := id.UserID("@bob:remote.test")
		sk := string(bob)
		join := remote.event(t, roomversion.V12, roomID, "m.room.member", &sk, bob, `{"membership":"join"}`, extremities, state)

		local, db, rec := newService(t, dsn)
		pos, err := local.ImportJoin(ctx, RemoteJoin{RoomID: roomID, Version: roomversion.V12, Join: join, State: stateEvents, AuthChain: stateEvents})
		if err != nil {
			t.Fatalf("ImportJoin: %v", err)
		}
		if m, err := local.CurrentMembership(ctx, roomID, bob); m != MembershipJoin || err != nil {
			t.Errorf("membership of bob = %q, %v; want join", m, err)
		}
		if m, err := local.CurrentMembership(ctx, roomID, creator); m != MembershipJoin || err != nil {
			t.Errorf("membership of the creator = %q, %v; want join", m, err)
		}
		cur, err := local.CurrentState(ctx, roomID)
		if err != nil || len(cur) != len(stateEvents)+1 {
			t.Errorf("current state has %d events (%v), want %d", len(cur), err, len(stateEvents)+1)
		}
		if err := rec.c.WaitFor(ctx, pos); err != nil {
			t.Fatal(err)
		}
		rec.mu.Lock()
		if len(rec.pos) != 1 || rec.pos[0] != pos {
			t.Errorf("published %v, want only the join at %d", rec.pos, pos)
		}
		rec.mu.Unlock()
		evs, err := db.StreamEvents(ctx, 0, pos, 100)
		if err != nil || len(evs) != 1 || evs[0].EventID != join.EventID() {
			t.Errorf("timeline = %d events (%v), want only the join", len(evs), err)
		}

		// The creator is of this server's name in the test: a local event
		// follows on the imported head.
		msg, _, err := local.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: creator, Content: json.RawMessage(`{"body":"hi","msgtype":"m.text"}`)})
		if err != nil {
			t.Fatalf("send on the imported room: %v", err)
		}
		if prev := msg.PrevEvents(); len(prev) != 1 || prev[0] != join.EventID() {
			t.Errorf("prev_events = %v, want the join", prev)
		}
		if _, err := local.ImportJoin(ctx, RemoteJoin{RoomID: roomID, Version: roomversion.V12, Join: join, State: stateEvents}); !errors.Is(err, ErrRoomKnown) {
			t.Errorf("second import = %v, want ErrRoomKnown", err)
		}
	})
}
