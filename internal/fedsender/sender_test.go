package fedsender

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// TestDeliveryAfterOutageAndRestart: events sent while the destination is
// down wait in the database, survive a restart of the sending server, and
// arrive exactly once when the destination is back; the message before
// the remote join and the remote server's own join are not sent to it.
func TestDeliveryAfterOutageAndRestart(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		h, p := run(t, dsn, time.Hour)
		roomID, before := h.publicRoom(t)
		p.setDown(true)
		var sent []id.EventID
		for i := range 5 {
			sent = append(sent, h.send(t, roomID, "while down "+string(rune('a'+i))))
		}
		h.waitFailures(t, 1)
		if d := h.destination(t); d.Queued != 5 || d.LastError == "" || d.NextRetryTS <= d.LastErrorTS {
			t.Errorf("destination while down = %+v, want 5 queued, an error and a retry after it", d)
		}

		h.reopen(t)
		if d := h.destination(t); d.Queued != 5 || d.Failures != 1 {
			t.Errorf("destination after restart = %+v, want 5 queued and the failure kept", d)
		}
		sent = append(sent, h.send(t, roomID, "after restart"))
		p.setDown(false)
		// The backoff is an hour: only the peer's contact sends now.
		h.sender.Contacted(p.name)
		p.waitFor(t, sent...)
		counts, _ := p.received()
		for _, e := range sent {
			if counts[e] != 1 {
				t.Errorf("event %s arrived %d times, want once", e, counts[e])
			}
		}
		if len(counts) != len(sent) {
			t.Errorf("peer received %d events, want the %d sent after its join (not %s before it, nor its own join)", len(counts), len(sent), before)
		}
		waitQueue(t, h, 0)
		if d := h.destination(t); d.Failures != 0 || d.LastSuccessTS == 0 {
			t.Errorf("destination after delivery = %+v, want no failures and a last success", d)
		}
		if bad := p.badRequests(); len(bad) > 0 {
			t.Errorf("bad requests at the peer: %v", bad)
		}
	})
}

// TestRetrySameTransactionAfterRestart: a transaction whose answer got
// lost is sent again under the same ID after a restart, so the peer,
// which keeps each transaction ID once, has every event exactly once.
func TestRetrySameTransactionAfterRestart(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		h, p := run(t, dsn, time.Hour)
		roomID, _ := h.publicRoom(t)
		p.mu.Lock()
		p.lose = true
		p.mu.Unlock()
		first := h.send(t, roomID, "answer lost")
		h.waitFailures(t, 1)
		txnID, inflight, err := h.db.InFlightPDUs(context.Background(), p.name)
		if err != nil || len(inflight) != 1 || inflight[0].EventID != first {
			t.Fatalf("in flight = %s %+v %v, want the first event", txnID, inflight, err)
		}
		h.reopen(t)
		second := h.send(t, roomID, "after restart")
		h.sender.Contacted(p.name)
		p.waitFor(t, first, second)
		counts, txns := p.received()
		if counts[first] != 1 || counts[second] != 1 {
			t.Errorf("arrivals = %v, want each event once", counts)
		}
		p.mu.Lock()
		_, retried := p.txns[txnID]
		p.mu.Unlock()
		if !retried || len(txns) != 2 || !slices.Equal(txns[0], []id.EventID{first}) {
			t.Errorf("transactions = %v, want %s (%s) then one with the second event", txns, txnID, first)
		}
	})
}

// TestBackoffThenContact: a failed destination waits out its backoff while
// events queue; when it contacts us they go at once, batched into one
// transaction.
func TestBackoffThenContact(t *testing.T) {
	h, p := run(t, sqliteDSN(t), time.Hour)
	roomID, _ := h.publicRoom(t)
	p.setDown(true)
	first := h.send(t, roomID, "one")
	h.waitFailures(t, 1)
	p.setDown(false)
	second := h.send(t, roomID, "two")
	third := h.send(t, roomID, "three")
	// Queued while backing off: nothing is sent yet.
	if counts, _ := p.received(); len(counts) != 0 {
		t.Fatalf("peer received %v during the backoff", counts)
	}
	if d := h.destination(t); d.Queued != 3 {
		t.Fatalf("queued = %d, want 3", d.Queued)
	}
	h.sender.Contacted(p.name)
	p.waitFor(t, first, second, third)
	_, txns := p.received()
	// The failed transaction held the first event; the two queued meanwhile
	// go together.
	if len(txns) != 2 || !slices.Equal(txns[1], []id.EventID{second, third}) {
		t.Errorf("transactions = %v, want [first] then [second third]", txns)
	}
}

