package stream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
	"github.com/hafenchat/hafen/internal/stream"
)

const alice = id.UserID("@alice:hafen.test")

// server is what cmd/hafen wires for the stream: a store, the published
// stream at the store's newest position, and the event path publishing to
// it. Reopening it over the same DSN is a restart.
type server struct {
	db     *store.DB
	stream *stream.Stream
	rooms  *room.Service
}

func open(t *testing.T, dsn string) *server { return openHint(t, dsn, 0) }

// openHint opens a server whose stream keeps hint events in memory.
func openHint(t *testing.T, dsn string, hint int) *server {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	db, err := store.Open(ctx, dsn, log)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	key, err := signing.KeyFromSeed("hafen.test", "ed25519:test", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	pos, err := db.MaxStreamPos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st := stream.New(pos, hint)
	return &server{db: db, stream: st, rooms: room.New(room.Config{DB: db, ServerName: "hafen.test", Key: key, Logger: log, Stream: st})}
}

func (s *server) send(t *testing.T, roomID id.RoomID, body string) int64 {
	t.Helper()
	_, pos, err := s.rooms.Send(context.Background(), roomID, room.Proposal{Type: "m.room.message", Sender: alice,
		Content: json.RawMessage(fmt.Sprintf(`{"msgtype":"m.text","body":%q}`, body))})
	if err != nil {
		t.Fatalf("send %s: %v", body, err)
	}
	return pos
}

func (s *server) createRoom(t *testing.T) id.RoomID {
	t.Helper()
	roomID, err := s.rooms.CreateRoom(context.Background(), &room.CreateRequest{Creator: alice, Version: roomversion.V12})
	if err != nil {
		t.Fatal(err)
	}
	return roomID
}

// allPositions returns every committed stream position, oldest first.
func (s *server) allPositions(t *testing.T) []int64 {
	t.Helper()
	evs, err := s.db.StreamEvents(context.Background(), 0, 1<<62, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, e := range evs {
		out = append(out, e.StreamPos)
	}
	return out
}

// log records what a consumer handled; failAt makes the handler fail
// (a crash before the batch is done) on the batch holding that position.
type log struct {
	mu     sync.Mutex
	pos    []int64
	ids    map[id.EventID]bool
	failAt int64
	// failures, when set, is how many times the batch at failAt fails
	// before it succeeds; 0 fails it for ever.
	failures int
}

func (l *log) handle(_ context.Context, evs []stream.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range evs {
		if e.StreamPos == l.failAt {
			if l.failures > 0 {
				l.failures--
				if l.failures == 0 {
					l.failAt = 0
				}
			}
			return errors.New("crash")
		}
	}
	for _, e := range evs {
		l.pos = append(l.pos, e.StreamPos)
		if l.ids == nil {
			l.ids = map[id.EventID]bool{}
		}
		l.ids[e.PDU.EventID()] = true
	}
	return nil
}

func (l *log) positions() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.pos)
}

func start(t *testing.T, cfg stream.ConsumerConfig) *stream.Consumer {
	t.Helper()
	c := stream.NewConsumer(cfg)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

func waitFor(t *testing.T, c *stream.Consumer, pos int64) {
	t.Helper()
	if err := c.WaitFor(context.Background(), pos); err != nil {
		t.Fatal(err)
	}
}

// TestConsumersSeeEveryEventInOrder sends into several rooms at once and
// requires each consumer to see every committed event exactly once, in
// stream order: one following in memory, one whose tiny hint window and
// batch force it to read the store.
func TestConsumersSeeEveryEventInOrder(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		srv := open(t, dsn)
		from := srv.stream.Position()
		fast, slow := &log{}, &log{}
		cf := start(t, stream.ConsumerConfig{Name: "fast", Stream: srv.stream, DB: srv.db, Handle: fast.handle, From: from})
		cs := start(t, stream.ConsumerConfig{Name: "slow", Stream: srv.stream, DB: srv.db, Handle: slow.handle, From: from, Batch: 3})
		var wg sync.WaitGroup
		for r := range 4 {
			roomID := srv.createRoom(t)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 15 {
					srv.send(t, roomID, fmt.Sprintf("%d-%d", r, i))
				}
			}()
		}
		wg.Wait()
		want := srv.allPositions(t)
		waitFor(t, cf, srv.stream.Position())
		waitFor(t, cs, srv.stream.Position())
		for name, l := range map[string]*log{"fast": fast, "slow": slow} {
			if got := l.positions(); !slices.Equal(got, want) {
				t.Errorf("%s consumer saw %v,\nwant %v", name, got, want)
			}
		}
	})
}

