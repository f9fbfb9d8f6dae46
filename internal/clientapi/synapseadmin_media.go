// Spec: Synapse Admin API § Media (not part of the Matrix spec)
// https://element-hq.github.io/synapse/latest/admin_api/media_admin_api.html
//
// Moderation tools and operators' scripts quarantine and delete media
// through these endpoints; Hafen answers the same requests with the same
// shapes, for server administrators only.

package clientapi

import (
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// adminMedia wraps a media admin handler: the requester must be a server
// administrator (403 M_FORBIDDEN otherwise), and the media's server name
// and ID are read from the path.
func (s *Server) adminMedia(h func(w http.ResponseWriter, r *http.Request, server id.ServerName, mediaID string) error) httpapi.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request, sess session) error {
		if err := s.requireAdmin(r.Context(), sess.UserID); err != nil {
			return err
		}
		server, mediaID := id.ServerName(r.PathValue("serverName")), r.PathValue("mediaId")
		if server == "" || mediaID == "" {
			return matrixerr.InvalidParam("serverName and mediaId are required")
		}
		httpapi.Logger(r).Info("media admin request", "user_id", sess.UserID, "origin", server, "media_id", mediaID)
		return h(w, r, server, mediaID)
	})
}

// quarantineMedia quarantines a media ID, of this server or another: it is
// kept, but answers 404 M_NOT_FOUND to every download and thumbnail, and
// other servers' media is not fetched again.
//
// POST /_synapse/admin/v1/media/quarantine/{serverName}/{mediaId}
func (s *Server) quarantineMedia(w http.ResponseWriter, r *http.Request, server id.ServerName, mediaID string) error {
	if err := s.Media.Quarantine(r.Context(), server, mediaID, true); err != nil {
		return mediaErr(err)
	}
	return httpapi.OK(w, map[string]any{})
}

// unquarantineMedia lifts a quarantine.
//
// POST /_synapse/admin/v1/media/unquarantine/{serverName}/{mediaId}
func (s *Server) unquarantineMedia(w http.ResponseWriter, r *http.Request, server id.ServerName, mediaID string) error {
	if err := s.Media.Quarantine(r.Context(), server, mediaID, false); err != nil {
		return mediaErr(err)
	}
	return httpapi.OK(w, map[string]any{})
}

// deleteMedia deletes a media ID with its thumbnails, and their files
// unless other media IDs share them. Unknown media is 404 M_NOT_FOUND.
//
// DELETE /_synapse/admin/v1/media/{serverName}/{mediaId}
func (s *Server) deleteMedia(w http.ResponseWriter, r *http.Request, server id.ServerName, mediaID string) error {
	if err := s.Media.Delete(r.Context(), server, mediaID); err != nil {
		return mediaErr(err)
	}
	return httpapi.OK(w, map[string]any{"deleted_media": []string{mediaID}, "total": 1})
}
