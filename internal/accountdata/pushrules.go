package accountdata

// Spec: Client-Server API § Push Rules: API
// https://spec.matrix.org/v1.19/client-server-api/#push-rules-api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pushrules"
	"github.com/hafenchat/hafen/internal/store"
)

// PushRules returns the user's push rules: the stored ruleset laid over
// today's default rules (pushrules.Merge), or the defaults.
func (s *Service) PushRules(ctx context.Context, user id.UserID) (pushrules.Ruleset, error) {
	raw, err := s.DB.AccountDataOf(ctx, user, "", TypePushRules)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return pushrules.Ruleset{}, err
	}
	return ParsePushRules(raw, user), nil
}

// ParsePushRules reads stored m.push_rules content (nil for none) as the
// user's ruleset, merged over the defaults.
func ParsePushRules(raw json.RawMessage, user id.UserID) pushrules.Ruleset {
	return pushrules.FromAccountData(raw, string(user))
}

// EditPushRules applies edit to the user's ruleset and stores the result,
// in one transaction. An error from edit (pushrules.ErrNotFound,
// ErrInvalid, ErrDefaultRule, ErrRelative) leaves the rules unchanged.
func (s *Service) EditPushRules(ctx context.Context, user id.UserID, edit func(*pushrules.Ruleset) error) error {
	return s.write(ctx, user, "", TypePushRules, func(cur json.RawMessage) (json.RawMessage, error) {
		rs := ParsePushRules(cur, user)
		if err := edit(&rs); err != nil {
			return nil, err
		}
		out, err := json.Marshal(pushrules.Rules{Global: rs})
		if err != nil {
			return nil, fmt.Errorf("encode push rules: %w", err)
		}
		return out, nil
	})
}
