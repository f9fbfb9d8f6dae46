package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Device lists across servers: the changes of local users go out as
// m.device_list_update (one device, with the stream_id of the change and
// the prev_id of the user's previous device change) and
// m.signing_key_update EDUs, built here and sent by the federation
// sender; other servers resync through /user/devices. The updates of
// remote users who share a room with a local user are applied to the
// cache when their prev_id is the last stream_id applied, and otherwise
// (a gap) the whole list is fetched again; either way a change is
// recorded for the user so local clients learn of it through sync's
// device_lists.changed and /keys/changes.
//
// Spec: https://spec.matrix.org/v1.19/server-server-api/#device-management

// UserDevices is the answer of /user/devices.
type UserDevices struct {
	UserID   id.UserID      `json:"user_id"`
	StreamID int64          `json:"stream_id"`
	Devices  []DeviceAnswer `json:"devices"`
	// MasterKey and SelfSigningKey are omitted when the user has none.
	MasterKey      json.RawMessage `json:"master_key,omitempty"`
	SelfSigningKey json.RawMessage `json:"self_signing_key,omitempty"`
}

// DeviceAnswer is one device of /user/devices.
type DeviceAnswer struct {
	DeviceID    id.DeviceID     `json:"device_id"`
	DisplayName string          `json:"device_display_name,omitempty"`
	Keys        json.RawMessage `json:"keys"`
}

// deviceListUpdate is the content of an m.device_list_update EDU.
type deviceListUpdate struct {
	UserID      id.UserID       `json:"user_id"`
	DeviceID    id.DeviceID     `json:"device_id"`
	DisplayName string          `json:"device_display_name,omitempty"`
	StreamID    int64           `json:"stream_id"`
	PrevID      []int64         `json:"prev_id"`
	Deleted     bool            `json:"deleted,omitempty"`
	Keys        json.RawMessage `json:"keys,omitempty"`
}

// signingKeyUpdate is the content of an m.signing_key_update EDU.
type signingKeyUpdate struct {
	UserID         id.UserID       `json:"user_id"`
	MasterKey      json.RawMessage `json:"master_key,omitempty"`
	SelfSigningKey json.RawMessage `json:"self_signing_key,omitempty"`
}

// LocalUserDevices returns the devices and cross-signing keys of a local
// user for another server (/user/devices): each device with its keys (and
// the signatures on them by the user) and display name, and the stream ID
// of the user's last device change. A user without devices has none.
func (s *Service) LocalUserDevices(ctx context.Context, user id.UserID) (UserDevices, error) {
	res := newQueryResult()
	if err := s.queryLocal(ctx, "", user, nil, &res); err != nil {
		return UserDevices{}, fmt.Errorf("devices of %s: %w", user, err)
	}
	streamID, err := s.DB.LastDeviceChange(ctx, user, math.MaxInt64)
	if err != nil {
		return UserDevices{}, err
	}
	names, err := s.DB.UserDeviceKeys(ctx, user)
	if err != nil {
		return UserDevices{}, err
	}
	out := UserDevices{UserID: user, StreamID: streamID, Devices: []DeviceAnswer{},
		MasterKey: res.MasterKeys[user], SelfSigningKey: res.SelfSigningKeys[user]}
	for _, dk := range names {
		out.Devices = append(out.Devices, DeviceAnswer{DeviceID: dk.DeviceID, DisplayName: dk.DisplayName, Keys: res.DeviceKeys[user][dk.DeviceID]})
	}
	return out, nil
}

// DeviceListEDU builds the EDU that tells other servers of a change of a
// local user's device list (for the federation sender): for a device, an
// m.device_list_update with its current keys, or deleted; for the
// cross-signing keys or a signature on them, an m.signing_key_update. An
// empty type means nothing is to be sent.
func (s *Service) DeviceListEDU(ctx context.Context, c store.DeviceListChange) (string, []byte, error) {
	if c.UserID.Domain() != s.ServerName {
		return "", nil, nil
	}
	res := newQueryResult()
	if err := s.queryLocal(ctx, "", c.UserID, nil, &res); err != nil {
		return "", nil, err
	}
	signingUpdate := func() (string, []byte, error) {
		if res.MasterKeys[c.UserID] == nil && res.SelfSigningKeys[c.UserID] == nil {
			return "", nil, nil
		}
		b, err := json.Marshal(signingKeyUpdate{UserID: c.UserID, MasterKey: res.MasterKeys[c.UserID], SelfSigningKey: res.SelfSigningKeys[c.UserID]})
		return "m.signing_key_update", b, err
	}
	if c.DeviceID == "" {
		return signingUpdate()
	}
	upd := deviceListUpdate{UserID: c.UserID, DeviceID: id.DeviceID(c.DeviceID), StreamID: c.StreamID, PrevID: []int64{}}
	if keys, ok := res.DeviceKeys[c.UserID][upd.DeviceID]; ok {
		upd.Keys = keys
		all, err := s.DB.UserDeviceKeys(ctx, c.UserID)
		if err != nil {
			return "", nil, err
		}
		for _, dk := range all {
			if dk.DeviceID == upd.DeviceID {
				upd.DisplayName = dk.DisplayName
			}
		}
	} else if isCrossSigningKey(res, c.UserID, c.DeviceID) {
		return signingUpdate()
	} else {
		upd.Deleted = true
	}
	prev, err := s.DB.LastDeviceChange(ctx, c.UserID, c.StreamID)
	if err != nil {
		return "", nil, err
	}
	if prev > 0 {
		upd.PrevID = []int64{prev}
	}
	b, err := json.Marshal(upd)
	return "m.device_list_update", b, err
}

