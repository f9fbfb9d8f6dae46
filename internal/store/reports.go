package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
)

// reports holds the content reports of users (of an event, a room or a
// user) for the server's operator, one row per report.
const reportsSchema = `
CREATE TABLE reports (
	report_id   {{bigserial_pk}},
	kind        TEXT NOT NULL,
	reporter    TEXT NOT NULL,
	room_id     TEXT,
	event_id    TEXT,
	user_id     TEXT,
	reason      TEXT NOT NULL,
	score       BIGINT,
	received_ts BIGINT NOT NULL
);
CREATE INDEX reports_received ON reports (received_ts)`

// Kinds of report.
const (
	ReportEvent = "event"
	ReportRoom  = "room"
	ReportUser  = "user"
)

// Report is one report of a user.
type Report struct {
	ID       int64
	Kind     string
	Reporter id.UserID
	// RoomID, EventID and UserID name what is reported, as the kind
	// says (an event report names its room too).
	RoomID  id.RoomID
	EventID id.EventID
	UserID  id.UserID
	Reason  string
	// Score is the legacy score of an event report (-100 to 0), if given.
	Score      *int64
	ReceivedTS int64
}

// AddReport stores a report and returns its ID.
func (t *Tx) AddReport(ctx context.Context, r Report) (int64, error) {
	var score sql.NullInt64
	if r.Score != nil {
		score = sql.NullInt64{Int64: *r.Score, Valid: true}
	}
	var rid int64
	err := t.q.QueryRowContext(ctx, `
		INSERT INTO reports (kind, reporter, room_id, event_id, user_id, reason, score, received_ts)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING report_id`,
		r.Kind, string(r.Reporter), nullString(string(r.RoomID)), nullString(string(r.EventID)), nullString(string(r.UserID)),
		r.Reason, score, r.ReceivedTS).Scan(&rid)
	if err != nil {
		return 0, fmt.Errorf("store %s report of %s: %w", r.Kind, r.Reporter, err)
	}
	return rid, nil
}

// Reports returns up to limit reports with an ID above after, oldest
// first.
func (r reader) Reports(ctx context.Context, after int64, limit int) ([]Report, error) {
	var out []Report
	err := r.scanRows(ctx, `SELECT report_id, kind, reporter, room_id, event_id, user_id, reason, score, received_ts
		FROM reports WHERE report_id > $1 ORDER BY report_id LIMIT $2`, []any{after, limit},
		func(scan func(...any) error) error {
			var rep Report
			var roomID, eventID, userID sql.NullString
			var score sql.NullInt64
			if err := scan(&rep.ID, &rep.Kind, &rep.Reporter, &roomID, &eventID, &userID, &rep.Reason, &score, &rep.ReceivedTS); err != nil {
				return err
			}
			rep.RoomID, rep.EventID, rep.UserID = id.RoomID(roomID.String), id.EventID(eventID.String), id.UserID(userID.String)
			if score.Valid {
				rep.Score = &score.Int64
			}
			out = append(out, rep)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("load reports: %w", err)
	}
	return out, nil
}
