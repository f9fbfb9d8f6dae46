package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/accountdata"
	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pushrules"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/stream"
)

// ConsumerName is the name of the push consumer's stream position.
const ConsumerName = store.NotificationsConsumer

// pushRulesType is the account data type of a user's push rules.
const pushRulesType = "m.push_rules"

// maxCachedRules bounds the compiled rule sets kept; beyond it the cache
// starts afresh.
const maxCachedRules = 10000

// rulesIdle is how long a user's compiled rules stay unused before they
// are dropped (the next event for the user reads them again), so that
// the cache holds the users of the rooms active now, not everyone who
// was ever notified.
const rulesIdle = time.Minute

// rulesSweep is how often idle rules are looked for: unused rules stay at
// most rulesIdle plus rulesSweep.
const rulesSweep = rulesIdle / 4

// Rooms reads rooms' current state (*room.Service).
type Rooms interface {
	CurrentStateEvent(ctx context.Context, roomID id.RoomID, typ, stateKey string) (*event.PDU, error)
}

// NotifierConfig holds a Notifier's dependencies.
type NotifierConfig struct {
	DB         *store.DB
	Stream     *stream.Stream
	Rooms      Rooms
	ServerName id.ServerName
	// From is where a notifier without a stored position starts (the
	// stream position at startup: history does not notify).
	From   int64
	Logger *slog.Logger
	// Evaluations, when set, holds push-rule evaluations sync's unread
	// counters made already; the notifier uses them instead of evaluating
	// the same rules again.
	Evaluations *Evaluations
	// KeepNotifications, NotificationsMaxAge and PruneEvery bound the
	// stored notifications (see pruning); zero takes the defaults.
	KeepNotifications   int
	NotificationsMaxAge time.Duration
	PruneEvery          time.Duration
}

// Notifier is the durable stream consumer that finds notifications: for
// each event, every local user joined to its room but its sender is
// evaluated against their push rules, and the events that notify are
// stored with the rule's actions, in the transaction that advances the
// consumer's position. Start runs it; Stop stops it.
type Notifier struct {
	cfg      NotifierConfig
	consumer *stream.Consumer

	// mu guards rules, the compiled push rules of users, dropped when
	// their m.push_rules change (AccountDataChanged).
	mu    sync.Mutex
	rules map[id.UserID]*cachedRules
	// changes counts AccountDataChanged calls, so that rules read before
	// a change are not cached after it.
	changes uint64
	// swept is when rules were last swept of idle users; only the
	// consumer's goroutine (stage) uses it.
	swept time.Time

	// pruned holds when each user's notifications were last pruned; only
	// the consumer's goroutine (stage) uses it.
	pruned map[id.UserID]time.Time
}

// Notifications are pruned as the notifier adds to them (pruning): a
// user's rows beyond the newest keepNotifications, and those of events
// older than notificationsMaxAge, go at most once per pruneEvery per user,
// in the transaction that adds the user's new ones. A user with no new
// notifications keeps what they have, which no longer grows.
const (
	keepNotifications   = 1000
	notificationsMaxAge = 30 * 24 * time.Hour
	pruneEvery          = time.Hour
)

// NewNotifier returns the push consumer; it does nothing until Start.
func NewNotifier(cfg NotifierConfig) *Notifier {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.KeepNotifications <= 0 {
		cfg.KeepNotifications = keepNotifications
	}
	if cfg.NotificationsMaxAge <= 0 {
		cfg.NotificationsMaxAge = notificationsMaxAge
	}
	if cfg.PruneEvery <= 0 {
		cfg.PruneEvery = pruneEvery
	}
	n := &Notifier{cfg: cfg, rules: map[id.UserID]*cachedRules{}, pruned: map[id.UserID]time.Time{}}
	n.consumer = stream.NewConsumer(stream.ConsumerConfig{
		Name: ConsumerName, Stream: cfg.Stream, DB: cfg.DB, Positions: cfg.DB.Derived(),
		Stage: n.stage, From: cfg.From, Logger: cfg.Logger, Linger: notifyLinger,
	})
	return n
}

