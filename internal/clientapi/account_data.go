// Spec: Client-Server API § Client Config, § Room Tagging
// OpenAPI: data/api/client-server/account-data.yaml, data/api/client-server/tags.yaml
// https://spec.matrix.org/v1.19/client-server-api/#client-config
// https://spec.matrix.org/v1.19/client-server-api/#room-tagging

package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/accountdata"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/pushrules"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// AccountData is what the account data, tag and push rule endpoints need
// of the account data service. accountdata.Service implements it.
type AccountData interface {
	// Get returns a piece of account data (roomID "" for global), or an
	// error matching accountdata.ErrNotFound.
	Get(ctx context.Context, user id.UserID, roomID id.RoomID, typ string) (json.RawMessage, error)
	// Set stores a piece of account data as a client sets it.
	Set(ctx context.Context, user id.UserID, roomID id.RoomID, typ string, content json.RawMessage) error
	// Tags returns a room's tags.
	Tags(ctx context.Context, user id.UserID, roomID id.RoomID) (map[string]json.RawMessage, error)
	// SetTag adds or replaces a tag.
	SetTag(ctx context.Context, user id.UserID, roomID id.RoomID, tag string, body json.RawMessage) error
	// DeleteTag removes a tag.
	DeleteTag(ctx context.Context, user id.UserID, roomID id.RoomID, tag string) error
	// PushRules returns the user's push rules.
	PushRules(ctx context.Context, user id.UserID) (pushrules.Ruleset, error)
	// IgnoredUsers returns the users the user ignores
	// (m.ignored_user_list).
	IgnoredUsers(ctx context.Context, user id.UserID) (map[id.UserID]bool, error)
	// CopyRoomSettings gives a room that replaced another in an upgrade
	// the user's tags, push rules and direct chat entry of the old room.
	CopyRoomSettings(ctx context.Context, user id.UserID, from, to id.RoomID) error
	// EditPushRules applies edit to the user's push rules and stores them.
	EditPushRules(ctx context.Context, user id.UserID, edit func(*pushrules.Ruleset) error) error
}

var _ AccountData = (*accountdata.Service)(nil)

// ownAccountDataPath checks that {userId} is the requester: 400
// M_INVALID_PARAM for a malformed ID, 403 M_FORBIDDEN for another user.
func ownAccountDataPath(r *http.Request, sess session) error {
	user, err := pathUserID(r)
	if err != nil {
		return err
	}
	if user != sess.UserID {
		return matrixerr.Forbidden("cannot access another user's account data")
	}
	return nil
}

// accountDataErr maps the service's errors to the spec's.
func accountDataErr(err error) error {
	switch {
	case errors.Is(err, accountdata.ErrNotFound):
		return matrixerr.NotFound("account data not found")
	case errors.Is(err, accountdata.ErrServerControlled):
		return matrixerr.New(matrixerr.KindServerControlled, "this type of account data is controlled by the server")
	case errors.Is(err, accountdata.ErrInvalid):
		return matrixerr.Wrap(matrixerr.KindBadJSON, err, "invalid account data")
	}
	return err
}

// readObject reads a request body that must be a JSON object.
func readObject(w http.ResponseWriter, r *http.Request) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := httpapi.DecodeJSON(w, r, &obj); err != nil {
		return nil, err
	}
	if obj == nil {
		return nil, matrixerr.BadJSON("content must be a JSON object")
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return raw, nil
}

// setAccountData sets global account data.
//
// PUT /_matrix/client/v3/user/{userId}/account_data/{type}
func (s *Server) setAccountData(w http.ResponseWriter, r *http.Request, sess session) error {
	return s.putAccountData(w, r, sess, "")
}

// setAccountDataPerRoom sets account data of a room.
//
// PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}
func (s *Server) setAccountDataPerRoom(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	return s.putAccountData(w, r, sess, roomID)
}

func (s *Server) putAccountData(w http.ResponseWriter, r *http.Request, sess session, roomID id.RoomID) error {
	if err := ownAccountDataPath(r, sess); err != nil {
		return err
	}
	content, err := readObject(w, r)
	if err != nil {
		return err
	}
	if err := s.AccountData.Set(r.Context(), sess.UserID, roomID, r.PathValue("type"), content); err != nil {
		return accountDataErr(err)
	}
	return httpapi.OK(w, struct{}{})
}

// getAccountData returns global account data.
//
// GET /_matrix/client/v3/user/{userId}/account_data/{type}
func (s *Server) getAccountData(w http.ResponseWriter, r *http.Request, sess session) error {
	return s.readAccountData(w, r, sess, "")
}

// getAccountDataPerRoom returns account data of a room.
//
// GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}
func (s *Server) getAccountDataPerRoom(w http.ResponseWriter, r *http.Request, sess session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	return s.readAccountData(w, r, sess, roomID)
}

func (s *Server) readAccountData(w http.ResponseWriter, r *http.Request, sess session, roomID id.RoomID) error {
	if err := ownAccountDataPath(r, sess); err != nil {
		return err
	}
	raw, err := s.AccountData.Get(r.Context(), sess.UserID, roomID, r.PathValue("type"))
	if err != nil {
		return accountDataErr(err)
	}
	return httpapi.OK(w, raw)
}

// getRoomTags lists a room's tags.
//
// GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags
func (s *Server) getRoomTags(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := ownAccountDataPath(r, sess); err != nil {
		return err
	}
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	tags, err := s.AccountData.Tags(r.Context(), sess.UserID, roomID)
	if err != nil {
		return accountDataErr(err)
	}
	return httpapi.OK(w, map[string]any{"tags": tags})
}

// setRoomTag adds a tag to a room.
//
// PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}
func (s *Server) setRoomTag(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := ownAccountDataPath(r, sess); err != nil {
		return err
	}
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	body, err := readObject(w, r)
	if err != nil {
		return err
	}
	if err := s.AccountData.SetTag(r.Context(), sess.UserID, roomID, r.PathValue("tag"), body); err != nil {
		return accountDataErr(err)
	}
	return httpapi.OK(w, struct{}{})
}

// deleteRoomTag removes a tag from a room.
//
// DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}
func (s *Server) deleteRoomTag(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := ownAccountDataPath(r, sess); err != nil {
		return err
	}
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	if err := s.AccountData.DeleteTag(r.Context(), sess.UserID, roomID, r.PathValue("tag")); err != nil {
		return accountDataErr(err)
	}
	return httpapi.OK(w, struct{}{})
}
