package profile

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// DefaultRoomInterval is the pause between two rooms' new join events
// when a profile change is carried into a user's rooms.
const DefaultRoomInterval = 20 * time.Millisecond

// pendingBatch is how many pending users one pass of the worker loads.
const pendingBatch = 64

// retryInterval is how long Run waits after a failed pass before it
// tries the changes still pending again.
const retryInterval = 30 * time.Second

// Run carries profile changes into the join events of the users' rooms
// until ctx ends: one room at a time, RoomInterval apart, the newest
// profile each time (a change made while an older one is still being
// carried supersedes it). Changes are queued in the store with the
// profile itself, so those a stop interrupts are carried after the next
// start. Run must be called at most once at a time.
func (s *Service) Run(ctx context.Context) {
	wake := s.wakeChan()
	for {
		err := s.Drain(ctx)
		if err == nil || ctx.Err() != nil {
			select {
			case <-ctx.Done():
				return
			case <-wake:
			}
			continue
		}
		if s.Logger != nil {
			s.Logger.WarnContext(ctx, "profile propagation failed", "err", err)
		}
		t := time.NewTimer(retryInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// wakeChan returns the channel that wakes Run after a change.
func (s *Service) wakeChan() chan struct{} {
	s.wakeOnce.Do(func() { s.wake = make(chan struct{}, 1) })
	return s.wake
}

// notify wakes Run without blocking.
func (s *Service) notify() {
	select {
	case s.wakeChan() <- struct{}{}:
	default:
	}
}

// Drain carries every pending profile change into the users' rooms and
// returns when none is left (or ctx ends). Run calls it; tests call it to
// wait for propagation.
func (s *Service) Drain(ctx context.Context) error {
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	// A user whose change failed (the store could not be read) is skipped
	// for the rest of this call, so the others still go through; the
	// first failure is returned when nothing else is left.
	failed := map[id.UserID]bool{}
	var firstErr error
	for {
		pending, err := s.DB.PendingProfileUpdates(ctx, pendingBatch+len(failed))
		if err != nil {
			return err
		}
		progress := false
		for _, u := range pending {
			if failed[u.User] {
				continue
			}
			progress = true
			if err := s.propagate(ctx, u.User); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				failed[u.User] = true
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			if err := s.DB.Write(ctx, func(tx *store.Tx) error { return tx.FinishProfileUpdate(ctx, u) }); err != nil {
				return err
			}
		}
		if !progress {
			return firstErr
		}
	}
}

// propagate sends a new join event to each room the user is joined to
// whose join event does not carry the user's current profile. The profile
// is read again before each room, so a newer change is carried from there
// on (the rooms before it are carried in the next pass).
func (s *Service) propagate(ctx context.Context, user id.UserID) error {
	rooms, err := s.DB.JoinedRooms(ctx, user)
	if err != nil {
		return fmt.Errorf("list rooms of %s: %w", user, err)
	}
	sent := 0
	for _, roomID := range rooms {
		p, err := s.ForJoin(ctx, user)
		if err != nil {
			return err
		}
		current, err := s.carries(ctx, roomID, user, p)
		if err != nil {
			// A room whose state cannot be loaded is left as it is, like
			// one that refuses the update.
			if s.Logger != nil {
				s.Logger.WarnContext(ctx, "profile not updated in room", "room_id", roomID, "user_id", user, "err", err)
			}
			continue
		}
		if current {
			continue
		}
		if sent > 0 && s.RoomInterval > 0 {
			t := time.NewTimer(s.RoomInterval)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		sent++
		_, err = s.Rooms.ChangeMembership(ctx, roomID, room.MembershipChange{
			Sender: user, Target: user, Membership: room.MembershipJoin, Profile: p,
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// A room that refuses the update (for example because the
			// user may not change their membership event there) keeps the
			// old one; the profile itself is saved.
			if s.Logger != nil {
				s.Logger.DebugContext(ctx, "profile not updated in room", "room_id", roomID, "user_id", user, "err", err)
			}
		}
	}
	return nil
}

// carries reports whether the user's current membership of a room is not
// a join (nothing to update) or a join whose displayname and avatar_url
// are those of p.
func (s *Service) carries(ctx context.Context, roomID id.RoomID, user id.UserID, p Profile) (bool, error) {
	ev, err := s.Rooms.CurrentStateEvent(ctx, roomID, "m.room.member", string(user))
	if err != nil {
		return false, fmt.Errorf("load membership of %s in %s: %w", user, roomID, err)
	}
	if ev == nil || authrules.MembershipOf(ev) != room.MembershipJoin {
		return true, nil
	}
	var c struct {
		DisplayName *string `json:"displayname"`
		AvatarURL   *string `json:"avatar_url"`
	}
	if json.Unmarshal(ev.Content(), &c) != nil {
		return false, nil
	}
	return str(c.DisplayName) == p[DisplayName] && str(c.AvatarURL) == p[AvatarURL], nil
}

// str returns *p, or "" for nil.
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
