package fedsender

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
)

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

// QueuePresence queues a local user's presence, as an ephemeral m.presence
// EDU (QueueEphemeral: the newest per user waits in memory), for the
// servers sharing a room with them and wakes them. It reads the database
// (which servers) within the sender's lifetime and takes no lock while it
// does; before Start and after Stop it does nothing.
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
	content, err := json.Marshal(map[string]any{"push": []PresenceUpdate{p}})
	if err != nil {
		s.cfg.Logger.Warn("encode presence", "user_id", string(p.UserID), "err", err)
		return
	}
	s.QueueEphemeral(dests, EDUPresence, string(p.UserID), content)
}
