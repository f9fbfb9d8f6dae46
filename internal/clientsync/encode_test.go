package clientsync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// TestResponseAppendJSON checks that AppendJSON writes the same bytes as
// encoding/json for responses with every section, empty and full.
func TestResponseAppendJSON(t *testing.T) {
	sk := ""
	msg := clientevent.Event{Content: json.RawMessage(`{ "body" : "a <b> & c\u2028", "msgtype":"m.text"}`), EventID: "$m:x",
		OriginServerTS: 5, Sender: "@a:x", Type: "m.room.message", Unsigned: &clientevent.Unsigned{Age: 3, TransactionID: "t1"}}
	name := clientevent.Event{Content: json.RawMessage(`{"name":"R"}`), EventID: "$n:x", OriginServerTS: 4, Sender: "@a:x",
		StateKey: &sk, Type: "m.room.name", Unsigned: &clientevent.Unsigned{Age: 1, PrevContent: json.RawMessage(`{"name":"Q"}`)}}
	receipt, err := receiptEvent([]store.Receipt{
		{RoomID: "!r:x", UserID: "@a:x", Type: "m.read", EventID: "$m:x", TS: 7},
		{RoomID: "!r:x", UserID: "@b:x", Type: "m.read", EventID: "$m:x", TS: 8, ThreadID: "main"},
		{RoomID: "!r:x", UserID: "@<c>&:x", Type: "m.read.private", EventID: "$n:x", TS: 9},
	})
	if err != nil {
		t.Fatal(err)
	}
	typing := json.RawMessage(`{"content":{"user_ids":["@a:x"]},"type":"m.typing"}`)
	two := 2
	full := func() *JoinedRoom {
		jr := newJoinedRoom()
		jr.Summary = &Summary{Heroes: []string{"@b:x"}, JoinedMemberCount: &two}
		jr.State.Events = []clientevent.Event{name}
		jr.Timeline = TimelineBatch{Events: []clientevent.Event{name, msg}, Limited: true, PrevBatch: "t3-4"}
		jr.Ephemeral.Events = []json.RawMessage{receipt, typing}
		jr.AccountData.Events = []json.RawMessage{json.RawMessage(`{"type":"m.tag", "content":{"tags":{}}}`)}
		jr.UnreadNotifications = &UnreadNotifications{HighlightCount: 1, NotificationCount: 2}
		jr.UnreadThreadNotifications = map[string]UnreadNotifications{"$t2:x": {NotificationCount: 1}, "$t1:x": {HighlightCount: 3}}
		return jr
	}
	cases := []struct {
		name string
		resp *Response
	}{
		{"no rooms", &Response{NextBatch: "s1_2"}},
		{"empty rooms", &Response{NextBatch: "s1", Rooms: newRooms()}},
		{"joined room, nothing new", &Response{NextBatch: "s1", Rooms: &Rooms{Join: map[string]*JoinedRoom{"!r:x": newJoinedRoom()}}}},
		{"joined room with nil lists", &Response{NextBatch: "s1", Rooms: &Rooms{Join: map[string]*JoinedRoom{"!r:x": {}}}}},
		{"every section", &Response{
			NextBatch: "s9_<&>",
			Rooms: &Rooms{
				Join:   map[string]*JoinedRoom{"!r:x": full(), "!a:x": newJoinedRoom(), "!z:x": full()},
				Invite: map[string]*InvitedRoom{"!i:x": {}},
				Knock:  map[string]*KnockedRoom{"!k:x": {}},
				Leave:  map[string]*LeftRoom{"!l:x": {Timeline: TimelineBatch{Events: []clientevent.Event{msg}}}},
			},
			AccountData: &EventBatch{Events: []json.RawMessage{json.RawMessage(`{"type":"m.push_rules","content":{}}`)}},
			Presence:    &EventBatch{Events: []json.RawMessage{}},
			E2EESections: E2EESections{
				ToDevice:                     &EventBatch{},
				DeviceLists:                  &DeviceLists{Changed: []id.UserID{"@b:x"}},
				DeviceOneTimeKeysCount:       map[string]int{"signed_curve25519": 3},
				DeviceUnusedFallbackKeyTypes: []string{},
			},
		}},
	}
	withFields := cases[len(cases)-1].resp
	unstable := &Response{NextBatch: "s2", Rooms: &Rooms{Join: map[string]*JoinedRoom{"!r:x": full()},
		Leave: map[string]*LeftRoom{"!l:x": {State: StateBatch{Events: []clientevent.Event{name}}}}}}
	cases = append(cases, struct {
		name string
		resp *Response
	}{"MSC4222's state_after", unstable}, struct {
		name string
		resp *Response
	}{"state_after and event_fields", withFields})
	for i, tc := range cases {
		switch i {
		case len(cases) - 2:
			tc.resp.moveStateAfter(true)
		case len(cases) - 1:
			tc.resp.moveStateAfter(false)
			tc.resp.applyEventFields(&Filter{EventFields: []string{"type", "content.body"}})
		}
		want, err := json.Marshal(tc.resp)
		if err != nil {
			t.Fatalf("%s: json.Marshal: %v", tc.name, err)
		}
		got, err := tc.resp.AppendJSON([]byte("prefix"))
		if err != nil {
			t.Fatalf("%s: AppendJSON: %v", tc.name, err)
		}
		// AppendJSON copies events' content as it is, where encoding/json
		// compacts it and escapes <, > and &: the same JSON, which the
		// comparison sees once the two are written alike.
		var compact, escaped bytes.Buffer
		if !bytes.HasPrefix(got, []byte("prefix")) {
			t.Fatalf("%s: AppendJSON dropped what it appends to: %s", tc.name, got)
		}
		if err := json.Compact(&compact, got[len("prefix"):]); err != nil {
			t.Fatalf("%s: AppendJSON wrote invalid JSON: %v\n%s", tc.name, err, got)
		}
		json.HTMLEscape(&escaped, compact.Bytes())
		if escaped.String() != string(want) {
			t.Errorf("%s: AppendJSON =\n%s\nwant (encoding/json)\n%s", tc.name, got, want)
		}
	}
}

