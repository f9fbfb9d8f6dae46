package crosscheck

// The room generator: random but plausible rooms, deterministic per seed,
// made of real signed PDUs.
//
// A room starts like a real one (create, creator join, power levels, join
// rules) and then grows by random actions of several users on several
// servers: messages, topic and name changes, joins (restricted joins with
// join_authorised_via_users_server where the version has them), invites,
// leaves, kicks, bans, unbans, knocks, power level and join rule changes,
// redactions and custom state. Now and then the DAG forks into several
// branches from a common ancestor, each branch changes state on its own, and
// an event with several prev_events merges them again; every merge is a
// state resolution case.
//
// Besides events meant to be accepted the generator makes probes that never
// enter the DAG: events from unauthorised senders, events citing wrong or
// stale auth events, malformed create events, and events whose JSON was
// altered after signing.
//
// Each event's expected auth decision is gomatrixserverlib's, except where
// the spec says otherwise (see specDecision); only accepted events extend
// the room.

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/hafenchat/hafen/internal/core/roomversion"
	gmsl "github.com/matrix-org/gomatrixserverlib"
)

var (
	flagSeed   = flag.Int64("crosscheck.seed", envInt("HAFEN_CROSSCHECK_SEED", 1), "seed of the generated rooms")
	flagRooms  = flag.Int("crosscheck.rooms", int(envInt("HAFEN_CROSSCHECK_ROOMS", 200)), "rooms per room version")
	flagEvents = flag.Int("crosscheck.events", int(envInt("HAFEN_CROSSCHECK_EVENTS", 50)), "events per room")
)

func envInt(name string, def int64) int64 {
	if s := os.Getenv(name); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	return def
}

// testedVersions are the room versions the differential tests run on.
var testedVersions = []*roomversion.Version{
	roomversion.V1, roomversion.V2, roomversion.V6, roomversion.V8,
	roomversion.V10, roomversion.V11, roomversion.V12,
}

// skey is a (type, state_key) pair.
type skey struct{ Type, StateKey string }

// genEvent is one generated PDU with what the generator knows about it.
type genEvent struct {
	ID       string
	JSON     []byte // as sent over federation
	obj      map[string]any
	refHash  []byte
	Type     string
	StateKey *string
	Sender   string
	AuthIDs  []string
	PrevIDs  []string
	Depth    int64
	Note     string // what the generator meant to make
	Probe    bool   // deliberately unusual; never part of the DAG
	Tamper   string // "", "content" or "signature": JSON altered after signing
	// Signers are the servers that signed the event.
	Signers []string

	G    gmsl.PDU // gomatrixserverlib's parse of JSON
	GErr error

	// AuthState is the state the event is authorised against: its
	// auth_events, plus the room's create event in v12.
	AuthState []*genEvent
	// Allowed is the spec's decision; GMSLAllowed gomatrixserverlib's; where
	// they differ Deviation says why.
	Allowed     bool
	GMSLAllowed bool
	GMSLReason  string
	Deviation   string
}

func (e *genEvent) key() skey { return skey{e.Type, *e.StateKey} }

func (e *genEvent) content() map[string]any {
	c, _ := e.obj["content"].(map[string]any)
	return c
}

func (e *genEvent) membership() string {
	m, _ := e.content()["membership"].(string)
	return m
}

// fork is one state resolution case.
type fork struct {
	Sets []map[skey]string
	// Want is the resolved state the spec asks for; GMSL is
	// gomatrixserverlib's answer (nil with GMSLErr on failure).
	Want      map[skey]string
	GMSL      map[skey]string
	GMSLErr   error
	Deviation string
}

type genRoom struct {
	Version *roomversion.Version
	GV      gmsl.IRoomVersion
	ID      string
	Create  *genEvent
	Events  []*genEvent
	ByID    map[string]*genEvent
	Forks   []*fork
	Keys    map[string]*signingKey
}

type branch struct {
	state   map[skey]*genEvent
	tips    []*genEvent
	plHist  []*genEvent
	memHist map[string][]*genEvent
}

func (b *branch) clone() *branch {
	c := &branch{state: make(map[skey]*genEvent, len(b.state)), tips: slices.Clone(b.tips),
		plHist: slices.Clone(b.plHist), memHist: map[string][]*genEvent{}}
	for k, v := range b.state {
		c.state[k] = v
	}
	for k, v := range b.memHist {
		c.memHist[k] = slices.Clone(v)
	}
	return c
}

func (b *branch) membership(u string) string {
	if e := b.state[skey{"m.room.member", u}]; e != nil {
		return e.membership()
	}
	return ""
}

func (b *branch) joinRule() string {
	if e := b.state[skey{"m.room.join_rules", ""}]; e != nil {
		s, _ := e.content()["join_rule"].(string)
		return s
	}
	return ""
}

