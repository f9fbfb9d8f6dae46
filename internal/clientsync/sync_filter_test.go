package clientsync

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pushrules"
	"github.com/hafenchat/hafen/internal/store"
)

func TestSyncFilters(t *testing.T) { forEachBackend(t, testSyncFilters) }

func testSyncFilters(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	other := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	h.member(roomID, carol, carol, "join")
	since := h.initial(alice, nil).NextBatch
	h.send(roomID, bob, "from bob")
	h.state(roomID, alice, "m.room.topic", "", `{"topic":"T"}`)
	h.send(roomID, alice, "from alice")
	h.send(other, alice, "elsewhere")

	tl := func(f RoomEventFilter) *Filter { return &Filter{Room: &RoomFilter{Timeline: &f}} }
	cases := []struct {
		name   string
		filter *Filter
		want   []string // timeline of roomID; nil: roomID absent
		other  bool     // other room present
	}{
		{"room_event_filter types", tl(RoomEventFilter{EventFilter: EventFilter{Types: []string{"m.room.message"}}}), []string{"from bob", "from alice"}, true},
		{"room_event_filter not_types", tl(RoomEventFilter{EventFilter: EventFilter{NotTypes: []string{"m.room.message"}}}), []string{"m.room.topic"}, true},
		{"room_event_filter senders", tl(RoomEventFilter{EventFilter: EventFilter{Senders: []string{string(bob)}}}), []string{"from bob"}, true},
		{"room_filter rooms", &Filter{Room: &RoomFilter{Rooms: []string{string(roomID)}}}, []string{"from bob", "m.room.topic", "from alice"}, false},
		{"room_filter not_rooms", &Filter{Room: &RoomFilter{NotRooms: []string{string(roomID)}}}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, ring := range []string{"ring", "database"} {
				s := h.sync
				if ring == "database" {
					s = h.addSync(1)
					h.send(other, alice, "push the ring")
				}
				// For the small ring, since is older than what it holds.
				rs := roomsOf(h.syncWith(s, Request{User: alice, Since: since, Filter: tc.filter}))
				jr := rs.Join[string(roomID)]
				if tc.want == nil {
					if jr != nil {
						t.Errorf("%s: room %s present, want filtered out", ring, roomID)
					}
				} else if jr == nil || !slices.Equal(bodies(jr.Timeline.Events), tc.want) {
					t.Errorf("%s: timeline = %v, want %v", ring, jr, tc.want)
				}
				if _, ok := rs.Join[string(other)]; ok != tc.other {
					t.Errorf("%s: other room present = %v, want %v", ring, ok, tc.other)
				}
			}
		})
	}
}

func TestSyncLazyLoadMembers(t *testing.T) { forEachBackend(t, testSyncLazyLoadMembers) }

func testSyncLazyLoadMembers(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	// A named room has no heroes, whose member events would come too.
	h.state(roomID, alice, "m.room.name", "", `{"name":"Named"}`)
	h.member(roomID, bob, bob, "join")
	h.member(roomID, carol, carol, "join")
	h.member(roomID, dave, dave, "join")
	for _, b := range msgs(3, "bob") {
		h.send(roomID, bob, b)
	}
	f := &Filter{Room: &RoomFilter{
		State:    &RoomEventFilter{LazyLoadMembers: true},
		Timeline: &RoomEventFilter{EventFilter: EventFilter{Limit: intp(3)}},
	}}
	jr := roomsOf(h.initial(alice, f)).Join[string(roomID)]
	if jr == nil {
		t.Fatal("room missing")
	}
	var members []string
	for _, ev := range jr.State.Events {
		if ev.Type == "m.room.member" {
			members = append(members, deref(ev.StateKey))
		}
	}
	slices.Sort(members)
	if want := []string{string(alice), string(bob)}; !slices.Equal(members, want) {
		t.Errorf("lazy_load_members: state members = %v, want the timeline's senders and the user %v", members, want)
	}
	if !hasKey(jr.State.Events, "m.room.create", "") {
		t.Error("lazy_load_members: non-member state left out")
	}
	// Incremental: a new sender's member event comes with its message.
	since := h.pos()
	h.send(roomID, dave, "from dave")
	jr = roomsOf(h.next(alice, since, f)).Join[string(roomID)]
	if jr == nil || !hasKey(jr.State.Events, "m.room.member", string(dave)) || hasKey(jr.State.Events, "m.room.member", string(carol)) {
		t.Errorf("lazy_load_members incremental: state = %v, want dave's member event only", stateKeys(jr.State.Events))
	}

	// Senders whose membership the timeline changes after they spoke (a
	// kick, a rename) come with the member event they spoke under; a
	// sender whose own join opens their part of the timeline needs none.
	since = h.pos()
	h.send(roomID, carol, "buy stuff")
	h.member(roomID, alice, carol, "leave")
	h.send(roomID, bob, "still bob")
	h.state(roomID, bob, "m.room.member", string(bob), `{"membership":"join","displayname":"Bob Two"}`)
	erin := id.UserID("@erin:hafen.test")
	h.member(roomID, erin, erin, "join")
	h.send(roomID, erin, "hi from erin")
	f.Room.Timeline.Limit = intp(10)
	for name, sync := range map[string]*Service{"ring": h.sync, "store": h.addSync(0)} {
		jr = roomsOf(h.syncWith(sync, Request{User: alice, Device: "DEV", Since: since, Filter: f})).Join[string(roomID)]
		if jr == nil {
			t.Fatalf("%s: room missing", name)
		}
		got := map[string]string{}
		for _, ev := range jr.State.Events {
			if ev.Type == "m.room.member" {
				var c struct {
					Membership  string `json:"membership"`
					DisplayName string `json:"displayname"`
				}
				json.Unmarshal(ev.Content, &c)
				got[deref(ev.StateKey)] = c.Membership + "/" + c.DisplayName
			}
		}
		want := map[string]string{string(alice): "join/", string(carol): "join/", string(bob): "join/"} // alice kicked
		if !maps.Equal(got, want) {
			t.Errorf("%s: lazy members of a timeline that kicks carol and renames bob after they spoke = %v, want %v", name, got, want)
		}
	}
}

