package room

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pducheck"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/core/stateres"
	"github.com/hafenchat/hafen/internal/store"
)

// remoteServer is another homeserver in a test: a name and a signing key.
type remoteServer struct {
	name id.ServerName
	key  signing.Key
	ts   int64
}

func newRemote(t *testing.T, name id.ServerName) *remoteServer {
	t.Helper()
	k, err := signing.GenerateKey(rand.Reader, name, "ed25519:k1")
	if err != nil {
		t.Fatal(err)
	}
	return &remoteServer{name: name, key: k, ts: 1_700_000_000_000}
}

// keysOf is the key lookup of a fake key fetcher that knows servers.
func keysOf(servers ...*remoteServer) signing.KeyLookup {
	return func(server id.ServerName, keyID signing.KeyID) (signing.VerifyKey, bool) {
		for _, r := range servers {
			if r.name == server && r.key.KeyID == keyID {
				return signing.VerifyKey{Public: r.key.Public(), ValidUntilTS: math.MaxInt64}, true
			}
		}
		return signing.VerifyKey{}, false
	}
}

// event builds and signs an event of this server, on top of prevs, with
// its auth events chosen from state (the state before it as the remote
// server sees it).
func (r *remoteServer) event(t *testing.T, v *roomversion.Version, roomID id.RoomID, typ string, stateKey *string, sender id.UserID, content string, prevs []*event.PDU, state stateMap) *event.PDU {
	t.Helper()
	needed, err := authrules.NeededStateKeys(v, typ, stateKey, sender, json.RawMessage(content))
	if err != nil {
		t.Fatal(err)
	}
	var auth []id.EventID
	for _, k := range needed {
		if ev := state[k]; ev != nil && !(k.Type == "m.room.create" && v.RoomIDFromCreateEvent) {
			auth = append(auth, ev.EventID())
		}
	}
	r.ts++
	pdu, err := event.Build(event.Proto{
		Type: typ, StateKey: stateKey, Sender: sender, RoomID: roomID, Content: json.RawMessage(content),
		PrevEvents: ids(prevs), AuthEvents: auth, Depth: depthAfter(prevs), OriginServerTS: r.ts,
	}, v, r.key)
	if err != nil {
		t.Fatalf("build %s: %v", typ, err)
	}
	return pdu
}

// head returns a copy of a room's current state and forward extremities.
func head(t *testing.T, s *Service, roomID id.RoomID) (stateMap, []*event.PDU) {
	t.Helper()
	rs, err := s.room(context.Background(), roomID)
	if err != nil {
		t.Fatal(err)
	}
	rs.head.RLock()
	defer rs.head.RUnlock()
	st := stateMap{}
	for k, ev := range rs.state {
		st[k] = ev
	}
	return st, slices.Clone(rs.extremities)
}

func process(t *testing.T, s *Service, from *remoteServer, pdu *event.PDU) RemoteResult {
	t.Helper()
	res := s.ProcessRemote(context.Background(), from.name, []json.RawMessage{pdu.JSON()})
	if len(res) != 1 {
		t.Fatalf("ProcessRemote returned %d results", len(res))
	}
	return res[0]
}

func mustAccept(t *testing.T, s *Service, from *remoteServer, pdu *event.PDU) {
	t.Helper()
	if r := process(t, s, from, pdu); r.Verdict != pducheck.Accept || r.Err != nil || r.EventID != pdu.EventID() {
		t.Fatalf("%s %s: %v %v, want accept", pdu.Type(), pdu.EventID(), r.Verdict, r.Err)
	}
}

func withKey(st stateMap, pdu *event.PDU) stateMap {
	out := stateMap{}
	for k, ev := range st {
		out[k] = ev
	}
	out[pdu.StateKeyTuple()] = pdu
	return out
}

func eventIDs(st stateMap) map[event.StateKey]id.EventID {
	out := map[event.StateKey]id.EventID{}
	for k, ev := range st {
		out[k] = ev.EventID()
	}
	return out
}

func str(s string) *string { return &s }

// TestRemoteForksResolveAndMerge drives a room through events of two other
// servers that fork it: the head keeps both forward extremities, the
// current state is what state resolution says, the next local event merges
// the forks, soft-failed events are stored but neither shown nor made
// extremities, and events the auth rules or signatures refuse are rejected
// or dropped.
func TestRemoteForksResolveAndMerge(t *testing.T) {
	for _, vid := range []roomversion.ID{"10", "12"} {
		t.Run("v"+string(vid), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, dsn string) { testRemoteForks(t, dsn, vid) })
		})
	}
}

