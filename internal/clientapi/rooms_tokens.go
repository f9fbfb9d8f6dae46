// Spec: Client-Server API § Getting events for a room (pagination tokens)
// OpenAPI: data/api/client-server/message_pagination.yaml
// OpenAPI: data/api/client-server/event_context.yaml
// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv3roomsroomidmessages

package clientapi

import (
	"context"
	"fmt"

	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/store"
)

// The pagination tokens of /messages, /context and /members' at: /messages
// and /context walk a room in topological order and hand out topological
// tokens ("t<depth>-<stream>"); every one of these endpoints also accepts
// the stream tokens of sync (prev_batch, next_batch). See
// clientsync/token.go for both forms.

// topoToken renders a point of a room's topological order as a pagination
// token.
func topoToken(p store.TopoPos) string { return clientsync.TopoToken(p.Depth, p.Stream) }

// parsePageToken parses a pagination token of either form: 400
// M_INVALID_PARAM if it is neither.
func parsePageToken(name, tok string) (clientsync.PageToken, error) {
	pt, err := clientsync.ParsePageToken(tok)
	if err != nil {
		return clientsync.PageToken{}, matrixerr.InvalidParam("%s is not a valid pagination token", name)
	}
	return pt, nil
}

// topoPos returns the point of the room's topological order a token
// stands for: a topological token as it is, a stream token as the room's
// position at that point of the stream.
func (a *roomAPI) topoPos(ctx context.Context, roomID id.RoomID, tok clientsync.PageToken) (store.TopoPos, error) {
	if tok.Topological {
		return store.TopoPos{Depth: tok.Depth, Stream: tok.Stream}, nil
	}
	return a.db.RoomTopoPosAt(ctx, roomID, tok.Stream)
}

// tokenBefore reports whether a token lies before a timeline event: by
// stream position for a stream token, in topological order for a
// topological one.
func tokenBefore(tok clientsync.PageToken, e store.Event) bool {
	if tok.Topological {
		return store.TopoPos{Depth: tok.Depth, Stream: tok.Stream}.Less(store.TopoPosOf(e))
	}
	return tok.Stream < e.StreamPos
}

// lastEventAt returns the room's topologically last timeline event at or
// before a token, or an error wrapping store.ErrNotFound if the room has
// none there. For a stream token that is the newest event in the room's
// history among those that had arrived by then (not the newest arrival,
// which may be late history), so the state after it is the room's state at
// that point of the stream.
func (a *roomAPI) lastEventAt(ctx context.Context, roomID id.RoomID, tok clientsync.PageToken) (store.Event, error) {
	pos, err := a.topoPos(ctx, roomID, tok)
	if err != nil {
		return store.Event{}, err
	}
	evs, err := a.db.RoomEventsTopo(ctx, roomID, pos, store.TopoPos{}, store.Backward, 1)
	if err != nil {
		return store.Event{}, err
	}
	if len(evs) == 0 {
		return store.Event{}, fmt.Errorf("last event of %s at %s: %w", roomID, tok, store.ErrNotFound)
	}
	return evs[0], nil
}
