package clientapi

import "github.com/hafenchat/hafen/internal/httpapi"

// Routes registers the endpoints of s on rt, one per line. Endpoints that
// need an access token go through s.authed.
func (s *Server) Routes(rt *httpapi.Router) {
	rt.Handle("GET /_matrix/client/versions", httpapi.HandlerFunc(s.getVersions))
	rt.Handle("GET /.well-known/matrix/client", httpapi.HandlerFunc(s.getWellknown))
	rt.Handle("GET /.well-known/matrix/server", httpapi.HandlerFunc(s.getWellKnown))
	rt.Handle("GET /.well-known/matrix/support", httpapi.HandlerFunc(s.getWellknownSupport))
	rt.Handle("GET /_matrix/client/v3/capabilities", s.authed(s.getCapabilities))

	rt.Handle("POST /_matrix/client/v3/register", httpapi.HandlerFunc(s.register))
	rt.Handle("GET /_matrix/client/v3/register/available", httpapi.HandlerFunc(s.checkUsernameAvailability))
	rt.Handle("GET /_matrix/client/v1/register/m.login.registration_token/validity", httpapi.HandlerFunc(s.registrationTokenValidity))

	rt.Handle("GET /_matrix/client/v3/login", httpapi.HandlerFunc(s.getLoginFlows))
	rt.Handle("POST /_matrix/client/v3/login", httpapi.HandlerFunc(s.login))
	rt.Handle("POST /_matrix/client/v1/login/get_token", s.authed(s.generateLoginToken))
	rt.Handle("POST /_matrix/client/v3/refresh", httpapi.HandlerFunc(s.refresh))
	rt.Handle("POST /_matrix/client/v3/logout", s.authed(s.logout))
	rt.Handle("POST /_matrix/client/v3/logout/all", s.authed(s.logoutAll))

	rt.Handle("GET /_matrix/client/v3/account/whoami", s.authed(s.getTokenOwner))
	rt.Handle("POST /_matrix/client/v3/account/password", s.authed(s.changePassword))
	rt.Handle("POST /_matrix/client/v3/account/deactivate", s.authed(s.deactivateAccount))

	rt.Handle("GET /_matrix/client/v3/account/3pid", s.authed(s.getAccount3PIDs))
	rt.Handle("POST /_matrix/client/v3/account/3pid/email/requestToken", httpapi.HandlerFunc(s.requestTokenTo3PIDEmail))
	rt.Handle("POST /_matrix/client/v3/account/3pid/msisdn/requestToken", httpapi.HandlerFunc(s.requestTokenTo3PIDMSISDN))
	rt.Handle("POST /_matrix/client/v3/account/3pid/add", s.authed(s.add3PID))
	rt.Handle("POST /_matrix/client/v3/account/3pid/bind", s.authed(s.bind3PID))
	rt.Handle("POST /_matrix/client/v3/account/3pid/delete", s.authed(s.delete3PIDFromAccount))
	rt.Handle("POST /_matrix/client/v3/account/3pid/unbind", s.authed(s.unbind3PIDFromAccount))

	rt.Handle("GET /_matrix/client/v3/thirdparty/protocols", s.authed(s.getProtocols))
	rt.Handle("GET /_matrix/client/v3/thirdparty/protocol/{protocol}", s.authed(s.thirdPartyNotFound("the protocol is unknown")))
	rt.Handle("GET /_matrix/client/v3/thirdparty/location/{protocol}", s.authed(s.thirdPartyNotFound("no portal rooms were found")))
	rt.Handle("GET /_matrix/client/v3/thirdparty/user/{protocol}", s.authed(s.thirdPartyNotFound("no third-party users were found")))
	rt.Handle("GET /_matrix/client/v3/thirdparty/location", s.authed(s.thirdPartyNotFound("the room alias is no portal room")))
	rt.Handle("GET /_matrix/client/v3/thirdparty/user", s.authed(s.thirdPartyNotFound("the user is no third-party user")))
	rt.Handle("GET /_matrix/client/v3/voip/turnServer", s.authed(s.getTurnServer))
	s.reportRoutes(rt)

	rt.Handle("GET /_matrix/client/v3/devices", s.authed(s.getDevices))
	rt.Handle("GET /_matrix/client/v3/devices/{deviceId}", s.authed(s.getDevice))
	rt.Handle("PUT /_matrix/client/v3/devices/{deviceId}", s.authed(s.updateDevice))
	rt.Handle("DELETE /_matrix/client/v3/devices/{deviceId}", s.authed(s.deleteDevice))
	rt.Handle("POST /_matrix/client/v3/delete_devices", s.authed(s.deleteDevices))

	rt.Handle("POST /_matrix/client/v3/keys/upload", s.authed(s.uploadKeys))
	rt.Handle("POST /_matrix/client/v3/keys/query", s.authed(s.queryKeys))
	rt.Handle("POST /_matrix/client/v3/keys/claim", s.authed(s.claimKeys))
	rt.Handle("GET /_matrix/client/v3/keys/changes", s.authed(s.getKeysChanges))
	rt.Handle("POST /_matrix/client/v3/keys/device_signing/upload", s.authed(s.uploadCrossSigningKeys))
	rt.Handle("POST /_matrix/client/v3/keys/signatures/upload", s.authed(s.uploadCrossSigningSignatures))

	rt.Handle("POST /_matrix/client/v3/room_keys/version", s.authed(s.postRoomKeysVersion))
	rt.Handle("GET /_matrix/client/v3/room_keys/version", s.authed(s.getRoomKeysVersionCurrent))
	rt.Handle("GET /_matrix/client/v3/room_keys/version/{version}", s.authed(s.getRoomKeysVersion))
	rt.Handle("PUT /_matrix/client/v3/room_keys/version/{version}", s.authed(s.putRoomKeysVersion))
	rt.Handle("DELETE /_matrix/client/v3/room_keys/version/{version}", s.authed(s.deleteRoomKeysVersion))
	rt.Handle("PUT /_matrix/client/v3/room_keys/keys", s.authed(s.putRoomKeys))
	rt.Handle("GET /_matrix/client/v3/room_keys/keys", s.authed(s.getRoomKeys))
	rt.Handle("DELETE /_matrix/client/v3/room_keys/keys", s.authed(s.deleteRoomKeys))
	rt.Handle("PUT /_matrix/client/v3/room_keys/keys/{roomId}", s.authed(s.putRoomKeysByRoomId))
	rt.Handle("GET /_matrix/client/v3/room_keys/keys/{roomId}", s.authed(s.getRoomKeysByRoomId))
	rt.Handle("DELETE /_matrix/client/v3/room_keys/keys/{roomId}", s.authed(s.deleteRoomKeysByRoomId))
	rt.Handle("PUT /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}", s.authed(s.putRoomKeyBySessionId))
	rt.Handle("GET /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}", s.authed(s.getRoomKeyBySessionId))
	rt.Handle("DELETE /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}", s.authed(s.deleteRoomKeyBySessionId))

	rt.Handle("PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}", s.authed(s.sendToDevice))

	rt.Handle("PUT "+msc3814+"/dehydrated_device", s.authed(s.putDehydratedDevice))
	rt.Handle("GET "+msc3814+"/dehydrated_device", s.authed(s.getDehydratedDevice))
	rt.Handle("DELETE "+msc3814+"/dehydrated_device", s.authed(s.deleteDehydratedDevice))
	rt.Handle("POST "+msc3814+"/dehydrated_device/{deviceId}/events", s.authed(s.getDehydratedDeviceEvents))

	rt.Handle("GET /_matrix/client/v3/sync", s.authed(s.sync))
	rt.Handle("POST /_matrix/client/v3/user/{userId}/filter", s.authed(s.defineFilter))
	rt.Handle("GET /_matrix/client/v3/user/{userId}/filter/{filterId}", s.authed(s.getFilter))

	s.accountDataRoutes(rt)

	if s.Registration.SharedSecret != "" {
		rt.Handle("GET /_synapse/admin/v1/register", httpapi.HandlerFunc(s.getRegisterNonce))
		rt.Handle("POST /_synapse/admin/v1/register", httpapi.HandlerFunc(s.sharedSecretRegister))
	}

	s.roomRoutes(rt, s.Rooms)
	rt.Handle("GET /_matrix/client/v1/rooms/{roomId}/hierarchy", s.authed(s.getSpaceHierarchy))
	rt.Handle("POST /_matrix/client/v3/user_directory/search", s.authed(s.searchUserDirectory))
	rt.Handle("POST /_matrix/client/v3/user/{userId}/openid/request_token", s.authed(s.requestOpenIdToken))
	rt.Handle("GET /_matrix/client/v3/pushers", s.authed(s.getPushers))
	rt.Handle("POST /_matrix/client/v3/pushers/set", s.authed(s.postPusher))

	if s.Media != nil {
		s.mediaRoutes(rt)
	}

	// Old bots and bridges still call the endpoints that existed in r0 on
	// their r0 paths; they behave as their v3 successors.
	rt.Alias("/_matrix/client/v3/", "/_matrix/client/r0/", func(pattern string) bool { return notInR0[pattern] })

	registerUnimplemented(rt) // last: the spec's operations no route above serves
}

