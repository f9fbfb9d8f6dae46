package stateres

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// rumaDir holds Ruma's state resolution fixtures and snapshots; see its
// README for the mapping from snapshot to input files used below.
const rumaDir = "../../../testdata/ruma-state-res"

// fixtureRoom is the events of one Ruma test, in file order.
type fixtureRoom struct {
	version *roomversion.Version
	order   []id.EventID
	pdus    map[id.EventID]*event.PDU
}

func (fr *fixtureRoom) lookup(eid id.EventID) (*event.PDU, bool) {
	p, ok := fr.pdus[eid]
	return p, ok
}

// loadFixtureRoom reads PDU batch files. The room version comes from the
// m.room.create event that starts the first file.
func loadFixtureRoom(t testing.TB, files ...string) *fixtureRoom {
	t.Helper()
	fr := &fixtureRoom{pdus: map[id.EventID]*event.PDU{}}
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(rumaDir, "fixtures", f))
		if err != nil {
			t.Fatal(err)
		}
		var objs []map[string]json.RawMessage
		if err := json.Unmarshal(data, &objs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, o := range objs {
			var eid id.EventID
			if err := json.Unmarshal(o["event_id"], &eid); err != nil {
				t.Fatalf("%s: event_id: %v", f, err)
			}
			if fr.version == nil {
				var c struct {
					RoomVersion roomversion.ID `json:"room_version"`
				}
				if err := json.Unmarshal(o["content"], &c); err != nil {
					t.Fatalf("%s: create content: %v", f, err)
				}
				v, ok := roomversion.Lookup(c.RoomVersion)
				if !ok {
					t.Fatalf("%s: unknown room version %q", f, c.RoomVersion)
				}
				fr.version = v
			}
			delete(o, "test-comments")
			delete(o, "event_id")
			delete(o, "rejected")
			raw, err := json.Marshal(o)
			if err != nil {
				t.Fatal(err)
			}
			pdu, err := event.ParseTrusted(raw, fr.version, eid)
			if err != nil {
				t.Fatalf("%s: parse %s: %v", f, eid, err)
			}
			fr.pdus[eid] = pdu
			fr.order = append(fr.order, eid)
		}
	}
	return fr
}

// loadStateSet reads a state-*.json file: an array of event IDs.
func loadStateSet(t testing.TB, fr *fixtureRoom, file string) map[event.StateKey]id.EventID {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(rumaDir, "fixtures", file))
	if err != nil {
		t.Fatal(err)
	}
	var ids []id.EventID
	if err := json.Unmarshal(data, &ids); err != nil {
		t.Fatal(err)
	}
	s := map[event.StateKey]id.EventID{}
	for _, e := range ids {
		p, ok := fr.pdus[e]
		if !ok {
			t.Fatalf("%s: unknown event %s", file, e)
		}
		s[p.StateKeyTuple()] = e
	}
	return s
}

// loadSnapshot reads the expected resolved state of a Ruma snapshot.
func loadSnapshot(t testing.TB, name string) map[event.StateKey]id.EventID {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(rumaDir, "snapshots", name+"@resolved_state.snap"))
	if err != nil {
		t.Fatal(err)
	}
	// The body follows the second line that is exactly "---".
	lines := bytes.SplitAfter(data, []byte("\n"))
	seps, body := 0, -1
	for i, l := range lines {
		if string(bytes.TrimRight(l, "\r\n")) == "---" {
			seps++
			if seps == 2 {
				body = i + 1
				break
			}
		}
	}
	if body < 0 {
		t.Fatalf("%s: no snapshot body", name)
	}
	var entries []struct {
		Type     string     `json:"type"`
		StateKey string     `json:"state_key"`
		EventID  id.EventID `json:"event_id"`
	}
	if err := json.Unmarshal(bytes.Join(lines[body:], nil), &entries); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	want := map[event.StateKey]id.EventID{}
	for _, e := range entries {
		want[event.StateKey{Type: e.Type, StateKey: e.StateKey}] = e.EventID
	}
	return want
}

