package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// account_data holds users' account data, global (room_id ”) and per
// room, one row per (user, room, type) with the newest content. stream_pos
// is the position of the row's last change in the account data stream, a
// stream of its own that sync tokens carry next to the event stream; it is
// allocated as max+1 by the single writer.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#client-config
const accountDataSchema = `
CREATE TABLE account_data (
	user_id    TEXT NOT NULL,
	room_id    TEXT NOT NULL,
	data_type  TEXT NOT NULL,
	content    TEXT NOT NULL,
	stream_pos BIGINT NOT NULL,
	PRIMARY KEY (user_id, room_id, data_type)
);
CREATE INDEX account_data_by_pos ON account_data (user_id, stream_pos)`

// AccountData is one piece of a user's account data.
type AccountData struct {
	// RoomID is the room of per-room data, "" for global data.
	RoomID id.RoomID
	// Type is the data's type.
	Type string
	// Content is the data's JSON object.
	Content []byte
	// StreamPos is the position of its last change in the account data
	// stream.
	StreamPos int64
}

// SetAccountData stores (replaces) a piece of the user's account data;
// roomID "" means global. It returns the change's position in the account
// data stream.
func (t *Tx) SetAccountData(ctx context.Context, userID id.UserID, roomID id.RoomID, typ string, content []byte) (int64, error) {
	var pos int64
	if err := t.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_pos), 0) + 1 FROM account_data`).Scan(&pos); err != nil {
		return 0, fmt.Errorf("allocate account data position: %w", err)
	}
	_, err := t.q.ExecContext(ctx, `
		INSERT INTO account_data (user_id, room_id, data_type, content, stream_pos) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, room_id, data_type) DO UPDATE SET content = excluded.content, stream_pos = excluded.stream_pos`,
		string(userID), string(roomID), typ, string(content), pos)
	if err != nil {
		return 0, fmt.Errorf("store account data %s of %s in %q: %w", typ, userID, roomID, err)
	}
	return pos, nil
}

// AccountDataOf returns one piece of the user's account data (roomID ""
// for global data), or an error wrapping ErrNotFound.
func (r reader) AccountDataOf(ctx context.Context, userID id.UserID, roomID id.RoomID, typ string) ([]byte, error) {
	var content string
	err := r.q.QueryRowContext(ctx, `SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND data_type = $3`,
		string(userID), string(roomID), typ).Scan(&content)
	if err != nil {
		return nil, fmt.Errorf("load account data %s of %s in %q: %w", typ, userID, roomID, notFound(err))
	}
	return []byte(content), nil
}

// AccountDataSince returns the user's account data changed after stream
// position since, in stream order.
func (r reader) AccountDataSince(ctx context.Context, userID id.UserID, since int64) ([]AccountData, error) {
	var out []AccountData
	err := r.scanRows(ctx, `
		SELECT room_id, data_type, content, stream_pos FROM account_data
		WHERE user_id = $1 AND stream_pos > $2 ORDER BY stream_pos`,
		[]any{string(userID), since},
		func(scan func(...any) error) error {
			var a AccountData
			var room, content string
			if err := scan(&room, &a.Type, &content, &a.StreamPos); err != nil {
				return err
			}
			a.RoomID, a.Content = id.RoomID(room), []byte(content)
			out = append(out, a)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load account data of %s since %d: %w", userID, since, err)
	}
	return out, nil
}

// DeleteAccountData removes every piece of the user's account data,
// global and per room (tags, push rules and read markers included). The
// stream keeps its newest position: when the user's data held it, a row
// of no user (an empty user_id) takes it over, so that SetAccountData
// never hands out again a position sync may already have passed on in a
// token.
func (t *Tx) DeleteAccountData(ctx context.Context, userID id.UserID) error {
	var top int64
	if err := t.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_pos), 0) FROM account_data`).Scan(&top); err != nil {
		return fmt.Errorf("read account data position: %w", err)
	}
	res, err := t.q.ExecContext(ctx, `DELETE FROM account_data WHERE user_id = $1`, string(userID))
	if err != nil {
		return fmt.Errorf("delete account data of %s: %w", userID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	var left int64
	if err := t.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_pos), 0) FROM account_data`).Scan(&left); err != nil {
		return fmt.Errorf("read account data position: %w", err)
	}
	if left >= top {
		return nil
	}
	_, err = t.q.ExecContext(ctx, `
		INSERT INTO account_data (user_id, room_id, data_type, content, stream_pos) VALUES ('', '', '', '{}', $1)
		ON CONFLICT (user_id, room_id, data_type) DO UPDATE SET stream_pos = excluded.stream_pos`, top)
	if err != nil {
		return fmt.Errorf("keep account data position %d: %w", top, err)
	}
	return nil
}

// MaxAccountDataPos returns the newest position of the account data
// stream (0 when empty).
func (r reader) MaxAccountDataPos(ctx context.Context) (int64, error) {
	var pos int64
	if err := r.q.QueryRowContext(ctx, `SELECT COALESCE(MAX(stream_pos), 0) FROM account_data`).Scan(&pos); err != nil {
		return 0, fmt.Errorf("read account data position: %w", err)
	}
	return pos, nil
}
