package room

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pducheck"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
)

// TestImportHistory: events another server had and this one lacks enter
// as history: each with the state before it (a topic among them is in the
// state of the events after it), rejected where the auth rules say so,
// with negative stream positions, in topological order by depth; the
// room's head (extremities, current state) and the event stream do not
// move. An event whose prev events are unknown gets the state StateBefore
// gives, or is left out without it.
func TestImportHistory(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		v := roomversion.V12
		a := newRemote(t, "a.test")
		s, db, _ := newServiceWith(t, dsn, Config{RemoteKeys: keysOf(a)})
		alice, bob, carol := id.UserID("@alice:hafen.test"), id.UserID("@bob:a.test"), id.UserID("@carol:a.test")
		roomID, err := s.CreateRoom(ctx, &CreateRequest{
			Creator: alice, Version: v, Preset: PresetPublicChat,
			PowerLevelContentOverride: map[string]json.RawMessage{"events": json.RawMessage(`{"m.room.topic":0}`)},
		})
		if err != nil {
			t.Fatal(err)
		}
		st, ext := head(t, s, roomID)
		join := a.event(t, v, roomID, "m.room.member", str(string(bob)), bob, `{"membership":"join"}`, ext, st)
		mustAccept(t, s, a, join)
		st, ext = head(t, s, roomID)
		published := s.Stream().Position()

		// Bob's history on a branch this server never saw.
		h1 := a.event(t, v, roomID, "m.room.message", nil, bob, `{"msgtype":"m.text","body":"h1"}`, []*event.PDU{join}, st)
		topic := a.event(t, v, roomID, "m.room.topic", str(""), bob, `{"topic":"old topic"}`, []*event.PDU{h1}, st)
		h3 := a.event(t, v, roomID, "m.room.message", nil, bob, `{"msgtype":"m.text","body":"h3"}`, []*event.PDU{topic}, withKey(st, topic))
		// Carol never joined: rejected against the state before it.
		stranger := a.event(t, v, roomID, "m.room.message", nil, carol, `{"msgtype":"m.text","body":"who"}`, []*event.PDU{h1}, st)
		// An event after one this server does not have.
		unseen := a.event(t, v, roomID, "m.room.message", nil, bob, `{"msgtype":"m.text","body":"unseen"}`, []*event.PDU{join}, st)
		after := a.event(t, v, roomID, "m.room.message", nil, bob, `{"msgtype":"m.text","body":"after unseen"}`, []*event.PDU{unseen}, st)

		n, err := s.ImportHistory(ctx, History{RoomID: roomID, Events: []*event.PDU{h3, stranger, topic, h1, after}})
		if err != nil || n != 3 {
			t.Fatalf("ImportHistory = %d, %v; want 3 events in the timeline", n, err)
		}
		byID := map[id.EventID]store.Event{}
		evs, err := db.EventsByID(ctx, []id.EventID{h1.EventID(), topic.EventID(), h3.EventID(), stranger.EventID(), after.EventID()})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			byID[e.EventID] = e
		}
		for _, e := range []*event.PDU{h1, topic, h3} {
			if se := byID[e.EventID()]; se.StreamPos >= 0 || se.Rejected || se.Outlier {
				t.Errorf("%s stored as %+v, want history with a negative position", e.EventID(), se)
			}
		}
		if se, ok := byID[stranger.EventID()]; !ok || !se.Rejected || se.StreamPos != 0 {
			t.Errorf("the stranger's event stored as %+v (%v), want rejected", se, ok)
		}
		if _, ok := byID[after.EventID()]; ok {
			t.Errorf("an event after an unknown one was stored without a state")
		}
		// The topic is in the state before h3, not in the current state.
		group, err := db.StateGroupBeforeEvent(ctx, byID[h3.EventID()].NID)
		if err != nil {
			t.Fatal(err)
		}
		before, err := db.StateAtGroup(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		if before[store.StateKey{Type: "m.room.topic"}] != byID[topic.EventID()].NID {
			t.Errorf("state before h3 lacks the backfilled topic")
		}
		cur, ext2 := head(t, s, roomID)
		if !equalIDMaps(eventIDs(cur), eventIDs(st)) || !sameIDs(ids(ext2), ids(ext)) {
			t.Errorf("history moved the head: extremities %v", ids(ext2))
		}
		if s.Stream().Position() != published {
			t.Errorf("history was published to the event stream")
		}
		// In the room's history, in order, between the join and nothing.
		topo, err := db.RoomEventsTopo(ctx, roomID, store.TopoPos{}, store.MaxTopoPos, store.Forward, 100)
		if err != nil {
			t.Fatal(err)
		}
		var order []id.EventID
		for _, e := range topo {
			order = append(order, e.EventID)
		}
		want := []id.EventID{join.EventID(), h1.EventID(), topic.EventID(), h3.EventID()}
		if got := order[len(order)-4:]; !slices.Equal(got, want) {
			t.Errorf("topological order ends %v, want %v", got, want)
		}

		// With the state before it given, the event after the unknown one
		// enters too; importing again changes nothing.
		stIDs := eventIDs(st)
		n, err = s.ImportHistory(ctx, History{RoomID: roomID, Events: []*event.PDU{h1, after},
			StateBefore: func(_ context.Context, e *event.PDU) (StateIDs, error) {
				if e.EventID() != after.EventID() {
					return nil, errors.New("asked for the wrong event")
				}
				return maps.Clone(stIDs), nil
			}})
		if err != nil || n != 1 {
			t.Fatalf("ImportHistory with StateBefore = %d, %v; want 1", n, err)
		}
	})
}