// isCrossSigningKey reports whether keyID is the public key of one of the
// user's cross-signing keys in res.
func isCrossSigningKey(res QueryResult, user id.UserID, keyID string) bool {
	for _, raw := range []json.RawMessage{res.MasterKeys[user], res.SelfSigningKeys[user]} {
		if raw == nil {
			continue
		}
		if k, err := parseStoredCrossSigningKey(raw); err == nil && k.pubKeyB64 == keyID {
			return true
		}
	}
	return false
}

// DeviceListUpdate applies an m.device_list_update EDU of a remote user
// (the caller checked the user belongs to origin). Updates of users no
// local user shares a room with are ignored; an update whose prev_id is
// not the last stream_id applied marks the cached list stale and queues a
// resync, which runs in the background (Close stops it).
func (s *Service) DeviceListUpdate(ctx context.Context, origin id.ServerName, content json.RawMessage) error {
	var upd deviceListUpdate
	if err := json.Unmarshal(content, &upd); err != nil {
		return fmt.Errorf("%w: m.device_list_update: %w", ErrInvalid, err)
	}
	if upd.UserID.Domain() != origin || upd.DeviceID == "" {
		return fmt.Errorf("%w: m.device_list_update of %s, device %q", ErrInvalid, upd.UserID, upd.DeviceID)
	}
	if shared, err := s.sharedWithLocal(ctx, upd.UserID); err != nil || !shared {
		return err
	}
	l, err := s.DB.RemoteDeviceListOf(ctx, upd.UserID)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if found && upd.StreamID <= l.StreamID {
		return nil // seen already
	}
	follows := found && !l.Stale
	for _, p := range upd.PrevID {
		follows = follows && p == l.StreamID
	}
	if follows && len(upd.PrevID) == 0 {
		follows = l.StreamID == 0
	}
	if !follows || (!upd.Deleted && !isObject(upd.Keys)) {
		// The whole list is fetched again (/user/devices), in the
		// background: the transaction carrying the update, and the
		// origin's next ones, do not wait for the user's server. Until
		// then the list is stale, so /keys/query asks that server.
		// A list already stale was marked (and its sharers told) before;
		// only the resync is asked for again.
		if !found || !l.Stale {
			if err := s.markListStale(ctx, upd.UserID); err != nil {
				return err
			}
		}
		if !s.scheduleResync(upd.UserID) {
			return fmt.Errorf("resync device list of %s: %w", upd.UserID, errResyncsFull)
		}
		return nil
	}
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		if upd.Deleted {
			if err := tx.DeleteRemoteDevice(ctx, upd.UserID, upd.DeviceID); err != nil {
				return err
			}
		} else if err := tx.SetRemoteDevice(ctx, upd.UserID, store.DeviceKeys{DeviceID: upd.DeviceID, DisplayName: upd.DisplayName, KeyJSON: upd.Keys}); err != nil {
			return err
		}
		// An update that follows the last one applied shows the list is
		// complete now: the user's server chains every change.
		checked, err := tx.MaxStreamPos(ctx)
		if err != nil {
			return err
		}
		if err := tx.SetRemoteDeviceList(ctx, upd.UserID, store.RemoteDeviceList{StreamID: upd.StreamID, CheckedPos: checked}); err != nil {
			return err
		}
		if err := s.recordDeviceListChange(ctx, tx, upd.UserID, string(upd.DeviceID)); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apply device list update of %s: %w", upd.UserID, err)
	}
	return nil
}

// SigningKeyUpdate applies an m.signing_key_update EDU of a remote user
// (the caller checked the user belongs to origin): the cached
// cross-signing keys change, and local clients sharing a room with the
// user are told.
func (s *Service) SigningKeyUpdate(ctx context.Context, origin id.ServerName, content json.RawMessage) error {
	var upd signingKeyUpdate
	if err := json.Unmarshal(content, &upd); err != nil {
		return fmt.Errorf("%w: m.signing_key_update: %w", ErrInvalid, err)
	}
	if upd.UserID.Domain() != origin {
		return fmt.Errorf("%w: m.signing_key_update of %s from %s", ErrInvalid, upd.UserID, origin)
	}
	if shared, err := s.sharedWithLocal(ctx, upd.UserID); err != nil || !shared {
		return err
	}
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		if err := storeRemoteCrossSigning(ctx, tx, upd.UserID, upd.MasterKey, upd.SelfSigningKey); err != nil {
			return err
		}
		if err := s.recordDeviceListChange(ctx, tx, upd.UserID, ""); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("apply signing key update of %s: %w", upd.UserID, err)
	}
	return nil
}