// atomicStateSets puts every event into its own single-entry state set
// (Ruma's "atomic" way of resolving a batch).
func atomicStateSets(fr *fixtureRoom) []map[event.StateKey]id.EventID {
	var sets []map[event.StateKey]id.EventID
	for _, e := range fr.order {
		sets = append(sets, map[event.StateKey]id.EventID{fr.pdus[e].StateKeyTuple(): e})
	}
	return sets
}

// iterativeResolve walks the DAG along prev_events the way a server does:
// the state before an event is the resolution of the states after its
// prev_events, and the room's state is the resolution of the states after
// its leaves (Ruma's "iterative" way).
func iterativeResolve(t testing.TB, fr *fixtureRoom) map[event.StateKey]id.EventID {
	t.Helper()
	after := map[id.EventID]map[event.StateKey]id.EventID{}
	cited := map[id.EventID]bool{}
	pending := slices.Clone(fr.order)
	for len(pending) > 0 {
		progressed := false
		rest := pending[:0]
		for _, e := range pending {
			p := fr.pdus[e]
			var before []map[event.StateKey]id.EventID
			ready := true
			for _, prev := range p.PrevEvents() {
				s, ok := after[prev]
				if !ok {
					ready = false
					break
				}
				before = append(before, s)
			}
			if !ready {
				rest = append(rest, e)
				continue
			}
			progressed = true
			for _, prev := range p.PrevEvents() {
				cited[prev] = true
			}
			stateBefore, err := Resolve(fr.version, before, fr.lookup)
			if err != nil {
				t.Fatalf("state before %s: %v", e, err)
			}
			withEvent := maps.Clone(stateBefore)
			withEvent[p.StateKeyTuple()] = e
			stateAfter, err := Resolve(fr.version, []map[event.StateKey]id.EventID{stateBefore, withEvent}, fr.lookup)
			if err != nil {
				t.Fatalf("state after %s: %v", e, err)
			}
			after[e] = stateAfter
		}
		if !progressed {
			t.Fatalf("prev_events of %v never become ready", rest)
		}
		pending = rest
	}
	var leaves []map[event.StateKey]id.EventID
	for _, e := range fr.order {
		if !cited[e] {
			leaves = append(leaves, after[e])
		}
	}
	got, err := Resolve(fr.version, leaves, fr.lookup)
	if err != nil {
		t.Fatalf("state of the leaves: %v", err)
	}
	return got
}

// diffState reports the differences between two resolved states.
func diffState(t testing.TB, got, want map[event.StateKey]id.EventID) {
	t.Helper()
	keys := slices.Collect(maps.Keys(want))
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b event.StateKey) int {
		if a.Type != b.Type {
			if a.Type < b.Type {
				return -1
			}
			return 1
		}
		if a.StateKey < b.StateKey {
			return -1
		}
		if a.StateKey > b.StateKey {
			return 1
		}
		return 0
	})
	for _, k := range keys {
		if g, w := got[k], want[k]; g != w {
			t.Errorf("resolved[%s, %q] = %q, want %q", k.Type, k.StateKey, g, w)
		}
	}
}

// rumaBatchTests maps each "batches" snapshot to its PDU files, as listed in
// ruma-state-res/README.md.
var rumaBatchTests = []struct {
	name  string
	files []string
}{
	{"minimal_private_chat", []string{"bootstrap-private-chat.json"}},
	{"minimal_public_chat", []string{"bootstrap-public-chat.json"}},
	{"origin_server_ts_tiebreak", []string{"bootstrap-private-chat.json", "origin-server-ts-tiebreak.json"}},
	{"ban_vs_power_levels", []string{"bootstrap-public-chat.json", "ban-vs-power-levels-alice.json", "ban-vs-power-levels-bob.json"}},
	{"topic_vs_power_levels", []string{"bootstrap-public-chat.json", "topic-vs-power-levels-alice.json", "topic-vs-power-levels-bob.json"}},
	{"power_levels_admin_vs_mod", []string{"bootstrap-public-chat.json", "power-levels-admin-vs-mod-alice.json", "power-levels-admin-vs-mod-bob.json"}},
	{"topic_vs_ban", []string{"bootstrap-public-chat.json", "topic-vs-ban-common.json", "topic-vs-ban-alice.json", "topic-vs-ban-bob.json"}},
	{"join_rules_vs_join", []string{"bootstrap-public-chat.json", "join-rules-vs-join-common.json", "join-rules-vs-join-alice.json", "join-rules-vs-join-ella.json"}},
	{"concurrent_joins", []string{"bootstrap-public-chat.json", "concurrent-joins-charlie.json", "concurrent-joins-ella.json"}},
}