// roughLevel estimates a user's power level; it only steers the random
// choices, never a decision.
func (b *branch) roughLevel(r *genRoom, u string) int64 {
	if r.Version.PrivilegedCreators && isCreator(r, u) {
		return 1 << 53
	}
	pl := b.state[skey{"m.room.power_levels", ""}]
	if pl == nil {
		if u == r.Create.Sender {
			return 100
		}
		return 0
	}
	c := pl.content()
	if users, ok := c["users"].(map[string]any); ok {
		if v, ok := users[u]; ok {
			return roughInt(v)
		}
	}
	return roughInt(c["users_default"])
}

func roughInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int:
		return int64(x)
	case float64:
		return int64(x)
	case json.Number:
		n, _ := x.Int64()
		return n
	case string:
		n, _ := strconv.ParseInt(trimSpace(x), 10, 64)
		return n
	}
	return 0
}

func trimSpace(s string) string {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	return s
}

func isCreator(r *genRoom, u string) bool {
	if u == r.Create.Sender {
		return true
	}
	if ac, ok := r.Create.content()["additional_creators"].([]any); ok {
		for _, a := range ac {
			if a == u {
				return true
			}
		}
	}
	return false
}

// evSpec describes an event to make.
type evSpec struct {
	typ     string
	sk      *string
	sender  string
	content map[string]any
	redacts string
	note    string
	probe   bool
	// authMut changes the selected auth events (for probes).
	authMut func([]*genEvent) []*genEvent
	// signers are servers that sign besides the sender's.
	signers []string
	// withRoomID gives a v12 create event a room_id (a probe).
	withRoomID bool
	// prev overrides the branch tips as prev_events (empty: none).
	prev []*genEvent
	// tamper alters the JSON after signing: "content" or "signature".
	tamper string
}

func strp(s string) *string { return &s }

type roomGen struct {
	rnd     *rand.Rand
	v       *roomversion.Version
	room    *genRoom
	ts      int64
	users   []string
	creator string
	counter int
}

var servers = []string{"hafen.test", "remote.test", "other.test", "evil.test"}

func serverOf(u string) string {
	for i := 0; i < len(u); i++ {
		if u[i] == ':' {
			return u[i+1:]
		}
	}
	return ""
}

// genCache shares generated rooms between the tests of one run.
var genCache sync.Map

type genKey struct {
	v             roomversion.ID
	seed          int64
	rooms, events int
}

// roomsFor returns the generated rooms of version v for the run's flags.
func roomsFor(tb testing.TB, v *roomversion.Version) []*genRoom {
	tb.Helper()
	k := genKey{v.ID, *flagSeed, *flagRooms, *flagEvents}
	if r, ok := genCache.Load(k); ok {
		return r.([]*genRoom)
	}
	rooms := generateRooms(v, k.seed, k.rooms, k.events)
	genCache.Store(k, rooms)
	return rooms
}

func generateRooms(v *roomversion.Version, seed int64, nRooms, nEvents int) []*genRoom {
	keys := map[string]*signingKey{}
	for _, s := range servers {
		keys[s] = newSigningKey(s, seed)
	}
	vn, _ := strconv.Atoi(string(v.ID))
	rooms := make([]*genRoom, 0, nRooms)
	for i := 0; i < nRooms; i++ {
		g := &roomGen{
			rnd: rand.New(rand.NewSource(seed*1_000_003 + int64(vn)*10_007 + int64(i))),
			v:   v,
			ts:  1_700_000_000_000 + int64(i)*10_000_000,
		}
		g.room = &genRoom{Version: v, GV: gmsl.MustGetRoomVersion(gmsl.RoomVersion(v.ID)),
			ByID: map[string]*genEvent{}, Keys: keys}
		g.run(nEvents)
		rooms = append(rooms, g.room)
	}
	return rooms
}

var userPool = []string{
	"@bob:hafen.test", "@carol:remote.test", "@dave:remote.test", "@erin:other.test",
	"@frank:other.test", "@grace:hafen.test", "@heidi:remote.test", "@mallory:evil.test",
}

func (g *roomGen) pick(xs []string) string { return xs[g.rnd.Intn(len(xs))] }

func (g *roomGen) chance(p float64) bool { return g.rnd.Float64() < p }

