package fedevents

// Spec: Server-Server API § Backfilling and retrieving missing events
// https://spec.matrix.org/v1.19/server-server-api/#backfilling-and-retrieving-missing-events

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/room"
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
	// fillGapPrevs is the most missing prev events of one PDU whose state
	// is fetched; a PDU missing more keeps its error.
	fillGapPrevs = 5
	// fillGapsTimeout bounds the state fetches of one transaction.
	fillGapsTimeout = 20 * time.Second
)

// States fetches the state after an event from another server, every
// event of it stored (*fedfetch.Fetcher).
type States interface {
	StateAfter(ctx context.Context, srv id.ServerName, roomID id.RoomID, eventID id.EventID) (room.StateIDs, error)
}

// Remote sends requests to other servers (*federation.Client).
type Remote interface {
	DoJSON(ctx context.Context, req federation.Request, out any) error
}

// Gaps fetches the events inside a gap filled with state, in the
// background (*fedfetch.Fetcher).
type Gaps interface {
	FillGapLater(srv id.ServerName, roomID id.RoomID, from []id.EventID)
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
			s.ensureKeysRaw(ctx, e.raw, v)
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

// fillGaps takes the PDUs still refused for missing prev_events once
// get_missing_events could not close their gap (at most fetchMissingPDUs
// of them, within fillGapsTimeout): for each prev event this server does
// not have with its state (at most fillGapPrevs), it fetches the state
// after it from origin (/state_ids, then the events it lacks), and hands
// the PDU to the event path with those states, which resolves them with
// the states after the prev events it has. PDUs are taken in order, so
// one that follows a filled gap finds its prev event stored. It returns
// the results with those of the PDUs it took replaced. The events inside
// each gap filled are then fetched in the background (Gaps).
func (s *Service) fillGaps(ctx context.Context, origin id.ServerName, pdus []json.RawMessage, results []room.RemoteResult) []room.RemoteResult {
	if s.States == nil {
		return results
	}
	ctx, cancel := context.WithTimeout(ctx, fillGapsTimeout)
	defer cancel()
	taken := 0
	for i, r := range results {
		if !errors.Is(r.Err, room.ErrMissingPrevEvents) || r.EventID == "" || taken >= fetchMissingPDUs || ctx.Err() != nil {
			continue
		}
		var head struct {
			RoomID     id.RoomID    `json:"room_id"`
			PrevEvents []id.EventID `json:"prev_events"`
		}
		if json.Unmarshal(pdus[i], &head) != nil {
			continue
		}
		stored, err := s.DB.EventsByID(ctx, head.PrevEvents)
		if err != nil {
			continue
		}
		have := map[id.EventID]bool{}
		for _, e := range stored {
			if e.RoomID == head.RoomID && !e.Outlier {
				have[e.EventID] = true
			}
		}
		var missing []id.EventID
		for _, p := range head.PrevEvents {
			if !have[p] && !slices.Contains(missing, p) {
				missing = append(missing, p)
			}
		}
		if len(missing) > fillGapPrevs {
			continue
		}
		if len(missing) > 0 {
			taken++
		}
		states := map[id.EventID]room.StateIDs{}
		for _, p := range missing {
			st, err := s.States.StateAfter(ctx, origin, head.RoomID, p)
			if err != nil {
				s.Logger.Warn("could not fetch the state at a gap", "origin", string(origin), "room_id", string(head.RoomID), "event_id", string(p), "err", err)
				break
			}
			states[p] = st
		}
		if len(states) != len(missing) {
			continue
		}
		results[i] = s.Rooms.ProcessRemoteWithStates(ctx, origin, pdus[i:i+1], states)[0]
		if results[i].Err == nil && len(missing) > 0 && s.Gaps != nil {
			// The gap's state is known; its events (the messages sent
			// meanwhile) come as history, without holding the
			// transaction.
			s.Gaps.FillGapLater(origin, head.RoomID, missing)
		}
		s.Logger.Debug("gap filled with the state at the missing events", "origin", string(origin), "room_id", string(head.RoomID),
			"event_id", string(r.EventID), "verdict", results[i].Verdict.String())
	}
	return results
}
