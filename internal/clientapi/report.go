// Spec: Client-Server API § Reporting content
// OpenAPI: data/api/client-server/report_content.yaml
// https://spec.matrix.org/v1.19/client-server-api/#reporting-content

package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/reports"
	"github.com/hafenchat/hafen/internal/store"
)

// Reports stores users' reports for the operator. reports.Service
// implements it.
type Reports interface {
	ReportEvent(ctx context.Context, reporter id.UserID, roomID id.RoomID, eventID id.EventID, reason string, score *int64) error
	ReportRoom(ctx context.Context, reporter id.UserID, roomID id.RoomID, reason string) error
	ReportUser(ctx context.Context, reporter, user id.UserID, reason string) error

	// For server administrators (synapseadmin_reports.go).
	List(ctx context.Context, f store.ReportFilter, offset, limit int) ([]reports.Detail, int, error)
	Get(ctx context.Context, reportID int64) (reports.Detail, error)
	Delete(ctx context.Context, reportID int64) error
}

var _ Reports = (*reports.Service)(nil)

// reportRoutes registers the reporting endpoints, rate-limited as sending
// messages is.
func (s *Server) reportRoutes(rt *httpapi.Router) {
	const v3 = "/_matrix/client/v3"
	rt.Handle("POST "+v3+"/rooms/{roomId}/report/{eventId}", s.authed(s.limited(ActionMessage, s.reportEvent)))
	rt.Handle("POST "+v3+"/rooms/{roomId}/report", s.authed(s.limited(ActionMessage, s.reportRoom)))
	rt.Handle("POST "+v3+"/users/{userId}/report", s.authed(s.limited(ActionMessage, s.reportUser)))
	rt.Handle("GET /_synapse/admin/v1/event_reports", s.adminReports(s.listEventReports))
	rt.Handle("GET /_synapse/admin/v1/event_reports/{reportId}", s.adminReports(s.getEventReport))
	rt.Handle("DELETE /_synapse/admin/v1/event_reports/{reportId}", s.adminReports(s.deleteEventReport))
}

// reportBody is the body of the three reporting endpoints; score is the
// legacy field of event reports (removed in v1.18): kept for the operator
// when it is what older versions allowed (an integer from -100 to 0),
// ignored otherwise, as unknown fields are.
type reportBody struct {
	Reason   *string         `json:"reason"`
	RawScore json.RawMessage `json:"score"`
}

// score returns the legacy score, nil when there is none to keep.
func (b reportBody) score() *int64 {
	var n int64
	if json.Unmarshal(b.RawScore, &n) != nil || n < -100 || n > 0 {
		return nil
	}
	return &n
}

// reportErr maps the service's errors.
func reportErr(err error) error {
	switch {
	case errors.Is(err, reports.ErrNotFound):
		return matrixerr.Wrap(matrixerr.KindNotFound, err, "not found, or you may not report it")
	case errors.Is(err, reports.ErrInvalid):
		return matrixerr.Wrap(matrixerr.KindInvalidParam, err, err.Error())
	}
	return err
}

// reportEvent reports an event of a room the user is joined to.
//
// POST /_matrix/client/v3/rooms/{roomId}/report/{eventId}
func (s *Server) reportEvent(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, eventID, err := pathRoomEventID(r)
	if err != nil {
		return err
	}
	var body reportBody
	if err := httpapi.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	var reason string
	if body.Reason != nil {
		reason = *body.Reason
	}
	if err := s.Reports.ReportEvent(r.Context(), sess.UserID, roomID, eventID, reason, body.score()); err != nil {
		return reportErr(err)
	}
	return httpapi.OK(w, struct{}{})
}

// reportRoom reports a room.
//
// POST /_matrix/client/v3/rooms/{roomId}/report
func (s *Server) reportRoom(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	var body reportBody
	if err := httpapi.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Reason == nil {
		return matrixerr.MissingParam("reason")
	}
	if err := s.Reports.ReportRoom(r.Context(), sess.UserID, roomID, *body.Reason); err != nil {
		return reportErr(err)
	}
	return httpapi.OK(w, struct{}{})
}

// reportUser reports a user.
//
// POST /_matrix/client/v3/users/{userId}/report
func (s *Server) reportUser(w http.ResponseWriter, r *http.Request, sess session) error {
	user, err := id.ParseUserID(r.PathValue("userId"))
	if err != nil {
		return matrixerr.InvalidParam("userId is not a valid user ID")
	}
	var body reportBody
	if err := httpapi.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Reason == nil {
		return matrixerr.MissingParam("reason")
	}
	if err := s.Reports.ReportUser(r.Context(), sess.UserID, user, *body.Reason); err != nil {
		return reportErr(err)
	}
	return httpapi.OK(w, struct{}{})
}
