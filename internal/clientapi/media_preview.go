// Spec: Client-Server API § Content repository (URL previews)
// OpenAPI: data/api/client-server/authed-content-repo.yaml, data/api/client-server/content-repo.yaml
// https://spec.matrix.org/v1.19/client-server-api/#get_matrixclientv1mediapreview_url

package clientapi

import (
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/media"
)

// getURLPreviewAuthed returns the OpenGraph data of a URL, its og:image
// stored as media of this server. The ts parameter is accepted and
// ignored: the server answers with the preview it has, which the spec
// allows.
//
// GET /_matrix/client/v1/media/preview_url
func (s *Server) getURLPreviewAuthed(w http.ResponseWriter, r *http.Request, sess session) error {
	u := r.URL.Query().Get("url")
	if u == "" {
		return matrixerr.MissingParam("url")
	}
	pv, err := s.Previews.Preview(r.Context(), sess.UserID, u)
	switch {
	case errors.Is(err, media.ErrBadURL):
		return matrixerr.InvalidParam("url must be an absolute http or https URL")
	case errors.Is(err, media.ErrPreviewDenied):
		return matrixerr.Forbidden("this server does not preview that address")
	case errors.Is(err, media.ErrPreviewFailed):
		return matrixerr.Wrap(matrixerr.KindRemoteUnavailable, err, "the page could not be fetched")
	case err != nil:
		return err
	}
	return httpapi.OK(w, pv)
}

// getURLPreview is the legacy getURLPreviewAuthed.
//
// GET /_matrix/media/v3/preview_url
func (s *Server) getURLPreview(w http.ResponseWriter, r *http.Request, sess session) error {
	return s.getURLPreviewAuthed(w, r, sess)
}