// TestCatchUpNewestPerRoom: after an outage, a backlog longer than one
// transaction is cut to the newest event of each room (the peer fetches
// the rest with /get_missing_events), and the queue stays in the database
// with one in-memory destination however long the peer stays away.
func TestCatchUpNewestPerRoom(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		h, p := run(t, dsn, time.Hour)
		room1, _ := h.publicRoom(t)
		room2, _ := h.publicRoom(t)
		p.setDown(true)
		first := h.send(t, room1, "first")
		h.waitFailures(t, 1)
		var last1, last2 id.EventID
		for i := range MaxPDUs + 10 {
			last1 = h.send(t, room1, "backlog")
			if i%20 == 0 {
				last2 = h.send(t, room2, "backlog")
			}
		}
		if d := h.destination(t); d.Queued < MaxPDUs+11 {
			t.Fatalf("queued = %d, want the whole backlog in the database", d.Queued)
		}
		h.sender.mu.Lock()
		inMemory := len(h.sender.dests)
		h.sender.mu.Unlock()
		if inMemory != 1 {
			t.Errorf("%d destinations in memory, want 1", inMemory)
		}
		p.setDown(false)
		h.sender.Contacted(p.name)
		p.waitFor(t, first, last1, last2)
		waitQueue(t, h, 0)
		counts, txns := p.received()
		if len(counts) != 3 || len(txns) != 2 {
			t.Errorf("peer received %d events in %d transactions, want the first event, then the newest of each room", len(counts), len(txns))
		}
	})
}

// TestBackoff checks the backoff sequence and its validation.
func TestBackoff(t *testing.T) {
	s, err := New(Config{FirstBackoff: time.Second, MaxBackoff: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		got = append(got, s.backoff(n))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("backoff = %v, want %v", got, want)
	}
	if s, _ := New(Config{}); s.backoff(100) != DefaultMaxBackoff {
		t.Errorf("default cap = %s, want %s", s.backoff(100), DefaultMaxBackoff)
	}
	if _, err := New(Config{FirstBackoff: time.Minute, MaxBackoff: time.Second}); err == nil {
		t.Error("a maximum below the first backoff was accepted")
	}
}

func waitQueue(t *testing.T, h *home, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := h.db.QueueLength(context.Background(), h.peer.name)
		if err != nil {
			t.Fatal(err)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue length = %d, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDestinationsFollowMembership: the destinations of an event are the
// servers joined before it, plus the target's server of a membership
// event: a kicked server hears of its kick, and of nothing after it.
func TestDestinationsFollowMembership(t *testing.T) {
	h, p := run(t, sqliteDSN(t), time.Hour)
	roomID, _ := h.publicRoom(t)
	ctx := context.Background()
	bob := id.UserID("@bob:" + string(p.name))
	kick, err := h.rooms.ChangeMembership(ctx, roomID, room.MembershipChange{Sender: alice, Target: bob, Membership: room.MembershipLeave})
	if err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, kick.EventID())
	waitQueue(t, h, 0) // the kick's transaction is complete
	after := h.send(t, roomID, "after the kick")
	if n, err := h.db.QueueLength(ctx, p.name); n != 0 || err != nil {
		t.Errorf("queue after the kick = %d, %v; want nothing for the kicked server", n, err)
	}
	if counts, _ := p.received(); counts[after] != 0 || counts[kick.EventID()] != 1 {
		t.Errorf("peer received %v; want the kick once and not %s", counts, after)
	}
}

// TestInviteIsNotSentToTheInviteesServer: an invite of a user of a server
// that is not in the room went to that server through /v2/invite; it is
// not queued for it again, while a later revocation (a kick of the
// invitee) is.
func TestInviteIsNotSentToTheInviteesServer(t *testing.T) {
	h, p := run(t, sqliteDSN(t), time.Hour)
	ctx := context.Background()
	roomID, err := h.rooms.CreateRoom(ctx, &room.CreateRequest{Creator: alice, Version: roomversion.V12, Preset: room.PresetPrivateChat})
	if err != nil {
		t.Fatal(err)
	}
	carol := id.UserID("@carol:" + string(p.name))
	invite, err := h.rooms.ChangeMembership(ctx, roomID, room.MembershipChange{Sender: alice, Target: carol, Membership: room.MembershipInvite})
	if err != nil {
		t.Fatal(err)
	}
	revoke, err := h.rooms.ChangeMembership(ctx, roomID, room.MembershipChange{Sender: alice, Target: carol, Membership: room.MembershipLeave})
	if err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, revoke.EventID())
	if counts, _ := p.received(); counts[invite.EventID()] != 0 || counts[revoke.EventID()] != 1 {
		t.Errorf("peer received %v; want the revocation once and not the invite %s", counts, invite.EventID())
	}
}

// TestNextTransactionStartsWithCompletion: the events queued while a
// transaction is in flight become the next transaction in the commit that
// completes the first, so a busy destination costs the writer one commit
// per transaction, not two.
func TestNextTransactionStartsWithCompletion(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		h, p := run(t, dsn, time.Hour)
		roomID, _ := h.publicRoom(t)
		gate := make(chan chan struct{})
		p.mu.Lock()
		p.gate = gate
		p.mu.Unlock()
		first := h.send(t, roomID, "in flight")
		release := <-gate
		second := h.send(t, roomID, "queued one")
		third := h.send(t, roomID, "queued two")
		p.mu.Lock()
		p.gate = nil
		p.mu.Unlock()
		before := h.db.WriteJobs()
		close(release)
		p.waitFor(t, first, second, third)
		waitQueue(t, h, 0)
		// The first's completion with the second's start, then the
		// second's completion.
		if got := h.db.WriteJobs() - before; got != 2 {
			t.Errorf("writes from the first answer to an empty queue = %d, want 2", got)
		}
		_, txns := p.received()
		if len(txns) != 2 || !slices.Equal(txns[0], []id.EventID{first}) || !slices.Equal(txns[1], []id.EventID{second, third}) {
			t.Errorf("transactions = %v, want [first] then [second third]", txns)
		}
	})
}

