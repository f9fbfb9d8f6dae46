package accountdata

// Spec: Client-Server API § Ignoring Users
// https://spec.matrix.org/v1.19/client-server-api/#ignoring-users

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/hafenchat/hafen/internal/core/id"
)

// IgnoredUserListType is the account data type of the users a user
// ignores.
const IgnoredUserListType = "m.ignored_user_list"

// ParseIgnored returns the users an m.ignored_user_list content names
// (the keys of ignored_users); nil for anything unreadable.
func ParseIgnored(content []byte) map[id.UserID]bool {
	var c struct {
		IgnoredUsers map[string]json.RawMessage `json:"ignored_users"`
	}
	if len(content) == 0 || json.Unmarshal(content, &c) != nil || len(c.IgnoredUsers) == 0 {
		return nil
	}
	out := make(map[id.UserID]bool, len(c.IgnoredUsers))
	for u := range c.IgnoredUsers {
		out[id.UserID(u)] = true
	}
	return out
}

// IgnoredUsers returns the users user ignores.
func (s *Service) IgnoredUsers(ctx context.Context, user id.UserID) (map[id.UserID]bool, error) {
	raw, err := s.Get(ctx, user, "", IgnoredUserListType)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return ParseIgnored(raw), nil
}
