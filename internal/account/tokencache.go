package account

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// tokenTTL bounds how long a cached access token is trusted without asking
// the database. Revocations through this process drop the entries at once;
// the bound matters once several processes share one database, where a
// token revoked by another process stays usable here for at most this
// long.
const tokenTTL = 30 * time.Second

// maxCachedTokens bounds the cache; when full it is emptied and refills
// from the requests that follow.
const maxCachedTokens = 100_000

// tokenCache remembers whom recently used access tokens belong to, so that
// most authenticated requests need no database read. Keys are SHA-256 hashes
// of the tokens, so the cache holds no usable token. The zero value is
// ready to use.
type tokenCache struct {
	mu      sync.Mutex
	entries map[[32]byte]tokenEntry
	// gen counts revocations. A lookup that missed the cache notes gen
	// before it reads the database and caches its answer only if no
	// revocation happened meanwhile, so a token revoked while it was being
	// looked up is never cached.
	gen uint64
	// swept is when expired entries were last dropped (put does it at
	// most once per tokenTTL), so that the cache holds the tokens used
	// within about two tokenTTL, not every token ever used.
	swept time.Time
}

// generation returns the revocation count, to be passed to put.
func (c *tokenCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

type tokenEntry struct {
	userID   id.UserID
	deviceID id.DeviceID
	expires  time.Time
}

func (c *tokenCache) get(token string, now time.Time) (tokenEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[sha256.Sum256([]byte(token))]
	if !ok || now.After(e.expires) {
		return tokenEntry{}, false
	}
	return e, true
}

// put caches a token until tokenTTL from now, or until the token itself
// expires when that is sooner (tokenExpires; zero for never).
func (c *tokenCache) put(token string, userID id.UserID, deviceID id.DeviceID, now time.Time, gen uint64, tokenExpires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.entries == nil || len(c.entries) >= maxCachedTokens {
		c.entries = map[[32]byte]tokenEntry{}
	}
	if now.Sub(c.swept) >= tokenTTL {
		c.swept = now
		for k, e := range c.entries {
			if now.After(e.expires) {
				delete(c.entries, k)
			}
		}
	}
	expires := now.Add(tokenTTL)
	if !tokenExpires.IsZero() && tokenExpires.Before(expires) {
		// An entry is valid until, not at, its expiry (get uses After).
		expires = tokenExpires.Add(-time.Millisecond)
	}
	c.entries[sha256.Sum256([]byte(token))] = tokenEntry{userID: userID, deviceID: deviceID, expires: expires}
}

// forgetUser drops every cached token of a user. Called whenever tokens of
// the user may have been revoked.
func (c *tokenCache) forgetUser(userID id.UserID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if e.userID == userID {
			delete(c.entries, k)
		}
	}
}
