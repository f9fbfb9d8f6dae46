package clientsync

// Spec: Client-Server API § Presence (m.presence in /sync, set_presence)
// https://spec.matrix.org/v1.19/client-server-api/#presence

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/id"
)

// Presence states.
const (
	PresenceOnline      = "online"
	PresenceUnavailable = "unavailable"
	PresenceOffline     = "offline"
)

// Default presence timeouts.
const (
	// DefaultIdleTimeout is how long an online user may do nothing before
	// they show as unavailable.
	DefaultIdleTimeout = 5 * time.Minute
	// DefaultOfflineTimeout is how long after their last sync ended (and
	// with none running) a user shows as offline.
	DefaultOfflineTimeout = 30 * time.Second
)

// PresenceConfig configures presence.
type PresenceConfig struct {
	// Enabled keeps presence; off, nothing is kept, GET answers offline and
	// sync carries no presence.
	Enabled bool
	// IdleTimeout and OfflineTimeout; 0 means the defaults.
	IdleTimeout    time.Duration
	OfflineTimeout time.Duration
	// Changed, when set, is told every change of a local user's presence
	// (after it is recorded, without locks held): the hook for sending
	// m.presence EDUs to other servers. It may read the database but must
	// not wait for anything else. FederatePresence sets it later.
	Changed func(Presence)
}

// remotePresenceTimeout is how long another server's user stays as their
// server last said without a new update before showing as offline.
const remotePresenceTimeout = 30 * time.Minute

// Presence is a user's presence as the spec's m.presence content has it.
type Presence struct {
	UserID          id.UserID `json:"-"`
	State           string    `json:"presence"`
	StatusMsg       *string   `json:"status_msg,omitempty"`
	LastActiveAgo   int64     `json:"last_active_ago,omitempty"`
	CurrentlyActive bool      `json:"currently_active"`
}

// presenceLogSize bounds the recent changes kept for incremental syncs; a
// sync whose token is older gets every current presence of the users it
// shares a room with, as an initial sync does.
const presenceLogSize = 4096

// presenceState holds every user's presence, in memory only: presence is
// ephemeral, and after a restart users come online again as they sync.
// Each change takes the next position of the presence stream, which sync
// tokens carry.
type presenceState struct {
	mu      sync.Mutex
	pos     int64
	users   map[id.UserID]*presenceEntry
	log     []presenceChange // oldest first, at most presenceLogSize
	stopped bool
}

type presenceChange struct {
	pos  int64
	user id.UserID
}

type presenceEntry struct {
	state      string
	statusMsg  *string
	lastActive time.Time
	// lastSeen is when the user last synced or set their presence;
	// syncing counts the syncs running.
	lastSeen time.Time
	syncing  int
	timer    *time.Timer
	// remote marks a user of another server: their server reports
	// idleness; only remotePresenceTimeout applies here.
	remote bool
}

func (s *Service) presenceEnabled() bool { return s.presenceCfg.Enabled }

// SetPresence sets a user's presence (PUT /presence). Setting it counts
// as activity whatever the state: presence.yaml has the activity time
// updated whenever the status is set.
func (s *Service) SetPresence(user id.UserID, state string, statusMsg *string) {
	if !s.presenceEnabled() {
		return
	}
	s.updatePresence(user, func(e *presenceEntry, now time.Time) {
		e.state, e.statusMsg, e.lastSeen, e.lastActive = state, statusMsg, now, now
	})
}

// presenceActive records that local users acted (their devices sent
// events): they were active now, and an unavailable user (idle, or set
// so) is online again. Users without a presence entry are left alone.
func (s *Service) presenceActive(users []id.UserID) {
	if !s.presenceEnabled() || len(users) == 0 {
		return
	}
	for _, u := range users {
		s.presence.mu.Lock()
		e := s.presence.users[u]
		known := e != nil && !e.remote
		s.presence.mu.Unlock()
		if !known {
			continue
		}
		s.updatePresence(u, func(e *presenceEntry, now time.Time) {
			e.lastActive, e.lastSeen = now, now
			if e.state == PresenceUnavailable {
				e.state = PresenceOnline
			}
		})
	}
}

// syncStarted records that a user started a sync with set_presence
// (online, unavailable or offline; empty means online), and returns the
// function to call when it ends.
func (s *Service) syncStarted(user id.UserID, setPresence string) func() {
	if !s.presenceEnabled() || setPresence == PresenceOffline {
		return func() {}
	}
	s.updatePresence(user, func(e *presenceEntry, now time.Time) {
		e.syncing++
		e.lastSeen = now
		switch {
		case setPresence == PresenceUnavailable:
			e.state = PresenceUnavailable
		case e.state == "" || e.state == PresenceOffline:
			e.state, e.lastActive = PresenceOnline, now
		}
	})
	return func() {
		s.updatePresence(user, func(e *presenceEntry, now time.Time) {
			e.syncing--
			e.lastSeen = now
		})
	}
}

