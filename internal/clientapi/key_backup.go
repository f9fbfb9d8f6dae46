// Spec: Client-Server API § End-to-End Encryption, Server-side key backups
// OpenAPI: data/api/client-server/key_backup.yaml
// https://spec.matrix.org/v1.19/client-server-api/#server-side-key-backups

package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/e2ee"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
)

// KeyBackups is what the key backup endpoints need of the e2ee service.
// e2ee.Service implements it. Every method works on the requester's own
// backups only.
type KeyBackups interface {
	// CreateBackup creates a new current backup version.
	CreateBackup(ctx context.Context, user id.UserID, algorithm string, authData json.RawMessage) (string, error)
	// Backup describes a version, the current one for "".
	Backup(ctx context.Context, user id.UserID, version string) (e2ee.BackupInfo, error)
	// UpdateBackup replaces a version's auth_data.
	UpdateBackup(ctx context.Context, user id.UserID, version, bodyVersion, algorithm string, authData json.RawMessage) error
	// DeleteBackup deletes a version and its keys.
	DeleteBackup(ctx context.Context, user id.UserID, version string) error
	// PutBackupKeys stores keys in the current version.
	PutBackupKeys(ctx context.Context, user id.UserID, version string, keys e2ee.BackupKeys) (string, int64, error)
	// GetBackupKeys reads keys of a version.
	GetBackupKeys(ctx context.Context, user id.UserID, version string, room id.RoomID, session string) (e2ee.BackupKeys, error)
	// DeleteBackupKeys deletes keys of a version.
	DeleteBackupKeys(ctx context.Context, user id.UserID, version string, room id.RoomID, session string) (string, int64, error)
}

var _ KeyBackups = (*e2ee.Service)(nil)

// backupError maps the key backup errors to the spec's.
func backupError(err error) error {
	var wrong *e2ee.WrongBackupVersionError
	switch {
	case errors.As(err, &wrong):
		return &matrixerr.Error{Kind: matrixerr.KindWrongRoomKeysVersion, Message: "wrong backup version",
			Fields: map[string]any{"current_version": wrong.Current}, Err: err}
	case errors.Is(err, e2ee.ErrBackupNotFound):
		return matrixerr.Wrap(matrixerr.KindNotFound, err, "unknown backup version")
	case errors.Is(err, e2ee.ErrKeyNotFound):
		return matrixerr.Wrap(matrixerr.KindNotFound, err, "key not found")
	}
	return keysError(err)
}

