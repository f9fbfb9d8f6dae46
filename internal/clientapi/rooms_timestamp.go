// Spec: Client-Server API § Room event by timestamp (GET /timestamp_to_event)
// OpenAPI: data/api/client-server/room_event_by_timestamp.yaml
// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidtimestamp_to_event

package clientapi

import (
	"net/http"
	"strconv"

	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// timestampBatch and timestampScan bound the events one request reads
// while it skips those the user may not see.
const (
	timestampBatch = 50
	timestampScan  = 1000
)

// getEventByTimestamp returns the event of a room closest to a timestamp
// in a direction that the user may see.
//
// GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event
//
// Only this server's copy of the room is searched.
// TODO(#8): ask other servers in the room (/timestamp_to_event over
// federation) when the local copy has no event in that direction.
func (a *roomAPI) getEventByTimestamp(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Get("ts") == "" {
		return matrixerr.MissingParam("ts")
	}
	ts, err := strconv.ParseInt(q.Get("ts"), 10, 64)
	if err != nil || ts < 0 {
		return matrixerr.InvalidParam("ts must be a timestamp in milliseconds")
	}
	var dir store.Direction
	switch q.Get("dir") {
	case "f":
		dir = store.Forward
	case "b":
		dir = store.Backward
	case "":
		return matrixerr.MissingParam("dir")
	default:
		return matrixerr.InvalidParam("dir must be f or b")
	}
	ctx := r.Context()
	v, err := a.view(ctx, roomID, sess.UserID)
	if err != nil {
		return err
	}
	for offset := 0; offset < timestampScan; offset += timestampBatch {
		evs, err := a.db.RoomEventsByTimestamp(ctx, roomID, ts, dir, timestampBatch, offset)
		if err != nil {
			return err
		}
		visible, err := room.FilterVisible(ctx, a.db, sess.UserID, v.joined, evs)
		if err != nil {
			return err
		}
		if len(visible) > 0 {
			return httpapi.OK(w, map[string]any{"event_id": visible[0].EventID, "origin_server_ts": visible[0].OriginServerTS})
		}
		if len(evs) < timestampBatch {
			break
		}
	}
	return matrixerr.NotFound("no event found in that direction")
}
