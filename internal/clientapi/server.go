package clientapi

import (
	"context"
	"errors"
	"time"

	"github.com/hafenchat/hafen/internal/account"
	"github.com/hafenchat/hafen/internal/clientsync"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/media"
)

// AccountStore is what the account endpoints need of the account
// service. account.Service implements it.
type AccountStore interface {
	// CreateUser creates a local account. It returns an error matching
	// ErrUserExists when the user ID is taken.
	CreateUser(ctx context.Context, userID id.UserID, passwordHash string, admin bool) error
	// UserPassword returns the bcrypt hash of a local user's password and
	// whether the account is deactivated, or an error matching ErrNotFound.
	UserPassword(ctx context.Context, userID id.UserID) (hash string, deactivated bool, err error)
	// UserExists reports whether the user ID is taken (deactivated accounts
	// included: their IDs are never reused).
	UserExists(ctx context.Context, userID id.UserID) (bool, error)
	// SetPassword replaces a user's password hash and, with logout,
	// removes every device but keep (all when keep is empty) and their
	// access tokens, in one transaction.
	SetPassword(ctx context.Context, userID id.UserID, hash string, logout bool, keep id.DeviceID) error
	// DeactivateUser marks the account deactivated and removes all its
	// devices and access tokens.
	DeactivateUser(ctx context.Context, userID id.UserID) error
	// CheckAdmin returns an error matching account.ErrNotAdmin unless the
	// user is a server administrator.
	CheckAdmin(ctx context.Context, userID id.UserID) error

	// CreateDevice creates a device, or keeps an existing one with that ID
	// (its display name unchanged), and returns whether it was created.
	CreateDevice(ctx context.Context, userID id.UserID, deviceID id.DeviceID, displayName string) (created bool, err error)
	// Device returns one device of the user, or an error matching
	// ErrNotFound.
	Device(ctx context.Context, userID id.UserID, deviceID id.DeviceID) (Device, error)
	// Devices returns all devices of the user.
	Devices(ctx context.Context, userID id.UserID) ([]Device, error)
	// SetDeviceDisplayName renames a device; ErrNotFound when it does not
	// exist.
	SetDeviceDisplayName(ctx context.Context, userID id.UserID, deviceID id.DeviceID, name string) error
	// DeleteDevices removes the devices and their access tokens. Unknown
	// IDs are ignored.
	DeleteDevices(ctx context.Context, userID id.UserID, deviceIDs []id.DeviceID) error
	// DeleteDevicesExcept removes every device of the user but keep (and
	// their access tokens); an empty keep removes them all.
	DeleteDevicesExcept(ctx context.Context, userID id.UserID, keep id.DeviceID) error
	// DeviceSeen records that a device made a request from ip, for its
	// last_seen_ts and last_seen_ip (written at most once in a while).
	DeviceSeen(ctx context.Context, userID id.UserID, deviceID id.DeviceID, ip string) error

	// CreateAccessToken stores a new access token for a device (the store
	// keeps only its hash), replacing any token the device had.
	CreateAccessToken(ctx context.Context, token string, userID id.UserID, deviceID id.DeviceID) error
	// AccessTokenOwner returns the user and device of a token, or an error
	// matching ErrNotFound.
	AccessTokenOwner(ctx context.Context, token string) (id.UserID, id.DeviceID, error)

	// RegistrationTokenValid reports whether a registration token exists,
	// has uses left and has not expired at now.
	RegistrationTokenValid(ctx context.Context, token string, now time.Time) (bool, error)
	// UseRegistrationToken counts one use of the token if it is valid at
	// now, atomically; it returns an error matching ErrNotFound otherwise.
	UseRegistrationToken(ctx context.Context, token string, now time.Time) error

	// CreateUIASession stores a new User-Interactive Authentication session
	// and deletes some (a bounded number) of the sessions created before
	// expireBefore.
	CreateUIASession(ctx context.Context, sess UIASession, expireBefore time.Time) error
	// UIASession returns a session, or an error matching ErrNotFound.
	UIASession(ctx context.Context, sessionID string) (UIASession, error)
	// UpdateUIASession stores a session's completed stages and
	// registration token, or returns an error matching ErrNotFound when the
	// session is gone.
	UpdateUIASession(ctx context.Context, sess UIASession) error
	// DeleteUIASession deletes a session and reports whether it was still
	// there, atomically: of concurrent callers only one gets true.
	DeleteUIASession(ctx context.Context, sessionID string) (bool, error)
}

// Sentinel errors an AccountStore returns (possibly wrapped): the account
// service's.
var (
	// ErrNotFound: the user, device or token does not exist.
	ErrNotFound = account.ErrNotFound
	// ErrUserExists: the user ID is taken.
	ErrUserExists = account.ErrUserExists
)

// Device is a device as the store keeps it.
type Device = account.Device

// Registration is the registration policy.
type Registration struct {
	// Enabled opens /register.
	Enabled bool
	// RequireToken makes /register require m.login.registration_token
	// instead of m.login.dummy.
	RequireToken bool
	// SharedSecret, when not empty, enables /_synapse/admin/v1/register.
	SharedSecret string
}

