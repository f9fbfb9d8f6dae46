// Package receipts owns read receipts and read markers: it stores a
// user's receipts (m.read, m.read.private, per thread) and the m.fully_read
// marker, and tells sync of each new receipt so that it reaches the room's
// members as an m.receipt ephemeral event and moves the user's unread
// counts.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#receipts
// https://spec.matrix.org/v1.19/client-server-api/#fully-read-markers
package receipts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hafenchat/hafen/internal/accountdata"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Receipt and read marker types.
const (
	TypeRead        = "m.read"
	TypeReadPrivate = "m.read.private"
	TypeFullyRead   = "m.fully_read"
)

// ErrInvalid: the receipt type or thread ID is not acceptable.
var ErrInvalid = errors.New("invalid receipt")

// Service stores receipts. It is safe for concurrent use.
type Service struct {
	// DB holds the receipts.
	DB *store.DB
	// AccountData keeps the m.fully_read markers.
	AccountData *accountdata.Service
	// Changed, when set, is called with each committed receipt (its
	// StreamPos set), in commit order, from the store's after-commit hook.
	Changed func(store.Receipt)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ServerName is this server's name.
	ServerName id.ServerName
	// Federation, when set, sends local users' public receipts to the
	// other servers of the room: Post queues an m.receipt EDU for them
	// in the receipt's own transaction and wakes them after the commit
	// (*fedsender.Sender).
	Federation interface{ Wake(dests []id.ServerName) }
}

// receiptEDU returns the content of the m.receipt EDU of one receipt.
func receiptEDU(rc store.Receipt) ([]byte, error) {
	data := map[string]any{"ts": rc.TS}
	if rc.ThreadID != "" {
		data["thread_id"] = rc.ThreadID
	}
	return json.Marshal(map[id.RoomID]any{rc.RoomID: map[string]any{rc.Type: map[id.UserID]any{
		rc.UserID: map[string]any{"event_ids": []id.EventID{rc.EventID}, "data": data},
	}}})
}

// AddRemote stores receipts of other servers' users, received over
// federation (the caller checked that each user belongs to the sending
// server and is joined to the room).
func (s *Service) AddRemote(ctx context.Context, rcs []store.Receipt) error {
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		for _, rc := range rcs {
			pos, err := tx.SetReceipt(ctx, rc)
			if err != nil {
				return err
			}
			rc.StreamPos = pos
			if s.Changed != nil {
				tx.AfterCommit(func() { s.Changed(rc) })
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store remote receipts: %w", err)
	}
	return nil
}

// ValidType reports whether typ is a receipt type the receipt endpoint
// accepts.
func ValidType(typ string) bool {
	return typ == TypeRead || typ == TypeReadPrivate || typ == TypeFullyRead
}

// ValidThreadID reports whether a receipt's thread_id is acceptable: "main"
// or an event ID (the thread's root).
func ValidThreadID(threadID string) bool {
	if threadID == "main" {
		return true
	}
	_, err := id.ParseEventID(threadID)
	return err == nil
}

// Post records the user's receipt of type typ for eventID in a room the
// caller has checked the user may read. threadID is "" for an unthreaded
// receipt. m.fully_read sets the room's read marker and takes no thread.
func (s *Service) Post(ctx context.Context, user id.UserID, roomID id.RoomID, typ string, eventID id.EventID, threadID string) error {
	switch {
	case !ValidType(typ):
		return fmt.Errorf("%w: unknown receipt type %q", ErrInvalid, typ)
	case threadID != "" && typ == TypeFullyRead:
		return fmt.Errorf("%w: m.fully_read takes no thread_id", ErrInvalid)
	case threadID != "" && !ValidThreadID(threadID):
		return fmt.Errorf("%w: thread_id %q is neither main nor an event ID", ErrInvalid, threadID)
	case typ == TypeFullyRead:
		content, err := json.Marshal(map[string]id.EventID{"event_id": eventID})
		if err != nil {
			return err
		}
		return s.AccountData.SetServerControlled(ctx, user, roomID, TypeFullyRead, content)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	rc := store.Receipt{RoomID: roomID, UserID: user, Type: typ, ThreadID: threadID, EventID: eventID, TS: now().UnixMilli()}
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		pos, err := tx.SetReceipt(ctx, rc)
		if err != nil {
			return err
		}
		rc.StreamPos = pos
		if s.Changed != nil {
			tx.AfterCommit(func() { s.Changed(rc) })
		}
		if s.Federation == nil || typ != TypeRead {
			return nil
		}
		dests, err := tx.JoinedServers(ctx, roomID, s.ServerName)
		if err != nil || len(dests) == 0 {
			return err
		}
		content, err := receiptEDU(rc)
		if err != nil {
			return err
		}
		if err := tx.EnqueueEDU(ctx, dests, "m.receipt", content); err != nil {
			return err
		}
		tx.AfterCommit(func() { s.Federation.Wake(dests) })
		return nil
	})
	if err != nil {
		return fmt.Errorf("store %s receipt of %s in %s: %w", typ, user, roomID, err)
	}
	return nil
}
