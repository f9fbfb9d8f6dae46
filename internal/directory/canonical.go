package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/core/id"
)

// canonicalAlias is the content of m.room.canonical_alias, read loosely
// so that the type of each field can be checked.
type canonicalAlias struct {
	Alias      json.RawMessage `json:"alias"`
	AltAliases json.RawMessage `json:"alt_aliases"`
}

// aliases returns the aliases the content lists: ErrInvalidAlias when
// "alias" is not a string or "alt_aliases" not an array of strings. A
// missing or null field lists nothing.
func (c canonicalAlias) aliases() ([]string, error) {
	var out []string
	if len(c.Alias) > 0 && string(c.Alias) != "null" {
		var a string
		if err := json.Unmarshal(c.Alias, &a); err != nil {
			return nil, fmt.Errorf("%w: alias must be a string", ErrInvalidAlias)
		}
		out = append(out, a)
	}
	if len(c.AltAliases) > 0 && string(c.AltAliases) != "null" {
		var alt []string
		if err := json.Unmarshal(c.AltAliases, &alt); err != nil {
			return nil, fmt.Errorf("%w: alt_aliases must be an array of strings", ErrInvalidAlias)
		}
		out = append(out, alt...)
	}
	return out, nil
}

// CheckCanonicalAlias checks the content of a new m.room.canonical_alias
// event of roomID, as the spec asks of servers: every alias it adds (in
// "alias" or "alt_aliases") must follow the alias grammar
// (ErrInvalidAlias) and point to the room (ErrBadAlias). Aliases already
// in the room's current event are not checked again, so an event that
// only removes aliases, or an empty one, always passes.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#put_matrixclientv3roomsroomidstateeventtypestatekey
func (s *Service) CheckCanonicalAlias(ctx context.Context, roomID id.RoomID, content []byte) error {
	var next canonicalAlias
	if err := json.Unmarshal(content, &next); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidAlias, err)
	}
	added, err := next.aliases()
	if err != nil {
		return err
	}
	if len(added) == 0 {
		return nil
	}
	cur, err := s.Rooms.CurrentStateEvent(ctx, roomID, "m.room.canonical_alias", "")
	if err != nil {
		return err
	}
	var present []string
	if cur != nil {
		var c canonicalAlias
		if json.Unmarshal(cur.Content(), &c) == nil {
			present, _ = c.aliases() // an unreadable old event vouches for nothing
		}
	}
	for _, a := range added {
		if slices.Contains(present, a) {
			continue
		}
		alias, err := id.ParseRoomAlias(a)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidAlias, err)
		}
		if !s.isLocal(alias) {
			// TODO(#3): resolve other servers' aliases over federation.
			return fmt.Errorf("%w: %s is not an alias of this server", ErrBadAlias, alias)
		}
		entry, err := s.Lookup(ctx, alias)
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: %s does not exist", ErrBadAlias, alias)
		}
		if err != nil {
			return err
		}
		if entry.RoomID != roomID {
			return fmt.Errorf("%w: %s points to another room", ErrBadAlias, alias)
		}
	}
	return nil
}