// Rate-limit actions used by this package, the keys of the rates given to
// httpapi.NewRateLimiter.
const (
	ActionLogin = "login"
	// ActionFailedLogin counts failed logins per account (user ID).
	ActionFailedLogin = "failed_login"
	ActionRegister    = "register"
	ActionAccount     = "account"
	// ActionMessage covers sending events into a room (messages, state,
	// redactions), per user.
	ActionMessage = "message"
	// ActionJoin covers joins and knocks, per user.
	ActionJoin = "join"
	// ActionInvite covers invites, per user.
	ActionInvite = "invite"
	// ActionCreateRoom covers room creation, per user.
	ActionCreateRoom = "create_room"
)

// Server serves the Client-Server API. Fill its fields, then call Routes.
type Server struct {
	// ServerName is the homeserver's name, the domain of local user IDs.
	ServerName id.ServerName
	// Store is the account storage.
	Store AccountStore
	// Limiter rate-limits logins, registrations and password checks; nil
	// disables rate limiting.
	Limiter *httpapi.RateLimiter
	// Registration is the registration policy.
	Registration Registration
	// DefaultRoomVersion is the version of rooms created without one,
	// announced in /capabilities; nil means roomversion.Default.
	DefaultRoomVersion *roomversion.Version
	// PublicBaseURL is announced in /.well-known/matrix/client and in the
	// login response; empty means derived from the request.
	PublicBaseURL string
	// WellKnownServer is announced in /.well-known/matrix/server; empty
	// disables that document (404).
	WellKnownServer string
	// Support is announced in /.well-known/matrix/support; empty answers
	// 404 there.
	Support Support
	// BcryptCost is the bcrypt cost of new password hashes; 0 means
	// bcrypt.DefaultCost. Tests lower it.
	BcryptCost int
	// Rooms serves the room and profile endpoints; nil leaves them out.
	Rooms *Rooms
	// Sync answers /sync.
	Sync *clientsync.Service
	// Filters keeps users' sync filters.
	Filters Filters
	// AccountData keeps users' account data, tags and push rules.
	AccountData AccountData
	// Receipts keeps read receipts and read markers.
	Receipts Receipts
	// Typing holds who is typing (sync's memory).
	Typing Typing
	// Presence holds users' presence (sync's memory).
	Presence Presence
	// Keys keeps the end-to-end encryption keys.
	Keys Keys
	// KeyBackups keeps users' server-side key backups.
	KeyBackups KeyBackups
	// ToDevice sends to-device messages.
	ToDevice ToDevice
	// DehydratedDevices keeps users' dehydrated devices (MSC3814).
	DehydratedDevices DehydratedDevices
	// UserDirectory finds users by name; nil makes its endpoint answer
	// M_UNRECOGNIZED.
	UserDirectory UserDirectory
	// ShortTokens issues OpenID and login tokens; nil makes their
	// endpoints answer M_UNRECOGNIZED.
	ShortTokens ShortTokens
	// Refresher keeps refresh tokens; with AccessTokenLifetime above 0,
	// clients that ask get refresh tokens and access tokens that expire
	// after it. Off (0) access tokens never expire.
	Refresher           Refresher
	AccessTokenLifetime time.Duration
	// LoginTokenLifetime is how long a token of /login/get_token is
	// valid; 0 turns the endpoint off.
	LoginTokenLifetime time.Duration
	// Push keeps pushers and lists notifications; nil makes their
	// endpoints answer M_UNRECOGNIZED.
	Push Push
	// Reports stores users' content reports.
	Reports Reports
	// Spaces walks space trees; nil makes /hierarchy answer
	// M_UNRECOGNIZED.
	Spaces Spaces
	// Media is the content repository; nil leaves its endpoints out.
	Media *media.Service
	// LegacyFrozenSince is when the legacy media endpoints were switched
	// off (LegacyMedia false): media stored before it is still served by
	// them. Zero serves none.
	LegacyFrozenSince time.Time
	// Previews makes URL previews; nil leaves preview_url unimplemented
	// (404 M_UNRECOGNIZED), the default.
	Previews *media.Previewer
	// TURN is the TURN server for calls; none when it has no URIs.
	TURN TURN
	// LegacyMedia serves the unauthenticated /_matrix/media/v3 download
	// and thumbnail endpoints; off, they answer 404 M_NOT_FOUND.
	LegacyMedia bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	nonces  nonceSet
	filters parsedFilters
}

// defaultRoomVersion returns the version of new rooms that ask for none.
func (s *Server) defaultRoomVersion() *roomversion.Version {
	if s.DefaultRoomVersion != nil {
		return s.DefaultRoomVersion
	}
	return roomversion.Default
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// isNotFound reports whether a store error means "does not exist".
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// asMatrixErr returns err as a *matrixerr.Error, wrapping unknown errors as
// internal ones.
func asMatrixErr(err error) *matrixerr.Error {
	var me *matrixerr.Error
	if errors.As(err, &me) {
		return me
	}
	return matrixerr.Internal(err, "unexpected error")
}
