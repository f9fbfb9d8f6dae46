package clientsync

// Spec: Client-Server API § Typing Notifications (m.typing in /sync)
// https://spec.matrix.org/v1.19/client-server-api/#typing-notifications

import (
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// MaxTypingTimeout caps how long one request may mark a user as typing.
const MaxTypingTimeout = 2 * time.Minute

// DefaultTypingTimeout is the timeout of a typing request that gives none.
const DefaultTypingTimeout = 30 * time.Second

// typingState holds who is typing in which room, in memory only: typing
// is ephemeral and not kept across restarts. Each change (a start, a stop,
// an expiry) takes the next position of the typing stream, which sync
// tokens carry.
type typingState struct {
	mu    sync.Mutex
	pos   int64
	rooms map[id.RoomID]*typingRoom
}

type typingRoom struct {
	// until is each typing user's deadline.
	until map[id.UserID]time.Time
	// changed is the typing stream position of the room's last change.
	changed int64
}

// SetTyping marks the user as typing in the room for timeout (capped at
// MaxTypingTimeout; DefaultTypingTimeout when not positive), or no longer
// typing, and wakes waiting syncs. The caller checks that the user is
// joined to the room.
func (s *Service) SetTyping(roomID id.RoomID, user id.UserID, typing bool, timeout time.Duration) {
	if timeout <= 0 {
		timeout = DefaultTypingTimeout
	}
	timeout = min(timeout, MaxTypingTimeout)
	t := &s.typing
	t.mu.Lock()
	r := t.rooms[roomID]
	if r == nil {
		r = &typingRoom{until: map[id.UserID]time.Time{}}
		t.rooms[roomID] = r
	}
	_, was := r.until[user]
	var deadline time.Time
	if typing {
		deadline = s.now().Add(timeout)
		r.until[user] = deadline
	} else {
		delete(r.until, user)
	}
	changed := typing != was
	if changed {
		t.pos++
		r.changed = t.pos
	}
	if len(r.until) == 0 && !changed {
		delete(t.rooms, roomID)
	}
	t.mu.Unlock()
	if typing {
		time.AfterFunc(timeout, func() { s.expireTyping(roomID, user, deadline) })
	}
	if changed {
		s.notifier.Poke()
	}
}

// endTyping ends the user's typing mark in the room, if any: a user who
// is no longer joined to a room is not typing in it.
func (s *Service) endTyping(roomID id.RoomID, user id.UserID) {
	t := &s.typing
	t.mu.Lock()
	r := t.rooms[roomID]
	typing := false
	if r != nil {
		_, typing = r.until[user]
	}
	if typing {
		delete(r.until, user)
		t.pos++
		r.changed = t.pos
	}
	t.mu.Unlock()
	if typing {
		s.notifier.Poke()
	}
}

// expireTyping ends a typing mark whose deadline has passed, unless a later
// request renewed it.
func (s *Service) expireTyping(roomID id.RoomID, user id.UserID, deadline time.Time) {
	t := &s.typing
	t.mu.Lock()
	r := t.rooms[roomID]
	if r == nil || !r.until[user].Equal(deadline) {
		t.mu.Unlock()
		return
	}
	delete(r.until, user)
	t.pos++
	r.changed = t.pos
	t.mu.Unlock()
	s.notifier.Poke()
}

func (s *Service) typingPos() int64 {
	s.typing.mu.Lock()
	defer s.typing.mu.Unlock()
	return s.typing.pos
}

// addTyping adds an m.typing ephemeral event to each joined room of the
// user whose typing changed in (since, upto] (in an initial sync, where
// anyone is typing), and sets next_batch's typing position to upto.
func (s *Service) addTyping(req Request, resp *Response, ms map[id.RoomID]string, initial bool, since, upto int64) error {
	tok, err := ParseSyncToken(resp.NextBatch)
	if err != nil {
		return err
	}
	tok.Typing = upto
	resp.NextBatch = tok.String()
	if !initial && since >= upto {
		return nil
	}
	type typingRoomIDs struct {
		room  id.RoomID
		users []string
	}
	var out []typingRoomIDs
	t := &s.typing
	t.mu.Lock()
	for roomID, r := range t.rooms {
		if ms[roomID] != "join" || (initial && len(r.until) == 0) || (!initial && (r.changed <= since || r.changed > upto)) {
			continue
		}
		users := make([]string, 0, len(r.until))
		for u := range r.until {
			users = append(users, string(u))
		}
		slices.Sort(users)
		out = append(out, typingRoomIDs{roomID, users})
	}
	t.mu.Unlock()
	var ephemeral *RoomEventFilter
	if req.Filter.Room != nil {
		ephemeral = req.Filter.Room.Ephemeral
	}
	for _, tr := range out {
		room := string(tr.room)
		if !req.Filter.Room.MatchRoom(room) || !ephemeral.MatchEvent(room, "m.typing", "", nil) {
			continue
		}
		ev, err := json.Marshal(map[string]any{"type": "m.typing", "content": map[string]any{"user_ids": tr.users}})
		if err != nil {
			return err
		}
		jr := resp.Rooms.Join[room]
		if jr == nil {
			jr = newJoinedRoom()
			resp.Rooms.Join[room] = jr
		}
		jr.Ephemeral.Events = append(jr.Ephemeral.Events, ev)
	}
	return nil
}
