// Package accountdata owns users' account data: global and per-room data
// set by clients, room tags (m.tag) and push rules (m.push_rules). It
// validates and stores changes and tells sync about them, so that each
// change reaches the user's clients in their next /sync.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#client-config
// https://spec.matrix.org/v1.19/client-server-api/#room-tagging
// https://spec.matrix.org/v1.19/client-server-api/#push-rules-api
package accountdata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pushrules"
	"github.com/hafenchat/hafen/internal/store"
)

// Types the server controls: clients may not set them through the account
// data endpoints.
const (
	// TypePushRules is the user's push rules.
	TypePushRules = "m.push_rules"
	// TypeFullyRead is a room's read marker, set through /read_markers.
	TypeFullyRead = "m.fully_read"
	// TypeTags is a room's tags.
	TypeTags = "m.tag"
)

// Errors of the service (possibly wrapped).
var (
	// ErrNotFound: the user has no account data of that type.
	ErrNotFound = errors.New("account data not found")
	// ErrServerControlled: the type is one the server controls.
	ErrServerControlled = errors.New("account data type controlled by the server")
	// ErrInvalid: the content is not a JSON object, or a tag's order is
	// not a number.
	ErrInvalid = errors.New("invalid account data")
)

// maxTypeLength bounds an account data type and a tag name (bytes).
const maxTypeLength = 255

// Service stores users' account data. It is safe for concurrent use.
type Service struct {
	// DB holds the account data.
	DB *store.DB
	// Changed, when set, is called after each committed change with the
	// user, the room ("" for global data), the type, the new content and
	// the change's position in the account data stream, in commit order
	// (from the store's after-commit hook: it must be quick and must not
	// write). Sync sets it.
	Changed func(user id.UserID, roomID id.RoomID, typ string, content json.RawMessage, pos int64)
}

// Get returns a piece of the user's account data (roomID "" for global),
// or ErrNotFound.
func (s *Service) Get(ctx context.Context, user id.UserID, roomID id.RoomID, typ string) (json.RawMessage, error) {
	raw, err := s.DB.AccountDataOf(ctx, user, roomID, typ)
	if errors.Is(err, store.ErrNotFound) {
		if typ == TypePushRules && roomID == "" {
			// The default rules are the user's until they change them.
			return json.Marshal(pushrules.Rules{Global: pushrules.Defaults(string(user))})
		}
		return nil, fmt.Errorf("%w: %s", ErrNotFound, typ)
	}
	if err != nil {
		return nil, err
	}
	return raw, nil
}

// Set stores a piece of the user's account data as a client sets it:
// content must be a JSON object, and m.push_rules and m.fully_read are
// refused (ErrServerControlled).
func (s *Service) Set(ctx context.Context, user id.UserID, roomID id.RoomID, typ string, content json.RawMessage) error {
	if typ == TypePushRules || typ == TypeFullyRead {
		return fmt.Errorf("%w: %s", ErrServerControlled, typ)
	}
	if typ == "" || len(typ) > maxTypeLength {
		return fmt.Errorf("%w: type must have 1 to %d bytes", ErrInvalid, maxTypeLength)
	}
	if !isObject(content) {
		return fmt.Errorf("%w: content must be a JSON object", ErrInvalid)
	}
	return s.write(ctx, user, roomID, typ, func(json.RawMessage) (json.RawMessage, error) { return content, nil })
}

// SetServerControlled stores account data of a type the server controls
// (m.fully_read, through the read marker endpoints), without the checks
// Set makes for clients.
func (s *Service) SetServerControlled(ctx context.Context, user id.UserID, roomID id.RoomID, typ string, content json.RawMessage) error {
	return s.write(ctx, user, roomID, typ, func(json.RawMessage) (json.RawMessage, error) { return content, nil })
}

// write replaces a piece of account data with what edit makes of its
// current content (nil if there is none), in one transaction, and tells
// sync.
func (s *Service) write(ctx context.Context, user id.UserID, roomID id.RoomID, typ string, edit func(cur json.RawMessage) (json.RawMessage, error)) error {
	err := s.DB.Write(ctx, func(tx *store.Tx) error {
		cur, err := tx.AccountDataOf(ctx, user, roomID, typ)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		next, err := edit(cur)
		if err != nil {
			return err
		}
		pos, err := tx.SetAccountData(ctx, user, roomID, typ, next)
		if err != nil {
			return err
		}
		if s.Changed != nil {
			tx.AfterCommit(func() { s.Changed(user, roomID, typ, next, pos) })
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set account data %s of %s: %w", typ, user, err)
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	var obj map[string]json.RawMessage
	return json.Unmarshal(raw, &obj) == nil && obj != nil
}
