// Spec: Client-Server API § Profiles
// OpenAPI: data/api/client-server/profile.yaml
// https://spec.matrix.org/v1.19/client-server-api/#profiles

package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// Profile keys Hafen stores. Other valid keys (m.tz, custom ones) are not
// stored yet: setting them is 403 M_FORBIDDEN, reading them 404.
const (
	profileDisplayName = "displayname"
	profileAvatarURL   = "avatar_url"
)

// Limits on profile values; the spec lets servers limit each field.
const (
	maxDisplayNameBytes = 256
	maxAvatarURLBytes   = 1024
	maxProfileKeyBytes  = 255
	maxProfileBodyBytes = 64 << 10
)

// profileKeyPattern is the keyName grammar of profile.yaml.
var profileKeyPattern = regexp.MustCompile(`^(avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$`)

func pathUserID(r *http.Request) (id.UserID, error) {
	u, err := id.ParseUserID(r.PathValue("userId"))
	if err != nil {
		return "", matrixerr.InvalidParam("userId is not a valid user ID")
	}
	return u, nil
}

// pathProfileKey parses {keyName}: 400 M_KEY_TOO_LARGE above 255 bytes,
// M_INVALID_PARAM when it breaks the grammar.
func pathProfileKey(r *http.Request) (string, error) {
	key := r.PathValue("keyName")
	if len(key) > maxProfileKeyBytes {
		return "", &matrixerr.Error{Kind: matrixerr.KindKeyTooLarge, Message: "the profile key is longer than 255 bytes"}
	}
	if !profileKeyPattern.MatchString(key) {
		return "", matrixerr.InvalidParam("invalid profile key")
	}
	return key, nil
}

// pathProfileField parses the {userId} and {keyName} path parameters, in
// that order.
func pathProfileField(r *http.Request) (id.UserID, string, error) {
	user, err := pathUserID(r)
	if err != nil {
		return "", "", err
	}
	key, err := pathProfileKey(r)
	if err != nil {
		return "", "", err
	}
	return user, key, nil
}

// profileFields returns the profile fields a user has set.
func profileFields(u store.User) map[string]string {
	p := map[string]string{}
	if u.DisplayName != "" {
		p[profileDisplayName] = u.DisplayName
	}
	if u.AvatarURL != "" {
		p[profileAvatarURL] = u.AvatarURL
	}
	return p
}

// localProfile returns the stored profile of a user: 404 M_NOT_FOUND for
// unknown or deactivated users and for other servers' users.
func (a *roomAPI) localProfile(ctx context.Context, user id.UserID) (map[string]string, error) {
	if !a.isLocalServer(user.Domain()) {
		// TODO(#3): query other servers' profiles over federation.
		return nil, matrixerr.NotFound("profile not found")
	}
	u, err := a.db.User(ctx, user)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Deactivated) {
		return nil, matrixerr.NotFound("profile not found")
	}
	if err != nil {
		return nil, err
	}
	return profileFields(u), nil
}

// getUserProfile returns a user's profile.
//
// GET /_matrix/client/v3/profile/{userId}
func (a *roomAPI) getUserProfile(w http.ResponseWriter, r *http.Request) error {
	user, err := pathUserID(r)
	if err != nil {
		return err
	}
	p, err := a.localProfile(r.Context(), user)
	if err != nil {
		return err
	}
	return httpapi.OK(w, p)
}

// getProfileField returns one profile field.
//
// GET /_matrix/client/v3/profile/{userId}/{keyName}
func (a *roomAPI) getProfileField(w http.ResponseWriter, r *http.Request) error {
	user, key, err := pathProfileField(r)
	if err != nil {
		return err
	}
	p, err := a.localProfile(r.Context(), user)
	if err != nil {
		return err
	}
	val, ok := p[key]
	if !ok {
		return matrixerr.NotFound("the profile has no such field")
	}
	return httpapi.OK(w, map[string]string{key: val})
}

// ownProfileKey checks that the request changes the requester's own
// profile and a field Hafen stores.
func ownProfileKey(r *http.Request, sess session) (string, error) {
	user, key, err := pathProfileField(r)
	if err != nil {
		return "", err
	}
	if user != sess.UserID {
		return "", matrixerr.Forbidden("you may only change your own profile")
	}
	if key != profileDisplayName && key != profileAvatarURL {
		return "", matrixerr.Forbidden("this server only stores displayname and avatar_url")
	}
	return key, nil
}

// setProfileField sets displayname or avatar_url and updates the user's
// join events in the rooms they are joined to.
//
// PUT /_matrix/client/v3/profile/{userId}/{keyName}
func (a *roomAPI) setProfileField(w http.ResponseWriter, r *http.Request, sess session) error {
	key, err := ownProfileKey(r, sess)
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := httpapi.DecodeJSONLimit(w, r, &body, maxProfileBodyBytes); err != nil {
		return err
	}
	raw, ok := body[key]
	if !ok {
		return matrixerr.MissingParam(key)
	}
	var val string
	if err := json.Unmarshal(raw, &val); err != nil {
		return matrixerr.BadJSON("%s must be a string", key)
	}
	switch key {
	case profileDisplayName:
		if len(val) > maxDisplayNameBytes {
			return &matrixerr.Error{Kind: matrixerr.KindProfileTooLarge, Message: "displayname is longer than 256 bytes"}
		}
	case profileAvatarURL:
		if len(val) > maxAvatarURLBytes {
			return &matrixerr.Error{Kind: matrixerr.KindProfileTooLarge, Message: "avatar_url is longer than 1024 bytes"}
		}
		if val != "" && !strings.HasPrefix(val, "mxc://") {
			return matrixerr.InvalidParam("avatar_url must be an mxc:// URI")
		}
	}
	return a.storeProfileField(w, r, sess, key, val)
}

// deleteProfileField removes displayname or avatar_url.
//
// DELETE /_matrix/client/v3/profile/{userId}/{keyName}
func (a *roomAPI) deleteProfileField(w http.ResponseWriter, r *http.Request, sess session) error {
	key, err := ownProfileKey(r, sess)
	if err != nil {
		return err
	}
	return a.storeProfileField(w, r, sess, key, "")
}

// storeProfileField stores one field ("" removes it) and sends new join
// events carrying the profile to the user's rooms. A room that refuses the
// update (for example because the user may not change their membership
// event there) keeps the old one; the profile itself is saved.
func (a *roomAPI) storeProfileField(w http.ResponseWriter, r *http.Request, sess session, key, val string) error {
	ctx := r.Context()
	err := a.db.Write(ctx, func(tx *store.Tx) error {
		if key == profileDisplayName {
			return tx.SetDisplayName(ctx, sess.UserID, val)
		}
		return tx.SetAvatarURL(ctx, sess.UserID, val)
	})
	if errors.Is(err, store.ErrNotFound) {
		return matrixerr.NotFound("profile not found")
	}
	if err != nil {
		return err
	}
	profile, err := a.profileOf(ctx, sess.UserID)
	if err != nil {
		return err
	}
	rooms, err := a.db.JoinedRooms(ctx, sess.UserID)
	if err != nil {
		return err
	}
	for _, roomID := range rooms {
		_, err := a.svc.ChangeMembership(ctx, roomID, room.MembershipChange{
			Sender: sess.UserID, Target: sess.UserID, Membership: room.MembershipJoin, Profile: profile,
		})
		if err != nil {
			httpapi.Logger(r).Debug("profile not updated in room", "room_id", roomID, "err", err)
		}
	}
	return httpapi.OK(w, struct{}{})
}