// notifyLinger is how long the notifier lets events gather before it
// writes their notifications: a busy room's messages then cost one write
// transaction (and one fsync) per tenth of a second instead of one per
// batch of sends, on the writer the sends themselves wait for. Unread
// counts in sync do not wait for it; only /notifications lags by as much.
const notifyLinger = 100 * time.Millisecond

// Start starts the consumer.
func (n *Notifier) Start(ctx context.Context) error { return n.consumer.Start(ctx) }

// Stop stops it and waits.
func (n *Notifier) Stop() { n.consumer.Stop() }

// WaitFor waits until the notifier has handled the stream up to pos.
// It ends the notifier's linger first.
func (n *Notifier) WaitFor(ctx context.Context, pos int64) error {
	n.consumer.Flush()
	return n.consumer.WaitFor(ctx, pos)
}

// AccountDataChanged drops a user's compiled rules when their push rules
// or the users they ignore change; accountdata.Service calls it after the
// commit.
func (n *Notifier) AccountDataChanged(user id.UserID, roomID id.RoomID, typ string, _ json.RawMessage, _ int64) {
	if roomID != "" || typ != pushRulesType && typ != accountdata.IgnoredUserListType {
		return
	}
	n.mu.Lock()
	delete(n.rules, user)
	n.changes++
	n.mu.Unlock()
}

// cachedRules is a user's compiled push rules, the users they ignore
// (whose events never notify them), and when a batch last used them.
type cachedRules struct {
	ev      *pushrules.Evaluator
	ignored map[id.UserID]bool
	used    time.Time
}

// rulesOf returns the user's compiled push rules and the users they
// ignore, loading them once; now is the batch's time.
func (n *Notifier) rulesOf(ctx context.Context, user id.UserID, now time.Time) (*cachedRules, error) {
	n.mu.Lock()
	c, changes := n.rules[user], n.changes
	if c != nil {
		c.used = now
	}
	n.mu.Unlock()
	if c != nil {
		return c, nil
	}
	raw, err := n.cfg.DB.AccountDataOf(ctx, user, "", pushRulesType)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("load push rules of %s: %w", user, err)
	}
	ignored, err := n.cfg.DB.AccountDataOf(ctx, user, "", accountdata.IgnoredUserListType)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("load ignored users of %s: %w", user, err)
	}
	c = &cachedRules{ev: pushrules.CompileFor(raw, string(user)), ignored: accountdata.ParseIgnored(ignored), used: now}
	n.mu.Lock()
	if len(n.rules) >= maxCachedRules {
		n.rules = map[id.UserID]*cachedRules{}
	}
	// Rules read before a change are used for this batch but not kept:
	// the next batch reads them again.
	if n.changes == changes {
		n.rules[user] = c
	}
	n.mu.Unlock()
	return c, nil
}

// sweepRules drops the rules no batch used within rulesIdle, and the
// prune times of users not pruned within pruneEvery (which would prune
// again anyway), at most once per rulesSweep.
func (n *Notifier) sweepRules(now time.Time) {
	if now.Sub(n.swept) < rulesSweep {
		return
	}
	n.swept = now
	n.mu.Lock()
	for user, c := range n.rules {
		if now.Sub(c.used) >= rulesIdle {
			delete(n.rules, user)
		}
	}
	n.mu.Unlock()
	for user, t := range n.pruned {
		if now.Sub(t) >= n.cfg.PruneEvery {
			delete(n.pruned, user)
		}
	}
}

// roomFacts are what the rules may ask about a room, read once per batch.
type roomFacts struct {
	members     []id.UserID // local users joined
	joined      int         // all joined members
	create, pls *event.PDU
	// names are the display names of members read so far in the batch.
	names map[id.UserID]string
}

