package fedapi

import (
	"github.com/hafenchat/hafen/internal/httpapi"
)

// Routes registers the Server-Server API on rt, one route per line.
// Endpoints under /_matrix/federation/ require X-Matrix authentication;
// the key endpoints are public, as the spec defines them. Paths no route
// knows answer 404 M_UNRECOGNIZED (the router's fallback).
func (s *Server) Routes(rt *httpapi.Router) {
	rt.Handle("GET /_matrix/key/v2/server", httpapi.HandlerFunc(s.getServerKey))
	rt.Handle("GET /_matrix/key/v2/query/{serverName}", httpapi.HandlerFunc(s.perspectivesKeyQuery))
	rt.Handle("POST /_matrix/key/v2/query", httpapi.HandlerFunc(s.bulkPerspectivesKeyQuery))
	rt.Handle("GET /_matrix/federation/v1/version", s.optionallyAuthed(s.getVersion))
	rt.Handle("PUT /_matrix/federation/v1/send/{txnId}", s.authed(s.sendTransaction))
	rt.Handle("GET /_matrix/federation/v1/event/{eventId}", s.authed(s.getEvent))
	rt.Handle("GET /_matrix/federation/v1/state/{roomId}", s.authed(s.getRoomState))
	rt.Handle("GET /_matrix/federation/v1/state_ids/{roomId}", s.authed(s.getRoomStateIds))
	rt.Handle("GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}", s.authed(s.getEventAuth))
	rt.Handle("GET /_matrix/federation/v1/backfill/{roomId}", s.authed(s.backfillRoom))
	rt.Handle("POST /_matrix/federation/v1/get_missing_events/{roomId}", s.authed(s.getMissingPreviousEvents))
	rt.Handle("GET /_matrix/federation/v1/make_join/{roomId}/{userId}", s.authed(s.makeJoin))
	rt.Handle("PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}", s.authed(s.sendJoinV2))
	rt.Handle("GET /_matrix/federation/v1/make_leave/{roomId}/{userId}", s.authed(s.makeLeave))
	rt.Handle("PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId}", s.authed(s.sendLeaveV2))
	rt.Handle("PUT /_matrix/federation/v2/invite/{roomId}/{eventId}", s.authed(s.sendInviteV2))
	rt.Handle("GET /_matrix/federation/v1/make_knock/{roomId}/{userId}", s.authed(s.makeKnock))
	rt.Handle("PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId}", s.authed(s.sendKnock))
	rt.Handle("GET /_matrix/federation/v1/query/profile", s.authed(s.queryProfile))
	rt.Handle("GET /_matrix/federation/v1/query/directory", s.authed(s.queryRoomDirectory))
	if s.E2EE != nil {
		rt.Handle("GET /_matrix/federation/v1/user/devices/{userId}", s.authed(s.getUserDevices))
		rt.Handle("POST /_matrix/federation/v1/user/keys/query", s.authed(s.userKeysQuery))
		rt.Handle("POST /_matrix/federation/v1/user/keys/claim", s.authed(s.userKeysClaim))
	}
	rt.Handle("GET /_matrix/federation/v1/publicRooms", s.authed(s.getPublicRooms))
	rt.Handle("POST /_matrix/federation/v1/publicRooms", s.authed(s.queryPublicRooms))
	rt.Handle("GET /_matrix/federation/v1/hierarchy/{roomId}", s.authed(s.getSpaceHierarchy))
	rt.Handle("GET /_matrix/federation/v1/openid/userinfo", httpapi.HandlerFunc(s.exchangeOpenIdToken))
	rt.Handle("GET /_matrix/federation/v1/media/download/{mediaId}", s.authed(s.getContent))
	rt.Handle("GET /_matrix/federation/v1/media/thumbnail/{mediaId}", s.authed(s.getContentThumbnail))
}