func (g *roomGen) run(n int) {
	g.creator = "@alice:hafen.test"
	if g.chance(0.2) {
		g.creator = "@carol:remote.test"
	}
	pool := slices.Clone(userPool)
	g.rnd.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	g.users = append([]string{g.creator}, pool[:3+g.rnd.Intn(4)]...)
	g.users = dedupe(g.users)

	b := &branch{state: map[skey]*genEvent{}, memHist: map[string][]*genEvent{}}
	g.genCreate(b)
	for len(g.room.Events) < n {
		if g.chance(0.06) && len(g.room.Events) > 6 {
			g.genFork(b, n)
			continue
		}
		if g.chance(0.04) {
			g.genCreateProbe(b)
			continue
		}
		g.step(b, false)
	}
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	out := xs[:0]
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func (g *roomGen) genCreate(b *branch) {
	v := g.v
	content := map[string]any{"room_version": string(v.ID)}
	if !v.CreatorFromSender {
		content["creator"] = g.creator
	}
	if v.PrivilegedCreators && g.chance(0.3) {
		content["additional_creators"] = []any{g.users[1]}
	}
	if g.chance(0.1) {
		content["m.federate"] = false
	}
	if !v.RoomIDFromCreateEvent {
		g.room.ID = fmt.Sprintf("!r%d_%d:%s", g.rnd.Intn(1_000_000), len(g.room.Events), serverOf(g.creator))
	}
	create := g.emit(b, evSpec{typ: "m.room.create", sk: strp(""), sender: g.creator, content: content, note: "create"})
	g.room.Create = create
	if v.RoomIDFromCreateEvent {
		g.room.ID = "!" + create.ID[1:]
	}
	g.emit(b, evSpec{typ: "m.room.member", sk: strp(g.creator), sender: g.creator,
		content: map[string]any{"membership": "join", "displayname": "Creator ☕"}, note: "creator join"})
	users := map[string]any{}
	if !v.PrivilegedCreators {
		users[g.creator] = int64(100)
	}
	users[g.users[1]] = int64(50 + 50*g.rnd.Intn(2))
	if v.PrivilegedCreators && isCreator(g.room, g.users[1]) {
		delete(users, g.users[1])
	}
	pl := map[string]any{
		"users": users, "users_default": int64(0), "events_default": int64(0), "state_default": int64(50),
		"ban": int64(50), "kick": int64(50), "redact": int64(50), "invite": int64(g.rnd.Intn(2) * 50),
		"events":        map[string]any{"m.room.name": int64(50), "m.room.power_levels": int64(100), "m.room.topic": int64(g.rnd.Intn(2) * 50)},
		"notifications": map[string]any{"room": int64(50)},
	}
	g.emit(b, evSpec{typ: "m.room.power_levels", sk: strp(""), sender: g.creator, content: pl, note: "initial power levels"})
	jr := []string{"public", "invite"}
	if v.Knocking {
		jr = append(jr, "knock")
	}
	if v.RestrictedJoins {
		jr = append(jr, "restricted")
	}
	g.emit(b, evSpec{typ: "m.room.join_rules", sk: strp(""), sender: g.creator,
		content: g.joinRuleContent(g.pick(jr)), note: "initial join rules"})
}

func (g *roomGen) joinRuleContent(rule string) map[string]any {
	c := map[string]any{"join_rule": rule}
	if rule == "restricted" || rule == "knock_restricted" {
		c["allow"] = []any{map[string]any{"type": "m.room_membership", "room_id": "!space:hafen.test"}}
	}
	return c
}

// genCreateProbe makes a malformed (or, rarely, fine) second create event.
func (g *roomGen) genCreateProbe(b *branch) {
	v := g.v
	content := map[string]any{"room_version": string(v.ID)}
	if !v.CreatorFromSender {
		content["creator"] = g.creator
	}
	sender := g.creator
	es := evSpec{typ: "m.room.create", sk: strp(""), probe: true, prev: []*genEvent{}}
	switch g.rnd.Intn(6) {
	case 0:
		content["room_version"] = "99-unknown"
		es.note = "create with unknown room_version"
	case 1:
		if !v.CreatorFromSender {
			delete(content, "creator")
			es.note = "create without creator"
		} else {
			content["creator"] = "@someone:else.test"
			es.note = "create with an ignored creator field"
		}
	case 2:
		sender = "@mallory:evil.test"
		es.note = "create by a sender of another domain than the room ID"
	case 3:
		es.prev = nil
		es.note = "create with prev_events"
	case 4:
		if v.PrivilegedCreators {
			content["additional_creators"] = []any{"not-a-user-id"}
			es.note = "create with an invalid additional creator"
		} else {
			es.note = "create with a non-empty state key"
			es.sk = strp("x")
		}
	case 5:
		if v.RoomIDFromCreateEvent {
			es.withRoomID = true
			es.note = "v12 create with a room_id"
		} else {
			content["room_version"] = int64(5)
			es.note = "create with a non-string room_version"
		}
	}
	es.sender = sender
	es.content = content
	g.emit(b, es)
}

// genFork forks the DAG, grows each branch and merges them again.
func (g *roomGen) genFork(b *branch, n int) {
	k := 2 + g.rnd.Intn(3)
	branches := make([]*branch, k)
	for i := range branches {
		branches[i] = b.clone()
	}
	steps := k * (2 + g.rnd.Intn(4))
	for s := 0; s < steps && len(g.room.Events) < n+10; s++ {
		g.step(branches[g.rnd.Intn(k)], true)
	}
	f := &fork{}
	var tips []*genEvent
	for _, br := range branches {
		set := make(map[skey]string, len(br.state))
		for key, e := range br.state {
			set[key] = e.ID
		}
		f.Sets = append(f.Sets, set)
		for _, t := range br.tips {
			if !slices.Contains(tips, t) {
				tips = append(tips, t)
			}
		}
	}
	g.room.Forks = append(g.room.Forks, f)
	f.GMSL, f.GMSLErr = gmslResolve(g.room.GV, g.gmslStateSets(f.Sets), g.gmslAuthChains(f.Sets))
	f.Want, f.Deviation = specResolution(g.room, f)
	// Continue from the resolved state.
	nb := b
	nb.state = map[skey]*genEvent{}
	for key, id := range f.Want {
		nb.state[key] = g.room.ByID[id]
	}
	nb.tips = tips
	for _, br := range branches {
		nb.plHist = append(nb.plHist, br.plHist...)
		for u, h := range br.memHist {
			nb.memHist[u] = append(nb.memHist[u], h...)
		}
	}
	// The merge event.
	sender := g.someJoined(nb, true)
	g.emit(nb, evSpec{typ: "m.room.topic", sk: strp(""), sender: sender,
		content: map[string]any{"topic": fmt.Sprintf("merged %d branches", len(tips))}, note: "merge", prev: tips})
}

func (g *roomGen) gmslStateSets(sets []map[skey]string) [][]gmsl.PDU {
	out := make([][]gmsl.PDU, len(sets))
	for i, s := range sets {
		keys := sortedKeys(s)
		for _, k := range keys {
			out[i] = append(out[i], g.room.ByID[s[k]].G)
		}
	}
	return out
}

func sortedKeys(s map[skey]string) []skey {
	keys := make([]skey, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Type != keys[j].Type {
			return keys[i].Type < keys[j].Type
		}
		return keys[i].StateKey < keys[j].StateKey
	})
	return keys
}

