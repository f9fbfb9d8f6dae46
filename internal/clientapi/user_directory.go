// Spec: Client-Server API § User directory
// OpenAPI: data/api/client-server/users.yaml (searchUserDirectory)
// https://spec.matrix.org/v1.19/client-server-api/#user-directory

package clientapi

import (
	"context"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/userdir"
)

// UserDirectory finds users by name (*userdir.Service).
type UserDirectory interface {
	Search(ctx context.Context, searcher id.UserID, term string, limit int) (*userdir.Result, error)
}

var _ UserDirectory = (*userdir.Service)(nil)

// searchUserDirectory finds the users the searcher may find.
//
// POST /_matrix/client/v3/user_directory/search
func (s *Server) searchUserDirectory(w http.ResponseWriter, r *http.Request, sess session) error {
	if s.UserDirectory == nil {
		return matrixerr.Unrecognized("searchUserDirectory is not configured")
	}
	var body struct {
		SearchTerm *string `json:"search_term"`
		Limit      *int    `json:"limit"`
	}
	if err := httpapi.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.SearchTerm == nil {
		return matrixerr.MissingParam("search_term")
	}
	limit := userdir.DefaultLimit
	if body.Limit != nil {
		if *body.Limit < 0 {
			return matrixerr.InvalidParam("limit must be a non-negative integer")
		}
		limit = *body.Limit
	}
	res, err := s.UserDirectory.Search(r.Context(), sess.UserID, *body.SearchTerm, limit)
	if err != nil {
		return err
	}
	return httpapi.OK(w, res)
}
