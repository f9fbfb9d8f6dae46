package stream

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/store"
)

// Reader is what a consumer reads the committed stream from.
type Reader interface {
	StreamEvents(ctx context.Context, after, upto int64, limit int) ([]store.Event, error)
	Room(ctx context.Context, roomID id.RoomID) (store.Room, error)
}

// Positions is where durable consumers keep their positions.
type Positions interface {
	ConsumerPosition(ctx context.Context, name string) (int64, bool, error)
	Write(ctx context.Context, fn func(tx *store.Tx) error) error
}

var (
	_ Reader    = (*store.DB)(nil)
	_ Positions = (*store.DB)(nil)
)

// readStore returns the committed events with after < position <= upto,
// oldest first, at most limit of them, as the event path published them
// (the stored JSON, not redacted later).
func readStore(ctx context.Context, db Reader, after, upto int64, limit int) ([]Event, error) {
	stored, err := db.StreamEvents(ctx, after, upto, limit)
	if err != nil {
		return nil, err
	}
	versions := map[id.RoomID]*roomversion.Version{}
	out := make([]Event, 0, len(stored))
	for _, e := range stored {
		v := versions[e.RoomID]
		if v == nil {
			r, err := db.Room(ctx, e.RoomID)
			if err != nil {
				return nil, fmt.Errorf("read stream event %s: %w", e.EventID, err)
			}
			var ok bool
			if v, ok = roomversion.Lookup(roomversion.ID(r.RoomVersion)); !ok {
				return nil, fmt.Errorf("read stream event %s: room %s has unsupported version %q", e.EventID, e.RoomID, r.RoomVersion)
			}
			versions[e.RoomID] = v
		}
		pdu, err := event.ParseTrusted(e.JSON, v, e.EventID)
		if err != nil {
			return nil, fmt.Errorf("parse stream event %s: %w", e.EventID, err)
		}
		out = append(out, Event{PDU: pdu, StreamPos: e.StreamPos, DeviceID: e.TxnDeviceID, TxnID: e.TxnID, GapBelow: e.GapBelow})
	}
	return out, nil
}