// authChainIDs returns the union of the auth chains of the events in sets,
// in a deterministic order.
func authChainIDs(r *genRoom, sets []map[skey]string) []string {
	seen := map[string]bool{}
	var out []string
	var walk func(id string)
	walk = func(id string) {
		for _, a := range r.ByID[id].AuthIDs {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
				walk(a)
			}
		}
	}
	for _, s := range sets {
		for _, k := range sortedKeys(s) {
			walk(s[k])
		}
	}
	if r.Version.RoomIDFromCreateEvent && !seen[r.Create.ID] {
		out = append(out, r.Create.ID)
	}
	return out
}

func (g *roomGen) gmslAuthChains(sets []map[skey]string) []gmsl.PDU {
	var out []gmsl.PDU
	for _, id := range authChainIDs(g.room, sets) {
		out = append(out, g.room.ByID[id].G)
	}
	return out
}

// joined lists users whose membership in b is join, in a fixed order.
func (g *roomGen) joined(b *branch) []string {
	var out []string
	for _, u := range g.users {
		if b.membership(u) == "join" {
			out = append(out, u)
		}
	}
	return out
}

// someJoined picks a joined user, preferring powerful ones if strong.
func (g *roomGen) someJoined(b *branch, strong bool) string {
	j := g.joined(b)
	if len(j) == 0 {
		return g.creator
	}
	if strong {
		best := j[0]
		for _, u := range j {
			if b.roughLevel(g.room, u) > b.roughLevel(g.room, best) {
				best = u
			}
		}
		if g.chance(0.7) {
			return best
		}
	}
	return g.pick(j)
}

// sender picks the sender of an event that needs power: usually a strong
// member, sometimes anyone.
func (g *roomGen) sender(b *branch) string {
	switch x := g.rnd.Float64(); {
	case x < 0.55:
		return g.someJoined(b, true)
	case x < 0.85:
		return g.someJoined(b, false)
	default:
		return g.pick(g.users)
	}
}

func (g *roomGen) others(b *branch, not string, pred func(m string) bool) []string {
	var out []string
	for _, u := range g.users {
		if u != not && pred(b.membership(u)) {
			out = append(out, u)
		}
	}
	return out
}

