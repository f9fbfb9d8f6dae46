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

// remoteRoom is a public v12 room of another server (the resident) that
// bob of remote.test joins: its state and bob's join, as a checked
// send_join answer gives them. Its creator, carol, has this server's name.
type remoteRoom struct {
	roomID       id.RoomID
	creator, bob id.UserID
	join         *event.PDU
	state        []*event.PDU
}

// newRemoteRoom creates a remoteRoom whose state holds the events keep
// lets through (all when keep is nil).
func newRemoteRoom(t *testing.T, keep func(event.StateKey) bool) remoteRoom {
	t.Helper()
	resident, _, _ := newService(t, storetest.SQLiteDSN(t))
	remote := newRemote(t, "remote.test")
	rr := remoteRoom{creator: id.UserID("@carol:" + string(testServer)), bob: "@bob:remote.test"}
	var err error
	rr.roomID, err = resident.CreateRoom(context.Background(), &CreateRequest{Creator: rr.creator, Version: roomversion.V12, Preset: PresetPublicChat})
	if err != nil {
		t.Fatal(err)
	}
	state, extremities := head(t, resident, rr.roomID)
	for k, e := range state {
		if keep == nil || keep(k) {
			rr.state = append(rr.state, e)
		}
	}
	// The joining user's server builds the join on the resident's head.
	sk := string(rr.bob)
	rr.join = remote.event(t, roomversion.V12, rr.roomID, "m.room.member", &sk, rr.bob, `{"membership":"join"}`, extremities, state)
	return rr
}

// TestImportJoin stores a room of another server that a local user joined
// (the state and the join as a checked send_join answer gives them): the
// room then has the state, the user is joined, the join is the room's
// timeline and is published, and local events follow on it. A second
// import of the same room is refused.
func TestImportJoin(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		rr := newRemoteRoom(t, nil)
		roomID, creator, bob, join, stateEvents := rr.roomID, rr.creator, rr.bob, rr.join, rr.state

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
