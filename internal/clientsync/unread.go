package clientsync

// Spec: Client-Server API § Receiving notifications, § Predefined Rules
// https://spec.matrix.org/v1.19/client-server-api/#receiving-notifications
// https://spec.matrix.org/v1.19/client-server-api/#predefined-rules

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pushrules"
	"github.com/hafenchat/hafen/internal/push"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/stream"
)

// unreadScanLimit bounds the events read from the store to set up one
// user's counts in one room; higher counts are capped there.
const unreadScanLimit = 500

// unreadCounter is one user's notification counts in one room.
type unreadCounter struct {
	notify, highlight int
	// changed is the stream position of the last change of the counts.
	changed int64
	// loading is closed once the counts are set up from the store; nil
	// after that.
	loading chan struct{}
	// reset records, while loading, that the user sent an event: what the
	// store query counts is then already read.
	reset bool
	// displayName is the user's display name in the room; nameSet means it
	// came from a member event the stream consumer applied.
	displayName string
	nameSet     bool
	// pendingRead is the event of a read receipt that was neither the
	// room's newest event nor a recent one apply saw: either apply has
	// not seen it yet (the receipt's commit raced ahead of sync's stream
	// consumer), and the counts drop to zero once it does, or it is older
	// than what apply saw, and the counts are set up again from the store
	// (see unreadFor). pendingPos is its stream position once unreadFor
	// has looked it up, 0 before.
	pendingRead id.EventID
	pendingPos  int64
	// pendingMain tells that pendingRead is a main timeline receipt,
	// which leaves the threads' counts.
	pendingMain bool
	// threads holds, of notify and highlight, the part from events in
	// threads, by thread root; the rest is the main timeline's.
	threads map[id.EventID]*threadCount
	// counted holds the notifying events apply counted since the counts
	// were set up or cleared, oldest first, at most recentEvents; the
	// counts of events not in it are all of events at or before stream
	// position uncountedUpTo. A read receipt for a recent event recounts
	// from it (recount) instead of from the store.
	counted       []countedEvent
	uncountedUpTo int64
}

// threadCount is one user's notification counts in one thread.
type threadCount struct{ notify, highlight int }

// addThread counts a notifying event of the thread root.
func (c *unreadCounter) addThread(root id.EventID, highlight bool) {
	if c.threads == nil {
		c.threads = map[id.EventID]*threadCount{}
	}
	tc := c.threads[root]
	if tc == nil {
		tc = &threadCount{}
		c.threads[root] = tc
	}
	tc.notify++
	if highlight {
		tc.highlight++
	}
}

// clear sets every count to zero.
func (c *unreadCounter) clear() {
	c.notify, c.highlight, c.threads = 0, 0, nil
	c.counted, c.uncountedUpTo = nil, 0
}

// readMain sets the main timeline's counts to zero (all counts unless
// mainOnly) and reports whether they changed.
func (c *unreadCounter) readMain(mainOnly bool) bool {
	oldNotify, oldHighlight := c.notify, c.highlight
	if !mainOnly {
		c.clear()
		return oldNotify != 0 || oldHighlight != 0
	}
	c.notify, c.highlight = 0, 0
	c.keepCounted(func(e countedEvent) bool { return e.root != "" })
	for _, tc := range c.threads {
		c.notify += tc.notify
		c.highlight += tc.highlight
	}
	return c.notify != oldNotify || c.highlight != oldHighlight
}

// unreadRoom holds the counters of one room's users and the room state
// their rules need.
type unreadRoom struct {
	users  map[id.UserID]*unreadCounter
	create *event.PDU
	// powerLevels is the room's current m.room.power_levels event;
	// plSet means the stream consumer has set it.
	powerLevels *event.PDU
	plSet       bool
	// members holds the room's memberships by user, for
	// room_member_count: apply records every member event, and the first
	// counter set up from the store adds the current state's (those apply
	// has not recorded) and sets membersLoaded.
	members       map[string]string
	membersLoaded bool
	// last is the newest event apply has seen in the room, recent the
	// newest recentEvents (a ring).
	last   id.EventID
	recent [recentEvents]id.EventID
	// recentPos holds the stream position of each event of recent.
	recentPos [recentEvents]int64
	next      int
	// threadLast is the newest event apply has seen in each thread, by
	// thread root.
	threadLast map[id.EventID]id.EventID
	// inThread maps the events of recent that are in a thread to its
	// root, so that an event related to one of them by another relation
	// is counted in that thread too (see threadOf).
	inThread map[id.EventID]id.EventID
}