func testRemoteForks(t *testing.T, dsn string, vid roomversion.ID) {
	ctx := context.Background()
	v, _ := roomversion.Lookup(vid)
	a, b, stranger := newRemote(t, "a.test"), newRemote(t, "b.test"), newRemote(t, "c.test")
	s, db, _ := newServiceWith(t, dsn, Config{RemoteKeys: keysOf(a, b)})
	alice, bob, carol := id.UserID("@alice:hafen.test"), id.UserID("@bob:a.test"), id.UserID("@carol:b.test")
	roomID, err := s.CreateRoom(ctx, &CreateRequest{
		Creator: alice, Version: v, Preset: PresetPublicChat,
		PowerLevelContentOverride: map[string]json.RawMessage{"events": json.RawMessage(`{"m.room.topic":0}`)},
	})
	if err != nil {
		t.Fatal(err)
	}

	join := `{"membership":"join"}`
	st, ext := head(t, s, roomID)
	mustAccept(t, s, a, a.event(t, v, roomID, "m.room.member", str(string(bob)), bob, join, ext, st))
	st, ext = head(t, s, roomID)
	mustAccept(t, s, b, b.event(t, v, roomID, "m.room.member", str(string(carol)), carol, join, ext, st))

	// Both servers change the topic on top of the same event.
	st, ext = head(t, s, roomID)
	if len(ext) != 1 {
		t.Fatalf("extremities before the fork = %d, want 1", len(ext))
	}
	fork := ext[0]
	topicA := a.event(t, v, roomID, "m.room.topic", str(""), bob, `{"topic":"from a"}`, ext, st)
	topicB := b.event(t, v, roomID, "m.room.topic", str(""), carol, `{"topic":"from b"}`, ext, st)
	mustAccept(t, s, a, topicA)
	mustAccept(t, s, b, topicB)

	cur, ext := head(t, s, roomID)
	if got := ids(ext); !sameIDs(got, []id.EventID{topicA.EventID(), topicB.EventID()}) {
		t.Fatalf("extremities after the fork = %v, want both topics", got)
	}
	known := map[id.EventID]*event.PDU{topicA.EventID(): topicA, topicB.EventID(): topicB}
	for _, ev := range st {
		known[ev.EventID()] = ev
	}
	lookup := func(e id.EventID) (*event.PDU, bool) {
		if ev, ok := known[e]; ok {
			return ev, true
		}
		evs, err := db.EventsByID(ctx, []id.EventID{e})
		if err != nil || len(evs) == 0 {
			return nil, false
		}
		ev, err := event.ParseTrusted(evs[0].JSON, v, e)
		return ev, err == nil
	}
	want, err := stateres.Resolve(v, []map[event.StateKey]id.EventID{eventIDs(withKey(st, topicA)), eventIDs(withKey(st, topicB))}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if got := eventIDs(cur); !equalIDMaps(got, want) {
		t.Fatalf("current state after the fork:\n got %v\nwant %v", got, want)
	}
	topicKey := event.StateKey{Type: "m.room.topic"}
	// The store agrees: a fresh service reads the same head.
	s2, _, _ := newServiceWith(t, dsn, Config{})
	cur2, ext2 := head(t, s2, roomID)
	if !equalIDMaps(eventIDs(cur2), want) || !sameIDs(ids(ext2), ids(ext)) {
		t.Fatalf("reloaded head: state %v ext %v", eventIDs(cur2), ids(ext2))
	}
	stored, err := db.CurrentStateEvent(ctx, roomID, "m.room.topic", "")
	if err != nil || stored.EventID != want[topicKey] {
		t.Fatalf("stored current topic = %s, %v; want %s", stored.EventID, err, want[topicKey])
	}

	// The next local event references both forks.
	msg, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text("merge")})
	if err != nil {
		t.Fatal(err)
	}
	if !sameIDs(msg.PrevEvents(), []id.EventID{topicA.EventID(), topicB.EventID()}) || msg.Depth() != fork.Depth()+2 {
		t.Fatalf("merge prev_events=%v depth=%d, want both topics and %d", msg.PrevEvents(), msg.Depth(), fork.Depth()+2)
	}
	if _, ext := head(t, s, roomID); len(ext) != 1 || ext[0].EventID() != msg.EventID() {
		t.Fatalf("extremities after the merge = %v", ids(ext))
	}

	// Carol is banned; an event of hers built before the ban (on
	// topicB) passes the state before it but not the current state.
	if _, err := s.ChangeMembership(ctx, roomID, MembershipChange{Sender: alice, Target: carol, Membership: MembershipBan}); err != nil {
		t.Fatal(err)
	}
	_, extBan := head(t, s, roomID)
	late := b.event(t, v, roomID, "m.room.message", nil, carol, `{"msgtype":"m.text","body":"late"}`, []*event.PDU{topicB}, withKey(st, topicB))
	published := s.Stream().Position()
	if r := process(t, s, b, late); r.Verdict != pducheck.SoftFail || r.Err == nil {
		t.Fatalf("late event: %v %v, want soft-fail", r.Verdict, r.Err)
	}
	if _, ext := head(t, s, roomID); !sameIDs(ids(ext), ids(extBan)) {
		t.Errorf("a soft-failed event changed the extremities: %v", ids(ext))
	}
	if s.Stream().Position() != published {
		t.Errorf("a soft-failed event was published to the stream")
	}
	evs, err := db.EventsByID(ctx, []id.EventID{late.EventID()})
	if err != nil || len(evs) != 1 || evs[0].StreamPos != 0 || evs[0].Rejected {
		t.Fatalf("soft-failed event stored as %+v, %v; want stored without a stream position", evs, err)
	}
	if timeline, _ := db.RoomEventsRange(ctx, roomID, 0, 1<<62, store.Forward, 1000); slices.ContainsFunc(timeline, func(e store.Event) bool { return e.EventID == late.EventID() }) {
		t.Errorf("soft-failed event is in the timeline")
	}

	// On top of the head, carol's auth events say she is banned: rejected.
	cur, ext = head(t, s, roomID)
	banned := b.event(t, v, roomID, "m.room.message", nil, carol, `{"msgtype":"m.text","body":"banned"}`, ext, cur)
	if r := process(t, s, b, banned); r.Verdict != pducheck.Reject || r.Err == nil {
		t.Fatalf("banned sender: %v %v, want reject", r.Verdict, r.Err)
	}
	if evs, _ := db.EventsByID(ctx, []id.EventID{banned.EventID()}); len(evs) != 1 || !evs[0].Rejected {
		t.Errorf("rejected event stored as %+v", evs)
	}

	// An event naming an unknown prev event is refused until federation
	// can fetch it; one signed by an unknown server is dropped.
	unseen := a.event(t, v, roomID, "m.room.message", nil, bob, `{"msgtype":"m.text","body":"never sent"}`, ext, cur)
	missing := a.event(t, v, roomID, "m.room.message", nil, bob, `{"msgtype":"m.text","body":"?"}`, []*event.PDU{unseen}, cur)
	if r := process(t, s, a, missing); r.Verdict != pducheck.Drop || !errors.Is(r.Err, ErrMissingPrevEvents) {
		t.Errorf("unknown prev event: %v %v, want drop with ErrMissingPrevEvents", r.Verdict, r.Err)
	}
	forged := stranger.event(t, v, roomID, "m.room.message", nil, "@eve:c.test", `{"msgtype":"m.text","body":"x"}`, ext, cur)
	if r := process(t, s, stranger, forged); r.Verdict != pducheck.Drop || !errors.Is(r.Err, pducheck.ErrSignature) {
		t.Errorf("unknown server's event: %v %v, want drop with ErrSignature", r.Verdict, r.Err)
	}
	if evs, _ := db.EventsByID(ctx, []id.EventID{missing.EventID(), forged.EventID()}); len(evs) != 0 {
		t.Errorf("dropped events were stored: %d", len(evs))
	}
	// Delivering an accepted event again changes nothing.
	if r := process(t, s, a, topicA); r.Verdict != pducheck.Accept || r.Err != nil {
		t.Errorf("repeated event: %v %v", r.Verdict, r.Err)
	}
}

