package clientsync

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
)

// memberEventOf returns the ID of user's member event among a sync's
// timeline and state events of a room.
func memberEventOf(t *testing.T, jr *JoinedRoom, user id.UserID) id.EventID {
	t.Helper()
	for _, evs := range [][]clientevent.Event{jr.State.Events, jr.Timeline.Events} {
		for _, ev := range evs {
			if ev.Type == "m.room.member" && deref(ev.StateKey) == string(user) {
				return id.EventID(ev.EventID)
			}
		}
	}
	t.Fatalf("no member event of %s", user)
	return ""
}

// timelineByID indexes a timeline by event ID.
func timelineByID(t *testing.T, resp *Response, roomID id.RoomID) map[id.EventID]clientevent.Event {
	t.Helper()
	jr := roomsOf(resp).Join[string(roomID)]
	if jr == nil {
		t.Fatalf("room %s not in the answer", roomID)
	}
	out := map[id.EventID]clientevent.Event{}
	for _, ev := range jr.Timeline.Events {
		out[id.EventID(ev.EventID)] = ev
	}
	return out
}

// Spec: Client-Server API § ClientEvent: unsigned.prev_content and
// replaces_state. Clients tell a profile change from a join by the
// previous content of the member event, so /sync gives it, from the ring
// and from the store alike.
func TestSyncPrevContent(t *testing.T) { forEachBackend(t, testSyncPrevContent) }

func testSyncPrevContent(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	join := memberEventOf(t, roomsOf(h.initial(alice, nil)).Join[string(roomID)], alice)
	since := h.pos()
	firstName := h.state(roomID, alice, "m.room.name", "", `{"name":"Old"}`)
	rename := h.state(roomID, alice, "m.room.member", string(alice), `{"membership":"join","displayname":"Alice Two"}`)
	secondName := h.state(roomID, alice, "m.room.name", "", `{"name":"New"}`)
	msg := h.send(roomID, alice, "hello")

	check := func(name string, tl map[id.EventID]clientevent.Event) {
		t.Helper()
		for _, eventID := range []id.EventID{firstName, msg} {
			if u := tl[eventID].Unsigned; u != nil && (u.PrevContent != nil || u.ReplacesState != "" || u.PrevSender != "") {
				t.Errorf("%s: %s, which replaced nothing, has unsigned %+v", name, eventID, u)
			}
		}
		want := []struct {
			eventID, replaces id.EventID
			prev              string
		}{
			{rename, join, `"membership":"join"`},
			{secondName, firstName, `{"name":"Old"}`},
		}
		for _, w := range want {
			ev, ok := tl[w.eventID]
			if !ok {
				t.Errorf("%s: %s not in the timeline", name, w.eventID)
				continue
			}
			u := ev.Unsigned
			if u == nil || u.ReplacesState != string(w.replaces) || u.PrevSender != string(alice) || !json.Valid(u.PrevContent) ||
				!strings.Contains(string(u.PrevContent), w.prev) {
				t.Errorf("%s: %s has unsigned %+v; want replaces_state %s, prev_sender %s and prev_content with %s",
					name, w.eventID, u, w.replaces, alice, w.prev)
			}
		}
	}
	// Sync's consumer looked the replaced events up once; a sync from the
	// ring reads none of them.
	h.pos()
	reads := h.calls.replacedReads.Load()
	check("incremental sync from the ring", timelineByID(t, h.next(alice, since, nil), roomID))
	if n := h.calls.replacedReads.Load() - reads; n != 0 {
		t.Errorf("a sync from the ring read replaced state events %d times, want none", n)
	}
	check("initial sync", timelineByID(t, h.initial(alice, nil), roomID))
	// A second sync whose ring starts now answers from the store.
	fromStore := h.addSync(0)
	check("incremental sync from the store", timelineByID(t, h.syncWith(fromStore, Request{User: alice, Device: "DEV", Since: since}), roomID))
}

// A redacted state event shows redacted in the prev_content of the event
// that replaced it, whether the redaction is in the same window or came
// before the answer is read from the store.
func TestSyncPrevContentRedacted(t *testing.T) { forEachBackend(t, testSyncPrevContentRedacted) }

func testSyncPrevContentRedacted(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	since := h.pos()
	secret := h.state(roomID, alice, "m.room.topic", "", `{"topic":"secret"}`)
	topic := h.state(roomID, alice, "m.room.topic", "", `{"topic":"public"}`)
	if _, _, err := h.rooms.Send(h.ctx, roomID, room.Proposal{Type: "m.room.redaction", Sender: alice,
		Content: json.RawMessage(fmt.Sprintf(`{"redacts":%q}`, secret))}); err != nil {
		t.Fatal(err)
	}
	check := func(name string, tl map[id.EventID]clientevent.Event) {
		t.Helper()
		u := tl[topic].Unsigned
		if u == nil || u.ReplacesState != string(secret) || string(u.PrevContent) != "{}" {
			t.Errorf("%s: unsigned of the replacing topic = %+v, want replaces_state %s and prev_content {}", name, u, secret)
		}
	}
	check("incremental sync from the ring", timelineByID(t, h.next(alice, since, nil), roomID))
	fromStore := h.addSync(0)
	check("incremental sync from the store", timelineByID(t, h.syncWith(fromStore, Request{User: alice, Device: "DEV", Since: since}), roomID))
}

// An initial sync looks up what the timeline state events of all the
// user's rooms replaced at once, not once per room.
func TestSyncPrevContentAcrossRooms(t *testing.T) { forEachBackend(t, testSyncPrevContentAcrossRooms) }

func testSyncPrevContentAcrossRooms(t *testing.T) {
	h := newHarness(t, 0)
	type renamed struct {
		roomID        id.RoomID
		first, rename id.EventID
	}
	var rooms []renamed
	for i := range 3 {
		roomID := h.createRoom(alice)
		first := h.state(roomID, alice, "m.room.name", "", fmt.Sprintf(`{"name":"Old %d"}`, i))
		rename := h.state(roomID, alice, "m.room.name", "", fmt.Sprintf(`{"name":"New %d"}`, i))
		rooms = append(rooms, renamed{roomID, first, rename})
	}
	h.pos()
	reads := h.calls.replacedReads.Load()
	resp := h.initial(alice, nil)
	if n := h.calls.replacedReads.Load() - reads; n != 1 {
		t.Errorf("an initial sync of 3 rooms read replaced state events %d times, want once", n)
	}
	for i, r := range rooms {
		u := timelineByID(t, resp, r.roomID)[r.rename].Unsigned
		want := fmt.Sprintf(`{"name":"Old %d"}`, i)
		if u == nil || u.ReplacesState != string(r.first) || string(u.PrevContent) != want {
			t.Errorf("room %d: unsigned of the rename = %+v, want replaces_state %s and prev_content %s", i, u, r.first, want)
		}
	}
}
