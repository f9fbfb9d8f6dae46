package e2ee

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/store"
)

// The keys of other servers' users: /keys/query and /keys/claim ask their
// servers (/_matrix/federation/v1/user/keys/query and …/claim), all at
// once, each within RemoteTimeout, and list a server that does not answer
// in time in failures. The device lists of remote users who share a room
// with a local user are cached (see deviceupdates.go) and answer
// /keys/query without a request while they are known to be complete.
//
// Spec: https://spec.matrix.org/v1.19/server-server-api/#end-to-end-encryption

// DefaultRemoteTimeout bounds a request to another server for keys.
const DefaultRemoteTimeout = 10 * time.Second

// Sender is what the service needs of the federation sender
// (*fedsender.Sender).
type Sender interface {
	// Wake makes the destinations send the EDUs queued for them.
	Wake(dests []id.ServerName)
	// DeviceListsChanged tells the sender that the device list stream
	// moved.
	DeviceListsChanged()
}

// Remote sends requests to other servers (*federation.Client).
type Remote interface {
	Do(ctx context.Context, req federation.Request) ([]byte, error)
}

var _ Remote = (*federation.Client)(nil)

// errNoFederation: no Remote is configured.
var errNoFederation = errors.New("federation is not configured")

// MaxRemoteTimeout caps the per-server timeout a client may ask for.
const MaxRemoteTimeout = time.Minute

type remoteTimeoutKey struct{}

// WithRemoteTimeout returns a context under which /keys/query and
// /keys/claim wait at most d (capped at MaxRemoteTimeout) for each other
// server: the timeout a client gave in its request.
func WithRemoteTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, remoteTimeoutKey{}, min(d, MaxRemoteTimeout))
}

func (s *Service) remoteTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Value(remoteTimeoutKey{}).(time.Duration); ok && d > 0 {
		return d
	}
	if s.RemoteTimeout > 0 {
		return s.RemoteTimeout
	}
	return DefaultRemoteTimeout
}

// askServers runs ask for each server at once, each under its own
// deadline, and returns the errors by server.
func (s *Service) askServers(ctx context.Context, servers []id.ServerName, ask func(ctx context.Context, server id.ServerName) error) map[id.ServerName]error {
	errs := map[id.ServerName]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, server := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if s.Remote == nil {
				err = errNoFederation
			} else {
				sctx, cancel := context.WithTimeout(ctx, s.remoteTimeout(ctx))
				err = ask(sctx, server)
				cancel()
			}
			mu.Lock()
			errs[server] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	return errs
}

// remoteKeys is the answer of /user/keys/query.
type remoteKeys struct {
	DeviceKeys      map[id.UserID]map[id.DeviceID]json.RawMessage `json:"device_keys"`
	MasterKeys      map[id.UserID]json.RawMessage                 `json:"master_keys"`
	SelfSigningKeys map[id.UserID]json.RawMessage                 `json:"self_signing_keys"`
}

// queryRemote adds the keys of remote users (by server) to res: from the
// cache when every user of a server has a complete cached list, else from
// their server.
func (s *Service) queryRemote(ctx context.Context, remote map[id.ServerName]map[id.UserID][]id.DeviceID, res *QueryResult) error {
	var ask []id.ServerName
	for server, users := range remote {
		cached := true
		for user := range users {
			ok, err := s.cachedListUsable(ctx, user)
			if err != nil {
				return err
			}
			if !ok {
				cached = false
				break
			}
		}
		if !cached {
			ask = append(ask, server)
			continue
		}
		for user, devices := range users {
			if err := s.queryCached(ctx, user, devices, res); err != nil {
				return err
			}
		}
	}
	var mu sync.Mutex
	errs := s.askServers(ctx, ask, func(ctx context.Context, server id.ServerName) error {
		body, err := json.Marshal(map[string]any{"device_keys": remote[server]})
		if err != nil {
			return err
		}
		raw, err := s.Remote.Do(ctx, federation.Request{Destination: server, Method: http.MethodPost,
			Path: "/_matrix/federation/v1/user/keys/query", Body: body})
		if err != nil {
			return err
		}
		var ans remoteKeys
		if err := json.Unmarshal(raw, &ans); err != nil {
			return fmt.Errorf("keys of %s: %w", server, err)
		}
		mu.Lock()
		defer mu.Unlock()
		for user, devices := range ans.DeviceKeys {
			if _, asked := remote[server][user]; asked && user.Domain() == server {
				res.DeviceKeys[user] = devices
			}
		}
		for user, k := range ans.MasterKeys {
			if _, asked := remote[server][user]; asked && user.Domain() == server {
				res.MasterKeys[user] = k
			}
		}
		for user, k := range ans.SelfSigningKeys {
			if _, asked := remote[server][user]; asked && user.Domain() == server {
				res.SelfSigningKeys[user] = k
			}
		}
		return nil
	})
	for server, err := range errs {
		if err != nil {
			res.Failures[server] = struct{}{}
		}
	}
	return nil
}

