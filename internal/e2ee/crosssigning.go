package e2ee

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// crossSigningKey is the spec's CrossSigningKey object, with its one
// public key.
type crossSigningKey struct {
	UserID id.UserID         `json:"user_id"`
	Usage  []string          `json:"usage"`
	Keys   map[string]string `json:"keys"`

	pubKeyB64 string
	pub       ed25519.PublicKey
	raw       []byte
}

// keyID returns the key's ID, "ed25519:<public key>".
func (k crossSigningKey) keyID() string { return algEd25519 + ":" + k.pubKeyB64 }

// parseCrossSigningKey checks a CrossSigningKey object of user for the key
// type: user_id, usage and exactly one well-formed ed25519 key named after
// itself.
func parseCrossSigningKey(raw json.RawMessage, user id.UserID, keyType string) (crossSigningKey, error) {
	k, err := parseStoredCrossSigningKey(raw)
	if err != nil {
		return crossSigningKey{}, fmt.Errorf("%s_key: %w", keyType, err)
	}
	if k.UserID != user {
		return crossSigningKey{}, fmt.Errorf("%w: %s_key.user_id %q is not the requester %s", ErrInvalid, keyType, k.UserID, user)
	}
	if !slices.Contains(k.Usage, keyType) {
		return crossSigningKey{}, fmt.Errorf("%w: %s_key.usage does not list %q", ErrInvalid, keyType, keyType)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return crossSigningKey{}, fmt.Errorf("%w: %s_key: %w", ErrInvalid, keyType, err)
	}
	k.raw = buf.Bytes()
	return k, nil
}

// parseStoredCrossSigningKey reads a CrossSigningKey object and its one
// ed25519 key.
func parseStoredCrossSigningKey(raw []byte) (crossSigningKey, error) {
	var k crossSigningKey
	if err := json.Unmarshal(raw, &k); err != nil {
		return crossSigningKey{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(k.Keys) != 1 {
		return crossSigningKey{}, fmt.Errorf("%w: keys must hold exactly one key", ErrInvalid)
	}
	for name, val := range k.Keys {
		alg, kid, ok := strings.Cut(name, ":")
		if !ok || alg != algEd25519 || kid != val {
			return crossSigningKey{}, fmt.Errorf("%w: key %q is not ed25519:<public key>", ErrInvalid, name)
		}
		pub, err := decodeKey("key "+name, val)
		if err != nil {
			return crossSigningKey{}, err
		}
		k.pubKeyB64, k.pub = val, pub
	}
	k.raw = raw
	return k, nil
}

// CrossSigningUpload is the body of /keys/device_signing/upload: each key
// nil when absent.
type CrossSigningUpload struct {
	Master, SelfSigning, UserSigning json.RawMessage
}

func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// CrossSigningNeedsAuth reports whether uploading up needs
// User-Interactive Authentication: it does unless the user has no master
// key yet, or up holds the user's master key and every other key in up is
// one the user already has ("the request contains no new keys").
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keysdevice_signingupload
func (s *Service) CrossSigningNeedsAuth(ctx context.Context, user id.UserID, up CrossSigningUpload) (bool, error) {
	stored, err := s.DB.CrossSigningKeys(ctx, user)
	if err != nil {
		return false, err
	}
	if _, ok := stored[KeyTypeMaster]; !ok {
		return false, nil
	}
	if !present(up.Master) {
		return true, nil
	}
	for kt, raw := range map[string]json.RawMessage{KeyTypeMaster: up.Master, KeyTypeSelfSigning: up.SelfSigning, KeyTypeUserSigning: up.UserSigning} {
		if !present(raw) {
			continue
		}
		old, ok := stored[kt]
		if !ok || !jsonEqual(old, raw) {
			return true, nil
		}
	}
	return false, nil
}

// UploadCrossSigningKeys validates and stores the user's cross-signing
// keys: the self-signing and user-signing keys must be signed by the
// master key uploaded with them, or else by the stored one.
func (s *Service) UploadCrossSigningKeys(ctx context.Context, user id.UserID, up CrossSigningUpload) error {
	var master crossSigningKey
	var toStore []crossSigningKey
	kinds := []string{}
	if present(up.Master) {
		k, err := parseCrossSigningKey(up.Master, user, KeyTypeMaster)
		if err != nil {
			return err
		}
		master = k
		toStore, kinds = append(toStore, k), append(kinds, KeyTypeMaster)
	} else if present(up.SelfSigning) || present(up.UserSigning) {
		stored, err := s.DB.CrossSigningKeys(ctx, user)
		if err != nil {
			return err
		}
		raw, ok := stored[KeyTypeMaster]
		if !ok {
			return fmt.Errorf("%w for %s", ErrMissingMasterKey, user)
		}
		if master, err = parseStoredCrossSigningKey(raw); err != nil {
			return fmt.Errorf("stored master key of %s: %w", user, err)
		}
	}
	for _, sub := range []struct {
		kt  string
		raw json.RawMessage
	}{{KeyTypeSelfSigning, up.SelfSigning}, {KeyTypeUserSigning, up.UserSigning}} {
		if !present(sub.raw) {
			continue
		}
		k, err := parseCrossSigningKey(sub.raw, user, sub.kt)
		if err != nil {
			return err
		}
		if err := signedBy(sub.raw, user, master.keyID(), master.pub); err != nil {
			return fmt.Errorf("%s_key not signed by the master key: %w", sub.kt, err)
		}
		toStore, kinds = append(toStore, k), append(kinds, sub.kt)
	}
	if len(toStore) == 0 {
		return nil
	}
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		for i, k := range toStore {
			if err := tx.SetCrossSigningKey(ctx, user, kinds[i], k.raw); err != nil {
				return err
			}
		}
		if err := s.recordDeviceListChange(ctx, tx, user, ""); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store cross-signing keys of %s: %w", user, err)
	}
	return nil
}

// IsCrossSigningKeyID reports whether keyID is the ID (the public key) of
// one of the user's cross-signing keys: no device may take such an ID
// ("servers MUST not allow devices to have the same IDs as cross-signing
// keys").
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#cross-signing
func (s *Service) IsCrossSigningKeyID(ctx context.Context, user id.UserID, keyID string) (bool, error) {
	cs, err := s.DB.CrossSigningKeys(ctx, user)
	if err != nil {
		return false, err
	}
	for _, raw := range cs {
		if k, err := parseStoredCrossSigningKey(raw); err == nil && k.pubKeyB64 == keyID {
			return true, nil
		}
	}
	return false, nil
}