// rumaStateMapTests are the MSC4297 tests with explicit state sets.
var rumaStateMapTests = []struct {
	name   string
	pdus   string
	states []string
}{
	{"msc4297_problem_a_state_res_v2_0", "MSC4297-problem-A/pdus-v11.json", []string{"MSC4297-problem-A/state-bob.json", "MSC4297-problem-A/state-charlie.json"}},
	{"msc4297_problem_a_state_res_v2_1", "MSC4297-problem-A/pdus-v12.json", []string{"MSC4297-problem-A/state-bob.json", "MSC4297-problem-A/state-charlie.json"}},
	{"msc4297_problem_b_state_res_v2_0", "MSC4297-problem-B/pdus-v11.json", []string{"MSC4297-problem-B/state-eve.json", "MSC4297-problem-B/state-zara.json"}},
	{"msc4297_problem_b_state_res_v2_1", "MSC4297-problem-B/pdus-v12.json", []string{"MSC4297-problem-B/state-eve.json", "MSC4297-problem-B/state-zara.json"}},
}

func TestRumaBatchesAtomic(t *testing.T) {
	for _, tc := range rumaBatchTests {
		t.Run("ruma "+tc.name, func(t *testing.T) {
			fr := loadFixtureRoom(t, tc.files...)
			got, err := Resolve(fr.version, atomicStateSets(fr), fr.lookup)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			diffState(t, got, loadSnapshot(t, tc.name))
		})
	}
}

func TestRumaBatchesIterative(t *testing.T) {
	for _, tc := range rumaBatchTests {
		t.Run("ruma "+tc.name, func(t *testing.T) {
			fr := loadFixtureRoom(t, tc.files...)
			diffState(t, iterativeResolve(t, fr), loadSnapshot(t, tc.name))
		})
	}
}

func TestRumaStateMaps(t *testing.T) {
	for _, tc := range rumaStateMapTests {
		t.Run("ruma "+tc.name, func(t *testing.T) {
			fr := loadFixtureRoom(t, tc.pdus)
			var sets []map[event.StateKey]id.EventID
			for _, f := range tc.states {
				sets = append(sets, loadStateSet(t, fr, f))
			}
			want := loadSnapshot(t, tc.name)
			got, err := Resolve(fr.version, sets, fr.lookup)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			diffState(t, got, want)

			// The same with the auth chains passed in, as Ruma's harness does.
			got, err = ResolveWithOptions(fr.version, sets, fr.lookup, Options{AuthChains: authChains(fr, sets)})
			if err != nil {
				t.Fatalf("ResolveWithOptions: %v", err)
			}
			diffState(t, got, want)
		})
	}
}

// authChains computes each state set's full auth chain by a plain
// breadth-first walk over the fixture's auth_events, independent of the
// package's own walk.
func authChains(fr *fixtureRoom, sets []map[event.StateKey]id.EventID) [][]id.EventID {
	var chains [][]id.EventID
	for _, s := range sets {
		seen := map[id.EventID]bool{}
		var queue []id.EventID
		for _, e := range s {
			queue = append(queue, fr.pdus[e].AuthEvents()...)
		}
		for len(queue) > 0 {
			e := queue[0]
			queue = queue[1:]
			if seen[e] {
				continue
			}
			seen[e] = true
			if p, ok := fr.pdus[e]; ok {
				queue = append(queue, p.AuthEvents()...)
			}
		}
		chains = append(chains, slices.Collect(maps.Keys(seen)))
	}
	return chains
}
