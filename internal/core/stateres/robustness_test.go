package stateres

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// v10Room builds room v10 events by hand.
type v10Room struct {
	t    *testing.T
	pdus map[id.EventID]*event.PDU
}

func newV10Room(t *testing.T) *v10Room { return &v10Room{t: t, pdus: map[id.EventID]*event.PDU{}} }

func (r *v10Room) lookup(eid id.EventID) (*event.PDU, bool) {
	p, ok := r.pdus[eid]
	return p, ok
}

func (r *v10Room) add(eid id.EventID, sender id.UserID, typ, stateKey string, ts int64, content string, auth ...id.EventID) id.EventID {
	r.t.Helper()
	if auth == nil {
		auth = []id.EventID{}
	}
	raw, err := json.Marshal(map[string]any{
		"room_id": "!room:example.org", "sender": sender, "type": typ, "state_key": stateKey,
		"content": json.RawMessage(content), "origin_server_ts": ts, "depth": 1,
		"prev_events": []id.EventID{}, "auth_events": auth,
		"hashes":     map[string]string{"sha256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		"signatures": map[string]any{"example.org": map[string]string{"ed25519:1": "AAAA"}},
	})
	if err != nil {
		r.t.Fatal(err)
	}
	p, err := event.ParseTrusted(raw, roomversion.V10, eid)
	if err != nil {
		r.t.Fatalf("parse %s: %v", eid, err)
	}
	r.pdus[eid] = p
	return eid
}

// base adds create, alice's join and power levels (alice 100, bob 50).
func (r *v10Room) base() (create, join, pl id.EventID) {
	create = r.add("$create", alice, "m.room.create", "", 0, `{"creator":"@alice:example.org","room_version":"10"}`)
	join = r.add("$alice", alice, "m.room.member", string(alice), 1, `{"membership":"join"}`, create)
	pl = r.add("$pl", alice, "m.room.power_levels", "", 2, `{"users":{"@alice:example.org":100,"@bob:example.org":50}}`, create, join)
	return
}

func (r *v10Room) names(g *graph, idx []int32) []id.EventID {
	var out []id.EventID
	for _, i := range idx {
		out = append(out, g.nodes[i].id)
	}
	return out
}

func TestPowerSortOrder(t *testing.T) {
	r := newV10Room(t)
	create, join, pl := r.base()
	// e0 by carol (level 0) is cited by e2, so it must come before e2 even
	// though alice's events come first otherwise.
	e0 := r.add("$e0", carol, "m.room.join_rules", "", 0, `{"join_rule":"public"}`, create, pl)
	e1 := r.add("$e1", bob, "m.room.join_rules", "", 5, `{"join_rule":"public"}`, create, pl)
	e2 := r.add("$e2", alice, "m.room.join_rules", "", 9, `{"join_rule":"public"}`, create, pl, join, e0)
	e3 := r.add("$e3", alice, "m.room.join_rules", "", 9, `{"join_rule":"invite"}`, create, pl, join)
	e4 := r.add("$e4", carol, "m.room.join_rules", "", 1, `{"join_rule":"public"}`, create, pl)
	res := newResolver(roomversion.V10, r.lookup, Options{}, 0)
	var xs []int32
	for _, e := range []id.EventID{e4, e2, e0, e1, e3} {
		i := res.g.intern(e)
		res.g.nodes[i].inX, res.g.nodes[i].full = true, true
		xs = append(xs, i)
	}
	sorted, err := res.powerSort(xs)
	if err != nil {
		t.Fatal(err)
	}
	// Ready at first: e0, e1, e3, e4. Highest power first (alice's e3),
	// then bob's e1, then the lowest ts among carol's (e0), which makes e2
	// (alice) ready before e4.
	want := []id.EventID{e3, e1, e0, e2, e4}
	if got := r.names(res.g, sorted); !slices.Equal(got, want) {
		t.Fatalf("powerSort = %v, want %v", got, want)
	}
}

func TestPowerSortCycle(t *testing.T) {
	r := newV10Room(t)
	create, _, _ := r.base()
	a := r.add("$cycle-a", alice, "m.room.power_levels", "", 5, `{}`, create, "$cycle-b")
	b := r.add("$cycle-b", alice, "m.room.power_levels", "", 6, `{}`, create, a)
	s1 := map[event.StateKey]id.EventID{{Type: "m.room.create"}: create, {Type: "m.room.power_levels"}: a}
	s2 := map[event.StateKey]id.EventID{{Type: "m.room.create"}: create, {Type: "m.room.power_levels"}: b}
	_, err := Resolve(roomversion.V10, []map[event.StateKey]id.EventID{s1, s2}, r.lookup)
	if !errors.Is(err, ErrAuthCycle) {
		t.Fatalf("Resolve over an auth_events cycle: error = %v, want %v", err, ErrAuthCycle)
	}
}

func TestMainlineSortOrder(t *testing.T) {
	r := newV10Room(t)
	create, join, p1 := r.base()
	p2 := r.add("$p2", alice, "m.room.power_levels", "", 3, `{"users":{"@alice:example.org":100}}`, create, join, p1)
	p3 := r.add("$p3", alice, "m.room.power_levels", "", 4, `{"users":{"@alice:example.org":100}}`, create, join, p2)
	px := r.add("$px", alice, "m.room.power_levels", "", 4, `{"users":{"@alice:example.org":100}}`, create, join, p1)
	a := r.add("$a", alice, "m.room.topic", "", 10, `{}`, create, join, p1)
	b := r.add("$b", alice, "m.room.topic", "", 1, `{}`, create, join, p3)
	c := r.add("$c", alice, "m.room.topic", "", 50, `{}`, create, join)
	d := r.add("$d", alice, "m.room.topic", "", 5, `{}`, create, join, p2)
	e := r.add("$e", alice, "m.room.topic", "", 3, `{}`, create, join, p2)
	f := r.add("$f", alice, "m.room.topic", "", 2, `{}`, create, join, px)
	res := newResolver(roomversion.V10, r.lookup, Options{}, 0)
	var evs []int32
	for _, x := range []id.EventID{a, b, c, d, e, f} {
		evs = append(evs, res.g.intern(x))
	}
	// Mainline of p3: [p3, p2, p1]. Positions: c ∞ (no power levels),
	// a and f 2 (f through px, which cites p1), d and e 1, b 0. Greater
	// positions first, then smaller ts.
	want := []id.EventID{c, f, a, e, d, b}
	got := r.names(res.g, res.mainlineSort(evs, res.g.intern(p3)))
	if !slices.Equal(got, want) {
		t.Fatalf("mainlineSort = %v, want %v", got, want)
	}
}

func TestResolveSurvivesBadInput(t *testing.T) {
	r := newV10Room(t)
	create, join, pl := r.base()
	badPL := r.add("$pl-bad", alice, "m.room.power_levels", "", 3,
		`{"users":"nobody","users_default":"high","ban":[],"events":7}`, create, join, pl)
	badPL2 := r.add("$pl-bad2", alice, "m.room.power_levels", "", 3,
		`{"users":{"@bob:example.org":"50","@carol:example.org":1.5,"@dave:example.org":null}}`, create, join, pl, "$unknown-auth")
	topicCycleA := r.add("$topic-a", bob, "m.room.topic", "", 4, `{"topic":"a"}`, create, pl, "$topic-b")
	topicCycleB := r.add("$topic-b", bob, "m.room.topic", "", 4, `{"topic":"b"}`, create, pl, topicCycleA)
	noMembership := r.add("$member-odd", alice, "m.room.member", string(bob), 5, `{"membership":7}`, create, join, pl)
	sets := []map[event.StateKey]id.EventID{
		{{Type: "m.room.create"}: create, {Type: "m.room.power_levels"}: badPL, {Type: "m.room.topic"}: topicCycleA, member(bob): noMembership},
		{{Type: "m.room.create"}: create, {Type: "m.room.power_levels"}: badPL2, {Type: "m.room.topic"}: topicCycleB, member(carol): "$missing"},
		{{Type: "m.room.create"}: create, {Type: "m.room.power_levels"}: "$missing-pl", {Type: "m.room.topic"}: "$missing-topic"},
	}
	for _, v := range []*roomversion.Version{roomversion.V10, roomversion.V12} {
		got, err := Resolve(v, sets, r.lookup)
		if err != nil {
			t.Fatalf("room v%s: Resolve: %v", v.ID, err)
		}
		if got[event.StateKey{Type: "m.room.create"}] != create {
			t.Errorf("room v%s: resolved create = %q, want %q", v.ID, got[event.StateKey{Type: "m.room.create"}], create)
		}
		for k, e := range got {
			if _, known := r.pdus[e]; !known {
				t.Errorf("room v%s: resolved[%s, %q] = %q, an event the lookup does not know", v.ID, k.Type, k.StateKey, e)
			}
		}
	}
}

func TestSenderPower(t *testing.T) {
	r := newV10Room(t)
	create, join, pl := r.base()
	byAlice := r.add("$by-alice", alice, "m.room.topic", "", 5, `{}`, create, join, pl)
	byBob := r.add("$by-bob", bob, "m.room.topic", "", 5, `{}`, create, pl)
	byCarol := r.add("$by-carol", carol, "m.room.topic", "", 5, `{}`, create, pl)
	creatorNoPL := r.add("$creator-no-pl", alice, "m.room.topic", "", 5, `{}`, create, join)
	otherNoPL := r.add("$other-no-pl", bob, "m.room.topic", "", 5, `{}`, create)
	res := newResolver(roomversion.V10, r.lookup, Options{}, 0)
	tests := []struct {
		name string
		e    id.EventID
		want int64
	}{
		{"level from users", byAlice, 100},
		{"moderator", byBob, 50},
		{"users_default absent: 0", byCarol, 0},
		{"no power levels: creator has 100", creatorNoPL, 100},
		{"no power levels: others have 0", otherNoPL, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := res.senderPower(res.g.intern(tc.e)); got != tc.want {
				t.Fatalf("senderPower(%s) = %d, want %d", tc.e, got, tc.want)
			}
		})
	}
}