// stage evaluates a batch of events for the local members of their rooms.
func (n *Notifier) stage(ctx context.Context, evs []stream.Event) (func(tx *store.Tx) error, func(), error) {
	now := time.Now()
	n.sweepRules(now)
	// The facts of every room first: with them the notifications are
	// counted and their slice allocated once (a busy room's batch holds
	// one per member for each of its events).
	rooms := map[id.RoomID]*roomFacts{}
	most := 0
	for _, se := range evs {
		roomID := se.PDU.RoomID()
		f := rooms[roomID]
		if f == nil {
			var err error
			if f, err = n.facts(ctx, roomID); err != nil {
				return nil, nil, err
			}
			rooms[roomID] = f
		}
		most += len(f.members) + 1
	}
	out := make([]store.Notification, 0, most)
	for _, se := range evs {
		ev := se.PDU
		roomID := ev.RoomID()
		f := rooms[roomID]
		shared := newSharedEvaluations(n.cfg.Evaluations.Take(se.StreamPos))
		// Membership changes within the batch move the counts; the
		// members read at the start of the batch are close enough.
		users := f.members
		// A local user invited to the room is not a member yet, but the
		// invite is for them (.m.rule.invite_for_me).
		if invitee, ok := n.localInvitee(ev); ok && !slices.Contains(users, invitee) {
			users = append(slices.Clip(users), invitee)
		}
		if len(users) == 0 {
			continue
		}
		var pe *pushrules.Event
		mayNotify := map[string]bool{}
		for _, user := range users {
			if user == ev.Sender() {
				continue
			}
			res, ok := shared.of(user)
			if !ok {
				if pe == nil {
					var sk *string
					if k, ok := ev.StateKey(); ok {
						sk = &k
					}
					pe = pushrules.NewEvent(ev.Type(), string(ev.Sender()), string(roomID), sk, ev.Content(), string(ev.EventID()), ev.JSON())
				}
				rules, err := n.rulesOf(ctx, user, now)
				if err != nil {
					return nil, nil, err
				}
				if rules.ignored[ev.Sender()] {
					continue // an ignored user's events never notify
				}
				name, err := n.displayName(ctx, f, roomID, user)
				if err != nil {
					return nil, nil, err
				}
				r := rules.ev.Evaluate(pe, &pushrules.Context{
					UserID: string(user), DisplayName: name,
					MemberCount: func() int { return f.joined },
					SenderMayNotify: func(key string) bool {
						v, ok := mayNotify[key]
						if !ok {
							v = SenderMayNotify(ev, f.create, f.pls, key)
							mayNotify[key] = v
						}
						return v
					},
				})
				res = Evaluation{User: user, Notify: r.Notify, Highlight: r.Highlight, Actions: r.Actions}
			}
			if !res.Notify {
				continue
			}
			out = append(out, store.Notification{
				UserID: user, StreamPos: se.StreamPos, RoomID: roomID, EventID: ev.EventID(),
				Actions: actionsJSON(res.Actions), Highlight: res.Highlight, TS: ev.OriginServerTS(),
			})
		}
	}
	if len(out) == 0 {
		return nil, nil, nil
	}
	prune := n.duePrunes(out, now)
	cutoff := now.Add(-n.cfg.NotificationsMaxAge).UnixMilli()
	return func(tx *store.Tx) error {
		if err := tx.AddNotifications(ctx, out); err != nil {
			return err
		}
		for _, user := range prune {
			if _, err := tx.PruneNotifications(ctx, user, n.cfg.KeepNotifications, cutoff); err != nil {
				return err
			}
		}
		return nil
	}, nil, nil
}

// localInvitee returns the user of this server an event invites, if it is
// an invite.
func (n *Notifier) localInvitee(ev *event.PDU) (id.UserID, bool) {
	sk, ok := ev.StateKey()
	if !ok || ev.Type() != "m.room.member" || authrules.Membership(ev.Content()) != "invite" {
		return "", false
	}
	user, err := id.ParseUserID(sk)
	if err != nil || user.Domain() != n.cfg.ServerName {
		return "", false
	}
	return user, true
}

