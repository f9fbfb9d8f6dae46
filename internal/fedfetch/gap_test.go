package fedfetch

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// TestFailedGapFetchRetried: a gap whose state was fetched is recorded as
// a hole below the event after it; the background fetch of its events
// fails while the other server is down and is recorded for a retry with
// backoff; the retry due after the server is back fetches the gap's
// messages into the timeline and forgets the hole.
func TestFailedGapFetchRetried(t *testing.T) {
	storetest.ForEachDSN(t, testFailedGapFetchRetried)
}

func testFailedGapFetchRetried(t *testing.T, dsn string) {
	ctx := context.Background()
	v := roomversion.V12
	db, err := store.Open(ctx, dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	local, _ := signing.GenerateKey(rand.Reader, "hafen.test", "ed25519:l")
	remote, _ := signing.GenerateKey(rand.Reader, "a.test", "ed25519:a")
	rooms := room.New(room.Config{DB: db, ServerName: "hafen.test", Key: local, RemoteKeys: staticKeys{remote}.Lookup, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(rooms.Close)
	owner, me := id.UserID("@owner:a.test"), id.UserID("@me:hafen.test")
	build := func(p event.Proto, key signing.Key) *event.PDU {
		t.Helper()
		e, err := event.Build(p, v, key)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	create := build(event.Proto{Type: "m.room.create", StateKey: new(string), Sender: owner,
		Content: json.RawMessage(`{"room_version":"12"}`), Depth: 1, OriginServerTS: 1}, remote)
	roomID := id.RoomID("!" + string(create.EventID())[1:])
	ownerKey, myKey := string(owner), string(me)
	ownerJoin := build(event.Proto{Type: "m.room.member", StateKey: &ownerKey, Sender: owner, RoomID: roomID,
		Content: json.RawMessage(`{"membership":"join"}`), PrevEvents: []id.EventID{create.EventID()}, Depth: 2, OriginServerTS: 2}, remote)
	pl := build(event.Proto{Type: "m.room.power_levels", StateKey: new(string), Sender: owner, RoomID: roomID,
		Content: json.RawMessage(`{"users":{"@owner:a.test":100}}`), PrevEvents: []id.EventID{ownerJoin.EventID()},
		AuthEvents: []id.EventID{ownerJoin.EventID()}, Depth: 3, OriginServerTS: 3}, remote)
	jr := build(event.Proto{Type: "m.room.join_rules", StateKey: new(string), Sender: owner, RoomID: roomID,
		Content: json.RawMessage(`{"join_rule":"public"}`), PrevEvents: []id.EventID{pl.EventID()},
		AuthEvents: []id.EventID{ownerJoin.EventID(), pl.EventID()}, Depth: 4, OriginServerTS: 4}, remote)
	myJoin := build(event.Proto{Type: "m.room.member", StateKey: &myKey, Sender: me, RoomID: roomID,
		Content: json.RawMessage(`{"membership":"join"}`), PrevEvents: []id.EventID{jr.EventID()},
		AuthEvents: []id.EventID{pl.EventID(), jr.EventID()}, Depth: 5, OriginServerTS: 5}, local)
	state := []*event.PDU{create, ownerJoin, pl, jr}
	if _, err := rooms.ImportJoin(ctx, room.RemoteJoin{RoomID: roomID, Version: v, Join: myJoin, State: state, AuthChain: state}); err != nil {
		t.Fatal(err)
	}
	// a.test's messages this server missed, and the one after them.
	prev := myJoin
	var gap []*event.PDU
	for i := range 3 {
		prev = build(event.Proto{Type: "m.room.message", Sender: owner, RoomID: roomID,
			Content: json.RawMessage(fmt.Sprintf(`{"msgtype":"m.text","body":"gap %d"}`, i)), PrevEvents: []id.EventID{prev.EventID()},
			AuthEvents: []id.EventID{ownerJoin.EventID(), pl.EventID()}, Depth: prev.Depth() + 1, OriginServerTS: prev.OriginServerTS() + 1}, remote)
		gap = append(gap, prev)
	}
	after := build(event.Proto{Type: "m.room.message", Sender: owner, RoomID: roomID,
		Content: json.RawMessage(`{"msgtype":"m.text","body":"after"}`), PrevEvents: []id.EventID{prev.EventID()},
		AuthEvents: []id.EventID{ownerJoin.EventID(), pl.EventID()}, Depth: prev.Depth() + 1, OriginServerTS: prev.OriginServerTS() + 1}, remote)
	st := room.StateIDs{}
	for _, e := range append(state, myJoin) {
		st[e.StateKeyTuple()] = e.EventID()
	}
	last := gap[len(gap)-1].EventID()
	res := rooms.ProcessRemoteWithStates(ctx, "a.test", []json.RawMessage{after.JSON()}, map[id.EventID]room.StateIDs{last: st})
	if res[0].Err != nil {
		t.Fatalf("the event after the gap: %v", res[0].Err)
	}

	// The hole is recorded with the event, due for the retrier should the
	// fetch started now never finish (the server stops).
	if holes, err := db.BackwardExtremities(ctx, roomID); err != nil || len(holes) != 1 || holes[0].EventID != last || holes[0].RetryAt == 0 {
		t.Fatalf("holes after the event = %+v, %v; want one below the gap, due later", holes, err)
	}

	now := time.Unix(1_000_000, 0)
	fr := &fakeRemote{answers: map[string]any{}} // a.test is down: every request fails
	f := &Fetcher{ServerName: "hafen.test", Remote: fr, Keys: staticKeys{remote}, Rooms: rooms, DB: db,
		Now: func() time.Time { return now }, GapRetryBase: 10 * time.Second}
	t.Cleanup(f.Close)
	f.FillGapLater("a.test", roomID, []id.EventID{last})
	hole := func() store.BackwardExtremity {
		t.Helper()
		holes, err := db.BackwardExtremities(ctx, roomID)
		if err != nil || len(holes) != 1 {
			t.Fatalf("holes = %+v, %v; want the one below the gap", holes, err)
		}
		return holes[0]
	}
	for deadline := time.Now().Add(10 * time.Second); hole().Failures == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the background fetch of the gap recorded no failure")
		}
	}
	h := hole()
	if h.EventID != last || h.Origin != "a.test" || h.At.Depth != after.Depth() || h.RetryAt != now.Add(10*time.Second).UnixMilli() {
		t.Fatalf("hole = %+v, want below %s at depth %d from a.test, due in 10 s", h, last, after.Depth())
	}
	// Not due yet: nothing is asked.
	asked := len(fr.asked)
	f.RetryDueGaps(ctx)
	if len(fr.asked) != asked {
		t.Fatalf("asked %v before the retry was due", fr.asked[asked:])
	}
	// a.test is back, the retry is due.
	pdus := make([]json.RawMessage, 0, len(gap))
	for i := len(gap) - 1; i >= 0; i-- {
		pdus = append(pdus, gap[i].JSON())
	}
	fr.mu.Lock()
	fr.answers["/_matrix/federation/v1/backfill/"+url.PathEscape(string(roomID))+"?limit=100&v="+url.QueryEscape(string(last))] = map[string]any{"pdus": pdus}
	fr.mu.Unlock()
	now = now.Add(11 * time.Second)
	f.RetryDueGaps(ctx)
	evs, err := db.EventsByID(ctx, []id.EventID{gap[0].EventID(), gap[1].EventID(), gap[2].EventID()})
	if err != nil || len(evs) != 3 {
		t.Fatalf("stored %d of the gap's 3 messages after the retry: %v (asked %v)", len(evs), err, fr.asked)
	}
	for _, e := range evs {
		if e.StreamPos >= 0 || !e.ShownToClients() {
			t.Errorf("%s stored as %+v, want history", e.EventID, e)
		}
	}
	if holes, err := db.BackwardExtremities(ctx, roomID); err != nil || len(holes) != 0 {
		t.Errorf("holes after the retry = %+v, %v; want none", holes, err)
	}
}