// step makes one event on branch b.
func (g *roomGen) step(b *branch, inFork bool) {
	v := g.v
	type action struct {
		w int
		f func() evSpec
	}
	member := func(sender, target, membership string, extra map[string]any) evSpec {
		c := map[string]any{"membership": membership}
		for k, x := range extra {
			c[k] = x
		}
		return evSpec{typ: "m.room.member", sk: strp(target), sender: sender, content: c,
			note: fmt.Sprintf("%s by %s for %s", membership, sender, target)}
	}
	actions := []action{
		{10, func() evSpec {
			s := g.someJoined(b, false)
			if g.chance(0.15) {
				s = g.pick(g.users)
			}
			return evSpec{typ: "m.room.message", sender: s, note: "message",
				content: map[string]any{"msgtype": "m.text", "body": fmt.Sprintf("hello %d\nÜnïcødé 日本 🚢", g.counter)}}
		}},
		{boost(inFork, 6), func() evSpec {
			typ := g.pick([]string{"m.room.topic", "m.room.name"})
			key := "topic"
			if typ == "m.room.name" {
				key = "name"
			}
			return evSpec{typ: typ, sk: strp(""), sender: g.sender(b), note: typ,
				content: map[string]any{key: fmt.Sprintf("%s %d", key, g.counter)}}
		}},
		{10, func() evSpec {
			cands := g.others(b, "", func(m string) bool { return m != "join" })
			if len(cands) == 0 || g.chance(0.1) {
				cands = g.users
			}
			u := g.pick(cands)
			extra := map[string]any{}
			if g.chance(0.3) {
				extra["displayname"] = "User " + u[1:3]
			}
			es := member(u, u, "join", extra)
			jr := b.joinRule()
			if v.RestrictedJoins && (jr == "restricted" || jr == "knock_restricted" || g.chance(0.05)) && g.chance(0.85) {
				via := g.someJoined(b, g.chance(0.7))
				if g.chance(0.1) {
					via = g.pick(g.users)
				}
				es.content["join_authorised_via_users_server"] = via
				es.signers = append(es.signers, serverOf(via))
				es.note += " via " + via
			}
			if g.chance(0.05) {
				// Someone joining somebody else.
				es.sender = g.someJoined(b, true)
				es.note = "join of another user"
			}
			return es
		}},
		{8, func() evSpec {
			s := g.sender(b)
			cands := g.others(b, s, func(m string) bool { return m != "join" && m != "ban" })
			if len(cands) == 0 || g.chance(0.15) {
				cands = g.users
			}
			t := g.pick(cands)
			es := member(s, t, "invite", nil)
			es.signers = []string{serverOf(t)}
			return es
		}},
		{5, func() evSpec {
			cands := g.others(b, "", func(m string) bool { return m == "join" || m == "invite" || m == "knock" })
			if len(cands) == 0 || g.chance(0.15) {
				cands = g.users
			}
			u := g.pick(cands)
			return member(u, u, "leave", nil)
		}},
		{boost(inFork, 4), func() evSpec {
			s := g.sender(b)
			cands := g.others(b, s, func(m string) bool { return m == "join" || m == "invite" || m == "knock" })
			if len(cands) == 0 {
				cands = g.users
			}
			return member(s, g.pick(cands), "leave", map[string]any{"reason": "kick"})
		}},
		{boost(inFork, 4), func() evSpec {
			s := g.sender(b)
			return member(s, g.pick(g.others(b, s, func(string) bool { return true })), "ban", map[string]any{"reason": "spam"})
		}},
		{3, func() evSpec {
			s := g.sender(b)
			cands := g.others(b, s, func(m string) bool { return m == "ban" })
			if len(cands) == 0 {
				cands = g.users
			}
			es := member(s, g.pick(cands), "leave", nil)
			es.note = "unban: " + es.note
			return es
		}},
		{knockWeight(v), func() evSpec {
			cands := g.others(b, "", func(m string) bool { return m != "join" })
			if len(cands) == 0 {
				cands = g.users
			}
			u := g.pick(cands)
			return member(u, u, "knock", map[string]any{"reason": "let me in"})
		}},
		{boost(inFork, 6), func() evSpec { return g.powerLevelChange(b) }},
		{boost(inFork, 4), func() evSpec {
			rules := []string{"public", "invite", "invite", "public"}
			if v.Knocking {
				rules = append(rules, "knock")
			}
			if v.RestrictedJoins {
				rules = append(rules, "restricted", "restricted")
			}
			if v.KnockRestricted {
				rules = append(rules, "knock_restricted")
			}
			if g.chance(0.08) {
				rules = []string{"private", "knock", "restricted"}
			}
			r := g.pick(rules)
			return evSpec{typ: "m.room.join_rules", sk: strp(""), sender: g.sender(b),
				content: g.joinRuleContent(r), note: "join rule " + r}
		}},
		{3, func() evSpec {
			target := g.room.Events[g.rnd.Intn(len(g.room.Events))].ID
			es := evSpec{typ: "m.room.redaction", sender: g.sender(b), redacts: target,
				content: map[string]any{"reason": "oops"}, note: "redaction"}
			if v.RedactsInContent {
				es.content["redacts"] = target
				es.redacts = ""
			}
			return es
		}},
		{2, func() evSpec {
			return evSpec{typ: "m.room.history_visibility", sk: strp(""), sender: g.sender(b),
				content: map[string]any{"history_visibility": g.pick([]string{"shared", "joined", "invited"})}, note: "history visibility"}
		}},
		{2, func() evSpec {
			s := g.someJoined(b, false)
			sk := s
			if g.chance(0.4) {
				sk = g.pick(g.users)
			}
			return evSpec{typ: "org.example.status", sk: strp(sk), sender: s,
				content: map[string]any{"status": "busy"}, note: "custom state with user state key " + sk}
		}},
		{aliasWeight(v), func() evSpec {
			s := g.pick(g.users)
			sk := serverOf(s)
			if g.chance(0.3) {
				sk = g.pick(servers)
			}
			return evSpec{typ: "m.room.aliases", sk: strp(sk), sender: s,
				content: map[string]any{"aliases": []any{"#room:" + sk}}, note: "aliases"}
		}},
		{1, func() evSpec {
			return evSpec{typ: "m.room.third_party_invite", sk: strp(fmt.Sprintf("tok%d", g.counter)), sender: g.sender(b),
				content: map[string]any{"display_name": "t***@example.org", "key_validity_url": "https://id.example.org/v",
					"public_key": "Zm9vYmFy"}, note: "third party invite"}
		}},
		{1, func() evSpec {
			s := g.someJoined(b, true)
			t := g.pick(g.users)
			es := member(s, t, "invite", map[string]any{"third_party_invite": map[string]any{
				"display_name": "t***@example.org",
				"signed":       map[string]any{"mxid": t, "token": "nosuchtoken", "signatures": map[string]any{"id.example.org": map[string]any{"ed25519:0": "c2ln"}}},
			}})
			es.note = "invite from a third party invite without a matching token"
			es.probe = true
			return es
		}},
		{1, func() evSpec {
			s := g.someJoined(b, true)
			es := member(s, s, g.pick([]string{"join", "leave", "invite", "ban", "knock"}), nil)
			es.content["membership"] = g.pick([]string{"xyzzy", "JOIN"})
			es.note = "unknown membership"
			es.probe = true
			return es
		}},
	}
	total := 0
	for _, a := range actions {
		total += a.w
	}
	x := g.rnd.Intn(total)
	var es evSpec
	for _, a := range actions {
		if x < a.w {
			es = a.f()
			break
		}
		x -= a.w
	}
	g.counter++
	// Turn some events into probes with wrong auth events or altered JSON.
	switch y := g.rnd.Float64(); {
	case y < 0.07:
		g.wrongAuth(b, &es)
	case y < 0.09:
		es.tamper = g.pick([]string{"content", "signature"})
		es.probe = true
		es.note += " (tampered " + es.tamper + ")"
	}
	g.emit(b, es)
}

