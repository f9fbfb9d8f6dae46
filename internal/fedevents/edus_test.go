package fedevents

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hafenchat/hafen/internal/core/event"
	"github.com/hafenchat/hafen/internal/core/id"
	"github.com/hafenchat/hafen/internal/store"
	"github.com/hafenchat/hafen/internal/store/storetest"
)

// noACLRooms is an event path whose rooms have no server ACL; the EDU
// checks need nothing else of it.
type noACLRooms struct{ Rooms }

func (noACLRooms) CurrentStateEvent(context.Context, id.RoomID, string, string) (*event.PDU, error) {
	return nil, nil
}

// typingCall is one SetTyping call.
type typingCall struct {
	user    id.UserID
	typing  bool
	timeout time.Duration
}

type recordTyping struct{ calls []typingCall }

func (r *recordTyping) SetTyping(_ id.RoomID, user id.UserID, typing bool, timeout time.Duration) {
	r.calls = append(r.calls, typingCall{user, typing, timeout})
}

// TestRemoteTypingTimeout: an m.typing EDU carries no timeout, so the
// receiver chooses how long the user stays typing: RemoteTypingTimeout,
// which outlasts the 40 s after which Synapse sends the EDU again, not the
// client API's default of 30 s.
func TestRemoteTypingTimeout(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		db := openStore(t, dsn)
		ctx := context.Background()
		roomID, carol := id.RoomID("!r:hafen.test"), id.UserID("@carol:other.test")
		sk := string(carol)
		if err := db.Write(ctx, func(tx *store.Tx) error {
			nid, pos, err := tx.InsertEvent(ctx, store.EventRecord{EventID: "$join:other.test", RoomID: roomID, Type: "m.room.member",
				StateKey: &sk, Sender: carol, Depth: 1, OriginServerTS: 1, JSON: []byte(`{}`)})
			if err != nil {
				return err
			}
			return tx.SetMembership(ctx, store.Member{RoomID: roomID, UserID: carol, Membership: "join", EventNID: nid, StreamPos: pos})
		}); err != nil {
			t.Fatal(err)
		}
		typing := &recordTyping{}
		s := &Service{ServerName: "hafen.test", DB: db, Rooms: noACLRooms{}, EDUs: EDUs{Typing: typing}, Logger: slog.New(slog.DiscardHandler)}
		edu := func(typing bool) EDU {
			c, _ := json.Marshal(map[string]any{"room_id": roomID, "user_id": carol, "typing": typing})
			return EDU{Type: "m.typing", Content: c}
		}
		if _, err := s.ProcessTransaction(ctx, Transaction{Origin: "other.test", TxnID: "1", EDUs: []EDU{edu(true), edu(false)}}); err != nil {
			t.Fatal(err)
		}
		want := []typingCall{{carol, true, RemoteTypingTimeout}, {carol, false, RemoteTypingTimeout}}
		if len(typing.calls) != len(want) || typing.calls[0] != want[0] || typing.calls[1] != want[1] {
			t.Fatalf("SetTyping calls = %+v, want %+v", typing.calls, want)
		}
	})
}

// TestPresenceOnlyOfUsersSharingARoom checks that an m.presence EDU
// passes on only the origin's users who share a room with a user of this
// server: carol is joined with a local user, dave is in no room here.
func TestPresenceOnlyOfUsersSharingARoom(t *testing.T) {
	storetest.ForEachDSN(t, func(t *testing.T, dsn string) {
		db := openStore(t, dsn)
		ctx := context.Background()
		roomID := id.RoomID("!r:hafen.test")
		carol, alice := id.UserID("@carol:other.test"), id.UserID("@alice:hafen.test")
		if err := db.Write(ctx, func(tx *store.Tx) error {
			for _, u := range []id.UserID{carol, alice} {
				sk := string(u)
				nid, pos, err := tx.InsertEvent(ctx, store.EventRecord{EventID: id.EventID("$join-" + u.Localpart() + ":other.test"), RoomID: roomID,
					Type: "m.room.member", StateKey: &sk, Sender: u, Depth: 1, OriginServerTS: 1, JSON: []byte(`{}`)})
				if err != nil {
					return err
				}
				if err := tx.SetMembership(ctx, store.Member{RoomID: roomID, UserID: u, Membership: "join", EventNID: nid, StreamPos: pos}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var got []json.RawMessage
		s := &Service{ServerName: "hafen.test", DB: db, Rooms: noACLRooms{}, Logger: slog.New(slog.DiscardHandler),
			EDUs: EDUs{Presence: func(_ context.Context, _ id.ServerName, content json.RawMessage) { got = append(got, content) }}}
		c, _ := json.Marshal(map[string]any{"push": []map[string]any{
			{"user_id": carol, "presence": "online"},
			{"user_id": "@dave:other.test", "presence": "online"},
			{"user_id": "@erin:elsewhere.test", "presence": "online"},
		}})
		if _, err := s.ProcessTransaction(ctx, Transaction{Origin: "other.test", TxnID: "1", EDUs: []EDU{{Type: "m.presence", Content: c}}}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !strings.Contains(string(got[0]), string(carol)) || strings.Contains(string(got[0]), "dave") || strings.Contains(string(got[0]), "erin") {
			t.Fatalf("presence passed on = %s, want carol's only", got)
		}
	})
}
