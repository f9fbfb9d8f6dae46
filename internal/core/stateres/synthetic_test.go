package stateres

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// SyntheticRoom is a generated room for benchmarks and property tests: a
// base state of Members joined members and StateEvents state entries in
// total, then Forks forks that each apply ChangesPerFork state changes
// (power levels, join rules, bans, topics, leaves, display names, custom
// state) to their own copy of the base state. StateSets holds the state
// after each fork; resolving them is the benchmark.
//
// Every event passes the authorization rules against the state it was built
// on, with auth_events chosen by the spec's auth events selection. The same
// seed always gives the same room. JSON holds each PDU's JSON (without
// event_id) so that other implementations can be fed the same input.
type SyntheticRoom struct {
	Version   *roomversion.Version
	RoomID    id.RoomID
	Events    map[id.EventID]*event.PDU
	JSON      map[id.EventID][]byte
	Order     []id.EventID // creation order: auth events come first
	StateSets []map[event.StateKey]id.EventID
}

// SyntheticShape sizes a SyntheticRoom.
type SyntheticShape struct {
	Members        int
	StateEvents    int
	Forks          int
	ChangesPerFork int
}

// DefaultSyntheticShape is the benchmark room: 1,000 members, 5,000 state
// events, 10 conflicting forks of 30 changes each.
var DefaultSyntheticShape = SyntheticShape{Members: 1000, StateEvents: 5000, Forks: 10, ChangesPerFork: 30}

// Lookup is the room's EventLookup.
func (sr *SyntheticRoom) Lookup(eid id.EventID) (*event.PDU, bool) {
	p, ok := sr.Events[eid]
	return p, ok
}

// synthBranch is the state of one line of the DAG while generating.
type synthBranch struct {
	state  map[event.StateKey]id.EventID
	last   id.EventID
	depth  int64
	levels map[string]int64 // users of the current power levels
	joined []int            // indices of joined members, excluding moderators
	rule   string
}

type synthGen struct {
	tb   testing.TB
	room *SyntheticRoom
	rnd  *rand.Rand
	ts   int64
}

func synthUser(i int) id.UserID { return id.UserID(fmt.Sprintf("@u%04d:example.org", i)) }

// NewSyntheticRoom generates a room of the given shape and version.
func NewSyntheticRoom(tb testing.TB, v *roomversion.Version, shape SyntheticShape, seed uint64) *SyntheticRoom {
	tb.Helper()
	g := &synthGen{
		tb:   tb,
		room: &SyntheticRoom{Version: v, Events: map[id.EventID]*event.PDU{}, JSON: map[id.EventID][]byte{}},
		rnd:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		ts:   1_700_000_000_000,
	}
	admin := synthUser(0)
	const mods = 10 // users 1..9 are moderators at level 50
	b := &synthBranch{state: map[event.StateKey]id.EventID{}, levels: map[string]int64{}}

	createContent := map[string]any{"room_version": string(v.ID)}
	if !v.CreatorFromSender {
		createContent["creator"] = admin
	}
	if !v.RoomIDFromCreateEvent {
		g.room.RoomID = "!synthetic:example.org"
	}
	g.add(b, admin, "m.room.create", "", createContent)
	g.add(b, admin, "m.room.member", string(admin), map[string]any{"membership": "join"})
	if !v.PrivilegedCreators {
		b.levels[string(admin)] = 100
	}
	for i := 1; i < mods; i++ {
		b.levels[string(synthUser(i))] = 50
	}
	g.add(b, admin, "m.room.power_levels", "", g.powerLevels(b))
	b.rule = "public"
	g.add(b, admin, "m.room.join_rules", "", map[string]any{"join_rule": "public"})
	g.add(b, admin, "m.room.history_visibility", "", map[string]any{"history_visibility": "shared"})
	for i := 1; i < shape.Members; i++ {
		u := synthUser(i)
		g.add(b, u, "m.room.member", string(u), map[string]any{"membership": "join", "displayname": fmt.Sprintf("user %d", i)})
		if i >= mods {
			b.joined = append(b.joined, i)
		}
	}
	for w := 0; len(b.state) < shape.StateEvents; w++ {
		g.add(b, synthUser(g.rnd.IntN(mods)), "org.example.widget", fmt.Sprintf("w%d", w), map[string]any{"n": w})
	}

	for f := 0; f < shape.Forks; f++ {
		fb := &synthBranch{
			state: maps.Clone(b.state), last: b.last, depth: b.depth,
			levels: maps.Clone(b.levels), joined: append([]int(nil), b.joined...), rule: b.rule,
		}
		for c := 0; c < shape.ChangesPerFork; c++ {
			g.change(fb, f, mods)
		}
		g.room.StateSets = append(g.room.StateSets, fb.state)
	}
	return g.room
}

func (g *synthGen) powerLevels(b *synthBranch) map[string]any {
	return map[string]any{
		"users": maps.Clone(b.levels), "users_default": 0,
		"events_default": 0, "state_default": 50, "ban": 50, "kick": 50, "redact": 50, "invite": 0,
		"events": map[string]any{"m.room.power_levels": 100, "m.room.join_rules": 100, "m.room.topic": 50},
	}
}

