// Spec: Client-Server API § Content repository (uploads and configuration)
// OpenAPI: data/api/client-server/content-repo.yaml, data/api/client-server/authed-content-repo.yaml
// https://spec.matrix.org/v1.19/client-server-api/#content-repository

package clientapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/media"
)

// ActionUpload covers media uploads and reservations of media IDs, per
// user.
const ActionUpload = "upload"

// mxcURI returns the mxc:// URI of a media ID.
func mxcURI(serverName id.ServerName, mediaID string) string {
	return "mxc://" + string(serverName) + "/" + mediaID
}

// uploadBody returns the request body capped at the maximum upload size. A
// request announcing a larger Content-Length is refused before its body is
// read; a chunked one fails as soon as it passes the limit.
func (s *Server) uploadBody(w http.ResponseWriter, r *http.Request) (io.Reader, error) {
	limit := s.Media.MaxUpload()
	if r.ContentLength > limit {
		return nil, matrixerr.TooLarge(fmt.Sprintf("the upload is larger than the limit of %d bytes", limit))
	}
	return bodyReader{http.MaxBytesReader(w, r.Body, limit)}, nil
}

// errBodyRead marks an error reading a request body: the client sent less
// than it announced, or went away.
var errBodyRead = errors.New("could not read the request body")

// bodyReader reads a request body, marking its read errors with
// errBodyRead so that they are told from the server's own (writing the
// file).
type bodyReader struct{ r io.Reader }

func (b bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %w", errBodyRead, err)
	}
	return n, err
}

// uploadOf returns the upload of a request: its body, Content-Type and the
// filename query parameter.
func (s *Server) uploadOf(w http.ResponseWriter, r *http.Request) (media.Upload, error) {
	body, err := s.uploadBody(w, r)
	if err != nil {
		return media.Upload{}, err
	}
	return media.Upload{
		ContentType: r.Header.Get("Content-Type"),
		FileName:    r.URL.Query().Get("filename"),
		Body:        body,
	}, nil
}

// mediaErr turns an error of the media service into the spec's Matrix
// error.
func mediaErr(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, media.ErrRemoteTooLarge):
		return matrixerr.New(matrixerr.KindRemoteTooLarge, "the remote content is too large for this server to serve")
	case errors.Is(err, media.ErrRemoteUnavailable):
		return matrixerr.Wrap(matrixerr.KindRemoteUnavailable, err, "the server of the content did not answer")
	case errors.As(err, &mbe), errors.Is(err, media.ErrTooLarge):
		return matrixerr.TooLarge("the upload is larger than the maximum upload size")
	case errors.Is(err, errBodyRead):
		return matrixerr.Wrap(matrixerr.KindUnknown, err, "could not read the request body")
	case errors.Is(err, media.ErrNotFound):
		return matrixerr.NotFound("media not found")
	case errors.Is(err, media.ErrForbidden):
		return matrixerr.Forbidden("the media ID was reserved by another user")
	case errors.Is(err, media.ErrCannotOverwrite):
		return matrixerr.New(matrixerr.KindCannotOverwriteMedia, "the media ID already has content")
	case errors.Is(err, media.ErrNotYetUploaded):
		return matrixerr.New(matrixerr.KindNotYetUploaded, "the content has not been uploaded yet")
	case errors.Is(err, media.ErrQuotaExceeded):
		// The spec lists a user's quota among the reasons for 403
		// M_FORBIDDEN on upload; the size limit per upload stays 413
		// M_TOO_LARGE.
		return matrixerr.Forbidden("the upload would exceed your media storage quota")
	case errors.Is(err, media.ErrTooManyPending):
		return matrixerr.LimitExceeded(time.Minute)
	case errors.Is(err, media.ErrNotImage):
		return matrixerr.Unknown("the content cannot be thumbnailed")
	case errors.Is(err, media.ErrImageTooLarge), errors.Is(err, media.ErrThumbnailTimeout):
		return matrixerr.TooLarge("the image is too large for the server to thumbnail")
	}
	return err
}

// uploadContent uploads content to a fresh media ID.
//
// POST /_matrix/media/v3/upload
func (s *Server) uploadContent(w http.ResponseWriter, r *http.Request, sess session) error {
	up, err := s.uploadOf(w, r)
	if err != nil {
		return err
	}
	m, err := s.Media.Upload(r.Context(), sess.UserID, up)
	if err != nil {
		return mediaErr(err)
	}
	return httpapi.OK(w, map[string]any{"content_uri": mxcURI(m.ServerName, m.MediaID)})
}

// createContent reserves a media ID whose content is uploaded later with
// uploadContentToMXC.
//
// POST /_matrix/media/v1/create
func (s *Server) createContent(w http.ResponseWriter, r *http.Request, sess session) error {
	m, err := s.Media.Create(r.Context(), sess.UserID)
	if err != nil {
		return mediaErr(err)
	}
	return httpapi.OK(w, map[string]any{
		"content_uri":       mxcURI(m.ServerName, m.MediaID),
		"unused_expires_at": m.ExpiresTS,
	})
}

// uploadContentToMXC uploads the content of a media ID reserved with
// createContent.
//
// PUT /_matrix/media/v3/upload/{serverName}/{mediaId}
func (s *Server) uploadContentToMXC(w http.ResponseWriter, r *http.Request, sess session) error {
	up, err := s.uploadOf(w, r)
	if err != nil {
		return err
	}
	_, err = s.Media.UploadTo(r.Context(), sess.UserID, id.ServerName(r.PathValue("serverName")), r.PathValue("mediaId"), up)
	if err != nil {
		return mediaErr(err)
	}
	return httpapi.OK(w, map[string]any{})
}

// getConfigAuthed returns the content repository's configuration.
//
// GET /_matrix/client/v1/media/config
func (s *Server) getConfigAuthed(w http.ResponseWriter, r *http.Request, sess session) error {
	return httpapi.OK(w, map[string]any{"m.upload.size": s.Media.MaxUpload()})
}

// getConfig is the legacy getConfigAuthed.
//
// GET /_matrix/media/v3/config
func (s *Server) getConfig(w http.ResponseWriter, r *http.Request, sess session) error {
	return s.getConfigAuthed(w, r, sess)
}
