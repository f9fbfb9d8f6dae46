package stateres

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// v1Room builds room v1 events by hand: event_id in the event, reference
// pairs in prev_events and auth_events, explicit depth.
type v1Room struct {
	t    *testing.T
	pdus map[id.EventID]*event.PDU
	ts   int64
}

func newV1Room(t *testing.T) *v1Room {
	return &v1Room{t: t, pdus: map[id.EventID]*event.PDU{}}
}

func (r *v1Room) lookup(eid id.EventID) (*event.PDU, bool) {
	p, ok := r.pdus[eid]
	return p, ok
}

// add makes a state event with the given auth events and depth.
func (r *v1Room) add(eid id.EventID, sender id.UserID, typ, stateKey string, depth int64, content string, auth ...id.EventID) id.EventID {
	r.t.Helper()
	refs := func(ids []id.EventID) []any {
		out := []any{}
		for _, e := range ids {
			out = append(out, []any{e, map[string]string{"sha256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}})
		}
		return out
	}
	r.ts++
	raw, err := json.Marshal(map[string]any{
		"event_id": eid, "room_id": "!room:example.org", "sender": sender, "type": typ,
		"state_key": stateKey, "content": json.RawMessage(content), "depth": depth,
		"origin_server_ts": r.ts, "prev_events": refs(nil), "auth_events": refs(auth),
		"origin":     "example.org",
		"hashes":     map[string]string{"sha256": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		"signatures": map[string]any{"example.org": map[string]string{"ed25519:1": "AAAA"}},
	})
	if err != nil {
		r.t.Fatal(err)
	}
	p, err := event.ParseTrusted(raw, roomversion.V1, eid)
	if err != nil {
		r.t.Fatalf("parse %s: %v", eid, err)
	}
	r.pdus[eid] = p
	return eid
}

const (
	alice = id.UserID("@alice:example.org")
	bob   = id.UserID("@bob:example.org")
	carol = id.UserID("@carol:example.org")
	dave  = id.UserID("@dave:example.org")
)

func member(u id.UserID) event.StateKey {
	return event.StateKey{Type: "m.room.member", StateKey: string(u)}
}

// v1Base is a room where alice (100) created the room, bob (50, may ban)
// and carol joined, and the join rule is public.
type v1Base struct {
	room                                    *v1Room
	create, alice, pl, jr, bob, carol, dave id.EventID
	state                                   map[event.StateKey]id.EventID
}

func newV1Base(t *testing.T) *v1Base {
	r := newV1Room(t)
	b := &v1Base{room: r}
	b.create = r.add("$create:example.org", alice, "m.room.create", "", 1, `{"creator":"@alice:example.org"}`)
	b.alice = r.add("$alice:example.org", alice, "m.room.member", string(alice), 2, `{"membership":"join"}`, b.create)
	b.pl = r.add("$pl0:example.org", alice, "m.room.power_levels", "", 3,
		`{"users":{"@alice:example.org":100,"@bob:example.org":50},"users_default":0,"ban":50,"kick":50,"state_default":50,"events_default":0}`,
		b.create, b.alice)
	b.jr = r.add("$jr0:example.org", alice, "m.room.join_rules", "", 4, `{"join_rule":"public"}`, b.create, b.alice, b.pl)
	b.bob = r.add("$bob:example.org", bob, "m.room.member", string(bob), 5, `{"membership":"join"}`, b.create, b.pl, b.jr)
	b.carol = r.add("$carol:example.org", carol, "m.room.member", string(carol), 5, `{"membership":"join"}`, b.create, b.pl, b.jr)
	b.state = map[event.StateKey]id.EventID{
		{Type: "m.room.create"}: b.create, member(alice): b.alice, {Type: "m.room.power_levels"}: b.pl,
		{Type: "m.room.join_rules"}: b.jr, member(bob): b.bob, member(carol): b.carol,
	}
	return b
}

func (b *v1Base) with(extra ...id.EventID) map[event.StateKey]id.EventID {
	s := make(map[event.StateKey]id.EventID, len(b.state)+len(extra))
	for k, e := range b.state {
		s[k] = e
	}
	for _, e := range extra {
		s[b.room.pdus[e].StateKeyTuple()] = e
	}
	return s
}

func TestV1(t *testing.T) {
	tests := []struct {
		name string
		// build adds the fork events and returns the state sets and the
		// expected entries of the resolved state.
		build func(b *v1Base) ([]map[event.StateKey]id.EventID, map[event.StateKey]id.EventID)
	}{
		{
			name: "v1 state res: conflicting topics, the one with the highest depth wins",
			build: func(b *v1Base) ([]map[event.StateKey]id.EventID, map[event.StateKey]id.EventID) {
				low := b.room.add("$topic-low:example.org", alice, "m.room.topic", "", 6, `{"topic":"low"}`, b.create, b.alice, b.pl)
				high := b.room.add("$topic-high:example.org", bob, "m.room.topic", "", 7, `{"topic":"high"}`, b.create, b.bob, b.pl)
				return []map[event.StateKey]id.EventID{b.with(low), b.with(high)},
					map[event.StateKey]id.EventID{{Type: "m.room.topic"}: high}
			},
		},
		{
			name: "v1 state res: conflicting topics at the same depth, the lowest sha1(event_id) wins",
			build: func(b *v1Base) ([]map[event.StateKey]id.EventID, map[event.StateKey]id.EventID) {
				x := b.room.add("$topic-x:example.org", alice, "m.room.topic", "", 6, `{"topic":"x"}`, b.create, b.alice, b.pl)
				y := b.room.add("$topic-y:example.org", alice, "m.room.topic", "", 6, `{"topic":"y"}`, b.create, b.alice, b.pl)
				hx, hy := sha1.Sum([]byte(x)), sha1.Sum([]byte(y))
				want := x
				if bytes.Compare(hy[:], hx[:]) < 0 {
					want = y
				}
				return []map[event.StateKey]id.EventID{b.with(x), b.with(y)},
					map[event.StateKey]id.EventID{{Type: "m.room.topic"}: want}
			},
		},
		{
			name: "v1 state res: power levels are resolved before members, so a ban by a demoted moderator fails",
			build: func(b *v1Base) ([]map[event.StateKey]id.EventID, map[event.StateKey]id.EventID) {
				demote := b.room.add("$pl1:example.org", alice, "m.room.power_levels", "", 6,
					`{"users":{"@alice:example.org":100,"@bob:example.org":0},"users_default":0,"ban":50,"kick":50,"state_default":50,"events_default":0}`,
					b.create, b.alice, b.pl)
				ban := b.room.add("$ban-carol:example.org", bob, "m.room.member", string(carol), 6, `{"membership":"ban"}`,
					b.create, b.bob, b.pl, b.carol)
				return []map[event.StateKey]id.EventID{b.with(demote), b.with(ban)},
					map[event.StateKey]id.EventID{{Type: "m.room.power_levels"}: demote, member(carol): b.carol}
			},
		},
		{
			name: "v1 state res: without a power levels conflict the moderator's ban stands",
			build: func(b *v1Base) ([]map[event.StateKey]id.EventID, map[event.StateKey]id.EventID) {
				topic := b.room.add("$topic:example.org", alice, "m.room.topic", "", 6, `{"topic":"t"}`, b.create, b.alice, b.pl)
				ban := b.room.add("$ban-carol:example.org", bob, "m.room.member", string(carol), 6, `{"membership":"ban"}`,
					b.create, b.bob, b.pl, b.carol)
				return []map[event.StateKey]id.EventID{b.with(topic), b.with(ban)},
					map[event.StateKey]id.EventID{{Type: "m.room.power_levels"}: b.pl, member(carol): ban, {Type: "m.room.topic"}: topic}
			},
		},
		{
			name: "v1 state res: join rules are resolved before members, so a join after the room became invite-only fails",
			build: func(b *v1Base) ([]map[event.StateKey]id.EventID, map[event.StateKey]id.EventID) {
				daveJoin0 := b.room.add("$dave-join0:example.org", dave, "m.room.member", string(dave), 5, `{"membership":"join"}`, b.create, b.pl, b.jr)
				daveLeave := b.room.add("$dave-leave:example.org", dave, "m.room.member", string(dave), 6, `{"membership":"leave"}`, b.create, b.pl, daveJoin0)
				invite := b.room.add("$jr1:example.org", alice, "m.room.join_rules", "", 7, `{"join_rule":"invite"}`, b.create, b.alice, b.pl)
				rejoin := b.room.add("$dave-join1:example.org", dave, "m.room.member", string(dave), 8, `{"membership":"join"}`, b.create, b.pl, b.jr, daveLeave)
				return []map[event.StateKey]id.EventID{b.with(daveLeave, invite), b.with(rejoin)},
					map[event.StateKey]id.EventID{{Type: "m.room.join_rules"}: invite, member(dave): daveLeave}
			},
		},
		{
			name: "v1 state res: a key that only one state set has is not a conflict",
			build: func(b *v1Base) ([]map[event.StateKey]id.EventID, map[event.StateKey]id.EventID) {
				topic := b.room.add("$topic:example.org", alice, "m.room.topic", "", 6, `{"topic":"t"}`, b.create, b.alice, b.pl)
				return []map[event.StateKey]id.EventID{b.with(topic), b.with()},
					map[event.StateKey]id.EventID{{Type: "m.room.topic"}: topic}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newV1Base(t)
			sets, want := tc.build(b)
			for _, order := range [][]int{{0, 1}, {1, 0}} {
				in := []map[event.StateKey]id.EventID{sets[order[0]], sets[order[1]]}
				got, err := Resolve(roomversion.V1, in, b.room.lookup)
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				for k, w := range want {
					if got[k] != w {
						t.Errorf("order %v: resolved[%s, %q] = %q, want %q", order, k.Type, k.StateKey, got[k], w)
					}
				}
				for k, e := range b.state {
					if _, changed := want[k]; !changed && sets[0][k] == sets[1][k] && got[k] != e {
						t.Errorf("order %v: unconflicted resolved[%s, %q] = %q, want %q", order, k.Type, k.StateKey, got[k], e)
					}
				}
			}
		})
	}
}

func ExampleResolve() {
	// A room v1 state set resolved with itself is unchanged.
	s := map[event.StateKey]id.EventID{{Type: "m.room.create"}: "$create:example.org"}
	got, err := Resolve(roomversion.V1, []map[event.StateKey]id.EventID{s, s}, func(id.EventID) (*event.PDU, bool) { return nil, false })
	fmt.Println(got[event.StateKey{Type: "m.room.create"}], err)
	// Output: $create:example.org <nil>
}
