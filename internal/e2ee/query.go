package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Cross-signing key types, as /keys/device_signing/upload names them
// (without "_key") and as CrossSigningKey.usage lists them.
const (
	KeyTypeMaster      = "master"
	KeyTypeSelfSigning = "self_signing"
	KeyTypeUserSigning = "user_signing"
)

// QueryResult is the answer of /keys/query.
type QueryResult struct {
	// DeviceKeys maps user → device → DeviceKeys object (with the
	// signatures uploaded since and unsigned.device_display_name).
	DeviceKeys map[id.UserID]map[id.DeviceID]json.RawMessage
	// MasterKeys, SelfSigningKeys and UserSigningKeys map users to their
	// cross-signing keys. UserSigningKeys holds only the requester's own.
	MasterKeys, SelfSigningKeys, UserSigningKeys map[id.UserID]json.RawMessage
	// Failures lists the servers that could not be asked.
	Failures map[id.ServerName]struct{}
}

// newQueryResult returns an empty QueryResult with its maps made.
func newQueryResult() QueryResult {
	return QueryResult{
		DeviceKeys:      map[id.UserID]map[id.DeviceID]json.RawMessage{},
		MasterKeys:      map[id.UserID]json.RawMessage{},
		SelfSigningKeys: map[id.UserID]json.RawMessage{},
		UserSigningKeys: map[id.UserID]json.RawMessage{},
		Failures:        map[id.ServerName]struct{}{},
	}
}

// QueryKeys returns the identity and cross-signing keys of the users
// (for each, of the listed devices, or all devices when the list is
// empty), as requester may see them: a user-signing key is shown only to
// its owner, and a signature by another user only to that user.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keysquery
func (s *Service) QueryKeys(ctx context.Context, requester id.UserID, req map[id.UserID][]id.DeviceID) (QueryResult, error) {
	res := newQueryResult()
	remote := map[id.ServerName]map[id.UserID][]id.DeviceID{}
	for user, devices := range req {
		if user.Domain() != s.ServerName {
			if remote[user.Domain()] == nil {
				remote[user.Domain()] = map[id.UserID][]id.DeviceID{}
			}
			if devices == nil {
				devices = []id.DeviceID{}
			}
			remote[user.Domain()][user] = devices
			continue
		}
		if err := s.queryLocal(ctx, requester, user, devices, &res); err != nil {
			return QueryResult{}, fmt.Errorf("query keys of %s: %w", user, err)
		}
	}
	if len(remote) > 0 {
		if err := s.queryRemote(ctx, remote, &res); err != nil {
			return QueryResult{}, fmt.Errorf("query keys of remote users: %w", err)
		}
		if err := s.addOwnSignatures(ctx, requester, res.MasterKeys); err != nil {
			return QueryResult{}, fmt.Errorf("query keys of remote users: %w", err)
		}
	}
	return res, nil
}

// addOwnSignatures adds to the master keys of users of other servers the
// signatures requester made of them (with their user-signing key, kept on
// this server and shown only to them).
func (s *Service) addOwnSignatures(ctx context.Context, requester id.UserID, masters map[id.UserID]json.RawMessage) error {
	var remote []id.UserID
	for user := range masters {
		if user.Domain() != s.ServerName {
			remote = append(remote, user)
		}
	}
	if len(remote) == 0 {
		return nil
	}
	byUser, err := s.DB.KeySignaturesBy(ctx, requester, remote)
	if err != nil {
		return err
	}
	for user, sigs := range byUser {
		raw := masters[user]
		k, err := parseStoredCrossSigningKey(raw)
		if err != nil {
			continue // not a key this server could have signatures on
		}
		var mine []store.KeySignature
		for _, sig := range sigs {
			if sig.TargetKeyID == k.pubKeyB64 {
				mine = append(mine, sig)
			}
		}
		if masters[user], err = withSignatures(raw, mine, nil, false); err != nil {
			return err
		}
	}
	return nil
}

