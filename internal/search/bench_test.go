package search

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/stream"
)

// BenchmarkSearchManyRooms searches for a user in 100 rooms (on SQLite),
// each with 20 messages of which 10 match, one page of 10 by recency: the
// membership reads, the count and the page with its visibility checks.
func BenchmarkSearchManyRooms(b *testing.B) {
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "hafen.db"), logger)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	key, err := signing.KeyFromSeed("hafen.test", "ed25519:test", make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	events := stream.New(0, 0)
	rooms := room.New(room.Config{DB: db, ServerName: "hafen.test", Key: key, Logger: logger, Stream: events})
	alice, bob := id.UserID("@alice:hafen.test"), id.UserID("@bob:hafen.test")
	for r := range 100 {
		roomID, err := rooms.CreateRoom(ctx, &room.CreateRequest{Creator: alice, Version: roomversion.V12, Preset: room.PresetPublicChat})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rooms.ChangeMembership(ctx, roomID, room.MembershipChange{Sender: bob, Target: bob, Membership: room.MembershipJoin}); err != nil {
			b.Fatal(err)
		}
		for i := range 20 {
			body := fmt.Sprintf("message %d of room %d", i, r)
			if i%2 == 0 {
				body += " about a fox"
			}
			content, _ := json.Marshal(map[string]string{"msgtype": "m.text", "body": body})
			if _, _, err := rooms.Send(ctx, roomID, room.Proposal{Type: "m.room.message", Sender: alice, Content: content}); err != nil {
				b.Fatal(err)
			}
		}
	}
	x := NewIndexer(IndexerConfig{DB: db, Stream: events, Logger: logger})
	if err := x.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(x.Stop)
	svc := &Service{DB: db, IndexDB: db.Derived(), Index: x}
	req := Request{User: bob, Term: "fox", Recent: true, Limit: 10}
	res, err := svc.Search(ctx, req)
	if err != nil || len(res.Hits) != 10 || res.Count != 1000 {
		b.Fatalf("search = %d hits, count %d, %v; want 10 hits of 1000", len(res.Hits), res.Count, err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := svc.Search(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
