package e2ee

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Dehydrated devices (MSC3814, unstable prefix org.matrix.msc3814.v1): a
// user keeps one device in their account that no client runs, so that room
// keys sent to it while the user has no other device can be read later by
// a client that rehydrates it. The dehydrated device is an ordinary device
// (its keys can be queried and claimed, to-device messages reach it, it is
// listed and deleted like any device) without an access token; its
// to-device messages are read with DehydratedDeviceEvents.
//
// Spec: https://github.com/matrix-org/matrix-spec-proposals/pull/3814

var (
	// ErrNoDehydratedDevice: the user has no dehydrated device.
	ErrNoDehydratedDevice = errors.New("no dehydrated device")
	// ErrNotDehydrated: the device is not the user's dehydrated device.
	ErrNotDehydrated = errors.New("not the dehydrated device")
)

// DehydratedDevice is what PUT /dehydrated_device uploads.
type DehydratedDevice struct {
	// DeviceID is the device's ID (by the MSC, its Curve25519 identity
	// key).
	DeviceID id.DeviceID
	// DeviceData is the client's encrypted device, an object with an
	// "algorithm"; the server stores it as it came.
	DeviceData json.RawMessage
	// DisplayName is the device's display name ("" for none).
	DisplayName string
	// Keys are the device's identity keys (required), one-time keys and
	// fallback keys, as /keys/upload takes them.
	Keys Upload
}

// PutDehydratedDevice makes d the user's dehydrated device: the previous
// one, with its keys and to-device messages, is deleted, and the new
// device is created with its keys, in one transaction. A device ID in use
// by another of the user's devices is refused.
func (s *Service) PutDehydratedDevice(ctx context.Context, user id.UserID, d DehydratedDevice) error {
	if _, err := id.ParseDeviceID(string(d.DeviceID)); err != nil {
		return fmt.Errorf("%w: device_id: %w", ErrInvalid, err)
	}
	// § Cross-signing: "servers MUST not allow devices to have the same
	// IDs as cross-signing keys", as at login.
	if taken, err := s.IsCrossSigningKeyID(ctx, user, string(d.DeviceID)); err != nil || taken {
		if err == nil {
			err = fmt.Errorf("%w: device_id %s is the ID of one of the user's cross-signing keys", ErrInvalid, d.DeviceID)
		}
		return err
	}
	var data struct {
		Algorithm string `json:"algorithm"`
	}
	if err := json.Unmarshal(d.DeviceData, &data); err != nil || !isObject(d.DeviceData) || data.Algorithm == "" {
		return fmt.Errorf("%w: device_data must be an object with an algorithm", ErrInvalid)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, d.DeviceData); err != nil {
		return fmt.Errorf("%w: device_data: %w", ErrInvalid, err)
	}
	if len(d.Keys.DeviceKeys) == 0 || string(d.Keys.DeviceKeys) == "null" {
		return fmt.Errorf("%w: device_keys is required", ErrInvalid)
	}
	ku, err := checkUpload(user, d.DeviceID, d.Keys, nil)
	if err != nil {
		return err
	}
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		old, _, err := tx.DehydratedDevice(ctx, user)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			if err := tx.DeleteDevice(ctx, user, old); err != nil {
				return err
			}
			tx.AfterCommit(func() { s.DevicesRemoved(user) })
		}
		if old != d.DeviceID {
			_, err := tx.Device(ctx, user, d.DeviceID)
			if err == nil {
				return fmt.Errorf("%w: device ID %s is in use", ErrInvalid, d.DeviceID)
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		err = tx.CreateDevice(ctx, store.Device{UserID: user, DeviceID: d.DeviceID, DisplayName: d.DisplayName, CreatedTS: s.now().UnixMilli()})
		if err != nil {
			return err
		}
		if err := tx.SetDehydratedDevice(ctx, user, d.DeviceID, compact.Bytes()); err != nil {
			return err
		}
		_, err = s.storeUpload(ctx, tx, user, d.DeviceID, ku)
		return err
	})
	if err != nil {
		return fmt.Errorf("put dehydrated device of %s: %w", user, err)
	}
	return nil
}

// GetDehydratedDevice returns the ID and device data of the user's
// dehydrated device, or ErrNoDehydratedDevice.
func (s *Service) GetDehydratedDevice(ctx context.Context, user id.UserID) (id.DeviceID, json.RawMessage, error) {
	dev, data, err := s.DB.DehydratedDevice(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil, ErrNoDehydratedDevice
	}
	return dev, data, err
}

// DeleteDehydratedDevice deletes the user's dehydrated device, with its
// keys and to-device messages, and returns its ID, or
// ErrNoDehydratedDevice.
func (s *Service) DeleteDehydratedDevice(ctx context.Context, user id.UserID) (id.DeviceID, error) {
	var dev id.DeviceID
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		dev, _, err = tx.DehydratedDevice(ctx, user)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoDehydratedDevice
		}
		if err != nil {
			return err
		}
		tx.AfterCommit(func() { s.DevicesRemoved(user) })
		return tx.DeleteDevice(ctx, user, dev)
	})
	if err != nil {
		return "", fmt.Errorf("delete dehydrated device of %s: %w", user, err)
	}
	return dev, nil
}

// dehydratedTokenPrefix starts the tokens of DehydratedDeviceEvents, which
// hold the device's to-device stream ID ("d42").
const dehydratedTokenPrefix = "d"

// DehydratedDeviceEvents returns the to-device messages of the user's
// dehydrated device after the position of nextBatch ("" for the first
// batch), at most MaxToDevicePerSync, with the token of the next batch. A
// batch after the last one is empty. Messages are not deleted as they are
// read, as the MSC asks, so that a rehydration that was cut short can be
// done again: they go with the device, which the rehydrating client
// replaces or deletes once it has read them all. A device that is not the
// user's dehydrated device gets ErrNotDehydrated.
func (s *Service) DehydratedDeviceEvents(ctx context.Context, user id.UserID, device id.DeviceID, nextBatch string) ([]json.RawMessage, string, error) {
	var since int64
	if nextBatch != "" {
		n, err := strconv.ParseInt(strings.TrimPrefix(nextBatch, dehydratedTokenPrefix), 10, 64)
		if !strings.HasPrefix(nextBatch, dehydratedTokenPrefix) || err != nil || n < 0 {
			return nil, "", fmt.Errorf("%w: next_batch %.40q is not a token of this endpoint", ErrInvalid, nextBatch)
		}
		since = n
	}
	cur, _, err := s.DB.DehydratedDevice(ctx, user)
	if errors.Is(err, store.ErrNotFound) || (err == nil && cur != device) {
		return nil, "", fmt.Errorf("%w: %s", ErrNotDehydrated, device)
	}
	if err != nil {
		return nil, "", err
	}
	msgs, err := s.DB.ToDeviceMessages(ctx, user, device, since, MaxToDevicePerSync)
	if err != nil {
		return nil, "", err
	}
	out := make([]json.RawMessage, 0, len(msgs))
	next := since
	for _, m := range msgs {
		b, err := json.Marshal(toDeviceEvent{Sender: m.Sender, Type: m.EventType, Content: m.Content})
		if err != nil {
			return nil, "", err
		}
		out = append(out, b)
		next = m.StreamID
	}
	return out, dehydratedTokenPrefix + strconv.FormatInt(next, 10), nil
}
