package e2ee

import (
	"context"
	"crypto/rand"
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
// makes the call a no-op, so a retried request is delivered once. Local
// users and devices that do not exist are skipped; the messages for
// users of other servers are queued, one m.direct_to_device EDU per
// server, in the same transaction, for the federation sender.
func (s *Service) SendToDevice(ctx context.Context, sender id.UserID, senderDevice id.DeviceID, txnID, eventType string, messages map[id.UserID]map[id.DeviceID]json.RawMessage) error {
	for user, devices := range messages {
		for dev, content := range devices {
			if !isObject(content) {
				return fmt.Errorf("%w: message for %s %s is not an object", ErrInvalid, user, dev)
			}
		}
	}
	local := map[id.UserID]map[id.DeviceID]json.RawMessage{}
	remote := map[id.ServerName]map[id.UserID]map[id.DeviceID]json.RawMessage{}
	for user, devices := range messages {
		srv := user.Domain()
		switch {
		case srv == s.ServerName:
			local[user] = devices
		case s.Federation != nil && srv != "":
			if remote[srv] == nil {
				remote[srv] = map[id.UserID]map[id.DeviceID]json.RawMessage{}
			}
			remote[srv][user] = devices
		}
	}
	targets, err := s.toDeviceTargets(ctx, local)
	if err != nil {
		return err
	}
	edus := map[id.ServerName][]byte{}
	for srv, msgs := range remote {
		b, err := json.Marshal(directToDevice{Sender: sender, Type: eventType, MessageID: rand.Text(), Messages: msgs})
		if err != nil {
			return fmt.Errorf("encode to-device messages for %s: %w", srv, err)
		}
		edus[srv] = b
	}
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		isNew, err := tx.AddToDeviceTxn(ctx, sender, senderDevice, eventType, txnID, s.now().UnixMilli())
		if err != nil || !isNew {
			return err
		}
		if err := s.deliverLocal(ctx, tx, sender, eventType, targets); err != nil {
			return err
		}
		var dests []id.ServerName
		for _, srv := range slices.Sorted(maps.Keys(edus)) {
			if err := tx.EnqueueEDU(ctx, []id.ServerName{srv}, "m.direct_to_device", edus[srv]); err != nil {
				return err
			}
			dests = append(dests, srv)
		}
		if len(dests) > 0 {
			tx.AfterCommit(func() { s.Federation.Wake(dests) })
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("send %s to devices: %w", eventType, err)
	}
	return nil
}

// directToDevice is the content of an m.direct_to_device EDU.
type directToDevice struct {
	Sender    id.UserID                                     `json:"sender"`
	Type      string                                        `json:"type"`
	MessageID string                                        `json:"message_id"`
	Messages  map[id.UserID]map[id.DeviceID]json.RawMessage `json:"messages"`
}

// toDeviceTarget is one device a message goes to.
type toDeviceTarget struct {
	user id.UserID
	dev  id.DeviceID
	msg  json.RawMessage
}

// toDeviceTargets expands the messages for local users into one per
// device ("*": every device of the user without a message of its own).
func (s *Service) toDeviceTargets(ctx context.Context, messages map[id.UserID]map[id.DeviceID]json.RawMessage) ([]toDeviceTarget, error) {
	var targets []toDeviceTarget
	for _, user := range slices.Sorted(maps.Keys(messages)) {
		devices := messages[user]
		if msg, ok := devices[allDevices]; ok {
			all, err := s.DB.Devices(ctx, user)
			if err != nil {
				return nil, fmt.Errorf("send to devices of %s: %w", user, err)
			}
			for _, d := range all {
				if _, own := devices[d.DeviceID]; !own {
					targets = append(targets, toDeviceTarget{user, d.DeviceID, msg})
				}
			}
		}
		for _, dev := range slices.Sorted(maps.Keys(devices)) {
			if dev != allDevices {
				targets = append(targets, toDeviceTarget{user, dev, devices[dev]})
			}
		}
	}
	return targets, nil
}

// deliverLocal stores the messages for local devices and wakes their
// syncs after the commit.
func (s *Service) deliverLocal(ctx context.Context, tx *store.Tx, sender id.UserID, eventType string, targets []toDeviceTarget) error {
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
}

// DirectToDevice delivers the to-device messages of an m.direct_to_device
// EDU (the caller checked the sender belongs to origin) to local devices,
// once per message_id of the sender: a repeated EDU is ignored. Messages
// for users of other servers are dropped.
func (s *Service) DirectToDevice(ctx context.Context, origin id.ServerName, content json.RawMessage) error {
	var edu directToDevice
	if err := json.Unmarshal(content, &edu); err != nil {
		return fmt.Errorf("%w: m.direct_to_device: %w", ErrInvalid, err)
	}
	if edu.Sender.Domain() != origin || edu.Type == "" || edu.MessageID == "" {
		return fmt.Errorf("%w: m.direct_to_device from %s of %s, type %q, message %q", ErrInvalid, origin, edu.Sender, edu.Type, edu.MessageID)
	}
	local := map[id.UserID]map[id.DeviceID]json.RawMessage{}
	for user, devices := range edu.Messages {
		if user.Domain() != s.ServerName {
			continue
		}
		for _, msg := range devices {
			if !isObject(msg) {
				return fmt.Errorf("%w: m.direct_to_device message for %s is not an object", ErrInvalid, user)
			}
		}
		local[user] = devices
	}
	targets, err := s.toDeviceTargets(ctx, local)
	if err != nil {
		return err
	}
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		// The message ID takes the place of a sending device's
		// transaction ID; no local device has an empty ID.
		isNew, err := tx.AddToDeviceTxn(ctx, edu.Sender, "", edu.Type, "federation:"+edu.MessageID, s.now().UnixMilli())
		if err != nil || !isNew {
			return err
		}
		return s.deliverLocal(ctx, tx, edu.Sender, edu.Type, targets)
	})
	if err != nil {
		return fmt.Errorf("deliver to-device messages of %s: %w", edu.Sender, err)
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
	last, err := s.toDeviceLast(ctx, user, device)
	if err != nil || last <= since {
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
	if len(msgs) < MaxToDevicePerSync {
		// Every message up to last that is still stored was read (last
		// was read first): the ones between were acknowledged and
		// deleted, so the token moves past them. Left behind, it would
		// tell the next sync that news is waiting, and that sync would
		// answer at once, forever (an initial sync of a device whose
		// messages were acknowledged starts at 0).
		next = max(next, last)
	}
	return out, next, nil
}

// HasToDevice reports whether the device has messages after since.
func (s *Service) HasToDevice(ctx context.Context, user id.UserID, device id.DeviceID, since int64) (bool, error) {
	last, err := s.toDeviceLast(ctx, user, device)
	return last > since, err
}