// TestSmallHintWindowFallsBackToTheStore keeps one event in memory: a
// consumer that starts behind reads the store, loses nothing, and then
// follows in memory.
func TestSmallHintWindowFallsBackToTheStore(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		srv := openHint(t, dsn, 1)
		from := srv.stream.Position()
		roomID := srv.createRoom(t)
		for i := range 10 {
			srv.send(t, roomID, fmt.Sprint(i))
		}
		l := &log{}
		c := start(t, stream.ConsumerConfig{Name: "behind", Stream: srv.stream, DB: srv.db, Handle: l.handle, From: from, Batch: 4})
		waitFor(t, c, srv.stream.Position())
		for i := range 3 {
			waitFor(t, c, srv.send(t, roomID, fmt.Sprint("more ", i)))
		}
		if got, want := l.positions(), srv.allPositions(t); !slices.Equal(got, want[len(want)-len(got):]) || len(got) != len(want)-countBefore(want, from) {
			t.Errorf("consumer saw %v, want the positions after %d of %v", got, from, want)
		}
	})
}

func countBefore(ps []int64, pos int64) int {
	n := 0
	for _, p := range ps {
		if p <= pos {
			n++
		}
	}
	return n
}

// TestInvalidatedStreamReadsUnpublishedEvents commits an event the event
// path never published (as after an ambiguous COMMIT): once the stream is
// invalidated, the next published batch is read from the store and the
// consumer sees the unpublished event too, in order.
func TestInvalidatedStreamReadsUnpublishedEvents(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		srv := open(t, dsn)
		roomID := srv.createRoom(t)
		from := srv.stream.Position()
		l := &log{}
		c := start(t, stream.ConsumerConfig{Name: "c", Stream: srv.stream, DB: srv.db, Handle: l.handle, From: from})
		a := srv.send(t, roomID, "a")
		waitFor(t, c, a)
		// A hidden commit: a second event service over the same store
		// with a stream nobody consumes.
		hidden := room.New(room.Config{DB: srv.db, ServerName: "hafen.test", Key: mustKey(t), Logger: slog.New(slog.DiscardHandler)})
		_, h, err := hidden.Send(context.Background(), roomID, room.Proposal{Type: "m.room.message", Sender: alice, Content: json.RawMessage(`{"msgtype":"m.text","body":"hidden"}`)})
		if err != nil {
			t.Fatal(err)
		}
		srv.stream.Invalidate()
		b := srv.send(t, roomID, "b")
		waitFor(t, c, b)
		if got, want := l.positions(), []int64{a, h, b}; !slices.Equal(got, want) {
			t.Errorf("consumer saw %v, want %v", got, want)
		}
	})
}

func mustKey(t *testing.T) signing.Key {
	t.Helper()
	key, err := signing.KeyFromSeed("hafen.test", "ed25519:test", make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestDurableConsumerResumesAfterCrash: a durable consumer handles some
// events, then the process dies — once in the middle of a batch, once
// with events committed that no consumer has seen. After a restart over
// the same database the consumer resumes from its stored position and
// sees every event, in order, none twice beyond the batch it crashed in.
func TestDurableConsumerResumesAfterCrash(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		srv := open(t, dsn)
		roomID := srv.createRoom(t)
		seen := &log{}
		cfg := stream.ConsumerConfig{Name: "test-durable", Stream: srv.stream, DB: srv.db, Positions: srv.db,
			Handle: seen.handle, From: srv.stream.Position()}
		c := start(t, cfg)
		var sent []int64
		for i := range 3 {
			sent = append(sent, srv.send(t, roomID, fmt.Sprint(i)))
		}
		waitFor(t, c, sent[2])
		// The next event's batch fails, as if the process died while
		// handling it; then the process stops with more events
		// committed than handled.
		seen.mu.Lock()
		seen.failAt = srv.send(t, roomID, "crash here")
		sent = append(sent, seen.failAt)
		seen.mu.Unlock()
		c.Stop()
		for i := range 3 {
			sent = append(sent, srv.send(t, roomID, fmt.Sprint("while down ", i)))
		}
		srv.db.Close()

		// Restart: a new store, stream and consumer of the same name.
		srv = open(t, dsn)
		seen.mu.Lock()
		seen.failAt = 0
		seen.mu.Unlock()
		cfg.Stream, cfg.DB, cfg.Positions = srv.stream, srv.db, srv.db
		cfg.From = srv.stream.Position() // ignored: the stored position wins
		c = start(t, cfg)
		sent = append(sent, srv.send(t, roomID, "after restart"))
		waitFor(t, c, sent[len(sent)-1])
		if got := seen.positions(); !slices.Equal(got, sent) {
			t.Errorf("consumer saw %v, want %v", got, sent)
		}
		if pos, ok, err := srv.db.ConsumerPosition(context.Background(), cfg.Name); pos != sent[len(sent)-1] || !ok || err != nil {
			t.Errorf("stored position = %d, %v, %v; want %d", pos, ok, err, sent[len(sent)-1])
		}
	})
}

