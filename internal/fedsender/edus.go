package fedsender

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// EDUs travel in the same transactions as PDUs, at most MaxEDUs per
// transaction. Those that must arrive (receipts, device list and signing
// key updates, to-device messages) are queued in the database by the
// service that makes the change, in the change's own transaction
// (store.Tx.EnqueueEDU), which then wakes the destinations (Wake).
// Typing notifications (and presence, QueueEphemeral) are ephemeral: they
// wait in memory, at most maxEphemeralPerDestination per destination, only
// the newest state of a user in a room, and none for a destination in
// backoff (it would only learn of typing that ended long ago).

// maxEphemeralPerDestination bounds the typing notifications waiting for one
// destination.
const maxEphemeralPerDestination = 1000

// EDU types this server sends.
const (
	EDUTyping           = "m.typing"
	EDUReceipt          = "m.receipt"
	EDUDeviceListUpdate = "m.device_list_update"
	EDUSigningKeyUpdate = "m.signing_key_update"
	EDUDirectToDevice   = "m.direct_to_device"
	EDUPresence         = "m.presence"
)

// edu is an EDU as a transaction carries it.
type edu struct {
	Type    string          `json:"edu_type"`
	Content json.RawMessage `json:"content"`
}

// ephemeralKey names an ephemeral EDU waiting in memory: a newer one of
// the same type and key replaces it (the key is what it is about: a user
// in a room for typing, a user for presence).
type ephemeralKey struct {
	typ string
	key string
}

// ephemeralEDU is an ephemeral EDU waiting in memory, with its order.
type ephemeralEDU struct {
	seq     uint64
	content json.RawMessage
}

// Wake makes the destinations send what was queued for them: a service
// calls it after committing EDUs it queued with store.Tx.EnqueueEDU.
func (s *Sender) Wake(dests []id.ServerName) {
	if len(dests) > 0 {
		s.wake(dests)
	}
}

// QueueTyping queues an m.typing EDU (the user is typing in the room, or
// stopped) for each destination and wakes them.
func (s *Sender) QueueTyping(dests []id.ServerName, roomID id.RoomID, user id.UserID, typing bool) {
	content, err := json.Marshal(map[string]any{"room_id": roomID, "user_id": user, "typing": typing})
	if err != nil {
		return
	}
	s.QueueEphemeral(dests, EDUTyping, string(roomID)+" "+string(user), content)
}

// QueueEphemeral queues an EDU that need not survive a restart or an
// outage (typing, presence) for each destination and wakes them. It waits
// in memory only; a newer EDU of the same type and key replaces it, at
// most maxEphemeralPerDestination wait per destination, and a destination in
// backoff gets none.
func (s *Sender) QueueEphemeral(dests []id.ServerName, eduType, key string, content json.RawMessage) {
	var woken []id.ServerName
	s.mu.Lock()
	for _, name := range dests {
		if d := s.dests[name]; d != nil && d.down {
			continue
		}
		m := s.ephemeral[name]
		if m == nil {
			m = map[ephemeralKey]ephemeralEDU{}
			s.ephemeral[name] = m
		}
		k := ephemeralKey{eduType, key}
		if _, ok := m[k]; !ok && len(m) >= maxEphemeralPerDestination {
			continue
		}
		s.ephemeralSeq++
		m[k] = ephemeralEDU{seq: s.ephemeralSeq, content: content}
		woken = append(woken, name)
	}
	s.mu.Unlock()
	s.Wake(woken)
}

