package e2ee

import (
	"context"
	"fmt"
	"slices"

	"github.com/hafenchat/hafen/internal/core/id"
)

// Tracking the device list changes of users: a client that shares a room
// with a user learns, through /sync's device_lists.changed and through
// /keys/changes, that it must query the user's keys again.
//
// Spec: https://spec.matrix.org/v1.19/client-server-api/#tracking-the-device-list-for-a-user

// ChangedDeviceLists returns the users whose device lists changed in
// (after, upTo] and who are the requester or share a joined room with
// the requester.
func (s *Service) ChangedDeviceLists(ctx context.Context, requester id.UserID, after, upTo int64) ([]id.UserID, error) {
	if upTo <= after {
		return nil, nil
	}
	users, err := s.DB.DeviceListChanges(ctx, after, upTo)
	if err != nil {
		return nil, err
	}
	out := []id.UserID{}
	for _, u := range users {
		shared := u == requester
		if !shared {
			if shared, err = s.DB.SharesRoom(ctx, requester, u); err != nil {
				return nil, fmt.Errorf("device list changes for %s: %w", requester, err)
			}
		}
		if shared {
			out = append(out, u)
		}
	}
	return out, nil
}

// SharesRoom reports whether the two users are both joined to some room.
func (s *Service) SharesRoom(ctx context.Context, a, b id.UserID) (bool, error) {
	return s.DB.SharesRoom(ctx, a, b)
}

// LeftDeviceLists returns the users who stopped sharing any room with the
// requester at event stream positions in (after, upTo], for /keys/changes.
// It reads the current memberships: a user who left and came back in the
// range is not listed (they share a room again), nor is one who left a
// room the requester has left since.
func (s *Service) LeftDeviceLists(ctx context.Context, requester id.UserID, after, upTo int64) ([]id.UserID, error) {
	out := []id.UserID{}
	if upTo <= after {
		return out, nil
	}
	candidates, err := s.DB.LeaveCandidates(ctx, requester, after, upTo)
	if err != nil {
		return nil, err
	}
	for _, u := range candidates {
		shared, err := s.DB.SharesRoom(ctx, requester, u)
		if err != nil {
			return nil, err
		}
		if !shared {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out, nil
}

// JoinedDeviceLists returns the users who started sharing a room with the
// requester at event stream positions in (after, upTo] — they joined one
// of its rooms, or it joined one of theirs (local or remote joins alike) —
// and still do: /keys/changes lists them as changed, since the requester
// must fetch their keys.
func (s *Service) JoinedDeviceLists(ctx context.Context, requester id.UserID, after, upTo int64) ([]id.UserID, error) {
	if upTo <= after {
		return nil, nil
	}
	users, err := s.DB.JoinCandidates(ctx, requester, after, upTo)
	if err != nil {
		return nil, err
	}
	slices.Sort(users)
	return slices.Compact(users), nil
}
