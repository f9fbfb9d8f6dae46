//go:build goolm

package main

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// These tests run mautrix's complete client-side encryption (its crypto
// package's OlmMachine with pure-Go Olm and Megolm) against Hafen. They
// need the goolm build tag: go test -tags goolm ./cmd/hafen/ -run Megolm.

// encryptedRooms is the crypto machine's view of room state: the rooms
// given are encrypted with Megolm and shared with everyone it asks about.
type encryptedRooms struct{ rooms []id.RoomID }

func (s *encryptedRooms) IsEncrypted(_ context.Context, roomID id.RoomID) (bool, error) {
	for _, r := range s.rooms {
		if r == roomID {
			return true, nil
		}
	}
	return false, nil
}

func (s *encryptedRooms) GetEncryptionEvent(context.Context, id.RoomID) (*event.EncryptionEventContent, error) {
	return &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}, nil
}

func (s *encryptedRooms) GetHistoryVisibility(context.Context, id.RoomID) (*event.HistoryVisibilityEventContent, error) {
	return &event.HistoryVisibilityEventContent{HistoryVisibility: event.HistoryVisibilityShared}, nil
}

func (s *encryptedRooms) FindSharedRooms(context.Context, id.UserID) ([]id.RoomID, error) {
	return s.rooms, nil
}

// cryptoClient is a client with mautrix's crypto machine, syncing by hand.
type cryptoClient struct {
	cli   *mautrix.Client
	mach  *crypto.OlmMachine
	since string
	// onSync, when set, sees each sync response before the machine does.
	onSync func(*mautrix.RespSync)
}

func newCryptoClient(t *testing.T, cli *mautrix.Client, rooms *encryptedRooms) *cryptoClient {
	t.Helper()
	ctx := context.Background()
	mach := crypto.NewOlmMachine(cli, nil, crypto.NewMemoryStore(nil), rooms)
	if err := mach.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := mach.ShareKeys(ctx, -1); err != nil {
		t.Fatalf("upload keys of %s: %v", cli.UserID, err)
	}
	return &cryptoClient{cli: cli, mach: mach}
}

// sync runs one sync and feeds it to the machine; it returns the room's
// timeline events.
func (c *cryptoClient) sync(t *testing.T, roomID id.RoomID) []*event.Event {
	t.Helper()
	ctx := context.Background()
	resp, err := c.cli.SyncRequest(ctx, 500, c.since, "", false, event.PresenceOnline)
	if err != nil {
		t.Fatalf("sync of %s: %v", c.cli.UserID, err)
	}
	if c.onSync != nil {
		c.onSync(resp)
	}
	c.mach.ProcessSyncResponse(ctx, resp, c.since)
	c.since = resp.NextBatch
	if jr := resp.Rooms.Join[roomID]; jr != nil {
		return jr.Timeline.Events
	}
	return nil
}

// send encrypts a text message for the room's members with the room's
// Megolm session (shared first, over Olm, with every device of users)
// and sends it. It returns the Megolm session's ID.
func (c *cryptoClient) send(t *testing.T, roomID id.RoomID, users []id.UserID, text string) id.SessionID {
	t.Helper()
	ctx := context.Background()
	if err := c.mach.ShareGroupSession(ctx, roomID, users); err != nil {
		t.Fatalf("share group session of %s: %v", c.cli.UserID, err)
	}
	enc, err := c.mach.EncryptMegolmEvent(ctx, roomID, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: text})
	if err != nil {
		t.Fatalf("encrypt: %v", err)
	}
	if _, err := c.cli.SendMessageEvent(ctx, roomID, event.EventEncrypted, enc); err != nil {
		t.Fatalf("send encrypted: %v", err)
	}
	return enc.SessionID
}

// receive syncs until an encrypted message of the room decrypts to text.
func (c *cryptoClient) receive(t *testing.T, roomID id.RoomID, text string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	var pending []*event.Event
	var lastErr error
	for time.Now().Before(deadline) {
		for _, evt := range c.sync(t, roomID) {
			if evt.Type == event.EventEncrypted {
				pending = append(pending, evt)
			}
		}
		// The room key may come after the message: keep trying.
		var still []*event.Event
		for _, evt := range pending {
			evt.RoomID = roomID
			if evt.Content.Parsed == nil {
				if err := evt.Content.ParseRaw(evt.Type); err != nil {
					t.Fatalf("parse encrypted event: %v", err)
				}
			}
			dec, err := c.mach.DecryptMegolmEvent(ctx, evt)
			if err != nil {
				lastErr = err
				still = append(still, evt)
				continue
			}
			if msg := dec.Content.AsMessage(); msg != nil && msg.Body == text {
				return
			}
		}
		pending = still
	}
	t.Fatalf("%s never decrypted %q (last error: %v)", c.cli.UserID, text, lastErr)
}

// TestMegolmAcrossServersEndToEnd: two clients with mautrix's crypto
// machine, on two federating Hafen servers, in an encrypted room. Each
// finds the other's device over federation (/keys/query), claims a
// one-time key (/keys/claim), sends the room key over Olm as a to-device
// message (m.direct_to_device), and the other decrypts the Megolm
// messages: both ways.
func TestMegolmAcrossServersEndToEnd(t *testing.T) {
	for name, dbArgs := range backends(t) {
		t.Run(name, func(t *testing.T) {
			a := startFedServer(t, dbArgs(t)...)
			b := startFedServer(t, dbArgs(t)...)
			alice := register(t, a.base, "alice")
			bob := register(t, b.base, "bob")
			var created struct {
				RoomID id.RoomID `json:"room_id"`
			}
			csCall(t, a.base, alice.AccessToken, http.MethodPost, "/_matrix/client/v3/createRoom", map[string]any{
				"preset": "public_chat",
				"initial_state": []any{map[string]any{"type": "m.room.encryption", "state_key": "",
					"content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}},
			}, &created)
			roomID := created.RoomID
			csCall(t, b.base, bob.AccessToken, http.MethodPost, "/_matrix/client/v3/join/"+url.PathEscape(string(roomID))+"?via="+url.QueryEscape(string(a.name)), struct{}{}, nil)
			waitJoined(t, a.base, alice.AccessToken, roomID, bob.UserID)

			rooms := &encryptedRooms{rooms: []id.RoomID{roomID}}
			ac := newCryptoClient(t, alice, rooms)
			bc := newCryptoClient(t, bob, rooms)
			ac.sync(t, roomID)
			bc.sync(t, roomID)
			members := []id.UserID{alice.UserID, bob.UserID}

			ac.send(t, roomID, members, "hello bob, from A")
			bc.receive(t, roomID, "hello bob, from A")
			bc.send(t, roomID, members, "hello alice, from B")
			ac.receive(t, roomID, "hello alice, from B")
			// The established sessions carry more messages.
			ac.send(t, roomID, members, "second from A")
			bc.receive(t, roomID, "second from A")
		})
	}
}

// waitJoined waits until the user is joined to the room in the room
// members the server answers.
func waitJoined(t *testing.T, base, token string, roomID id.RoomID, user id.UserID) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var resp struct {
			Joined map[id.UserID]any `json:"joined"`
		}
		csCall(t, base, token, http.MethodGet, "/_matrix/client/v3/rooms/"+url.PathEscape(string(roomID))+"/joined_members", nil, &resp)
		if _, ok := resp.Joined[user]; ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never joined %s", user, roomID)
}
