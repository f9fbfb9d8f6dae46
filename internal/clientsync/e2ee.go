package clientsync

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/hafenchat/hafen/internal/core/id"
)

// The end-to-end encryption sections of a sync response: to-device
// messages, the device's one-time key counts and unused fallback key
// types.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#extensions-to-sync
// and https://spec.matrix.org/v1.19/client-server-api/#extensions-to-sync-1
// (send-to-device).

// E2EE is what sync needs of the e2ee service. e2ee.Service implements it.
type E2EE interface {
	// ToDeviceForSync deletes the device's to-device messages up to since
	// and returns the next ones with the position to put in next_batch.
	ToDeviceForSync(ctx context.Context, user id.UserID, device id.DeviceID, since int64) ([]json.RawMessage, int64, error)
	// HasToDevice reports whether the device has messages after since.
	HasToDevice(ctx context.Context, user id.UserID, device id.DeviceID, since int64) (bool, error)
	// OneTimeKeyCounts returns the device's unclaimed one-time key counts.
	OneTimeKeyCounts(ctx context.Context, user id.UserID, device id.DeviceID) (map[string]int, error)
	// UnusedFallbackKeyTypes returns the algorithms of the device's
	// fallback keys not handed out yet.
	UnusedFallbackKeyTypes(ctx context.Context, user id.UserID, device id.DeviceID) ([]string, error)
	// DeviceListPosition returns the newest position of the device list
	// stream.
	DeviceListPosition(ctx context.Context) (int64, error)
	// ChangedDeviceLists returns the users sharing a room with requester
	// (or requester) whose device lists changed in (after, upTo].
	ChangedDeviceLists(ctx context.Context, requester id.UserID, after, upTo int64) ([]id.UserID, error)
	// SharesRoom reports whether the two users are both joined to some
	// room.
	SharesRoom(ctx context.Context, a, b id.UserID) (bool, error)
}

// DeviceLists is the device_lists section of a sync response.
type DeviceLists struct {
	Changed []id.UserID `json:"changed,omitempty"`
	Left    []id.UserID `json:"left,omitempty"`
}

// E2EESections are the end-to-end encryption members of a sync response.
type E2EESections struct {
	ToDevice                     *EventBatch    `json:"to_device,omitempty"`
	DeviceLists                  *DeviceLists   `json:"device_lists,omitempty"`
	DeviceOneTimeKeysCount       map[string]int `json:"device_one_time_keys_count,omitempty"`
	DeviceUnusedFallbackKeyTypes []string       `json:"device_unused_fallback_key_types,omitzero"`
}

// e2eeState is the Service's end-to-end encryption part.
type e2eeState struct {
	keys E2EE
	// mu guards waiters. A leaf lock.
	mu sync.Mutex
	// waiters holds, per user, the cancel functions of the long polls to
	// wake when the user gets to-device messages.
	waiters map[id.UserID]map[*context.CancelFunc]struct{}
}

// SetE2EE makes sync carry the end-to-end encryption sections, read from
// keys. Call it before the first Sync.
func (s *Service) SetE2EE(keys E2EE) { s.e2ee.keys = keys }

// WakeUsers ends the long polls of the users' syncs, which then answer
// with what is new for them (to-device messages).
func (s *Service) WakeUsers(users []id.UserID) {
	s.e2ee.mu.Lock()
	defer s.e2ee.mu.Unlock()
	for _, u := range users {
		for cancel := range s.e2ee.waiters[u] {
			(*cancel)()
		}
	}
}

// e2eeWake returns a context for a long poll of the request's user that is
// done when ctx is, when WakeUsers names the user, or at once if the
// device already has to-device messages the client has not seen.
func (s *Service) e2eeWake(ctx context.Context, req Request) context.Context {
	if s.e2ee.keys == nil || req.Device == "" {
		return ctx
	}
	user := req.User
	wctx, cancel := context.WithCancel(ctx)
	key := &cancel
	s.e2ee.mu.Lock()
	if s.e2ee.waiters == nil {
		s.e2ee.waiters = map[id.UserID]map[*context.CancelFunc]struct{}{}
	}
	if s.e2ee.waiters[user] == nil {
		s.e2ee.waiters[user] = map[*context.CancelFunc]struct{}{}
	}
	s.e2ee.waiters[user][key] = struct{}{}
	s.e2ee.mu.Unlock()
	context.AfterFunc(wctx, func() {
		s.e2ee.mu.Lock()
		defer s.e2ee.mu.Unlock()
		delete(s.e2ee.waiters[user], key)
		if len(s.e2ee.waiters[user]) == 0 {
			delete(s.e2ee.waiters, user)
		}
	})
	// Checked after registering, so a message that arrives in between
	// still wakes the poll. On an error the poll answers at once, and
	// addE2EE reports the error.
	if pending, err := s.e2eePending(ctx, req); pending || err != nil {
		cancel()
	}
	return wctx
}

