package clientapi

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"

	"maunium.net/go/mautrix"
	mevent "maunium.net/go/mautrix/event"
	mid "maunium.net/go/mautrix/id"

	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/store"
)

// backfillRoom is a room with live messages m0…m9 and then, stored later
// as a backfill would, events b0…b4 with the depths of m0…m4: history that
// arrives after newer events, with higher stream positions.
type backfillRoom struct {
	roomID id.RoomID
	alice  *mautrix.Client
	// names maps the event IDs of the messages and backfilled events to
	// "m0"… and "b0"…; the room's own events have no name.
	names map[mid.EventID]string
	ids   map[string]mid.EventID
	// beforeBackfill is the stream token of the last live message, taken
	// before the backfill (as a sync's next_batch); atM4 that of m4.
	beforeBackfill, atM4 string
}

func newBackfillRoom(t *testing.T, e *roomEnv) *backfillRoom {
	t.Helper()
	ctx := context.Background()
	alice, _ := e.user("alice")
	created := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{}))
	br := &backfillRoom{roomID: id.RoomID(created.RoomID), alice: alice, names: map[mid.EventID]string{}, ids: map[string]mid.EventID{}}
	var live []store.Event
	for i := range 10 {
		sent := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, created.RoomID, fmt.Sprintf("m%d", i)))
		br.name(fmt.Sprintf("m%d", i), sent.EventID)
		ev, err := e.db.Event(ctx, id.EventID(sent.EventID))
		if err != nil {
			t.Fatal(err)
		}
		live = append(live, ev)
	}
	br.atM4 = clientsync.Token(live[4].StreamPos)
	br.beforeBackfill = clientsync.Token(live[9].StreamPos)

	for i, m := range live[:5] {
		br.name(fmt.Sprintf("b%d", i), storeBackfilled(t, e, m, fmt.Sprintf("b%d", i)))
	}
	return br
}

// chunkNames returns the names of a /messages chunk's events.
func (br *backfillRoom) chunkNames(evs []*mevent.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = br.names[ev.ID]
	}
	return out
}

// storeBackfilled stores, as a backfill would, a message with the depth,
// prev_events, auth_events and state of the stored event like, and returns
// its ID. It arrives now, so its stream position is the newest.
func storeBackfilled(t *testing.T, e *roomEnv, like store.Event, body string) mid.EventID {
	t.Helper()
	ctx := context.Background()
	vid, err := e.srv.Rooms.Service.Version(ctx, like.RoomID)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := roomversion.Lookup(roomversion.ID(vid))
	key, err := signing.GenerateKey(rand.Reader, "hafen.test", "ed25519:backfill")
	if err != nil {
		t.Fatal(err)
	}
	pdu, err := event.ParseTrusted(like.JSON, v, like.EventID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := event.Build(event.Proto{
		Type: "m.room.message", Sender: like.Sender, RoomID: like.RoomID,
		Content:    []byte(fmt.Sprintf(`{"msgtype":"m.text","body":%q}`, body)),
		PrevEvents: pdu.PrevEvents(), AuthEvents: pdu.AuthEvents(),
		Depth: like.Depth, OriginServerTS: like.OriginServerTS,
	}, v, key)
	if err != nil {
		t.Fatal(err)
	}
	group, err := e.db.StateGroupBeforeEvent(ctx, like.NID)
	if err != nil {
		t.Fatal(err)
	}
	err = e.db.Write(ctx, func(tx *store.Tx) error {
		nid, _, err := tx.InsertEvent(ctx, store.EventRecord{
			EventID: b.EventID(), RoomID: b.RoomID(), Type: b.Type(), Sender: b.Sender(),
			Depth: b.Depth(), OriginServerTS: b.OriginServerTS(), JSON: b.JSON(),
		})
		if err != nil {
			return err
		}
		return tx.SetEventState(ctx, nid, group)
	})
	if err != nil {
		t.Fatalf("store backfilled event: %v", err)
	}
	return mid.EventID(b.EventID())
}

func (br *backfillRoom) name(n string, eventID mid.EventID) {
	br.names[eventID] = n
	br.ids[n] = eventID
}

// history is the room's history newest first, in the names of its
// messages and backfilled events: each bi follows mi, whose depth it has.
var backfillHistory = []string{"m9", "m8", "m7", "m6", "m5", "b4", "m4", "b3", "m3", "b2", "m2", "b1", "m1", "b0", "m0"}

// roomEventsBeforeMessages is the number of events createRoom sends (create,
// member, power levels, join rules, history visibility, guest access).
const roomEventsBeforeMessages = 6

// walk pages /messages from from in direction dir, limit events a page,
// until no end is returned, and returns the names of the events in the
// order returned ("" for the room's own events). It fails if an event is
// returned twice.
func (br *backfillRoom) walk(t *testing.T, from string, dir mautrix.Direction, limit int) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	seen := map[mid.EventID]bool{}
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("pagination does not end")
		}
		p := must[*mautrix.RespMessages](t, "messages")(br.alice.Messages(ctx, mid.RoomID(br.roomID), from, "", dir, nil, limit))
		if len(p.Chunk) > limit {
			t.Fatalf("page of %d events, limit %d", len(p.Chunk), limit)
		}
		for _, ev := range p.Chunk {
			if seen[ev.ID] {
				t.Fatalf("event %s (%q) returned twice walking from %q, dir %c, limit %d", ev.ID, br.names[ev.ID], from, dir, limit)
			}
			seen[ev.ID] = true
			out = append(out, br.names[ev.ID])
		}
		if p.End == "" {
			return out
		}
		if p.End[0] != 't' {
			t.Fatalf("end = %q, want a topological token", p.End)
		}
		from = p.End
	}
}

