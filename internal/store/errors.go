package store

import "errors"

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when a row to be created already exists, for
// example a user ID, room alias, event ID or transaction ID taken before.
var ErrExists = errors.New("already exists")

// ErrClosed is returned by DB.Write after DB.Close has been called.
var ErrClosed = errors.New("store closed")

// ErrSchemaTooNew is returned by Open when the database carries migrations
// this version of Hafen does not know, that is, it was last used by a newer
// Hafen. Opening it could corrupt data, so Hafen refuses.
var ErrSchemaTooNew = errors.New("database schema is newer than this version of hafen")

// ErrWritePanicked is returned by DB.Write when the write function
// panicked. The function's writes are rolled back; other writes in the same
// batch are not affected.
var ErrWritePanicked = errors.New("write function panicked")

// ErrStale is returned by a compare-and-set write whose expected value no
// longer holds: another writer changed the row since the caller read it
// (for example a room head advanced by another process). The caller reloads
// what it read and may try again.
var ErrStale = errors.New("stale read: the row changed since it was read")