// recentEvents is how many of a room's newest events readUpTo recognises.
const recentEvents = 64

func (r *unreadRoom) isRecent(ev id.EventID) bool {
	for _, e := range r.recent {
		if e == ev {
			return true
		}
	}
	return false
}

func newUnreadRoom() *unreadRoom {
	return &unreadRoom{users: map[id.UserID]*unreadCounter{}, members: map[string]string{}}
}

// joinedCount counts the room's joined members.
func (r *unreadRoom) joinedCount() int {
	n := 0
	for _, m := range r.members {
		if m == "join" {
			n++
		}
	}
	return n
}

// unreadCounts keeps the notification counts of the users who sync, per
// room, in memory: the stream consumer updates them from each new event, so
// incremental syncs never count from the database. A (user, room) pair is
// set up from the store the first time sync needs it.
type unreadCounts struct {
	mu sync.Mutex
	// pos is the newest stream position applied to the counters.
	pos   int64
	rooms map[id.RoomID]*unreadRoom
	// rules holds the compiled push rules of the users who have synced,
	// replaced whenever their m.push_rules change; ignored the users each
	// of them ignores, whose events never count.
	rules   map[id.UserID]*userRules
	ignored map[id.UserID]map[id.UserID]bool
	// shared receives the push-rule evaluations apply makes, for the push
	// notifier; nil keeps them to sync.
	shared *push.Evaluations
	// seen holds when each user last asked for counts (unreadFor); the
	// counters and rules of users who have not within unreadIdle are
	// dropped (sweepIdle, at most once per unreadSweep, last at swept).
	seen map[id.UserID]time.Time
	// now is the sync service's clock, for seen and the sweeps.
	now   func() time.Time
	swept time.Time
}

// unreadIdle is how long the counters and push rules of a user who does
// not sync stay in memory. A connected client syncs at least every long
// poll's timeout; one that comes back later has its counts set up from
// the store again, as after a restart. The counters then hold the users
// syncing now, not everyone who ever synced.
const unreadIdle = time.Minute

// unreadSweep is how often idle users are looked for: an idle user's
// counters stay at most unreadIdle plus unreadSweep.
const unreadSweep = unreadIdle / 4

// sweepIdle drops the counters and rules of the users who have not asked
// for counts within unreadIdle, and the rooms left without counters; it
// runs at most once per unreadSweep. Call with u.mu held.
func (u *unreadCounts) sweepIdle(now time.Time) {
	if now.Sub(u.swept) < unreadSweep {
		return
	}
	u.swept = now
	for user, t := range u.seen {
		if now.Sub(t) >= unreadIdle {
			delete(u.seen, user)
		}
	}
	for roomID, r := range u.rooms {
		for user, c := range r.users {
			if _, ok := u.seen[user]; !ok && c.loading == nil {
				delete(r.users, user)
			}
		}
		if len(r.users) == 0 {
			delete(u.rooms, roomID)
		}
	}
	for user := range u.rules {
		if _, ok := u.seen[user]; !ok {
			delete(u.rules, user)
		}
	}
	for user := range u.ignored {
		if _, ok := u.seen[user]; !ok {
			delete(u.ignored, user)
		}
	}
}

func newUnreadCounts(pos int64, shared *push.Evaluations, now func() time.Time) *unreadCounts {
	return &unreadCounts{pos: pos, rooms: map[id.RoomID]*unreadRoom{}, rules: map[id.UserID]*userRules{},
		ignored: map[id.UserID]map[id.UserID]bool{}, shared: shared, seen: map[id.UserID]time.Time{}, now: now}
}

// evaluated is the push-rule evaluations of one event by apply.
type evaluated struct {
	pos int64
	evs []push.Evaluation
}

// apply updates the counters of the rooms in a committed batch, and hands
// the push-rule evaluations it made to the notifier (shared).
func (u *unreadCounts) apply(evs []stream.Event) {
	done := u.applyLocked(evs)
	for _, e := range done {
		u.shared.Record(e.pos, e.evs)
	}
}