// holdWrite runs a write that waits until the returned release is called,
// and returns once it runs.
func holdWrite(t *testing.T, h *home) (release func()) {
	t.Helper()
	started, unblock, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- h.db.Write(context.Background(), func(*store.Tx) error {
			close(started)
			<-unblock
			return nil
		})
	}()
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(unblock)
			if err := <-done; err != nil {
				t.Errorf("held write: %v", err)
			}
		})
	}
	t.Cleanup(release)
	<-started
	return release
}

// waitQueuedWrites waits until n writes wait for the writer.
func waitQueuedWrites(t *testing.T, h *home, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for h.db.QueuedWrites() != n {
		if time.Now().After(deadline) {
			t.Fatalf("queued writes = %d, want %d", h.db.QueuedWrites(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestNextTransactionSentWhileItsMarkCommits: the next transaction goes
// out as soon as the commit that marks its entries has chosen them, not
// after that commit returns; its answer counts once it has.
func TestNextTransactionSentWhileItsMarkCommits(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		h, p := run(t, dsn, time.Hour)
		roomID, _ := h.publicRoom(t)
		gate := make(chan chan struct{})
		p.mu.Lock()
		p.gate = gate
		p.mu.Unlock()
		first := h.send(t, roomID, "in flight")
		release := <-gate
		second := h.send(t, roomID, "queued")
		p.mu.Lock()
		p.gate = nil
		p.mu.Unlock()

		// The first answer's commit (completion and the second's mark)
		// queues behind a held write; a second held write joins its
		// batch after it, so that batch chooses the entries and then
		// cannot commit.
		releaseHead := holdWrite(t, h)
		close(release)
		waitQueuedWrites(t, h, 1)
		tailStarted, releaseTail, tailDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			tailDone <- h.db.Write(context.Background(), func(*store.Tx) error {
				close(tailStarted)
				<-releaseTail
				return nil
			})
		}()
		t.Cleanup(func() {
			select {
			case <-releaseTail:
			default:
				close(releaseTail)
			}
		})
		waitQueuedWrites(t, h, 2)
		releaseHead()
		<-tailStarted
		p.waitFor(t, first, second)
		if got := h.destination(t).Queued; got != 2 {
			t.Errorf("queued while the mark's commit is held = %d, want both entries still there", got)
		}
		close(releaseTail)
		if err := <-tailDone; err != nil {
			t.Fatal(err)
		}
		waitQueue(t, h, 0)
		_, txns := p.received()
		if len(txns) != 2 || !slices.Equal(txns[1], []id.EventID{second}) {
			t.Errorf("transactions = %v, want [first] then [second]", txns)
		}
	})
}
