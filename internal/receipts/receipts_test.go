package receipts

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

const (
	roomA = id.RoomID("!a:hafen.test")
	roomB = id.RoomID("!b:hafen.test")
)

// safety bounds the waits of these tests; reaching it is a failure.
const safety = 30 * time.Second

type wakes struct {
	mu    sync.Mutex
	dests [][]id.ServerName
}

func (w *wakes) Wake(dests []id.ServerName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dests = append(w.dests, dests)
}

func open(t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return db
}

// holdWriter occupies the store's writer until the returned function is
// called.
func holdWriter(t *testing.T, db *store.DB) (release func()) {
	t.Helper()
	started, hold, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- db.Write(context.Background(), func(*store.Tx) error {
			close(started)
			<-hold
			return nil
		})
	}()
	<-started
	return func() {
		close(hold)
		if err := <-done; err != nil {
			t.Errorf("held write: %v", err)
		}
	}
}

// TestConcurrentReceiptsShareOneWrite checks that receipts posted while a
// batch waits for the writer are written together in the next batch, that
// each Post returns once its receipt is committed (it survives reopening
// the store), and that each committed receipt reaches Changed once, in
// stream order and one call per batch, with one m.receipt EDU per room for
// the other servers.
func TestConcurrentReceiptsShareOneWrite(t *testing.T) {
	storetest.ForEachDSN(t, testConcurrentReceiptsShareOneWrite)
}

func testConcurrentReceiptsShareOneWrite(t *testing.T, dsn string) {
	ctx := context.Background()
	db := open(t, dsn)
	// A remote user in room A, none in room B.
	if err := db.Write(ctx, func(tx *store.Tx) error {
		sk := "@remote:other.test"
		nid, pos, err := tx.InsertEvent(ctx, store.EventRecord{EventID: "$join:other.test", RoomID: roomA,
			Type: "m.room.member", StateKey: &sk, Sender: id.UserID(sk), Depth: 1, OriginServerTS: 1, JSON: []byte(`{}`)})
		if err != nil {
			return err
		}
		return tx.SetMembership(ctx, store.Member{RoomID: roomA, UserID: id.UserID(sk), Membership: "join", EventNID: nid, StreamPos: pos})
	}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var changed []store.Receipt
	calls := 0
	fed := &wakes{}
	s := &Service{DB: db, ServerName: "hafen.test", Federation: fed, Changed: func(rcs []store.Receipt) {
		mu.Lock()
		defer mu.Unlock()
		changed = append(changed, rcs...)
		calls++
	}}

	release := holdWriter(t, db)
	const n = 9
	errs := make(chan error, n)
	post := func(i int) {
		room := roomA
		if i%3 == 2 {
			room = roomB
		}
		user := id.UserID(fmt.Sprintf("@u%d:hafen.test", i))
		errs <- s.Post(ctx, user, room, TypeRead, id.EventID(fmt.Sprintf("$e%d", i)), "")
	}
	go post(0)
	// The first receipt waits for the writer; the others queue behind it.
	waitFor(t, "the first batch to start", func() bool { return s.batches.Load() == 1 })
	for i := 1; i < n; i++ {
		go post(i)
	}
	waitFor(t, "the receipts to queue", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.queue) == n-1
	})
	release()
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("Post: %v", err)
		}
	}
	if got := s.batches.Load(); got != 2 {
		t.Errorf("%d batches for %d receipts, want 2", got, n)
	}
	mu.Lock()
	if len(changed) != n || calls != 2 {
		t.Errorf("Changed called %d times with %d receipts, want 2 times (one per batch) with %d", calls, len(changed), n)
	}
	for i := 1; i < len(changed); i++ {
		if changed[i].StreamPos <= changed[i-1].StreamPos {
			t.Errorf("Changed out of stream order: %+v", changed)
		}
	}
	mu.Unlock()

	// Room A's receipts went to other.test in two EDUs (the first
	// batch's and the second's), room B's nowhere.
	edus, err := db.QueuedEDUs(ctx, "other.test", 100)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]bool{}
	for _, e := range edus {
		var c map[id.RoomID]map[string]map[string]json.RawMessage
		if err := json.Unmarshal(e.Content, &c); err != nil || e.Type != "m.receipt" || len(c) != 1 || c[roomA] == nil {
			t.Fatalf("EDU %s %s (%v)", e.Type, e.Content, err)
		}
		for u := range c[roomA][TypeRead] {
			users[u] = true
		}
	}
	if len(edus) != 2 || len(users) != 6 {
		t.Errorf("%d EDUs for the users %v, want 2 for the 6 users of room A", len(edus), users)
	}
	fed.mu.Lock()
	if len(fed.dests) != 2 {
		t.Errorf("federation woken %d times, want 2", len(fed.dests))
	}
	fed.mu.Unlock()

	// Committed means durable.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, dsn)
	defer db.Close()
	got := 0
	for _, room := range []id.RoomID{roomA, roomB} {
		rcs, err := db.RoomReceipts(ctx, room)
		if err != nil {
			t.Fatal(err)
		}
		got += len(rcs)
	}
	if got != n {
		t.Errorf("%d receipts after reopening, want %d", got, n)
	}
}

// TestBatchKeepsTheLastReceiptPerKey checks that of two receipts of one
// user, room, type and thread queued together only the later is stored,
// and both Posts succeed.
func TestBatchKeepsTheLastReceiptPerKey(t *testing.T) {
	storetest.ForEachDSN(t, testBatchKeepsTheLastReceiptPerKey)
}

func testBatchKeepsTheLastReceiptPerKey(t *testing.T, dsn string) {
	ctx := context.Background()
	db := open(t, dsn)
	defer db.Close()
	s := &Service{DB: db}
	release := holdWriter(t, db)
	errs := make(chan error, 4)
	go func() { errs <- s.Post(ctx, "@first:hafen.test", roomA, TypeRead, "$x", "") }()
	waitFor(t, "the first batch to start", func() bool { return s.batches.Load() == 1 })
	// Queued in this order, while the first batch waits.
	for i, ev := range []id.EventID{"$1", "$2", "$3"} {
		go func() { errs <- s.Post(ctx, "@u:hafen.test", roomA, TypeReadPrivate, ev, "main") }()
		waitFor(t, "the receipt to queue", func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.queue) == i+1
		})
	}
	release()
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	rcs, err := db.UserReceipts(ctx, roomA, "@u:hafen.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(rcs) != 1 || rcs[0].EventID != "$3" || rcs[0].ThreadID != "main" {
		t.Errorf("stored receipts %+v, want the one at $3", rcs)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(safety)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