// applyLocked is apply under u.mu; it returns the evaluations to share.
func (u *unreadCounts) applyLocked(evs []stream.Event) []evaluated {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.sweepIdle(u.now())
	var done []evaluated
	for _, p := range evs {
		u.pos = max(u.pos, p.StreamPos)
		ev := p.PDU
		r := u.rooms[ev.RoomID()]
		if r == nil {
			continue
		}
		if ev.IsStateKey("m.room.power_levels", "") {
			r.powerLevels, r.plSet = ev, true
		}
		if sk, ok := ev.StateKey(); ok && ev.Type() == "m.room.member" {
			r.members[sk] = authrules.Membership(ev.Content())
		}
		delete(r.inThread, r.recent[r.next]) // leaves the ring
		r.last = ev.EventID()
		r.recent[r.next] = r.last
		r.recentPos[r.next] = p.StreamPos
		r.next = (r.next + 1) % recentEvents
		root := threadOf(ev, r.inThread)
		if root != "" {
			if r.threadLast == nil {
				r.threadLast = map[id.EventID]id.EventID{}
				r.inThread = map[id.EventID]id.EventID{}
			}
			r.threadLast[root] = r.last
			r.inThread[r.last] = root
		}
		pe := newPushEvent(ev, r.senderMayNotify, r.joinedCount) // read once for all users
		var shared []push.Evaluation
		for user, c := range r.users {
			if ev.IsStateKey("m.room.member", string(user)) {
				switch m := memberContentOf(ev.Content()); m.Membership {
				case "join":
					c.displayName, c.nameSet = m.DisplayName, true
				case "leave", "ban":
					// Counts are only sent for joined rooms; a rejoin
					// sends the room in full and sets them up again.
					delete(r.users, user)
					continue
				}
			}
			if ev.Sender() == user {
				// The user's own event reads everything before it, as
				// a read receipt for it would.
				if c.notify != 0 || c.highlight != 0 || c.loading != nil {
					c.changed = p.StreamPos
				}
				c.clear()
				if c.loading != nil {
					c.reset = true
				}
				if c.pendingRead == ev.EventID() {
					// The user's receipt for their own event came first:
					// the event has read everything, it included.
					c.pendingRead = ""
				}
				continue
			}
			// An ignored user's events never notify: the push notifier is
			// told so too, rather than evaluating the rules itself.
			var res pushrules.Result
			if !u.ignores(user, ev.Sender()) {
				res = evaluatePush(pe, u.rulesOf(user), user, c.displayName)
			}
			if u.shared != nil {
				shared = append(shared, push.Evaluation{User: user, Notify: res.Notify, Highlight: res.Highlight, Actions: res.Actions})
			}
			notify, highlight := res.Notify, res.Highlight
			if notify {
				c.notify++
				if highlight {
					c.highlight++
				}
				if root != "" {
					c.addThread(root, highlight)
				}
				c.count(countedEvent{pos: p.StreamPos, root: root, highlight: highlight})
				c.changed = p.StreamPos
			}
			if c.pendingRead != "" && c.pendingRead == ev.EventID() {
				c.pendingRead = ""
				if c.readMain(c.pendingMain) {
					c.changed = p.StreamPos
				}
			}
		}
		if len(shared) > 0 {
			done = append(done, evaluated{pos: p.StreamPos, evs: shared})
		}
		if len(r.users) == 0 {
			delete(u.rooms, ev.RoomID())
		}
	}
	return done
}

// readUpTo applies the user's new read receipt (m.read or m.read.private,
// unthreaded, or of the main timeline when mainOnly) for eventID: when it
// is the newest event of the room the counts drop to zero in memory (a
// main timeline receipt leaves the threads' counts), and for one of the
// recent events apply saw they are recounted from it. Any other event is
// pending: apply has not seen it yet (the receipt's commit raced ahead of
// sync's stream consumer), and the counts drop once it does, or it is
// older than the events apply saw (counts set up from the store, after a
// restart or an idle spell), and the next unreadFor sets them up again
// from the store, counting after the receipt.
func (u *unreadCounts) readUpTo(user id.UserID, roomID id.RoomID, eventID id.EventID, mainOnly bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.rooms[roomID]
	if r == nil {
		return
	}
	c := r.users[user]
	if c == nil {
		return
	}
	switch {
	case c.loading != nil:
		delete(r.users, user)
	case r.last == eventID:
		if c.readMain(mainOnly) {
			c.changed = u.pos
		}
		c.pendingRead = ""
	case r.isRecent(eventID):
		pos, _ := r.recentPosition(eventID)
		recounted, changed := c.recount(pos, mainOnly)
		if !recounted {
			delete(r.users, user)
		} else if changed {
			c.changed = u.pos
		}
		c.pendingRead = ""
	default:
		c.pendingRead, c.pendingMain, c.pendingPos = eventID, mainOnly, 0
	}
}

