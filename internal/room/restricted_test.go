package room

import (
	"fmt"
	"testing"
)

// TestAllowedRooms checks the reading of m.room.join_rules' allow list
// (Client-Server API § Restricted rooms, "Conditions"): only
// m.room_membership conditions with a valid room ID count; anything else
// cannot be satisfied and is skipped.
func TestAllowedRooms(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"one condition", `{"join_rule":"restricted","allow":[{"type":"m.room_membership","room_id":"!a:x"}]}`, "[!a:x]"},
		{"several, in order", `{"allow":[{"type":"m.room_membership","room_id":"!a:x"},{"type":"m.room_membership","room_id":"!b:y"}]}`, "[!a:x !b:y]"},
		{"unknown condition type skipped", `{"allow":[{"type":"org.example","room_id":"!a:x"},{"type":"m.room_membership","room_id":"!b:y"}]}`, "[!b:y]"},
		{"invalid room ID skipped", `{"allow":[{"type":"m.room_membership","room_id":"#alias:x"},{"type":"m.room_membership","room_id":7}]}`, "[]"},
		{"entry not an object skipped", `{"allow":["!a:x",{"type":"m.room_membership","room_id":"!b:y"}]}`, "[!b:y]"},
		{"allow not a list", `{"allow":{"type":"m.room_membership","room_id":"!a:x"}}`, "[]"},
		{"no allow", `{"join_rule":"restricted"}`, "[]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fmt.Sprint(allowedRooms([]byte(tc.content))); got != tc.want {
				t.Errorf("allowedRooms(%s) = %s, want %s", tc.content, got, tc.want)
			}
		})
	}
}