// duePrunes returns the users of ns whose notifications were not pruned
// within pruneEvery, and records them as pruned now.
func (n *Notifier) duePrunes(ns []store.Notification, now time.Time) []id.UserID {
	if len(n.pruned) >= maxCachedRules {
		n.pruned = map[id.UserID]time.Time{}
	}
	var due []id.UserID
	for _, x := range ns {
		if last, ok := n.pruned[x.UserID]; ok && now.Sub(last) < n.cfg.PruneEvery {
			continue
		}
		n.pruned[x.UserID] = now
		due = append(due, x.UserID)
	}
	return due
}

// sharedEvaluations finds a user's evaluation among those of one event:
// by a scan when there are few, through a map built on first use when
// there are many.
type sharedEvaluations struct {
	evs    []Evaluation
	byUser map[id.UserID]int
}

// sharedScanMax is the most evaluations sharedEvaluations scans.
const sharedScanMax = 16

func newSharedEvaluations(evs []Evaluation) *sharedEvaluations {
	return &sharedEvaluations{evs: evs}
}

func (s *sharedEvaluations) of(user id.UserID) (Evaluation, bool) {
	if len(s.evs) <= sharedScanMax {
		for _, e := range s.evs {
			if e.User == user {
				return e, true
			}
		}
		return Evaluation{}, false
	}
	if s.byUser == nil {
		s.byUser = make(map[id.UserID]int, len(s.evs))
		for i, e := range s.evs {
			s.byUser[e.User] = i
		}
	}
	i, ok := s.byUser[user]
	if !ok {
		return Evaluation{}, false
	}
	return s.evs[i], true
}

// actionsJSON encodes a rule's actions, each already JSON, as a JSON
// array.
func actionsJSON(actions []json.RawMessage) []byte {
	n := 2
	for _, a := range actions {
		n += len(a) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, a := range actions {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, a...)
	}
	return append(b, ']')
}

// facts reads a room's local members, joined count, create and power
// levels events.
func (n *Notifier) facts(ctx context.Context, roomID id.RoomID) (*roomFacts, error) {
	members, err := n.cfg.DB.LocalJoinedMembers(ctx, roomID, n.cfg.ServerName)
	if err != nil {
		return nil, err
	}
	f := &roomFacts{members: members}
	if len(members) == 0 {
		return f, nil
	}
	counts, err := n.cfg.DB.JoinedMemberCounts(ctx, []id.RoomID{roomID})
	if err != nil {
		return nil, err
	}
	f.joined = counts[roomID]
	if f.create, err = n.cfg.Rooms.CurrentStateEvent(ctx, roomID, "m.room.create", ""); err != nil {
		return nil, err
	}
	if f.pls, err = n.cfg.Rooms.CurrentStateEvent(ctx, roomID, "m.room.power_levels", ""); err != nil {
		return nil, err
	}
	return f, nil
}

// displayName returns the user's display name in the room, from their
// member event, read once per batch (like the room's other facts).
func (n *Notifier) displayName(ctx context.Context, f *roomFacts, roomID id.RoomID, user id.UserID) (string, error) {
	if name, ok := f.names[user]; ok {
		return name, nil
	}
	m, err := n.cfg.Rooms.CurrentStateEvent(ctx, roomID, "m.room.member", string(user))
	if err != nil {
		return "", err
	}
	var c struct {
		DisplayName string `json:"displayname"`
	}
	if m != nil {
		_ = json.Unmarshal(m.Content(), &c) // an unreadable name is no name
	}
	if f.names == nil {
		f.names = map[id.UserID]string{}
	}
	f.names[user] = c.DisplayName
	return c.DisplayName, nil
}

// SenderMayNotify reports whether ev's sender has the power level of
// notifications[key] in a room with the given create and power levels
// events (the sender_notification_permission condition).
func SenderMayNotify(ev, create, powerLevels *event.PDU, key string) bool {
	v := ev.Version()
	if create != nil {
		v = create.Version()
	}
	pl := authrules.NewPowerLevels(v, powerLevels, authrules.Creators(create))
	need, _ := pl.NotificationLevel(key)
	return pl.UserLevel(ev.Sender()) >= need
}
