package clientsync

import (
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pushrules"
	"github.com/hafenchat/hafen/internal/stream"
)

// TestUnreadCountersOfIdleUsersDropped checks that sweepIdle drops the
// counters and push rules of users who have not asked for counts within
// unreadIdle, and rooms left without counters, keeps those of users who
// have and counters being set up, and runs at most once per unreadSweep.
func TestUnreadCountersOfIdleUsersDropped(t *testing.T) {
	const idle, active, loading = id.UserID("@idle:hafen.test"), id.UserID("@active:hafen.test"), id.UserID("@loading:hafen.test")
	start := time.Unix(1_000_000, 0)
	u := newUnreadCounts(0, nil, time.Now)
	u.swept = start
	rules := &userRules{ev: pushrules.Compile(pushrules.Defaults(string(idle)))}
	shared, lonely := newUnreadRoom(), newUnreadRoom()
	shared.users[idle] = &unreadCounter{notify: 3}
	shared.users[active] = &unreadCounter{notify: 1}
	shared.users[loading] = &unreadCounter{loading: make(chan struct{})}
	lonely.users[idle] = &unreadCounter{notify: 2}
	u.rooms["!shared:hafen.test"], u.rooms["!lonely:hafen.test"] = shared, lonely
	u.rules[idle], u.rules[active] = rules, rules
	u.seen[idle] = start
	u.seen[active] = start.Add(unreadIdle)

	u.seen[idle] = start.Add(-unreadIdle) // idle at the next sweep already
	u.sweepIdle(start.Add(unreadSweep / 2))
	if len(shared.users) != 3 || len(u.rooms) != 2 {
		t.Fatal("a sweep within unreadSweep of the last one dropped counters")
	}
	u.sweepIdle(start.Add(unreadIdle + time.Second))
	if _, ok := shared.users[idle]; ok {
		t.Error("the idle user's counters were kept")
	}
	if _, ok := u.rules[idle]; ok {
		t.Error("the idle user's rules were kept")
	}
	if shared.users[active] == nil || u.rules[active] == nil {
		t.Error("the active user's counters or rules were dropped")
	}
	if shared.users[loading] == nil {
		t.Error("counters being set up were dropped")
	}
	if _, ok := u.rooms["!lonely:hafen.test"]; ok {
		t.Error("a room without counters left was kept")
	}
	if _, ok := u.rooms["!shared:hafen.test"]; !ok {
		t.Error("a room with counters was dropped")
	}
}

func TestUnreadCountsAfterIdleDrop(t *testing.T) { forEachBackend(t, testUnreadCountsAfterIdleDrop) }

// testUnreadCountsAfterIdleDrop checks that a user whose counters were
// dropped while they did not sync gets the same counts on their next
// sync, set up from the store, as if they had been kept.
func testUnreadCountsAfterIdleDrop(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	first := h.initial(bob, nil)
	h.send(roomID, alice, "one")
	h.send(roomID, alice, "two")
	second := h.next(bob, first.NextBatch, nil)
	wantUnread(t, "before the drop", unreadOf(t, second, roomID), 2, 0)

	// Bob stops syncing for longer than unreadIdle: the next event's
	// apply sweeps his counters away.
	u := h.sync.unread
	u.mu.Lock()
	u.seen[bob] = u.now().Add(-2 * unreadIdle)
	u.swept = time.Time{}
	u.mu.Unlock()
	h.send(roomID, alice, "three")
	h.pos() // apply has run
	u.mu.Lock()
	_, kept := u.rules[bob]
	u.mu.Unlock()
	if kept {
		t.Fatal("bob's rules were kept after the sweep")
	}
	third := h.next(bob, second.NextBatch, nil)
	wantUnread(t, "after the drop", unreadOf(t, third, roomID), 3, 0)
}

// A read receipt for the user's own event that commits before sync's
// stream consumer applies the event waits for it; the event then settles
// it, as it reads everything before it, so nothing is set up again from
// the store.
func TestReceiptForOwnEventSettledByIt(t *testing.T) {
	const user = id.UserID("@alice:hafen.test")
	u := newUnreadCounts(0, nil, time.Now)
	r := newUnreadRoom()
	c := &unreadCounter{notify: 2}
	r.users[user] = c
	u.rooms["!room:hafen.test"] = r
	u.seen[user] = time.Now() // syncing: no idle sweep drops the counter
	own := testPDU(t, "m.room.message", nil, user, `{"msgtype":"m.text","body":"mine"}`)
	u.readUpTo(user, "!room:hafen.test", own.EventID(), false)
	if c.pendingRead != own.EventID() {
		t.Fatalf("pending read = %q, want the own event", c.pendingRead)
	}
	u.apply([]stream.Event{{PDU: own, StreamPos: 1}})
	if c.pendingRead != "" || c.notify != 0 {
		t.Errorf("after the own event: pending %q, %d notifications; want none", c.pendingRead, c.notify)
	}
	if r.users[user] != c {
		t.Error("the counter was dropped")
	}
}
