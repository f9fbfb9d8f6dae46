package clientsync

// Spec: Client-Server API § Ignoring Users (server behaviour)
// https://spec.matrix.org/v1.19/client-server-api/#ignoring-users

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hafenchat/hafen/internal/accountdata"
	"github.com/hafenchat/hafen/internal/clientevent"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// ignoreLists is sync's memory of the users each syncing user ignores
// (m.ignored_user_list), read from the store on a user's first sync and
// replaced by every committed change (AccountDataChanged), so that sync
// drops ignored users' events without a query.
type ignoreLists struct {
	mu sync.Mutex
	// users holds the lists read or changed so far (a nil set: nobody).
	users map[id.UserID]map[id.UserID]bool
	// changes counts the changes seen per user, so that a list read from
	// the store while a change commits is not cached over it.
	changes map[id.UserID]uint64
}

// setIgnored records a committed change of a user's ignore list, for
// sync's filters and for the unread counts.
func (s *Service) setIgnored(user id.UserID, content []byte) {
	set := accountdata.ParseIgnored(content)
	l := &s.ignore
	l.mu.Lock()
	if l.users == nil {
		l.users, l.changes = map[id.UserID]map[id.UserID]bool{}, map[id.UserID]uint64{}
	}
	l.users[user] = set
	l.changes[user]++
	l.mu.Unlock()
	s.unread.setIgnored(user, set)
}

// ignoredBy returns the users user ignores.
func (s *Service) ignoredBy(ctx context.Context, user id.UserID) (map[id.UserID]bool, error) {
	l := &s.ignore
	l.mu.Lock()
	set, ok := l.users[user]
	seen := l.changes[user]
	l.mu.Unlock()
	if ok {
		return set, nil
	}
	raw, err := s.db.AccountDataOf(ctx, user, "", accountdata.IgnoredUserListType)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("load ignored users of %s: %w", user, err)
	}
	set = accountdata.ParseIgnored(raw)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.users == nil {
		l.users, l.changes = map[id.UserID]map[id.UserID]bool{}, map[id.UserID]uint64{}
	}
	if cur, ok := l.users[user]; ok || l.changes[user] != seen {
		return cur, nil
	}
	l.users[user] = set
	return set, nil
}

// invitedByIgnored reports whether the user's invite, in the stripped
// state of the invite, was sent by a user they ignore.
func (s *Service) invitedByIgnored(ctx context.Context, user id.UserID, stripped []clientevent.StrippedState) (bool, error) {
	ignored, err := s.ignoredBy(ctx, user)
	if err != nil || len(ignored) == 0 {
		return false, err
	}
	for _, ev := range stripped {
		if ev.Type == "m.room.member" && ev.StateKey == string(user) {
			return ignored[id.UserID(ev.Sender)], nil
		}
	}
	return false, nil
}