// e2eePending reports whether the device has to-device messages, or the
// user device list changes, that the request's since token has not seen.
func (s *Service) e2eePending(ctx context.Context, req Request) (bool, error) {
	since := e2eeToken(req)
	if pending, err := s.e2ee.keys.HasToDevice(ctx, req.User, req.Device, since.ToDevice); pending || err != nil {
		return pending, err
	}
	if req.Since == "" {
		return false, nil
	}
	pos, err := s.e2ee.keys.DeviceListPosition(ctx)
	if err != nil || pos <= since.DeviceLists {
		return false, err
	}
	changed, err := s.e2ee.keys.ChangedDeviceLists(ctx, req.User, since.DeviceLists, pos)
	return len(changed) > 0, err
}

// e2eeSince returns the to-device position of the request's since token.
func e2eeSince(req Request) int64 { return e2eeToken(req).ToDevice }

// e2eeToken returns the request's since token (zero for an initial sync).
func e2eeToken(req Request) SyncToken {
	if req.Since == "" {
		return SyncToken{}
	}
	tok, err := ParseSyncToken(req.Since)
	if err != nil {
		return SyncToken{}
	}
	return tok
}

// addE2EE fills the end-to-end encryption sections of resp and puts the
// to-device position in its next_batch.
func (s *Service) addE2EE(ctx context.Context, req Request, resp *Response) error {
	if s.e2ee.keys == nil || req.Device == "" {
		return nil
	}
	events, next, err := s.e2ee.keys.ToDeviceForSync(ctx, req.User, req.Device, e2eeSince(req))
	if err != nil {
		return fmt.Errorf("to-device messages of %s %s: %w", req.User, req.Device, err)
	}
	if len(events) > 0 {
		resp.ToDevice = &EventBatch{Events: events}
	}
	if resp.DeviceOneTimeKeysCount, err = s.e2ee.keys.OneTimeKeyCounts(ctx, req.User, req.Device); err != nil {
		return fmt.Errorf("one-time key counts of %s %s: %w", req.User, req.Device, err)
	}
	types, err := s.e2ee.keys.UnusedFallbackKeyTypes(ctx, req.User, req.Device)
	if err != nil {
		return fmt.Errorf("fallback keys of %s %s: %w", req.User, req.Device, err)
	}
	// Present even when empty: clients read an absent list as "this
	// server does not support fallback keys".
	resp.DeviceUnusedFallbackKeyTypes = append(make([]string, 0, len(types)), types...)
	tok, err := ParseSyncToken(resp.NextBatch)
	if err != nil {
		return fmt.Errorf("next_batch %q: %w", resp.NextBatch, err)
	}
	tok.ToDevice = next
	pos, err := s.e2ee.keys.DeviceListPosition(ctx)
	if err != nil {
		return fmt.Errorf("device list position: %w", err)
	}
	if req.Since != "" {
		changed, left, err := s.membershipDeviceLists(ctx, req, resp)
		if err != nil {
			return fmt.Errorf("device list memberships for %s: %w", req.User, err)
		}
		if since := e2eeToken(req); since.DeviceLists < pos {
			keyed, err := s.e2ee.keys.ChangedDeviceLists(ctx, req.User, since.DeviceLists, pos)
			if err != nil {
				return fmt.Errorf("device list changes for %s: %w", req.User, err)
			}
			for _, u := range keyed {
				changed[u] = true
				delete(left, u)
			}
		}
		if len(changed)+len(left) > 0 {
			resp.DeviceLists = &DeviceLists{Changed: slices.Sorted(maps.Keys(changed)), Left: slices.Sorted(maps.Keys(left))}
		}
	}
	tok.DeviceLists = max(pos, e2eeToken(req).DeviceLists)
	resp.NextBatch = tok.String()
	return nil
}
