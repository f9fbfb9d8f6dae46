package fedjoin

// Spec: Server-Server API § Querying for information (profile)
// https://spec.matrix.org/v1.19/server-server-api/#get_matrixfederationv1queryprofile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/profile"
)

// ErrProfileNotFound means the user's server knows no such user.
var ErrProfileNotFound = errors.New("remote profile not found")

// QueryProfile asks the user's server for the user's profile
// (GET /_matrix/federation/v1/query/profile) and returns its string
// fields.
func (s *Service) QueryProfile(ctx context.Context, user id.UserID) (map[string]string, error) {
	fields, err := s.QueryProfileFields(ctx, user)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for k, v := range fields {
		// Servers send null for unset fields.
		var str string
		if json.Unmarshal(v, &str) == nil && string(v) != "null" {
			out[k] = str
		}
	}
	return out, nil
}

// QueryProfileFields asks the user's server for the user's whole profile,
// extended fields included, as field → JSON value.
func (s *Service) QueryProfileFields(ctx context.Context, user id.UserID) (map[string]json.RawMessage, error) {
	raw, err := s.Joiner.Client.Do(ctx, federation.Request{
		Destination: user.Domain(), Method: http.MethodGet,
		Path: "/_matrix/federation/v1/query/profile?user_id=" + url.QueryEscape(string(user)),
		// A profile is at most 64 KiB; a larger answer is not one.
		MaxResponseBytes: profile.MaxProfileBytes,
	})
	var he *federation.HTTPError
	if errors.As(err, &he) && he.Status == http.StatusNotFound {
		return nil, fmt.Errorf("profile of %s: %w", user, ErrProfileNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("profile of %s: %w", user, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("profile of %s: %w", user, err)
	}
	return fields, nil
}
