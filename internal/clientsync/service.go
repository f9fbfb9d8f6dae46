package clientsync

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/push"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/stream"
)

// Store is what sync reads from the database. History visibility is
// decided by room.FilterVisible, the same as for the room endpoints.
type Store interface {
	room.VisibilityStore
	stream.Reader
	UserMembershipsSince(ctx context.Context, userID id.UserID, pos int64) ([]store.Member, error)
	RoomsWithEventsInRange(ctx context.Context, userID id.UserID, after, upto int64) ([]id.RoomID, error)
	MemberEventsInRange(ctx context.Context, roomID id.RoomID, userID id.UserID, after, upto int64) ([]store.Event, error)
	RoomEventsRange(ctx context.Context, roomID id.RoomID, from, to int64, dir store.Direction, limit int) ([]store.Event, error)
	StateGroupBeforeEvent(ctx context.Context, nid int64) (int64, error)
	StateAtGroup(ctx context.Context, groupID int64) (map[store.StateKey]int64, error)
	Event(ctx context.Context, eventID id.EventID) (store.Event, error)
	Filter(ctx context.Context, userID id.UserID, filterID int64) ([]byte, error)
	AccountDataSince(ctx context.Context, userID id.UserID, since int64) ([]store.AccountData, error)
	AccountDataOf(ctx context.Context, userID id.UserID, roomID id.RoomID, typ string) ([]byte, error)
	RoomReceipts(ctx context.Context, roomID id.RoomID) ([]store.Receipt, error)
	ReceiptsSince(ctx context.Context, since int64, limit int) ([]store.Receipt, error)
	UserReceipts(ctx context.Context, roomID id.RoomID, userID id.UserID) ([]store.Receipt, error)
	ForgottenRooms(ctx context.Context, userID id.UserID) ([]id.RoomID, error)
	RemoteInvite(ctx context.Context, roomID id.RoomID, user id.UserID) (store.RemoteInvite, error)
	RemoteInviteRoomVersion(ctx context.Context, roomID id.RoomID) (string, error)
	EventsByID(ctx context.Context, ids []id.EventID) ([]store.Event, error)
	ReplacedStateEvents(ctx context.Context, events []store.Event, known map[int64]int64) (map[int64]store.Event, error)
}

// RoomReader is what sync needs from the event path.
type RoomReader interface {
	Version(ctx context.Context, roomID id.RoomID) (string, error)
	CurrentState(ctx context.Context, roomID id.RoomID) ([]*event.PDU, error)
}

// Service answers /sync requests. It is safe for concurrent use.
type Service struct {
	db       Store
	rooms    RoomReader
	log      *slog.Logger
	now      func() time.Time
	notifier *Notifier
	timeline *Timeline
	unread   *unreadCounts
	// stream is the published event stream; consumer applies it to the
	// ring, the membership cache and the unread counts on its own
	// goroutine.
	stream   *stream.Stream
	consumer *stream.Consumer
	// accountData is sync's memory of the account data stream.
	accountData accountDataStream
	// receipts is sync's memory of the receipt stream.
	receipts receiptLog
	// typing holds who is typing where.
	typing typingState
	// presence holds users' presence; presenceCfg says whether it is on
	// and its timeouts.
	presence    presenceState
	presenceCfg PresenceConfig
	// receiptDelay is Config.ReceiptDelay, receiptInterval
	// Config.ReceiptInterval.
	receiptDelay    time.Duration
	receiptInterval time.Duration
	// pacing spaces each device's answers when many devices sync;
	// pauseFor waits out such a space (a test replaces it).
	pacing   *answerPacing
	pauseFor func(ctx context.Context, d time.Duration)

	mu sync.Mutex
	// members caches the memberships of users who have synced, by user
	// and room; apply keeps it current.
	members map[id.UserID]map[id.RoomID]string
	// loading holds, for each user whose memberships are being read from
	// the store, the changes apply saw meanwhile.
	loading map[id.UserID]*memberLoad

	// e2ee serves the end-to-end encryption sections (e2ee.go).
	e2ee e2eeState
	// aggregator, when set, adds bundled aggregations to limited
	// timelines (relations.go).
	aggregator Aggregator
	// ignore holds the users each user ignores (ignored.go).
	ignore ignoreLists
}

// memberLoad is a load of one user's memberships in progress.
type memberLoad struct {
	changes []store.Member
	done    chan struct{}
}

