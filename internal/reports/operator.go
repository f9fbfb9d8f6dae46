package reports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/directory"
	"github.com/hafenchat/hafen/internal/store"
)

// Detail is a stored report with what an operator needs to judge it: the
// reported event's sender and the room's name and canonical alias as they
// are now. EventJSON, the reported event as stored, is filled by Get only.
type Detail struct {
	store.Report
	Sender         id.UserID
	RoomName       string
	CanonicalAlias string
	EventJSON      json.RawMessage
}

// List returns the reports f selects, skipping offset and at most limit of
// them, with their details, and how many f selects in all.
func (s *Service) List(ctx context.Context, f store.ReportFilter, offset, limit int) ([]Detail, int, error) {
	reps, total, err := s.DB.ListReports(ctx, f, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	out, err := s.details(ctx, reps, false)
	return out, total, err
}

// Get returns one report with its details and the reported event's JSON;
// ErrNotFound if there is no such report.
func (s *Service) Get(ctx context.Context, reportID int64) (Detail, error) {
	rep, err := s.DB.Report(ctx, reportID)
	if errors.Is(err, store.ErrNotFound) {
		return Detail{}, fmt.Errorf("%w: report %d", ErrNotFound, reportID)
	}
	if err != nil {
		return Detail{}, err
	}
	out, err := s.details(ctx, []store.Report{rep}, true)
	if err != nil {
		return Detail{}, err
	}
	return out[0], nil
}

// Delete deletes a report (the operator dealt with it); ErrNotFound if
// there is no such report.
func (s *Service) Delete(ctx context.Context, reportID int64) error {
	err := s.DB.Write(ctx, func(tx *store.Tx) error { return tx.DeleteReport(ctx, reportID) })
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: report %d", ErrNotFound, reportID)
	}
	return err
}

// details adds the event senders (and with withJSON the events' JSON) and
// the rooms' names and canonical aliases to reps: one summary query for
// all rooms, one event query for all event reports.
func (s *Service) details(ctx context.Context, reps []store.Report, withJSON bool) ([]Detail, error) {
	var rooms []id.RoomID
	seen := map[id.RoomID]bool{}
	for _, r := range reps {
		if r.RoomID != "" && !seen[r.RoomID] {
			seen[r.RoomID] = true
			rooms = append(rooms, r.RoomID)
		}
	}
	sums, err := directory.Summaries(ctx, s.DB, rooms)
	if err != nil {
		return nil, fmt.Errorf("summaries of reported rooms: %w", err)
	}
	var eventIDs []id.EventID
	for _, r := range reps {
		if r.EventID != "" {
			eventIDs = append(eventIDs, r.EventID)
		}
	}
	events := map[id.EventID]store.Event{}
	if len(eventIDs) > 0 {
		stored, err := s.DB.EventsByID(ctx, eventIDs)
		if err != nil {
			return nil, fmt.Errorf("reported events: %w", err)
		}
		for _, e := range stored {
			events[e.EventID] = e
		}
	}
	out := make([]Detail, 0, len(reps))
	for _, r := range reps {
		d := Detail{Report: r}
		if sum, ok := sums[r.RoomID]; ok {
			d.RoomName, d.CanonicalAlias = sum.Name, sum.CanonicalAlias
		}
		if e, ok := events[r.EventID]; ok && r.EventID != "" {
			d.Sender = e.Sender
			if withJSON {
				d.EventJSON = e.JSON
			}
		}
		out = append(out, d)
	}
	return out, nil
}
