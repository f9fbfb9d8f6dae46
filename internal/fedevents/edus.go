package fedevents

// Spec: Server-Server API § EDUs, § Typing Notifications, § Receipts,
// § Device Management, § End-to-End Encryption, § Send-to-device messaging
// https://spec.matrix.org/v1.19/server-server-api/#edus

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
)

// RemoteTypingTimeout is how long a user of another server stays typing
// after an m.typing EDU that says so, unless a later EDU stops or renews
// it. The EDU carries no timeout (the spec leaves it to the receiver);
// Synapse resends a typing user's EDU every 40 s and drops remote typing
// after 60 s, and so does this server, so that a user typing on such a
// server does not blink out between two of its EDUs.
const RemoteTypingTimeout = 60 * time.Second

// Typing keeps who is typing for this server's clients
// (*clientsync.Service).
type Typing interface {
	SetTyping(roomID id.RoomID, user id.UserID, typing bool, timeout time.Duration)
}

// Receipts stores the read receipts of other servers' users
// (*receipts.Service).
type Receipts interface {
	AddRemote(ctx context.Context, rcs []store.Receipt) error
}

// Devices takes the device list, signing key and to-device EDUs
// (*e2ee.Service). The service has checked that the user (the sender, for
// to-device messages) belongs to the origin.
type Devices interface {
	DeviceListUpdate(ctx context.Context, origin id.ServerName, content json.RawMessage) error
	SigningKeyUpdate(ctx context.Context, origin id.ServerName, content json.RawMessage) error
	DirectToDevice(ctx context.Context, origin id.ServerName, content json.RawMessage) error
}

// EDUs are the receivers of a transaction's EDUs; a nil receiver drops
// its EDUs.
type EDUs struct {
	Typing   Typing
	Receipts Receipts
	Devices  Devices
	// Presence receives m.presence EDUs, with the push list cut down to
	// the users of the origin.
	Presence func(ctx context.Context, origin id.ServerName, content json.RawMessage)
}

// processEDUs hands each EDU of a transaction to its receiver, after the
// checks that belong to federation: the users they speak for belong to
// the origin, and for room EDUs the room's server ACL allows the origin
// and the user is joined to the room. An EDU that fails them, or of a type
// this server does not know, is dropped (the spec has no way to refuse
// one); the transaction goes on.
func (s *Service) processEDUs(ctx context.Context, origin id.ServerName, edus []EDU) {
	for _, e := range edus {
		var err error
		switch e.Type {
		case "m.typing":
			err = s.typingEDU(ctx, origin, e.Content)
		case "m.receipt":
			err = s.receiptEDU(ctx, origin, e.Content)
		case "m.device_list_update", "m.signing_key_update":
			err = s.deviceEDU(ctx, origin, e.Type, e.Content)
		case "m.direct_to_device":
			err = s.toDeviceEDU(ctx, origin, e.Content)
		case "m.presence":
			err = s.presenceEDU(ctx, origin, e.Content)
		default:
			s.Logger.Debug("edu of an unknown type ignored", "origin", string(origin), "event_type", e.Type)
			continue
		}
		if err != nil {
			s.Logger.Warn("edu dropped", "origin", string(origin), "event_type", e.Type, "err", err)
		}
	}
}

// errForeignUser: an EDU speaks for a user of another server than its
// origin.
var errForeignUser = errors.New("user does not belong to the origin")

// joinedFrom checks that user belongs to origin, that the room's ACL
// allows origin, and that user is joined to the room.
func (s *Service) joinedFrom(ctx context.Context, origin id.ServerName, roomID id.RoomID, user id.UserID) error {
	if user.Domain() != origin {
		return errForeignUser
	}
	if err := s.CheckACL(ctx, roomID, origin); err != nil {
		return err
	}
	m, err := s.DB.Membership(ctx, roomID, user)
	if err != nil {
		return err
	}
	if m.Membership != "join" {
		return ErrNotInRoom
	}
	return nil
}

