package directory

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// A directory query reads again only the summaries of the rooms that
// changed since the last one: the others are served as they were.
func TestPublicRoomsReadOnlyChangedSummaries(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		logger := slog.New(slog.DiscardHandler)
		db, err := store.Open(ctx, dsn, logger)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		key, err := signing.GenerateKey(rand.Reader, "hafen.test", "ed25519:test")
		if err != nil {
			t.Fatal(err)
		}
		rooms := room.New(room.Config{DB: db, ServerName: "hafen.test", Key: key, Logger: logger})
		t.Cleanup(rooms.Close)
		s := &Service{ServerName: "hafen.test", DB: db, Rooms: rooms}
		alice := id.UserID("@alice:hafen.test")
		var ids []id.RoomID
		for range 3 {
			roomID, err := rooms.CreateRoom(ctx, &room.CreateRequest{Creator: alice, Preset: room.PresetPublicChat, Version: roomversion.Default})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetVisibility(ctx, roomID, alice, VisibilityPublic); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, roomID)
		}
		list := func() map[id.RoomID]*Summary {
			t.Helper()
			out, err := s.PublicRooms(ctx, PublicRoomsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			m := map[id.RoomID]*Summary{}
			for _, sum := range out.Chunk {
				m[sum.RoomID] = sum
			}
			return m
		}
		first := list()
		if len(first) != 3 {
			t.Fatalf("listed %d rooms, want 3", len(first))
		}
		sk := ""
		if _, _, err := rooms.Send(ctx, ids[1], room.Proposal{Type: "m.room.name", StateKey: &sk, Sender: alice,
			Content: json.RawMessage(`{"name":"Renamed"}`)}); err != nil {
			t.Fatal(err)
		}
		second := list()
		for _, roomID := range ids {
			reused := first[roomID] == second[roomID]
			if roomID == ids[1] {
				if reused || second[roomID].Name != "Renamed" {
					t.Errorf("the renamed room's summary was not read again: %+v", second[roomID])
				}
			} else if !reused {
				t.Errorf("the summary of unchanged room %s was read again", roomID)
			}
		}
	})
}
