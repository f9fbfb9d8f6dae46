package serverkeys

// Spec: Server-Server API § Querying Keys Through Another Server
// https://spec.matrix.org/v1.19/server-server-api/#querying-keys-through-another-server

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/store"
)

// MaxNotaryServers is the most servers one notary query may ask about.
const MaxNotaryServers = 100

// NotaryCriteria is what a notary query asks about one server.
type NotaryCriteria struct {
	// KeyIDs are the keys wanted; none means all.
	KeyIDs []signing.KeyID
	// MinimumValidUntilTS is the validity the answer should reach; 0 when
	// not given, which means now.
	MinimumValidUntilTS int64
}

// NotaryQuery answers /_matrix/key/v2/query for the servers in query: for
// each, this server's own key response, or the cached response of the
// server, fetched from it directly first when there is none, when half of
// its lifetime has passed, when it is valid for less than asked
// (minimum_valid_until_ts, or now) or when it lacks a key ID asked for. A server that cannot be reached is answered
// from the cache if possible, and left out otherwise. Every response is
// countersigned with this server's key. At most MaxNotaryServers servers
// are answered (the first by name); fetches are rate-limited per server
// like every other fetch.
func (k *Keys) NotaryQuery(ctx context.Context, query map[id.ServerName]NotaryCriteria) ([]json.RawMessage, error) {
	servers := make([]id.ServerName, 0, len(query))
	for s := range query {
		servers = append(servers, s)
	}
	slices.Sort(servers)
	if len(servers) > MaxNotaryServers {
		servers = servers[:MaxNotaryServers]
	}
	out := []json.RawMessage{}
	for _, server := range servers {
		if server == k.key.ServerName {
			own, err := k.OwnResponse()
			if err != nil {
				return nil, err
			}
			out = append(out, own)
			continue
		}
		raw, err := k.notaryAnswer(ctx, server, query[server])
		if err != nil {
			return nil, err
		}
		if raw != nil {
			out = append(out, raw)
		}
	}
	return out, nil
}

// notaryAnswer returns the countersigned response for one server, or nil
// if there is none.
func (k *Keys) notaryAnswer(ctx context.Context, server id.ServerName, c NotaryCriteria) (json.RawMessage, error) {
	minValid := max(k.nowMS(), c.MinimumValidUntilTS)
	keyIDs := c.KeyIDs
	resp, err := k.db.ServerKeyResponse(ctx, server)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	found := err == nil
	// keys_server.yaml: "Intermediate notary servers should cache a
	// response for half of its lifetime to avoid serving a stale response."
	stale := found && k.nowMS() > resp.FetchedTS+(resp.ValidUntilTS-resp.FetchedTS)/2
	if !found || stale || resp.ValidUntilTS < minValid || !responseHas(resp.JSON, keyIDs) {
		// Only directly: asking other notaries could loop between them.
		if ferr := k.fetch(ctx, server, keyIDs, false); ferr != nil {
			k.log.Debug("notary fetch", "destination", string(server), "err", ferr)
		}
		resp, err = k.db.ServerKeyResponse(ctx, server)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	signed, err := signing.SignJSON(resp.JSON, k.key)
	if err != nil {
		return nil, err
	}
	return signed, nil
}

// responseHas reports whether a stored key response lists every key of
// keyIDs, current or old.
func responseHas(raw []byte, keyIDs []signing.KeyID) bool {
	var r struct {
		VerifyKeys    map[string]json.RawMessage `json:"verify_keys"`
		OldVerifyKeys map[string]json.RawMessage `json:"old_verify_keys"`
	}
	if json.Unmarshal(raw, &r) != nil {
		return false
	}
	for _, kid := range keyIDs {
		_, cur := r.VerifyKeys[string(kid)]
		_, old := r.OldVerifyKeys[string(kid)]
		if !cur && !old {
			return false
		}
	}
	return true
}