// notInR0 are the routes under /_matrix/client/v3/ that the spec added
// after r0 (r0.6.1), so that they have no r0 path.
var notInR0 = map[string]bool{
	"POST /_matrix/client/v3/knock/{roomIdOrAlias}":        true, // v1.1
	"DELETE /_matrix/client/v3/profile/{userId}/{keyName}": true, // v1.16
}

// accountDataRoutes registers the account data, tag and push rule
// endpoints, one per line.
func (s *Server) accountDataRoutes(rt *httpapi.Router) {
	rt.Handle("PUT /_matrix/client/v3/user/{userId}/account_data/{type}", s.authed(s.setAccountData))
	rt.Handle("GET /_matrix/client/v3/user/{userId}/account_data/{type}", s.authed(s.getAccountData))
	rt.Handle("PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}", s.authed(s.setAccountDataPerRoom))
	rt.Handle("GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}", s.authed(s.getAccountDataPerRoom))
	rt.Handle("GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags", s.authed(s.getRoomTags))
	rt.Handle("PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}", s.authed(s.setRoomTag))
	rt.Handle("DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}", s.authed(s.deleteRoomTag))

	rt.Handle("GET /_matrix/client/v3/pushrules/{$}", s.authed(s.getPushRules))
	rt.Handle("GET /_matrix/client/v3/pushrules/global/{$}", s.authed(s.getPushRulesGlobal))
	rt.Handle("GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}", s.authed(s.getPushRule))
	rt.Handle("DELETE /_matrix/client/v3/pushrules/global/{kind}/{ruleId}", s.authed(s.deletePushRule))
	rt.Handle("PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}", s.authed(s.setPushRule))
	rt.Handle("GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled", s.authed(s.isPushRuleEnabled))
	rt.Handle("PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/enabled", s.authed(s.setPushRuleEnabled))
	rt.Handle("GET /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions", s.authed(s.getPushRuleActions))
	rt.Handle("PUT /_matrix/client/v3/pushrules/global/{kind}/{ruleId}/actions", s.authed(s.setPushRuleActions))
}
