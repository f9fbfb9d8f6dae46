package room

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pducheck"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
)

// TestPersistOnStaleHeadIsRefusedAndRetried has two Services write to the
// same room in the same database, as two processes would: the one whose
// head is stale has its persist refused by the fence, reloads the head and
// retries, so its event follows the other's and the room never forks.
func TestPersistOnStaleHeadIsRefusedAndRetried(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s1, db, rec1 := newService(t, dsn)
		s2, _, _ := newServiceWith(t, dsn, Config{})
		alice := id.UserID("@alice:hafen.test")
		roomID, err := s1.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
		if err != nil {
			t.Fatal(err)
		}
		m1, _, err := s1.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text("one")})
		if err != nil {
			t.Fatal(err)
		}
		// s2 reads the head after m1 and writes m2 and a topic: s1's head
		// (state, extremities, generation) is now stale.
		m2, _, err := s2.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text("two")})
		if err != nil {
			t.Fatal(err)
		}
		topic, _, err := s2.Send(ctx, roomID, Proposal{Type: "m.room.topic", StateKey: str(""), Sender: alice, Content: []byte(`{"topic":"from s2"}`)})
		if err != nil {
			t.Fatal(err)
		}
		_ = m2
		m3, pos3, err := s1.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text("three")})
		if err != nil {
			t.Fatalf("send on a stale head: %v", err)
		}
		if p := m3.PrevEvents(); len(p) != 1 || p[0] != topic.EventID() || m3.Depth() != topic.Depth()+1 {
			t.Fatalf("m3 prev_events=%v depth=%d, want [%s] %d", p, m3.Depth(), topic.EventID(), topic.Depth()+1)
		}
		// The refused batch was never published; the retried one was,
		// once.
		if err := rec1.c.WaitFor(ctx, s1.Stream().Position()); err != nil {
			t.Fatal(err)
		}
		rec1.mu.Lock()
		if n := slices.Index(rec1.pos, pos3); n < 0 || n != len(rec1.pos)-1 || s1.Stream().Position() != pos3 {
			t.Errorf("s1's stream consumer saw %v (published up to %d), want it to end with m3 at %d once", rec1.pos, s1.Stream().Position(), pos3)
		}
		rec1.mu.Unlock()
		ext, err := db.Extremities(ctx, roomID)
		if err != nil || len(ext) != 1 || ext[0] != m3.EventID() {
			t.Fatalf("stored extremities = %v, %v; want [%s]", ext, err, m3.EventID())
		}
		// s1 serves the state s2 wrote, and nothing is lost.
		if ev, _ := s1.CurrentStateEvent(ctx, roomID, "m.room.topic", ""); ev == nil || ev.EventID() != topic.EventID() {
			t.Errorf("s1's topic after the retry = %v, want s2's", ev)
		}
		evs, err := db.EventsByID(ctx, []id.EventID{m1.EventID(), m2.EventID(), topic.EventID(), m3.EventID()})
		if err != nil || len(evs) != 4 {
			t.Fatalf("stored %d of the 4 events: %v", len(evs), err)
		}
		info, err := db.Room(ctx, roomID)
		if err != nil {
			t.Fatal(err)
		}
		if g, err := db.StateGroupBeforeEvent(ctx, nidOf(t, db, m3.EventID())); err != nil || g != info.StateGroup {
			t.Errorf("state before m3 = group %d, %v; room's current group %d", g, err, info.StateGroup)
		}
	})
}

func nidOf(t *testing.T, db *store.DB, e id.EventID) int64 {
	t.Helper()
	m, err := db.EventNIDs(context.Background(), []id.EventID{e})
	if err != nil || m[e] == 0 {
		t.Fatalf("NID of %s: %v", e, err)
	}
	return m[e]
}

