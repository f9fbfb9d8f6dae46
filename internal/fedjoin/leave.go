package fedjoin

// Spec: Server-Server API § Leaving Rooms (Rejecting Invites)
// https://spec.matrix.org/v1.19/server-server-api/#leaving-rooms-rejecting-invites

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/federation"
)

// Leave has user leave roomID, a room this server is not in (rejecting an
// invite), through the first of servers that answers: make_leave, build
// and sign, send_leave v2. It returns the leave event and the room's
// version.
func (j *Joiner) Leave(ctx context.Context, roomID id.RoomID, user id.UserID, servers []id.ServerName, reason string) (*event.PDU, *roomversion.Version, error) {
	var errs []error
	tried := map[id.ServerName]bool{}
	for _, srv := range servers {
		if srv == j.ServerName || srv == "" || tried[srv] {
			continue
		}
		tried[srv] = true
		leave, v, err := j.leaveVia(ctx, srv, roomID, user, reason)
		if err == nil {
			return leave, v, nil
		}
		if ctx.Err() != nil {
			return nil, nil, err
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, nil, fmt.Errorf("leave %s: %w", roomID, ErrNoServer)
	}
	return nil, nil, fmt.Errorf("leave %s: %w", roomID, errors.Join(errs...))
}

func (j *Joiner) leaveVia(ctx context.Context, srv id.ServerName, roomID id.RoomID, user id.UserID, reason string) (*event.PDU, *roomversion.Version, error) {
	path := "/_matrix/federation/v1/make_leave/" + url.PathEscape(string(roomID)) + "/" + url.PathEscape(string(user))
	raw, err := j.Client.Do(ctx, federation.Request{Destination: srv, Method: http.MethodGet, Path: path})
	if err != nil {
		return nil, nil, fmt.Errorf("make_leave via %s: %w", srv, err)
	}
	var tpl template
	if err := json.Unmarshal(raw, &tpl); err != nil {
		return nil, nil, fmt.Errorf("make_leave via %s: %w: %w", srv, ErrBadTemplate, err)
	}
	if tpl.RoomVersion == "" {
		tpl.RoomVersion = "1" // the spec's default when a server leaves it out
	}
	v, ok := roomversion.Lookup(roomversion.ID(tpl.RoomVersion))
	if !ok {
		return nil, nil, fmt.Errorf("make_leave via %s: %w: %q", srv, ErrIncompatibleVersion, tpl.RoomVersion)
	}
	e := tpl.Event
	if e.Type != "m.room.member" || e.Sender != user || e.StateKey == nil || *e.StateKey != string(user) || e.RoomID != roomID || len(e.PrevEvents) == 0 {
		return nil, nil, fmt.Errorf("make_leave via %s: %w: not a leave of %s in %s", srv, ErrBadTemplate, user, roomID)
	}
	content := map[string]any{"membership": "leave"}
	if reason != "" {
		content["reason"] = reason
	}
	body, err := json.Marshal(content)
	if err != nil {
		return nil, nil, fmt.Errorf("encode leave content: %w", err)
	}
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	leave, err := event.Build(event.Proto{
		Type: e.Type, StateKey: e.StateKey, Sender: user, RoomID: roomID, Content: body,
		PrevEvents: slices.Clone(e.PrevEvents), AuthEvents: slices.Clone(e.AuthEvents), Depth: e.Depth, OriginServerTS: now().UnixMilli(),
	}, v, j.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("build leave via %s: %w", srv, err)
	}
	path = "/_matrix/federation/v2/send_leave/" + url.PathEscape(string(roomID)) + "/" + url.PathEscape(string(leave.EventID()))
	if _, err := j.Client.Do(ctx, federation.Request{Destination: srv, Method: http.MethodPut, Path: path, Body: leave.JSON()}); err != nil {
		return nil, nil, fmt.Errorf("send_leave via %s: %w", srv, err)
	}
	return leave, v, nil
}

// RejectInvite has user reject an invite to a room this server is not in,
// through the inviting server and the others given, and stores the
// leave. When no server takes the leave (unreachable, or refusing it
// because the invite is gone), the invite is rejected locally
// (room.Service.RejectLocally), so the user is not left with an invite
// they cannot get rid of.
//
// NOTSPEC: the spec only describes make_leave/send_leave; the local
// rejection is what Synapse does when they fail.
func (s *Service) RejectInvite(ctx context.Context, roomID id.RoomID, user id.UserID, servers []id.ServerName, reason string) error {
	srv, err := s.Rooms.InvitingServer(ctx, roomID, user)
	if err != nil {
		return fmt.Errorf("reject invite to %s: %w", roomID, err)
	}
	servers = append([]id.ServerName{srv}, servers...)
	if d := roomID.Domain(); d != "" {
		servers = append(servers, d)
	}
	leave, v, err := s.Joiner.Leave(ctx, roomID, user, servers, reason)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		if _, lerr := s.Rooms.RejectLocally(ctx, roomID, user, reason); lerr != nil {
			return errors.Join(err, lerr)
		}
		return nil
	}
	_, err = s.Rooms.ImportRejection(ctx, leave, v)
	return err
}
