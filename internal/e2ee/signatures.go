package e2ee

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// SignatureFailures maps user → key ID → why the signatures on that key
// were refused (an error wrapping ErrInvalidSignature, ErrUnknownKey or
// ErrInvalid).
type SignatureFailures map[id.UserID]map[string]error

// UploadSignatures checks and stores the signatures signer made on keys:
// user → key ID (a device ID or a cross-signing public key) → the signed
// key object. Only signer's own signatures are taken, and only those the
// spec allows: the self-signing key on the signer's devices, the signer's
// devices on the signer's master key, and the user-signing key on other
// users' master keys. Each signature must cover the key as the server has
// it. Keys whose signatures fail are reported; the others are stored.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keyssignaturesupload
func (s *Service) UploadSignatures(ctx context.Context, signer id.UserID, keys map[id.UserID]map[string]json.RawMessage) (SignatureFailures, error) {
	failures := SignatureFailures{}
	fail := func(user id.UserID, keyID string, err error) {
		if failures[user] == nil {
			failures[user] = map[string]error{}
		}
		failures[user][keyID] = err
	}
	own, err := s.DB.CrossSigningKeys(ctx, signer)
	if err != nil {
		return nil, err
	}
	ownKey := func(kt string) (crossSigningKey, bool) {
		raw, ok := own[kt]
		if !ok {
			return crossSigningKey{}, false
		}
		k, err := parseStoredCrossSigningKey(raw)
		return k, err == nil
	}

	type accepted struct {
		target id.UserID
		sig    store.KeySignature
	}
	var toStore []accepted
	for _, user := range slices.Sorted(maps.Keys(keys)) {
		var targetCS map[string][]byte
		if user.Domain() == s.ServerName {
			targetCS, err = s.DB.CrossSigningKeys(ctx, user)
		} else {
			targetCS, err = s.remoteMasterKey(ctx, user)
		}
		if err != nil {
			return nil, err
		}
		for _, keyID := range slices.Sorted(maps.Keys(keys[user])) {
			sigs, err := s.checkSignedKey(ctx, signer, user, keyID, keys[user][keyID], targetCS, ownKey)
			if err != nil {
				if errors.Is(err, ErrInvalid) || errors.Is(err, ErrInvalidSignature) || errors.Is(err, ErrUnknownKey) {
					fail(user, keyID, err)
					continue
				}
				return nil, err
			}
			for _, sig := range sigs {
				toStore = append(toStore, accepted{user, sig})
			}
		}
	}
	if len(toStore) > 0 {
		err := s.DB.Write(ctx, func(tx *store.Tx) error {
			type changedKey struct {
				user id.UserID
				key  string
			}
			changed := map[changedKey]bool{}
			for _, a := range toStore {
				if err := tx.AddKeySignature(ctx, a.target, a.sig); err != nil {
					return err
				}
				if k := (changedKey{a.target, a.sig.TargetKeyID}); !changed[k] {
					changed[k] = true
					if err := s.recordDeviceListChange(ctx, tx, a.target, a.sig.TargetKeyID); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store signatures of %s: %w", signer, err)
		}
	}
	return failures, nil
}

// checkSignedKey checks the signatures of signer on user's key keyID and
// returns them ready to store.
func (s *Service) checkSignedKey(ctx context.Context, signer, user id.UserID, keyID string, obj json.RawMessage,
	targetCS map[string][]byte, ownKey func(string) (crossSigningKey, bool)) ([]store.KeySignature, error) {
	var body struct {
		Signatures map[id.UserID]map[string]string `json:"signatures"`
	}
	if err := json.Unmarshal(obj, &body); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	mine := body.Signatures[signer]
	if len(mine) == 0 {
		return nil, fmt.Errorf("%w: no signature by %s", ErrInvalidSignature, signer)
	}
	// The key as the server has it, and which of signer's keys may sign it.
	var stored []byte
	allowed := map[string]ed25519.PublicKey{}
	// A user of another server: only their master key, as last fetched,
	// signed with signer's user-signing key (the case below).
	master, hasMaster := targetCS[KeyTypeMaster]
	var masterKey crossSigningKey
	if hasMaster {
		var err error
		if masterKey, err = parseStoredCrossSigningKey(master); err != nil {
			return nil, err
		}
	}
	switch {
	case hasMaster && keyID == masterKey.pubKeyB64:
		stored = master
		if user == signer {
			// The signer's own devices sign its master key.
			devs, err := s.DB.UserDeviceKeys(ctx, signer)
			if err != nil {
				return nil, err
			}
			for _, d := range devs {
				if pub, err := deviceEd25519(d.KeyJSON, d.DeviceID); err == nil {
					allowed[algEd25519+":"+string(d.DeviceID)] = pub
				}
			}
		} else if usk, ok := ownKey(KeyTypeUserSigning); ok {
			allowed[usk.keyID()] = usk.pub
		}
	case user == signer:
		dk, err := s.DB.DeviceKeysOf(ctx, user, id.DeviceID(keyID))
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s has no key %s", ErrUnknownKey, user, keyID)
		}
		if err != nil {
			return nil, err
		}
		stored = dk
		if ssk, ok := ownKey(KeyTypeSelfSigning); ok {
			allowed[ssk.keyID()] = ssk.pub
		}
	default:
		return nil, fmt.Errorf("%w: %s has no key %s that %s may sign", ErrUnknownKey, user, keyID, signer)
	}

	var out []store.KeySignature
	for _, signerKeyID := range slices.Sorted(maps.Keys(mine)) {
		pub, ok := allowed[signerKeyID]
		if !ok {
			if signerKeyID == algEd25519+":"+keyID {
				continue // the key's own self-signature, already stored
			}
			return nil, fmt.Errorf("%w: %s may not sign %s's key %s with %s", ErrInvalidSignature, signer, user, keyID, signerKeyID)
		}
		// Verify against the key as stored, so that a signature over a
		// different object is refused.
		withSig, err := withSignatures(stored, []store.KeySignature{{SignerUserID: signer, SignerKeyID: signerKeyID, Signature: mine[signerKeyID]}}, nil, false)
		if err != nil {
			return nil, err
		}
		if err := signedBy(withSig, signer, signerKeyID, pub); err != nil {
			return nil, fmt.Errorf("signature of %s's key %s: %w", user, keyID, err)
		}
		out = append(out, store.KeySignature{TargetKeyID: keyID, SignerUserID: signer, SignerKeyID: signerKeyID, Signature: mine[signerKeyID]})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no new signature by %s", ErrInvalidSignature, signer)
	}
	return out, nil
}

// remoteMasterKey returns the master key of a user of another server, by
// key type as CrossSigningKeys does: as cached, or else as their server
// gives it now. "The signed JSON object must match the key previously
// uploaded or retrieved for the given key ID." None if neither has one.
func (s *Service) remoteMasterKey(ctx context.Context, user id.UserID) (map[string][]byte, error) {
	cached, err := s.DB.RemoteCrossSigningKeys(ctx, user)
	if err != nil {
		return nil, err
	}
	if k, ok := cached[KeyTypeMaster]; ok {
		return map[string][]byte{KeyTypeMaster: k}, nil
	}
	if s.Remote == nil {
		return nil, nil
	}
	res := newQueryResult()
	if err := s.queryRemote(ctx, map[id.ServerName]map[id.UserID][]id.DeviceID{user.Domain(): {user: {}}}, &res); err != nil {
		return nil, err
	}
	if k, ok := res.MasterKeys[user]; ok {
		return map[string][]byte{KeyTypeMaster: k}, nil
	}
	return nil, nil
}