// TestConcurrentServicesNeverFork has two Services send into one room at
// once: every event is stored, and the room ends with one forward
// extremity whose chain holds them all.
func TestConcurrentServicesNeverFork(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s1, db, _ := newService(t, dsn)
		s2, _, _ := newServiceWith(t, dsn, Config{})
		alice := id.UserID("@alice:hafen.test")
		roomID, err := s1.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
		if err != nil {
			t.Fatal(err)
		}
		const each = 20
		var wg sync.WaitGroup
		errs := make(chan error, 2*each)
		for _, s := range []*Service{s1, s2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					if _, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text("x")}); err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		failed := 0
		for err := range errs {
			// Two refusals in a row fail a send; that is allowed, a fork is not.
			t.Logf("send failed: %v", err)
			failed++
		}
		ext, err := db.Extremities(ctx, roomID)
		if err != nil || len(ext) != 1 {
			t.Fatalf("extremities = %v, %v; want one", ext, err)
		}
		evs, err := db.RoomEventsRange(ctx, roomID, 0, 1<<62, store.Forward, 1000)
		if err != nil {
			t.Fatal(err)
		}
		msgs := 0
		children := map[id.EventID]int{}
		for _, e := range evs {
			if e.Type == "m.room.message" {
				msgs++
			}
			pdu, err := parseStored(e, roomversion.V12)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pdu.PrevEvents() {
				children[p]++
			}
		}
		if msgs != 2*each-failed {
			t.Errorf("stored %d messages, want %d", msgs, 2*each-failed)
		}
		for p, n := range children {
			if n > 1 {
				t.Errorf("%s has %d children: the room forked", p, n)
			}
		}
	})
}

// TestIdleHeadsAreEvicted drops the head of a room nobody used for longer
// than the idle timeout; the room reloads on its next use and continues its
// chain.
func TestIdleHeadsAreEvicted(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s, _, _ := newServiceWith(t, t.TempDir()+"/hafen.db", Config{Now: clock, IdleTimeout: time.Minute})
	alice := id.UserID("@alice:hafen.test")
	busy, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
	if err != nil {
		t.Fatal(err)
	}
	advance(time.Millisecond) // a v12 room's ID is its create event's hash
	idle, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
	if err != nil {
		t.Fatal(err)
	}
	last, _, err := s.Send(ctx, idle, Proposal{Type: "m.room.message", Sender: alice, Content: text("before")})
	if err != nil {
		t.Fatal(err)
	}
	advance(50 * time.Second)
	if _, _, err := s.Send(ctx, busy, Proposal{Type: "m.room.message", Sender: alice, Content: text("still here")}); err != nil {
		t.Fatal(err)
	}
	advance(20 * time.Second)
	if n := s.evictIdle(clock()); n != 1 || s.loadedRooms() != 1 {
		t.Fatalf("evicted %d, %d heads left; want 1 and 1", n, s.loadedRooms())
	}
	ev, _, err := s.Send(ctx, idle, Proposal{Type: "m.room.message", Sender: alice, Content: text("after")})
	if err != nil {
		t.Fatal(err)
	}
	if p := ev.PrevEvents(); len(p) != 1 || p[0] != last.EventID() {
		t.Errorf("after eviction prev_events = %v, want [%s]", p, last.EventID())
	}
	if s.loadedRooms() != 2 {
		t.Errorf("heads = %d, want 2", s.loadedRooms())
	}
}

// TestRecentTxnsAreBoundedByTime keeps a room's remembered transactions
// for one to two retry windows, however many a busy room persists.
func TestRecentTxnsAreBoundedByTime(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, _, _ := newServiceWith(t, t.TempDir()+"/hafen.db", Config{Now: clock})
	alice := id.UserID("@alice:hafen.test")
	roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
	if err != nil {
		t.Fatal(err)
	}
	send := func(txn string) {
		t.Helper()
		if _, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text(txn), TxnID: txn, DeviceID: "DEV"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1500 {
		send("t" + string(rune('A'+i%26)) + time.Duration(i).String())
	}
	rs, _ := s.room(ctx, roomID)
	if n := rs.txns.len(); n != 1500 {
		t.Fatalf("remembered %d transactions within the retry window, want 1500", n)
	}
	mu.Lock()
	now = now.Add(2*txnRetryWindow + time.Second)
	mu.Unlock()
	send("later")
	if n := rs.txns.len(); n != 1 {
		t.Errorf("remembered %d transactions two retry windows on, want 1", n)
	}
}

// TestFailedPersistUnloadsTheHead makes a persist fail (an event stored
// already) and checks that the head is marked unloaded, so the next batch
// reads it from the database, and that the room goes on from what is
// stored.
func TestFailedPersistUnloadsTheHead(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s, _, _ := newService(t, dsn)
		alice := id.UserID("@alice:hafen.test")
		roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
		if err != nil {
			t.Fatal(err)
		}
		m1, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text("one")})
		if err != nil {
			t.Fatal(err)
		}
		rs, err := s.room(ctx, roomID)
		if err != nil {
			t.Fatal(err)
		}
		published := s.Stream().Position()
		rs.mu.Lock()
		o := newOverlay(rs)
		o.applyLinear(m1)
		perr := s.persist(ctx, roomID, rs, o, []*entry{{pdu: m1, verdict: pducheck.Accept, stateKnown: true}}, nil)
		loaded := rs.loaded.Load()
		rs.mu.Unlock()
		if perr == nil || loaded {
			t.Fatalf("persist of a stored event: err %v, head loaded %v; want an error and an unloaded head", perr, loaded)
		}
		if p := s.Stream().Position(); p != published {
			t.Errorf("a failed persist was published: stream position %d, want %d", p, published)
		}
		m2, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text("two")})
		if err != nil {
			t.Fatalf("send after a failed persist: %v", err)
		}
		if p := m2.PrevEvents(); len(p) != 1 || p[0] != m1.EventID() {
			t.Errorf("prev_events after reload = %v, want [%s]", p, m1.EventID())
		}
	})
}

