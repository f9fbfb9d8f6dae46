// Spec: Server-Server API § Content Repository
// OpenAPI: data/api/server-server/content_repository.yaml
// https://spec.matrix.org/v1.19/server-server-api/#content-repository

package fedapi

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/media"
	"github.com/hafenchat/hafen/internal/store"
)

// Media is what the media endpoints need of the content repository
// (*media.Service).
type Media interface {
	Lookup(ctx context.Context, serverName id.ServerName, mediaID string, wait time.Duration, allowRemote bool) (store.Media, error)
	Open(ctx context.Context, m store.Media) (io.ReadSeekCloser, error)
	LookupThumbnail(ctx context.Context, serverName id.ServerName, mediaID string, width, height int, method string, wait time.Duration, allowRemote bool) (store.Thumbnail, io.ReadSeekCloser, error)
}

var _ Media = (*media.Service)(nil)

// fedMediaErr maps the media service's errors to the spec's answers.
func fedMediaErr(err error) error {
	switch {
	case errors.Is(err, media.ErrNotFound):
		return matrixerr.NotFound("media not found")
	case errors.Is(err, media.ErrNotYetUploaded):
		return matrixerr.New(matrixerr.KindNotYetUploaded, "the content has not been uploaded yet")
	case errors.Is(err, media.ErrNotImage):
		return matrixerr.Unknown("cannot generate a thumbnail of the content")
	case errors.Is(err, media.ErrImageTooLarge), errors.Is(err, media.ErrThumbnailTimeout):
		return matrixerr.TooLarge("the content is too large to thumbnail")
	}
	return err
}

// writeMultipart answers with the two parts the spec asks for: the
// metadata (an empty JSON object) and the content.
func writeMultipart(w http.ResponseWriter, contentType, disposition string, body io.Reader) error {
	mw := multipart.NewWriter(w)
	// The first write sends 200.
	w.Header().Set("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mw.Boundary()}))
	meta, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json"}})
	if err != nil {
		return nil // the client went away; the status is sent
	}
	if _, err := meta.Write([]byte("{}")); err != nil {
		return nil
	}
	part, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {contentType}, "Content-Disposition": {disposition}})
	if err != nil {
		return nil
	}
	if _, err := io.Copy(part, body); err != nil {
		return nil
	}
	mw.Close()
	return nil
}

// getContent serves this server's media to another server. Media this
// server only caches is not served on: the asking server fetches it from
// its origin.
//
// GET /_matrix/federation/v1/media/download/{mediaId}
func (s *Server) getContent(w http.ResponseWriter, r *http.Request, _ id.ServerName) error {
	if s.Media == nil {
		return matrixerr.NotFound("media not found")
	}
	wait, err := media.WaitParam(r.URL.Query())
	if err != nil {
		return err
	}
	m, err := s.Media.Lookup(r.Context(), s.ServerName, r.PathValue("mediaId"), wait, false)
	if err != nil {
		return fedMediaErr(err)
	}
	f, err := s.Media.Open(r.Context(), m)
	if err != nil {
		return fedMediaErr(err)
	}
	defer f.Close()
	disp := "attachment"
	if m.UploadName != "" {
		if v := mime.FormatMediaType("attachment", map[string]string{"filename": m.UploadName}); v != "" {
			disp = v
		}
	}
	return writeMultipart(w, m.ContentType, disp, f)
}

// getContentThumbnail serves a thumbnail of this server's media to
// another server.
//
// GET /_matrix/federation/v1/media/thumbnail/{mediaId}
func (s *Server) getContentThumbnail(w http.ResponseWriter, r *http.Request, _ id.ServerName) error {
	if s.Media == nil {
		return matrixerr.NotFound("media not found")
	}
	width, height, method, err := media.ThumbnailParams(r.URL.Query())
	if err != nil {
		return err
	}
	wait, err := media.WaitParam(r.URL.Query())
	if err != nil {
		return err
	}
	th, f, err := s.Media.LookupThumbnail(r.Context(), s.ServerName, r.PathValue("mediaId"), width, height, method, wait, false)
	if err != nil {
		return fedMediaErr(err)
	}
	defer f.Close()
	return writeMultipart(w, th.ContentType, "inline", f)
}