// updatePresence applies f to the user's entry, records a change of its
// visible fields at the next position, re-arms the user's timer and, on
// a change, wakes waiting syncs.
func (s *Service) updatePresence(user id.UserID, f func(e *presenceEntry, now time.Time)) {
	p := &s.presence
	now := s.now()
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	e := p.users[user]
	if e == nil {
		e = &presenceEntry{}
		p.users[user] = e
	}
	before := *e
	f(e, now)
	changed := before.state != e.state || !sameStatus(before.statusMsg, e.statusMsg) ||
		(e.state == PresenceOnline && before.lastActive != e.lastActive && now.Sub(before.lastActive) > time.Minute)
	var out Presence
	if changed {
		p.record(user)
		out = e.view(user, now, s.presenceCfg.IdleTimeout)
	}
	s.armPresenceTimer(user, e, now)
	hook, remote := s.presenceCfg.Changed, e.remote
	p.mu.Unlock()
	if changed {
		s.notifier.Poke()
		if hook != nil && !remote {
			hook(out)
		}
	}
}

// FederatePresence sets the hook told of local users' presence changes
// (see PresenceConfig.Changed).
func (s *Service) FederatePresence(changed func(Presence)) {
	s.presence.mu.Lock()
	s.presenceCfg.Changed = changed
	s.presence.mu.Unlock()
}

// RemotePresence takes the push list of an m.presence EDU from origin
// (already cut down to origin's users): each user's presence as their
// server reports it.
func (s *Service) RemotePresence(_ context.Context, origin id.ServerName, content json.RawMessage) {
	if !s.presenceEnabled() {
		return
	}
	var c struct {
		Push []struct {
			UserID          id.UserID `json:"user_id"`
			Presence        string    `json:"presence"`
			StatusMsg       *string   `json:"status_msg"`
			LastActiveAgo   int64     `json:"last_active_ago"`
			CurrentlyActive bool      `json:"currently_active"`
		} `json:"push"`
	}
	if json.Unmarshal(content, &c) != nil {
		return
	}
	for _, u := range c.Push {
		if u.UserID.Domain() != origin {
			continue
		}
		switch u.Presence {
		case PresenceOnline, PresenceUnavailable, PresenceOffline:
		default:
			continue
		}
		if u.StatusMsg != nil && len(*u.StatusMsg) > maxRemoteStatusBytes {
			continue
		}
		s.updatePresence(u.UserID, func(e *presenceEntry, now time.Time) {
			e.remote = true
			e.state, e.statusMsg, e.lastSeen = u.Presence, u.StatusMsg, now
			e.lastActive = now.Add(-time.Duration(max(u.LastActiveAgo, 0)) * time.Millisecond)
		})
	}
}

// maxRemoteStatusBytes bounds the status message taken from another
// server.
const maxRemoteStatusBytes = 1024

// record takes the next position for a change of user. Called with p.mu
// held.
func (p *presenceState) record(user id.UserID) {
	p.pos++
	p.log = append(p.log, presenceChange{pos: p.pos, user: user})
	if len(p.log) > presenceLogSize {
		p.log = slices.Delete(p.log, 0, len(p.log)-presenceLogSize)
	}
}

