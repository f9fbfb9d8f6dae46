package store

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// room_backward_extremities holds each room's backward extremities: prev
// events of timeline events that this server does not have in the
// timeline, where a hole in the room's history begins (as Synapse's
// event_backward_extremities). event_id is the missing event; depth and
// stream_pos are the topological position of the lowest timeline event
// that names it, so that a walk through the timeline knows when it
// reaches the hole. origin is the server that gave that event, the first
// to ask for the history below it. failures and retry_at (Unix ms, 0 when
// no retry is due) record fetches of the hole that failed, so that they
// are retried with backoff, across restarts.
const backwardExtremitiesSchema = `
CREATE TABLE room_backward_extremities (
	room_id    TEXT NOT NULL,
	event_id   TEXT NOT NULL,
	depth      BIGINT NOT NULL,
	stream_pos BIGINT NOT NULL,
	origin     TEXT NOT NULL DEFAULT '',
	failures   INTEGER NOT NULL DEFAULT 0,
	retry_at   BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (room_id, event_id)
);
CREATE INDEX room_backward_extremities_retry ON room_backward_extremities (retry_at) WHERE retry_at > 0`

// BackwardExtremity is a hole in a room's history: an event that a
// timeline event names as a prev event but that this server does not have
// in the timeline.
type BackwardExtremity struct {
	RoomID  id.RoomID
	EventID id.EventID
	// At is the topological position of the lowest timeline event naming
	// EventID: the hole lies just below it.
	At     TopoPos
	Origin id.ServerName
	// Failures counts the fetches of the hole that failed in a row;
	// RetryAt (Unix ms) is when the next is due, 0 when none is.
	Failures int
	RetryAt  int64
}

const backwardExtremityColumns = `room_id, event_id, depth, stream_pos, origin, failures, retry_at`

func scanBackwardExtremity(scan func(...any) error) (BackwardExtremity, error) {
	var b BackwardExtremity
	err := scan(&b.RoomID, &b.EventID, &b.At.Depth, &b.At.Stream, &b.Origin, &b.Failures, &b.RetryAt)
	return b, err
}

// AddBackwardExtremities records that the timeline event child names
// missing as prev events, of which those not in the timeline are holes
// in the room's history (see BackwardExtremity); origin gave child. A
// new hole's fetch is due at retryAt (Unix ms; 0: not before a client
// pages down to it). A
// hole recorded already moves down to child (its position and origin)
// when child lies lower. Nothing is recorded if child is not in the
// timeline.
func (t *Tx) AddBackwardExtremities(ctx context.Context, child id.EventID, missing []id.EventID, origin id.ServerName, retryAt int64) error {
	for _, m := range missing {
		// One statement: the child's position and the check that the
		// missing event is not in the timeline are read by the insert.
		err := t.execLater(ctx, fmt.Sprintf("add backward extremity %s", m), `
			INSERT INTO room_backward_extremities (room_id, event_id, depth, stream_pos, origin, retry_at)
			SELECT c.room_id, $1, c.depth, c.stream_pos, $2, $4 FROM events c
			WHERE c.event_id = $3 AND c.stream_pos IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM events m WHERE m.event_id = $1 AND m.stream_pos IS NOT NULL)
			ON CONFLICT (room_id, event_id) DO UPDATE SET depth = excluded.depth, stream_pos = excluded.stream_pos, origin = excluded.origin
			WHERE excluded.depth < room_backward_extremities.depth
			OR (excluded.depth = room_backward_extremities.depth AND excluded.stream_pos < room_backward_extremities.stream_pos)`,
			string(m), string(origin), string(child), retryAt)
		if err != nil {
			return err
		}
	}
	return nil
}

// MarkGapBelow marks the timeline event eventID as stored above a gap in
// its room's history: accepted from another server with prev events this
// server could not fetch, whose history comes later, below it in the
// room's topological order and without new stream positions
// (Event.GapBelow). Sync starts a limited timeline at such an event, so
// that clients page back into the gap instead of taking the event as
// following on from what they had.
func (t *Tx) MarkGapBelow(ctx context.Context, eventID id.EventID) error {
	return t.execLater(ctx, fmt.Sprintf("mark gap below %s", eventID),
		`UPDATE events SET gap_below = TRUE WHERE event_id = $1`, string(eventID))
}

