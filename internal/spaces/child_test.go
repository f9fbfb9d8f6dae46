package spaces

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/hafenchat/hafen/internal/core/id"
)

// TestChildOf follows the m.space.child schema: a child needs a room ID
// as state key and a via that is a non-empty array of strings ("when not
// present or invalid, the child room is not considered to be part of the
// space"), naming a server to join through; order and suggested of the
// wrong type count as absent.
func TestChildOf(t *testing.T) {
	const room = "!child:example.org"
	tests := []struct {
		name      string
		typ       string
		stateKey  string // "" for room
		emptyKey  bool
		content   string
		ok        bool
		via       []id.ServerName
		order     string
		ordered   bool
		suggested bool
	}{
		{name: "valid", content: `{"via":["example.org"]}`, ok: true, via: []id.ServerName{"example.org"}},
		{name: "order and suggested", content: `{"via":["example.org"],"order":"a b~","suggested":true}`, ok: true, via: []id.ServerName{"example.org"}, order: "a b~", ordered: true, suggested: true},
		{name: "order of 50 characters", content: `{"via":["example.org"],"order":"12345678901234567890123456789012345678901234567890"}`, ok: true, via: []id.ServerName{"example.org"}, order: "12345678901234567890123456789012345678901234567890", ordered: true},
		{name: "room ID without server", stateKey: "!" + "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", content: `{"via":["example.org"]}`, ok: true, via: []id.ServerName{"example.org"}},
		{name: "via entries that are not server names are skipped", content: `{"via":["bad server","example.org:8448"]}`, ok: true, via: []id.ServerName{"example.org:8448"}},
		{name: "order of the wrong type is absent", content: `{"via":["example.org"],"order":5}`, ok: true, via: []id.ServerName{"example.org"}},
		{name: "order too long is absent", content: `{"via":["example.org"],"order":"123456789012345678901234567890123456789012345678901"}`, ok: true, via: []id.ServerName{"example.org"}},
		{name: "order with a character outside x20-x7E is absent", content: `{"via":["example.org"],"order":"é"}`, ok: true, via: []id.ServerName{"example.org"}},
		{name: "empty order is absent (pattern needs a character)", content: `{"via":["example.org"],"order":""}`, ok: true, via: []id.ServerName{"example.org"}},
		{name: "suggested of the wrong type is false", content: `{"via":["example.org"],"suggested":"true"}`, ok: true, via: []id.ServerName{"example.org"}},

		{name: "removed: empty content", content: `{}`},
		{name: "via null", content: `{"via":null}`},
		{name: "via empty", content: `{"via":[]}`},
		{name: "via a string", content: `{"via":"example.org"}`},
		{name: "via an object", content: `{"via":{"example.org":true}}`},
		{name: "via entry a number", content: `{"via":["example.org",5]}`},
		{name: "via entry null", content: `{"via":["example.org",null]}`},
		{name: "via without a server name", content: `{"via":["","bad server"]}`},
		{name: "content not an object", content: `["example.org"]`},
		{name: "content null", content: `null`},
		{name: "state key not a room ID", stateKey: "not-a-room", content: `{"via":["example.org"]}`},
		{name: "state key a room alias", stateKey: "#alias:example.org", content: `{"via":["example.org"]}`},
		{name: "state key empty", emptyKey: true, content: `{"via":["example.org"]}`},
		{name: "other event type", typ: "m.space.parent", content: `{"via":["example.org"]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := ChildState{Type: "m.space.child", StateKey: room, Content: json.RawMessage(tc.content)}
			if tc.typ != "" {
				e.Type = tc.typ
			}
			switch {
			case tc.emptyKey:
				e.StateKey = ""
			case tc.stateKey != "":
				e.StateKey = tc.stateKey
			}
			c, ok := childOf(e)
			if ok != tc.ok {
				t.Fatalf("childOf(%s %q %s) ok = %v, want %v", e.Type, e.StateKey, tc.content, ok, tc.ok)
			}
			if !ok {
				return
			}
			if string(c.roomID) != e.StateKey || !slices.Equal(c.via, tc.via) || c.order != tc.order || c.ordered != tc.ordered || c.suggest != tc.suggested {
				t.Errorf("childOf(%s) = room %s via %v order %q (%v) suggested %v, want via %v order %q (%v) suggested %v",
					tc.content, c.roomID, c.via, c.order, c.ordered, c.suggest, tc.via, tc.order, tc.ordered, tc.suggested)
			}
		})
	}
}

// TestChildrenState checks that children_state is exactly the children
// the walk follows, in the spec's order of children, for spaces only,
// and with suggestedOnly the suggested ones.
func TestChildrenState(t *testing.T) {
	evs := []ChildState{
		{Type: "m.space.child", StateKey: "!e:example.org", OriginServerTS: 1640641000000, Content: json.RawMessage(`{"via":["example.org"]}`)},
		{Type: "m.space.child", StateKey: "!gone:example.org", OriginServerTS: 1640041000000, Content: json.RawMessage(`{}`)},
		{Type: "m.space.child", StateKey: "!c:example.org", OriginServerTS: 1640841000000, Content: json.RawMessage(`{"order":"first","via":["example.org"],"suggested":true}`)},
		{Type: "m.space.child", StateKey: "!bad:example.org", OriginServerTS: 1640041000000, Content: json.RawMessage(`{"order":" ","via":"example.org"}`)},
		{Type: "m.space.child", StateKey: "!d:example.org", OriginServerTS: 1640741000000, Content: json.RawMessage(`{"via":["example.org"],"suggested":true}`)},
		{Type: "m.space.child", StateKey: "!a:example.org", OriginServerTS: 1640141000000, Content: json.RawMessage(`{"order":"aaaa","via":["example.org"]}`)},
		{Type: "m.space.child", StateKey: "!b:example.org", OriginServerTS: 1640341000000, Content: json.RawMessage(`{"order":" ","via":["example.org"]}`)},
		{Type: "m.space.child", StateKey: "!empty:example.org", OriginServerTS: 1640041000000, Content: json.RawMessage(`{"order":"0","via":[]}`)},
	}
	keys := func(cs []ChildState) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.StateKey)
		}
		return out
	}
	tests := []struct {
		name          string
		roomType      string
		suggestedOnly bool
		want          []string
	}{
		// The spec's example of ordering, with events that make no child.
		{name: "space", roomType: RoomTypeSpace, want: []string{"!b:example.org", "!a:example.org", "!c:example.org", "!e:example.org", "!d:example.org"}},
		{name: "space, suggested only", roomType: RoomTypeSpace, suggestedOnly: true, want: []string{"!c:example.org", "!d:example.org"}},
		{name: "not a space", roomType: "", want: nil},
		{name: "other room type", roomType: "org.example.type", want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := childrenState(tc.roomType, evs, tc.suggestedOnly)
			if got == nil {
				t.Fatalf("childrenState(%q) = nil, want a list (children_state is required)", tc.roomType)
			}
			if !slices.Equal(keys(got), tc.want) {
				t.Errorf("childrenState(%q, suggestedOnly %v) = %v, want %v", tc.roomType, tc.suggestedOnly, keys(got), tc.want)
			}
			var walked []string
			for _, c := range parseChildren(tc.roomType, evs, tc.suggestedOnly) {
				walked = append(walked, string(c.roomID))
			}
			if !slices.Equal(walked, tc.want) {
				t.Errorf("parseChildren(%q, suggestedOnly %v) = %v, want %v (the same as children_state)", tc.roomType, tc.suggestedOnly, walked, tc.want)
			}
		})
	}
}