// TestFailedBatchIsRetried: a handler that fails a batch gets the same
// batch again, and the events after it follow in order.
func TestFailedBatchIsRetried(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		srv := open(t, dsn)
		roomID := srv.createRoom(t)
		from := srv.stream.Position()
		seen := &log{}
		c := start(t, stream.ConsumerConfig{Name: "retry", Stream: srv.stream, DB: srv.db, Positions: srv.db,
			Handle: seen.handle, From: from, RetryDelay: time.Millisecond})
		var sent []int64
		sent = append(sent, srv.send(t, roomID, "a"))
		waitFor(t, c, sent[0])
		// The next event fails three times; the handler waits for the
		// lock until failAt is set.
		seen.mu.Lock()
		sent = append(sent, srv.send(t, roomID, "fails"))
		seen.failAt, seen.failures = sent[1], 3
		seen.mu.Unlock()
		for i := range 2 {
			sent = append(sent, srv.send(t, roomID, fmt.Sprint(i)))
		}
		waitFor(t, c, sent[len(sent)-1])
		if got := seen.positions(); !slices.Equal(got, sent) {
			t.Errorf("consumer saw %v, want %v", got, sent)
		}
		seen.mu.Lock()
		if seen.failures != 0 {
			t.Errorf("the batch failed %d times fewer than it should", seen.failures)
		}
		seen.mu.Unlock()
		if pos, _, err := srv.db.ConsumerPosition(context.Background(), "retry"); pos != sent[len(sent)-1] || err != nil {
			t.Errorf("stored position = %d, %v; want %d", pos, err, sent[len(sent)-1])
		}
	})
}

// TestStagedWritesCommitWithThePosition: a staging consumer's writes are
// committed in the same transaction as its position: a batch whose writes
// fail leaves neither, is staged again, and the function for after the
// commit runs only for committed batches.
func TestStagedWritesCommitWithThePosition(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		srv := open(t, dsn)
		roomID := srv.createRoom(t)
		var mu sync.Mutex
		var failAt, seenOnRetry int64
		var attempts int
		var committed []int64
		stage := func(ctx context.Context, evs []stream.Event) (func(tx *store.Tx) error, func(), error) {
			last := evs[len(evs)-1].StreamPos
			mu.Lock()
			defer mu.Unlock()
			fail := false
			if failAt != 0 && last >= failAt {
				attempts++
				fail = attempts == 1
				if attempts == 2 {
					// The failed attempt's output was rolled back.
					seenOnRetry, _, _ = srv.db.ConsumerPosition(ctx, "output")
				}
			}
			write := func(tx *store.Tx) error {
				if err := tx.SetConsumerPosition(ctx, "output", last); err != nil {
					return err
				}
				if fail {
					return errors.New("write failed")
				}
				return nil
			}
			return write, func() {
				mu.Lock()
				committed = append(committed, last)
				mu.Unlock()
			}, nil
		}
		c := start(t, stream.ConsumerConfig{Name: "staged", Stream: srv.stream, DB: srv.db, Positions: srv.db,
			Stage: stage, From: srv.stream.Position(), RetryDelay: time.Millisecond})
		first := srv.send(t, roomID, "a")
		waitFor(t, c, first)
		mu.Lock()
		failAt = srv.send(t, roomID, "fails once")
		mu.Unlock()
		waitFor(t, c, failAt)
		mu.Lock()
		defer mu.Unlock()
		if attempts != 2 || seenOnRetry != first {
			t.Errorf("%d attempts, output seen on the retry = %d; want 2 and %d (the failed write rolled back)", attempts, seenOnRetry, first)
		}
		for _, name := range []string{"output", "staged"} {
			if pos, _, err := srv.db.ConsumerPosition(ctx, name); pos != failAt || err != nil {
				t.Errorf("position %s = %d, %v; want %d", name, pos, err, failAt)
			}
		}
		if !slices.Equal(committed, []int64{first, failAt}) {
			t.Errorf("after-commit functions ran for %v, want %v", committed, []int64{first, failAt})
		}
	})
}

