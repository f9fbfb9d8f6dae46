// Spec: Client-Server API § Getting events for a room (GET /messages);
// Server-Server API § Backfilling and retrieving missing events
// OpenAPI: data/api/client-server/message_pagination.yaml
// https://spec.matrix.org/v1.19/client-server-api/#getting-events-for-a-room

package clientapi

import (
	"context"
	"errors"
	"log/slog"

	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/fedfetch"
	"github.com/hafenchat/hafen/internal/store"
)

// maxHoleRounds bounds the fetches of holes in the history one page of
// /messages makes (within fedfetch.RoomBackfillTimeout in all).
const maxHoleRounds = 4

// fillHoles fetches from other servers the history inside the holes that
// page p, walked backwards from from, reaches (see
// fedfetch.Fetcher.FillHoles), and walks the page again from from with
// the events fetched in their places, until the page reaches no hole, a
// fetch brings nothing, or maxHoleRounds fetches or
// fedfetch.RoomBackfillTimeout are spent. It reports whether it found
// holes, so that the caller does not also fetch from the room's start.
func (a *roomAPI) fillHoles(ctx context.Context, log *slog.Logger, roomID id.RoomID, user id.UserID, joined bool,
	from, bound store.TopoPos, limit int, filter *clientsync.RoomEventFilter, p page) (page, bool, error) {
	fctx, cancel := context.WithTimeout(ctx, fedfetch.RoomBackfillTimeout)
	defer cancel()
	found := false
	for range maxHoleRounds {
		lo := bound
		if p.more {
			lo = p.next
		}
		n, err := a.history.FillHoles(fctx, roomID, lo, from, max(limit, minBackfill))
		if err != nil {
			// The page is answered with what is stored either way; no
			// server answering is common, a failure here is not.
			found = true
			if errors.Is(err, fedfetch.ErrNoHistory) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				log.Debug("could not fetch history", "room_id", roomID, "err", err)
			} else {
				log.Warn("fill holes in history", "room_id", roomID, "err", err)
			}
		}
		if n == 0 {
			break
		}
		found = true
		if p, err = a.paginate(ctx, roomID, user, joined, from, bound, store.Backward, limit, filter); err != nil {
			return page{}, found, err
		}
		if !p.more {
			// Fetched history may go on below what is stored.
			p.more = true
		}
	}
	return p, found, nil
}