// Rooms v2 "Rejected events": "Rejected auth events are deliberately
// excluded from use in the iterative auth checks". Bob's topic is allowed
// only through his join; once Options.Rejected reports the join as
// rejected, the iterative auth checks must not use it, so the topic is not
// applied.
func TestResolveRejectedAuthEvent(t *testing.T) {
	r := newV10Room(t)
	create, join, pl := r.base()
	jr := r.add("$join-rules", alice, "m.room.join_rules", "", 3, `{"join_rule":"public"}`, create, join, pl)
	bobJoin := r.add("$bob", bob, "m.room.member", string(bob), 4, `{"membership":"join"}`, create, jr, pl)
	topic := r.add("$topic", bob, "m.room.topic", "", 5, `{"topic":"x"}`, create, pl, bobJoin)
	keyTopic := event.StateKey{Type: "m.room.topic"}
	base := map[event.StateKey]id.EventID{
		keyCreate:                   create,
		keyPowerLevels:              pl,
		{Type: "m.room.join_rules"}: jr,
		{Type: "m.room.member", StateKey: string(alice)}: join,
	}
	withTopic := maps.Clone(base)
	withTopic[keyTopic] = topic
	sets := []map[event.StateKey]id.EventID{withTopic, base}

	tests := []struct {
		name      string
		rejected  func(id.EventID) bool
		wantTopic bool
	}{
		{"no event rejected: the topic is applied", nil, true},
		{"unrelated event rejected: the topic is applied", func(e id.EventID) bool { return e == "$unknown" }, true},
		{"auth event rejected: the topic is not applied", func(e id.EventID) bool { return e == bobJoin }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolveWithOptions(roomversion.V10, sets, r.lookup, Options{Rejected: tc.rejected})
			if err != nil {
				t.Fatalf("ResolveWithOptions: %v", err)
			}
			if e, ok := got[keyTopic]; ok != tc.wantTopic || (ok && e != topic) {
				t.Errorf("resolved topic = %q (present %v), want present %v", e, ok, tc.wantTopic)
			}
		})
	}
}