// BenchmarkResponseEncoding compares AppendJSON with encoding/json on a
// busy room's answer: one new message and a receipt of each of 100
// members.
func BenchmarkResponseEncoding(b *testing.B) {
	rcs := make([]store.Receipt, 100)
	for i := range rcs {
		rcs[i] = store.Receipt{RoomID: "!r:x", UserID: id.UserID(fmt.Sprintf("@user-%d:hafen.test", i)), Type: "m.read",
			EventID: "$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", TS: 1765000000000 + int64(i)}
	}
	receipt, err := receiptEvent(rcs)
	if err != nil {
		b.Fatal(err)
	}
	jr := newJoinedRoom()
	jr.Timeline.Events = []clientevent.Event{{Content: json.RawMessage(`{"body":"hello there","msgtype":"m.text"}`),
		EventID: "$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", OriginServerTS: 1765000000000, Sender: "@user-1:hafen.test",
		Type: "m.room.message", Unsigned: &clientevent.Unsigned{Age: 12}}}
	jr.Ephemeral.Events = []json.RawMessage{receipt}
	resp := &Response{NextBatch: "s120_3_4500_0_0", Rooms: &Rooms{Join: map[string]*JoinedRoom{"!r:x": jr}}}
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(resp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			if buf, err = resp.AppendJSON(buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestAppendJSONKnowsEveryField guards AppendJSON, which writes the
// fields of Response, Rooms and JoinedRoom by hand: a field added to one
// of them fails here until AppendJSON writes it (and the fixture of
// TestResponseAppendJSON sets it).
func TestAppendJSONKnowsEveryField(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want []string
	}{
		{Response{}, []string{"next_batch", "rooms", "account_data", "presence", "E2EESections"}},
		{Rooms{}, []string{"join", "invite", "knock", "leave"}},
		{JoinedRoom{}, []string{"summary", "state", "state_after", "org.matrix.msc4222.state_after", "timeline", "ephemeral", "account_data",
			"unread_notifications", "unread_thread_notifications"}},
	} {
		rt := reflect.TypeOf(tc.v)
		var got []string
		for i := range rt.NumField() {
			f := rt.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			got = append(got, name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s has the JSON fields %q; AppendJSON writes %q", rt.Name(), got, tc.want)
		}
	}
}
