// Package push owns push notifications on the server's side: users'
// pushers (validated and stored; delivery to push gateways is still to
// come) and their notifications, which a durable consumer of the event
// stream finds by evaluating each local member's push rules on every
// event of their rooms, and stores for /notifications.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#push-notifications
package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// Errors of the pusher API (possibly wrapped).
var (
	// ErrMissingParam: a required field is missing; the error names it.
	ErrMissingParam = errors.New("missing parameter")
	// ErrInvalidParam: a field has an invalid value.
	ErrInvalidParam = errors.New("invalid parameter")
)

// Limits of the spec.
const (
	maxAppIDChars  = 64
	maxPushKeyByte = 512
	// maxFieldBytes bounds the other strings of a pusher.
	maxFieldBytes = 1024
	// maxDataBytes bounds a pusher's data object.
	maxDataBytes = 8192
)

// notifyPath is the path a pusher's URL must have.
const notifyPath = "/_matrix/push/v1/notify"

// Pusher is a pusher as the spec's API shows it.
type Pusher struct {
	PushKey           string          `json:"pushkey"`
	Kind              *string         `json:"kind"`
	AppID             string          `json:"app_id"`
	AppDisplayName    string          `json:"app_display_name"`
	DeviceDisplayName string          `json:"device_display_name"`
	ProfileTag        string          `json:"profile_tag,omitempty"`
	Lang              string          `json:"lang"`
	Data              json.RawMessage `json:"data"`
}

// SetRequest is the body of POST /pushers/set.
type SetRequest struct {
	Pusher
	Append bool `json:"append"`
	// present records which fields the body had, for the spec's "required
	// if kind is not null".
	present map[string]bool
}

// UnmarshalJSON reads the body and which of its fields were present.
func (r *SetRequest) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return err
	}
	type plain SetRequest
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*r = SetRequest(p)
	r.present = map[string]bool{}
	for k := range fields {
		r.present[k] = true
	}
	return nil
}