// RemoveBackwardExtremities forgets the holes of roomID at the given
// events: they are in the timeline now.
func (t *Tx) RemoveBackwardExtremities(ctx context.Context, roomID id.RoomID, eventIDs []id.EventID) error {
	if len(eventIDs) == 0 {
		return nil
	}
	size := max(1, t.d.maxParams()-1)
	for start := 0; start < len(eventIDs); start += size {
		part := idStrings(eventIDs[start:min(start+size, len(eventIDs))])
		q, a, err := t.d.expandList(`DELETE FROM room_backward_extremities WHERE room_id = $1 AND event_id `+anyList(2),
			2, []any{string(roomID)}, part)
		if err != nil {
			return err
		}
		if err := t.execLater(ctx, fmt.Sprintf("remove backward extremities of %s", roomID), q, a...); err != nil {
			return err
		}
	}
	return nil
}

// SetBackwardExtremityRetry records the outcome of a fetch of holes of
// roomID: failures and the time (Unix ms) the next fetch is due, 0 and 0
// after one that succeeded.
func (t *Tx) SetBackwardExtremityRetry(ctx context.Context, roomID id.RoomID, eventIDs []id.EventID, failures int, retryAt int64) error {
	for _, e := range eventIDs {
		if err := t.execLater(ctx, fmt.Sprintf("set retry of backward extremity %s", e),
			`UPDATE room_backward_extremities SET failures = $1, retry_at = $2 WHERE room_id = $3 AND event_id = $4`,
			failures, retryAt, string(roomID), string(e)); err != nil {
			return err
		}
	}
	return nil
}

// BackwardExtremitiesBetween returns the holes of roomID that a walk
// backwards from hi down to lo reaches, highest first. A hole lies just
// below the event naming it, at the point At.Before(): a walk reaches it
// when that point lies after lo and up to hi. So a walk that starts just
// below the event (the prev_batch of a sync timeline that begins with
// it) reaches the hole, and one that stops just below the event does not
// yet (the next page does).
func (r reader) BackwardExtremitiesBetween(ctx context.Context, roomID id.RoomID, lo, hi TopoPos) ([]BackwardExtremity, error) {
	var out []BackwardExtremity
	err := r.scanRows(ctx, `SELECT `+backwardExtremityColumns+` FROM room_backward_extremities
		WHERE room_id = $1
		AND depth >= $2 AND (depth > $2 OR stream_pos - 1 > $3)
		AND depth <= $4 AND (depth < $4 OR stream_pos - 1 <= $5)
		ORDER BY depth DESC, stream_pos DESC, event_id`,
		[]any{string(roomID), lo.Depth, lo.Stream, hi.Depth, hi.Stream},
		func(scan func(...any) error) error {
			b, err := scanBackwardExtremity(scan)
			if err != nil {
				return err
			}
			out = append(out, b)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load backward extremities of %s: %w", roomID, err)
	}
	return out, nil
}

// BackwardExtremitiesDue returns up to limit holes, of any room, whose
// fetch failed and is due again at now (Unix ms), the longest due first.
func (r reader) BackwardExtremitiesDue(ctx context.Context, now int64, limit int) ([]BackwardExtremity, error) {
	var out []BackwardExtremity
	err := r.scanRows(ctx, `SELECT `+backwardExtremityColumns+` FROM room_backward_extremities
		WHERE retry_at > 0 AND retry_at <= $1 ORDER BY retry_at, room_id, event_id LIMIT $2`,
		[]any{now, limit},
		func(scan func(...any) error) error {
			b, err := scanBackwardExtremity(scan)
			if err != nil {
				return err
			}
			out = append(out, b)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load backward extremities due: %w", err)
	}
	return out, nil
}

// BackwardExtremities returns the holes of roomID, highest first.
func (r reader) BackwardExtremities(ctx context.Context, roomID id.RoomID) ([]BackwardExtremity, error) {
	return r.BackwardExtremitiesBetween(ctx, roomID, TopoPos{Depth: -1 << 62}, MaxTopoPos)
}
