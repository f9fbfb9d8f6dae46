package matrixerr

import "net/http"

// Kind classifies an error. Each Kind has exactly one errcode and one HTTP
// status, given by the table below; a few errcodes appear under two Kinds
// because the spec uses them with several statuses (M_UNKNOWN, M_UNRECOGNIZED).
type Kind int

// The kinds, in the order of the table. KindInternal is the zero value so
// that an Error built without a Kind is treated as a server failure.
const (
	// KindInternal is a failure of the server itself: 500 M_UNKNOWN. Its
	// message is logged and replaced by a generic one on the wire.
	KindInternal Kind = iota
	// KindUnknown is a request the server rejects for a reason no other
	// errcode describes: 400 M_UNKNOWN (e.g. "Bad login type").
	KindUnknown
	// KindConflict is a request that conflicts with existing data where
	// the spec answers 409 M_UNKNOWN (e.g. a room alias that exists).
	KindConflict
	KindBadJSON
	KindNotJSON
	KindForbidden
	KindLimitExceeded
	KindMissingToken
	KindUnknownToken
	KindNotFound
	KindUnrecognized
	// KindMethodNotAllowed is a known endpoint used with the wrong method:
	// 405 M_UNRECOGNIZED.
	KindMethodNotAllowed
	KindResourceLimitExceeded
	KindUnknownDevice
	KindUserLimitExceeded
	KindUserLocked
	KindUserSuspended
	KindBadState
	KindCannotLeaveServerNoticeRoom
	KindCaptchaInvalid
	KindCaptchaNeeded
	KindExclusive
	KindGuestAccessForbidden
	KindIncompatibleRoomVersion
	KindInvalidParam
	KindInvalidRoomState
	KindInvalidUsername
	KindMissingParam
	KindRoomInUse
	KindServerNotTrusted
	KindThreePIDAuthFailed
	KindThreePIDDenied
	KindThreePIDInUse
	KindThreePIDMediumNotSupported
	KindThreePIDNotFound
	KindTooLarge
	KindUnauthorized
	KindUnsupportedRoomVersion
	KindUserDeactivated
	KindUserInUse
	KindWeakPassword
	KindAppserviceLoginUnsupported
	KindInviteBlocked
	KindBadAlias
	KindNotYetUploaded
	KindCannotOverwriteMedia
	KindDuplicateAnnotation
	KindWrongRoomKeysVersion
	KindProfileTooLarge
	KindKeyTooLarge
	KindUnableToAuthoriseJoin
	KindUnableToGrantJoin
	KindInvalidSignature
	// KindServerControlled is a write of account data whose type the
	// server controls (m.fully_read, m.push_rules): 405 M_BAD_JSON.
	KindServerControlled
	// KindRemoteUnavailable is another server that did not answer a
	// request made on the client's behalf (a remote room directory or
	// space hierarchy): 502 M_UNKNOWN, as other servers answer.
	KindRemoteUnavailable
	// KindRemoteTooLarge is another server's media larger than this
	// server fetches for its clients: 502 M_TOO_LARGE.
	KindRemoteTooLarge

	numKinds
)

type entry struct {
	code   string
	status int
}