func boost(inFork bool, w int) int {
	if inFork {
		return w * 3
	}
	return w
}

func knockWeight(v *roomversion.Version) int {
	if v.Knocking {
		return 4
	}
	return 1
}

func aliasWeight(v *roomversion.Version) int {
	if v.SpecialCaseAliasesAuth {
		return 3
	}
	return 1
}

// wrongAuth turns es into a probe whose auth events are wrong.
func (g *roomGen) wrongAuth(b *branch, es *evSpec) {
	es.probe = true
	switch g.rnd.Intn(5) {
	case 0:
		if !g.v.RoomIDFromCreateEvent {
			es.note += " (auth events without create)"
			es.authMut = dropType("m.room.create", "")
			return
		}
		fallthrough
	case 1:
		es.note += " (auth events without power levels)"
		es.authMut = dropType("m.room.power_levels", "")
	case 2:
		es.note += " (auth events without the sender's membership)"
		es.authMut = dropType("m.room.member", es.sender)
	case 3:
		if len(b.plHist) > 1 {
			old := b.plHist[g.rnd.Intn(len(b.plHist)-1)]
			es.note += " (auth events with stale power levels)"
			es.authMut = replaceWith(old)
			return
		}
		fallthrough
	case 4:
		if h := b.memHist[es.sender]; len(h) > 1 {
			old := h[g.rnd.Intn(len(h)-1)]
			es.note += " (auth events with a stale sender membership)"
			es.authMut = replaceWith(old)
			return
		}
		es.note += " (auth events without the sender's membership)"
		es.authMut = dropType("m.room.member", es.sender)
	}
}

func dropType(typ, sk string) func([]*genEvent) []*genEvent {
	return func(in []*genEvent) []*genEvent {
		return slices.DeleteFunc(slices.Clone(in), func(e *genEvent) bool { return e.Type == typ && *e.StateKey == sk })
	}
}

func replaceWith(old *genEvent) func([]*genEvent) []*genEvent {
	return func(in []*genEvent) []*genEvent {
		out := slices.DeleteFunc(slices.Clone(in), func(e *genEvent) bool { return e.key() == old.key() })
		return append(out, old)
	}
}