// settlePending decides about the pending read receipt of the user's
// counter c in the room, whose event has stream position pos (0 when it
// is not in the timeline): apply has passed that position without seeing
// the event, so the receipt is for an older event and the counter is
// dropped, to be set up again from the store; otherwise apply will see
// it. It does nothing when the counter or its pending receipt changed
// meanwhile.
func (u *unreadCounts) settlePending(user id.UserID, roomID id.RoomID, c *unreadCounter, eventID id.EventID, pos int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.rooms[roomID]
	if r == nil || r.users[user] != c || c.pendingRead != eventID {
		return
	}
	switch {
	case pos == 0:
		c.pendingRead = ""
	case pos <= u.pos:
		delete(r.users, user)
	default:
		c.pendingPos = pos
	}
}

// readThreadUpTo applies the user's new threaded read receipt for eventID
// in the thread of root: when it is the thread's newest event the thread's
// counts drop to zero in memory; otherwise the counts are set up again
// from the store on next use, counting after the receipt.
//
// NOTSPEC: a threaded receipt whose commit raced ahead of sync's stream
// consumer may leave the event it reads counted until the next receipt or
// own event.
func (u *unreadCounts) readThreadUpTo(user id.UserID, roomID id.RoomID, root, eventID id.EventID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.rooms[roomID]
	if r == nil {
		return
	}
	c := r.users[user]
	if c == nil {
		return
	}
	if c.loading != nil || r.threadLast[root] != eventID {
		delete(r.users, user)
		return
	}
	if tc := c.threads[root]; tc != nil {
		c.notify -= tc.notify
		c.highlight -= tc.highlight
		delete(c.threads, root)
		c.changed = u.pos
	}
	c.keepCounted(func(e countedEvent) bool { return e.root != root })
}

// unreadSnapshot is a copy of one user's counts in one room.
type unreadSnapshot struct {
	notify, highlight int
	threads           map[id.EventID]threadCount
}

func (c *unreadCounter) snapshot() unreadSnapshot {
	sn := unreadSnapshot{notify: c.notify, highlight: c.highlight}
	if len(c.threads) > 0 {
		sn.threads = make(map[id.EventID]threadCount, len(c.threads))
		for root, tc := range c.threads {
			sn.threads[root] = *tc
		}
	}
	return sn
}

// counts renders the counts for sync: the whole room's, or with
// unread_thread_notifications (threaded) the main timeline's and, apart,
// each thread's that has any.
func (sn unreadSnapshot) counts(threaded bool) (UnreadNotifications, map[string]UnreadNotifications) {
	if !threaded {
		return UnreadNotifications{NotificationCount: sn.notify, HighlightCount: sn.highlight}, nil
	}
	main := UnreadNotifications{NotificationCount: sn.notify, HighlightCount: sn.highlight}
	var threads map[string]UnreadNotifications
	for root, tc := range sn.threads {
		if tc.notify == 0 && tc.highlight == 0 {
			continue
		}
		if threads == nil {
			threads = map[string]UnreadNotifications{}
		}
		threads[string(root)] = UnreadNotifications{NotificationCount: tc.notify, HighlightCount: tc.highlight}
		main.NotificationCount -= tc.notify
		main.HighlightCount -= tc.highlight
	}
	main.NotificationCount = max(main.NotificationCount, 0)
	main.HighlightCount = max(main.HighlightCount, 0)
	return main, threads
}

// threadOf returns the root of the thread an event is in, or "" for the
// main timeline: the root its m.thread relation names, or, for an event
// related to another by any other relation (a reference, an edit, a
// reaction), the thread of that event as inThread knows it (push.md: the
// server "follows the event relationship until it finds a thread root via
// an m.thread relation"). inThread maps events known to be in a thread to
// their root.
func threadOf(ev *event.PDU, inThread map[id.EventID]id.EventID) id.EventID {
	if len(inThread) == 0 && !bytes.Contains(ev.Content(), []byte(`"m.thread"`)) {
		return "" // no thread in sight: no need to decode the content
	}
	rt, parent, _, ok := room.RelationOf(ev.Content())
	switch {
	case !ok:
		return ""
	case rt == "m.thread":
		return parent
	}
	return inThread[parent]
}

