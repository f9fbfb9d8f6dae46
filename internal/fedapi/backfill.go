// Spec: Server-Server API § Backfilling and retrieving missing events
// OpenAPI: data/api/server-server/backfill.yaml
// https://spec.matrix.org/v1.19/server-server-api/#backfilling-and-retrieving-missing-events

package fedapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/fedevents"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// maxMissingEventsBody caps the body of get_missing_events.
const maxMissingEventsBody = 64 << 10

// backfillRoom returns the events before (and including) the given ones.
//
// GET /_matrix/federation/v1/backfill/{roomId}
func (s *Server) backfillRoom(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if len(q["v"]) == 0 {
		return matrixerr.MissingParam("v")
	}
	from := make([]id.EventID, 0, len(q["v"]))
	for _, v := range q["v"] {
		eid, err := id.ParseEventID(v)
		if err != nil {
			return matrixerr.InvalidParam("v: %v", err)
		}
		from = append(from, eid)
	}
	limit, err := httpapi.RequiredPositiveParam(q, "limit")
	if err != nil {
		return err
	}
	pdus, err := s.Events.Backfill(r.Context(), origin, roomID, from, limit)
	if err != nil {
		return eventsError(err)
	}
	return httpapi.OK(w, s.transaction(pdus))
}

// getMissingPreviousEvents returns the events between the asking server's
// earliest and latest events.
//
// POST /_matrix/federation/v1/get_missing_events/{roomId}
func (s *Server) getMissingPreviousEvents(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	var body struct {
		Limit          *int          `json:"limit"`
		MinDepth       *int64        `json:"min_depth"`
		EarliestEvents *[]id.EventID `json:"earliest_events"`
		LatestEvents   *[]id.EventID `json:"latest_events"`
	}
	if err := httpapi.DecodeJSONLimit(w, r, &body, maxMissingEventsBody); err != nil {
		return err
	}
	if body.EarliestEvents == nil {
		return matrixerr.BadJSON("earliest_events is required")
	}
	if body.LatestEvents == nil {
		return matrixerr.BadJSON("latest_events is required")
	}
	req := fedevents.MissingEventsRequest{EarliestEvents: *body.EarliestEvents, LatestEvents: *body.LatestEvents}
	if body.Limit != nil {
		req.Limit = *body.Limit
	}
	if body.MinDepth != nil {
		req.MinDepth = *body.MinDepth
	}
	evs, err := s.Events.MissingEvents(r.Context(), origin, roomID, req)
	if err != nil {
		return eventsError(err)
	}
	return httpapi.OK(w, map[string]any{"events": evs})
}
