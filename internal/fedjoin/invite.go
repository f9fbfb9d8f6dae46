package fedjoin

// Spec: Server-Server API § Inviting to a room (PUT /_matrix/federation/v2/invite)
// https://spec.matrix.org/v1.19/server-server-api/#put_matrixfederationv2inviteroomideventid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/core/roomversion"
	"github.com/hafenchat/hafen/internal/core/signing"
	"github.com/hafenchat/hafen/internal/federation"
	"github.com/hafenchat/hafen/internal/room"
)

// ErrBadInvite means the invitee's server answered with an event that is
// not the invite it was sent, or without its signature.
var ErrBadInvite = errors.New("bad signed invite")

// Inviter has invites of other servers' users signed by those servers.
type Inviter struct {
	Client Transport
	Keys   Keys
}

var _ room.RemoteInviter = (*Inviter)(nil)

// SignInvite sends invite, with the room's stripped state, to the server
// of the invited user and returns the event that server signed: the same
// event (same event ID) carrying the invitee's server's signature.
func (i *Inviter) SignInvite(ctx context.Context, v *roomversion.Version, invite *event.PDU, inviteState []json.RawMessage) (json.RawMessage, error) {
	sk, _ := invite.StateKey()
	invitee, err := id.ParseUserID(sk)
	if err != nil {
		return nil, fmt.Errorf("invite of %q: %w", sk, err)
	}
	if inviteState == nil {
		inviteState = []json.RawMessage{}
	}
	body, err := json.Marshal(map[string]any{
		"room_version":      v.ID,
		"event":             json.RawMessage(invite.JSON()),
		"invite_room_state": inviteState,
	})
	if err != nil {
		return nil, fmt.Errorf("encode invite: %w", err)
	}
	srv := invitee.Domain()
	raw, err := i.Client.Do(ctx, federation.Request{
		Destination: srv, Method: http.MethodPut,
		Path: "/_matrix/federation/v2/invite/" + url.PathEscape(string(invite.RoomID())) + "/" + url.PathEscape(string(invite.EventID())),
		Body: body,
	})
	if err != nil {
		return nil, fmt.Errorf("invite %s through %s: %w", invitee, srv, err)
	}
	var ans struct {
		Event json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInvite, err)
	}
	signed, err := event.Parse(ans.Event, v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInvite, err)
	}
	if signed.EventID() != invite.EventID() {
		return nil, fmt.Errorf("%w: %s answered event %s for %s", ErrBadInvite, srv, signed.EventID(), invite.EventID())
	}
	i.Keys.EnsureForPDUs(ctx, []json.RawMessage{ans.Event})
	redacted, err := event.Redact(ans.Event, v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadInvite, err)
	}
	if err := signing.CheckSignatures(redacted, srv, signed.OriginServerTS(), v.EnforceKeyValidity, i.Keys.Lookup); err != nil {
		return nil, fmt.Errorf("%w: signature of %s: %w", ErrBadInvite, srv, err)
	}
	return ans.Event, nil
}
