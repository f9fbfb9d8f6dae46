package clientsync

import "testing"

func TestMatchType(t *testing.T) {
	cases := []struct {
		pattern, typ string
		want         bool
	}{
		{"m.room.message", "m.room.message", true},
		{"m.room.message", "m.room.messages", false},
		{"m.room.*", "m.room.member", true},
		{"m.room.*", "m.call.invite", false},
		{"*", "anything", true},
		{"m.*.member", "m.room.member", true},
		{"m.*.member", "m.room.name", false},
		{"*.member", "m.room.member", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "acb", false},
		{"ab*ba", "aba", false}, // prefix and suffix may not overlap
	}
	for _, tc := range cases {
		if got := matchType(tc.pattern, tc.typ); got != tc.want {
			t.Errorf("matchType(%q, %q) = %v, want %v", tc.pattern, tc.typ, got, tc.want)
		}
	}
}

func TestEventFilterMatch(t *testing.T) {
	f := &EventFilter{
		Types:      []string{"m.room.*"},
		NotTypes:   []string{"m.room.member"},
		NotSenders: []string{"@spam:x"},
	}
	cases := []struct {
		name, typ, sender string
		want              bool
	}{
		{"spec: types wildcard includes", "m.room.message", "@a:x", true},
		{"spec: not_types wins over types", "m.room.member", "@a:x", false},
		{"spec: not_senders excludes", "m.room.message", "@spam:x", false},
		{"spec: types absent from list excluded", "m.call.invite", "@a:x", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.MatchEvent(tc.typ, tc.sender); got != tc.want {
				t.Errorf("MatchEvent(%q, %q) = %v, want %v", tc.typ, tc.sender, got, tc.want)
			}
		})
	}
	var none *EventFilter
	if !none.MatchEvent("x", "@a:x") {
		t.Error("nil filter must match everything")
	}
}

func TestParseFilterValidation(t *testing.T) {
	bad := []string{
		`{"event_format":"xml"}`,
		`{"room":{"timeline":{"limit":0}}}`,
		`{"presence":{"limit":-3}}`,
		`{"room":{"timeline":{"limit":"ten"}}}`,
		`[]`,
	}
	for _, in := range bad {
		if _, err := ParseFilter([]byte(in)); err == nil {
			t.Errorf("ParseFilter(%s) accepted, want error", in)
		}
	}
	f, err := ParseFilter([]byte(`{"room":{"timeline":{"limit":5000,"contains_url":true},"rooms":["!a:x"]}}`))
	if err != nil {
		t.Fatalf("ParseFilter: %v", err)
	}
	if got := f.Room.Timeline.LimitOr(DefaultTimelineLimit, MaxTimelineLimit); got != MaxTimelineLimit {
		t.Errorf("LimitOr = %d, want clamp to %d", got, MaxTimelineLimit)
	}
	if f.Room.MatchRoom("!b:x") {
		t.Error("room not in rooms list matched")
	}
	if f.Room.Timeline.MatchEvent("!a:x", "m.room.message", "@a:x", []byte(`{"body":"hi"}`)) {
		t.Error("contains_url=true matched an event without url")
	}
	if !f.Room.Timeline.MatchEvent("!a:x", "m.room.message", "@a:x", []byte(`{"url":"mxc://x/y"}`)) {
		t.Error("contains_url=true did not match an event with url")
	}
}
