package accountdata

// Spec: Client-Server API § Room Upgrades (server behaviour: "the server
// should automatically transfer/replicate some of the user's personalized
// settings such as notifications, tags, etc.")
// https://spec.matrix.org/v1.19/client-server-api/#server-behaviour-13

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pushrules"
)

// TypeDirect is the global account data that lists the user's direct
// chats, by the other user.
const TypeDirect = "m.direct"

// CopyRoomSettings gives room to, which replaced room from in an upgrade,
// the user's settings of from: its tags (unless to has tags of its own),
// the push rules that name from (see pushrules.CopyRoomRules), and its
// place among the user's direct chats (m.direct). What to has already is
// kept, so a second call changes nothing.
func (s *Service) CopyRoomSettings(ctx context.Context, user id.UserID, from, to id.RoomID) error {
	tags, err := s.Tags(ctx, user, from)
	if err != nil {
		return err
	}
	have, err := s.Tags(ctx, user, to)
	if err != nil {
		return err
	}
	if len(tags) > 0 && len(have) == 0 {
		err := s.editTags(ctx, user, to, func(cur map[string]json.RawMessage) {
			if len(cur) == 0 {
				for k, v := range tags {
					cur[k] = v
				}
			}
		})
		if err != nil {
			return fmt.Errorf("copy tags of %s to %s: %w", from, to, err)
		}
	}
	rules, err := s.PushRules(ctx, user)
	if err != nil {
		return err
	}
	if rules.CopyRoomRules(string(from), string(to)) {
		err := s.EditPushRules(ctx, user, func(rs *pushrules.Ruleset) error {
			rs.CopyRoomRules(string(from), string(to))
			return nil
		})
		if err != nil {
			return fmt.Errorf("copy push rules of %s to %s: %w", from, to, err)
		}
	}
	return s.copyDirect(ctx, user, from, to)
}

// copyDirect adds room to beside room from in the user's m.direct, for
// every user whose direct chats hold from.
func (s *Service) copyDirect(ctx context.Context, user id.UserID, from, to id.RoomID) error {
	raw, err := s.Get(ctx, user, "", TypeDirect)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, changed := withReplacement(raw, from, to); !changed {
		return nil
	}
	err = s.write(ctx, user, "", TypeDirect, func(cur json.RawMessage) (json.RawMessage, error) {
		next, _ := withReplacement(cur, from, to)
		return next, nil
	})
	if err != nil {
		return fmt.Errorf("copy %s of %s to %s: %w", TypeDirect, from, to, err)
	}
	return nil
}

// withReplacement returns m.direct content with room to added to every
// list that holds room from and not to, and whether it added any. Content
// that is not m.direct's shape is returned as it is.
func withReplacement(content json.RawMessage, from, to id.RoomID) (json.RawMessage, bool) {
	var direct map[string][]id.RoomID
	if json.Unmarshal(content, &direct) != nil {
		return content, false
	}
	changed := false
	for u, rooms := range direct {
		if slices.Contains(rooms, from) && !slices.Contains(rooms, to) {
			direct[u] = append(rooms, to)
			changed = true
		}
	}
	if !changed {
		return content, false
	}
	out, err := json.Marshal(direct)
	if err != nil {
		return content, false
	}
	return out, true
}
