package fedapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// pathRoomID reads the roomId path value; a malformed one is M_INVALID_PARAM.
func pathRoomID(r *http.Request) (id.RoomID, error) {
	roomID, err := id.ParseRoomID(r.PathValue("roomId"))
	if err != nil {
		return "", matrixerr.InvalidParam("roomId: %v", err)
	}
	return roomID, nil
}

// pathEventID reads the eventId path value; a malformed one is
// M_INVALID_PARAM.
func pathEventID(r *http.Request) (id.EventID, error) {
	eventID, err := id.ParseEventID(r.PathValue("eventId"))
	if err != nil {
		return "", matrixerr.InvalidParam("eventId: %v", err)
	}
	return eventID, nil
}

// pathRoomAndEvent reads the roomId and eventId path values, the room's
// first.
func pathRoomAndEvent(r *http.Request) (id.RoomID, id.EventID, error) {
	roomID, err := pathRoomID(r)
	if err != nil {
		return "", "", err
	}
	eventID, err := pathEventID(r)
	if err != nil {
		return "", "", err
	}
	return roomID, eventID, nil
}
