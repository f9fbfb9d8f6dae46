package e2ee

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// ClaimResult is the answer of /keys/claim.
type ClaimResult struct {
	// OneTimeKeys maps user → device → "algorithm:key_id" → key.
	OneTimeKeys map[id.UserID]map[id.DeviceID]map[string]json.RawMessage
	// Failures lists the servers that could not be asked.
	Failures map[id.ServerName]struct{}
}

// ClaimKeys hands out, for each requested device, one one-time key of the
// requested algorithm, or the device's fallback key of that algorithm
// when it has none left. Devices without either are left out. A one-time
// key is handed out once only, whatever the concurrency: claiming deletes
// it in the same statement that picks it (store.Tx.ClaimOneTimeKey).
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3keysclaim
func (s *Service) ClaimKeys(ctx context.Context, req map[id.UserID]map[id.DeviceID]string) (ClaimResult, error) {
	res := ClaimResult{
		OneTimeKeys: map[id.UserID]map[id.DeviceID]map[string]json.RawMessage{},
		Failures:    map[id.ServerName]struct{}{},
	}
	local := map[id.UserID]map[id.DeviceID]string{}
	remote := map[id.ServerName]map[id.UserID]map[id.DeviceID]string{}
	for user, devices := range req {
		for dev, alg := range devices {
			if !ValidAlgorithm(alg) {
				return ClaimResult{}, fmt.Errorf("%w: malformed algorithm %q for %s %s", ErrInvalid, alg, user, dev)
			}
		}
		if user.Domain() != s.ServerName {
			if remote[user.Domain()] == nil {
				remote[user.Domain()] = map[id.UserID]map[id.DeviceID]string{}
			}
			remote[user.Domain()][user] = devices
			continue
		}
		local[user] = devices
	}
	if len(local) > 0 {
		if err := s.claimLocal(ctx, local, &res); err != nil {
			return ClaimResult{}, err
		}
	}
	if len(remote) > 0 {
		s.claimRemote(ctx, remote, &res)
	}
	return res, nil
}

// ClaimLocalKeys answers another server's /user/keys/claim: the keys of
// the local users among req, claimed as ClaimKeys does.
//
// Spec: https://spec.matrix.org/v1.19/server-server-api/#post_matrixfederationv1userkeysclaim
func (s *Service) ClaimLocalKeys(ctx context.Context, req map[id.UserID]map[id.DeviceID]string) (ClaimResult, error) {
	res := ClaimResult{
		OneTimeKeys: map[id.UserID]map[id.DeviceID]map[string]json.RawMessage{},
		Failures:    map[id.ServerName]struct{}{},
	}
	local := map[id.UserID]map[id.DeviceID]string{}
	for user, devices := range req {
		for dev, alg := range devices {
			if !ValidAlgorithm(alg) {
				return ClaimResult{}, fmt.Errorf("%w: malformed algorithm %q for %s %s", ErrInvalid, alg, user, dev)
			}
		}
		if user.Domain() == s.ServerName {
			local[user] = devices
		}
	}
	if err := s.claimLocal(ctx, local, &res); err != nil {
		return ClaimResult{}, err
	}
	return res, nil
}

// claimLocal claims the keys of local users into res.
func (s *Service) claimLocal(ctx context.Context, local map[id.UserID]map[id.DeviceID]string, res *ClaimResult) error {
	if len(local) == 0 {
		return nil
	}
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		clear(res.OneTimeKeys)
		for _, user := range slices.Sorted(maps.Keys(local)) {
			for _, dev := range slices.Sorted(maps.Keys(local[user])) {
				alg := local[user][dev]
				k, ok, err := tx.ClaimOneTimeKey(ctx, user, dev, alg)
				if err != nil {
					return err
				}
				if !ok {
					if k, ok, err = tx.ClaimFallbackKey(ctx, user, dev, alg); err != nil {
						return err
					}
				}
				if !ok {
					continue
				}
				if res.OneTimeKeys[user] == nil {
					res.OneTimeKeys[user] = map[id.DeviceID]map[string]json.RawMessage{}
				}
				res.OneTimeKeys[user][dev] = map[string]json.RawMessage{k.Algorithm + ":" + k.KeyID: k.KeyJSON}
				claimed := deviceKey{user, dev}
				tx.AfterCommit(func() { s.cache.keysChanged(claimed) })
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("claim keys: %w", err)
	}
	return nil
}