// backupVersionBody is the body of POST and PUT /room_keys/version.
type backupVersionBody struct {
	Algorithm *string         `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Version   string          `json:"version"`
}

func (b backupVersionBody) check() error {
	if b.Algorithm == nil {
		return matrixerr.MissingParam("algorithm")
	}
	if len(b.AuthData) == 0 {
		return matrixerr.MissingParam("auth_data")
	}
	return nil
}

// postRoomKeysVersion creates a new backup version.
//
// POST /_matrix/client/v3/room_keys/version
func (s *Server) postRoomKeysVersion(w http.ResponseWriter, r *http.Request, sess session) error {
	var req backupVersionBody
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	v, err := s.KeyBackups.CreateBackup(r.Context(), sess.UserID, *req.Algorithm, req.AuthData)
	if err != nil {
		return backupError(err)
	}
	return httpapi.OK(w, map[string]string{"version": v})
}

// getRoomKeysVersionCurrent describes the current backup version.
//
// GET /_matrix/client/v3/room_keys/version
func (s *Server) getRoomKeysVersionCurrent(w http.ResponseWriter, r *http.Request, sess session) error {
	info, err := s.KeyBackups.Backup(r.Context(), sess.UserID, "")
	if err != nil {
		return backupError(err)
	}
	return httpapi.OK(w, info)
}

// getRoomKeysVersion describes a backup version.
//
// GET /_matrix/client/v3/room_keys/version/{version}
func (s *Server) getRoomKeysVersion(w http.ResponseWriter, r *http.Request, sess session) error {
	info, err := s.KeyBackups.Backup(r.Context(), sess.UserID, r.PathValue("version"))
	if err != nil {
		return backupError(err)
	}
	return httpapi.OK(w, info)
}

// putRoomKeysVersion replaces a backup version's auth_data.
//
// PUT /_matrix/client/v3/room_keys/version/{version}
func (s *Server) putRoomKeysVersion(w http.ResponseWriter, r *http.Request, sess session) error {
	var req backupVersionBody
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	err := s.KeyBackups.UpdateBackup(r.Context(), sess.UserID, r.PathValue("version"), req.Version, *req.Algorithm, req.AuthData)
	if err != nil {
		return backupError(err)
	}
	return httpapi.OK(w, struct{}{})
}

// deleteRoomKeysVersion deletes a backup version and its keys.
//
// DELETE /_matrix/client/v3/room_keys/version/{version}
func (s *Server) deleteRoomKeysVersion(w http.ResponseWriter, r *http.Request, sess session) error {
	if err := s.KeyBackups.DeleteBackup(r.Context(), sess.UserID, r.PathValue("version")); err != nil {
		return backupError(err)
	}
	return httpapi.OK(w, struct{}{})
}

// keyBackupData is a KeyBackupData object as a client sends it.
type keyBackupData struct {
	FirstMessageIndex *int64          `json:"first_message_index"`
	ForwardedCount    *int64          `json:"forwarded_count"`
	IsVerified        *bool           `json:"is_verified"`
	SessionData       json.RawMessage `json:"session_data"`
}

func (k keyBackupData) toData() (e2ee.BackupKeyData, error) {
	if k.FirstMessageIndex == nil || k.ForwardedCount == nil || k.IsVerified == nil || len(k.SessionData) == 0 {
		return e2ee.BackupKeyData{}, matrixerr.BadJSON("KeyBackupData needs first_message_index, forwarded_count, is_verified and session_data")
	}
	return e2ee.BackupKeyData{FirstMessageIndex: *k.FirstMessageIndex, ForwardedCount: *k.ForwardedCount,
		IsVerified: *k.IsVerified, SessionData: k.SessionData}, nil
}

// roomSessions is a RoomKeyBackup object.
type roomSessions struct {
	Sessions map[string]keyBackupData `json:"sessions"`
}

func (rs roomSessions) toData() (map[string]e2ee.BackupKeyData, error) {
	if rs.Sessions == nil {
		return nil, matrixerr.MissingParam("sessions")
	}
	out := make(map[string]e2ee.BackupKeyData, len(rs.Sessions))
	for sid, k := range rs.Sessions {
		d, err := k.toData()
		if err != nil {
			return nil, err
		}
		out[sid] = d
	}
	return out, nil
}

// backupPath reads the version query parameter and the room and session
// path parameters (either may be absent on the shorter routes).
func backupPath(r *http.Request) (version string, room id.RoomID, session string, err error) {
	version = r.URL.Query().Get("version")
	if version == "" {
		return "", "", "", matrixerr.MissingParam("version")
	}
	if raw := r.PathValue("roomId"); raw != "" {
		if room, err = id.ParseRoomID(raw); err != nil {
			return "", "", "", matrixerr.InvalidParam("%q is not a room ID", raw)
		}
	}
	return version, room, r.PathValue("sessionId"), nil
}

// putBackupKeys stores keys and answers the etag and count.
func (s *Server) putBackupKeys(w http.ResponseWriter, r *http.Request, sess session, version string, keys e2ee.BackupKeys) error {
	etag, count, err := s.KeyBackups.PutBackupKeys(r.Context(), sess.UserID, version, keys)
	if err != nil {
		return backupError(err)
	}
	return httpapi.OK(w, map[string]any{"etag": etag, "count": count})
}

// putRoomKeys stores keys of several rooms in the backup.
//
// PUT /_matrix/client/v3/room_keys/keys
func (s *Server) putRoomKeys(w http.ResponseWriter, r *http.Request, sess session) error {
	version, _, _, err := backupPath(r)
	if err != nil {
		return err
	}
	var req struct {
		Rooms map[id.RoomID]roomSessions `json:"rooms"`
	}
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Rooms == nil {
		return matrixerr.MissingParam("rooms")
	}
	keys := e2ee.BackupKeys{}
	for room, rs := range req.Rooms {
		if keys[room], err = rs.toData(); err != nil {
			return err
		}
	}
	return s.putBackupKeys(w, r, sess, version, keys)
}

// putRoomKeysByRoomId stores keys of one room in the backup.
//
// PUT /_matrix/client/v3/room_keys/keys/{roomId}
func (s *Server) putRoomKeysByRoomId(w http.ResponseWriter, r *http.Request, sess session) error {
	version, room, _, err := backupPath(r)
	if err != nil {
		return err
	}
	var req roomSessions
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	sessions, err := req.toData()
	if err != nil {
		return err
	}
	return s.putBackupKeys(w, r, sess, version, e2ee.BackupKeys{room: sessions})
}

// putRoomKeyBySessionId stores one key in the backup.
//
// PUT /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}
func (s *Server) putRoomKeyBySessionId(w http.ResponseWriter, r *http.Request, sess session) error {
	version, room, sessionID, err := backupPath(r)
	if err != nil {
		return err
	}
	var req keyBackupData
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	d, err := req.toData()
	if err != nil {
		return err
	}
	return s.putBackupKeys(w, r, sess, version, e2ee.BackupKeys{room: {sessionID: d}})
}

// getRoomKeys returns every key of the backup.
//
// GET /_matrix/client/v3/room_keys/keys
func (s *Server) getRoomKeys(w http.ResponseWriter, r *http.Request, sess session) error {
	version, _, _, err := backupPath(r)
	if err != nil {
		return err
	}
	keys, err := s.KeyBackups.GetBackupKeys(r.Context(), sess.UserID, version, "", "")
	if err != nil {
		return backupError(err)
	}
	rooms := map[id.RoomID]any{}
	for room, sessions := range keys {
		rooms[room] = map[string]any{"sessions": sessions}
	}
	return httpapi.OK(w, map[string]any{"rooms": rooms})
}

// getRoomKeysByRoomId returns the keys of one room in the backup.
//
// GET /_matrix/client/v3/room_keys/keys/{roomId}
func (s *Server) getRoomKeysByRoomId(w http.ResponseWriter, r *http.Request, sess session) error {
	version, room, _, err := backupPath(r)
	if err != nil {
		return err
	}
	keys, err := s.KeyBackups.GetBackupKeys(r.Context(), sess.UserID, version, room, "")
	if err != nil {
		return backupError(err)
	}
	sessions := keys[room]
	if sessions == nil {
		sessions = map[string]e2ee.BackupKeyData{}
	}
	return httpapi.OK(w, map[string]any{"sessions": sessions})
}

// getRoomKeyBySessionId returns one key of the backup.
//
// GET /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}
func (s *Server) getRoomKeyBySessionId(w http.ResponseWriter, r *http.Request, sess session) error {
	version, room, sessionID, err := backupPath(r)
	if err != nil {
		return err
	}
	keys, err := s.KeyBackups.GetBackupKeys(r.Context(), sess.UserID, version, room, sessionID)
	if err != nil {
		return backupError(err)
	}
	return httpapi.OK(w, keys[room][sessionID])
}

// deleteBackupKeys deletes keys and answers the etag and count.
func (s *Server) deleteBackupKeys(w http.ResponseWriter, r *http.Request, sess session) error {
	version, room, sessionID, err := backupPath(r)
	if err != nil {
		return err
	}
	etag, count, err := s.KeyBackups.DeleteBackupKeys(r.Context(), sess.UserID, version, room, sessionID)
	if err != nil {
		return backupError(err)
	}
	return httpapi.OK(w, map[string]any{"etag": etag, "count": count})
}

// deleteRoomKeys deletes every key of the backup.
//
// DELETE /_matrix/client/v3/room_keys/keys
func (s *Server) deleteRoomKeys(w http.ResponseWriter, r *http.Request, sess session) error {
	return s.deleteBackupKeys(w, r, sess)
}

// deleteRoomKeysByRoomId deletes the keys of one room from the backup.
//
// DELETE /_matrix/client/v3/room_keys/keys/{roomId}
func (s *Server) deleteRoomKeysByRoomId(w http.ResponseWriter, r *http.Request, sess session) error {
	return s.deleteBackupKeys(w, r, sess)
}

// deleteRoomKeyBySessionId deletes one key from the backup.
//
// DELETE /_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}
func (s *Server) deleteRoomKeyBySessionId(w http.ResponseWriter, r *http.Request, sess session) error {
	return s.deleteBackupKeys(w, r, sess)
}