func (s *Service) typingEDU(ctx context.Context, origin id.ServerName, content json.RawMessage) error {
	var c struct {
		RoomID id.RoomID `json:"room_id"`
		UserID id.UserID `json:"user_id"`
		Typing bool      `json:"typing"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return err
	}
	if s.EDUs.Typing == nil {
		return nil
	}
	if err := s.joinedFrom(ctx, origin, c.RoomID, c.UserID); err != nil {
		return err
	}
	// The EDU carries no timeout: the receiver picks one.
	s.EDUs.Typing.SetTyping(c.RoomID, c.UserID, c.Typing, RemoteTypingTimeout)
	return nil
}

func (s *Service) receiptEDU(ctx context.Context, origin id.ServerName, content json.RawMessage) error {
	// room → receipt type → user → receipt
	var c map[id.RoomID]map[string]map[id.UserID]struct {
		EventIDs []id.EventID `json:"event_ids"`
		Data     struct {
			TS       int64  `json:"ts"`
			ThreadID string `json:"thread_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return err
	}
	if s.EDUs.Receipts == nil {
		return nil
	}
	var rcs []store.Receipt
	var errs []error
	for roomID, types := range c {
		// Only public read receipts travel between servers.
		for user, r := range types["m.read"] {
			if err := s.joinedFrom(ctx, origin, roomID, user); err != nil {
				errs = append(errs, err)
				continue
			}
			for _, e := range r.EventIDs {
				if _, err := id.ParseEventID(string(e)); err != nil {
					errs = append(errs, err)
					continue
				}
				rcs = append(rcs, store.Receipt{RoomID: roomID, UserID: user, Type: "m.read", ThreadID: r.Data.ThreadID, EventID: e, TS: r.Data.TS})
			}
		}
	}
	if len(rcs) > 0 {
		errs = append(errs, s.EDUs.Receipts.AddRemote(ctx, rcs))
	}
	return errors.Join(errs...)
}

func (s *Service) deviceEDU(ctx context.Context, origin id.ServerName, typ string, content json.RawMessage) error {
	var c struct {
		UserID id.UserID `json:"user_id"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return err
	}
	if c.UserID.Domain() != origin {
		return errForeignUser
	}
	if s.EDUs.Devices == nil {
		return nil
	}
	if typ == "m.signing_key_update" {
		return s.EDUs.Devices.SigningKeyUpdate(ctx, origin, content)
	}
	return s.EDUs.Devices.DeviceListUpdate(ctx, origin, content)
}

func (s *Service) toDeviceEDU(ctx context.Context, origin id.ServerName, content json.RawMessage) error {
	var c struct {
		Sender id.UserID `json:"sender"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return err
	}
	if c.Sender.Domain() != origin {
		return errForeignUser
	}
	if s.EDUs.Devices == nil {
		return nil
	}
	return s.EDUs.Devices.DirectToDevice(ctx, origin, content)
}

// maxPresencePush bounds the users of one m.presence EDU that are looked
// at.
const maxPresencePush = 1000

func (s *Service) presenceEDU(ctx context.Context, origin id.ServerName, content json.RawMessage) error {
	if s.EDUs.Presence == nil {
		return nil
	}
	var c struct {
		Push []json.RawMessage `json:"push"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return err
	}
	// Only users of origin who share a room with a user of this server:
	// nobody here may see anyone else's presence, and keeping it would
	// let a server fill this one's memory.
	kept := []json.RawMessage{}
	for i, p := range c.Push {
		if i == maxPresencePush {
			break
		}
		var u struct {
			UserID id.UserID `json:"user_id"`
		}
		if json.Unmarshal(p, &u) != nil || u.UserID.Domain() != origin {
			continue
		}
		shared, err := s.DB.SharesRoomWithServer(ctx, u.UserID, s.ServerName)
		if err != nil {
			return err
		}
		if shared {
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	b, err := json.Marshal(map[string]any{"push": kept})
	if err != nil {
		return err
	}
	s.EDUs.Presence(ctx, origin, b)
	return nil
}