// queryCached adds the cached keys of a remote user to res.
func (s *Service) queryCached(ctx context.Context, user id.UserID, devices []id.DeviceID, res *QueryResult) error {
	all, err := s.DB.RemoteDeviceKeys(ctx, user)
	if err != nil {
		return err
	}
	out := map[id.DeviceID]json.RawMessage{}
	for _, dk := range all {
		if len(devices) == 0 || containsDevice(devices, dk.DeviceID) {
			out[dk.DeviceID] = dk.KeyJSON
		}
	}
	res.DeviceKeys[user] = out
	cs, err := s.DB.RemoteCrossSigningKeys(ctx, user)
	if err != nil {
		return err
	}
	if k, ok := cs[KeyTypeMaster]; ok {
		res.MasterKeys[user] = k
	}
	if k, ok := cs[KeyTypeSelfSigning]; ok {
		res.SelfSigningKeys[user] = k
	}
	return nil
}

func containsDevice(devices []id.DeviceID, d id.DeviceID) bool {
	for _, x := range devices {
		if x == d {
			return true
		}
	}
	return false
}

// claimRemote claims the keys of remote users (by server) from their
// servers and adds them to res.
func (s *Service) claimRemote(ctx context.Context, remote map[id.ServerName]map[id.UserID]map[id.DeviceID]string, res *ClaimResult) {
	var servers []id.ServerName
	for server := range remote {
		servers = append(servers, server)
	}
	var mu sync.Mutex
	errs := s.askServers(ctx, servers, func(ctx context.Context, server id.ServerName) error {
		body, err := json.Marshal(map[string]any{"one_time_keys": remote[server]})
		if err != nil {
			return err
		}
		raw, err := s.Remote.Do(ctx, federation.Request{Destination: server, Method: http.MethodPost,
			Path: "/_matrix/federation/v1/user/keys/claim", Body: body})
		if err != nil {
			return err
		}
		var ans struct {
			OneTimeKeys map[id.UserID]map[id.DeviceID]map[string]json.RawMessage `json:"one_time_keys"`
		}
		if err := json.Unmarshal(raw, &ans); err != nil {
			return fmt.Errorf("claimed keys of %s: %w", server, err)
		}
		mu.Lock()
		defer mu.Unlock()
		for user, devices := range ans.OneTimeKeys {
			if _, asked := remote[server][user]; asked && user.Domain() == server {
				res.OneTimeKeys[user] = devices
			}
		}
		return nil
	})
	for server, err := range errs {
		if err != nil {
			res.Failures[server] = struct{}{}
		}
	}
}

// remoteDevices is the answer of /user/devices.
type remoteDevices struct {
	UserID   id.UserID `json:"user_id"`
	StreamID int64     `json:"stream_id"`
	Devices  []struct {
		DeviceID    id.DeviceID     `json:"device_id"`
		DisplayName string          `json:"device_display_name"`
		Keys        json.RawMessage `json:"keys"`
	} `json:"devices"`
	MasterKey      json.RawMessage `json:"master_key"`
	SelfSigningKey json.RawMessage `json:"self_signing_key"`
}

