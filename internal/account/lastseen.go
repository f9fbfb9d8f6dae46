package account

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// LastSeenInterval is how often a device's last_seen_ts and last_seen_ip
// are written at most: a client making requests all the time costs one
// write per interval, and its sessions list is as fresh as that. The
// address is the one of the request that writes (a client that switches
// between addresses, as dual-stack ones do, costs no more).
const LastSeenInterval = 5 * time.Minute

// maxSeenDevices bounds the devices lastSeen remembers; past it, it starts
// over (each device's next request writes once more).
const maxSeenDevices = 100_000

// lastSeen remembers when each device's last seen time was last written.
type lastSeen struct {
	mu      sync.Mutex
	written map[deviceKey]time.Time
}

type deviceKey struct {
	user   id.UserID
	device id.DeviceID
}

// due reports whether the device's last seen time should be written now,
// and records it as written.
func (l *lastSeen) due(k deviceKey, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if at, ok := l.written[k]; ok && now.Sub(at) < LastSeenInterval {
		return false
	}
	if l.written == nil || len(l.written) >= maxSeenDevices {
		l.written = map[deviceKey]time.Time{}
	}
	l.written[k] = now
	return true
}

// forget makes the next DeviceSeen of the device write again (its write
// failed).
func (l *lastSeen) forget(k deviceKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.written, k)
}

// DeviceSeen records that a device made a request now from ip, for its
// last_seen_ts and last_seen_ip (GET /devices): written when the last
// write is LastSeenInterval old, so at most once per interval. A device
// that no longer exists is left alone.
func (s *Service) DeviceSeen(ctx context.Context, userID id.UserID, deviceID id.DeviceID, ip string) error {
	now := s.now()
	k := deviceKey{userID, deviceID}
	if !s.seen.due(k, now) {
		return nil
	}
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.SetDeviceLastSeen(ctx, userID, deviceID, now.UnixMilli(), ip)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.seen.forget(k)
		return fmt.Errorf("record device %s of %s as seen: %w", deviceID, userID, err)
	}
	return nil
}