// senderMayNotify reports whether the sender of ev has the power level of
// notifications[key].
func (r *unreadRoom) senderMayNotify(ev *event.PDU, key string) bool {
	return push.SenderMayNotify(ev, r.create, r.powerLevels, key)
}

// unreadFor returns the user's notification counts in a room they are
// joined to, setting them up from the store on first use, with the stream
// position of their last change; fresh reports that they were set up by
// this call, so the client has not seen them from this server process.
func (s *Service) unreadFor(ctx context.Context, user id.UserID, roomID id.RoomID) (counts unreadSnapshot, changed int64, fresh bool, err error) {
	u := s.unread
	if err := s.ensureRules(ctx, user); err != nil {
		return unreadSnapshot{}, 0, false, err
	}
	for {
		u.mu.Lock()
		r := u.rooms[roomID]
		if r == nil {
			r = newUnreadRoom()
			u.rooms[roomID] = r
		}
		c := r.users[user]
		if c != nil && c.loading == nil && c.pendingRead != "" && c.pendingPos == 0 {
			// A receipt for an event apply did not see: look up where
			// the event is, then decide.
			eventID := c.pendingRead
			u.mu.Unlock()
			pos, err := s.timelinePos(ctx, eventID)
			if err != nil {
				return unreadSnapshot{}, 0, false, err
			}
			u.settlePending(user, roomID, c, eventID, pos)
			continue
		}
		if c != nil && c.loading == nil {
			counts = c.snapshot()
			u.mu.Unlock()
			return counts, c.changed, false, nil
		}
		if c != nil {
			// Another sync of the user is setting the counts up.
			ch := c.loading
			u.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return unreadSnapshot{}, 0, false, ctx.Err()
			}
		}
		loading := make(chan struct{})
		c = &unreadCounter{loading: loading}
		r.users[user] = c
		base := u.pos
		u.mu.Unlock()

		// Events up to base are counted from the store, later ones by
		// apply, which sees the pending counter.
		u.mu.Lock()
		rules, ignored := u.rulesOf(user), u.ignored[user]
		u.mu.Unlock()
		l, err := s.loadUnread(ctx, user, roomID, base, rules, ignored)

		u.mu.Lock()
		defer u.mu.Unlock()
		defer close(loading)
		r = u.rooms[roomID]
		if err != nil {
			if r != nil && r.users[user] == c {
				delete(r.users, user)
			}
			return unreadSnapshot{}, 0, false, err
		}
		if !c.reset {
			if l.notify > 0 || len(l.threads) > 0 {
				c.uncountedUpTo = max(c.uncountedUpTo, base)
			}
			c.notify += l.notify
			c.highlight += l.highlight
			for root, tc := range l.threads {
				if c.threads == nil {
					c.threads = map[id.EventID]*threadCount{}
				}
				if have := c.threads[root]; have != nil {
					have.notify += tc.notify
					have.highlight += tc.highlight
				} else {
					c.threads[root] = tc
				}
			}
		}
		c.loading = nil
		if !c.nameSet {
			c.displayName = l.displayName
		}
		if r == nil || r.users[user] != c {
			// The user left the room meanwhile; the counts answer this
			// sync only.
			r = newUnreadRoom()
		}
		if !r.membersLoaded {
			for k, m := range l.members {
				if _, ok := r.members[k]; !ok {
					r.members[k] = m
				}
			}
			r.membersLoaded = true
		}
		if r.create == nil {
			r.create = l.create
		}
		if !r.plSet {
			r.powerLevels = l.powerLevels
		}
		counts = c.snapshot()
		return counts, max(c.changed, base), true, nil
	}
}

// timelinePos returns the stream position of a stored event, 0 when it is
// not stored or not in the timeline (an outlier).
func (s *Service) timelinePos(ctx context.Context, eventID id.EventID) (int64, error) {
	e, err := s.db.Event(ctx, eventID)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("position of %s: %w", eventID, err)
	}
	if e.Outlier {
		return 0, nil
	}
	return e.StreamPos, nil
}

// loadedUnread is what loadUnread reads from the store.
type loadedUnread struct {
	notify, highlight int
	// threads is the part of the counts from events in threads.
	threads     map[id.EventID]*threadCount
	displayName string
	create      *event.PDU
	powerLevels *event.PDU
	// members are the memberships of the current state.
	members map[string]string
}

