package fedsender

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

// Presence, like typing, is ephemeral: a local user's newest presence
// waits in memory for each server that shares a room with them, at most
// maxPresencePerDestination users per destination and none for a
// destination in backoff, and travels in the next transaction as an
// m.presence EDU.

// maxPresencePerDestination bounds the presence updates waiting for one
// destination.
const maxPresencePerDestination = 1000

// presenceLookupTimeout bounds the query for the servers of a presence
// update.
const presenceLookupTimeout = 10 * time.Second

// PresenceUpdate is one user's presence as an m.presence EDU's push list
// carries it.
type PresenceUpdate struct {
	UserID          id.UserID `json:"user_id"`
	Presence        string    `json:"presence"`
	StatusMsg       *string   `json:"status_msg,omitempty"`
	LastActiveAgo   int64     `json:"last_active_ago"`
	CurrentlyActive bool      `json:"currently_active"`
}

// QueuePresence queues a local user's presence for the servers sharing a
// room with them and wakes them. It reads the database (which servers),
// within the sender's lifetime, and takes no lock while it does; before
// Start and after Stop it does nothing.
func (s *Sender) QueuePresence(p PresenceUpdate) {
	if p.UserID.Domain() != s.cfg.ServerName {
		return
	}
	s.mu.Lock()
	runCtx := s.runCtx
	s.mu.Unlock()
	if runCtx == nil || runCtx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(runCtx, presenceLookupTimeout)
	defer cancel()
	dests, err := s.cfg.DB.ServersSharingRooms(ctx, p.UserID, s.cfg.ServerName)
	if err != nil {
		s.cfg.Logger.Warn("find servers for presence", "user_id", string(p.UserID), "err", err)
		return
	}
	content, err := json.Marshal(p)
	if err != nil {
		s.cfg.Logger.Warn("encode presence", "user_id", string(p.UserID), "err", err)
		return
	}
	var woken []id.ServerName
	s.mu.Lock()
	for _, name := range dests {
		if d := s.dests[name]; d != nil && d.down {
			continue
		}
		m := s.presence[name]
		if m == nil {
			m = map[id.UserID]json.RawMessage{}
			s.presence[name] = m
		}
		if _, ok := m[p.UserID]; !ok && len(m) >= maxPresencePerDestination {
			continue
		}
		m[p.UserID] = content
		woken = append(woken, name)
	}
	s.mu.Unlock()
	s.Wake(woken)
}

// takePresence removes the presence updates waiting for the destination
// and returns them as one m.presence EDU, or nil when none wait.
func (s *Sender) takePresence(name id.ServerName) (json.RawMessage, error) {
	s.mu.Lock()
	m := s.presence[name]
	delete(s.presence, name)
	s.mu.Unlock()
	if len(m) == 0 {
		return nil, nil
	}
	users := make([]id.UserID, 0, len(m))
	for u := range m {
		users = append(users, u)
	}
	slices.SortFunc(users, func(a, b id.UserID) int { return strings.Compare(string(a), string(b)) })
	push := make([]json.RawMessage, len(users))
	for i, u := range users {
		push[i] = m[u]
	}
	content, err := json.Marshal(map[string]any{"push": push})
	if err != nil {
		return nil, fmt.Errorf("encode presence edu: %w", err)
	}
	b, err := json.Marshal(edu{Type: EDUPresence, Content: content})
	if err != nil {
		return nil, fmt.Errorf("encode presence edu: %w", err)
	}
	return b, nil
}
