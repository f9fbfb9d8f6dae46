// Spec: Client-Server API § Content repository (the routes of the media endpoints)
// https://spec.matrix.org/v1.19/client-server-api/#content-repository

package clientapi

import "github.com/hafenchat/hafen/internal/httpapi"

// mediaRoutes registers the content repository's endpoints, one per line.
// Every one of them sends the media security headers, and the legacy
// unauthenticated downloads answer only while LegacyMedia is on.
func (s *Server) mediaRoutes(rt *httpapi.Router) {
	const v1, v3 = "/_matrix/client/v1/media", "/_matrix/media/v3"
	rt.Handle("POST "+v3+"/upload", withMediaHeaders(s.authed(s.limited(ActionUpload, s.uploadContent))))
	rt.Handle("POST /_matrix/media/v1/create", withMediaHeaders(s.authed(s.limited(ActionUpload, s.createContent))))
	rt.Handle("PUT "+v3+"/upload/{serverName}/{mediaId}", withMediaHeaders(s.authed(s.uploadContentToMXC)))
	rt.Handle("GET "+v1+"/config", withMediaHeaders(s.authed(s.getConfigAuthed)))
	rt.Handle("GET "+v3+"/config", withMediaHeaders(s.authed(s.getConfig)))

	rt.Handle("GET "+v1+"/download/{serverName}/{mediaId}", withMediaHeaders(s.authedMedia(s.getContentAuthed)))
	rt.Handle("GET "+v1+"/download/{serverName}/{mediaId}/{fileName}", withMediaHeaders(s.authedMedia(s.getContentOverrideNameAuthed)))
	rt.Handle("GET "+v1+"/thumbnail/{serverName}/{mediaId}", withMediaHeaders(s.authedMedia(s.getContentThumbnailAuthed)))
	rt.Handle("GET "+v3+"/download/{serverName}/{mediaId}", withMediaHeaders(s.legacyMedia(s.getContent)))
	rt.Handle("GET "+v3+"/download/{serverName}/{mediaId}/{fileName}", withMediaHeaders(s.legacyMedia(s.getContentOverrideName)))
	rt.Handle("GET "+v3+"/thumbnail/{serverName}/{mediaId}", withMediaHeaders(s.legacyMedia(s.getContentThumbnail)))

	if s.Previews != nil {
		// Previews fetch pages and store their image: they count as
		// uploads.
		rt.Handle("GET "+v1+"/preview_url", withMediaHeaders(s.authed(s.limited(ActionUpload, s.getURLPreviewAuthed))))
		rt.Handle("GET "+v3+"/preview_url", withMediaHeaders(s.authed(s.limited(ActionUpload, s.getURLPreview))))
	}
	rt.Handle("POST /_synapse/admin/v1/media/quarantine/{serverName}/{mediaId}", s.adminMedia(s.quarantineMedia))
	rt.Handle("POST /_synapse/admin/v1/media/unquarantine/{serverName}/{mediaId}", s.adminMedia(s.unquarantineMedia))
	rt.Handle("DELETE /_synapse/admin/v1/media/{serverName}/{mediaId}", s.adminMedia(s.deleteMedia))

	// Old bots and bridges still upload and download on the r0 paths;
	// uploading to a reserved media ID came after r0.
	rt.Alias(v3+"/", "/_matrix/media/r0/", func(pattern string) bool { return pattern == "PUT "+v3+"/upload/{serverName}/{mediaId}" })
}
