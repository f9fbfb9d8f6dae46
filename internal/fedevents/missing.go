package fedevents

// Spec: Server-Server API § Backfilling and retrieving missing events
// https://spec.matrix.org/v1.19/server-server-api/#backfilling-and-retrieving-missing-events

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/federation"
)

// Bounds of fetching missing prev_events for one transaction.
const (
	// fetchMissingLimit is the limit asked of get_missing_events.
	fetchMissingLimit = 10
	// fetchMissingPDUs is the most PDUs of one transaction whose gaps are
	// fetched; the others keep their "missing prev_events" error.
	fetchMissingPDUs = 5
	// fetchMissingTimeout bounds the fetches of one transaction.
	fetchMissingTimeout = 10 * time.Second
)

// Remote sends requests to other servers (*federation.Client).
type Remote interface {
	DoJSON(ctx context.Context, req federation.Request, out any) error
}

var _ Remote = (*federation.Client)(nil)

// gap is a PDU refused for missing prev_events.
type gap struct {
	roomID  id.RoomID
	eventID id.EventID
	depth   int64
}

// fetchMissing asks origin, once per PDU (at most fetchMissingPDUs of
// them, within fetchMissingTimeout in all), for the events between the
// room's forward extremities and the PDU with get_missing_events, and
// hands what it answers to the event path, oldest first, with the keys of
// their signers fetched. It reports whether anything was taken, so that
// the caller tries the PDUs again; errors only go to the log.
func (s *Service) fetchMissing(ctx context.Context, origin id.ServerName, gaps []gap) bool {
	if s.Remote == nil || len(gaps) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, fetchMissingTimeout)
	defer cancel()
	took := false
	for _, g := range gaps[:min(len(gaps), fetchMissingPDUs)] {
		v, err := s.roomVersion(ctx, g.roomID)
		if err != nil {
			continue
		}
		earliest, err := s.DB.Extremities(ctx, g.roomID)
		if err != nil {
			s.Logger.Debug("could not read forward extremities", "room_id", string(g.roomID), "err", err)
			continue
		}
		body, _ := json.Marshal(map[string]any{
			"earliest_events": earliest, "latest_events": []id.EventID{g.eventID},
			"limit": fetchMissingLimit, "min_depth": max(g.depth-fetchMissingLimit-1, 0),
		})
		var resp struct {
			Events []json.RawMessage `json:"events"`
		}
		err = s.Remote.DoJSON(ctx, federation.Request{
			Destination: origin, Method: http.MethodPost,
			Path: "/_matrix/federation/v1/get_missing_events/" + url.PathEscape(string(g.roomID)), Body: body,
		}, &resp)
		if err != nil {
			s.Logger.Warn("could not fetch missing events", "origin", string(origin), "room_id", string(g.roomID), "event_id", string(g.eventID), "err", err)
			continue
		}
		if len(resp.Events) > fetchMissingLimit {
			resp.Events = resp.Events[:fetchMissingLimit]
		}
		// Oldest first, whatever order they came in, and only this room's.
		type fetched struct {
			raw   json.RawMessage
			depth int64
		}
		var evs []fetched
		for _, raw := range resp.Events {
			var head struct {
				RoomID id.RoomID `json:"room_id"`
				Depth  int64     `json:"depth"`
			}
			if json.Unmarshal(raw, &head) != nil || head.RoomID != g.roomID {
				continue
			}
			evs = append(evs, fetched{raw, head.Depth})
		}
		slices.SortStableFunc(evs, func(a, b fetched) int { return cmp.Compare(a.depth, b.depth) })
		pdus := make([]json.RawMessage, len(evs))
		for i, e := range evs {
			s.ensureKeys(ctx, e.raw, v)
			pdus[i] = e.raw
		}
		if len(pdus) == 0 {
			continue
		}
		for _, r := range s.Rooms.ProcessRemote(ctx, origin, pdus) {
			if r.Err != nil {
				s.Logger.Debug("fetched missing event not accepted", "origin", string(origin), "event_id", string(r.EventID), "err", fmt.Errorf("%s: %w", r.Verdict, r.Err))
			}
		}
		took = true
	}
	return took
}