// wantHistory checks a walk against the room's history in topological
// order, newest first for a backward walk: the messages and backfilled
// events interleaved by depth, then (or, forwards, first) the room's own
// events.
func wantHistory(t *testing.T, what string, got []string, dir mautrix.Direction) {
	t.Helper()
	want := slices.Clone(backfillHistory)
	for range roomEventsBeforeMessages {
		want = append(want, "")
	}
	if dir == mautrix.DirectionForward {
		slices.Reverse(want)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q,\nwant %q", what, got, want)
	}
}

// TestMessagesTopologicalOrderWithBackfill: events stored after newer ones
// with older depths page in their place in history, in both directions and
// in pages of every size, with no event repeated or skipped, from /messages'
// own tokens and from sync's stream tokens.
func TestMessagesTopologicalOrderWithBackfill(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		br := newBackfillRoom(t, e)
		for _, limit := range []int{1, 2, 3, 7, 100} {
			wantHistory(t, fmt.Sprintf("backwards from the end, pages of %d", limit), br.walk(t, "", mautrix.DirectionBackward, limit), mautrix.DirectionBackward)
			wantHistory(t, fmt.Sprintf("forwards from the start, pages of %d", limit), br.walk(t, "", mautrix.DirectionForward, limit), mautrix.DirectionForward)
		}
		// A sync token from before the backfill: the backfilled events are
		// older history, so paging back from it reaches them.
		wantHistory(t, "backwards from a stream token from before the backfill",
			br.walk(t, br.beforeBackfill, mautrix.DirectionBackward, 4), mautrix.DirectionBackward)
		// Forwards from the stream token of m4: what follows m4 in
		// history, b4 included although it arrived after m9.
		fwd := br.walk(t, br.atM4, mautrix.DirectionForward, 3)
		if want := []string{"b4", "m5", "m6", "m7", "m8", "m9"}; !slices.Equal(fwd, want) {
			t.Errorf("forwards from the stream token of m4 = %q, want %q", fwd, want)
		}
		// to bounds the walk, in either form: a stream token stands for the
		// same point as in from.
		ctx := context.Background()
		toM4 := must[*mautrix.RespMessages](t, "messages to m4")(br.alice.Messages(ctx, mid.RoomID(br.roomID), "", br.atM4, mautrix.DirectionBackward, nil, 100))
		if got, want := br.chunkNames(toM4.Chunk), []string{"m9", "m8", "m7", "m6", "m5", "b4"}; !slices.Equal(got, want) {
			t.Errorf("backwards from the end to the stream token of m4 = %q, want %q", got, want)
		}
		// The end token of a page of three, from the start.
		first := must[*mautrix.RespMessages](t, "messages")(br.alice.Messages(ctx, mid.RoomID(br.roomID), "", "", mautrix.DirectionForward, nil, roomEventsBeforeMessages+3))
		toTopo := must[*mautrix.RespMessages](t, "messages to a topological token")(br.alice.Messages(ctx, mid.RoomID(br.roomID), br.atM4, first.End, mautrix.DirectionBackward, nil, 100))
		if got, want := br.chunkNames(toTopo.Chunk), []string{"m4", "b3", "m3", "b2", "m2", "b1"}; !slices.Equal(got, want) {
			t.Errorf("backwards from the stream token of m4 to the end of the first page (after m1) = %q, want %q", got, want)
		}
		// Backwards from the stream token of m4: m4 and what precedes it.
		back := br.walk(t, br.atM4, mautrix.DirectionBackward, 3)
		if want := append([]string{"m4", "b3", "m3", "b2", "m2", "b1", "m1", "b0", "m0"}, make([]string, roomEventsBeforeMessages)...); !slices.Equal(back, want) {
			t.Errorf("backwards from the stream token of m4 = %q, want %q", back, want)
		}
	})
}

