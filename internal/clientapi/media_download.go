// Spec: Client-Server API § Content repository (downloads and thumbnails)
// OpenAPI: data/api/client-server/authed-content-repo.yaml, data/api/client-server/content-repo.yaml
// https://spec.matrix.org/v1.19/client-server-api/#content-repository

package clientapi

import (
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/media"
)

// mediaCSP is the Content-Security-Policy of every media response: served
// content (an uploaded HTML or SVG file) runs no script and loads nothing
// in the server's origin.
const mediaCSP = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; " +
	"style-src 'unsafe-inline'; media-src 'self'; object-src 'self';"

// inlineTypes are the content types served inline; everything else is
// served as an attachment, so a browser saves it rather than renders it.
var inlineTypes = map[string]bool{
	"text/plain": true, "text/csv": true,
	"image/jpeg": true, "image/gif": true, "image/png": true, "image/apng": true, "image/webp": true, "image/avif": true,
	"video/mp4": true, "video/webm": true, "video/ogg": true, "video/quicktime": true,
	"audio/mp4": true, "audio/webm": true, "audio/aac": true, "audio/mpeg": true, "audio/ogg": true,
	"audio/wave": true, "audio/wav": true, "audio/x-wav": true, "audio/x-pn-wav": true, "audio/flac": true, "audio/x-flac": true,
}

// withMediaHeaders sets the security headers of media responses, errors
// included, before h runs.
func withMediaHeaders(h httpapi.HandlerFunc) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Security-Policy", mediaCSP)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		return h(w, r)
	}
}

// contentDisposition returns the Content-Disposition of content of the
// given type and file name: inline for the safe types, attachment
// otherwise, with the name encoded as RFC 6266 and RFC 5987 say (filename*
// for names that are not plain ASCII).
func contentDisposition(contentType, fileName string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	disp := "attachment"
	if err == nil && inlineTypes[strings.ToLower(mt)] {
		disp = "inline"
	}
	if fileName == "" {
		return disp
	}
	if v := mime.FormatMediaType(disp, map[string]string{"filename": fileName}); v != "" {
		return v
	}
	return disp
}

// allowRemote reads the legacy endpoints' allow_remote parameter: false
// serves other servers' media only when it is cached here, which is how
// servers ask each other without fetching in circles. The authenticated
// endpoints have no such parameter (it is then absent: true).
func allowRemote(r *http.Request) bool {
	return r.URL.Query().Get("allow_remote") != "false"
}

// serveMedia answers a download: the content with its uploaded type, the
// file name of the path (or the uploaded one) and Range support.
func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request) error {
	wait, err := media.WaitParam(r.URL.Query())
	if err != nil {
		return err
	}
	m, err := s.Media.Lookup(r.Context(), id.ServerName(r.PathValue("serverName")), r.PathValue("mediaId"), wait, allowRemote(r))
	if err != nil {
		return mediaErr(err)
	}
	f, err := s.Media.Open(r.Context(), m)
	if err != nil {
		return mediaErr(err)
	}
	defer f.Close()
	name := m.UploadName
	if n := r.PathValue("fileName"); n != "" {
		name = n
	}
	w.Header().Set("Content-Type", m.ContentType)
	w.Header().Set("Content-Disposition", contentDisposition(m.ContentType, name))
	w.Header().Set("Cache-Control", "private, max-age=86400")
	http.ServeContent(w, r, "", time.UnixMilli(m.CreatedTS), f)
	return nil
}

// serveThumbnail answers a thumbnail request.
func (s *Server) serveThumbnail(w http.ResponseWriter, r *http.Request) error {
	width, height, method, err := media.ThumbnailParams(r.URL.Query())
	if err != nil {
		return err
	}
	// The animated parameter is accepted and ignored: Hafen makes static
	// thumbnails only, which the spec allows for any value.
	wait, err := media.WaitParam(r.URL.Query())
	if err != nil {
		return err
	}
	th, f, err := s.Media.LookupThumbnail(r.Context(), id.ServerName(r.PathValue("serverName")), r.PathValue("mediaId"), width, height, method, wait, allowRemote(r))
	if err != nil {
		return mediaErr(err)
	}
	defer f.Close()
	w.Header().Set("Content-Type", th.ContentType)
	w.Header().Set("Content-Disposition", "inline")
	w.Header().Set("Cache-Control", "private, max-age=86400")
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
}

// legacyMedia serves a legacy unauthenticated endpoint while the operator
// allows them. Once they are switched off they are frozen, as the spec
// allows: media stored here before the switch (LegacyFrozenSince) is still
// served, media stored after it answers 404 M_NOT_FOUND, and so does
// everything when no freeze time is known.
func (s *Server) legacyMedia(h httpapi.HandlerFunc) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.LegacyMedia {
			return h(w, r)
		}
		frozen := errors.New("unauthenticated media is frozen on this server; use /_matrix/client/v1/media")
		if s.LegacyFrozenSince.IsZero() {
			return matrixerr.Wrap(matrixerr.KindNotFound, frozen, frozen.Error())
		}
		// Only what is stored here counts: a fetch of remote media now
		// would store it after the freeze.
		m, err := s.Media.Lookup(r.Context(), id.ServerName(r.PathValue("serverName")), r.PathValue("mediaId"), 0, false)
		if err != nil || m.CreatedTS >= s.LegacyFrozenSince.UnixMilli() {
			return matrixerr.Wrap(matrixerr.KindNotFound, frozen, frozen.Error())
		}
		return h(w, r)
	}
}

// authedMedia wraps a download handler that needs an access token.
func (s *Server) authedMedia(h httpapi.HandlerFunc) httpapi.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request, _ session) error { return h(w, r) })
}

// getContentAuthed downloads content.
//
// GET /_matrix/client/v1/media/download/{serverName}/{mediaId}
func (s *Server) getContentAuthed(w http.ResponseWriter, r *http.Request) error {
	return s.serveMedia(w, r)
}

// getContentOverrideNameAuthed downloads content under another file name.
//
// GET /_matrix/client/v1/media/download/{serverName}/{mediaId}/{fileName}
func (s *Server) getContentOverrideNameAuthed(w http.ResponseWriter, r *http.Request) error {
	return s.serveMedia(w, r)
}

// getContentThumbnailAuthed downloads a thumbnail of content.
//
// GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}
func (s *Server) getContentThumbnailAuthed(w http.ResponseWriter, r *http.Request) error {
	return s.serveThumbnail(w, r)
}

// getContent is the legacy unauthenticated getContentAuthed.
//
// GET /_matrix/media/v3/download/{serverName}/{mediaId}
func (s *Server) getContent(w http.ResponseWriter, r *http.Request) error { return s.serveMedia(w, r) }

// getContentOverrideName is the legacy unauthenticated
// getContentOverrideNameAuthed.
//
// GET /_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}
func (s *Server) getContentOverrideName(w http.ResponseWriter, r *http.Request) error {
	return s.serveMedia(w, r)
}

// getContentThumbnail is the legacy unauthenticated
// getContentThumbnailAuthed.
//
// GET /_matrix/media/v3/thumbnail/{serverName}/{mediaId}
func (s *Server) getContentThumbnail(w http.ResponseWriter, r *http.Request) error {
	return s.serveThumbnail(w, r)
}
