package clientsync

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// Store is what sync reads from the database. History visibility is
// decided by room.FilterVisible, the same as for the room endpoints.
type Store interface {
	room.VisibilityStore
	UserMembershipsSince(ctx context.Context, userID id.UserID, pos int64) ([]store.Member, error)
	RoomEventsRange(ctx context.Context, roomID id.RoomID, from, to int64, dir store.Direction, limit int) ([]store.Event, error)
	StateGroupBeforeEvent(ctx context.Context, nid int64) (int64, error)
	StateAtGroup(ctx context.Context, groupID int64) (map[store.StateKey]int64, error)
	Event(ctx context.Context, eventID id.EventID) (store.Event, error)
	Filter(ctx context.Context, userID id.UserID, filterID int64) ([]byte, error)
	ForgottenRooms(ctx context.Context, userID id.UserID) ([]id.RoomID, error)
}

// RoomReader is what sync needs from the event path.
type RoomReader interface {
	Version(ctx context.Context, roomID id.RoomID) (string, error)
	CurrentState(ctx context.Context, roomID id.RoomID) ([]*event.PDU, error)
}

var _ room.Listener = (*Service)(nil)

// Service answers /sync requests. It is safe for concurrent use.
type Service struct {
	db       Store
	rooms    RoomReader
	log      *slog.Logger
	now      func() time.Time
	notifier *Notifier
	timeline *Timeline
	unread   *unreadCounts

	mu sync.Mutex
	// members caches the memberships of users who have synced, by user
	// and room; EventsPersisted keeps it current.
	members map[id.UserID]map[id.RoomID]string
}

// Config holds a Service's dependencies.
type Config struct {
	DB     Store
	Rooms  RoomReader
	Logger *slog.Logger
	// StreamPos is the newest stream position when the server starts.
	StreamPos int64
	// RingSize is the number of recent events kept in memory; 0 means 8192.
	RingSize int
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// New returns a sync Service.
func New(cfg Config) *Service {
	size := cfg.RingSize
	if size <= 0 {
		size = 8192
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Service{
		db:       cfg.DB,
		rooms:    cfg.Rooms,
		log:      cfg.Logger,
		now:      now,
		notifier: NewNotifier(cfg.StreamPos),
		timeline: NewTimeline(size, cfg.StreamPos),
		unread:   newUnreadCounts(cfg.StreamPos),
		members:  map[id.UserID]map[id.RoomID]string{},
	}
}

// StopWaiting makes every long-polling sync, now and from now on, answer
// with what it has at once; call it at shutdown, before draining the HTTP
// servers.
func (s *Service) StopWaiting() { s.notifier.Stop() }

// Waiting returns how many syncs are long-polling right now.
func (s *Service) Waiting() int { return s.notifier.Waiting() }

// EventsPersisted implements room.Listener: it records committed events in
// the ring, the membership cache and the notification counts, then wakes
// waiting syncs.
func (s *Service) EventsPersisted(evs []room.Persisted) {
	s.unread.apply(evs)
	var top int64
	for _, p := range evs {
		s.timeline.Append(entry{pos: p.StreamPos, pdu: p.PDU, txnDevice: p.DeviceID, txnID: p.TxnID})
		if p.PDU.Type() == "m.room.member" {
			if sk, ok := p.PDU.StateKey(); ok {
				s.setMembership(id.UserID(sk), p.PDU.RoomID(), authrules.Membership(p.PDU.Content()))
			}
		}
		top = max(top, p.StreamPos)
	}
	s.notifier.Advance(top)
}

func (s *Service) setMembership(user id.UserID, roomID id.RoomID, membership string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.members[user]; ok {
		m[roomID] = membership
	}
}

// memberships returns a copy of the user's memberships, loading them on
// first use.
func (s *Service) memberships(ctx context.Context, user id.UserID) (map[id.RoomID]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.members[user]
	if !ok {
		// Loading under the lock keeps EventsPersisted from applying a
		// change that the query has not seen yet and then losing it.
		ms, err := s.db.UserMembershipsSince(ctx, user, 0)
		if err != nil {
			return nil, fmt.Errorf("load memberships of %s: %w", user, err)
		}
		m = make(map[id.RoomID]string, len(ms))
		for _, mm := range ms {
			m[mm.RoomID] = mm.Membership
		}
		s.members[user] = m
	}
	out := make(map[id.RoomID]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out, nil
}

// Position returns the newest stream position sync knows about.
func (s *Service) Position() int64 { return s.notifier.Position() }
