package clientsync

import (
	"encoding/json"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
)

// sendContent sends an event with the given content.
func (h *harness) sendContent(roomID id.RoomID, sender id.UserID, typ, content string) {
	h.t.Helper()
	if _, _, err := h.rooms.Send(h.ctx, roomID, room.Proposal{Type: typ, Sender: sender, Content: json.RawMessage(content)}); err != nil {
		h.t.Fatalf("send %s: %v", typ, err)
	}
}

func unreadOf(t *testing.T, r *Response, roomID id.RoomID) *UnreadNotifications {
	t.Helper()
	jr := roomsOf(r).Join[string(roomID)]
	if jr == nil {
		t.Fatalf("room %s missing from join", roomID)
	}
	return jr.UnreadNotifications
}

func wantUnread(t *testing.T, what string, got *UnreadNotifications, notify, highlight int) {
	t.Helper()
	if got == nil || got.NotificationCount != notify || got.HighlightCount != highlight {
		t.Errorf("%s: unread_notifications = %+v, want notification_count %d, highlight_count %d", what, got, notify, highlight)
	}
}

func TestUnreadNotifications(t *testing.T) { forEachBackend(t, testUnreadNotifications) }

func testUnreadNotifications(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.member(roomID, carol, carol, "join")
	if _, err := h.rooms.ChangeMembership(h.ctx, roomID, room.MembershipChange{Sender: bob, Target: bob, Membership: "join",
		Profile: map[string]string{"displayname": "Bobby"}}); err != nil {
		t.Fatal(err)
	}
	first := h.initial(bob, nil)
	wantUnread(t, "initial sync after joining", unreadOf(t, first, roomID), 0, 0)

	h.send(roomID, alice, "hello")
	h.sendContent(roomID, alice, "m.room.message", `{"msgtype":"m.text","body":"hey","m.mentions":{"user_ids":["@bob:hafen.test"]}}`)
	h.sendContent(roomID, carol, "m.room.message", `{"msgtype":"m.text","body":"everyone","m.mentions":{"room":true}}`)
	h.sendContent(roomID, alice, "m.room.message", `{"msgtype":"m.text","body":"everyone","m.mentions":{"room":true}}`)
	h.send(roomID, carol, "ping Bobby")
	h.sendContent(roomID, alice, "m.room.message", `{"msgtype":"m.notice","body":"bot says bob"}`)
	h.state(roomID, alice, "m.room.topic", "", `{"topic":"t"}`)
	// hello, the mention, both @room (only alice, a v12 creator, may
	// notify the room), the display name (a plain message: the legacy
	// display name rule left the spec in v1.17): 5 notifications, 2
	// highlights.
	second := h.next(bob, first.NextBatch, nil)
	wantUnread(t, "incremental sync", unreadOf(t, second, roomID), 5, 2)

	// A fresh Service sets the counts up from the store and agrees.
	other := h.addSync(0)
	wantUnread(t, "initial sync of a new Service", unreadOf(t, h.syncWith(other, Request{User: bob, Device: "DEV"}), roomID), 5, 2)

	// Events that do not notify leave the counts out.
	h.sendContent(roomID, alice, "m.room.message", `{"msgtype":"m.notice","body":"quiet"}`)
	third := h.next(bob, second.NextBatch, nil)
	if got := unreadOf(t, third, roomID); got != nil {
		t.Errorf("unread_notifications after a notice = %+v, want none (unchanged)", got)
	}

	// NOTSPEC: without receipts, the user's own event reads the room.
	h.send(roomID, bob, "read it")
	fourth := h.next(bob, third.NextBatch, nil)
	wantUnread(t, "after the user's own message", unreadOf(t, fourth, roomID), 0, 0)
	h.send(roomID, carol, "one more")
	fifth := h.next(bob, fourth.NextBatch, nil)
	wantUnread(t, "after one more message", unreadOf(t, fifth, roomID), 1, 0)
	wantUnread(t, "initial sync", unreadOf(t, h.initial(bob, nil), roomID), 1, 0)
	wantUnread(t, "the new Service's incremental sync", unreadOf(t, h.syncWith(other, Request{User: bob, Device: "DEV", Since: fourth.NextBatch}), roomID), 1, 0)

	// Counts are per user: alice's run from her last event, the notice.
	wantUnread(t, "alice", unreadOf(t, h.initial(alice, nil), roomID), 2, 0)
	wantUnread(t, "carol", unreadOf(t, h.initial(carol, nil), roomID), 0, 0)
}

func TestUnreadNotificationsSetUpInIncrementalSync(t *testing.T) {
	forEachBackend(t, testUnreadNotificationsSetUpInIncrementalSync)
}

func testUnreadNotificationsSetUpInIncrementalSync(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	h.send(roomID, alice, "before")
	since := h.pos()
	h.send(roomID, alice, "after")
	// No initial sync on this Service: the counts are set up on first use
	// and sent, since the client has not seen them from it.
	wantUnread(t, "first incremental sync", unreadOf(t, h.next(bob, since, nil), roomID), 2, 0)
}

func TestUnreadNotificationsFullState(t *testing.T) {
	forEachBackend(t, testUnreadNotificationsFullState)
}

func testUnreadNotificationsFullState(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	first := h.initial(bob, nil)
	h.send(roomID, alice, "x")
	second := h.next(bob, first.NextBatch, nil)
	h.sendContent(roomID, alice, "m.reaction", `{"m.relates_to":{"rel_type":"m.annotation","event_id":"$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","key":"+1"}}`)
	resp := h.syncWith(h.sync, Request{User: bob, Device: "DEV", Since: second.NextBatch, FullState: true})
	wantUnread(t, "full_state sync", unreadOf(t, resp, roomID), 1, 0)
}

// The events of a user one ignores do not count as unread, in memory or
// set up from the store: the client never sees them. Spec: Client-Server
// API § Ignoring Users.
func TestUnreadNotificationsLeaveIgnoredUsersOut(t *testing.T) {
	forEachBackend(t, testUnreadNotificationsLeaveIgnoredUsersOut)
}

func testUnreadNotificationsLeaveIgnoredUsersOut(t *testing.T) {
	h := newHarness(t, 0)
	ad := h.accountData()
	roomID := h.createRoom(alice)
	h.member(roomID, carol, carol, "join")
	h.member(roomID, bob, bob, "join")
	first := h.initial(bob, nil)
	ignore := func(content string) {
		t.Helper()
		if err := ad.Set(h.ctx, bob, "", "m.ignored_user_list", json.RawMessage(content)); err != nil {
			t.Fatal(err)
		}
	}
	ignore(`{"ignored_users":{"@carol:hafen.test":{}}}`)
	h.sendContent(roomID, carol, "m.room.message", `{"msgtype":"m.text","body":"hey","m.mentions":{"user_ids":["@bob:hafen.test"]}}`)
	h.send(roomID, alice, "hello")
	second := h.next(bob, first.NextBatch, nil)
	wantUnread(t, "counted in memory", unreadOf(t, second, roomID), 1, 0)
	wantUnread(t, "set up from the store", unreadOf(t, h.syncWith(h.addSync(0), Request{User: bob, Device: "DEV"}), roomID), 1, 0)

	ignore(`{"ignored_users":{}}`)
	h.send(roomID, carol, "no longer ignored")
	wantUnread(t, "after the ignore list emptied", unreadOf(t, h.next(bob, second.NextBatch, nil), roomID), 2, 0)
}
