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

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/httpapi"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/profile"
)

// Profiles is the profile service the profile endpoints go through.
// profile.Service implements it.
type Profiles interface {
	Get(ctx context.Context, user id.UserID) (profile.Profile, error)
	ForJoin(ctx context.Context, user id.UserID) (profile.Profile, error)
	Set(ctx context.Context, user id.UserID, key, val string) error
	AllFields(ctx context.Context, user id.UserID) (profile.Fields, error)
	SetField(ctx context.Context, user id.UserID, key string, val json.RawMessage) error
	DeleteField(ctx context.Context, user id.UserID, key string) error
}

// Limits on profile requests; the profile service limits each value and
// the whole profile (64 KiB). A body may be somewhat larger than a whole
// profile, so that a value too large for the profile is answered
// M_PROFILE_TOO_LARGE rather than M_TOO_LARGE.
const (
	maxProfileKeyBytes  = 255
	maxProfileBodyBytes = 2 * profile.MaxProfileBytes
)

// profileKeyPattern is the keyName grammar of profile.yaml.
var profileKeyPattern = regexp.MustCompile(`^(avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$`)

// pathUserID parses the {userId} path parameter: 400 M_INVALID_PARAM if
// it is not a user ID with a compliant localpart.
func pathUserID(r *http.Request) (id.UserID, error) {
	u, err := id.ParseCompliantUserID(r.PathValue("userId"))
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

// profileErr turns an error of the profile service into the Matrix error
// the spec names. M_PROFILE_TOO_LARGE is only for a profile that would
// exceed 64 KiB (profile.yaml); a value over its field's own limit is an
// invalid value like any other, M_INVALID_PARAM.
func profileErr(err error) error {
	switch {
	case errors.Is(err, profile.ErrNotFound):
		return matrixerr.Wrap(matrixerr.KindNotFound, err, "profile not found")
	case errors.Is(err, profile.ErrNotStored):
		return matrixerr.Wrap(matrixerr.KindForbidden, err, err.Error())
	case errors.Is(err, profile.ErrProfileTooLarge):
		return matrixerr.Wrap(matrixerr.KindProfileTooLarge, err, err.Error())
	case errors.Is(err, profile.ErrTooLarge), errors.Is(err, profile.ErrInvalid):
		return matrixerr.Wrap(matrixerr.KindInvalidParam, err, err.Error())
	}
	return err
}

// allFields returns a user's whole profile: 404 M_NOT_FOUND for unknown
// users.
func (a *roomAPI) allFields(ctx context.Context, user id.UserID) (profile.Fields, error) {
	f, err := a.profiles.AllFields(ctx, user)
	if err != nil {
		return nil, profileErr(err)
	}
	return f, nil
}

// getUserProfile returns every field of a user's profile.
//
// GET /_matrix/client/v3/profile/{userId}
func (a *roomAPI) getUserProfile(w http.ResponseWriter, r *http.Request) error {
	user, err := pathUserID(r)
	if err != nil {
		return err
	}
	f, err := a.allFields(r.Context(), user)
	if err != nil {
		return err
	}
	return httpapi.OK(w, f)
}

// getProfileField returns one profile field.
//
// GET /_matrix/client/v3/profile/{userId}/{keyName}
func (a *roomAPI) getProfileField(w http.ResponseWriter, r *http.Request) error {
	user, key, err := pathProfileField(r)
	if err != nil {
		return err
	}
	f, err := a.allFields(r.Context(), user)
	if err != nil {
		return err
	}
	val, ok := f[key]
	if !ok {
		return matrixerr.NotFound("the profile has no such field")
	}
	return httpapi.OK(w, map[string]json.RawMessage{key: val})
}

// ownProfileKey checks that the request changes the requester's own
// profile and returns the field's key.
func ownProfileKey(r *http.Request, sess session) (string, error) {
	user, key, err := pathProfileField(r)
	if err != nil {
		return "", err
	}
	if user != sess.UserID {
		return "", matrixerr.Forbidden("you may only change your own profile")
	}
	return key, nil
}

// setProfileField sets one profile field; a new displayname or avatar_url
// is carried into the user's join events in the background.
//
// PUT /_matrix/client/v3/profile/{userId}/{keyName}
//
// The body holds exactly one property, the field (profile.yaml): without
// it the answer is M_MISSING_PARAM, with others beside it M_BAD_JSON. A
// body that is not JSON at all is M_BAD_JSON too, the code profile.yaml
// names for it.
func (a *roomAPI) setProfileField(w http.ResponseWriter, r *http.Request, sess session) error {
	key, err := ownProfileKey(r, sess)
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := httpapi.DecodeJSONLimit(w, r, &body, maxProfileBodyBytes); err != nil {
		var merr *matrixerr.Error
		if errors.As(err, &merr) && merr.Kind == matrixerr.KindNotJSON {
			return matrixerr.Wrap(matrixerr.KindBadJSON, err, "the request body is not valid JSON")
		}
		return err
	}
	raw, ok := body[key]
	if !ok {
		return matrixerr.MissingParam(key)
	}
	if len(body) != 1 {
		return matrixerr.BadJSON("the body must hold exactly one property, %s", key)
	}
	if key == profile.DisplayName || key == profile.AvatarURL || key == profile.TimeZone {
		var val string
		if err := json.Unmarshal(raw, &val); err != nil {
			return matrixerr.BadJSON("%s must be a string", key)
		}
	}
	if err := a.profiles.SetField(r.Context(), sess.UserID, key, raw); err != nil {
		return profileErr(err)
	}
	return httpapi.OK(w, struct{}{})
}

// deleteProfileField removes one profile field.
//
// DELETE /_matrix/client/v3/profile/{userId}/{keyName}
func (a *roomAPI) deleteProfileField(w http.ResponseWriter, r *http.Request, sess session) error {
	key, err := ownProfileKey(r, sess)
	if err != nil {
		return err
	}
	if err := a.profiles.DeleteField(r.Context(), sess.UserID, key); err != nil {
		return profileErr(err)
	}
	return httpapi.OK(w, struct{}{})
}
