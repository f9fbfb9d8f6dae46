// Package reports stores users' reports of events, rooms and users for
// the server's operator (store's reports table), after checking what the
// spec asks: an event is reported only by a member of its room who may
// see it, a room or a user only if it exists here.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#reporting-content
package reports

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// Errors of the service.
var (
	// ErrNotFound: the event, room or user is unknown, or not visible to
	// the reporter.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the reason is not acceptable.
	ErrInvalid = errors.New("invalid report")
)

// MaxReasonLength is the longest reason accepted, in characters.
const MaxReasonLength = 1000

// Service stores reports. It is safe for concurrent use.
type Service struct {
	// DB holds the reports.
	DB *store.DB
	// ServerName is this server's name: users of other servers cannot be
	// checked and are taken as they are.
	ServerName id.ServerName
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s *Service) now() int64 {
	if s.Now != nil {
		return s.Now().UnixMilli()
	}
	return time.Now().UnixMilli()
}

// check validates a reason: at most MaxReasonLength characters, none of
// them NUL (which the operator's tools could not show, nor PostgreSQL
// store). The score of older clients is not checked:
// the spec dropped it in v1.18, so a server ignores what it holds.
func check(reason string) error {
	if utf8.RuneCountInString(reason) > MaxReasonLength {
		return fmt.Errorf("%w: the reason is longer than %d characters", ErrInvalid, MaxReasonLength)
	}
	if strings.ContainsRune(reason, 0) {
		return fmt.Errorf("%w: the reason holds a NUL character", ErrInvalid)
	}
	return nil
}

// ReportEvent stores a report of an event by a user joined to its room
// who may see it; ErrNotFound otherwise, also for a redacted event.
func (s *Service) ReportEvent(ctx context.Context, reporter id.UserID, roomID id.RoomID, eventID id.EventID, reason string, score *int64) error {
	if err := check(reason); err != nil {
		return err
	}
	m, err := s.DB.Membership(ctx, roomID, reporter)
	if errors.Is(err, store.ErrNotFound) || err == nil && m.Membership != room.MembershipJoin {
		return fmt.Errorf("%w: you are not joined to the room", ErrNotFound)
	}
	if err != nil {
		return err
	}
	e, err := s.DB.Event(ctx, eventID)
	if errors.Is(err, store.ErrNotFound) || err == nil && (e.RoomID != roomID || !e.ShownToClients() || e.RedactedBecause != "") {
		return fmt.Errorf("%w: event %s", ErrNotFound, eventID)
	}
	if err != nil {
		return err
	}
	vis, err := room.FilterVisible(ctx, s.DB, reporter, true, []store.Event{e})
	if err != nil {
		return err
	}
	if len(vis) == 0 {
		return fmt.Errorf("%w: event %s", ErrNotFound, eventID)
	}
	return s.add(ctx, store.Report{Kind: store.ReportEvent, Reporter: reporter, RoomID: roomID, EventID: eventID, Reason: reason, Score: score})
}

// ReportRoom stores a report of a room this server knows.
func (s *Service) ReportRoom(ctx context.Context, reporter id.UserID, roomID id.RoomID, reason string) error {
	if err := check(reason); err != nil {
		return err
	}
	if _, err := s.DB.Room(ctx, roomID); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: room %s", ErrNotFound, roomID)
	} else if err != nil {
		return err
	}
	return s.add(ctx, store.Report{Kind: store.ReportRoom, Reporter: reporter, RoomID: roomID, Reason: reason})
}

// ReportUser stores a report of a user: a local user must exist; users of
// other servers are taken as they are.
func (s *Service) ReportUser(ctx context.Context, reporter, user id.UserID, reason string) error {
	if err := check(reason); err != nil {
		return err
	}
	if user.Domain() == s.ServerName {
		if _, err := s.DB.User(ctx, user); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: user %s", ErrNotFound, user)
		} else if err != nil {
			return err
		}
	}
	return s.add(ctx, store.Report{Kind: store.ReportUser, Reporter: reporter, UserID: user, Reason: reason})
}

func (s *Service) add(ctx context.Context, r store.Report) error {
	r.ReceivedTS = s.now()
	return s.DB.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.AddReport(ctx, r)
		return err
	})
}