// QueryLocalKeys answers another server's /user/keys/query: the keys of
// the local users among req, as any user of that server may see them (no
// user-signing keys, only the owners' signatures).
//
// Spec: https://spec.matrix.org/v1.19/server-server-api/#post_matrixfederationv1userkeysquery
func (s *Service) QueryLocalKeys(ctx context.Context, req map[id.UserID][]id.DeviceID) (QueryResult, error) {
	res := newQueryResult()
	for user, devices := range req {
		if user.Domain() != s.ServerName {
			continue
		}
		if err := s.queryLocal(ctx, "", user, devices, &res); err != nil {
			return QueryResult{}, fmt.Errorf("query keys of %s: %w", user, err)
		}
	}
	return res, nil
}

// queryLocal adds the keys of the local user to res.
func (s *Service) queryLocal(ctx context.Context, requester, user id.UserID, devices []id.DeviceID, res *QueryResult) error {
	all, err := s.DB.UserDeviceKeys(ctx, user)
	if err != nil {
		return err
	}
	sigs, err := s.DB.KeySignatures(ctx, user)
	if err != nil {
		return err
	}
	visible := func(keyID string) []store.KeySignature {
		var out []store.KeySignature
		for _, sig := range sigs {
			if sig.TargetKeyID == keyID && (sig.SignerUserID == user || sig.SignerUserID == requester) {
				out = append(out, sig)
			}
		}
		return out
	}
	out := map[id.DeviceID]json.RawMessage{}
	for _, dk := range all {
		if len(devices) > 0 && !slices.Contains(devices, dk.DeviceID) {
			continue
		}
		js, err := withSignatures(dk.KeyJSON, visible(string(dk.DeviceID)), map[string]any{"device_display_name": dk.DisplayName}, dk.DisplayName != "")
		if err != nil {
			return err
		}
		out[dk.DeviceID] = js
	}
	cs, err := s.DB.CrossSigningKeys(ctx, user)
	if err != nil {
		return err
	}
	// A user unknown here is left out: "the corresponding user or device
	// is missing from the device_keys result". A user without keys gets
	// an empty map.
	known := len(all) > 0 || len(cs) > 0
	if !known {
		_, err := s.DB.User(ctx, user)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		known = err == nil
	}
	if known {
		res.DeviceKeys[user] = out
	}
	for kt, dst := range map[string]map[id.UserID]json.RawMessage{
		KeyTypeMaster: res.MasterKeys, KeyTypeSelfSigning: res.SelfSigningKeys, KeyTypeUserSigning: res.UserSigningKeys,
	} {
		raw, ok := cs[kt]
		if !ok || (kt == KeyTypeUserSigning && requester != user) {
			continue
		}
		k, err := parseStoredCrossSigningKey(raw)
		if err != nil {
			return err
		}
		js, err := withSignatures(raw, visible(k.pubKeyB64), nil, false)
		if err != nil {
			return err
		}
		dst[user] = js
	}
	return nil
}

// withSignatures adds the signatures sigs (and, with addUnsigned, the
// members of unsigned) to the JSON object raw.
func withSignatures(raw []byte, sigs []store.KeySignature, unsigned map[string]any, addUnsigned bool) (json.RawMessage, error) {
	if len(sigs) == 0 && !addUnsigned {
		return raw, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("stored key: %w", err)
	}
	if len(sigs) > 0 {
		all := map[string]map[string]string{}
		if s, ok := obj["signatures"]; ok {
			if err := json.Unmarshal(s, &all); err != nil {
				return nil, fmt.Errorf("stored key signatures: %w", err)
			}
		}
		for _, sig := range sigs {
			if all[string(sig.SignerUserID)] == nil {
				all[string(sig.SignerUserID)] = map[string]string{}
			}
			all[string(sig.SignerUserID)][sig.SignerKeyID] = sig.Signature
		}
		b, err := json.Marshal(all)
		if err != nil {
			return nil, err
		}
		obj["signatures"] = b
	}
	if addUnsigned {
		u := map[string]any{}
		if s, ok := obj["unsigned"]; ok {
			_ = json.Unmarshal(s, &u) // a malformed unsigned is replaced
		}
		for k, v := range unsigned {
			u[k] = v
		}
		b, err := json.Marshal(u)
		if err != nil {
			return nil, err
		}
		obj["unsigned"] = b
	}
	return json.Marshal(obj)
}
