package e2ee

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// What every /sync asks of the service (is a to-device message waiting,
// the one-time key counts, the unused fallback key types, the device list
// position) is answered from memory once known, so that the sync of a
// device whose keys did not change makes no store call for it. The service
// updates the cache after each of its own commits.
//
// The cache belongs to one process: devices deleted through the account
// service keep their cached key counts (a device ID reused later would
// see them until its next upload), and the device list position written
// by other writers is read again at most every deviceListRefresh.
// TODO(#9): invalidate across processes sharing a PostgreSQL database.

// deviceListRefresh is how long a cached device list position is used
// before it is read again. A stale position only delays a change to the
// next sync (the token never passes what was read), it never loses one.
const deviceListRefresh = time.Second

// deviceKey names a device.
type deviceKey struct {
	user   id.UserID
	device id.DeviceID
}

// deviceState is what the cache knows of one device.
type deviceState struct {
	// gen counts the commits that changed the device; a value read from
	// the store is kept only if gen did not move meanwhile.
	gen int64
	// toDeviceLast is the last to-device stream ID given to the device;
	// -1 while unknown.
	toDeviceLast int64
	// ackedUpTo: the device's messages up to it are known deleted.
	ackedUpTo int64
	// counts and fallback are nil while unknown.
	counts   map[string]int
	fallback []string
}

// cache holds deviceState per device and the device list position.
type cache struct {
	// mu guards the fields below. A leaf: never held across a store call.
	mu      sync.Mutex
	devices map[deviceKey]*deviceState
	// listPos is the device list position, read at listRead.
	listPos  int64
	listRead time.Time
}

// state returns the device's entry, creating it; c.mu must be held.
func (c *cache) state(k deviceKey) *deviceState {
	if c.devices == nil {
		c.devices = map[deviceKey]*deviceState{}
	}
	st, ok := c.devices[k]
	if !ok {
		st = &deviceState{toDeviceLast: -1}
		c.devices[k] = st
	}
	return st
}

// keysChanged forgets the device's key counts and fallback types (after a
// commit that changed them).
func (c *cache) keysChanged(k deviceKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.state(k)
	st.gen++
	st.counts, st.fallback = nil, nil
}

// toDeviceQueued records a message given stream ID pos (after commit).
func (c *cache) toDeviceQueued(k deviceKey, pos int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.state(k)
	st.gen++
	if st.toDeviceLast >= 0 {
		st.toDeviceLast = max(st.toDeviceLast, pos)
	}
}

// deviceListMoved records a device list change at pos (after commit).
func (c *cache) deviceListMoved(pos int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listPos = max(c.listPos, pos)
}

// load returns a cached value of the device, or reads it with read and
// caches it unless the device changed meanwhile.
func load[T any](ctx context.Context, c *cache, k deviceKey, get func(*deviceState) (T, bool), set func(*deviceState, T),
	read func(context.Context) (T, error)) (T, error) {
	c.mu.Lock()
	st := c.state(k)
	if v, ok := get(st); ok {
		c.mu.Unlock()
		return v, nil
	}
	gen := st.gen
	c.mu.Unlock()
	v, err := read(ctx)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	if st := c.state(k); st.gen == gen {
		set(st, v)
	}
	c.mu.Unlock()
	return v, nil
}

// toDeviceLast returns the last to-device stream ID of the device.
func (s *Service) toDeviceLast(ctx context.Context, user id.UserID, device id.DeviceID) (int64, error) {
	return load(ctx, &s.cache, deviceKey{user, device},
		func(st *deviceState) (int64, bool) { return st.toDeviceLast, st.toDeviceLast >= 0 },
		func(st *deviceState, v int64) { st.toDeviceLast = max(st.toDeviceLast, v) },
		func(ctx context.Context) (int64, error) { return s.DB.ToDevicePosition(ctx, user, device) })
}

