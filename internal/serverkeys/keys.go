package serverkeys

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/store"
)

// Defaults of Config.
const (
	DefaultRefetchInterval = time.Minute
	DefaultOwnValidity     = 24 * time.Hour
)

const (
	// maxCachedServers bounds the in-memory copy of remote keys; the
	// database holds them all, so dropping the copy only costs a read.
	maxCachedServers = 10000
	// lookupTimeout bounds the database read of a Lookup miss.
	lookupTimeout = 5 * time.Second
	// maxKeyResponseBytes caps a key response (direct or from a notary).
	maxKeyResponseBytes = 1 << 20
)

// Doer sends federation requests; *federation.Client implements it.
type Doer interface {
	Do(ctx context.Context, req federation.Request) ([]byte, error)
}

// Config holds the dependencies and settings of Keys.
type Config struct {
	DB *store.DB
	// Key is this server's signing key; its ServerName is the server's.
	Key signing.Key
	// Client fetches keys from other servers.
	Client Doer
	// Notaries are the servers asked for another server's keys when that
	// server does not answer itself (trusted_key_servers), in order.
	Notaries []id.ServerName
	Logger   *slog.Logger
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// RefetchInterval is the least time between two fetches of one
	// server's keys; DefaultRefetchInterval when 0.
	RefetchInterval time.Duration
	// OwnValidity is the valid_until_ts this server gives its key
	// response, from the time it is made; DefaultOwnValidity when 0.
	OwnValidity time.Duration
}

// Keys is the key store: this server's keys and the cache of other
// servers' keys. It is safe for concurrent use.
type Keys struct {
	db          *store.DB
	key         signing.Key
	client      Doer
	notaries    []id.ServerName
	log         *slog.Logger
	now         func() time.Time
	refetch     time.Duration
	ownValidity time.Duration
	// ownOld are the keys this server used before, by key ID.
	ownOld map[signing.KeyID]signing.VerifyKey

	// mu guards the fields below. A leaf: never held across I/O.
	mu        sync.Mutex
	servers   map[id.ServerName]map[signing.KeyID]signing.VerifyKey
	lastFetch map[id.ServerName]time.Time
	inflight  map[id.ServerName]chan struct{}
	ownResp   []byte
	ownUntil  int64
}

// Open records this server's current key in the key history (marking the
// previous one expired after a rotation), loads the history and returns
// the key store.
func Open(ctx context.Context, cfg Config) (*Keys, error) {
	k := &Keys{
		db:          cfg.DB,
		key:         cfg.Key,
		client:      cfg.Client,
		notaries:    cfg.Notaries,
		log:         cfg.Logger,
		now:         cfg.Now,
		refetch:     cfg.RefetchInterval,
		ownValidity: cfg.OwnValidity,
		ownOld:      map[signing.KeyID]signing.VerifyKey{},
		servers:     map[id.ServerName]map[signing.KeyID]signing.VerifyKey{},
		lastFetch:   map[id.ServerName]time.Time{},
		inflight:    map[id.ServerName]chan struct{}{},
	}
	if k.now == nil {
		k.now = time.Now
	}
	if k.refetch <= 0 {
		k.refetch = DefaultRefetchInterval
	}
	if k.ownValidity <= 0 {
		k.ownValidity = DefaultOwnValidity
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	if err := k.db.RecordOwnSigningKey(ctx, k.key.KeyID, signing.EncodeBase64(k.key.Public()), k.nowMS()); err != nil {
		return nil, fmt.Errorf("record signing key: %w", err)
	}
	history, err := k.db.OwnSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	for _, h := range history {
		if h.ExpiredTS == 0 {
			continue
		}
		pub, err := signing.DecodeBase64(h.PublicKey)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("signing key history: key %s: %w", h.KeyID, signing.ErrInvalidKey)
		}
		k.ownOld[h.KeyID] = signing.VerifyKey{Public: pub, ExpiredTS: h.ExpiredTS}
	}
	return k, nil
}

func (k *Keys) nowMS() int64 { return k.now().UnixMilli() }

// ServerName returns this server's name.
func (k *Keys) ServerName() id.ServerName { return k.key.ServerName }

// Lookup is a signing.KeyLookup over the cache: this server's keys, then
// the cached keys of other servers (read from the database on a miss). It
// never fetches.
func (k *Keys) Lookup(server id.ServerName, keyID signing.KeyID) (signing.VerifyKey, bool) {
	if server == k.key.ServerName {
		if keyID == k.key.KeyID {
			return signing.VerifyKey{Public: k.key.Public(), ValidUntilTS: math.MaxInt64}, true
		}
		vk, ok := k.ownOld[keyID]
		return vk, ok
	}
	k.mu.Lock()
	keys, ok := k.servers[server]
	k.mu.Unlock()
	if !ok {
		// signing.KeyLookup has no context: the database read gets its
		// own deadline.
		ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
		defer cancel()
		var err error
		if keys, err = k.load(ctx, server); err != nil {
			k.log.Error("load server keys", "destination", string(server), "err", err)
			return signing.VerifyKey{}, false
		}
	}
	vk, ok := keys[keyID]
	return vk, ok
}

