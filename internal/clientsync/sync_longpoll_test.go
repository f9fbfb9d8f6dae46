package clientsync

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// safety bounds how long a test waits for a result that must come; it is
// a guard against hanging, not a timing assertion.
const safety = time.Minute

type syncResult struct {
	resp *Response
	err  error
}

func (h *harness) startSync(req Request) <-chan syncResult {
	ch := make(chan syncResult, 1)
	go func() {
		resp, err := h.sync.Sync(h.ctx, req)
		ch <- syncResult{resp, err}
	}()
	return ch
}

func await(t *testing.T, ch <-chan syncResult) *Response {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Sync: %v", r.err)
		}
		return r.resp
	case <-time.After(safety):
		t.Fatal("Sync did not return")
		return nil
	}
}

func TestLongPoll(t *testing.T) { forEachBackend(t, testLongPoll) }

func testLongPoll(t *testing.T) {
	t.Run("sync timeout: returns with the event that arrives while waiting", func(t *testing.T) {
		h := newHarness(t, 0)
		roomID := h.createRoom(alice)
		since := h.initial(alice, nil).NextBatch
		// The timeout is longer than the test may run: only the event
		// can end the wait.
		ch := h.startSync(Request{User: alice, Since: since, Timeout: MaxTimeout})
		h.send(roomID, alice, "wake")
		resp := await(t, ch)
		if jr := roomsOf(resp).Join[string(roomID)]; jr == nil || !slices.Equal(bodies(jr.Timeline.Events), []string{"wake"}) {
			t.Errorf("long-poll response = %+v, want the timeline [wake]", resp.Rooms)
		}
	})
	t.Run("sync timeout: returns empty with the same next_batch when nothing happens", func(t *testing.T) {
		h := newHarness(t, 0)
		h.createRoom(alice)
		since := h.initial(alice, nil).NextBatch
		resp := h.syncWith(h.sync, Request{User: alice, Since: since, Timeout: 20 * time.Millisecond})
		if !resp.isEmpty() || resp.NextBatch != since {
			t.Errorf("response = %+v, next_batch %s; want empty with %s", resp.Rooms, resp.NextBatch, since)
		}
	})
	t.Run("sync timeout: events in rooms the user is not in bring no content", func(t *testing.T) {
		h := newHarness(t, 0)
		mine := h.createRoom(alice)
		other := h.createRoom(carol)
		since := h.initial(alice, nil).NextBatch
		ch := h.startSync(Request{User: alice, Since: since, Timeout: MaxTimeout})
		h.send(other, carol, "not for alice")
		h.send(mine, alice, "for alice")
		resp := await(t, ch)
		rs := roomsOf(resp)
		if _, ok := rs.Join[string(other)]; ok {
			t.Errorf("response holds room %s the user is not in", other)
		}
		if jr := rs.Join[string(mine)]; jr == nil || !slices.Equal(bodies(jr.Timeline.Events), []string{"for alice"}) {
			t.Errorf("response = %+v, want only [for alice]", rs.Join)
		}
	})
	t.Run("sync timeout: the client going away ends the wait", func(t *testing.T) {
		h := newHarness(t, 0)
		h.createRoom(alice)
		since := h.initial(alice, nil).NextBatch
		ctx, cancel := context.WithCancel(h.ctx)
		ch := make(chan error, 1)
		go func() {
			_, err := h.sync.Sync(ctx, Request{User: alice, Since: since, Timeout: MaxTimeout})
			ch <- err
		}()
		cancel()
		select {
		case err := <-ch:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Sync after cancel = %v", err)
			}
		case <-time.After(safety):
			t.Fatal("Sync did not return after its context was cancelled")
		}
	})
}

func TestSyncTokens(t *testing.T) { forEachBackend(t, testSyncTokens) }

func testSyncTokens(t *testing.T) {
	h := newHarness(t, 0)
	h.createRoom(alice)
	for _, tok := range []string{"x", "s", "s-1", "sabc", "12", "s1_", "t1-2", "s99999999999999999999"} {
		t.Run("sync since: malformed token "+tok+" is rejected", func(t *testing.T) {
			_, err := h.sync.Sync(h.ctx, Request{User: alice, Since: tok})
			if !errors.Is(err, ErrBadToken) {
				t.Errorf("Sync(since=%q) = %v, want ErrBadToken", tok, err)
			}
		})
	}
	t.Run("sync since: a token from the future returns at once with the current position", func(t *testing.T) {
		future := Token(h.sync.Position() + 1000)
		resp := h.syncWith(h.sync, Request{User: alice, Since: future})
		if resp.NextBatch != h.pos() {
			t.Errorf("next_batch = %s, want the current %s", resp.NextBatch, h.pos())
		}
	})
}