// Service keeps pushers and answers notifications. It is safe for
// concurrent use.
type Service struct {
	DB *store.DB
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Pushers returns the user's pushers.
func (s *Service) Pushers(ctx context.Context, user id.UserID) ([]Pusher, error) {
	ps, err := s.DB.Pushers(ctx, user)
	if err != nil {
		return nil, err
	}
	out := make([]Pusher, 0, len(ps))
	for _, p := range ps {
		kind := p.Kind
		out = append(out, Pusher{
			PushKey: p.PushKey, Kind: &kind, AppID: p.AppID, AppDisplayName: p.AppDisplayName,
			DeviceDisplayName: p.DeviceDisplayName, ProfileTag: p.ProfileTag, Lang: p.Lang, Data: p.Data,
		})
	}
	return out, nil
}

// SetPusher creates, replaces or (kind null) deletes the user's pusher
// with the request's app ID and push key, set by device. Invalid requests
// are ErrMissingParam or ErrInvalidParam.
func (s *Service) SetPusher(ctx context.Context, user id.UserID, device id.DeviceID, r SetRequest) error {
	if err := r.validate(); err != nil {
		return err
	}
	if r.Kind == nil {
		return s.DB.Write(ctx, func(tx *store.Tx) error { return tx.DeletePusher(ctx, user, r.AppID, r.PushKey) })
	}
	p := store.Pusher{
		AppID: r.AppID, PushKey: r.PushKey, UserID: user, Kind: *r.Kind, AppDisplayName: r.AppDisplayName,
		DeviceDisplayName: r.DeviceDisplayName, ProfileTag: r.ProfileTag, Lang: r.Lang, Data: r.Data,
		DeviceID: device, CreatedTS: s.now().UnixMilli(),
	}
	return s.DB.Write(ctx, func(tx *store.Tx) error { return tx.SetPusher(ctx, p, r.Append) })
}

// validate applies the spec's rules to a request.
func (r *SetRequest) validate() error {
	var missing []string
	for _, f := range []string{"kind", "app_id", "pushkey"} {
		if !r.present[f] {
			missing = append(missing, f)
		}
	}
	if r.Kind != nil {
		for _, f := range []string{"app_display_name", "device_display_name", "lang", "data"} {
			if !r.present[f] {
				missing = append(missing, f)
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrMissingParam, strings.Join(missing, ", "))
	}
	switch {
	case r.AppID == "" || utf8.RuneCountInString(r.AppID) > maxAppIDChars:
		return fmt.Errorf("%w: app_id must be 1 to %d characters", ErrInvalidParam, maxAppIDChars)
	case r.PushKey == "" || len(r.PushKey) > maxPushKeyByte:
		return fmt.Errorf("%w: pushkey must be 1 to %d bytes", ErrInvalidParam, maxPushKeyByte)
	case strings.ContainsRune(r.AppID+r.PushKey+r.AppDisplayName+r.DeviceDisplayName+r.ProfileTag+r.Lang, 0):
		// Neither a push gateway nor PostgreSQL's text takes a NUL.
		return fmt.Errorf("%w: a field holds a NUL character", ErrInvalidParam)
	case r.Kind == nil:
		return nil
	case *r.Kind != "http" && *r.Kind != "email":
		return fmt.Errorf("%w: kind must be http, email or null", ErrInvalidParam)
	case len(r.AppDisplayName) > maxFieldBytes || len(r.DeviceDisplayName) > maxFieldBytes ||
		len(r.ProfileTag) > maxFieldBytes || len(r.Lang) > maxFieldBytes:
		return fmt.Errorf("%w: a field is longer than %d bytes", ErrInvalidParam, maxFieldBytes)
	case len(r.Data) > maxDataBytes:
		return fmt.Errorf("%w: data is larger than %d bytes", ErrInvalidParam, maxDataBytes)
	}
	var data struct {
		URL    *string `json:"url"`
		Format *string `json:"format"`
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(r.Data, &obj) != nil || obj == nil || json.Unmarshal(r.Data, &data) != nil {
		return fmt.Errorf("%w: data must be an object", ErrInvalidParam)
	}
	if data.Format != nil && *data.Format != "event_id_only" {
		return fmt.Errorf("%w: data.format must be event_id_only", ErrInvalidParam)
	}
	if *r.Kind == "http" {
		if data.URL == nil {
			return fmt.Errorf("%w: data.url", ErrMissingParam)
		}
		u, err := url.Parse(*data.URL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != notifyPath {
			return fmt.Errorf("%w: data.url must be an https URL with the path %s", ErrInvalidParam, notifyPath)
		}
	}
	return nil
}

// Limits of a notifications page.
const (
	DefaultNotificationsLimit = 20
	MaxNotificationsLimit     = 100
)

// Notifications returns a page of the user's notifications, newest first,
// before the from token (the next_token of an earlier page; empty for the
// newest), only highlights when onlyHighlight, and the token of the next
// page ("" when this one is the last). ErrInvalidParam for a bad token.
func (s *Service) Notifications(ctx context.Context, user id.UserID, from string, limit int, onlyHighlight bool) ([]store.Notification, string, error) {
	var before int64
	if from != "" {
		n, err := strconv.ParseInt(from, 10, 64)
		if err != nil || n <= 0 {
			return nil, "", fmt.Errorf("%w: from is not a notifications token", ErrInvalidParam)
		}
		before = n
	}
	if limit <= 0 {
		limit = DefaultNotificationsLimit
	}
	limit = min(limit, MaxNotificationsLimit)
	ns, err := s.DB.Derived().Notifications(ctx, user, before, limit+1, onlyHighlight)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(ns) > limit {
		ns = ns[:limit]
		next = strconv.FormatInt(ns[len(ns)-1].StreamPos, 10)
	}
	return ns, next, nil
}
