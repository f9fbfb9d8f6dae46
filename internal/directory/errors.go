package directory

import "errors"

// Errors of the directory (possibly wrapped).
var (
	// ErrNotFound: the directory does not hold the alias.
	ErrNotFound = errors.New("unknown room alias")
	// ErrExists: the alias is taken.
	ErrExists = errors.New("the room alias already exists")
	// ErrNotLocal: the alias belongs to another server.
	ErrNotLocal = errors.New("room aliases of other servers cannot be created here")
	// ErrNotJoined: only members of a room may give it an alias.
	ErrNotJoined = errors.New("you must be joined to the room to give it an alias")
	// ErrNotCreator: only the alias's creator or a server admin may delete
	// it.
	ErrNotCreator = errors.New("only the alias's creator or a server admin may delete it")
	// ErrInvalidAlias: a canonical alias event lists a malformed alias.
	ErrInvalidAlias = errors.New("invalid room alias")
	// ErrBadAlias: a canonical alias event lists an alias that does not
	// point to its room.
	ErrBadAlias = errors.New("the room alias does not point to this room")
)

// Errors of the room directory and space hierarchy (possibly wrapped).
var (
	// ErrRoomUnknown: this server does not know the room.
	ErrRoomUnknown = errors.New("unknown room")
	// ErrNotAllowed: the user may not change the room's visibility in the
	// directory.
	ErrNotAllowed = errors.New("only the room's moderators or a server admin may change its visibility in the room directory")
	// ErrBadToken: a pagination token this server did not make.
	ErrBadToken = errors.New("invalid pagination token")
	// ErrRemote: another server did not answer, or not as the spec says.
	ErrRemote = errors.New("the remote server did not answer")
)