// TestStagingWithNothingToWriteStoresLazily: batches that write nothing
// store the consumer's position only every Batch events and at Stop.
func TestStagingWithNothingToWriteStoresLazily(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		srv := open(t, dsn)
		roomID := srv.createRoom(t)
		nothing := func(context.Context, []stream.Event) (func(tx *store.Tx) error, func(), error) { return nil, nil, nil }
		cfg := stream.ConsumerConfig{Name: "lazy", Stream: srv.stream, DB: srv.db, Positions: srv.db,
			Stage: nothing, From: srv.stream.Position(), Batch: 3}
		c := start(t, cfg)
		first := srv.send(t, roomID, "a")
		waitFor(t, c, first)
		if _, ok, err := srv.db.ConsumerPosition(ctx, "lazy"); ok || err != nil {
			t.Errorf("position stored after one event with nothing to write (%v)", err)
		}
		var last int64
		for i := range 3 {
			last = srv.send(t, roomID, fmt.Sprint(i))
			waitFor(t, c, last)
		}
		pos, ok, err := srv.db.ConsumerPosition(ctx, "lazy")
		if !ok || err != nil || pos < first {
			t.Errorf("position after %d events = %d, %v, %v; want it stored", 4, pos, ok, err)
		}
		last = srv.send(t, roomID, "before stop")
		waitFor(t, c, last)
		c.Stop()
		if pos, _, err := srv.db.ConsumerPosition(ctx, "lazy"); pos != last || err != nil {
			t.Errorf("position after Stop = %d, %v; want %d", pos, err, last)
		}
	})
}

// TestLingerGathersEventsUntilFlushed sends events one at a time to a
// consumer that lingers for an hour: it handles none of them until Flush,
// then all of them in one batch.
func TestLingerGathersEventsUntilFlushed(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		srv := open(t, dsn)
		roomID := srv.createRoom(t)
		from := srv.stream.Position()
		var mu sync.Mutex
		var batches [][]int64
		handle := func(_ context.Context, evs []stream.Event) error {
			mu.Lock()
			defer mu.Unlock()
			var b []int64
			for _, e := range evs {
				b = append(b, e.StreamPos)
			}
			batches = append(batches, b)
			return nil
		}
		c := start(t, stream.ConsumerConfig{Name: "lingering", Stream: srv.stream, DB: srv.db, Handle: handle, From: from, Linger: time.Hour})
		var last int64
		for i := range 5 {
			last = srv.send(t, roomID, fmt.Sprint(i))
		}
		mu.Lock()
		early := len(batches)
		mu.Unlock()
		if early != 0 {
			t.Fatalf("%d batches handled before Flush, want 0", early)
		}
		c.Flush()
		waitFor(t, c, last)
		mu.Lock()
		defer mu.Unlock()
		if len(batches) != 1 || len(batches[0]) != 5 {
			t.Errorf("batches = %v, want one of 5 events", batches)
		}
	})
}

// TestShareDelayWaitsForTheNextCommit: with ShareDelay, a staging
// consumer's write on an idle writer waits for another write and commits
// in its transaction.
func TestShareDelayWaitsForTheNextCommit(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		srv := open(t, dsn)
		roomID := srv.createRoom(t)
		stage := func(ctx context.Context, evs []stream.Event) (func(tx *store.Tx) error, func(), error) {
			return func(*store.Tx) error { return nil }, nil, nil
		}
		c := start(t, stream.ConsumerConfig{Name: "sharing", Stream: srv.stream, DB: srv.db, Positions: srv.db,
			Stage: stage, From: srv.stream.Position(), ShareDelay: time.Hour})
		pos := srv.send(t, roomID, "a")
		deadline := time.Now().Add(20 * time.Second)
		for srv.db.QueuedWrites() != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("queued writes = %d, want the consumer's waiting", srv.db.QueuedWrites())
			}
			time.Sleep(time.Millisecond)
		}
		if got, _, err := srv.db.ConsumerPosition(ctx, "sharing"); got >= pos || err != nil {
			t.Fatalf("position while waiting = %d, %v; want before %d", got, err, pos)
		}
		if err := srv.db.Write(ctx, func(*store.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		waitFor(t, c, pos)
		if got, _, err := srv.db.ConsumerPosition(ctx, "sharing"); got != pos || err != nil {
			t.Errorf("position after the next commit = %d, %v; want %d", got, err, pos)
		}
	})
}
