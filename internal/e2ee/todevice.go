package e2ee

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Send-to-device messaging.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#send-to-device-messaging

// MaxToDevicePerSync is the most to-device messages one sync response
// carries; the rest come with the next.
const MaxToDevicePerSync = 100

// allDevices is the device ID that addresses all of a user's devices.
const allDevices = "*"

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// SendToDevice queues a to-device message of the given type for each
// device in messages (user → device ID, or "*" for all the user's
// devices → content). A transaction ID the sending device used before
// makes the call a no-op, so a retried request is delivered once. Users
// and devices that do not exist are skipped, as are remote users until
// federation carries the messages.
func (s *Service) SendToDevice(ctx context.Context, sender id.UserID, senderDevice id.DeviceID, txnID, eventType string, messages map[id.UserID]map[id.DeviceID]json.RawMessage) error {
	for user, devices := range messages {
		for dev, content := range devices {
			if !isObject(content) {
				return fmt.Errorf("%w: message for %s %s is not an object", ErrInvalid, user, dev)
			}
		}
	}
	type target struct {
		user id.UserID
		dev  id.DeviceID
		msg  json.RawMessage
	}
	var targets []target
	for _, user := range slices.Sorted(maps.Keys(messages)) {
		if user.Domain() != s.ServerName {
			// TODO(#8): send to remote users' devices in an
			// m.direct_to_device EDU through the federation queue.
			continue
		}
		devices := messages[user]
		if msg, ok := devices[allDevices]; ok {
			all, err := s.DB.Devices(ctx, user)
			if err != nil {
				return fmt.Errorf("send to devices of %s: %w", user, err)
			}
			for _, d := range all {
				if _, own := devices[d.DeviceID]; !own {
					targets = append(targets, target{user, d.DeviceID, msg})
				}
			}
		}
		for _, dev := range slices.Sorted(maps.Keys(devices)) {
			if dev != allDevices {
				targets = append(targets, target{user, dev, devices[dev]})
			}
		}
	}
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		isNew, err := tx.AddToDeviceTxn(ctx, sender, senderDevice, txnID, s.now().UnixMilli())
		if err != nil || !isNew {
			return err
		}
		woken := map[id.UserID]bool{}
		for _, t := range targets {
			pos, ok, err := tx.AddToDeviceMessage(ctx, t.user, t.dev, store.ToDeviceMessage{Sender: sender, EventType: eventType, Content: t.msg})
			if err != nil {
				return err
			}
			if ok {
				woken[t.user] = true
				k := deviceKey{t.user, t.dev}
				tx.AfterCommit(func() { s.cache.toDeviceQueued(k, pos) })
			}
		}
		if s.Notify != nil && len(woken) > 0 {
			users := slices.Collect(maps.Keys(woken))
			tx.AfterCommit(func() { s.Notify(users) })
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("send %s to devices: %w", eventType, err)
	}
	return nil
}

// toDeviceEvent is a to-device event as sync delivers it.
type toDeviceEvent struct {
	Sender  id.UserID       `json:"sender"`
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
}

// ToDeviceForSync deletes the device's messages up to since (the client's
// sync token acknowledges them) and returns the next ones, at most
// MaxToDevicePerSync, with the stream position to put in next_batch
// (since when there are none).
func (s *Service) ToDeviceForSync(ctx context.Context, user id.UserID, device id.DeviceID, since int64) ([]json.RawMessage, int64, error) {
	k := deviceKey{user, device}
	s.cache.mu.Lock()
	acked := since <= s.cache.state(k).ackedUpTo
	s.cache.mu.Unlock()
	if since > 0 && !acked {
		has, err := s.DB.HasToDeviceMessagesUpTo(ctx, user, device, since)
		if err != nil {
			return nil, 0, err
		}
		if has {
			err := s.DB.Write(ctx, func(tx *store.Tx) error { return tx.DeleteToDeviceMessages(ctx, user, device, since) })
			if err != nil {
				return nil, 0, fmt.Errorf("delete acknowledged to-device messages: %w", err)
			}
		}
		s.cache.mu.Lock()
		st := s.cache.state(k)
		st.ackedUpTo = max(st.ackedUpTo, since)
		s.cache.mu.Unlock()
	}
	if pending, err := s.HasToDevice(ctx, user, device, since); err != nil || !pending {
		return nil, since, err
	}
	msgs, err := s.DB.ToDeviceMessages(ctx, user, device, since, MaxToDevicePerSync)
	if err != nil {
		return nil, 0, err
	}
	out := make([]json.RawMessage, 0, len(msgs))
	next := since
	for _, m := range msgs {
		b, err := json.Marshal(toDeviceEvent{Sender: m.Sender, Type: m.EventType, Content: m.Content})
		if err != nil {
			return nil, 0, err
		}
		out = append(out, b)
		next = m.StreamID
	}
	return out, next, nil
}

// HasToDevice reports whether the device has messages after since.
func (s *Service) HasToDevice(ctx context.Context, user id.UserID, device id.DeviceID, since int64) (bool, error) {
	last, err := s.toDeviceLast(ctx, user, device)
	return last > since, err
}
