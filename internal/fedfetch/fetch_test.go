package fedfetch

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// fakeRemote answers federation requests from a table of paths (without
// the query for /event, with it for the others) and records them.
type fakeRemote struct {
	mu      sync.Mutex
	answers map[string]any
	asked   []string
}

func (f *fakeRemote) DoJSON(_ context.Context, req federation.Request, out any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, req.Path)
	a, ok := f.answers[req.Path]
	if !ok {
		return &federation.HTTPError{Status: 404, Errcode: "M_NOT_FOUND"}
	}
	raw, _ := json.Marshal(a)
	return json.Unmarshal(raw, out)
}

// staticKeys knows one server's key.
type staticKeys struct{ key signing.Key }

func (staticKeys) EnsureForPDUs(context.Context, []json.RawMessage) {}

func (k staticKeys) Lookup(server id.ServerName, keyID signing.KeyID) (signing.VerifyKey, bool) {
	if server == k.key.ServerName && keyID == k.key.KeyID {
		return signing.VerifyKey{Public: k.key.Public(), ValidUntilTS: math.MaxInt64}, true
	}
	return signing.VerifyKey{}, false
}

// TestBackfillFetchesMissingAuthAndState: a piece of history whose
// events name an auth event the answer lacks (the join of a user who
// left before this server came) gets it fetched with /event and checked;
// the bottom of the piece gets its state with /state_ids; the history
// enters the room's timeline.
func TestBackfillFetchesMissingAuthAndState(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		v := roomversion.V12
		db, err := store.Open(ctx, dsn, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		local, err := signing.GenerateKey(rand.Reader, "hafen.test", "ed25519:l")
		if err != nil {
			t.Fatal(err)
		}
		remote, err := signing.GenerateKey(rand.Reader, "a.test", "ed25519:a")
		if err != nil {
			t.Fatal(err)
		}
		keys := staticKeys{remote}
		rooms := room.New(room.Config{DB: db, ServerName: "hafen.test", Key: local, RemoteKeys: keys.Lookup, Logger: slog.New(slog.DiscardHandler)})
		t.Cleanup(rooms.Close)
		alice, carol := id.UserID("@alice:hafen.test"), id.UserID("@carol:a.test")
		roomID, err := rooms.CreateRoom(ctx, &room.CreateRequest{Creator: alice, Version: v, Preset: room.PresetPublicChat})
		if err != nil {
			t.Fatal(err)
		}
		cur, err := rooms.CurrentState(ctx, roomID)
		if err != nil {
			t.Fatal(err)
		}
		state := map[event.StateKey]*event.PDU{}
		var latest *event.PDU
		for _, e := range cur {
			state[e.StateKeyTuple()] = e
			if latest == nil || e.Depth() > latest.Depth() {
				latest = e
			}
		}
		ts := int64(1_700_000_000_000)
		build := func(typ string, sk *string, sender id.UserID, content string, prev *event.PDU, st map[event.StateKey]*event.PDU) *event.PDU {
			t.Helper()
			needed, err := authrules.NeededStateKeys(v, typ, sk, sender, json.RawMessage(content))
			if err != nil {
				t.Fatal(err)
			}
			var auth []id.EventID
			for _, k := range needed {
				if e := st[k]; e != nil && k.Type != "m.room.create" {
					auth = append(auth, e.EventID())
				}
			}
			ts++
			e, err := event.Build(event.Proto{Type: typ, StateKey: sk, Sender: sender, RoomID: roomID, Content: json.RawMessage(content),
				PrevEvents: []id.EventID{prev.EventID()}, AuthEvents: auth, Depth: prev.Depth() + 1, OriginServerTS: ts}, v, remote)
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		with := func(st map[event.StateKey]*event.PDU, e *event.PDU) map[event.StateKey]*event.PDU {
			out := map[event.StateKey]*event.PDU{}
			for k, x := range st {
				out[k] = x
			}
			out[e.StateKeyTuple()] = e
			return out
		}
		// What a.test saw and this server did not: carol joins, speaks and
		// leaves.
		cs := string(carol)
		carolJoin := build("m.room.member", &cs, carol, `{"membership":"join"}`, latest, state)
		st1 := with(state, carolJoin)
		said := build("m.room.message", nil, carol, `{"msgtype":"m.text","body":"carol was here"}`, carolJoin, st1)
		left := build("m.room.member", &cs, carol, `{"membership":"leave"}`, said, st1)
		// The backfill answer lacks carol's join (an auth event of her
		// message): it is fetched with /event. The state before the
		// message comes from /state_ids.
		rq := url.PathEscape(string(roomID))
		var before []id.EventID
		for _, e := range st1 {
			before = append(before, e.EventID())
		}
		fr := &fakeRemote{answers: map[string]any{
			"/_matrix/federation/v1/backfill/" + rq + "?limit=10&v=" + url.QueryEscape(string(left.EventID())): map[string]any{
				"pdus": []json.RawMessage{left.JSON(), said.JSON()},
			},
			"/_matrix/federation/v1/event/" + url.PathEscape(string(carolJoin.EventID())): map[string]any{"pdus": []json.RawMessage{carolJoin.JSON()}},
			"/_matrix/federation/v1/state_ids/" + rq + "?event_id=" + url.QueryEscape(string(said.EventID())): map[string]any{
				"pdu_ids": before, "auth_chain_ids": []id.EventID{},
			},
		}}
		f := &Fetcher{ServerName: "hafen.test", Remote: fr, Keys: keys, Rooms: rooms, DB: db}
		n, err := f.Backfill(ctx, roomID, []id.ServerName{"a.test"}, []id.EventID{left.EventID()}, 10)
		if err != nil || n != 2 {
			t.Fatalf("Backfill = %d, %v; want carol's message and leave in the timeline\nasked %v", n, err, fr.asked)
		}
		evs, err := db.EventsByID(ctx, []id.EventID{said.EventID(), left.EventID(), carolJoin.EventID()})
		if err != nil || len(evs) != 3 {
			t.Fatalf("stored %d of 3: %v", len(evs), err)
		}
		for _, e := range evs {
			switch e.EventID {
			case carolJoin.EventID():
				if !e.Outlier {
					t.Errorf("the fetched auth event is %+v, want an outlier", e)
				}
			default:
				if e.StreamPos >= 0 || e.Rejected {
					t.Errorf("%s stored as %+v, want history", e.EventID, e)
				}
			}
		}
		if asked := strings.Join(fr.asked, " "); !strings.Contains(asked, "/event/") || !strings.Contains(asked, "/state_ids/") {
			t.Errorf("asked %v, want /event for the missing auth event and /state_ids for the bottom", fr.asked)
		}
	})
}

