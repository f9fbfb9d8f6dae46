package e2ee

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// slowDevices is a server that answers /user/devices only once the test
// lets it (or the request's context ends).
type slowDevices struct {
	user    id.UserID
	entered chan struct{} // receives each request as it arrives

	mu      sync.Mutex
	release chan struct{}
	asked   int
}

func (d *slowDevices) Do(ctx context.Context, req federation.Request) ([]byte, error) {
	if !strings.HasPrefix(req.Path, "/_matrix/federation/v1/user/devices/") {
		return nil, fmt.Errorf("unexpected request %s", req.Path)
	}
	d.mu.Lock()
	d.asked++
	release := d.release
	d.mu.Unlock()
	select {
	case d.entered <- struct{}{}:
	default:
	}
	select {
	case <-release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	keys := map[string]any{"user_id": d.user, "device_id": "C1", "algorithms": []string{"m.olm.v1.curve25519-aes-sha2"},
		"keys": map[string]string{"ed25519:C1": "key"}}
	return json.Marshal(map[string]any{"user_id": d.user, "stream_id": 9, "devices": []any{map[string]any{"device_id": "C1", "keys": keys}}})
}

func (d *slowDevices) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.asked
}

// joinTestRoom makes users joined members of roomID.
func joinTestRoom(t *testing.T, db *store.DB, roomID id.RoomID, users ...id.UserID) {
	t.Helper()
	ctx := context.Background()
	if err := db.Write(ctx, func(tx *store.Tx) error {
		for i, u := range users {
			sk := string(u)
			nid, pos, err := tx.InsertEvent(ctx, store.EventRecord{EventID: id.EventID(fmt.Sprintf("$join%d:%s", i, u.Domain())), RoomID: roomID,
				Type: "m.room.member", StateKey: &sk, Sender: u, Depth: int64(i + 1), OriginServerTS: 1, JSON: []byte(`{}`)})
			if err != nil {
				return err
			}
			if err := tx.SetMembership(ctx, store.Member{RoomID: roomID, UserID: u, Membership: "join", EventNID: nid, StreamPos: pos}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestResyncOffTransactionPath: an m.device_list_update after a gap makes
// the server fetch the user's whole list (/user/devices). The update is
// handled without waiting for that fetch, however long the user's server
// takes, so the origin's later transactions are not held; meanwhile the
// cached list is stale (key queries go to the user's server). Updates
// that arrive while the fetch runs make it run once more, not once each.
// Close abandons a fetch that hangs.
func TestResyncOffTransactionPath(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		db := openStore(t, dsn)
		carol := id.UserID("@carol:slow.test")
		joinTestRoom(t, db, "!room:hafen.test", "@alice:hafen.test", carol)
		remote := &slowDevices{user: carol, entered: make(chan struct{}, 1), release: make(chan struct{})}
		s := &Service{DB: db, ServerName: "hafen.test", Remote: remote, RemoteTimeout: time.Hour}
		t.Cleanup(s.Close)

		update := func(streamID int64) {
			t.Helper()
			c, _ := json.Marshal(map[string]any{"user_id": carol, "device_id": "C1", "stream_id": streamID, "prev_id": []int64{streamID - 1},
				"keys": map[string]any{"user_id": carol, "device_id": "C1"}})
			done := make(chan error, 1)
			go func() { done <- s.DeviceListUpdate(ctx, "slow.test", c) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("update %d: %v", streamID, err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("update %d waits for the user's server", streamID)
			}
		}
		update(5) // nothing cached: a gap
		<-remote.entered
		for sid := int64(6); sid <= 8; sid++ {
			update(sid)
		}
		if l, err := db.RemoteDeviceListOf(ctx, carol); err != nil || !l.Stale {
			t.Errorf("list while its resync runs = %+v, %v; want stale", l, err)
		}
		close(remote.release)
		deadline := time.Now().Add(30 * time.Second)
		for {
			s.resyncs.mu.Lock()
			idle := len(s.resyncs.users) == 0
			s.resyncs.mu.Unlock()
			if idle {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the resyncs never finished")
			}
			time.Sleep(5 * time.Millisecond)
		}
		if n := remote.count(); n != 2 {
			t.Errorf("/user/devices asked %d times, want 2 (the first, and one for the updates that came during it)", n)
		}
		l, err := db.RemoteDeviceListOf(ctx, carol)
		if err != nil || l.Stale || l.StreamID != 9 {
			t.Errorf("list after the resyncs = %+v, %v; want stream 9, not stale", l, err)
		}
		devs, err := db.RemoteDeviceKeys(ctx, carol)
		if err != nil || len(devs) != 1 || devs[0].DeviceID != "C1" {
			t.Errorf("cached devices = %+v, %v", devs, err)
		}

		// A server that never answers: Close abandons the fetch.
		remote.mu.Lock()
		remote.release = make(chan struct{})
		remote.mu.Unlock()
		select {
		case <-remote.entered: // the second fetch's
		default:
		}
		update(20)
		<-remote.entered
		s.Close()
	})
}
