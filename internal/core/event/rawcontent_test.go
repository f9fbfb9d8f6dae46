package event

import "testing"

func TestRawContent(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"type":"m.room.message","content":{"body":"hi"}}`, `{"body":"hi"}`},
		{`{"type":"m.room.message"}`, ``},
		{`[1]`, ``},
		{`not json`, ``},
	}
	for _, tc := range tests {
		if got := string(RawContent([]byte(tc.in))); got != tc.want {
			t.Errorf("RawContent(%s) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
