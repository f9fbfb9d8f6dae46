// Package directory owns the local room directory: room aliases, who may
// create and delete them, and the aliases a room may advertise in its
// m.room.canonical_alias event; the published room directory (which rooms
// are listed, the list for clients and other servers, and other servers'
// lists); and room summaries, which the space hierarchy shares. The client
// and federation APIs go through it.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#room-aliases
package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hafenchat/hafen/internal/core/authrules"
	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// Alias is a directory entry.
type Alias = store.RoomAlias

// Rooms reads the current state of rooms. room.Service implements it.
type Rooms interface {
	CurrentStateEvent(ctx context.Context, roomID id.RoomID, typ, stateKey string) (*event.PDU, error)
	Version(ctx context.Context, roomID id.RoomID) (string, error)
}

// Service is the local room directory. It is safe for concurrent use.
type Service struct {
	// ServerName is the homeserver's name, the domain of local aliases.
	ServerName id.ServerName
	// DB holds the aliases.
	DB *store.DB
	// Rooms is read for memberships.
	Rooms Rooms
	// Remote asks other servers for their room directories; nil when the
	// server does not federate.
	Remote Remote

	// summaries caches the published rooms' summaries.
	summaries summaryCache
}

func (s *Service) isLocal(alias id.RoomAlias) bool {
	return strings.EqualFold(string(alias.Domain()), string(s.ServerName))
}

// Lookup resolves an alias: ErrNotFound when the directory does not hold
// it.
func (s *Service) Lookup(ctx context.Context, alias id.RoomAlias) (Alias, error) {
	a, err := s.DB.RoomAlias(ctx, alias)
	if errors.Is(err, store.ErrNotFound) {
		// TODO(#3): query other servers' aliases over federation.
		return Alias{}, fmt.Errorf("%w: %s", ErrNotFound, alias)
	}
	if err != nil {
		return Alias{}, fmt.Errorf("look up %s: %w", alias, err)
	}
	return a, nil
}

// Aliases returns a room's local aliases, ordered.
func (s *Service) Aliases(ctx context.Context, roomID id.RoomID) ([]id.RoomAlias, error) {
	return s.DB.RoomAliases(ctx, roomID)
}

// Create maps a new local alias to a room the creator is joined to:
// ErrNotLocal, ErrNotJoined or ErrExists otherwise. An unknown room is the
// event path's room.ErrRoomNotFound.
func (s *Service) Create(ctx context.Context, alias id.RoomAlias, roomID id.RoomID, creator id.UserID) error {
	if !s.isLocal(alias) {
		return ErrNotLocal
	}
	member, err := s.Rooms.CurrentStateEvent(ctx, roomID, "m.room.member", string(creator))
	if err != nil {
		return err
	}
	if authrules.MembershipOf(member) != room.MembershipJoin {
		return ErrNotJoined
	}
	return s.insert(ctx, Alias{Alias: alias, RoomID: roomID, Creator: creator})
}

func (s *Service) insert(ctx context.Context, a Alias) error {
	err := s.DB.Write(ctx, func(tx *store.Tx) error { return tx.CreateRoomAlias(ctx, a) })
	if errors.Is(err, store.ErrExists) {
		return fmt.Errorf("%w: %s", ErrExists, a.Alias)
	}
	if err != nil {
		return fmt.Errorf("create alias %s: %w", a.Alias, err)
	}
	return nil
}

// Delete removes a local alias on behalf of user, who must be its creator
// or a server admin (ErrNotCreator otherwise), as the spec suggests.
func (s *Service) Delete(ctx context.Context, alias id.RoomAlias, user id.UserID) error {
	a, err := s.Lookup(ctx, alias)
	if err != nil {
		return err
	}
	if a.Creator != user {
		u, err := s.DB.User(ctx, user)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("load %s: %w", user, err)
		}
		if !u.IsAdmin {
			return ErrNotCreator
		}
	}
	err = s.DB.Write(ctx, func(tx *store.Tx) error { return tx.DeleteRoomAlias(ctx, alias) })
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, alias)
	}
	if err != nil {
		return fmt.Errorf("delete alias %s: %w", alias, err)
	}
	return nil
}

// MoveDirectory maps every local alias of a room to another room, keeping
// their creators, and moves the room's listing in the room directory to
// the other room, in one transaction (a room upgrade moves them to the
// replacement room); it returns the aliases it moved.
func (s *Service) MoveDirectory(ctx context.Context, from, to id.RoomID) ([]id.RoomAlias, error) {
	var moved []id.RoomAlias
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		moved = nil
		old, err := tx.Room(ctx, from)
		if err != nil {
			return fmt.Errorf("load %s: %w", from, err)
		}
		if old.IsPublic {
			if err := tx.SetRoomPublic(ctx, from, false); err != nil {
				return err
			}
			if err := tx.SetRoomPublic(ctx, to, true); err != nil {
				return err
			}
		}
		aliases, err := tx.RoomAliases(ctx, from)
		if err != nil {
			return fmt.Errorf("aliases of %s: %w", from, err)
		}
		for _, alias := range aliases {
			a, err := tx.RoomAlias(ctx, alias)
			if err != nil {
				return fmt.Errorf("load alias %s: %w", alias, err)
			}
			if err := tx.DeleteRoomAlias(ctx, alias); err != nil {
				return fmt.Errorf("move alias %s: %w", alias, err)
			}
			a.RoomID = to
			if err := tx.CreateRoomAlias(ctx, a); err != nil {
				return fmt.Errorf("move alias %s: %w", alias, err)
			}
			moved = append(moved, alias)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return moved, nil
}
