package serverkeys

// Spec: Server-Server API § Retrieving server keys
// https://spec.matrix.org/v1.19/server-server-api/#retrieving-server-keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/store"
)

// errRateLimited means the server's keys were fetched less than
// RefetchInterval ago.
var errRateLimited = errors.New("keys fetched recently")

// fetch fetches server's keys, from the server itself and then, if useNotaries,
// through the notaries until one gives every key of keyIDs. Fetches of
// one server run one at a time: a caller that finds one in flight waits
// for it instead. A server is fetched at most once per RefetchInterval.
func (k *Keys) fetch(ctx context.Context, server id.ServerName, keyIDs []signing.KeyID, useNotaries bool) error {
	if server == k.key.ServerName {
		return nil
	}
	now := k.now()
	k.mu.Lock()
	if ch, ok := k.inflight[server]; ok {
		k.mu.Unlock()
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if last, ok := k.lastFetch[server]; ok && now.Sub(last) < k.refetch {
		k.mu.Unlock()
		return fmt.Errorf("fetch keys of %s: %w", server, errRateLimited)
	}
	if len(k.lastFetch) >= maxCachedServers {
		for s, t := range k.lastFetch {
			if now.Sub(t) >= k.refetch {
				delete(k.lastFetch, s)
			}
		}
	}
	k.lastFetch[server] = now
	ch := make(chan struct{})
	k.inflight[server] = ch
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		delete(k.inflight, server)
		k.mu.Unlock()
		close(ch)
	}()

	sk, err := k.fetchDirect(ctx, server)
	if err == nil && hasAll(sk, keyIDs) {
		return nil
	}
	errs := []error{err}
	if !useNotaries {
		return errors.Join(errs...)
	}
	for _, notary := range k.notaries {
		if notary == server || notary == k.key.ServerName {
			continue
		}
		sk, err := k.fetchVia(ctx, notary, server, keyIDs)
		if err == nil && hasAll(sk, keyIDs) {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// hasAll reports whether sk holds every key of keyIDs.
func hasAll(sk signing.ServerKeys, keyIDs []signing.KeyID) bool {
	for _, kid := range keyIDs {
		if _, ok := sk.Keys[kid]; !ok {
			return false
		}
	}
	return true
}

// fetchDirect asks server for its keys (GET /_matrix/key/v2/server), checks
// and stores the answer.
func (k *Keys) fetchDirect(ctx context.Context, server id.ServerName) (signing.ServerKeys, error) {
	raw, err := k.client.Do(ctx, federation.Request{
		Destination: server, Method: http.MethodGet, Path: "/_matrix/key/v2/server",
		Unsigned: true, MaxResponseBytes: maxKeyResponseBytes,
	})
	if err != nil {
		return signing.ServerKeys{}, fmt.Errorf("fetch keys of %s: %w", server, err)
	}
	now := k.nowMS()
	sk, err := signing.ParseKeyResponse(raw, server, now)
	if err != nil {
		k.log.Warn("bad key response", "destination", string(server), "err", err)
		return signing.ServerKeys{}, err
	}
	return sk, k.store(ctx, raw, sk, now)
}

// fetchVia asks notary for server's keys (POST /_matrix/key/v2/query) and
// stores every answer that server signed itself and notary countersigned.
// The notary's own keys are fetched from it directly when unknown.
func (k *Keys) fetchVia(ctx context.Context, notary, server id.ServerName, keyIDs []signing.KeyID) (signing.ServerKeys, error) {
	criteria := map[string]struct{}{}
	for _, kid := range keyIDs {
		criteria[string(kid)] = struct{}{}
	}
	body, err := json.Marshal(map[string]any{"server_keys": map[string]any{string(server): criteria}})
	if err != nil {
		return signing.ServerKeys{}, fmt.Errorf("query %s for keys of %s: %w", notary, server, err)
	}
	raw, err := k.client.Do(ctx, federation.Request{
		Destination: notary, Method: http.MethodPost, Path: "/_matrix/key/v2/query", Body: body,
		Unsigned: true, MaxResponseBytes: maxKeyResponseBytes,
	})
	if err != nil {
		return signing.ServerKeys{}, fmt.Errorf("query %s for keys of %s: %w", notary, server, err)
	}
	var resp struct {
		ServerKeys []json.RawMessage `json:"server_keys"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		k.log.Warn("bad notary response", "destination", string(notary), "err", err)
		return signing.ServerKeys{}, fmt.Errorf("query %s for keys of %s: %w", notary, server, err)
	}
	now := k.nowMS()
	merged := signing.ServerKeys{ServerName: server, Keys: map[signing.KeyID]signing.VerifyKey{}}
	var errs []error
	for _, entry := range resp.ServerKeys {
		var head struct {
			ServerName string `json:"server_name"`
		}
		if json.Unmarshal(entry, &head) != nil || head.ServerName != string(server) {
			continue // the notary may answer more than was asked
		}
		sk, err := signing.ParseKeyResponse(entry, server, now)
		if err == nil {
			err = k.checkNotarySignature(ctx, entry, notary)
		}
		if err != nil {
			k.log.Warn("bad notary response", "destination", string(notary), "err", err)
			errs = append(errs, err)
			continue
		}
		if err := k.store(ctx, entry, sk, now); err != nil {
			return signing.ServerKeys{}, err
		}
		for kid, vk := range sk.Keys {
			merged.Keys[kid] = vk
		}
	}
	if len(merged.Keys) == 0 {
		errs = append(errs, fmt.Errorf("query %s for keys of %s: %w", notary, server, ErrUnknownKey))
		return signing.ServerKeys{}, errors.Join(errs...)
	}
	return merged, nil
}

// checkNotarySignature checks the notary's signature on a key response,
// fetching the notary's keys directly if none of its signatures can be
// checked yet.
func (k *Keys) checkNotarySignature(ctx context.Context, entry []byte, notary id.ServerName) error {
	err := signing.CheckSignatures(entry, notary, k.nowMS(), true, k.Lookup)
	if errors.Is(err, signing.ErrNoVerifyKey) {
		if _, ferr := k.fetchDirect(ctx, notary); ferr != nil {
			return fmt.Errorf("keys of notary %s: %w", notary, ferr)
		}
		err = signing.CheckSignatures(entry, notary, k.nowMS(), true, k.Lookup)
	}
	if err != nil {
		return fmt.Errorf("notary %s signature: %w", notary, err)
	}
	return nil
}

// store writes a verified key response and its keys to the database and
// refreshes the in-memory copy.
func (k *Keys) store(ctx context.Context, raw []byte, sk signing.ServerKeys, now int64) error {
	rows := make([]store.RemoteServerKey, 0, len(sk.Keys))
	for kid, vk := range sk.Keys {
		rows = append(rows, store.RemoteServerKey{
			ServerName: sk.ServerName, KeyID: kid, PublicKey: signing.EncodeBase64(vk.Public),
			ValidUntilTS: vk.ValidUntilTS, ExpiredTS: vk.ExpiredTS, FetchedTS: now,
		})
	}
	resp := store.KeyResponse{ServerName: sk.ServerName, JSON: raw, ValidUntilTS: sk.ValidUntilTS, FetchedTS: now}
	if err := k.db.StoreServerKeys(ctx, resp, rows); err != nil {
		return err
	}
	_, err := k.load(ctx, sk.ServerName)
	return err
}
