package userdir

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/fedjoin"
	"github.com/hafenchat/hafen/internal/profile"
	"github.com/hafenchat/hafen/internal/store"
)

// RemoteProfiles asks other servers for their users' global profiles
// (GET /_matrix/federation/v1/query/profile; *fedjoin.Service).
type RemoteProfiles interface {
	QueryProfile(ctx context.Context, user id.UserID) (map[string]string, error)
}

// Limits of the profile fetcher.
const (
	// maxProfileQueue bounds the remote users waiting for their profile;
	// the ones beyond it stay indexed by user ID until their next join
	// event.
	maxProfileQueue = 10000
	// profileTimeout bounds one profile query.
	profileTimeout = 30 * time.Second
	// serverBackoff is how long the users of a server that failed to
	// answer wait before their server is asked again: a server that is
	// down must not hold up the others' users for a timeout each.
	serverBackoff = 10 * time.Minute
)

// profileFetcher fetches the global profiles of remote users the index
// holds by user ID only: users seen joining only rooms that are not open,
// whose member events may carry a name chosen for that room alone. Each
// of their join events (a profile change reaches every room as one) asks
// their server again, so the index follows their profile. The queue lives
// in memory: after a restart a user waits for their next join event.
type profileFetcher struct {
	remote RemoteProfiles
	db     *store.DB
	log    *slog.Logger
	now    func() time.Time

	// mu guards queue, queued and failed.
	mu     sync.Mutex
	queue  []id.UserID
	queued map[id.UserID]bool
	// failed holds when each server that last failed to answer did so.
	failed map[id.ServerName]time.Time

	wake chan struct{} // buffered: a fetch is waiting
	// start starts run once; cancel, called by Stop, ends ctx and with it
	// run, which closes done.
	start  sync.Once
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

func newProfileFetcher(remote RemoteProfiles, db *store.DB, log *slog.Logger) *profileFetcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &profileFetcher{
		remote: remote, db: db, log: log, now: time.Now,
		queued: map[id.UserID]bool{}, failed: map[id.ServerName]time.Time{},
		wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{}),
	}
}

// add queues users for a profile fetch, leaving out those already waiting,
// those of a server that failed within serverBackoff, and any beyond
// maxProfileQueue.
func (f *profileFetcher) add(users []id.UserID) {
	f.mu.Lock()
	now := f.now()
	for _, u := range users {
		if f.queued[u] || len(f.queue) >= maxProfileQueue {
			continue
		}
		if at, ok := f.failed[u.Domain()]; ok && now.Sub(at) < serverBackoff {
			continue
		}
		f.queued[u] = true
		f.queue = append(f.queue, u)
	}
	waiting := len(f.queue) > 0
	f.mu.Unlock()
	if waiting {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// next takes the first queued user whose server has not failed lately.
func (f *profileFetcher) next() (id.UserID, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	for len(f.queue) > 0 {
		u := f.queue[0]
		f.queue = f.queue[1:]
		delete(f.queued, u)
		if at, ok := f.failed[u.Domain()]; ok && now.Sub(at) < serverBackoff {
			continue
		}
		return u, true
	}
	f.queue = nil // let the array go
	return "", false
}

// run fetches the queued users' profiles, one at a time, until Stop.
func (f *profileFetcher) run() {
	defer close(f.done)
	ctx := f.ctx
	for {
		u, ok := f.next()
		if !ok {
			select {
			case <-f.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		f.fetch(ctx, u)
		if ctx.Err() != nil {
			return
		}
	}
}

// maxFailedServers bounds the servers remembered as failed.
const maxFailedServers = 1000

// failedLocked records that server failed to answer now, forgetting the
// failures older than serverBackoff when too many are remembered. The
// caller holds f.mu.
func (f *profileFetcher) failedLocked(server id.ServerName) {
	now := f.now()
	if len(f.failed) >= maxFailedServers {
		for s, at := range f.failed {
			if now.Sub(at) >= serverBackoff {
				delete(f.failed, s)
			}
		}
	}
	if len(f.failed) < maxFailedServers {
		f.failed[server] = now
	}
}

// fetch asks u's server for u's profile and indexes u under its name.
// A failure leaves u's entry as it is.
func (f *profileFetcher) fetch(ctx context.Context, u id.UserID) {
	qctx, cancel := context.WithTimeout(ctx, profileTimeout)
	p, err := f.remote.QueryProfile(qctx, u)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return // stopping
		}
		// A server that answered that it knows no such user is up.
		if !errors.Is(err, fedjoin.ErrProfileNotFound) {
			f.mu.Lock()
			f.failedLocked(u.Domain())
			f.mu.Unlock()
		}
		f.log.Debug("user directory: remote profile not fetched", "user", u, "err", err)
		return
	}
	f.mu.Lock()
	delete(f.failed, u.Domain())
	f.mu.Unlock()
	entry := newEntry(u, p[profile.DisplayName], p[profile.AvatarURL])
	err = f.db.Write(ctx, func(tx *store.Tx) error {
		return tx.UpsertDirectoryUsers(ctx, []store.DirectoryUser{entry})
	})
	if err != nil && ctx.Err() == nil {
		f.log.Warn("user directory: store remote profile", "user", u, "err", err)
	}
}

// Start runs the fetcher on a goroutine of its own, once.
func (f *profileFetcher) Start() {
	f.start.Do(func() { go f.run() })
}

// Stop stops the fetcher and waits for it; it may be called more than
// once, and without Start.
func (f *profileFetcher) Stop() {
	f.cancel()
	f.start.Do(func() { close(f.done) }) // never started: nothing to wait for
	<-f.done
}