// loadUnread counts the user's notifications in a room among its events up
// to stream position upto, judged by the room's current state.
//
// The count starts after the user's unthreaded read receipt (m.read or
// m.read.private) or their own last event in the room, whichever is
// newer, at most unreadScanLimit events back; main timeline events are
// counted after the main timeline receipt, thread events after their
// thread's receipt. Events of the users in ignored do not count.
//
// NOTSPEC: the rules see today's display name, member count and power
// levels rather than those at each event.
func (s *Service) loadUnread(ctx context.Context, user id.UserID, roomID id.RoomID, upto int64, rules *pushrules.Evaluator, ignored map[id.UserID]bool) (loadedUnread, error) {
	l := loadedUnread{members: map[string]string{}}
	state, err := s.rooms.CurrentState(ctx, roomID)
	if err != nil {
		return l, fmt.Errorf("load state of %s: %w", roomID, err)
	}
	for _, ev := range state {
		switch {
		case ev.IsStateKey("m.room.create", ""):
			l.create = ev
		case ev.IsStateKey("m.room.power_levels", ""):
			l.powerLevels = ev
		case ev.Type() == "m.room.member":
			sk, _ := ev.StateKey()
			l.members[sk] = authrules.Membership(ev.Content())
			if sk == string(user) {
				l.displayName = memberContentOf(ev.Content()).DisplayName
			}
		}
	}
	rcs, err := s.db.UserReceipts(ctx, roomID, user)
	if err != nil {
		return l, err
	}
	read := map[id.EventID]bool{}
	// mainRead holds the events of main timeline receipts; mainDone
	// tells that the scan passed one, so only thread events still count.
	mainRead := map[id.EventID]bool{}
	mainDone := false
	// threadRead maps the events of threaded read receipts to their
	// thread; threadDone holds the threads whose receipt the scan passed.
	threadRead := map[id.EventID]id.EventID{}
	threadDone := map[id.EventID]bool{}
	for _, rc := range rcs {
		switch {
		case rc.Type != "m.read" && rc.Type != "m.read.private":
		case rc.ThreadID == "":
			read[rc.EventID] = true
		case rc.ThreadID == "main":
			mainRead[rc.EventID] = true
		default:
			threadRead[rc.EventID] = id.EventID(rc.ThreadID)
		}
	}
	evs, err := s.db.RoomEventsRange(ctx, roomID, upto, 0, store.Backward, unreadScanLimit)
	if err != nil {
		return l, err
	}
	items, err := s.parse(ctx, roomID, evs)
	if err != nil {
		return l, err
	}
	mayNotify := func(ev *event.PDU, key string) bool { return push.SenderMayNotify(ev, l.create, l.powerLevels, key) }
	count := func() int {
		n := 0
		for _, m := range l.members {
			if m == "join" {
				n++
			}
		}
		return n
	}
	// The thread of each event, resolved oldest first so that an event
	// related to a thread event finds that event's thread.
	inThread := map[id.EventID]id.EventID{}
	for i := len(items) - 1; i >= 0; i-- {
		if root := threadOf(items[i].pdu, inThread); root != "" {
			inThread[items[i].pdu.EventID()] = root
		}
	}
	for _, it := range items { // newest first
		if it.pdu.Sender() == user || read[it.pdu.EventID()] {
			break
		}
		if root, ok := threadRead[it.pdu.EventID()]; ok {
			threadDone[root] = true
		}
		mainDone = mainDone || mainRead[it.pdu.EventID()]
		root := inThread[it.pdu.EventID()]
		if root != "" && threadDone[root] || root == "" && mainDone {
			continue // read in its thread or the main timeline
		}
		if ignored[it.pdu.Sender()] {
			continue
		}
		notify, highlight := pushActions(newPushEvent(it.pdu, mayNotify, count), rules, user, l.displayName)
		if notify {
			l.notify++
			if highlight {
				l.highlight++
			}
			if root != "" {
				if l.threads == nil {
					l.threads = map[id.EventID]*threadCount{}
				}
				tc := l.threads[root]
				if tc == nil {
					tc = &threadCount{}
					l.threads[root] = tc
				}
				tc.notify++
				if highlight {
					tc.highlight++
				}
			}
		}
	}
	return l, nil
}