// powerLevelChange makes a new m.room.power_levels content from the current
// one with a few random changes.
func (g *roomGen) powerLevelChange(b *branch) evSpec {
	v := g.v
	cur := b.state[skey{"m.room.power_levels", ""}]
	var c map[string]any
	if cur != nil {
		c = deepCopy(cur.content()).(map[string]any)
	} else {
		c = map[string]any{}
	}
	users, _ := c["users"].(map[string]any)
	if users == nil {
		users = map[string]any{}
		c["users"] = users
	}
	levels := []int64{0, 10, 25, 50, 75, 100}
	note := "power levels:"
	for n := 1 + g.rnd.Intn(3); n > 0; n-- {
		switch g.rnd.Intn(9) {
		case 0, 1, 2:
			u := g.pick(g.users)
			if v.PrivilegedCreators && isCreator(g.room, u) && !g.chance(0.2) {
				continue
			}
			if g.chance(0.2) {
				delete(users, u)
				note += " remove " + u
			} else {
				users[u] = g.pick64(levels)
				note += " set " + u
			}
		case 3:
			k := g.pick([]string{"ban", "kick", "invite", "redact", "state_default", "events_default", "users_default"})
			if g.chance(0.15) {
				delete(c, k)
				note += " remove " + k
			} else {
				c[k] = g.pick64(levels)
				note += " set " + k
			}
		case 4:
			ev, _ := c["events"].(map[string]any)
			if ev == nil {
				ev = map[string]any{}
				c["events"] = ev
			}
			k := g.pick([]string{"m.room.topic", "m.room.name", "m.room.message", "m.room.power_levels", "m.room.redaction", "org.example.status"})
			if g.chance(0.2) {
				delete(ev, k)
			} else {
				ev[k] = g.pick64(levels)
			}
			note += " events " + k
		case 5:
			nt, _ := c["notifications"].(map[string]any)
			if nt == nil {
				nt = map[string]any{}
				c["notifications"] = nt
			}
			nt["room"] = g.pick64(levels)
			note += " notifications"
		case 6:
			if !v.IntegerPowerLevels {
				// Pre-v10 rooms also accept integers written as strings.
				k := g.pick([]string{"ban", "kick", "users_default", "state_default"})
				c[k] = g.pick([]string{"50", "0", "000100", "+50", " 50 ", "-1", " +10 "})
				note += " string " + k
			} else if g.chance(0.5) {
				c["ban"] = "50"
				note += " string ban in an integer-only version"
			}
		case 7:
			if !v.IntegerPowerLevels && len(users) > 0 {
				u := g.pick(g.users)
				users[u] = g.pick([]string{"50", "100", "0", " 75 "})
				note += " string user level"
			} else {
				users["not-a-user"] = int64(10)
				note += " invalid user ID key"
			}
		case 8:
			if v.PrivilegedCreators {
				users[g.room.Create.Sender] = int64(100)
				note += " creator in users"
			} else {
				c["events_default"] = int64(g.pick64(levels))
				note += " events_default"
			}
		}
	}
	return evSpec{typ: "m.room.power_levels", sk: strp(""), sender: g.sender(b), content: c, note: note}
}

func (g *roomGen) pick64(xs []int64) int64 { return xs[g.rnd.Intn(len(xs))] }

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(x))
		for k, y := range x {
			c[k] = deepCopy(y)
		}
		return c
	case []any:
		c := make([]any, len(x))
		for i, y := range x {
			c[i] = deepCopy(y)
		}
		return c
	}
	return v
}

// selectAuth is the spec's auth events selection.
// Spec: https://spec.matrix.org/v1.19/server-server-api/#auth-events-selection
func (g *roomGen) selectAuth(b *branch, es *evSpec) []*genEvent {
	if es.typ == "m.room.create" {
		return nil
	}
	var keys []skey
	if !g.v.RoomIDFromCreateEvent {
		keys = append(keys, skey{"m.room.create", ""})
	}
	keys = append(keys, skey{"m.room.power_levels", ""}, skey{"m.room.member", es.sender})
	if es.typ == "m.room.member" && es.sk != nil {
		keys = append(keys, skey{"m.room.member", *es.sk})
		m, _ := es.content["membership"].(string)
		if m == "join" || m == "invite" || m == "knock" {
			keys = append(keys, skey{"m.room.join_rules", ""})
		}
		if tpi, ok := es.content["third_party_invite"].(map[string]any); ok && m == "invite" {
			if signed, ok := tpi["signed"].(map[string]any); ok {
				if tok, ok := signed["token"].(string); ok {
					keys = append(keys, skey{"m.room.third_party_invite", tok})
				}
			}
		}
		if via, ok := es.content["join_authorised_via_users_server"].(string); ok && m == "join" && g.v.RestrictedJoins {
			keys = append(keys, skey{"m.room.member", via})
		}
	}
	var out []*genEvent
	seen := map[skey]bool{}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if e := b.state[k]; e != nil {
			out = append(out, e)
		}
	}
	return out
}

