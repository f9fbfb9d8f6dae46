package e2ee

import (
	"context"
	"fmt"
	"sync"

	"github.com/hafenchat/hafen/internal/background"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// maxResyncWorkers bounds the device list resyncs (/user/devices) that run
// at once; maxQueuedResyncs the users waiting for one. A user left out
// when the queue is full keeps a stale list, which /keys/query answers by
// asking the user's server, until the next update that cannot be applied
// queues the resync again.
const (
	maxResyncWorkers = 4
	maxQueuedResyncs = 1000
)

// resyncQueue runs device list resyncs in the background, off the path of
// the transaction whose update showed a gap, so that a slow or absent
// server never holds the processing of its later transactions. A user is
// queued at most once; an update that asks for a user whose resync is
// running makes it run once more afterwards.
type resyncQueue struct {
	// mu guards the fields below (LOCKS.md: a leaf).
	mu sync.Mutex
	// users holds each user queued or running; the value is set when
	// the user must be resynced again after the running resync.
	users   map[id.UserID]bool
	queue   []id.UserID
	workers int

	group background.Group
}

// scheduleResync queues a resync of user's device list, unless one is
// queued already, and starts a worker if fewer than maxResyncWorkers run.
// It reports whether the user is queued (false: the queue is full).
func (s *Service) scheduleResync(user id.UserID) bool {
	q := &s.resyncs
	q.mu.Lock()
	defer q.mu.Unlock()
	if again, ok := q.users[user]; ok {
		if !again {
			q.users[user] = true
		}
		return true
	}
	if len(q.users) >= maxQueuedResyncs {
		return false
	}
	if q.users == nil {
		q.users = map[id.UserID]bool{}
	}
	q.users[user] = false
	q.queue = append(q.queue, user)
	if q.workers < maxResyncWorkers {
		q.workers++
		q.group.Go(s.resyncWorker)
	}
	return true
}

// resyncWorker resyncs queued users until the queue is empty. Its context
// ends when the service closes.
func (s *Service) resyncWorker(ctx context.Context) {
	q := &s.resyncs
	for {
		q.mu.Lock()
		if len(q.queue) == 0 || ctx.Err() != nil {
			q.workers--
			q.mu.Unlock()
			return
		}
		user := q.queue[0]
		q.queue = q.queue[1:]
		// The flag now means "again after this run".
		q.users[user] = false
		q.mu.Unlock()

		if err := s.resync(ctx, user); err != nil && ctx.Err() == nil {
			s.logger().Warn("device list resync failed", "user_id", string(user), "err", err)
		}

		q.mu.Lock()
		if q.users[user] {
			q.users[user] = false
			q.queue = append(q.queue, user)
		} else {
			delete(q.users, user)
		}
		q.mu.Unlock()
	}
}

// Close stops the background resyncs and waits for them: a resync in
// flight is abandoned, and the lists it would have replaced stay stale.
func (s *Service) Close() {
	s.resyncs.group.Close()
}

// markListStale marks a remote user's cached device list as missing
// updates and records a device list change, in one transaction: until its
// resync completes, /keys/query asks the user's server, and local clients
// sharing a room with the user are told to query again.
func (s *Service) markListStale(ctx context.Context, user id.UserID) error {
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		if err := markStale(ctx, tx, user); err != nil {
			return err
		}
		if err := s.recordDeviceListChange(ctx, tx, user, ""); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark device list of %s stale: %w", user, err)
	}
	return nil
}