// OneTimeKeyCounts returns the device's count of unclaimed one-time keys
// per algorithm (always including signed_curve25519), for /sync. The
// caller must not change the map.
func (s *Service) OneTimeKeyCounts(ctx context.Context, user id.UserID, device id.DeviceID) (map[string]int, error) {
	return load(ctx, &s.cache, deviceKey{user, device},
		func(st *deviceState) (map[string]int, bool) { return st.counts, st.counts != nil },
		func(st *deviceState, v map[string]int) { st.counts = v },
		func(ctx context.Context) (map[string]int, error) {
			counts, err := s.DB.OneTimeKeyCounts(ctx, user, device)
			if err != nil {
				return nil, err
			}
			if _, ok := counts[algSignedCurve25519]; !ok {
				counts[algSignedCurve25519] = 0
			}
			return counts, nil
		})
}

// UnusedFallbackKeyTypes returns the algorithms of the device's fallback
// keys not handed out yet, for /sync.
func (s *Service) UnusedFallbackKeyTypes(ctx context.Context, user id.UserID, device id.DeviceID) ([]string, error) {
	types, err := load(ctx, &s.cache, deviceKey{user, device},
		func(st *deviceState) ([]string, bool) { return st.fallback, st.fallback != nil },
		func(st *deviceState, v []string) { st.fallback = v },
		func(ctx context.Context) ([]string, error) { return s.DB.UnusedFallbackKeyTypes(ctx, user, device) })
	return slices.Clone(types), err
}

// DeviceListPosition returns the newest position of the device list
// stream, for sync tokens.
func (s *Service) DeviceListPosition(ctx context.Context) (int64, error) {
	now := s.now()
	s.cache.mu.Lock()
	if !s.cache.listRead.IsZero() && now.Sub(s.cache.listRead) < deviceListRefresh {
		pos := s.cache.listPos
		s.cache.mu.Unlock()
		return pos, nil
	}
	s.cache.mu.Unlock()
	pos, err := s.DB.DeviceListPosition(ctx)
	if err != nil {
		return 0, err
	}
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	s.cache.listPos, s.cache.listRead = max(s.cache.listPos, pos), now
	return s.cache.listPos, nil
}

// DevicesRemoved forgets what the cache holds of the user's devices and
// reads the device list position again at the next sync: the account
// service calls it after removing devices (account.Service.DevicesRemoved).
func (s *Service) DevicesRemoved(user id.UserID) {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	for k, st := range s.cache.devices {
		if k.user == user {
			st.gen++
			st.counts, st.fallback = nil, nil
		}
	}
	s.cache.listRead = time.Time{}
	if s.Federation != nil {
		s.Federation.DeviceListsChanged()
	}
	if s.Notify != nil {
		go s.wakeSharing(user)
	}
}

// deviceListMoved records a committed device list change of user at pos,
// tells the federation sender, which announces it to other servers, and
// wakes the syncs of the local users who share a room with user (and its
// own), which report it in device_lists.changed. It runs after a commit:
// the users are looked up on a goroutine of its own.
func (s *Service) deviceListMoved(pos int64, user id.UserID) {
	s.cache.deviceListMoved(pos)
	if s.Federation != nil {
		s.Federation.DeviceListsChanged()
	}
	if s.Notify != nil {
		go s.wakeSharing(user)
	}
}

// recordDeviceListChange records in tx that user's device list changed
// (device names the device, "" the list as a whole) and, once tx commits,
// tells the caches, the syncs and the federation sender
// (deviceListMoved).
func (s *Service) recordDeviceListChange(ctx context.Context, tx *store.Tx, user id.UserID, device string) error {
	pos, err := tx.AddDeviceListChange(ctx, user, device)
	if err != nil {
		return err
	}
	tx.AfterCommit(func() { s.deviceListMoved(pos, user) })
	return nil
}

// wakeSharing wakes the syncs of the local users who share a room with
// user, and of user if it is local.
func (s *Service) wakeSharing(user id.UserID) {
	users, err := s.DB.LocalUsersSharingRooms(context.Background(), user, s.ServerName)
	if err != nil {
		// The syncs answer at their timeout instead.
		return
	}
	if user.Domain() == s.ServerName {
		users = append(users, user)
	}
	if len(users) > 0 {
		s.Notify(users)
	}
}
