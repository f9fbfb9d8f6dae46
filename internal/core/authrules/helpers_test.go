package authrules

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
)

// Users of the test room.
const (
	alice = "@alice:a.example" // creator (100 in v1–v11, infinite in v12)
	mod   = "@mod:b.example"   // joined, level 50
	bob   = "@bob:b.example"   // joined, level 0
	eve   = "@eve:c.example"   // never in the room
	carl  = "@carl:c.example"  // invited
	dan   = "@dan:c.example"   // banned
	kim   = "@kim:c.example"   // knocking (v7+), else left
)

// testRoom builds events of one room version tersely.
type testRoom struct {
	t      testing.TB
	v      *roomversion.Version
	n      int
	create *event.PDU
	roomID string
}

func sp(s string) *string { return &s }

// eventID returns a made-up event ID of the version's format.
func (r *testRoom) eventID() string {
	r.n++
	if r.v.EventIDInEvent {
		return fmt.Sprintf("$e%d:a.example", r.n)
	}
	return "$" + fmt.Sprintf("%043d", r.n)
}

type evOpt func(m map[string]any)

func withPrev(ids ...string) evOpt {
	return func(m map[string]any) { m["prev_events"] = append([]string{}, ids...) }
}
func withRoom(rid string) evOpt    { return func(m map[string]any) { m["room_id"] = rid } }
func withEventID(eid string) evOpt { return func(m map[string]any) { m["_id"] = eid } }
func withRedacts(eid string) evOpt { return func(m map[string]any) { m["redacts"] = eid } }

// ev makes a PDU with ParseTrusted. sk nil makes a non-state event.
func (r *testRoom) ev(typ string, sk *string, sender, content string, opts ...evOpt) *event.PDU {
	r.t.Helper()
	m := map[string]any{
		"type":             typ,
		"sender":           sender,
		"content":          json.RawMessage(content),
		"depth":            r.n + 1,
		"origin_server_ts": 1700000000000 + r.n,
		"hashes":           map[string]string{"sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"},
		"signatures":       map[string]any{},
		"prev_events":      []string{"$prev"},
		"auth_events":      []string{},
	}
	if r.roomID != "" {
		m["room_id"] = r.roomID
	}
	if sk != nil {
		m["state_key"] = *sk
	}
	for _, o := range opts {
		o(m)
	}
	eid, _ := m["_id"].(string)
	delete(m, "_id")
	if eid == "" {
		eid = r.eventID()
	}
	if r.v.EventIDInEvent {
		m["event_id"] = eid
		pairs := func(key string) {
			ids, _ := m[key].([]string)
			out := make([]any, 0, len(ids))
			for _, x := range ids {
				out = append(out, []any{x, map[string]string{"sha256": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"}})
			}
			m[key] = out
		}
		pairs("prev_events")
		pairs("auth_events")
	}
	if !r.v.RedactsInContent || typ != TypeRedaction {
		// redacts stays top-level before v11.
	} else if red, ok := m["redacts"]; ok {
		delete(m, "redacts")
		var c map[string]any
		_ = json.Unmarshal([]byte(content), &c)
		c["redacts"] = red
		b, _ := json.Marshal(c)
		m["content"] = json.RawMessage(b)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		r.t.Fatal(err)
	}
	e, err := event.ParseTrusted(raw, r.v, id.EventID(eid))
	if err != nil {
		r.t.Fatalf("ParseTrusted(%s) = %v", raw, err)
	}
	return e
}

func newTestRoom(t testing.TB, v *roomversion.Version) *testRoom {
	return &testRoom{t: t, v: v}
}

// createContent is the create event content of the test room.
func (r *testRoom) createContent(extra string) string {
	c := `"room_version":"` + string(r.v.ID) + `"`
	if !r.v.CreatorFromSender {
		c += `,"creator":"` + alice + `"`
	}
	if extra != "" {
		c += "," + extra
	}
	return "{" + c + "}"
}

// makeCreate makes and remembers the room's create event.
func (r *testRoom) makeCreate(extra string) *event.PDU {
	var opts []evOpt
	opts = append(opts, withPrev())
	if r.v.RoomIDFromCreateEvent {
		r.roomID = ""
	} else {
		r.roomID = "!room:a.example"
		opts = append(opts, withRoom(r.roomID))
	}
	c := r.ev(TypeCreate, sp(""), alice, r.createContent(extra), opts...)
	r.create = c
	if r.v.RoomIDFromCreateEvent {
		r.roomID = "!" + string(c.EventID())[1:]
	}
	return c
}

func (r *testRoom) memberEv(target, sender, membership string) *event.PDU {
	return r.ev(TypeMember, sp(target), sender, `{"membership":"`+membership+`"}`)
}

// plContent is the power levels content of the standard room, with extra
// top-level members appended.
func (r *testRoom) plContent(extra string) string {
	users := `"` + mod + `":50`
	if !r.v.PrivilegedCreators {
		users = `"` + alice + `":100,` + users
	}
	c := `{"users":{` + users + `}`
	if extra != "" {
		c += "," + extra
	}
	return c + "}"
}

// standardState is the state of the test room: create, power levels, join
// rules (joinRule), alice, mod and bob joined, carl invited, dan banned and
// kim knocking (v7+) or left.
func (r *testRoom) standardState(joinRule string) StateMap {
	st := StateMap{}
	put := func(e *event.PDU) { st[e.StateKeyTuple()] = e }
	put(r.makeCreate(""))
	put(r.ev(TypePowerLevels, sp(""), alice, r.plContent("")))
	put(r.ev(TypeJoinRules, sp(""), alice, `{"join_rule":"`+joinRule+`"}`))
	put(r.memberEv(alice, alice, "join"))
	put(r.memberEv(mod, mod, "join"))
	put(r.memberEv(bob, bob, "join"))
	put(r.memberEv(carl, alice, "invite"))
	put(r.memberEv(dan, alice, "ban"))
	if r.v.Knocking {
		put(r.memberEv(kim, kim, "knock"))
	} else {
		put(r.memberEv(kim, kim, "leave"))
	}
	return st
}

// wantRule resolves a hand-written expectation for version v: "def
// a-b:rule c:rule", where def applies unless a version range overrides it.
// "ok" means allowed.
func wantRule(spec string, v *roomversion.Version) string {
	fields := strings.Fields(spec)
	want := fields[0]
	n, _ := strconv.Atoi(string(v.ID))
	for _, f := range fields[1:] {
		rng, r, _ := strings.Cut(f, ":")
		lo, hi, isRange := strings.Cut(rng, "-")
		a, _ := strconv.Atoi(lo)
		b := a
		if isRange {
			b, _ = strconv.Atoi(hi)
		}
		if n >= a && n <= b {
			want = r
		}
	}
	return want
}

// ruleOf returns the rule of a Check error, "ok" for nil.
func ruleOf(t testing.TB, err error) string {
	t.Helper()
	if err == nil {
		return "ok"
	}
	na, ok := err.(*NotAllowedError)
	if !ok {
		t.Fatalf("error %v is not a *NotAllowedError", err)
	}
	return na.Rule
}

// versionsIn returns the room versions from lo to hi.
func versionsIn(lo, hi int) []*roomversion.Version {
	var out []*roomversion.Version
	for _, v := range roomversion.All() {
		n, _ := strconv.Atoi(string(v.ID))
		if n >= lo && n <= hi {
			out = append(out, v)
		}
	}
	return out
}
