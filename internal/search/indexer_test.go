package search

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
	"github.com/hafenchat/hafen/internal/stream"
)

// TestIndexerResumes checks, on every backend, that a send does not index
// its text itself, that the indexer resumes from its stored position after
// a stop (indexing what was sent meanwhile), that an event redacted before
// the indexer reached it is never indexed, and that indexing the same
// events again (a crash before the position was stored) adds no second
// entry.
func TestIndexerResumes(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		logger := slog.New(slog.DiscardHandler)
		db, err := store.Open(ctx, dsn, logger)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		key, err := signing.KeyFromSeed("hafen.test", "ed25519:test", make([]byte, 32))
		if err != nil {
			t.Fatal(err)
		}
		events := stream.New(0, 0)
		rooms := room.New(room.Config{DB: db, ServerName: "hafen.test", Key: key, Logger: logger, Stream: events})
		alice := id.UserID("@alice:hafen.test")
		roomID, err := rooms.CreateRoom(ctx, &room.CreateRequest{Creator: alice, Version: roomversion.V12, Preset: room.PresetPublicChat})
		if err != nil {
			t.Fatal(err)
		}
		send := func(typ string, content string) (id.EventID, int64) {
			t.Helper()
			pdu, pos, err := rooms.Send(ctx, roomID, room.Proposal{Type: typ, Sender: alice, Content: json.RawMessage(content)})
			if err != nil {
				t.Fatalf("send %s: %v", typ, err)
			}
			return pdu.EventID(), pos
		}
		msg := func(body string) (id.EventID, int64) {
			return send("m.room.message", fmt.Sprintf(`{"msgtype":"m.text","body":%q}`, body))
		}
		count := func(term string) int {
			t.Helper()
			hits, err := db.Derived().SearchEvents(ctx, store.SearchQuery{Terms: []string{term}, Types: []string{"m.room.message"}, Rooms: []id.RoomID{roomID}, Limit: 100})
			if err != nil {
				t.Fatalf("search %q: %v", term, err)
			}
			return len(hits)
		}
		run := func(upto int64) {
			t.Helper()
			x := NewIndexer(IndexerConfig{DB: db, Stream: events, Logger: logger})
			if err := x.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer x.Stop()
			if err := x.WaitFor(ctx, upto); err != nil {
				t.Fatal(err)
			}
		}

		_, pos := msg("apple pie")
		if n := count("apple"); n != 0 {
			t.Fatalf("apple is indexed before the indexer ran: %d matches", n)
		}
		run(pos)
		if n := count("apple"); n != 1 {
			t.Fatalf("apple: %d matches after indexing, want 1", n)
		}
		stored, ok, err := db.Derived().ConsumerPosition(ctx, IndexerName)
		if err != nil || !ok || stored < pos {
			t.Fatalf("stored position = %d, %v, %v; want ≥ %d", stored, ok, err, pos)
		}

		// Sent while the indexer is stopped: a banana, and a cherry
		// redacted before the indexer reaches it.
		msg("banana split")
		cherry, _ := msg("cherry tart")
		_, pos = send("m.room.redaction", fmt.Sprintf(`{"redacts":%q}`, cherry))
		run(pos)
		if n := count("banana"); n != 1 {
			t.Errorf("banana: %d matches after the restart, want 1", n)
		}
		if n := count("cherry"); n != 0 {
			t.Errorf("cherry, redacted before it was indexed: %d matches, want 0", n)
		}

		// Indexing everything again adds nothing.
		if err := db.Derived().Write(ctx, func(tx *store.Tx) error { return tx.SetConsumerPosition(ctx, IndexerName, 0) }); err != nil {
			t.Fatal(err)
		}
		run(pos)
		for _, term := range []string{"apple", "banana"} {
			if n := count(term); n != 1 {
				t.Errorf("%s: %d matches after indexing again, want 1", term, n)
			}
		}
		if n := count("cherry"); n != 0 {
			t.Errorf("cherry: %d matches after indexing again, want 0", n)
		}

		// An indexed event redacted later: the redaction queues the
		// removal of its entry, and the indexer's next batch carries it
		// out and then empties the queue.
		apple, _ := msg("apple crumble")
		_, pos = msg("date cake")
		run(pos)
		if queued, err := db.SearchRemovals(ctx, 10); err != nil || len(queued) != 0 {
			t.Fatalf("removals queued before the redaction: %v, %v", queued, err)
		}
		_, pos = send("m.room.redaction", fmt.Sprintf(`{"redacts":%q}`, apple))
		if queued, err := db.SearchRemovals(ctx, 10); err != nil || len(queued) != 1 {
			t.Fatalf("removals queued by the redaction: %v, %v; want one", queued, err)
		}
		run(pos)
		if queued, err := db.SearchRemovals(ctx, 10); err != nil || len(queued) != 0 {
			t.Errorf("removals queued after the indexer ran: %v, %v; want none", queued, err)
		}
		if n := count("crumble"); n != 0 {
			t.Errorf("crumble, redacted after it was indexed: %d matches, want 0", n)
		}
	})
}
