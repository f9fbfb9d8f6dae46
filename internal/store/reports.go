package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

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

const reportColumns = `report_id, kind, reporter, room_id, event_id, user_id, reason, score, received_ts`

// scanReport reads one row of reportColumns.
func scanReport(scan func(...any) error) (Report, error) {
	var rep Report
	var roomID, eventID, userID sql.NullString
	var score sql.NullInt64
	if err := scan(&rep.ID, &rep.Kind, &rep.Reporter, &roomID, &eventID, &userID, &rep.Reason, &score, &rep.ReceivedTS); err != nil {
		return Report{}, err
	}
	rep.RoomID, rep.EventID, rep.UserID = id.RoomID(roomID.String), id.EventID(eventID.String), id.UserID(userID.String)
	if score.Valid {
		rep.Score = &score.Int64
	}
	return rep, nil
}

// Reports returns up to limit reports with an ID above after, oldest
// first.
func (r reader) Reports(ctx context.Context, after int64, limit int) ([]Report, error) {
	var out []Report
	err := r.scanRows(ctx, `SELECT `+reportColumns+`
		FROM reports WHERE report_id > $1 ORDER BY report_id LIMIT $2`, []any{after, limit},
		func(scan func(...any) error) error {
			rep, err := scanReport(scan)
			out = append(out, rep)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("load reports: %w", err)
	}
	return out, nil
}

// ReportFilter selects the reports an operator lists.
type ReportFilter struct {
	// Kind is ReportEvent, ReportRoom or ReportUser; empty means all.
	Kind string
	// Reporter and RoomID keep the reports whose reporter or room ID
	// contains them, ignoring case; empty keeps all.
	Reporter string
	RoomID   string
	// NewestFirst orders the reports newest first instead of oldest
	// first.
	NewestFirst bool
}

// ListReports returns the reports f selects, in f's order, skipping the
// first offset and returning at most limit, and how many f selects in
// all.
func (r reader) ListReports(ctx context.Context, f ReportFilter, offset, limit int) ([]Report, int, error) {
	where := `kind LIKE $1 AND LOWER(reporter) LIKE $2 ESCAPE '\' AND LOWER(COALESCE(room_id, '')) LIKE $3 ESCAPE '\'`
	kind := f.Kind
	if kind == "" {
		kind = "%"
	}
	args := []any{kind, "%" + escapeLike(strings.ToLower(f.Reporter)) + "%", "%" + escapeLike(strings.ToLower(f.RoomID)) + "%"}
	var total int
	if err := r.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM reports WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count reports: %w", err)
	}
	order := "ASC"
	if f.NewestFirst {
		order = "DESC"
	}
	var out []Report
	err := r.scanRows(ctx, `SELECT `+reportColumns+` FROM reports WHERE `+where+`
		ORDER BY report_id `+order+` LIMIT $4 OFFSET $5`, append(args, limit, offset),
		func(scan func(...any) error) error {
			rep, err := scanReport(scan)
			out = append(out, rep)
			return err
		})
	if err != nil {
		return nil, 0, fmt.Errorf("list reports: %w", err)
	}
	return out, total, nil
}

// Report returns one report, or an error wrapping ErrNotFound.
func (r reader) Report(ctx context.Context, reportID int64) (Report, error) {
	rep, err := scanReport(r.q.QueryRowContext(ctx, `SELECT `+reportColumns+` FROM reports WHERE report_id = $1`, reportID).Scan)
	if err != nil {
		return Report{}, fmt.Errorf("load report %d: %w", reportID, notFound(err))
	}
	return rep, nil
}

// DeleteReport deletes a report; ErrNotFound if there is none with that
// ID.
func (t *Tx) DeleteReport(ctx context.Context, reportID int64) error {
	res, err := t.q.ExecContext(ctx, `DELETE FROM reports WHERE report_id = $1`, reportID)
	if err != nil {
		return fmt.Errorf("delete report %d: %w", reportID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete report %d: %w", reportID, err)
	} else if n == 0 {
		return fmt.Errorf("delete report %d: %w", reportID, ErrNotFound)
	}
	return nil
}