func sameStatus(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// armPresenceTimer schedules the user's next timeout: going unavailable
// when online and idle, going offline when seen long enough ago with no
// sync running. Called with presence.mu held.
func (s *Service) armPresenceTimer(user id.UserID, e *presenceEntry, now time.Time) {
	var next time.Time
	if e.remote && e.state != PresenceOffline {
		next = e.lastSeen.Add(remotePresenceTimeout)
	}
	if e.state == PresenceOnline && !e.remote {
		next = e.lastActive.Add(s.presenceCfg.IdleTimeout)
	}
	if e.state != PresenceOffline && e.state != "" && e.syncing == 0 && !e.remote {
		off := e.lastSeen.Add(s.presenceCfg.OfflineTimeout)
		if next.IsZero() || off.Before(next) {
			next = off
		}
	}
	if next.IsZero() {
		if e.timer != nil {
			e.timer.Stop()
		}
		return
	}
	d := max(next.Sub(now), time.Millisecond)
	if e.timer == nil {
		e.timer = time.AfterFunc(d, func() { s.presenceTimeout(user) })
	} else {
		e.timer.Reset(d)
	}
}

// presenceTimeout applies the timeouts that have passed.
func (s *Service) presenceTimeout(user id.UserID) {
	s.updatePresence(user, func(e *presenceEntry, now time.Time) {
		if e.remote {
			if now.Sub(e.lastSeen) >= remotePresenceTimeout {
				e.state = PresenceOffline
			}
			return
		}
		if e.state == PresenceOnline && now.Sub(e.lastActive) >= s.presenceCfg.IdleTimeout {
			e.state = PresenceUnavailable
		}
		if e.state != PresenceOffline && e.syncing == 0 && now.Sub(e.lastSeen) >= s.presenceCfg.OfflineTimeout {
			e.state = PresenceOffline
		}
	})
}

// stopPresence stops every presence timer; later updates are ignored.
func (s *Service) stopPresence() {
	p := &s.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	for _, e := range p.users {
		if e.timer != nil {
			e.timer.Stop()
		}
	}
}

// view is the entry as clients see it.
func (e *presenceEntry) view(user id.UserID, now time.Time, idle time.Duration) Presence {
	state := e.state
	if state == "" {
		state = PresenceOffline
	}
	p := Presence{UserID: user, State: state, StatusMsg: e.statusMsg}
	if !e.lastActive.IsZero() {
		p.LastActiveAgo = max(now.Sub(e.lastActive).Milliseconds(), 0)
		p.CurrentlyActive = state == PresenceOnline && now.Sub(e.lastActive) < idle
	}
	return p
}

// GetPresence returns a user's presence; offline for users without one,
// and for everyone while presence is off.
func (s *Service) GetPresence(user id.UserID) Presence {
	p := &s.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.users[user]
	if e == nil || !s.presenceEnabled() {
		return Presence{UserID: user, State: PresenceOffline}
	}
	return e.view(user, s.now(), s.presenceCfg.IdleTimeout)
}

func (s *Service) presencePos() int64 {
	s.presence.mu.Lock()
	defer s.presence.mu.Unlock()
	return s.presence.pos
}

// addPresence adds the m.presence events of users who share a joined room
// with the syncing user (and the user's own) whose presence changed in
// (since, upto] — every known presence in an initial sync or when since is
// older than the recent changes kept — and sets next_batch's presence
// position to upto. ms are the syncing user's memberships.
func (s *Service) addPresence(ctx context.Context, req Request, resp *Response, initial bool, since, upto int64) error {
	tok, err := ParseSyncToken(resp.NextBatch)
	if err != nil {
		return err
	}
	tok.Presence = upto
	resp.NextBatch = tok.String()
	if !s.presenceEnabled() || excludesPresence(req.Filter.Presence) {
		return nil
	}
	// Users the syncing user shares a room with from this answer on get
	// their presence sent too, changed or not: the client has none of
	// theirs yet.
	var mates map[id.UserID]bool
	if !initial {
		if mates, err = s.newRoomMates(ctx, req.User, resp); err != nil {
			return err
		}
	}
	if !initial && since >= upto && len(mates) == 0 {
		return nil
	}
	// The users whose presence to consider, under the lock; whom they
	// share rooms with is read after it.
	p := &s.presence
	now := s.now()
	var candidates []Presence
	p.mu.Lock()
	full := initial || len(p.log) == 0 || p.log[0].pos > since+1
	if full {
		for u, e := range p.users {
			candidates = append(candidates, e.view(u, now, s.presenceCfg.IdleTimeout))
		}
	} else {
		seen := map[id.UserID]bool{}
		for i := len(p.log) - 1; i >= 0 && p.log[i].pos > since; i-- {
			c := p.log[i]
			if c.pos > upto || seen[c.user] {
				continue
			}
			seen[c.user] = true
			candidates = append(candidates, p.users[c.user].view(c.user, now, s.presenceCfg.IdleTimeout))
		}
		for u := range mates {
			if e := p.users[u]; e != nil && !seen[u] {
				if v := e.view(u, now, s.presenceCfg.IdleTimeout); v.State != PresenceOffline || v.StatusMsg != nil {
					candidates = append(candidates, v)
				}
			}
		}
	}
	p.mu.Unlock()
	if len(candidates) == 0 {
		return nil
	}
	slices.SortFunc(candidates, func(a, b Presence) int {
		switch {
		case a.UserID < b.UserID:
			return -1
		case a.UserID > b.UserID:
			return 1
		}
		return 0
	})
	limit := req.Filter.Presence.LimitOr(len(candidates), len(candidates))
	// A full answer looks at every user with a presence: whom the syncing
	// user shares a room with is read once, from their rooms' members,
	// rather than user by user.
	var coMembers map[id.UserID]bool
	if full {
		if coMembers, err = s.roomMatesOf(ctx, req.User); err != nil {
			return err
		}
	}
	for _, c := range candidates {
		if len(resp.presenceEvents()) >= limit {
			break
		}
		if !req.Filter.Presence.MatchEvent("m.presence", string(c.UserID)) {
			continue
		}
		if initial && c.State == PresenceOffline && c.StatusMsg == nil {
			continue // nothing to tell in a first sync
		}
		if c.UserID != req.User {
			shared := coMembers[c.UserID]
			if coMembers == nil {
				if shared, err = s.sharesJoinedRoom(ctx, req.User, c.UserID); err != nil {
					return err
				}
			}
			if !shared {
				continue
			}
		}
		ev, err := json.Marshal(map[string]any{"type": "m.presence", "sender": c.UserID, "content": c})
		if err != nil {
			return err
		}
		if resp.Presence == nil {
			resp.Presence = &EventBatch{Events: []json.RawMessage{}}
		}
		resp.Presence.Events = append(resp.Presence.Events, ev)
	}
	return nil
}

// newRoomMates returns the users user shares a joined room with from this
// incremental sync answer on: those whose new join is in a timeline of the
// answer, and every member of a room the user joined. A join after a join
// (a profile change) is not a new one. Member events in the state
// sections are not looked at: lazy-loading and state deltas put members
// there who joined long ago.
func (s *Service) newRoomMates(ctx context.Context, user id.UserID, resp *Response) (map[id.UserID]bool, error) {
	var mates map[id.UserID]bool
	add := func(u id.UserID) {
		if u == user {
			return
		}
		if mates == nil {
			mates = map[id.UserID]bool{}
		}
		mates[u] = true
	}
	if resp.Rooms != nil {
		for _, jr := range resp.Rooms.Join {
			for _, ev := range jr.Timeline.Events {
				if ev.Type == "m.room.member" && ev.StateKey != nil && newJoin(ev) {
					add(id.UserID(*ev.StateKey))
				}
			}
		}
	}
	for _, roomID := range resp.joined {
		members, err := s.joinedMembers(ctx, roomID)
		if err != nil {
			return nil, err
		}
		for _, u := range members {
			add(u)
		}
	}
	return mates, nil
}

// newJoin reports whether a formatted member event is a join that did not
// follow a join.
func newJoin(ev clientevent.Event) bool {
	if memberContentOf(ev.Content).Membership != "join" {
		return false
	}
	return ev.Unsigned == nil || ev.Unsigned.PrevContent == nil ||
		memberContentOf(ev.Unsigned.PrevContent).Membership != "join"
}

func (r *Response) presenceEvents() []json.RawMessage {
	if r.Presence == nil {
		return nil
	}
	return r.Presence.Events
}

// excludesPresence reports whether a filter's types let no m.presence
// event through, whatever its sender.
func excludesPresence(f *EventFilter) bool {
	if f == nil {
		return false
	}
	for _, p := range f.NotTypes {
		if matchType(p, "m.presence") {
			return true
		}
	}
	return f.Types != nil && !slices.ContainsFunc(f.Types, func(p string) bool { return matchType(p, "m.presence") })
}

// roomMatesOf returns the users joined to a room user is joined to.
func (s *Service) roomMatesOf(ctx context.Context, user id.UserID) (map[id.UserID]bool, error) {
	ms, err := s.memberships(ctx, user)
	if err != nil {
		return nil, err
	}
	mates := map[id.UserID]bool{}
	for roomID, m := range ms {
		if m != "join" {
			continue
		}
		members, err := s.joinedMembers(ctx, roomID)
		if err != nil {
			return nil, err
		}
		for _, u := range members {
			mates[u] = true
		}
	}
	return mates, nil
}

// sharesJoinedRoom reports whether two users have a joined room in
// common, from the membership cache (loading b's memberships on first
// use; a's are loaded), without copying either.
func (s *Service) sharesJoinedRoom(ctx context.Context, a, b id.UserID) (bool, error) {
	for {
		s.mu.Lock()
		ma, okA := s.members[a]
		mb, okB := s.members[b]
		if okA && okB {
			if len(mb) < len(ma) {
				ma, mb = mb, ma
			}
			shared := false
			for roomID, m := range ma {
				if m == "join" && mb[roomID] == "join" {
					shared = true
					break
				}
			}
			s.mu.Unlock()
			return shared, nil
		}
		s.mu.Unlock()
		missing := b
		if !okA {
			missing = a
		}
		if _, err := s.memberships(ctx, missing); err != nil {
			return false, err
		}
	}
}
