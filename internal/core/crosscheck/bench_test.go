package crosscheck

// Side-by-side benchmarks of Hafen and gomatrixserverlib on the same input.
//
//	go test ./core/crosscheck/ -run '^$' -bench . -benchmem
//
// The state resolution input is one room v11 (state resolution v2) with
// 1,000 joined members and about 5,000 state events, split at its tip into
// 10 branches that each ban, kick, change power levels, join rules, topics
// and memberships on their own. Both resolvers get the 10 branch states;
// gomatrixserverlib also gets the union of their auth chains precomputed
// (its API requires it), Hafen walks auth_events through its EventLookup.

import (
	"fmt"
	"math/rand"
	"sync"
	"testing"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/stateres"
	gmsl "github.com/matrix-org/gomatrixserverlib"
)

const (
	benchMembers     = 1000
	benchStateEvents = 5000
	benchForks       = 10
)

type benchInput struct {
	room *genRoom
	sets []map[skey]string
}

var (
	benchOnce sync.Once
	bench     benchInput
)

// benchRoom builds the benchmark room once per process.
func benchRoom() benchInput {
	benchOnce.Do(func() { bench = buildBenchRoom(roomversion.V11, 42) })
	return bench
}

func buildBenchRoom(v *roomversion.Version, seed int64) benchInput {
	keys := map[string]*signingKey{}
	for _, s := range servers {
		keys[s] = newSigningKey(s, seed)
	}
	g := &roomGen{rnd: rand.New(rand.NewSource(seed)), v: v, ts: 1_700_000_000_000}
	g.room = &genRoom{Version: v, GV: gmsl.MustGetRoomVersion(gmsl.RoomVersion(v.ID)), ByID: map[string]*genEvent{}, Keys: keys}
	g.creator = "@alice:hafen.test"
	g.users = []string{g.creator, "@bob:hafen.test"}
	b := &branch{state: map[skey]*genEvent{}, memHist: map[string][]*genEvent{}}
	g.room.ID = "!bench:hafen.test"
	g.genCreate(b)
	g.users = g.users[:1]
	g.emit(b, evSpec{typ: "m.room.join_rules", sk: strp(""), sender: g.creator, content: map[string]any{"join_rule": "public"}, note: "public"})
	mods := []string{}
	for i := 1; i < benchMembers; i++ {
		u := fmt.Sprintf("@u%04d:%s", i, servers[i%3])
		g.users = append(g.users, u)
		g.emit(b, evSpec{typ: "m.room.member", sk: strp(u), sender: u, content: map[string]any{"membership": "join"}, note: "join"})
		if i%100 == 0 {
			mods = append(mods, u)
		}
	}
	// Moderators, so that the branches have several powerful senders.
	pl := deepCopy(b.state[skey{"m.room.power_levels", ""}].content()).(map[string]any)
	users := pl["users"].(map[string]any)
	for _, m := range mods {
		users[m] = int64(50 + g.rnd.Intn(3)*10)
	}
	pl["state_default"] = int64(50)
	g.emit(b, evSpec{typ: "m.room.power_levels", sk: strp(""), sender: g.creator, note: "moderators", content: pl})
	for tries := 0; len(b.state) < benchStateEvents && tries < 2*benchStateEvents; tries++ {
		s := mods[g.rnd.Intn(len(mods))]
		g.emit(b, evSpec{typ: "org.example.setting", sk: strp(fmt.Sprintf("k%d", len(b.state))), sender: s,
			content: map[string]any{"value": int64(len(b.state))}, note: "setting"})
	}
	base := b.clone()
	var sets []map[skey]string
	for f := 0; f < benchForks; f++ {
		br := base.clone()
		for i := 0; i < 12; i++ {
			s := mods[g.rnd.Intn(len(mods))]
			if g.rnd.Intn(4) == 0 {
				s = g.creator
			}
			t := g.users[1+g.rnd.Intn(len(g.users)-1)]
			var es evSpec
			switch g.rnd.Intn(6) {
			case 0:
				es = evSpec{typ: "m.room.member", sk: strp(t), sender: s, content: map[string]any{"membership": "ban"}, note: "ban"}
			case 1:
				es = evSpec{typ: "m.room.member", sk: strp(t), sender: s, content: map[string]any{"membership": "leave"}, note: "kick"}
			case 2:
				c := deepCopy(br.state[skey{"m.room.power_levels", ""}].content()).(map[string]any)
				c["users"].(map[string]any)[t] = int64(g.rnd.Intn(5) * 10)
				es = evSpec{typ: "m.room.power_levels", sk: strp(""), sender: g.creator, content: c, note: "power levels"}
			case 3:
				es = evSpec{typ: "m.room.join_rules", sk: strp(""), sender: s, content: map[string]any{"join_rule": g.pick([]string{"public", "invite"})}, note: "join rules"}
			case 4:
				es = evSpec{typ: "m.room.topic", sk: strp(""), sender: s, content: map[string]any{"topic": fmt.Sprint(f, i)}, note: "topic"}
			case 5:
				es = evSpec{typ: "org.example.setting", sk: strp(fmt.Sprintf("k%d", g.rnd.Intn(benchStateEvents))), sender: s,
					content: map[string]any{"value": int64(-i)}, note: "setting"}
			}
			g.emit(br, es)
		}
		set := make(map[skey]string, len(br.state))
		for k, e := range br.state {
			set[k] = e.ID
		}
		sets = append(sets, set)
	}
	return benchInput{room: g.room, sets: sets}
}

