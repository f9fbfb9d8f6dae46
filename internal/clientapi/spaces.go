// Spec: Client-Server API § Spaces (the space hierarchy)
// OpenAPI: data/api/client-server/space_hierarchy.yaml (getSpaceHierarchy)
// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1roomsroomidhierarchy

package clientapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/spaces"
)

// Spaces walks space trees and describes single rooms (*spaces.Service).
type Spaces interface {
	Hierarchy(ctx context.Context, req spaces.Request) (*spaces.Page, error)
	Summary(ctx context.Context, user id.UserID, roomID id.RoomID, via []id.ServerName) (spaces.Room, string, error)
}

var _ Spaces = (*spaces.Service)(nil)

// getSpaceHierarchy answers a page of a space tree.
//
// GET /_matrix/client/v1/rooms/{roomId}/hierarchy
func (s *Server) getSpaceHierarchy(w http.ResponseWriter, r *http.Request, sess session) error {
	if s.Spaces == nil {
		return matrixerr.Unrecognized("getSpaceHierarchy is not configured")
	}
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	req := spaces.Request{User: sess.UserID, RoomID: roomID, MaxDepth: -1, From: q.Get("from")}
	switch q.Get("suggested_only") {
	case "", "false":
	case "true":
		req.SuggestedOnly = true
	default:
		return matrixerr.InvalidParam("suggested_only must be true or false")
	}
	limit, err := httpapi.PositiveParam(q, "limit", req.Limit)
	if err != nil {
		return err
	}
	req.Limit = limit
	depth, err := httpapi.NonNegativeParam(q, "max_depth", req.MaxDepth)
	if err != nil {
		return err
	}
	req.MaxDepth = depth
	page, err := s.Spaces.Hierarchy(r.Context(), req)
	switch {
	case errors.Is(err, spaces.ErrForbidden):
		return matrixerr.Wrap(matrixerr.KindForbidden, err, "you may not view this room")
	case errors.Is(err, spaces.ErrBadToken):
		return matrixerr.Wrap(matrixerr.KindInvalidParam, err, err.Error())
	case err != nil:
		return err
	}
	return httpapi.OK(w, page)
}