// takeEphemeral removes and returns up to limit ephemeral EDUs waiting
// for the destination, oldest first.
func (s *Sender) takeEphemeral(name id.ServerName, limit int) ([]json.RawMessage, error) {
	type waiting struct {
		k ephemeralKey
		e ephemeralEDU
	}
	s.mu.Lock()
	m := s.ephemeral[name]
	all := make([]waiting, 0, len(m))
	for k, e := range m {
		all = append(all, waiting{k, e})
	}
	slices.SortFunc(all, func(a, b waiting) int { return cmp.Compare(a.e.seq, b.e.seq) })
	if len(all) > limit {
		all = all[:limit]
	}
	for _, w := range all {
		delete(m, w.k)
	}
	if len(m) == 0 {
		delete(s.ephemeral, name)
	}
	s.mu.Unlock()
	out := make([]json.RawMessage, 0, len(all))
	for _, w := range all {
		b, err := json.Marshal(edu{Type: w.k.typ, Content: w.e.content})
		if err != nil {
			return nil, fmt.Errorf("encode %s edu: %w", w.k.typ, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// setDown records whether the destination is in backoff; going down drops
// the ephemeral EDUs waiting for it.
func (s *Sender) setDown(d *destination, down bool) {
	s.mu.Lock()
	d.down = down
	if down {
		delete(s.ephemeral, d.name)
	}
	s.mu.Unlock()
}

// encodeEDUs encodes queued EDUs as a transaction carries them.
func encodeEDUs(queued []store.QueuedEDU) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(queued))
	for _, q := range queued {
		b, err := json.Marshal(edu{Type: q.Type, Content: q.Content})
		if err != nil {
			return nil, fmt.Errorf("encode %s edu %d: %w", q.Type, q.ID, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// Typing federates local users' typing notifications: SetTyping tells
// Local (sync's memory) and queues an m.typing EDU for the other servers
// with users joined to the room. It implements the client API's Typing.
//
// Other servers drop a user's typing a minute after they last heard of it
// (fedevents.RemoteTypingTimeout; Synapse alike), whatever timeout the
// client asked for. So while a local user types, Typing announces it again
// every typingPing, and when the client's timeout runs out without a stop
// (a client that went away), it announces the stop itself.
type Typing struct {
	// Local holds who is typing for this server's clients.
	Local interface {
		SetTyping(roomID id.RoomID, user id.UserID, typing bool, timeout time.Duration)
	}
	Sender *Sender
	// Ping is how often a user who goes on typing is announced again; 0
	// means typingPing.
	Ping time.Duration

	mu      sync.Mutex
	timers  map[typingKey]*time.Timer
	stopped bool
}

// typingPing is how often a local user who goes on typing is announced
// again to the other servers: well within their minute.
const typingPing = 40 * time.Second

// typingKey names a user typing in a room.
type typingKey struct {
	room id.RoomID
	user id.UserID
}

// SetTyping marks the user as typing in the room, or no longer typing,
// here and on the other servers of the room.
func (t *Typing) SetTyping(roomID id.RoomID, user id.UserID, typing bool, timeout time.Duration) {
	t.Local.SetTyping(roomID, user, typing, timeout)
	if user.Domain() != t.Sender.cfg.ServerName {
		return
	}
	t.schedule(roomID, user, typing, timeout)
	t.announce(roomID, user, typing)
}

// Stop cancels the announcements still to come; call it at shutdown.
func (t *Typing) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	for k, tm := range t.timers {
		tm.Stop()
		delete(t.timers, k)
	}
}

// schedule replaces the user's pending announcement in the room: none
// when the user stopped typing; otherwise one typingPing from now (typing
// still) or when the timeout runs out (stopped), whichever comes first.
func (t *Typing) schedule(roomID id.RoomID, user id.UserID, typing bool, timeout time.Duration) {
	k := typingKey{roomID, user}
	t.mu.Lock()
	defer t.mu.Unlock()
	if tm := t.timers[k]; tm != nil {
		tm.Stop()
		delete(t.timers, k)
	}
	if !typing || t.stopped || timeout <= 0 {
		// Without a timeout there is no end to announce: the other
		// servers' own minute applies.
		return
	}
	if t.timers == nil {
		t.timers = map[typingKey]*time.Timer{}
	}
	until := time.Now().Add(timeout)
	ping := t.Ping
	if ping <= 0 {
		ping = typingPing
	}
	var tm *time.Timer
	// The function takes t.mu first: it sees tm assigned, and a timer
	// replaced or stopped meanwhile is no longer in t.timers.
	tm = time.AfterFunc(min(timeout, ping), func() {
		t.mu.Lock()
		if t.timers[k] != tm {
			t.mu.Unlock()
			return
		}
		left := time.Until(until)
		if left > 0 {
			tm.Reset(min(left, ping))
		} else {
			delete(t.timers, k)
		}
		t.mu.Unlock()
		t.announce(roomID, user, left > 0)
	})
	t.timers[k] = tm
}

// announce queues an m.typing EDU for the other servers in the room.
func (t *Typing) announce(roomID id.RoomID, user id.UserID, typing bool) {
	s := t.Sender
	dests, err := s.cfg.DB.JoinedServers(context.Background(), roomID, s.cfg.ServerName)
	if err != nil {
		s.cfg.Logger.Warn("find servers for typing notification", "room_id", string(roomID), "err", err)
		return
	}
	s.QueueTyping(dests, roomID, user, typing)
}
