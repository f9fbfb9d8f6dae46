package clientsync

import (
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
)

// presenceOf returns the presence content of user in a sync response.
func presenceOf(t *testing.T, r *Response, user id.UserID) (Presence, bool) {
	t.Helper()
	for _, raw := range r.presenceEvents() {
		var ev struct {
			Type    string          `json:"type"`
			Sender  id.UserID       `json:"sender"`
			Content json.RawMessage `json:"content"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != "m.presence" {
			t.Errorf("presence section holds a %s event", ev.Type)
		}
		if ev.Sender == user {
			var p Presence
			if err := json.Unmarshal(ev.Content, &p); err != nil {
				t.Fatal(err)
			}
			return p, true
		}
	}
	return Presence{}, false
}

func TestSyncPresence(t *testing.T) { forEachBackend(t, testSyncPresence) }

// testSyncPresence follows Client-Server API § Presence: changes reach the
// syncs of users who share a room (and the user's own), never others';
// idle and offline timeouts apply, a running sync keeps its user online,
// set_presence=offline does not mark the user online, and every change
// reaches the federation hook.
func testSyncPresence(t *testing.T) {
	h := newHarness(t, 0)
	var mu sync.Mutex
	now := testNow
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var hooked []Presence
	// Timeouts far longer than the test: the timers never fire on their
	// own; the test runs them at chosen times.
	s := New(Config{DB: h.db, Rooms: h.rooms, Logger: slog.New(slog.DiscardHandler), Stream: h.rooms.Stream(), Now: clock,
		Presence: PresenceConfig{Enabled: true, IdleTimeout: time.Hour, OfflineTimeout: 2 * time.Hour,
			Changed: func(p Presence) { mu.Lock(); hooked = append(hooked, p); mu.Unlock() }}})
	if err := s.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	h.createRoom(carol)

	first := h.syncWith(s, Request{User: bob, SetPresence: PresenceOffline})
	if _, ok := presenceOf(t, first, bob); ok {
		t.Error("a sync with set_presence=offline marked bob online")
	}
	msg := "lunch"
	s.SetPresence(alice, PresenceOnline, &msg)
	s.SetPresence(carol, PresenceOnline, nil)
	second := h.syncWith(s, Request{User: bob, Since: first.NextBatch, SetPresence: PresenceOffline})
	p, ok := presenceOf(t, second, alice)
	if !ok || p.State != PresenceOnline || p.StatusMsg == nil || *p.StatusMsg != "lunch" || !p.CurrentlyActive {
		t.Errorf("alice's presence in bob's sync = %+v (%v)", p, ok)
	}
	if _, ok := presenceOf(t, second, carol); ok {
		t.Error("bob sees carol's presence without sharing a room")
	}
	if again := h.syncWith(s, Request{User: bob, Since: second.NextBatch, SetPresence: PresenceOffline}); len(again.presenceEvents()) != 0 {
		t.Errorf("presence repeated in the next sync: %d events", len(again.presenceEvents()))
	}
	if p, ok := presenceOf(t, h.syncWith(s, Request{User: bob, SetPresence: PresenceOffline}), alice); !ok || p.State != PresenceOnline {
		t.Errorf("bob's initial sync: alice = %+v (%v)", p, ok)
	}

	// Idle for the idle timeout: unavailable; then offline.
	advance(time.Hour)
	s.presenceTimeout(alice)
	if got := s.GetPresence(alice); got.State != PresenceUnavailable || got.CurrentlyActive || got.LastActiveAgo != time.Hour.Milliseconds() {
		t.Errorf("after an idle hour alice = %+v, want unavailable, not active, last active an hour ago", got)
	}
	advance(time.Hour)
	s.presenceTimeout(alice)
	if got := s.GetPresence(alice); got.State != PresenceOffline {
		t.Errorf("after two hours alice = %+v, want offline", got)
	}
	third := h.syncWith(s, Request{User: bob, Since: second.NextBatch, SetPresence: PresenceOffline})
	if p, _ := presenceOf(t, third, alice); p.State != PresenceOffline {
		t.Errorf("bob's sync after alice timed out: %+v", p)
	}

	// A running sync keeps its user from going offline (idle, they go
	// unavailable).
	done := s.syncStarted(alice, "")
	if got := s.GetPresence(alice); got.State != PresenceOnline {
		t.Errorf("syncing alice = %+v, want online", got)
	}
	advance(3 * time.Hour)
	s.presenceTimeout(alice)
	if got := s.GetPresence(alice); got.State == PresenceOffline {
		t.Error("alice went offline while her sync was running")
	}
	done()
	advance(3 * time.Hour)
	s.presenceTimeout(alice)
	if got := s.GetPresence(alice); got.State != PresenceOffline {
		t.Errorf("alice after her sync ended and the timeout passed = %+v", got)
	}
	// set_presence=unavailable.
	h.syncWith(s, Request{User: alice, SetPresence: PresenceUnavailable})
	if got := s.GetPresence(alice); got.State != PresenceUnavailable {
		t.Errorf("after set_presence=unavailable alice = %+v", got)
	}

	// Sending from a device is activity: unavailable becomes online.
	h.sendTxn(roomID, alice, "PHONE", "t1", "back")
	h.syncWith(s, Request{User: bob, SetPresence: PresenceOffline}) // sync has applied the send
	if got := s.GetPresence(alice); got.State != PresenceOnline || got.LastActiveAgo != 0 || !got.CurrentlyActive {
		t.Errorf("after alice sent a message: %+v, want online and active now", got)
	}

	// Another server's users, as its m.presence EDUs say: only its own
	// users, never sent on, offline after the remote timeout.
	remote, foreign := id.UserID("@dan:other.test"), id.UserID("@eve:evil.test")
	s.RemotePresence(h.ctx, "other.test", json.RawMessage(`{"push":[
		{"user_id":"@dan:other.test","presence":"online","status_msg":"remote","last_active_ago":5000,"currently_active":true},
		{"user_id":"@eve:evil.test","presence":"online"}]}`))
	if got := s.GetPresence(remote); got.State != PresenceOnline || got.StatusMsg == nil || *got.StatusMsg != "remote" || got.LastActiveAgo != 5000 {
		t.Errorf("remote user's presence = %+v", got)
	}
	if got := s.GetPresence(foreign); got.State != PresenceOffline {
		t.Errorf("a user of another server than the EDU's origin was taken: %+v", got)
	}
	advance(remotePresenceTimeout)
	s.presenceTimeout(remote)
	if got := s.GetPresence(remote); got.State != PresenceOffline {
		t.Errorf("remote user after the remote timeout = %+v, want offline", got)
	}

	mu.Lock()
	defer mu.Unlock()
	var states []string
	for _, p := range hooked {
		if p.UserID == alice {
			states = append(states, p.State)
		}
		if p.UserID.Domain() != testServer {
			t.Errorf("another server's user %s reached the federation hook", p.UserID)
		}
	}
	want := []string{"online", "unavailable", "offline", "online", "unavailable", "offline", "unavailable", "online"}
	if len(states) != len(want) {
		t.Fatalf("hooked states of alice = %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Errorf("hooked states of alice = %v, want %v", states, want)
			break
		}
	}
}

func TestSyncPresenceOff(t *testing.T) { forEachBackend(t, testSyncPresenceOff) }

// testSyncPresenceOff: with presence off nothing is kept, GET answers
// offline and syncs carry no presence section.
func testSyncPresenceOff(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	first := h.initial(bob, nil)
	h.sync.SetPresence(alice, PresenceOnline, nil)
	if got := h.sync.GetPresence(alice); got.State != PresenceOffline {
		t.Errorf("presence off: alice = %+v, want offline", got)
	}
	next := h.next(bob, first.NextBatch, nil)
	if next.Presence != nil {
		t.Errorf("presence off: sync has a presence section %+v", next.Presence)
	}
}

// Users who come to share a room get each other's presence in their next
// sync, though it did not change: the one who joins gets the members',
// the members get the joiner's. A profile change (a join after a join)
// sends nothing.
func TestSyncPresenceOfNewRoomMates(t *testing.T) { forEachBackend(t, testSyncPresenceOfNewRoomMates) }

func testSyncPresenceOfNewRoomMates(t *testing.T) {
	h := newHarness(t, 0)
	s := New(Config{DB: h.db, Rooms: h.rooms, Logger: slog.New(slog.DiscardHandler), Stream: h.rooms.Stream(), Now: func() time.Time { return testNow },
		Presence: PresenceConfig{Enabled: true, IdleTimeout: time.Hour, OfflineTimeout: 2 * time.Hour}})
	if err := s.Start(h.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	roomID := h.createRoom(alice)
	h.createRoom(bob)
	s.SetPresence(alice, PresenceOnline, nil)
	s.SetPresence(bob, PresenceOnline, nil)
	aliceFirst := h.syncWith(s, Request{User: alice, SetPresence: PresenceOffline})
	bobFirst := h.syncWith(s, Request{User: bob, SetPresence: PresenceOffline})
	if _, ok := presenceOf(t, aliceFirst, bob); ok {
		t.Fatal("alice sees bob's presence before they share a room")
	}

	h.member(roomID, bob, bob, "join")
	aliceNext := h.syncWith(s, Request{User: alice, Since: aliceFirst.NextBatch, SetPresence: PresenceOffline})
	if p, ok := presenceOf(t, aliceNext, bob); !ok || p.State != PresenceOnline {
		t.Errorf("the member's sync after bob joined: bob's presence %+v (%v), want online", p, ok)
	}
	bobNext := h.syncWith(s, Request{User: bob, Since: bobFirst.NextBatch, SetPresence: PresenceOffline})
	if p, ok := presenceOf(t, bobNext, alice); !ok || p.State != PresenceOnline {
		t.Errorf("the joiner's sync: alice's presence %+v (%v), want online", p, ok)
	}

	if _, err := h.rooms.ChangeMembership(h.ctx, roomID, room.MembershipChange{Sender: bob, Target: bob, Membership: "join",
		Profile: map[string]string{"displayname": "Bobby"}}); err != nil {
		t.Fatal(err)
	}
	aliceLast := h.syncWith(s, Request{User: alice, Since: aliceNext.NextBatch, SetPresence: PresenceOffline})
	if _, ok := presenceOf(t, aliceLast, bob); ok {
		t.Error("a profile change sent bob's unchanged presence again")
	}

	// A lazy-loading client gets the member events of the timeline's
	// senders in state with every sync: they are no new room-mates, and
	// their unchanged presence is not sent again, nor, when the user
	// sent a message (their own member event then in state), everyone's.
	lazy := &Filter{Room: &RoomFilter{State: &RoomEventFilter{LazyLoadMembers: true}}}
	h.send(roomID, bob, "hi")
	h.send(roomID, alice, "hello")
	lazyNext := h.syncWith(s, Request{User: alice, Since: aliceLast.NextBatch, SetPresence: PresenceOffline, Filter: lazy})
	if jr := roomsOf(lazyNext).Join[string(roomID)]; jr == nil || !hasKey(jr.State.Events, "m.room.member", string(bob)) {
		t.Fatalf("the lazy-loading sync lacks bob's member event: %+v", lazyNext.Rooms)
	}
	if _, ok := presenceOf(t, lazyNext, bob); ok {
		t.Error("a lazy-loading sync sent bob's unchanged presence again")
	}
}