// Config holds a Service's dependencies.
type Config struct {
	DB     Store
	Rooms  RoomReader
	Logger *slog.Logger
	// Stream is the event stream the event path publishes to.
	Stream *stream.Stream
	// StreamPos is the newest stream position when the server starts:
	// the ring is complete after it, and sync consumes the stream from
	// there.
	StreamPos int64
	// AccountDataPos is the newest position of the account data stream
	// when the server starts.
	AccountDataPos int64
	// ReceiptPos is the newest position of the receipt stream when the
	// server starts.
	ReceiptPos int64
	// RingSize is the most recent events kept in memory; 0 means 8192.
	RingSize int
	// RingBytes bounds the memory those events keep (their JSON and
	// parsed fields, estimated); 0 means DefaultRingBytes.
	RingBytes int
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// Presence configures presence; the zero value keeps none.
	Presence PresenceConfig
	// PushEvaluations, when set, receives the push-rule evaluations of
	// the unread counters, which the push notifier then reuses.
	PushEvaluations *push.Evaluations
	// ReceiptDelay is how long a long-polling sync whose only news are
	// read receipts waits for something more before it answers; 0 means
	// DefaultReceiptDelay.
	ReceiptDelay time.Duration
	// ReceiptInterval is how often, at most, syncs are shown the read
	// receipts committed since they were last shown some: a receipt after
	// a quiet spell is shown at once, the ones that follow it within the
	// interval together at its end. 0 means DefaultReceiptInterval; a
	// negative interval shows every receipt at once.
	ReceiptInterval time.Duration
	// AnswerBudget is the sync answers per second, across all devices,
	// that pacing aims to stay under: with N devices syncing, a long poll
	// that comes back less than N/AnswerBudget seconds (at most
	// MaxAnswerInterval) after its device's last answer waits out the
	// rest before it answers; each read receipt the device posted since
	// adds one such interval (ReceiptPosted). 0 means
	// DefaultAnswerBudget; a negative budget never paces.
	AnswerBudget int
	// Pause waits out a device's pace, or until ctx is done; nil waits on
	// a timer. Tests pass their own to see the pauses without waiting.
	Pause func(ctx context.Context, d time.Duration)
}

// DefaultRingBytes is the default Config.RingBytes: about 2,000 short
// messages, which long-polling clients are never behind by; a client
// further behind is served from the database. hafen serve sizes the ring
// from its memory limit instead, when there is one.
const DefaultRingBytes = 2 << 20

// DefaultReceiptDelay is the default Config.ReceiptDelay: short enough
// for a reader to see receipts as they come, long enough for a busy room's
// receipts to travel together and with its next message.
const DefaultReceiptDelay = 100 * time.Millisecond

// DefaultReceiptInterval is the default Config.ReceiptInterval. Readers
// do not notice a receipt that moves a quarter of a second late; in a
// busy room, where each member posts a receipt per message, most of a
// member's receipts are replaced by the next within the interval and
// never sent to the other members.
const DefaultReceiptInterval = 250 * time.Millisecond

// New returns a sync Service.
func New(cfg Config) *Service {
	size := cfg.RingSize
	if size <= 0 {
		size = 8192
	}
	ringBytes := cfg.RingBytes
	if ringBytes <= 0 {
		ringBytes = DefaultRingBytes
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		db:       cfg.DB,
		rooms:    cfg.Rooms,
		log:      cfg.Logger,
		now:      now,
		notifier: NewNotifier(cfg.StreamPos),
		timeline: NewTimeline(size, ringBytes, cfg.StreamPos),
		unread:   newUnreadCounts(cfg.StreamPos, cfg.PushEvaluations, now),
		stream:   cfg.Stream,
		members:  map[id.UserID]map[id.RoomID]string{},
		loading:  map[id.UserID]*memberLoad{},
	}
	s.receipts = receiptLog{start: cfg.ReceiptPos, pos: cfg.ReceiptPos, shown: cfg.ReceiptPos}
	s.typing.rooms = map[id.RoomID]*typingRoom{}
	s.presence.users = map[id.UserID]*presenceEntry{}
	s.presenceCfg = cfg.Presence
	s.receiptDelay = cfg.ReceiptDelay
	if s.receiptDelay <= 0 {
		s.receiptDelay = DefaultReceiptDelay
	}
	s.receiptInterval = cfg.ReceiptInterval
	if s.receiptInterval == 0 {
		s.receiptInterval = DefaultReceiptInterval
	}
	budget := cfg.AnswerBudget
	if budget == 0 {
		budget = DefaultAnswerBudget
	}
	s.pacing = newAnswerPacing(budget)
	s.pauseFor = pause
	if cfg.Pause != nil {
		s.pauseFor = cfg.Pause
	}
	if s.presenceCfg.IdleTimeout <= 0 {
		s.presenceCfg.IdleTimeout = DefaultIdleTimeout
	}
	if s.presenceCfg.OfflineTimeout <= 0 {
		s.presenceCfg.OfflineTimeout = DefaultOfflineTimeout
	}
	s.accountData = accountDataStream{start: cfg.AccountDataPos, pos: cfg.AccountDataPos, users: map[id.UserID]int64{}}
	// Sync is not durable: it starts from the database's state at
	// StreamPos on every start, so it consumes from there.
	s.consumer = stream.NewConsumer(stream.ConsumerConfig{Name: "sync", Stream: cfg.Stream, DB: cfg.DB,
		Handle: s.apply, From: cfg.StreamPos, Logger: cfg.Logger})
	return s
}

