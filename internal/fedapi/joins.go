// Spec: Server-Server API § Joining Rooms
// OpenAPI: data/api/server-server/joins-v1.yaml (make_join), data/api/server-server/joins-v2.yaml
// https://spec.matrix.org/v1.19/server-server-api/#joining-rooms

package fedapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/fedevents"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/room"
)

// maxMembershipEventBody caps the body of send_join and send_leave: one
// event of at most 64 KiB.
const maxMembershipEventBody = 128 << 10

// makeJoin returns a join event template for a user of the asking server.
//
// GET /_matrix/federation/v1/make_join/{roomId}/{userId}
func (s *Server) makeJoin(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	return s.makeMembership(w, r, origin, "join", r.URL.Query()["ver"])
}

// sendJoinV2 accepts a join event signed by the asking server and answers
// with the room's state before it and the auth chain.
//
// PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}
func (s *Server) sendJoinV2(w http.ResponseWriter, r *http.Request, origin id.ServerName) error {
	// omit_members is a request the spec lets the server ignore: the full
	// state is sent and members_omitted is false.
	res, err := s.sendMembership(w, r, origin, "join")
	if err != nil {
		return err
	}
	body := map[string]any{
		"state":           pduList(res.State),
		"auth_chain":      pduList(res.AuthChain),
		"members_omitted": false,
	}
	if res.Signed {
		body["event"] = res.Event
	}
	return httpapi.OK(w, body)
}

// makeMembership answers make_join and make_leave.
func (s *Server) makeMembership(w http.ResponseWriter, r *http.Request, origin id.ServerName, membership string, versions []string) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	user, err := id.ParseUserID(r.PathValue("userId"))
	if err != nil {
		return matrixerr.InvalidParam("userId: %v", err)
	}
	tmpl, version, err := s.Events.MakeMembership(r.Context(), origin, roomID, user, membership, versions)
	if errors.Is(err, fedevents.ErrIncompatibleVersion) {
		return matrixerr.IncompatibleRoomVersion(version)
	}
	if err != nil {
		return membershipError(err)
	}
	return httpapi.OK(w, map[string]any{"room_version": version, "event": tmpl})
}

// sendMembership reads the event of send_join and send_leave and hands it
// to the service.
func (s *Server) sendMembership(w http.ResponseWriter, r *http.Request, origin id.ServerName, membership string) (fedevents.MembershipResult, error) {
	roomID, eventID, err := pathRoomAndEvent(r)
	if err != nil {
		return fedevents.MembershipResult{}, err
	}
	var raw json.RawMessage
	if err := httpapi.DecodeJSONLimit(w, r, &raw, maxMembershipEventBody); err != nil {
		return fedevents.MembershipResult{}, err
	}
	res, err := s.Events.SendMembership(r.Context(), origin, roomID, eventID, raw, membership)
	if err != nil {
		return fedevents.MembershipResult{}, membershipError(err)
	}
	return res, nil
}

// membershipError maps the membership endpoints' errors to Matrix errors.
func membershipError(err error) error {
	switch {
	case errors.Is(err, fedevents.ErrUnableToAuthorise):
		return matrixerr.New(matrixerr.KindUnableToAuthoriseJoin, "%v", err)
	case errors.Is(err, fedevents.ErrWrongServer), errors.Is(err, fedevents.ErrMembershipRefused),
		errors.Is(err, room.ErrForbidden):
		return matrixerr.Forbidden(err.Error())
	case errors.Is(err, fedevents.ErrNotInRoom):
		return matrixerr.NotFound(err.Error())
	case errors.Is(err, fedevents.ErrBadEvent), errors.Is(err, room.ErrInvalidRequest):
		return matrixerr.InvalidParam("%v", err)
	case errors.Is(err, room.ErrUnableToGrantJoin):
		return matrixerr.New(matrixerr.KindUnableToGrantJoin, "%v", err)
	}
	return eventsError(err)
}