// TestProcessRemoteWithStates: an event after prev events this server
// does not have is refused, and accepted on a fork once the state after
// them is given; the missing events stay unknown.
func TestProcessRemoteWithStates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		v := roomversion.V12
		a := newRemote(t, "a.test")
		s, db, _ := newServiceWith(t, dsn, Config{RemoteKeys: keysOf(a)})
		alice, bob := id.UserID("@alice:hafen.test"), id.UserID("@bob:a.test")
		roomID, err := s.CreateRoom(ctx, &CreateRequest{
			Creator: alice, Version: v, Preset: PresetPublicChat,
			PowerLevelContentOverride: map[string]json.RawMessage{"events": json.RawMessage(`{"m.room.topic":0}`)},
		})
		if err != nil {
			t.Fatal(err)
		}
		st, ext := head(t, s, roomID)
		join := a.event(t, v, roomID, "m.room.member", str(string(bob)), bob, `{"membership":"join"}`, ext, st)
		mustAccept(t, s, a, join)
		st, _ = head(t, s, roomID)
		local, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text("local")})
		if err != nil {
			t.Fatal(err)
		}
		// On a, after bob's join: a topic and a message this server never
		// gets, then the message it does.
		topic := a.event(t, v, roomID, "m.room.topic", str(""), bob, `{"topic":"from the gap"}`, []*event.PDU{join}, st)
		gapMsg := a.event(t, v, roomID, "m.room.message", nil, bob, `{"msgtype":"m.text","body":"in the gap"}`, []*event.PDU{topic}, withKey(st, topic))
		latest := a.event(t, v, roomID, "m.room.message", nil, bob, `{"msgtype":"m.text","body":"latest"}`, []*event.PDU{gapMsg}, withKey(st, topic))

		if r := process(t, s, a, latest); !errors.Is(r.Err, ErrMissingPrevEvents) {
			t.Fatalf("event after a gap = %v %v, want ErrMissingPrevEvents", r.Verdict, r.Err)
		}
		// The state after the missing message, as its server reports it,
		// its events stored as outliers.
		if err := s.StoreOutliers(ctx, roomID, []*event.PDU{topic}); err != nil {
			t.Fatal(err)
		}
		after := eventIDs(withKey(st, topic))
		res := s.ProcessRemoteWithStates(ctx, a.name, []json.RawMessage{latest.JSON()}, map[id.EventID]StateIDs{gapMsg.EventID(): after})
		if len(res) != 1 || res[0].Verdict != pducheck.Accept || res[0].Err != nil {
			t.Fatalf("event after a gap with its state = %+v, want accept", res)
		}
		cur, ext := head(t, s, roomID)
		if !sameIDs(ids(ext), []id.EventID{local.EventID(), latest.EventID()}) {
			t.Errorf("extremities = %v, want the local message and the event after the gap", ids(ext))
		}
		if tp := cur[event.StateKey{Type: "m.room.topic"}]; tp == nil || tp.EventID() != topic.EventID() {
			t.Errorf("current topic = %v, want the one from the gap", tp)
		}
		if evs, _ := db.EventsByID(ctx, []id.EventID{gapMsg.EventID()}); len(evs) != 0 {
			t.Errorf("the missing event was stored: %+v", evs)
		}
	})
}