// emit builds, signs and judges an event, and applies it to b when it is
// accepted and not a probe.
func (g *roomGen) emit(b *branch, es evSpec) *genEvent {
	v := g.v
	r := g.room
	auth := g.selectAuth(b, &es)
	if es.authMut != nil {
		auth = es.authMut(auth)
	}
	prev := es.prev
	if prev == nil {
		prev = b.tips
	}
	depth := int64(1)
	for _, p := range prev {
		depth = max(depth, p.Depth+1)
	}
	// Timestamps advance, but sometimes stand still so that ties are broken
	// by event ID.
	if !g.chance(0.15) {
		g.ts += 1 + int64(g.rnd.Intn(3000))
	}
	obj := map[string]any{
		"type":             es.typ,
		"sender":           es.sender,
		"content":          es.content,
		"depth":            depth,
		"origin_server_ts": g.ts,
	}
	if es.typ != "m.room.create" || !v.RoomIDFromCreateEvent || es.withRoomID {
		obj["room_id"] = r.ID
		if r.ID == "" {
			obj["room_id"] = "!pending:hafen.test"
		}
	}
	if es.sk != nil {
		obj["state_key"] = *es.sk
	}
	if es.redacts != "" {
		obj["redacts"] = es.redacts
	}
	if v.Redaction < roomversion.RedactionV11 {
		obj["origin"] = serverOf(es.sender)
	}
	if g.chance(0.2) {
		obj["unsigned"] = map[string]any{"age": int64(g.rnd.Intn(5000))}
	}
	refs := func(evs []*genEvent) []any {
		out := make([]any, 0, len(evs))
		for _, e := range evs {
			if v.EventIDInEvent {
				out = append(out, []any{e.ID, map[string]any{"sha256": b64(e.refHash)}})
			} else {
				out = append(out, e.ID)
			}
		}
		return out
	}
	obj["prev_events"] = refs(prev)
	obj["auth_events"] = refs(auth)
	if v.EventIDInEvent {
		g.counter++
		obj["event_id"] = fmt.Sprintf("$e%d_%d:%s", g.rnd.Intn(1_000_000_000), g.counter, serverOf(es.sender))
	}
	obj["hashes"] = map[string]any{"sha256": b64(contentHash(obj))}
	signers := []string{serverOf(es.sender)}
	for _, s := range es.signers {
		if !slices.Contains(signers, s) {
			signers = append(signers, s)
		}
	}
	for _, s := range signers {
		if k := r.Keys[s]; k != nil {
			signObj(obj, v, k)
		}
	}
	ev := &genEvent{
		obj: obj, Type: es.typ, StateKey: es.sk, Sender: es.sender, Depth: depth,
		Note: es.note, Probe: es.probe, Tamper: es.tamper, Signers: signers,
	}
	ev.refHash = referenceHash(obj, v)
	ev.ID = eventIDFor(obj, v)
	if _, dup := r.ByID[ev.ID]; dup {
		// The same event again (same content, prev and auth events and
		// timestamp): move the clock on so that every event is distinct.
		g.ts++
		return g.emit(b, es)
	}
	for _, a := range auth {
		ev.AuthIDs = append(ev.AuthIDs, a.ID)
	}
	for _, p := range prev {
		ev.PrevIDs = append(ev.PrevIDs, p.ID)
	}
	switch es.tamper {
	case "content":
		tc := copyObj(obj)
		c := deepCopy(es.content).(map[string]any)
		c["tampered"] = true
		tc["content"] = c
		ev.obj = tc
	case "signature":
		tc := copyObj(obj)
		sigs := deepCopy(obj["signatures"]).(map[string]any)
		srv := sigs[serverOf(es.sender)].(map[string]any)
		for kid, s := range srv {
			sb := []byte(s.(string))
			if sb[0] == 'A' {
				sb[0] = 'B'
			} else {
				sb[0] = 'A'
			}
			srv[kid] = string(sb)
		}
		tc["signatures"] = sigs
		ev.obj = tc
	}
	ev.JSON = canon(ev.obj)
	if g.chance(0.1) {
		// Same event, different but equivalent JSON text.
		ev.JSON, _ = json.MarshalIndent(ev.obj, "", "  ")
	}
	ev.AuthState = auth
	if v.RoomIDFromCreateEvent && es.typ != "m.room.create" && r.Create != nil {
		ev.AuthState = append(slices.Clone(auth), r.Create)
	}
	ev.G, ev.GErr = gmslParse(ev, r.GV)
	if ev.Tamper == "" && ev.GErr == nil {
		st := make([]gmsl.PDU, 0, len(ev.AuthState))
		for _, a := range ev.AuthState {
			st = append(st, a.G)
		}
		err := gmslAllowed(ev.G, st)
		ev.GMSLAllowed = err == nil
		if err != nil {
			ev.GMSLReason = err.Error()
		}
		ev.Allowed, ev.Deviation = specDecision(r, ev)
	}
	r.Events = append(r.Events, ev)
	r.ByID[ev.ID] = ev
	if es.typ == "m.room.create" && r.Create == nil {
		r.Create = ev
	}
	if !ev.Probe && ev.Allowed {
		if ev.StateKey != nil {
			b.state[ev.key()] = ev
			if ev.Type == "m.room.power_levels" {
				b.plHist = append(b.plHist, ev)
			}
			if ev.Type == "m.room.member" {
				b.memHist[*ev.StateKey] = append(b.memHist[*ev.StateKey], ev)
			}
		}
		b.tips = []*genEvent{ev}
	}
	return ev
}
