package clientsync

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// typingOf returns the user_ids of a room's m.typing event in a sync
// response, and whether there is one.
func typingOf(t *testing.T, r *Response, roomID id.RoomID) ([]string, bool) {
	t.Helper()
	jr := roomsOf(r).Join[string(roomID)]
	if jr == nil {
		return nil, false
	}
	for _, raw := range jr.Ephemeral.Events {
		var ev struct {
			Type    string `json:"type"`
			Content struct {
				UserIDs []string `json:"user_ids"`
			} `json:"content"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type == "m.typing" {
			return ev.Content.UserIDs, true
		}
	}
	return nil, false
}

func TestSyncTyping(t *testing.T) { forEachBackend(t, testSyncTyping) }

func testSyncTyping(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	other := h.createRoom(carol)
	first := h.initial(alice, nil)
	if _, ok := typingOf(t, first, roomID); ok {
		t.Error("initial sync shows typing before anyone typed")
	}

	h.sync.SetTyping(roomID, bob, true, time.Hour)
	h.sync.SetTyping(roomID, alice, true, 0)
	h.sync.SetTyping(other, carol, true, time.Hour) // a room alice is not in
	second := h.next(alice, first.NextBatch, nil)
	if got, ok := typingOf(t, second, roomID); !ok || !slices.Equal(got, []string{string(alice), string(bob)}) {
		t.Errorf("typing = %v (%v), want alice and bob", got, ok)
	}
	if roomsOf(second).Join[string(other)] != nil {
		t.Error("alice sees typing in a room she is not in")
	}
	if again := h.next(alice, second.NextBatch, nil); !again.isEmpty() {
		t.Errorf("sync after typing = %+v, want empty", again.Rooms)
	}
	if got, _ := typingOf(t, h.initial(bob, nil), roomID); len(got) != 2 {
		t.Errorf("bob's initial sync typing = %v", got)
	}

	// Stopping reaches a waiting sync; so does an expiry.
	ch := h.startSync(Request{User: alice, Since: second.NextBatch, Timeout: MaxTimeout})
	h.sync.SetTyping(roomID, bob, false, 0)
	third := await(t, ch)
	if got, ok := typingOf(t, third, roomID); !ok || !slices.Equal(got, []string{string(alice)}) {
		t.Errorf("after bob stopped, typing = %v (%v)", got, ok)
	}
	h.sync.SetTyping(roomID, bob, true, 10*time.Millisecond)
	var expired []string
	since := third.NextBatch
	for range 10 {
		resp := h.syncWith(h.sync, Request{User: alice, Since: since, Timeout: MaxTimeout})
		since = resp.NextBatch
		got, ok := typingOf(t, resp, roomID)
		if ok && !slices.Contains(got, string(bob)) {
			expired = got
			break
		}
	}
	if !slices.Equal(expired, []string{string(alice)}) {
		t.Errorf("after bob's typing expired, typing = %v", expired)
	}
}

// A user who leaves a room stops typing in it at once: the room's other
// members see the change, and an initial sync no longer lists them.
func TestSyncTypingEndsOnLeave(t *testing.T) { forEachBackend(t, testSyncTypingEndsOnLeave) }

func testSyncTypingEndsOnLeave(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	first := h.initial(alice, nil)
	h.sync.SetTyping(roomID, bob, true, time.Hour)
	second := h.next(alice, first.NextBatch, nil)
	if got, _ := typingOf(t, second, roomID); !slices.Equal(got, []string{string(bob)}) {
		t.Fatalf("typing = %v, want bob", got)
	}
	h.member(roomID, bob, bob, "leave")
	third := h.next(alice, second.NextBatch, nil)
	if got, ok := typingOf(t, third, roomID); !ok || len(got) != 0 {
		t.Errorf("typing after bob left = %v (%v), want an empty m.typing", got, ok)
	}
	if got, _ := typingOf(t, h.initial(alice, nil), roomID); len(got) != 0 {
		t.Errorf("initial sync after bob left lists typing %v", got)
	}
}