// TestLocalEventReferencesAtMostTenExtremities forks a room twelve ways:
// the next local event names the ten deepest forward extremities, has the
// depth after them, and the two it leaves out stay extremities until the
// event after.
func TestLocalEventReferencesAtMostTenExtremities(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		v, _ := roomversion.Lookup("12")
		a := newRemote(t, "a.test")
		s, _, _ := newServiceWith(t, dsn, Config{RemoteKeys: keysOf(a)})
		alice, bob := id.UserID("@alice:hafen.test"), id.UserID("@bob:a.test")
		roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: v, Preset: PresetPublicChat})
		if err != nil {
			t.Fatal(err)
		}
		st, ext := head(t, s, roomID)
		mustAccept(t, s, a, a.event(t, v, roomID, "m.room.member", str(string(bob)), bob, `{"membership":"join"}`, ext, st))
		st, ext = head(t, s, roomID)
		var forks []json.RawMessage
		for i := range 12 {
			forks = append(forks, a.event(t, v, roomID, "m.room.message", nil, bob, `{"msgtype":"m.text","body":"fork `+string(rune('a'+i))+`"}`, ext, st).JSON())
		}
		for i, r := range s.ProcessRemote(ctx, a.name, forks) {
			if r.Verdict != pducheck.Accept {
				t.Fatalf("fork %d: %v %v", i, r.Verdict, r.Err)
			}
		}
		_, forked := head(t, s, roomID)
		if len(forked) != 12 {
			t.Fatalf("extremities = %d, want 12", len(forked))
		}
		msg, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text("merge")})
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.PrevEvents()) != maxPrevEvents || msg.Depth() != ext[0].Depth()+2 {
			t.Fatalf("prev_events = %d, depth %d; want %d, %d", len(msg.PrevEvents()), msg.Depth(), maxPrevEvents, ext[0].Depth()+2)
		}
		_, after := head(t, s, roomID)
		if len(after) != 3 || !slices.ContainsFunc(after, func(e *event.PDU) bool { return e.EventID() == msg.EventID() }) {
			t.Fatalf("extremities after the first merge = %v, want the message and the two forks left out", ids(after))
		}
		msg2, _, err := s.Send(ctx, roomID, Proposal{Type: "m.room.message", Sender: alice, Content: text("merge again")})
		if err != nil {
			t.Fatal(err)
		}
		if len(msg2.PrevEvents()) != 3 {
			t.Errorf("second merge prev_events = %v, want 3", msg2.PrevEvents())
		}
		if _, last := head(t, s, roomID); len(last) != 1 {
			t.Errorf("extremities after the second merge = %d, want 1", len(last))
		}
	})
}

