// Spec: Client-Server API § Joining rooms (POST /join/{roomIdOrAlias})
// https://spec.matrix.org/v1.19/client-server-api/#post_matrixclientv3joinroomidoralias

package clientapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/fedfetch"
	"github.com/hafenchat/hafen/internal/fedjoin"
	"github.com/hafenchat/hafen/internal/matrixerr"
	"github.com/hafenchat/hafen/internal/room"
	"github.com/hafenchat/hafen/internal/store"
)

// RemoteJoiner joins local users to rooms of other servers
// (*fedjoin.Service).
type RemoteJoiner interface {
	JoinRemote(ctx context.Context, roomID id.RoomID, user id.UserID, servers []id.ServerName, content map[string]any) error
	ResolveAlias(ctx context.Context, alias id.RoomAlias) (id.RoomID, []id.ServerName, error)
	RejectInvite(ctx context.Context, roomID id.RoomID, user id.UserID, servers []id.ServerName, reason string) error
}

var _ RemoteJoiner = (*fedjoin.Service)(nil)

// HistoryFetcher fetches a room's history from other servers when the
// local history runs out or has a hole (*fedfetch.Fetcher).
type HistoryFetcher interface {
	BackfillRoom(ctx context.Context, roomID id.RoomID, limit int) (int, error)
	FillHoles(ctx context.Context, roomID id.RoomID, lo, hi store.TopoPos, limit int) (int, error)
}

var _ HistoryFetcher = (*fedfetch.Fetcher)(nil)

// remoteAlias resolves an alias of another server through that server,
// and returns the room and the servers to join it through.
func (a *roomAPI) remoteAlias(ctx context.Context, alias id.RoomAlias) (id.RoomID, []id.ServerName, error) {
	roomID, servers, err := a.remote.ResolveAlias(ctx, alias)
	switch {
	case errors.Is(err, fedjoin.ErrAliasNotFound):
		return "", nil, matrixerr.Wrap(matrixerr.KindNotFound, err, "room alias not found")
	case err != nil && ctx.Err() == nil:
		// NOTSPEC: an alias server that cannot be asked is answered like an
		// unknown alias.
		return "", nil, matrixerr.Wrap(matrixerr.KindNotFound, err, "could not ask the alias's server")
	}
	return roomID, servers, err
}

// joinRemote joins a room this server is not in through the servers the
// request names (via, and the older server_name), those an alias's
// server named (via), and the server of the room ID, if it has one.
func (a *roomAPI) joinRemote(r *http.Request, user id.UserID, roomID id.RoomID, via []id.ServerName, reason string, profile map[string]string) error {
	q := r.URL.Query()
	servers := append([]id.ServerName(nil), via...)
	for _, s := range append(q["via"], q["server_name"]...) {
		srv, err := id.ParseServerName(s)
		if err != nil {
			return matrixerr.InvalidParam("via and server_name must be server names")
		}
		servers = append(servers, srv)
	}
	if d := roomID.Domain(); d != "" && d != a.s.ServerName {
		servers = append(servers, d)
	}
	content := map[string]any{}
	for k, v := range profile {
		content[k] = v
	}
	if reason != "" {
		content["reason"] = reason
	}
	err := a.remote.JoinRemote(r.Context(), roomID, user, servers, content)
	var he *federation.HTTPError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fedjoin.ErrNoServer):
		return matrixerr.Wrap(matrixerr.KindNotFound, err, "unknown room, and no server to join it through")
	case errors.Is(err, fedjoin.ErrIncompatibleVersion):
		return matrixerr.Wrap(matrixerr.KindIncompatibleRoomVersion, err, "the room's version is not supported by this server")
	case errors.Is(err, room.ErrRoomKnown):
		return matrixerr.Wrap(matrixerr.KindConflict, err, "the room was joined meanwhile")
	case errors.As(err, &he) && he.Status == 403:
		return matrixerr.Wrap(matrixerr.KindForbidden, err, "the room's server refused the join: "+he.Message)
	case r.Context().Err() != nil:
		return err
	}
	// NOTSPEC: the spec names no error for a room no server could be
	// joined through (unreachable, or an answer that fails the checks);
	// like an unknown room, it is 404.
	return matrixerr.Wrap(matrixerr.KindNotFound, err, "could not join the room through any server")
}

// rejectRemoteInvite rejects the user's invite to a room this server is
// not in, through the inviting server (make_leave, send_leave). Without
// such an invite the room is unknown: 404.
func (a *roomAPI) rejectRemoteInvite(r *http.Request, user id.UserID, roomID id.RoomID, reason string) error {
	err := a.remote.RejectInvite(r.Context(), roomID, user, nil, reason)
	var he *federation.HTTPError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return roomErr(fmt.Errorf("%w: %w", room.ErrRoomNotFound, err))
	case errors.As(err, &he) && he.Status == 403:
		return matrixerr.Wrap(matrixerr.KindForbidden, err, "the room's server refused the leave: "+he.Message)
	case r.Context().Err() != nil:
		return err
	}
	// NOTSPEC: the spec names no error for an invite no server could be
	// asked to reject; like an unknown room, it is 404.
	return matrixerr.Wrap(matrixerr.KindNotFound, err, "could not reach the inviting server to reject the invite")
}
