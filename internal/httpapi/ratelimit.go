package httpapi

import (
	"math"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/matrixerr"
)

// Rate is a token bucket: PerSecond tokens flow in every second, up to
// Burst. A request takes one token. PerSecond <= 0 means no limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// RateLimiter limits actions ("login", "register", "message", …) per key,
// where the key is a user ID for authenticated requests and the client's IP
// address otherwise. It keeps one token bucket per (action, key) and forgets
// buckets that have refilled, so its memory follows the number of recently
// active clients.
//
// A nil *RateLimiter allows everything: that is how rate limiting is turned
// off.
type RateLimiter struct {
	// Now is the clock; tests replace it. Nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	rates   map[string]Rate
	buckets map[bucketKey]*bucket
	pruneAt int
}

type bucketKey struct{ action, key string }

type bucket struct {
	tokens float64
	last   time.Time
}

// minPruneAt is the bucket count below which the limiter never sweeps.
const minPruneAt = 1024

// NewRateLimiter returns a limiter with the given rate per action. Actions
// without a rate are not limited.
func NewRateLimiter(rates map[string]Rate) *RateLimiter {
	rs := make(map[string]Rate, len(rates))
	for a, r := range rates {
		rs[a] = r
	}
	return &RateLimiter{rates: rs, buckets: map[bucketKey]*bucket{}, pruneAt: minPruneAt}
}

// Check takes a token for action and key. It returns nil when the request
// may proceed and 429 M_LIMIT_EXCEEDED, with the time until the next token,
// when it may not.
func (l *RateLimiter) Check(action, key string) error {
	if ok, wait := l.Allow(action, key); !ok {
		return matrixerr.LimitExceeded(wait)
	}
	return nil
}

// Allow takes a token for action and key. When none is left it reports
// false and how long until one is.
func (l *RateLimiter) Allow(action, key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	rate, ok := l.rates[action]
	if !ok || rate.PerSecond <= 0 {
		return true, 0
	}
	burst := float64(max(rate.Burst, 1))
	now := l.now()
	k := bucketKey{action, key}
	b := l.buckets[k]
	if b == nil {
		l.maybePrune(now)
		b = &bucket{tokens: burst, last: now}
		l.buckets[k] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(burst, b.tokens+elapsed*rate.PerSecond)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) / rate.PerSecond * float64(time.Second)))
	return false, wait
}

// Blocked reports whether the bucket of action and key is empty, and then
// how long until it holds a token, without taking one. Together with
// Allow it limits failures: check Blocked before an attempt, call Allow
// only when the attempt failed.
func (l *RateLimiter) Blocked(action, key string) (bool, time.Duration) {
	if l == nil {
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	rate, ok := l.rates[action]
	b := l.buckets[bucketKey{action, key}]
	if !ok || rate.PerSecond <= 0 || b == nil {
		return false, 0
	}
	tokens := math.Min(float64(max(rate.Burst, 1)), b.tokens+l.now().Sub(b.last).Seconds()*rate.PerSecond)
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration(math.Ceil((1 - tokens) / rate.PerSecond * float64(time.Second)))
}

func (l *RateLimiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// maybePrune drops the buckets that have refilled completely (they behave
// exactly like a new bucket) once the map grows past pruneAt. Called with
// l.mu held.
func (l *RateLimiter) maybePrune(now time.Time) {
	if len(l.buckets) < l.pruneAt {
		return
	}
	for k, b := range l.buckets {
		rate := l.rates[k.action]
		full := float64(max(rate.Burst, 1))
		if b.tokens+now.Sub(b.last).Seconds()*rate.PerSecond >= full {
			delete(l.buckets, k)
		}
	}
	l.pruneAt = max(minPruneAt, 2*len(l.buckets))
}
