package fedevents

import "testing"

// TestVisibilityAllows checks rules 1, 2 and 4 of history visibility as
// applied to a server: the memberships are those of the server's users in
// the state before the event. Rule 3 (shared, joined later) needs the
// room's current members and is covered end to end.
func TestVisibilityAllows(t *testing.T) {
	cases := []struct {
		name        string
		visibility  string
		memberships []string
		want        bool
	}{
		{"rule 1: world_readable allows a server with no users", "world_readable", nil, true},
		{"rule 2: a joined user allows (joined)", "joined", []string{"leave", "join"}, true},
		{"rule 2: a joined user allows (invited)", "invited", []string{"join"}, true},
		{"rule 2: a joined user allows (shared)", "shared", []string{"join"}, true},
		{"rule 4: an invited user allows under invited", "invited", []string{"invite"}, true},
		{"rule 4: an invited user does not under joined", "joined", []string{"invite"}, false},
		{"rule 5: left users do not", "joined", []string{"leave", "ban"}, false},
		{"rule 5: shared without users here does not", "shared", nil, false},
		{"rule 5: a knocking user does not", "invited", []string{"knock"}, false},
	}
	v := &visibility{}
	for _, tc := range cases {
		if got := v.allows(tc.visibility, tc.memberships); got != tc.want {
			t.Errorf("%s: allows(%s, %v) = %v, want %v", tc.name, tc.visibility, tc.memberships, got, tc.want)
		}
	}
	for _, tc := range []struct{ content, want string }{
		{`{"content":{"history_visibility":"joined"}}`, "joined"},
		{`{"content":{"history_visibility":"nonsense"}}`, "shared"},
		{`{"content":{"history_visibility":1}}`, "shared"},
		{`{"content":{}}`, "shared"},
	} {
		if got := visibilityOf([]byte(tc.content)); got != tc.want {
			t.Errorf("visibilityOf(%s) = %s, want %s (values not understood are shared)", tc.content, got, tc.want)
		}
	}
}
