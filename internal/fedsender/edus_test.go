package fedsender

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// TestEDUsSurviveOutageAndRestart: EDUs queued while the destination is
// down wait in the database, survive a restart, and arrive exactly once
// and in order when it is back, at most MaxEDUs per transaction (the peer
// refuses larger ones); typing notifications for a destination in backoff
// are dropped, and go out once it is up.
func TestEDUsSurviveOutageAndRestart(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		h, p := run(t, dsn, time.Hour)
		ctx := context.Background()
		roomID, _ := h.publicRoom(t)
		p.setDown(true)
		const n = 150
		queue := func(from, to int) {
			err := h.db.Write(ctx, func(tx *store.Tx) error {
				for i := from; i < to; i++ {
					if err := tx.EnqueueEDU(ctx, []id.ServerName{p.name}, EDUReceipt, []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			h.sender.Wake([]id.ServerName{p.name})
		}
		queue(0, 1)
		h.waitFailures(t, 1)
		queue(1, n)
		h.sender.QueueTyping([]id.ServerName{p.name}, roomID, alice, true)
		if d := h.destination(t); d.QueuedEDUs != n {
			t.Errorf("destination while down = %+v, want %d queued EDUs", d, n)
		}

		h.reopen(t)
		p.setDown(false)
		h.sender.Contacted(p.name)
		got := p.waitEDUs(t, n)
		if len(got) != n {
			t.Fatalf("peer received %d EDUs, want %d", len(got), n)
		}
		for i, e := range got {
			var c struct{ N int }
			json.Unmarshal(e.Content, &c)
			if e.Type != EDUReceipt || c.N != i {
				t.Fatalf("EDU %d = %s %s, want %s n=%d (each once, in order; no typing from the outage)", i, e.Type, e.Content, EDUReceipt, i)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for d := h.destination(t); d.QueuedEDUs != 0 || d.Failures != 0; d = h.destination(t) {
			if time.Now().After(deadline) {
				t.Fatalf("destination after delivery = %+v, want nothing queued", d)
			}
			time.Sleep(10 * time.Millisecond)
		}

		h.sender.QueueTyping([]id.ServerName{p.name}, roomID, alice, true)
		got = p.waitEDUs(t, n+1)
		var typing struct {
			RoomID id.RoomID `json:"room_id"`
			UserID id.UserID `json:"user_id"`
			Typing bool      `json:"typing"`
		}
		json.Unmarshal(got[n].Content, &typing)
		if got[n].Type != EDUTyping || typing.RoomID != roomID || typing.UserID != alice || !typing.Typing {
			t.Errorf("typing EDU = %s %s", got[n].Type, got[n].Content)
		}
		if bad := p.badRequests(); len(bad) > 0 {
			t.Errorf("bad requests at the peer: %v", bad)
		}
	})
}

// stubDeviceLists builds a device list EDU naming the change.
type stubDeviceLists struct{}

func (stubDeviceLists) DeviceListEDU(_ context.Context, c store.DeviceListChange) (string, []byte, error) {
	b, err := json.Marshal(map[string]any{"user_id": c.UserID, "device_id": c.DeviceID, "stream_id": c.StreamID})
	return EDUDeviceListUpdate, b, err
}

// TestDeviceListChangesAnnounced: the device list changes of local users
// go to the servers sharing a room with them, each once, also when the
// destination is down and the sender restarts meanwhile; changes of other
// servers' users, and those made before the sender first ran, are not
// announced.
func TestDeviceListChangesAnnounced(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		h := startHome(t, dsn, time.Hour)
		h.peer = startPeer(t, h.key)
		change := func(user id.UserID, device string) int64 {
			t.Helper()
			var pos int64
			err := h.db.Write(ctx, func(tx *store.Tx) (err error) {
				pos, err = tx.AddDeviceListChange(ctx, user, device)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return pos
		}
		// Before the first start: the history is not announced.
		db, err := store.Open(ctx, dsn, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		h.db = db
		change(alice, "OLD")
		db.Close()
		h.deviceLists = stubDeviceLists{}
		h.open(t)
		t.Cleanup(func() { h.close() })
		p := h.peer
		h.publicRoom(t)

		bob := id.UserID("@bob:" + string(p.name))
		change(bob, "B1")
		first := change(alice, "D1")
		h.sender.DeviceListsChanged()
		got := p.waitEDUs(t, 1)

		p.setDown(true)
		second := change(alice, "D2")
		h.sender.DeviceListsChanged()
		h.waitFailures(t, 1)
		h.reopen(t)
		p.setDown(false)
		h.sender.Contacted(p.name)
		p.waitEDUs(t, 2)
		deadline := time.Now().Add(30 * time.Second)
		for d := h.destination(t); d.QueuedEDUs != 0; d = h.destination(t) {
			if time.Now().After(deadline) {
				t.Fatalf("destination = %+v, want its EDUs sent", d)
			}
			time.Sleep(10 * time.Millisecond)
		}
		got = p.receivedEDUs()
		var streams []int64
		for _, e := range got {
			var c struct {
				UserID   id.UserID `json:"user_id"`
				StreamID int64     `json:"stream_id"`
			}
			json.Unmarshal(e.Content, &c)
			if e.Type != EDUDeviceListUpdate || c.UserID != alice {
				t.Errorf("EDU %s %s, want alice's device list updates only", e.Type, e.Content)
			}
			streams = append(streams, c.StreamID)
		}
		if len(streams) != 2 || streams[0] != first || streams[1] != second {
			t.Errorf("announced changes %v, want [%d %d] once each", streams, first, second)
		}
	})
}

// noLocalTyping is a Typing's Local that keeps nothing.
type noLocalTyping struct{}

func (noLocalTyping) SetTyping(id.RoomID, id.UserID, bool, time.Duration) {}

// TestTypingAnnouncedAgainUntilTimeout: a local user who goes on typing is
// announced to the other servers again every Ping, and once the client's
// timeout runs out without a stop, the stop is announced.
func TestTypingAnnouncedAgainUntilTimeout(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		h, p := run(t, dsn, time.Hour)
		roomID, _ := h.publicRoom(t)
		h.sender.Contacted(p.name)
		typing := &Typing{Local: noLocalTyping{}, Sender: h.sender, Ping: 20 * time.Millisecond}
		t.Cleanup(typing.Stop)
		// The timeout is fifty pings: the first announcement, repeats and
		// the end reach the peer.
		typing.SetTyping(roomID, alice, true, time.Second)
		var states []bool
		for n := 1; ; n++ {
			got := p.waitEDUs(t, n)
			var c struct {
				RoomID id.RoomID `json:"room_id"`
				UserID id.UserID `json:"user_id"`
				Typing bool      `json:"typing"`
			}
			e := got[n-1]
			if err := json.Unmarshal(e.Content, &c); err != nil || e.Type != EDUTyping || c.RoomID != roomID || c.UserID != alice {
				t.Fatalf("EDU %d = %s %s, want alice's typing in %s", n, e.Type, e.Content, roomID)
			}
			states = append(states, c.Typing)
			if !c.Typing {
				break
			}
		}
		if len(states) < 3 {
			t.Errorf("typing announcements %v, want the start, at least one repeat and the end", states)
		}
		typing.mu.Lock()
		left := len(typing.timers)
		typing.mu.Unlock()
		if left != 0 {
			t.Errorf("%d typing timers left after the end", left)
		}
	})
}
