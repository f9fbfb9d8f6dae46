package clientapi

import (
	"context"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
)

// TestReceiptsFollowHistoryVisibility checks receipts of a user who joined
// a room with history visibility "joined" in the middle of its history,
// left and came back: events from while the user was joined are readable,
// events from before the first join are not (404), and a user who left
// may post none (403). The answers are the same when asked again (the
// places of the events are cached).
func TestReceiptsFollowHistoryVisibility(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, _ := e.user("alice")
		bob, bt := e.user("bob")
		created := must[*mautrix.RespCreateRoom](t, "create room")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{
			Preset: "public_chat",
			InitialState: []*mevent.Event{{Type: mevent.StateHistoryVisibility, StateKey: ptr(""),
				Content: mevent.Content{Raw: map[string]any{"history_visibility": "joined"}}}},
		}))
		roomID := created.RoomID
		before := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, roomID, "before bob")).EventID
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, roomID))
		while := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, roomID, "while bob is here")).EventID
		receipt := func(ev string) string {
			return "/_matrix/client/v3/rooms/" + url.PathEscape(string(roomID)) + "/receipt/m.read/" + url.PathEscape(ev)
		}
		for range 2 {
			e.expect(e.do("POST", receipt(string(while)), bt, nil), http.StatusOK, "")
			e.expect(e.do("POST", receipt(string(before)), bt, nil), http.StatusNotFound, "M_NOT_FOUND")
		}
		must[*mautrix.RespLeaveRoom](t, "bob leaves")(bob.LeaveRoom(ctx, roomID))
		e.expect(e.do("POST", receipt(string(while)), bt, nil), http.StatusForbidden, "M_FORBIDDEN")
		must[*mautrix.RespJoinRoom](t, "bob joins again")(bob.JoinRoomByID(ctx, roomID))
		after := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, roomID, "bob is back")).EventID
		for range 2 {
			// Bob was joined at "while", though he joined again since.
			e.expect(e.do("POST", receipt(string(while)), bt, nil), http.StatusOK, "")
			e.expect(e.do("POST", receipt(string(after)), bt, nil), http.StatusOK, "")
			e.expect(e.do("POST", receipt(string(before)), bt, nil), http.StatusNotFound, "M_NOT_FOUND")
		}
	})
}

// countingEvents is an event store that counts its reads.
type countingEvents struct {
	events map[id.EventID]store.Event
	reads  atomic.Int64
}

func (c *countingEvents) Event(_ context.Context, eventID id.EventID) (store.Event, error) {
	c.reads.Add(1)
	e, ok := c.events[eventID]
	if !ok {
		return store.Event{}, store.ErrNotFound
	}
	return e, nil
}

// TestTimelinePlacesCacheTimelineEventsOnly checks that the place of a
// timeline event is read once, and that events outside the timeline
// (outliers, soft-failed, unknown) are read each time, never cached.
func TestTimelinePlacesCacheTimelineEventsOnly(t *testing.T) {
	db := &countingEvents{events: map[id.EventID]store.Event{
		"$timeline":   {EventRecord: store.EventRecord{RoomID: "!r:x", Depth: 3}, StreamPos: 7},
		"$outlier":    {EventRecord: store.EventRecord{RoomID: "!r:x", Outlier: true}},
		"$softfailed": {EventRecord: store.EventRecord{RoomID: "!r:x", SoftFailed: true}, StreamPos: 8},
	}}
	var p timelinePlaces
	ctx := context.Background()
	for range 3 {
		pl, ok, err := p.get(ctx, db, "$timeline")
		if err != nil || !ok || pl != (timelinePlace{room: "!r:x", pos: 7, depth: 3}) {
			t.Fatalf("place of $timeline = %+v, %v, %v", pl, ok, err)
		}
	}
	if n := db.reads.Load(); n != 1 {
		t.Errorf("%d reads for one timeline event, want 1", n)
	}
	for _, ev := range []id.EventID{"$outlier", "$softfailed", "$unknown"} {
		db.reads.Store(0)
		for range 2 {
			if _, ok, err := p.get(ctx, db, ev); ok || err != nil {
				t.Errorf("place of %s: ok %v, err %v; want neither", ev, ok, err)
			}
		}
		if n := db.reads.Load(); n != 2 {
			t.Errorf("%s read %d times for two lookups, want 2 (not cached)", ev, n)
		}
	}
}

// TestTimelinePlacesFromMemory checks that a place found in memory (sync's
// ring) is not read from the store, and that one not found there is.
func TestTimelinePlacesFromMemory(t *testing.T) {
	db := &countingEvents{events: map[id.EventID]store.Event{
		"$old": {EventRecord: store.EventRecord{RoomID: "!r:x", Depth: 2}, StreamPos: 5},
	}}
	raw := `{"type":"m.room.message","sender":"@a:x","room_id":"!r:x","content":{"body":"new"},"depth":4,"origin_server_ts":1,"prev_events":[],"auth_events":[]}`
	newPDU, err := event.ParseTrusted([]byte(raw), roomversion.Default, "$new")
	if err != nil {
		t.Fatal(err)
	}
	p := timelinePlaces{recent: func(ev id.EventID) (*event.PDU, int64, bool) {
		if ev == "$new" {
			return newPDU, 9, true
		}
		return nil, 0, false
	}}
	ctx := context.Background()
	pl, ok, err := p.get(ctx, db, "$new")
	if err != nil || !ok || pl != (timelinePlace{room: "!r:x", pos: 9, depth: 4}) {
		t.Fatalf("place of $new = %+v, %v, %v", pl, ok, err)
	}
	if n := db.reads.Load(); n != 0 {
		t.Errorf("%d store reads for an event in memory, want 0", n)
	}
	if pl, ok, err := p.get(ctx, db, "$old"); err != nil || !ok || pl.pos != 5 {
		t.Fatalf("place of $old = %+v, %v, %v", pl, ok, err)
	}
	if n := db.reads.Load(); n != 1 {
		t.Errorf("%d store reads for an event not in memory, want 1", n)
	}
}