// TestBackfillRoomQuietAfterNothing: /messages reaching the start of a
// room joined through another server asks the servers in the room; when
// none has history to give, it does not ask again for a minute.
func TestBackfillRoomQuietAfterNothing(t *testing.T) {
	storetest.ForEachDSN(t, testBackfillRoomQuiet)
}

func testBackfillRoomQuiet(t *testing.T, dsn string) {
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
	// A room of a.test: its creation, and a join of ours on top.
	owner, me := id.UserID("@owner:a.test"), id.UserID("@me:hafen.test")
	create, err := event.Build(event.Proto{Type: "m.room.create", StateKey: new(string), Sender: owner,
		Content: json.RawMessage(`{"room_version":"12"}`), Depth: 1, OriginServerTS: 1}, v, remote)
	if err != nil {
		t.Fatal(err)
	}
	roomID := id.RoomID("!" + string(create.EventID())[1:])
	ownerKey := string(owner)
	ownerJoin, err := event.Build(event.Proto{Type: "m.room.member", StateKey: &ownerKey, Sender: owner, RoomID: roomID,
		Content: json.RawMessage(`{"membership":"join"}`), PrevEvents: []id.EventID{create.EventID()}, Depth: 2, OriginServerTS: 2}, v, remote)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := event.Build(event.Proto{Type: "m.room.power_levels", StateKey: new(string), Sender: owner, RoomID: roomID,
		Content: json.RawMessage(`{"users":{"@owner:a.test":100}}`), PrevEvents: []id.EventID{ownerJoin.EventID()},
		AuthEvents: []id.EventID{ownerJoin.EventID()}, Depth: 3, OriginServerTS: 3}, v, remote)
	if err != nil {
		t.Fatal(err)
	}
	jr, err := event.Build(event.Proto{Type: "m.room.join_rules", StateKey: new(string), Sender: owner, RoomID: roomID,
		Content: json.RawMessage(`{"join_rule":"public"}`), PrevEvents: []id.EventID{pl.EventID()},
		AuthEvents: []id.EventID{ownerJoin.EventID(), pl.EventID()}, Depth: 4, OriginServerTS: 4}, v, remote)
	if err != nil {
		t.Fatal(err)
	}
	ms := string(me)
	myJoin, err := event.Build(event.Proto{Type: "m.room.member", StateKey: &ms, Sender: me, RoomID: roomID,
		Content: json.RawMessage(`{"membership":"join"}`), PrevEvents: []id.EventID{jr.EventID()},
		AuthEvents: []id.EventID{pl.EventID(), jr.EventID()}, Depth: 5, OriginServerTS: 5}, v, local)
	if err != nil {
		t.Fatal(err)
	}
	state := []*event.PDU{create, ownerJoin, pl, jr}
	if _, err := rooms.ImportJoin(ctx, room.RemoteJoin{RoomID: roomID, Version: v, Join: myJoin, State: state, AuthChain: state}); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_000_000, 0)
	fr := &fakeRemote{answers: map[string]any{}}
	f := &Fetcher{ServerName: "hafen.test", Remote: fr, Keys: staticKeys{remote}, Rooms: rooms, DB: db, Now: func() time.Time { return now }}
	if n, err := f.BackfillRoom(ctx, roomID, 10); n != 0 || err == nil || len(fr.asked) != 1 {
		t.Fatalf("BackfillRoom = %d, %v after asking %v; want nothing and an error after asking a.test once", n, err, fr.asked)
	}
	if n, err := f.BackfillRoom(ctx, roomID, 10); n != 0 || err != nil || len(fr.asked) != 1 {
		t.Fatalf("BackfillRoom again = %d, %v after asking %v; want no question within the minute", n, err, fr.asked)
	}
	now = now.Add(quietFor + time.Second)
	if f.BackfillRoom(ctx, roomID, 10); len(fr.asked) != 2 {
		t.Fatalf("after the minute asked %v, want a second question", fr.asked)
	}
	if !strings.HasPrefix(fr.asked[0], "/_matrix/federation/v1/backfill/") || !strings.Contains(fr.asked[0], url.QueryEscape(string(myJoin.EventID()))) {
		t.Errorf("asked %s, want a backfill from our join", fr.asked[0])
	}
}