// table is the one place where a Kind becomes an errcode and an HTTP status.
// Codes and statuses follow the spec: "Common error codes" and "Other error
// codes" of the Client-Server API, and the responses of the endpoints that
// use endpoint-specific codes. Where the spec names a code without a status,
// the status is the one the spec's own examples or the major homeservers use.
var table = [numKinds]entry{
	KindInternal:                    {"M_UNKNOWN", http.StatusInternalServerError},
	KindUnknown:                     {"M_UNKNOWN", http.StatusBadRequest},
	KindConflict:                    {"M_UNKNOWN", http.StatusConflict},
	KindBadJSON:                     {"M_BAD_JSON", http.StatusBadRequest},
	KindNotJSON:                     {"M_NOT_JSON", http.StatusBadRequest},
	KindForbidden:                   {"M_FORBIDDEN", http.StatusForbidden},
	KindLimitExceeded:               {"M_LIMIT_EXCEEDED", http.StatusTooManyRequests},
	KindMissingToken:                {"M_MISSING_TOKEN", http.StatusUnauthorized},
	KindUnknownToken:                {"M_UNKNOWN_TOKEN", http.StatusUnauthorized},
	KindNotFound:                    {"M_NOT_FOUND", http.StatusNotFound},
	KindUnrecognized:                {"M_UNRECOGNIZED", http.StatusNotFound},
	KindMethodNotAllowed:            {"M_UNRECOGNIZED", http.StatusMethodNotAllowed},
	KindResourceLimitExceeded:       {"M_RESOURCE_LIMIT_EXCEEDED", http.StatusForbidden},
	KindUnknownDevice:               {"M_UNKNOWN_DEVICE", http.StatusBadRequest},
	KindUserLimitExceeded:           {"M_USER_LIMIT_EXCEEDED", http.StatusForbidden},
	KindUserLocked:                  {"M_USER_LOCKED", http.StatusUnauthorized},
	KindUserSuspended:               {"M_USER_SUSPENDED", http.StatusForbidden},
	KindBadState:                    {"M_BAD_STATE", http.StatusBadRequest},
	KindCannotLeaveServerNoticeRoom: {"M_CANNOT_LEAVE_SERVER_NOTICE_ROOM", http.StatusForbidden},
	KindCaptchaInvalid:              {"M_CAPTCHA_INVALID", http.StatusBadRequest},
	KindCaptchaNeeded:               {"M_CAPTCHA_NEEDED", http.StatusUnauthorized},
	KindExclusive:                   {"M_EXCLUSIVE", http.StatusBadRequest},
	KindGuestAccessForbidden:        {"M_GUEST_ACCESS_FORBIDDEN", http.StatusForbidden},
	KindIncompatibleRoomVersion:     {"M_INCOMPATIBLE_ROOM_VERSION", http.StatusBadRequest},
	KindInvalidParam:                {"M_INVALID_PARAM", http.StatusBadRequest},
	KindInvalidRoomState:            {"M_INVALID_ROOM_STATE", http.StatusBadRequest},
	KindInvalidUsername:             {"M_INVALID_USERNAME", http.StatusBadRequest},
	KindMissingParam:                {"M_MISSING_PARAM", http.StatusBadRequest},
	KindRoomInUse:                   {"M_ROOM_IN_USE", http.StatusBadRequest},
	KindServerNotTrusted:            {"M_SERVER_NOT_TRUSTED", http.StatusBadRequest},
	KindThreePIDAuthFailed:          {"M_THREEPID_AUTH_FAILED", http.StatusUnauthorized},
	KindThreePIDDenied:              {"M_THREEPID_DENIED", http.StatusForbidden},
	KindThreePIDInUse:               {"M_THREEPID_IN_USE", http.StatusBadRequest},
	KindThreePIDMediumNotSupported:  {"M_THREEPID_MEDIUM_NOT_SUPPORTED", http.StatusBadRequest},
	KindThreePIDNotFound:            {"M_THREEPID_NOT_FOUND", http.StatusBadRequest},
	KindTooLarge:                    {"M_TOO_LARGE", http.StatusRequestEntityTooLarge},
	KindUnauthorized:                {"M_UNAUTHORIZED", http.StatusUnauthorized},
	KindUnsupportedRoomVersion:      {"M_UNSUPPORTED_ROOM_VERSION", http.StatusBadRequest},
	KindUserDeactivated:             {"M_USER_DEACTIVATED", http.StatusForbidden},
	KindUserInUse:                   {"M_USER_IN_USE", http.StatusBadRequest},
	KindWeakPassword:                {"M_WEAK_PASSWORD", http.StatusBadRequest},
	KindAppserviceLoginUnsupported:  {"M_APPSERVICE_LOGIN_UNSUPPORTED", http.StatusBadRequest},
	KindInviteBlocked:               {"M_INVITE_BLOCKED", http.StatusForbidden},
	KindBadAlias:                    {"M_BAD_ALIAS", http.StatusBadRequest},
	KindNotYetUploaded:              {"M_NOT_YET_UPLOADED", http.StatusGatewayTimeout},
	KindCannotOverwriteMedia:        {"M_CANNOT_OVERWRITE_MEDIA", http.StatusConflict},
	KindDuplicateAnnotation:         {"M_DUPLICATE_ANNOTATION", http.StatusBadRequest},
	KindWrongRoomKeysVersion:        {"M_WRONG_ROOM_KEYS_VERSION", http.StatusForbidden},
	KindProfileTooLarge:             {"M_PROFILE_TOO_LARGE", http.StatusBadRequest},
	KindKeyTooLarge:                 {"M_KEY_TOO_LARGE", http.StatusBadRequest},
	KindUnableToAuthoriseJoin:       {"M_UNABLE_TO_AUTHORISE_JOIN", http.StatusBadRequest},
	KindRemoteUnavailable:           {"M_UNKNOWN", http.StatusBadGateway},
	KindRemoteTooLarge:              {"M_TOO_LARGE", http.StatusBadGateway},
	KindUnableToGrantJoin:           {"M_UNABLE_TO_GRANT_JOIN", http.StatusBadRequest},
	KindInvalidSignature:            {"M_INVALID_SIGNATURE", http.StatusBadRequest},
	KindServerControlled:            {"M_BAD_JSON", http.StatusMethodNotAllowed},
}

// Code returns the kind's errcode, for example "M_FORBIDDEN". An out of
// range Kind is treated as KindInternal.
func (k Kind) Code() string { return k.entry().code }

// Status returns the kind's HTTP status.
func (k Kind) Status() int { return k.entry().status }

func (k Kind) entry() entry {
	if k < 0 || k >= numKinds {
		return table[KindInternal]
	}
	return table[k]
}