// TestJanitorExpiresTransactionsOfBusyRooms checks that a head kept in
// memory (read often, written rarely) forgets its transactions once they
// are older than the retry window, without waiting for another send.
func TestJanitorExpiresTransactionsOfBusyRooms(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, _, _ := newServiceWith(t, t.TempDir()+"/hafen.db", Config{Now: clock, IdleTimeout: time.Hour})
	alice := id.UserID("@alice:hafen.test")
	roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text("x"), TxnID: "t1", DeviceID: "DEV"}); err != nil {
		t.Fatal(err)
	}
	rs, _ := s.room(ctx, roomID)
	mu.Lock()
	now = now.Add(2*txnRetryWindow + time.Second)
	mu.Unlock()
	if n := s.evictIdle(clock()); n != 0 {
		t.Fatalf("evicted %d heads of a room used within the idle timeout", n)
	}
	rs.mu.Lock()
	left := rs.txns.len()
	rs.mu.Unlock()
	if left != 0 {
		t.Errorf("head remembers %d transactions after the retry window", left)
	}
}

// TestPersistRefusedSeveralTimesIsRetried has another Service (another
// process on the same database) write to the room before each of the
// first attempts to persist a send: the send is retried with the head
// reloaded and succeeds as long as the refusals stay within
// maxStaleAttempts, and fails with ErrContended (nothing stored) beyond.
func TestPersistRefusedSeveralTimesIsRetried(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s1, db, _ := newService(t, dsn)
		s2, _, _ := newServiceWith(t, dsn, Config{})
		alice := id.UserID("@alice:hafen.test")
		roomID, err := s1.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: roomversion.V12, Preset: PresetPublicChat})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name     string
			refusals int
			wantErr  bool
		}{
			{"refused twice", 2, false},
			{"refused at every attempt but the last", maxStaleAttempts - 1, false},
			{"refused at every attempt", maxStaleAttempts, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				attempts := 0
				var others []id.EventID
				s1.beforePersist = func(r id.RoomID, attempt int) {
					attempts = attempt
					if r != roomID || attempt > tc.refusals {
						return
					}
					ev, _, err := s2.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text("other writer")})
					if err != nil {
						t.Errorf("other writer: %v", err)
						return
					}
					others = append(others, ev.EventID())
				}
				defer func() { s1.beforePersist = nil }()
				ev, _, err := s1.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text(tc.name)})
				if tc.wantErr {
					if !errors.Is(err, ErrContended) || attempts != maxStaleAttempts {
						t.Fatalf("send = %v after %d attempts, want ErrContended after %d", err, attempts, maxStaleAttempts)
					}
					return
				}
				if err != nil {
					t.Fatalf("send refused %d times: %v", tc.refusals, err)
				}
				if attempts != tc.refusals+1 {
					t.Errorf("attempts = %d, want %d", attempts, tc.refusals+1)
				}
				last := others[len(others)-1]
				if p := ev.PrevEvents(); len(p) != 1 || p[0] != last {
					t.Errorf("prev_events = %v, want the other writer's last event %s", p, last)
				}
				if ext, err := db.Extremities(ctx, roomID); err != nil || len(ext) != 1 || ext[0] != ev.EventID() {
					t.Errorf("stored extremities = %v, %v; want [%s]", ext, err, ev.EventID())
				}
			})
		}
	})
}