// change applies one random state change to the fork.
func (g *synthGen) change(b *synthBranch, fork, mods int) {
	admin := synthUser(0)
	mod := synthUser(1 + g.rnd.IntN(mods-1))
	pick := func() (int, int) {
		k := g.rnd.IntN(len(b.joined))
		return k, b.joined[k]
	}
	switch n := g.rnd.IntN(30); {
	case n < 2 && len(b.joined) > 0: // power levels: promote a member
		_, u := pick()
		b.levels[string(synthUser(u))] = int64(10 + g.rnd.IntN(40))
		g.add(b, admin, "m.room.power_levels", "", g.powerLevels(b))
	case n < 3: // join rules
		if b.rule == "public" {
			b.rule = "invite"
		} else {
			b.rule = "public"
		}
		g.add(b, admin, "m.room.join_rules", "", map[string]any{"join_rule": b.rule})
	case n < 6 && len(b.joined) > 0: // ban
		k, u := pick()
		b.joined = append(b.joined[:k], b.joined[k+1:]...)
		g.add(b, mod, "m.room.member", string(synthUser(u)), map[string]any{"membership": "ban", "reason": fmt.Sprintf("fork %d", fork)})
	case n < 10: // topic
		g.add(b, mod, "m.room.topic", "", map[string]any{"topic": fmt.Sprintf("fork %d topic %d", fork, g.rnd.IntN(1000))})
	case n < 15 && len(b.joined) > 0: // leave
		k, u := pick()
		b.joined = append(b.joined[:k], b.joined[k+1:]...)
		g.add(b, synthUser(u), "m.room.member", string(synthUser(u)), map[string]any{"membership": "leave"})
	case n < 23 && len(b.joined) > 0: // display name
		_, u := pick()
		g.add(b, synthUser(u), "m.room.member", string(synthUser(u)), map[string]any{"membership": "join", "displayname": fmt.Sprintf("user %d in fork %d", u, fork)})
	default: // custom state
		g.add(b, mod, "org.example.widget", fmt.Sprintf("w%d", g.rnd.IntN(100)), map[string]any{"fork": fork})
	}
}

// add builds, parses and records one state event on the branch.
func (g *synthGen) add(b *synthBranch, sender id.UserID, typ, stateKey string, content map[string]any) id.EventID {
	v := g.room.Version
	// Auth events selection: create (not from v12 on), power levels,
	// sender's membership; for m.room.member also the target's membership
	// and, for joins, the join rules.
	auth := []id.EventID{}
	cite := func(k event.StateKey) {
		if e, ok := b.state[k]; ok {
			auth = append(auth, e)
		}
	}
	if typ != "m.room.create" {
		if !v.RoomIDFromCreateEvent {
			cite(event.StateKey{Type: "m.room.create"})
		}
		cite(event.StateKey{Type: "m.room.power_levels"})
		cite(event.StateKey{Type: "m.room.member", StateKey: string(sender)})
		if typ == "m.room.member" {
			if stateKey != string(sender) {
				cite(event.StateKey{Type: "m.room.member", StateKey: stateKey})
			}
			if content["membership"] == "join" {
				cite(event.StateKey{Type: "m.room.join_rules"})
			}
		}
	}
	g.ts += 1 + int64(g.rnd.IntN(1000))
	b.depth++
	pdu := map[string]any{
		"sender": sender, "type": typ, "state_key": stateKey, "content": content,
		"origin_server_ts": g.ts, "depth": b.depth, "auth_events": auth,
		"prev_events": []id.EventID{},
		"hashes":      map[string]string{"sha256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		"signatures":  map[string]any{"example.org": map[string]string{"ed25519:1": "AAAA"}},
	}
	if b.last != "" {
		pdu["prev_events"] = []id.EventID{b.last}
	}
	eid := id.EventID(fmt.Sprintf("$%016x%016x", g.rnd.Uint64(), g.rnd.Uint64()))
	if typ == "m.room.create" && v.RoomIDFromCreateEvent {
		g.room.RoomID = id.RoomID("!" + string(eid[1:]))
	} else {
		pdu["room_id"] = g.room.RoomID
	}
	raw, err := json.Marshal(pdu)
	if err != nil {
		g.tb.Fatal(err)
	}
	p, err := event.ParseTrusted(raw, v, eid)
	if err != nil {
		g.tb.Fatalf("synthetic event %s: %v", raw, err)
	}
	g.room.Events[eid] = p
	g.room.JSON[eid] = raw
	g.room.Order = append(g.room.Order, eid)
	b.state[event.StateKey{Type: typ, StateKey: stateKey}] = eid
	b.last = eid
	return eid
}

func benchmarkResolve(b *testing.B, v *roomversion.Version) {
	room := NewSyntheticRoom(b, v, DefaultSyntheticShape, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Resolve(v, room.StateSets, room.Lookup); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResolve resolves the 10 forks of the default synthetic room
// (room v10, state resolution v2).
func BenchmarkResolve(b *testing.B) { benchmarkResolve(b, roomversion.V10) }

// BenchmarkResolveV12 is BenchmarkResolve for room v12 (state resolution
// v2.1).
func BenchmarkResolveV12(b *testing.B) { benchmarkResolve(b, roomversion.V12) }
