package e2ee

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Service keeps the end-to-end encryption keys of local users. It is safe
// for concurrent use.
type Service struct {
	// DB holds the keys.
	DB *store.DB
	// ServerName is the homeserver's name: users of other servers are
	// answered through federation.
	ServerName id.ServerName
	// Notify, if set, is called after a commit with the local users who
	// have new to-device messages, so that their syncs wake up. It must be
	// quick and must not block.
	Notify func(users []id.UserID)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Federation, when set, sends what concerns other servers: it is
	// woken after to-device messages for their users were queued, and
	// told of device list changes (*fedsender.Sender).
	Federation Sender
	// Remote asks other servers for their users' keys and device lists;
	// nil answers every remote user with a failure.
	Remote Remote
	// RemoteTimeout bounds each request to another server;
	// DefaultRemoteTimeout when 0.
	RemoteTimeout time.Duration
	// Logger receives the failures of background work (device list
	// resyncs); nil discards them.
	Logger *slog.Logger

	cache   cache
	resyncs resyncQueue
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Upload is the body of /keys/upload.
type Upload struct {
	// DeviceKeys is the device's signed DeviceKeys object, nil if absent.
	DeviceKeys json.RawMessage
	// OneTimeKeys maps "algorithm:key_id" to the key.
	OneTimeKeys map[string]json.RawMessage
	// FallbackKeys maps "algorithm:key_id" to the key, at most one per
	// algorithm.
	FallbackKeys map[string]json.RawMessage
}

// UploadKeys validates and stores the keys of user's device and returns
// the device's count of unclaimed one-time keys per algorithm (always
// including signed_curve25519). Nothing is stored if any key is invalid.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keysupload
func (s *Service) UploadKeys(ctx context.Context, user id.UserID, device id.DeviceID, up Upload) (map[string]int, error) {
	old, err := s.DB.DeviceKeysOf(ctx, user, device)
	if errors.Is(err, store.ErrNotFound) {
		old = nil
	} else if err != nil {
		return nil, fmt.Errorf("upload keys: %w", err)
	}
	ku, err := checkUpload(user, device, up, old)
	if err != nil {
		return nil, err
	}
	var counts map[string]int
	err = s.DB.Write(ctx, func(tx *store.Tx) error {
		var err error
		counts, err = s.storeUpload(ctx, tx, user, device, ku)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("upload keys of %s %s: %w", user, device, err)
	}
	return counts, nil
}

// keyUpload is an upload of keys that passed the checks.
type keyUpload struct {
	// deviceKeys is the compacted DeviceKeys object, nil if none came.
	deviceKeys []byte
	// keysChanged: deviceKeys differs from what was stored.
	keysChanged bool
	otks        []store.OneTimeKey
	fallbacks   []store.OneTimeKey
}

// checkUpload validates an upload of keys for user's device whose stored
// DeviceKeys object is old (nil if none).
func checkUpload(user id.UserID, device id.DeviceID, up Upload, old []byte) (keyUpload, error) {
	var ku keyUpload
	var pub ed25519.PublicKey
	if len(up.DeviceKeys) > 0 && string(up.DeviceKeys) != "null" {
		dk, p, err := parseDeviceKeys(up.DeviceKeys, user, device)
		if err != nil {
			return ku, err
		}
		pub = p
		if old != nil {
			var prev deviceKeys
			if err := json.Unmarshal(old, &prev); err != nil {
				return ku, fmt.Errorf("upload keys: stored keys of %s: %w", device, err)
			}
			if !maps.Equal(prev.Keys, dk.Keys) {
				return ku, fmt.Errorf("%w: device %s already published other identity keys", ErrKeyChanged, device)
			}
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, up.DeviceKeys); err != nil {
			return ku, fmt.Errorf("%w: device_keys: %w", ErrInvalid, err)
		}
		ku.deviceKeys = buf.Bytes()
		ku.keysChanged = old == nil || !jsonEqual(old, ku.deviceKeys)
	} else if len(up.OneTimeKeys)+len(up.FallbackKeys) > 0 && old != nil {
		var err error
		if pub, err = deviceEd25519(old, device); err != nil {
			return ku, fmt.Errorf("upload keys: %w", err)
		}
	}

	var err error
	if ku.otks, err = checkKeys(up.OneTimeKeys, user, device, pub); err != nil {
		return ku, err
	}
	if ku.fallbacks, err = checkKeys(up.FallbackKeys, user, device, pub); err != nil {
		return ku, err
	}
	seen := map[string]bool{}
	for _, k := range ku.fallbacks {
		if seen[k.Algorithm] {
			return ku, fmt.Errorf("%w: more than one fallback key for %s", ErrInvalid, k.Algorithm)
		}
		seen[k.Algorithm] = true
	}
	return ku, nil
}

// storeUpload stores checked keys of user's device in tx and returns the
// device's one-time key counts.
func (s *Service) storeUpload(ctx context.Context, tx *store.Tx, user id.UserID, device id.DeviceID, ku keyUpload) (map[string]int, error) {
	if ku.deviceKeys != nil {
		if err := tx.SetDeviceKeys(ctx, user, device, ku.deviceKeys); err != nil {
			return nil, err
		}
		if ku.keysChanged {
			if err := s.recordDeviceListChange(ctx, tx, user, string(device)); err != nil {
				return nil, err
			}
		}
	}
	for _, k := range ku.otks {
		old, err := tx.OneTimeKeyJSON(ctx, user, device, k.Algorithm, k.KeyID)
		if err == nil {
			// A retried upload repeats keys; a different key under
			// an ID in use is a client bug.
			if !jsonEqual(old, k.KeyJSON) {
				return nil, fmt.Errorf("%w: one-time key %s:%s already exists with another value", ErrInvalid, k.Algorithm, k.KeyID)
			}
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if err := tx.AddOneTimeKey(ctx, user, device, k); err != nil {
			return nil, err
		}
	}
	for _, k := range ku.fallbacks {
		if err := tx.SetFallbackKey(ctx, user, device, k); err != nil {
			return nil, err
		}
	}
	tx.AfterCommit(func() { s.cache.keysChanged(deviceKey{user, device}) })
	counts, err := tx.OneTimeKeyCounts(ctx, user, device)
	if err != nil {
		return nil, err
	}
	if _, ok := counts[algSignedCurve25519]; !ok {
		counts[algSignedCurve25519] = 0
	}
	return counts, nil
}

// checkKeys validates uploaded one-time or fallback keys, in a stable
// order.
func checkKeys(keys map[string]json.RawMessage, user id.UserID, device id.DeviceID, pub ed25519.PublicKey) ([]store.OneTimeKey, error) {
	out := make([]store.OneTimeKey, 0, len(keys))
	for _, name := range slices.Sorted(maps.Keys(keys)) {
		alg, kid, err := checkOneTimeKey(name, keys[name], user, device, pub)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, keys[name]); err != nil {
			return nil, fmt.Errorf("%w: key %s: %w", ErrInvalid, name, err)
		}
		out = append(out, store.OneTimeKey{Algorithm: alg, KeyID: kid, KeyJSON: buf.Bytes()})
	}
	return out, nil
}

// jsonEqual reports whether two JSON values are equal as values.
func jsonEqual(a, b []byte) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}