func TestSyncEventFields(t *testing.T) { forEachBackend(t, testSyncEventFields) }

func testSyncEventFields(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.state(roomID, alice, "m.room.topic", "", `{"topic":"T","m.dotted":"d"}`)
	since := h.pos()
	h.send(roomID, alice, "hello")
	f := &Filter{EventFields: []string{"type", "content.body", `content.m\.dotted`}}
	resp := h.syncWith(h.sync, Request{User: alice, Since: since, Filter: f})
	raw, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Rooms struct {
			Join map[string]struct {
				Timeline struct{ Events []map[string]any } `json:"timeline"`
			} `json:"join"`
		} `json:"rooms"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	evs := got.Rooms.Join[string(roomID)].Timeline.Events
	want := []map[string]any{{"type": "m.room.message", "content": map[string]any{"body": "hello"}}}
	if !equalJSON(evs, want) {
		t.Errorf("filter event_fields: timeline = %v, want %v", evs, want)
	}
	cases := []struct {
		path string
		want []string
	}{
		{"content.body", []string{"content", "body"}},
		{`content.m\.relates_to`, []string{"content", "m.relates_to"}},
		{`content.m\\foo`, []string{"content", `m\foo`}},
		{`content.a\xb`, []string{"content", `a\xb`}},
	}
	for _, tc := range cases {
		if got := pushrules.SplitPath(tc.path); !slices.Equal(got, tc.want) {
			t.Errorf("appendix dot-separated paths: SplitPath(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
	tree := newFieldTree([]string{"content", "content.body", `content.m\.dotted`})
	if p := tree.project(json.RawMessage(`{"content":{"body":"b","x":1},"sender":"@a:x"}`)); string(p) != `{"content":{"body":"b","x":1}}` {
		t.Errorf("project with a parent path = %s, want the whole content", p)
	}
}

func TestSyncStoredFilter(t *testing.T) { forEachBackend(t, testSyncStoredFilter) }

func testSyncStoredFilter(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.send(roomID, alice, "one")
	h.send(roomID, alice, "two")
	var fid int64
	err := h.db.Write(h.ctx, func(tx *store.Tx) error {
		if err := tx.CreateUser(h.ctx, store.User{UserID: alice, CreatedTS: 1}); err != nil {
			return err
		}
		var err error
		fid, err = tx.AddFilter(h.ctx, alice, []byte(`{"room":{"timeline":{"limit":1}}}`))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := h.sync.StoredFilter(h.ctx, alice, fid)
	if err != nil {
		t.Fatalf("StoredFilter: %v", err)
	}
	jr := roomsOf(h.initial(alice, f)).Join[string(roomID)]
	if got := bodies(jr.Timeline.Events); !slices.Equal(got, []string{"two"}) {
		t.Errorf("stored filter limit 1: timeline = %v, want [two]", got)
	}
	if _, err := h.sync.StoredFilter(h.ctx, alice, fid+1); err == nil {
		t.Error("StoredFilter(unknown) = nil error")
	}
}

func TestSyncTransactionID(t *testing.T) { forEachBackend(t, testSyncTransactionID) }

func testSyncTransactionID(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	since := h.pos()
	h.sendTxn(roomID, alice, "PHONE", "txn1", "hi")
	cases := []struct {
		name   string
		user   string
		device string
		want   string
	}{
		{"unsigned transaction_id: the sending device sees it", string(alice), "PHONE", "txn1"},
		{"unsigned transaction_id: another device of the sender does not", string(alice), "LAPTOP", ""},
		{"unsigned transaction_id: another user does not", string(bob), "PHONE", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, initial := range []bool{false, true} {
				req := Request{User: userID(tc.user), Device: deviceID(tc.device), Since: since}
				if initial {
					req.Since = ""
				}
				jr := roomsOf(h.syncWith(h.sync, req)).Join[string(roomID)]
				evs := jr.Timeline.Events
				last := evs[len(evs)-1]
				if got := last.Unsigned.TransactionID; got != tc.want {
					t.Errorf("initial=%v: transaction_id = %q, want %q", initial, got, tc.want)
				}
			}
		})
	}
}

// The heroes of an unnamed room are its first members to join (or be
// invited) besides the user, in that order, at most five; when none are
// left, the first who left. A lazy-loading client gets their member
// events with the summary, though they sent nothing: it names the room
// after them. Spec: Client-Server API § GET /sync, m.heroes.
func TestSyncLazyLoadHeroes(t *testing.T) { forEachBackend(t, testSyncLazyLoadHeroes) }

func testSyncLazyLoadHeroes(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	var joined []id.UserID
	for _, name := range []string{"frank", "eve", "dave", "carol", "bob", "grace"} {
		u := id.UserID("@" + name + ":hafen.test")
		h.member(roomID, u, u, "join")
		joined = append(joined, u)
	}
	grace := joined[5]
	h.send(roomID, grace, "hello")
	f := &Filter{Room: &RoomFilter{
		State:    &RoomEventFilter{LazyLoadMembers: true},
		Timeline: &RoomEventFilter{EventFilter: EventFilter{Limit: intp(1)}},
	}}
	jr := roomsOf(h.initial(alice, f)).Join[string(roomID)]
	if jr == nil || jr.Summary == nil {
		t.Fatal("room or summary missing")
	}
	want := []string{"@frank:hafen.test", "@eve:hafen.test", "@dave:hafen.test", "@carol:hafen.test", "@bob:hafen.test"}
	if !slices.Equal(jr.Summary.Heroes, want) {
		t.Errorf("m.heroes = %v, want the first five to join %v", jr.Summary.Heroes, want)
	}
	for _, u := range append(want, string(grace), string(alice)) {
		if !hasKey(jr.State.Events, "m.room.member", u) {
			t.Errorf("state lacks the member event of %s (%v)", u, stateKeys(jr.State.Events))
		}
	}

	// Everyone else leaves: the heroes are those who left, and a
	// lazy-loading client that syncs on gets them with the summary.
	since := h.pos()
	for _, u := range joined {
		h.member(roomID, u, u, "leave")
	}
	jr = roomsOf(h.next(alice, since, f)).Join[string(roomID)]
	if jr == nil || jr.Summary == nil || !slices.Equal(jr.Summary.Heroes, want) {
		t.Fatalf("after everyone left: summary %+v, want heroes %v", jr.Summary, want)
	}
	if n := *jr.Summary.JoinedMemberCount; n != 1 {
		t.Errorf("m.joined_member_count = %d, want 1", n)
	}

	// A name takes the heroes' place; once it is removed again the heroes
	// come back in the next sync, which has no member change.
	since = h.pos()
	h.state(roomID, alice, "m.room.name", "", `{"name":"Named"}`)
	if jr = roomsOf(h.next(alice, since, f)).Join[string(roomID)]; jr == nil || jr.Summary == nil || len(jr.Summary.Heroes) != 0 {
		t.Errorf("after naming the room: summary %+v, want one without heroes", jr.Summary)
	}
	since = h.pos()
	h.state(roomID, alice, "m.room.name", "", `{}`)
	if jr = roomsOf(h.next(alice, since, f)).Join[string(roomID)]; jr == nil || jr.Summary == nil || !slices.Equal(jr.Summary.Heroes, want) {
		t.Errorf("after the name was removed: summary %+v, want heroes %v", jr.Summary, want)
	}
}
