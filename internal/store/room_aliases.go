package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

const roomAliasesSchema = `
CREATE TABLE room_aliases (
	alias   TEXT PRIMARY KEY,
	room_id TEXT NOT NULL,
	creator TEXT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases (room_id)`

// RoomAlias is a local room alias and who created it.
type RoomAlias struct {
	Alias   id.RoomAlias
	RoomID  id.RoomID
	Creator id.UserID
}

// CreateRoomAlias maps an alias to a room. It returns an error wrapping
// ErrExists if the alias is taken.
func (t *Tx) CreateRoomAlias(ctx context.Context, a RoomAlias) error {
	_, err := t.q.ExecContext(ctx,
		`INSERT INTO room_aliases (alias, room_id, creator) VALUES ($1, $2, $3)`,
		string(a.Alias), string(a.RoomID), string(a.Creator))
	if t.d.isUniqueViolation(err) {
		return fmt.Errorf("create alias %s: %w", a.Alias, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create alias %s: %w", a.Alias, err)
	}
	return nil
}

// RoomAlias resolves an alias, or returns an error wrapping ErrNotFound.
func (r reader) RoomAlias(ctx context.Context, alias id.RoomAlias) (RoomAlias, error) {
	var a RoomAlias
	err := r.q.QueryRowContext(ctx,
		`SELECT alias, room_id, creator FROM room_aliases WHERE alias = $1`, string(alias)).
		Scan(&a.Alias, &a.RoomID, &a.Creator)
	if err != nil {
		return RoomAlias{}, fmt.Errorf("resolve alias %s: %w", alias, notFound(err))
	}
	return a, nil
}

// RoomAliases returns a room's local aliases, ordered.
func (r reader) RoomAliases(ctx context.Context, roomID id.RoomID) ([]id.RoomAlias, error) {
	var out []id.RoomAlias
	err := r.scanRows(ctx,
		`SELECT alias FROM room_aliases WHERE room_id = $1 ORDER BY alias`,
		[]any{string(roomID)},
		func(scan func(...any) error) error {
			var a id.RoomAlias
			if err := scan(&a); err != nil {
				return err
			}
			out = append(out, a)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load aliases of %s: %w", roomID, err)
	}
	return out, nil
}

// DeleteRoomAlias removes an alias. It returns an error wrapping
// ErrNotFound if the alias is unknown.
func (t *Tx) DeleteRoomAlias(ctx context.Context, alias id.RoomAlias) error {
	res, err := t.q.ExecContext(ctx, `DELETE FROM room_aliases WHERE alias = $1`, string(alias))
	if err != nil {
		return fmt.Errorf("delete alias %s: %w", alias, err)
	}
	return expectRow(res, fmt.Sprintf("delete alias %s", alias))
}