// RecentEvent returns eventID and its stream position if it is one of the
// newest events, from memory; ok is false otherwise (the caller then reads
// the store).
func (s *Service) RecentEvent(eventID id.EventID) (pdu *event.PDU, pos int64, ok bool) {
	return s.timeline.Place(eventID)
}

// StopWaiting makes every long-polling sync, now and from now on, answer
// with what it has at once; call it at shutdown, before draining the HTTP
// servers.
func (s *Service) StopWaiting() { s.notifier.Stop() }

// Waiting returns how many syncs are long-polling right now.
func (s *Service) Waiting() int { return s.notifier.Waiting() }

// Start starts the goroutine that applies the event stream to sync's
// memory. Stop stops it.
func (s *Service) Start(ctx context.Context) error { return s.consumer.Start(ctx) }

// Stop stops the stream consumer and waits for it.
func (s *Service) Stop() {
	s.consumer.Stop()
	s.stopPresence()
}

// apply records committed events in the ring, the membership cache and the
// notification counts, then wakes waiting syncs. It runs on sync's stream
// consumer, one batch at a time in stream order.
func (s *Service) apply(ctx context.Context, evs []stream.Event) error {
	s.unread.apply(evs)
	replaced, known := s.replacedInBatch(ctx, evs)
	var top int64
	var active []id.UserID // local users whose devices sent events
	for _, p := range evs {
		eventID := p.PDU.EventID()
		s.timeline.Append(entry{pos: p.StreamPos, pdu: p.PDU, txnDevice: p.DeviceID, txnID: p.TxnID,
			replaced: replaced[eventID], replacedKnown: known[eventID], gapBelow: p.GapBelow})
		if p.DeviceID != "" && !slices.Contains(active, p.PDU.Sender()) {
			active = append(active, p.PDU.Sender())
		}
		if p.PDU.Type() == "m.room.member" {
			if sk, ok := p.PDU.StateKey(); ok {
				m := authrules.Membership(p.PDU.Content())
				s.setMembership(store.Member{UserID: id.UserID(sk), RoomID: p.PDU.RoomID(), Membership: m, StreamPos: p.StreamPos})
				if m != "join" {
					s.endTyping(p.PDU.RoomID(), id.UserID(sk))
				}
			}
		}
		top = max(top, p.StreamPos)
	}
	s.notifier.Advance(top)
	s.presenceActive(active)
	return nil
}

func (s *Service) setMembership(m store.Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ms, ok := s.members[m.UserID]; ok {
		ms[m.RoomID] = m.Membership
	} else if l := s.loading[m.UserID]; l != nil {
		l.changes = append(l.changes, m)
	}
}

// caughtUp waits until sync has applied every event published before the
// call, so a client that syncs right after its own send sees it.
func (s *Service) caughtUp(ctx context.Context) error {
	return s.consumer.WaitFor(ctx, s.stream.Position())
}

// memberships returns a copy of the user's memberships, loading them on
// first use. The load runs without s.mu: changes that apply sees
// meanwhile are kept aside and laid over the loaded rows, the newer by
// stream position winning, so none is lost.
func (s *Service) memberships(ctx context.Context, user id.UserID) (map[id.RoomID]string, error) {
	for {
		s.mu.Lock()
		if m, ok := s.members[user]; ok {
			out := make(map[id.RoomID]string, len(m))
			for k, v := range m {
				out[k] = v
			}
			s.mu.Unlock()
			return out, nil
		}
		if l := s.loading[user]; l != nil {
			// Another sync of the user is loading them.
			s.mu.Unlock()
			select {
			case <-l.done:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		l := &memberLoad{done: make(chan struct{})}
		s.loading[user] = l
		s.mu.Unlock()

		ms, err := s.db.UserMembershipsSince(ctx, user, 0)

		s.mu.Lock()
		delete(s.loading, user)
		close(l.done)
		if err != nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("load memberships of %s: %w", user, err)
		}
		m := make(map[id.RoomID]string, len(ms))
		at := make(map[id.RoomID]int64, len(ms))
		for _, mm := range ms {
			m[mm.RoomID], at[mm.RoomID] = mm.Membership, mm.StreamPos
		}
		for _, c := range l.changes {
			if c.StreamPos > at[c.RoomID] {
				m[c.RoomID], at[c.RoomID] = c.Membership, c.StreamPos
			}
		}
		s.members[user] = m
		s.mu.Unlock()
	}
}

// Position returns the newest stream position sync knows about.
func (s *Service) Position() int64 { return s.notifier.Position() }