// TestContextTopologicalOrderWithBackfill: /context of a backfilled event
// shows its neighbours in history, and its tokens page on from there.
func TestContextTopologicalOrderWithBackfill(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		br := newBackfillRoom(t, e)
		ctx := context.Background()
		c := must[*mautrix.RespContext](t, "context")(br.alice.Context(ctx, mid.RoomID(br.roomID), br.ids["b2"], nil, 4))
		if got, want := br.chunkNames(c.EventsBefore), []string{"m2", "b1"}; !slices.Equal(got, want) {
			t.Errorf("events_before = %q, want %q", got, want)
		}
		if got, want := br.chunkNames(c.EventsAfter), []string{"m3", "b3"}; !slices.Equal(got, want) {
			t.Errorf("events_after = %q, want %q", got, want)
		}
		if c.Start[0] != 't' || c.End[0] != 't' {
			t.Errorf("start, end = %q, %q; want topological tokens", c.Start, c.End)
		}
		if got, want := br.walk(t, c.End, mautrix.DirectionForward, 2), []string{"m4", "b4", "m5", "m6", "m7", "m8", "m9"}; !slices.Equal(got, want) {
			t.Errorf("forwards from the context's end = %q, want %q", got, want)
		}
		if got, want := br.walk(t, c.Start, mautrix.DirectionBackward, 2), append([]string{"m1", "b0", "m0"}, make([]string, roomEventsBeforeMessages)...); !slices.Equal(got, want) {
			t.Errorf("backwards from the context's start = %q, want %q", got, want)
		}
	})
}

// TestBackfilledHistoryBeforeJoinStaysHidden: in a room whose history is
// visible to members only from their join, history from before a user's
// join that arrives after it (a backfill) is judged by the state before it,
// not taken as seen while joined because of its newer stream position.
func TestBackfilledHistoryBeforeJoinStaysHidden(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, _ := e.user("alice")
		bob, _ := e.user("bob")
		r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}))
		must[*mautrix.RespSendEvent](t, "visibility")(alice.SendStateEvent(ctx, r.RoomID, mevent.StateHistoryVisibility, "",
			map[string]any{"history_visibility": "joined"}))
		before := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, r.RoomID, "before bob"))
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, r.RoomID))
		after := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, r.RoomID, "after bob"))
		like, err := e.db.Event(ctx, id.EventID(before.EventID))
		if err != nil {
			t.Fatal(err)
		}
		backfilled := []mid.EventID{storeBackfilled(t, e, like, "old 1"), storeBackfilled(t, e, like, "old 2")}

		for _, b := range backfilled {
			_, err := bob.GetEvent(ctx, r.RoomID, b)
			wantErr(t, "bob reads history from before his join", err, 404, "M_NOT_FOUND")
			if _, err := alice.GetEvent(ctx, r.RoomID, b); err != nil {
				t.Errorf("alice, joined all along, reads %s: %v", b, err)
			}
		}
		// Pages of one event read the two backfilled events alone in one
		// batch, which lies entirely after bob's join in the stream.
		seen := map[mid.EventID]bool{}
		from := ""
		for range 50 {
			p := must[*mautrix.RespMessages](t, "messages")(bob.Messages(ctx, r.RoomID, from, "", mautrix.DirectionBackward, nil, 1))
			for _, ev := range p.Chunk {
				seen[ev.ID] = true
			}
			if p.End == "" {
				break
			}
			from = p.End
		}
		if !seen[after.EventID] {
			t.Errorf("bob's /messages misses the message sent after his join")
		}
		for _, hidden := range append(backfilled, before.EventID) {
			if seen[hidden] {
				t.Errorf("bob's /messages returns %s, from before his join", hidden)
			}
		}
	})
}

// TestMembersAtStreamTokenAfterBackfill: /members at a stream token shows
// the room as it was at that point of the stream, even when the newest
// event by then was history that arrived late (a backfill) from before
// later joins.
func TestMembersAtStreamTokenAfterBackfill(t *testing.T) {
	forEachRoomEnv(t, func(t *testing.T, e *roomEnv) {
		ctx := context.Background()
		alice, _ := e.user("alice")
		bob, _ := e.user("bob")
		r := must[*mautrix.RespCreateRoom](t, "create")(alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "public_chat"}))
		before := must[*mautrix.RespSendEvent](t, "send")(alice.SendText(ctx, r.RoomID, "before bob"))
		must[*mautrix.RespJoinRoom](t, "bob joins")(bob.JoinRoomByID(ctx, r.RoomID))
		like, err := e.db.Event(ctx, id.EventID(before.EventID))
		if err != nil {
			t.Fatal(err)
		}
		b := storeBackfilled(t, e, like, "old")
		stored, err := e.db.Event(ctx, id.EventID(b))
		if err != nil {
			t.Fatal(err)
		}
		at := clientsync.Token(stored.StreamPos) // as a sync's next_batch right after the backfill
		resp := must[*mautrix.RespMembers](t, "members")(alice.Members(ctx, r.RoomID, mautrix.ReqMembers{At: at, Membership: "join"}))
		got := map[mid.UserID]bool{}
		for _, ev := range resp.Chunk {
			got[mid.UserID(*ev.StateKey)] = true
		}
		if len(got) != 2 || !got[alice.UserID] || !got[bob.UserID] {
			t.Errorf("joined members at %s = %v, want alice and bob", at, got)
		}
	})
}
