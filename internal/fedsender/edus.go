package fedsender

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// EDUs travel in the same transactions as PDUs, at most MaxEDUs per
// transaction. Those that must arrive (receipts, device list and signing
// key updates, to-device messages) are queued in the database by the
// service that makes the change, in the change's own transaction
// (store.Tx.EnqueueEDU), which then wakes the destinations (Wake).
// Typing notifications are ephemeral: they wait in memory, at most
// maxTypingPerDestination per destination, only the newest state of a
// user in a room, and none for a destination in backoff (it would only
// learn of typing that ended long ago).

// maxTypingPerDestination bounds the typing notifications waiting for one
// destination.
const maxTypingPerDestination = 1000

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

// typingKey is a user typing in a room.
type typingKey struct {
	room id.RoomID
	user id.UserID
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
	var woken []id.ServerName
	s.mu.Lock()
	for _, name := range dests {
		if d := s.dests[name]; d != nil && d.down {
			continue
		}
		m := s.typing[name]
		if m == nil {
			m = map[typingKey]bool{}
			s.typing[name] = m
		}
		k := typingKey{roomID, user}
		if _, ok := m[k]; !ok && len(m) >= maxTypingPerDestination {
			continue
		}
		m[k] = typing
		woken = append(woken, name)
	}
	s.mu.Unlock()
	s.Wake(woken)
}

// takeTyping removes and returns up to limit typing EDUs waiting for the
// destination.
func (s *Sender) takeTyping(name id.ServerName, limit int) ([]json.RawMessage, error) {
	s.mu.Lock()
	m := s.typing[name]
	var keys []typingKey
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b typingKey) int {
		if a.room != b.room {
			return strings.Compare(string(a.room), string(b.room))
		}
		return strings.Compare(string(a.user), string(b.user))
	})
	if len(keys) > limit {
		keys = keys[:limit]
	}
	states := make([]bool, len(keys))
	for i, k := range keys {
		states[i] = m[k]
		delete(m, k)
	}
	if len(m) == 0 {
		delete(s.typing, name)
	}
	s.mu.Unlock()
	out := make([]json.RawMessage, 0, len(keys))
	for i, k := range keys {
		content, err := json.Marshal(map[string]any{"room_id": k.room, "user_id": k.user, "typing": states[i]})
		if err != nil {
			return nil, fmt.Errorf("encode typing edu: %w", err)
		}
		b, err := json.Marshal(edu{Type: EDUTyping, Content: content})
		if err != nil {
			return nil, fmt.Errorf("encode typing edu: %w", err)
		}
		out = append(out, b)
	}
	return out, nil
}

// setDown records whether the destination is in backoff; going down drops
// the typing notifications waiting for it.
func (s *Sender) setDown(d *destination, down bool) {
	s.mu.Lock()
	d.down = down
	if down {
		delete(s.typing, d.name)
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
type Typing struct {
	// Local holds who is typing for this server's clients.
	Local interface {
		SetTyping(roomID id.RoomID, user id.UserID, typing bool, timeout time.Duration)
	}
	Sender *Sender
}

// SetTyping marks the user as typing in the room, or no longer typing,
// here and on the other servers of the room.
func (t *Typing) SetTyping(roomID id.RoomID, user id.UserID, typing bool, timeout time.Duration) {
	t.Local.SetTyping(roomID, user, typing, timeout)
	s := t.Sender
	if user.Domain() != s.cfg.ServerName {
		return
	}
	dests, err := s.cfg.DB.JoinedServers(context.Background(), roomID, s.cfg.ServerName)
	if err != nil {
		s.cfg.Logger.Warn("find servers for typing notification", "room_id", string(roomID), "err", err)
		return
	}
	s.QueueTyping(dests, roomID, user, typing)
}
