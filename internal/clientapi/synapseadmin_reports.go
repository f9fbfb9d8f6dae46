// Spec: Synapse Admin API § Event reports (not part of the Matrix spec)
// https://element-hq.github.io/synapse/latest/admin_api/event_reports.html
//
// Moderation tools read the reports users sent with POST
// /rooms/{roomId}/report/{eventId} through these endpoints; Hafen answers
// the same requests with the same shapes, for server administrators only.
// Reports of rooms and users are listed by `hafen reports list`.

package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/reports"
	"github.com/hafenchat/hafen/internal/store"
)

// Paging of the event reports list, as Synapse's.
const (
	defaultReportsLimit = 100
	maxReportsLimit     = 1000
)

// adminReports wraps a report admin handler: the requester must be a
// server administrator (403 M_FORBIDDEN otherwise).
func (s *Server) adminReports(h func(w http.ResponseWriter, r *http.Request) error) httpapi.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request, sess session) error {
		if s.Reports == nil {
			return matrixerr.Unrecognized("reports are not kept")
		}
		if err := s.requireAdmin(r.Context(), sess.UserID); err != nil {
			return err
		}
		httpapi.Logger(r).Info("report admin request", "user_id", sess.UserID, "method", r.Method, "path", r.URL.Path)
		return h(w, r)
	})
}

// eventReport is one report as the Synapse admin API shows it. Nullable
// fields are null when unknown, as there.
type eventReport struct {
	ID             int64           `json:"id"`
	ReceivedTS     int64           `json:"received_ts"`
	RoomID         string          `json:"room_id"`
	Name           *string         `json:"name"`
	CanonicalAlias *string         `json:"canonical_alias"`
	EventID        string          `json:"event_id"`
	UserID         string          `json:"user_id"`
	Sender         *string         `json:"sender"`
	Reason         *string         `json:"reason"`
	Score          *int64          `json:"score"`
	EventJSON      json.RawMessage `json:"event_json,omitempty"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toEventReport(d reports.Detail) eventReport {
	return eventReport{
		ID: d.ID, ReceivedTS: d.ReceivedTS, RoomID: string(d.RoomID), Name: nullable(d.RoomName),
		CanonicalAlias: nullable(d.CanonicalAlias), EventID: string(d.EventID), UserID: string(d.Reporter),
		Sender: nullable(string(d.Sender)), Reason: nullable(d.Reason), Score: d.Score, EventJSON: d.EventJSON,
	}
}

// listEventReports lists the event reports, newest first by default
// (dir=b; dir=f oldest first), from the offset from, at most limit (100),
// filtered by reporter (user_id) or room (room_id), both matched as parts
// of the ID; next_token is the offset of the next page, absent on the
// last.
//
// GET /_synapse/admin/v1/event_reports
func (s *Server) listEventReports(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	from, err := httpapi.NonNegativeParam(q, "from", 0)
	if err != nil {
		return err
	}
	limit, err := httpapi.NonNegativeParam(q, "limit", defaultReportsLimit)
	if err != nil {
		return err
	}
	limit = min(limit, maxReportsLimit)
	f := store.ReportFilter{Kind: store.ReportEvent, Reporter: q.Get("user_id"), RoomID: q.Get("room_id"), NewestFirst: true}
	switch q.Get("dir") {
	case "", "b":
	case "f":
		f.NewestFirst = false
	default:
		return matrixerr.InvalidParam("dir must be f or b")
	}
	list, total, err := s.Reports.List(r.Context(), f, from, limit)
	if err != nil {
		return err
	}
	out := make([]eventReport, 0, len(list))
	for _, d := range list {
		out = append(out, toEventReport(d))
	}
	body := map[string]any{"event_reports": out, "total": total}
	if next := from + len(list); len(list) > 0 && next < total {
		body["next_token"] = next
	}
	return httpapi.OK(w, body)
}

// eventReportOfPath loads the event report the path names: 400
// M_INVALID_PARAM unless its ID is a positive integer, 404 M_NOT_FOUND
// for an unknown report or one of a room or user.
func (s *Server) eventReportOfPath(r *http.Request) (reports.Detail, error) {
	reportID, err := strconv.ParseInt(r.PathValue("reportId"), 10, 64)
	if err != nil || reportID <= 0 {
		return reports.Detail{}, matrixerr.InvalidParam("the report ID must be a positive integer")
	}
	d, err := s.Reports.Get(r.Context(), reportID)
	if err == nil && d.Kind != store.ReportEvent {
		err = reports.ErrNotFound
	}
	if errors.Is(err, reports.ErrNotFound) {
		return reports.Detail{}, matrixerr.Wrap(matrixerr.KindNotFound, err, "no such event report")
	}
	return d, err
}

// getEventReport shows one event report with the reported event's JSON;
// 404 M_NOT_FOUND for an unknown report (or one of a room or user).
//
// GET /_synapse/admin/v1/event_reports/{reportId}
func (s *Server) getEventReport(w http.ResponseWriter, r *http.Request) error {
	d, err := s.eventReportOfPath(r)
	if err != nil {
		return err
	}
	return httpapi.OK(w, toEventReport(d))
}

// deleteEventReport deletes an event report the moderators dealt with.
//
// DELETE /_synapse/admin/v1/event_reports/{reportId}
func (s *Server) deleteEventReport(w http.ResponseWriter, r *http.Request) error {
	d, err := s.eventReportOfPath(r)
	if err != nil {
		return err
	}
	err = s.Reports.Delete(r.Context(), d.ID)
	if errors.Is(err, reports.ErrNotFound) {
		return matrixerr.Wrap(matrixerr.KindNotFound, err, "no such event report")
	}
	if err != nil {
		return err
	}
	return httpapi.OK(w, map[string]any{})
}