// load reads the cached keys of server from the database into memory.
func (k *Keys) load(ctx context.Context, server id.ServerName) (map[signing.KeyID]signing.VerifyKey, error) {
	rows, err := k.db.ServerKeys(ctx, server)
	if err != nil {
		return nil, err
	}
	keys := make(map[signing.KeyID]signing.VerifyKey, len(rows))
	for _, r := range rows {
		pub, err := signing.DecodeBase64(r.PublicKey)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			continue
		}
		keys[r.KeyID] = signing.VerifyKey{Public: pub, ValidUntilTS: r.ValidUntilTS, ExpiredTS: r.ExpiredTS}
	}
	k.mu.Lock()
	if len(k.servers) >= maxCachedServers {
		clear(k.servers)
	}
	k.servers[server] = keys
	k.mu.Unlock()
	return keys, nil
}

// RequestKey returns the public key that may verify a request server signed
// now with keyID: a current key (not an old one) within its validity. An
// unknown key, or one that is no longer valid, is fetched again (at most
// once per RefetchInterval for the server). Errors wrap ErrUnknownKey or
// ErrExpiredKey.
func (k *Keys) RequestKey(ctx context.Context, server id.ServerName, keyID signing.KeyID) (ed25519.PublicKey, error) {
	usable := func(vk signing.VerifyKey) bool { return !vk.IsOld() && vk.ValidAt(k.nowMS(), true) }
	vk, ok := k.Lookup(server, keyID)
	if ok && usable(vk) {
		return vk.Public, nil
	}
	fetchErr := k.fetch(ctx, server, []signing.KeyID{keyID}, true)
	vk, ok = k.Lookup(server, keyID)
	switch {
	case !ok:
		if fetchErr != nil {
			return nil, fmt.Errorf("key %s of %s: %w: %w", keyID, server, ErrUnknownKey, fetchErr)
		}
		return nil, fmt.Errorf("key %s of %s: %w", keyID, server, ErrUnknownKey)
	case !usable(vk):
		return nil, fmt.Errorf("key %s of %s: %w", keyID, server, ErrExpiredKey)
	}
	return vk.Public, nil
}

// Ensure makes sure the keys keyIDs of server are known and, for current
// keys, valid at ts (milliseconds since the epoch; the origin_server_ts
// of the events to check), fetching them if not (at most once per
// RefetchInterval for the server). Call it before handing PDUs signed by
// server to the event path, whose Lookup does not fetch. It returns the
// fetch error if a key is still missing; signature checks then decide.
func (k *Keys) Ensure(ctx context.Context, server id.ServerName, keyIDs []signing.KeyID, ts int64) error {
	missing := false
	for _, kid := range keyIDs {
		if vk, ok := k.Lookup(server, kid); !ok || (!vk.IsOld() && !vk.ValidAt(ts, true)) {
			missing = true
			break
		}
	}
	if !missing {
		return nil
	}
	return k.fetch(ctx, server, keyIDs, true)
}

// maxSignersPerPDU bounds the servers EnsureForPDUs fetches keys of for one
// PDU, so a PDU cannot make this server contact any number of others.
const maxSignersPerPDU = 8

// EnsureForPDUs prepares the key cache for checking the signatures of
// PDUs received from another server: for every ed25519 signature on them
// (at most maxSignersPerPDU servers per PDU), Ensure fetches the signing
// server's keys unless they are known and valid at the PDU's
// origin_server_ts. Unreadable PDUs are skipped (the checks on receipt
// drop them); fetch failures are not returned, as the signature checks
// then decide.
func (k *Keys) EnsureForPDUs(ctx context.Context, pdus []json.RawMessage) {
	type need struct {
		keyIDs map[signing.KeyID]bool
		ts     int64
	}
	needs := map[id.ServerName]*need{}
	var order []id.ServerName
	for _, raw := range pdus {
		var p struct {
			OriginServerTS int64                                   `json:"origin_server_ts"`
			Signatures     map[id.ServerName]map[signing.KeyID]any `json:"signatures"`
		}
		if json.Unmarshal(raw, &p) != nil {
			continue
		}
		n := 0
		for server, sigs := range p.Signatures {
			if n == maxSignersPerPDU {
				break
			}
			n++
			nd, ok := needs[server]
			if !ok {
				nd = &need{keyIDs: map[signing.KeyID]bool{}}
				needs[server] = nd
				order = append(order, server)
			}
			for kid := range sigs {
				if kid.Algorithm() == signing.AlgorithmEd25519 {
					nd.keyIDs[kid] = true
				}
			}
			nd.ts = max(nd.ts, p.OriginServerTS)
		}
	}
	for _, server := range order {
		nd := needs[server]
		keyIDs := make([]signing.KeyID, 0, len(nd.keyIDs))
		for kid := range nd.keyIDs {
			keyIDs = append(keyIDs, kid)
		}
		if len(keyIDs) == 0 || ctx.Err() != nil {
			continue
		}
		if err := k.Ensure(ctx, server, keyIDs, nd.ts); err != nil {
			k.log.Debug("fetch keys for pdus", "destination", string(server), "err", err)
		}
	}
}
