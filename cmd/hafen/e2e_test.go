package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/hafenchat/hafen/internal/store/storetest"
)

// backends returns the --database values the end-to-end tests run on:
// SQLite always, PostgreSQL when HAFEN_TEST_POSTGRES_DSN is set (each test
// in a schema of its own).
func backends(t *testing.T) map[string]func(t *testing.T) []string {
	out := map[string]func(t *testing.T) []string{
		"sqlite": func(t *testing.T) []string { return nil },
	}
	if os.Getenv(storetest.PostgresDSNEnv) == "" {
		t.Log("HAFEN_TEST_POSTGRES_DSN not set; skipping PostgreSQL (see README)")
		return out
	}
	out["postgres"] = func(t *testing.T) []string {
		return []string{"--database", storetest.PostgresDSN(t)}
	}
	return out
}

func register(t testing.TB, base, name string) *mautrix.Client {
	t.Helper()
	ctx := context.Background()
	cli, err := mautrix.NewClient(base, "", "")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.RegisterDummy(ctx, &mautrix.ReqRegister[any]{Username: name, Password: "correct horse " + name})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	cli.SetCredentials(resp.UserID, resp.AccessToken)
	cli.DeviceID = resp.DeviceID
	return cli
}

// TestRoomsAndSyncEndToEnd drives a real server with a real client SDK:
// register, create a room, invite, join, send, sync incrementally and
// paginate, on every backend.
func TestRoomsAndSyncEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			base, logs := startOpenServe(t, dbArgs(t))
			ctx := context.Background()
			alice, bob := register(t, base, "alice"), register(t, base, "bob")

			created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Name: "Harbour", Invite: []id.UserID{bob.UserID}})
			if err != nil {
				t.Fatalf("createRoom: %v\n%s", err, logs)
			}
			roomID := created.RoomID

			// Bob's initial sync shows the invite with stripped state.
			s1, err := bob.SyncRequest(ctx, 0, "", "", false, event.PresenceOnline)
			if err != nil {
				t.Fatalf("bob initial sync: %v", err)
			}
			inv, ok := s1.Rooms.Invite[roomID]
			if !ok {
				t.Fatalf("bob's initial sync has no invite for %s: %+v", roomID, s1.Rooms)
			}
			if !hasState(inv.State.Events, "m.room.name") {
				t.Errorf("invite_state lacks m.room.name")
			}
			if _, err := bob.JoinRoomByID(ctx, roomID); err != nil {
				t.Fatalf("join: %v", err)
			}
			s2, err := bob.SyncRequest(ctx, 0, s1.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatalf("bob sync after join: %v", err)
			}
			if _, ok := s2.Rooms.Join[roomID]; !ok {
				t.Fatalf("room missing from join section after joining: %+v", s2.Rooms)
			}

			// Alice sends more than a sync timeline holds: bob's next sync is
			// limited to the newest 10, and paginating back from its
			// prev_batch yields the rest, each event exactly once, up to the
			// start of the room (no end token there).
			const n = 25
			for i := range n {
				if _, err := alice.SendText(ctx, roomID, fmt.Sprintf("message %d", i)); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			s3, err := bob.SyncRequest(ctx, 5000, s2.NextBatch, "", false, event.PresenceOnline)
			if err != nil {
				t.Fatalf("incremental sync: %v", err)
			}
			jr := s3.Rooms.Join[roomID]
			if jr == nil || !jr.Timeline.Limited || len(jr.Timeline.Events) != 10 || jr.Timeline.PrevBatch == "" {
				t.Fatalf("incremental sync after %d messages: want a limited timeline of 10 with prev_batch, got %+v", n, jr)
			}
			seen := map[id.EventID]bool{}
			for _, ev := range jr.Timeline.Events {
				seen[ev.ID] = true
			}
			from := jr.Timeline.PrevBatch
			for page := 0; ; page++ {
				if page > 50 {
					t.Fatal("pagination does not end")
				}
				m, err := bob.Messages(ctx, roomID, from, "", mautrix.DirectionBackward, nil, 7)
				if err != nil {
					t.Fatalf("messages: %v", err)
				}
				for _, ev := range m.Chunk {
					if seen[ev.ID] {
						t.Fatalf("event %s returned twice (sync timeline and pagination)", ev.ID)
					}
					seen[ev.ID] = true
				}
				if m.End == "" {
					break
				}
				from = m.End
			}
			messages := 0
			for evID := range seen {
				ev, err := bob.GetEvent(ctx, roomID, evID)
				if err != nil {
					t.Fatalf("get event %s: %v", evID, err)
				}
				if ev.Type == event.EventMessage {
					messages++
				}
			}
			if messages != n {
				t.Errorf("sync + pagination delivered %d messages, want %d", messages, n)
			}
			if !seen[createEventID(t, alice, roomID)] {
				t.Errorf("pagination did not reach the create event")
			}

			// A long-polling sync returns as soon as a message arrives.
			got := make(chan *mautrix.RespSync, 1)
			go func() {
				s, err := bob.SyncRequest(ctx, 30000, s3.NextBatch, "", false, event.PresenceOnline)
				if err != nil {
					t.Errorf("long-poll sync: %v", err)
				}
				got <- s
			}()
			sent, err := alice.SendText(ctx, roomID, "live")
			if err != nil {
				t.Fatalf("send live: %v", err)
			}
			s4 := <-got
			if s4 == nil {
				t.FailNow()
			}
			live := false
			for _, ev := range s4.Rooms.Join[roomID].Timeline.Events {
				live = live || ev.ID == sent.EventID
			}
			if !live {
				t.Errorf("long-poll sync returned without the live message: %+v", s4.Rooms)
			}
		})
	}
}

func hasState(evs []*event.Event, typ string) bool {
	for _, ev := range evs {
		if ev.Type.Type == typ {
			return true
		}
	}
	return false
}

func createEventID(t *testing.T, cli *mautrix.Client, roomID id.RoomID) id.EventID {
	t.Helper()
	state, err := cli.State(context.Background(), roomID)
	if err != nil {
		t.Fatalf("get state: %v", err)
	}
	create := state[event.StateCreate][""]
	if create == nil {
		t.Fatal("room state has no create event")
	}
	return create.ID
}

// TestEveryRoomVersionEndToEnd creates a room of every supported version
// through the API, has a second user join it and checks both see the
// message in the room's history.
func TestEveryRoomVersionEndToEnd(t *testing.T) {
	base, _, logs := startServe(t, filepath.Join(t.TempDir(), "data"), "--open-registration", "--rate-limit=false")
	ctx := context.Background()
	alice, bob := register(t, base, "alice"), register(t, base, "bob")
	for v := 1; v <= 12; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			created, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat", RoomVersion: id.RoomVersion(fmt.Sprint(v))})
			if err != nil {
				t.Fatalf("createRoom v%d: %v\n%s", v, err, logs)
			}
			if _, err := bob.JoinRoomByID(ctx, created.RoomID); err != nil {
				t.Fatalf("join: %v", err)
			}
			sent, err := bob.SendText(ctx, created.RoomID, "hello")
			if err != nil {
				t.Fatalf("send: %v", err)
			}
			ev, err := alice.GetEvent(ctx, created.RoomID, sent.EventID)
			if err != nil || ev.Sender != bob.UserID {
				t.Fatalf("alice reads bob's message: %v, %v", ev, err)
			}
		})
	}
}
