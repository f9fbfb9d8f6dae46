package clientsync

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/e2ee"
)

func TestLongPollE2EEWakes(t *testing.T) { forEachBackend(t, testLongPollE2EEWakes) }

// testLongPollE2EEWakes checks that a long poll woken for end-to-end
// encryption news it has already seen (a wake that came late) waits on,
// and that one woken by a device list change answers with it.
func testLongPollE2EEWakes(t *testing.T) {
	h := newHarness(t, 0)
	roomID := h.createRoom(alice)
	h.member(roomID, bob, bob, "join")
	keys := &e2ee.Service{DB: h.db, ServerName: testServer, Notify: h.sync.WakeUsers}
	h.sync.SetE2EE(keys)
	const dev = id.DeviceID("ALICEDEV")
	since := h.syncWith(h.sync, Request{User: alice, Device: dev}).NextBatch

	// waiter returns the wake registered by alice's long poll, nil while
	// there is none.
	waiter := func() *context.CancelFunc {
		h.sync.e2ee.mu.Lock()
		defer h.sync.e2ee.mu.Unlock()
		for k := range h.sync.e2ee.waiters[alice] {
			return k
		}
		return nil
	}
	waitFor := func(what string, ch <-chan syncResult, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(safety); !ok(); time.Sleep(time.Millisecond) {
			select {
			case r := <-ch:
				t.Fatalf("the long poll answered while waiting for %s: %+v", what, r.resp)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s", what)
			}
		}
	}

	ch := h.startSync(Request{User: alice, Device: dev, Since: since, Timeout: MaxTimeout})
	var first *context.CancelFunc
	waitFor("the long poll's wake", ch, func() bool { first = waiter(); return first != nil })
	h.sync.WakeUsers([]id.UserID{alice}) // nothing new for alice's token
	waitFor("the long poll to wait again", ch, func() bool { w := waiter(); return w != nil && w != first })
	h.send(roomID, bob, "after the stale wake")
	resp := await(t, ch)
	if jr := roomsOf(resp).Join[string(roomID)]; jr == nil || !slices.Equal(bodies(jr.Timeline.Events), []string{"after the stale wake"}) {
		t.Errorf("response = %+v, want the message sent after the stale wake", resp.Rooms)
	}
	if resp.DeviceLists != nil && len(resp.DeviceLists.Changed) > 0 {
		t.Errorf("device_lists = %+v, want none", resp.DeviceLists)
	}

	ch = h.startSync(Request{User: alice, Device: dev, Since: resp.NextBatch, Timeout: MaxTimeout})
	waitFor("the second long poll's wake", ch, func() bool { return waiter() != nil })
	h.deviceListChanged(keys, bob)
	resp = await(t, ch)
	if resp.DeviceLists == nil || !slices.Equal(resp.DeviceLists.Changed, []id.UserID{bob}) {
		t.Errorf("device_lists = %+v, want bob changed", resp.DeviceLists)
	}
}