func BenchmarkStateResHafen(b *testing.B) {
	in := benchRoom()
	h := hafenRoomFor(in.room)
	sets := toHafenSets(in.sets)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := stateres.Resolve(in.room.Version, sets, h.lookup); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStateResGMSL(b *testing.B) {
	in := benchRoom()
	g := &roomGen{room: in.room}
	sets := g.gmslStateSets(in.sets)
	auth := g.gmslAuthChains(in.sets)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := gmsl.ResolveConflictsNew(in.room.GV.Version(), sets, auth, gmslUserID, func(string) bool { return false }); err != nil {
			b.Fatal(err)
		}
	}
}

// authBenchCases are the events of the benchmark room with their auth
// state, prepared for both implementations.
type authBenchCase struct {
	hafenEvent *event.PDU
	hafenState authrules.StateMap
	gmslEvent  gmsl.PDU
	gmslState  *gmsl.AuthEvents
}

func authBenchCases(b *testing.B) []authBenchCase {
	in := benchRoom()
	h := hafenRoomFor(in.room)
	var cases []authBenchCase
	for _, e := range in.room.Events {
		p := h.pdus[e.ID]
		if p == nil || e.G == nil {
			b.Fatalf("event %s did not parse", e.ID)
		}
		sm, err := h.stateMap(e)
		if err != nil {
			b.Fatal(err)
		}
		var st []gmsl.PDU
		for _, a := range e.AuthState {
			st = append(st, a.G)
		}
		provider, err := gmsl.NewAuthEvents(st)
		if err != nil {
			b.Fatal(err)
		}
		cases = append(cases, authBenchCase{p, sm, e.G, provider})
	}
	return cases
}

func BenchmarkAuthCheckHafen(b *testing.B) {
	cases := authBenchCases(b)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		c := &cases[i%len(cases)]
		_ = authrules.Check(c.hafenEvent, c.hafenState)
		i++
	}
}

func BenchmarkAuthCheckGMSL(b *testing.B) {
	cases := authBenchCases(b)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		c := &cases[i%len(cases)]
		_ = gmsl.Allowed(c.gmslEvent, c.gmslState, gmslUserID)
		i++
	}
}

// TestBenchRoomAgrees makes sure the benchmark input is a meaningful one:
// both resolvers give the same answer on it, and the answer is not just one
// of the branch states.
func TestBenchRoomAgrees(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 6,000-event room")
	}
	in := benchRoom()
	h := hafenRoomFor(in.room)
	got, err := h.resolve(in.sets)
	if err != nil {
		t.Fatalf("stateres.Resolve: %v", err)
	}
	if d := diffState(got, refResolve(in.room, in.sets)); d != "" {
		t.Errorf("benchmark room: stateres.Resolve differs from the spec:%s", d)
	}
	g := &roomGen{room: in.room}
	gm, err := gmslResolve(in.room.GV, g.gmslStateSets(in.sets), g.gmslAuthChains(in.sets))
	if err != nil {
		t.Logf("benchmark room: gomatrixserverlib fails: %v", err)
	} else if d := diffState(got, gm); d != "" {
		t.Logf("benchmark room: gomatrixserverlib differs:%s", d)
	}
	if len(got) < benchStateEvents {
		t.Errorf("benchmark room resolved to %d state entries, want at least %d", len(got), benchStateEvents)
	}
	var members int
	for k, v := range got {
		if k.Type == "m.room.member" && in.room.ByID[v].membership() == "join" {
			members++
		}
	}
	t.Logf("benchmark room: %d events, %d resolved state entries, %d joined members, %d branches",
		len(in.room.Events), len(got), members, len(in.sets))
}