// resync replaces the cached device list of a remote user with the one
// its server gives (/user/devices) and records a device list change, so
// local clients query the user's keys again. On failure the list is
// marked stale (keys are then queried from the server) and the change is
// recorded all the same.
func (s *Service) resync(ctx context.Context, user id.UserID) error {
	var ans remoteDevices
	errs := s.askServers(ctx, []id.ServerName{user.Domain()}, func(ctx context.Context, server id.ServerName) error {
		raw, err := s.Remote.Do(ctx, federation.Request{Destination: server, Method: http.MethodGet,
			Path: "/_matrix/federation/v1/user/devices/" + url.PathEscape(string(user))})
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &ans); err != nil {
			return err
		}
		if ans.UserID != user {
			return fmt.Errorf("devices of %s answered for %s", user, ans.UserID)
		}
		return nil
	})
	fetchErr := errs[user.Domain()]
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		if fetchErr != nil {
			if err := markStale(ctx, tx, user); err != nil {
				return err
			}
		} else {
			var devices []store.DeviceKeys
			for _, d := range ans.Devices {
				if d.DeviceID != "" && isObject(d.Keys) {
					devices = append(devices, store.DeviceKeys{DeviceID: d.DeviceID, DisplayName: d.DisplayName, KeyJSON: d.Keys})
				}
			}
			if err := tx.ReplaceRemoteDevices(ctx, user, devices); err != nil {
				return err
			}
			if err := storeRemoteCrossSigning(ctx, tx, user, ans.MasterKey, ans.SelfSigningKey); err != nil {
				return err
			}
			checked, err := tx.MaxStreamPos(ctx)
			if err != nil {
				return err
			}
			if err := tx.SetRemoteDeviceList(ctx, user, store.RemoteDeviceList{StreamID: ans.StreamID, CheckedPos: checked}); err != nil {
				return err
			}
		}
		if err := s.recordDeviceListChange(ctx, tx, user, ""); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("resync device list of %s: %w", user, err)
	}
	if fetchErr != nil {
		return fmt.Errorf("resync device list of %s: %w", user, fetchErr)
	}
	return nil
}

// markStale marks a remote user's cached list as missing updates.
func markStale(ctx context.Context, tx *store.Tx, user id.UserID) error {
	l, err := tx.RemoteDeviceListOf(ctx, user)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	l.Stale = true
	return tx.SetRemoteDeviceList(ctx, user, l)
}

// storeRemoteCrossSigning caches a remote user's master and self-signing
// keys, those given and well formed for the user.
func storeRemoteCrossSigning(ctx context.Context, tx *store.Tx, user id.UserID, master, selfSigning json.RawMessage) error {
	for kt, raw := range map[string]json.RawMessage{KeyTypeMaster: master, KeyTypeSelfSigning: selfSigning} {
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		k, err := parseStoredCrossSigningKey(raw)
		if err != nil || k.UserID != user {
			continue
		}
		if err := tx.SetRemoteCrossSigningKey(ctx, user, kt, raw); err != nil {
			return err
		}
	}
	return nil
}

// cachedListUsable reports whether the cached device list of a remote
// user may answer /keys/query: it exists, is complete, and a local user
// has shared a room with the user all along since it was last known
// complete (updates arrive only while rooms are shared).
func (s *Service) cachedListUsable(ctx context.Context, user id.UserID) (bool, error) {
	l, err := s.DB.RemoteDeviceListOf(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil || l.Stale {
		return false, err
	}
	return s.DB.SharingSince(ctx, user, s.ServerName, l.CheckedPos)
}

// sharedWithLocal reports whether a user of this server shares a room
// with the remote user.
func (s *Service) sharedWithLocal(ctx context.Context, user id.UserID) (bool, error) {
	servers, err := s.DB.ServersSharingRooms(ctx, user, "")
	if err != nil {
		return false, err
	}
	for _, srv := range servers {
		if srv == s.ServerName {
			return true, nil
		}
	}
	return false, nil
}