func sameIDs(a, b []id.EventID) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func equalIDMaps(a, b map[event.StateKey]id.EventID) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestProcessParsed: PDUs parsed by the caller take the same checks as
// raw ones: accepted in order (one naming an earlier one of the batch),
// known ones accepted again, one whose signing key is unknown dropped,
// one from a user who is not joined rejected.
func TestProcessParsed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		v, _ := roomversion.Lookup("12")
		a, b, stranger := newRemote(t, "a.test"), newRemote(t, "b.test"), newRemote(t, "c.test")
		s, _, _ := newServiceWith(t, dsn, Config{RemoteKeys: keysOf(a, b)})
		alice, bob, carol := id.UserID("@alice:hafen.test"), id.UserID("@bob:a.test"), id.UserID("@carol:b.test")
		roomID, err := s.CreateRoom(ctx, &CreateRequest{Creator: alice, Version: v, Preset: PresetPublicChat})
		if err != nil {
			t.Fatal(err)
		}
		st, ext := head(t, s, roomID)
		join := a.event(t, v, roomID, "m.room.member", str(string(bob)), bob, `{"membership":"join"}`, ext, st)
		st = withKey(st, join)
		first := a.event(t, v, roomID, "m.room.message", nil, bob, `{"msgtype":"m.text","body":"one"}`, []*event.PDU{join}, st)
		second := a.event(t, v, roomID, "m.room.message", nil, bob, `{"msgtype":"m.text","body":"two"}`, []*event.PDU{first}, st)
		unsigned := stranger.event(t, v, roomID, "m.room.message", nil, "@dave:c.test", `{"msgtype":"m.text","body":"?"}`, []*event.PDU{second}, st)
		notJoined := b.event(t, v, roomID, "m.room.message", nil, carol, `{"msgtype":"m.text","body":"!"}`, []*event.PDU{second}, st)
		pdus := []*event.PDU{join, first, second, first, unsigned, notJoined}
		want := []pducheck.Verdict{pducheck.Accept, pducheck.Accept, pducheck.Accept, pducheck.Accept, pducheck.Drop, pducheck.Reject}
		got := s.ProcessParsed(ctx, a.name, pdus)
		for i, r := range got {
			if r.Verdict != want[i] {
				t.Errorf("pdu %d: verdict %v (%v), want %v", i, r.Verdict, r.Err, want[i])
			}
			if r.Verdict != pducheck.Drop && r.EventID != pdus[i].EventID() {
				t.Errorf("pdu %d: event ID %s, want %s", i, r.EventID, pdus[i].EventID())
			}
		}
		if _, ext := head(t, s, roomID); len(ext) != 1 || ext[0].EventID() != second.EventID() {
			t.Errorf("extremities = %v, want the last accepted message", ids(ext))
		}
	})
}
