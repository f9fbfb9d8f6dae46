package stateres

import (
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// propertyCase is one resolution input for the property tests.
type propertyCase struct {
	name   string
	v      *roomversion.Version
	sets   []map[event.StateKey]id.EventID
	lookup EventLookup
}

func propertyCases(t *testing.T) []propertyCase {
	var cases []propertyCase
	for _, tc := range rumaStateMapTests {
		fr := loadFixtureRoom(t, tc.pdus)
		var sets []map[event.StateKey]id.EventID
		for _, f := range tc.states {
			sets = append(sets, loadStateSet(t, fr, f))
		}
		cases = append(cases, propertyCase{"ruma " + tc.name, fr.version, sets, fr.lookup})
	}
	for _, tc := range rumaBatchTests {
		fr := loadFixtureRoom(t, tc.files...)
		cases = append(cases, propertyCase{"ruma atomic " + tc.name, fr.version, atomicStateSets(fr), fr.lookup})
	}
	small := SyntheticShape{Members: 60, StateEvents: 200, Forks: 4, ChangesPerFork: 12}
	for _, v := range []*roomversion.Version{roomversion.V10, roomversion.V12} {
		room := NewSyntheticRoom(t, v, small, 7)
		cases = append(cases, propertyCase{"synthetic v" + string(v.ID), v, room.StateSets, room.Lookup})
	}
	return cases
}

func TestResolveSingleStateSetIsUnchanged(t *testing.T) {
	for _, tc := range propertyCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			for i, s := range tc.sets {
				orig := maps.Clone(s)
				got, err := Resolve(tc.v, []map[event.StateKey]id.EventID{s}, tc.lookup)
				if err != nil {
					t.Fatalf("Resolve(set %d): %v", i, err)
				}
				if !maps.Equal(got, orig) {
					t.Fatalf("Resolve(set %d) = %v, want %v", i, got, orig)
				}
				// The result is a new map.
				for k := range got {
					got[k] = "$changed"
				}
				if !maps.Equal(s, orig) {
					t.Fatalf("changing the result of Resolve(set %d) changed the input", i)
				}
			}
		})
	}
}

func TestResolveIsIndependentOfStateSetOrder(t *testing.T) {
	for _, tc := range propertyCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			want, err := Resolve(tc.v, tc.sets, tc.lookup)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			rnd := rand.New(rand.NewPCG(1, 2))
			for trial := range 4 {
				sets := slices.Clone(tc.sets)
				if trial == 0 {
					slices.Reverse(sets)
				} else {
					rnd.Shuffle(len(sets), func(i, j int) { sets[i], sets[j] = sets[j], sets[i] })
				}
				got, err := Resolve(tc.v, sets, tc.lookup)
				if err != nil {
					t.Fatalf("Resolve(permutation %d): %v", trial, err)
				}
				if !maps.Equal(got, want) {
					diffState(t, got, want)
					t.Fatalf("permutation %d gives a different state", trial)
				}
			}
		})
	}
}

func TestResolveKeepsUnconflictedState(t *testing.T) {
	for _, tc := range propertyCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(tc.v, tc.sets, tc.lookup)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			n := 0
			for k, e := range tc.sets[0] {
				same := true
				for _, s := range tc.sets[1:] {
					if s[k] != e {
						same = false
						break
					}
				}
				if same {
					n++
					if got[k] != e {
						t.Errorf("unconflicted resolved[%s, %q] = %q, want %q", k.Type, k.StateKey, got[k], e)
					}
				}
			}
			t.Logf("%d unconflicted entries checked", n)
		})
	}
}

func TestResolveTwoIdenticalSetsIsUnchanged(t *testing.T) {
	room := NewSyntheticRoom(t, roomversion.V10, SyntheticShape{Members: 30, StateEvents: 80, Forks: 1, ChangesPerFork: 5}, 3)
	s := room.StateSets[0]
	got, err := Resolve(roomversion.V10, []map[event.StateKey]id.EventID{s, maps.Clone(s)}, room.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, s) {
		t.Fatalf("Resolve(s, s) differs from s")
	}
}

func TestResolveSyntheticForks(t *testing.T) {
	// Every fork event was allowed when it was made and the forks only
	// touch their own keys, so each fork's own change to a key that no
	// other fork changed must be in the resolved state unless an earlier
	// power event (a ban or a power levels change) took away the sender's
	// right. Here only display names and leaves of members that no fork
	// bans are checked: nothing can take those rights away.
	for _, v := range []*roomversion.Version{roomversion.V10, roomversion.V12} {
		t.Run("synthetic v"+string(v.ID), func(t *testing.T) {
			room := NewSyntheticRoom(t, v, DefaultSyntheticShape, 1)
			got, err := Resolve(v, room.StateSets, room.Lookup)
			if err != nil {
				t.Fatal(err)
			}
			banned := map[string]bool{}
			changedBy := map[event.StateKey]int{}
			base := map[event.StateKey]id.EventID{}
			for k := range room.StateSets[0] {
				base[k] = ""
			}
			for _, s := range room.StateSets {
				for k, e := range s {
					if p := room.Events[e]; k.Type == "m.room.member" && authrules.Membership(p.Content()) == "ban" {
						banned[k.StateKey] = true
					}
				}
			}
			// A key changed by exactly one fork has one value that the
			// other nine sets agree on.
			for k := range base {
				vals := map[id.EventID]int{}
				for _, s := range room.StateSets {
					vals[s[k]]++
				}
				if len(vals) == 2 {
					for e, c := range vals {
						if c == 1 {
							changedBy[k]++
							p := room.Events[e]
							if k.Type == "m.room.member" && string(p.Sender()) == k.StateKey && !banned[k.StateKey] && got[k] != e {
								t.Errorf("resolved[%s, %q] = %q, want the only fork's own change %q", k.Type, k.StateKey, got[k], e)
							}
						}
					}
				}
			}
			if len(changedBy) == 0 {
				t.Fatal("the synthetic room has no single-fork changes")
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	none := func(id.EventID) (*event.PDU, bool) { return nil, false }
	s := map[event.StateKey]id.EventID{{Type: "m.room.create"}: "$a"}
	s2 := map[event.StateKey]id.EventID{{Type: "m.room.create"}: "$b"}
	tests := []struct {
		name string
		v    *roomversion.Version
		opts Options
		want error
	}{
		{"no room version", nil, Options{}, ErrNoVersion},
		{"unknown algorithm", &roomversion.Version{ID: "x"}, Options{}, ErrUnknownAlgorithm},
		{"auth chains for the wrong number of sets", roomversion.V10, Options{AuthChains: [][]id.EventID{nil}}, ErrAuthChainsMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ResolveWithOptions(tc.v, []map[event.StateKey]id.EventID{s, s2}, none, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ResolveWithOptions() error = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("no state sets", func(t *testing.T) {
		got, err := Resolve(roomversion.V10, nil, none)
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("Resolve(nil) = %v, %v, want an empty map", got, err)
		}
	})
}
